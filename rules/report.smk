# Quality-control tables, the figures (from tables only), table pages and the protocol page of the report.
from vlencode.figures import report_figures
from vlencode.qc import QC_TABLES

# The tables figures are drawn from; the statistics' and validation tables join when the run has them.
TABLES = {
    "scores": OUTPUTS["scores"],
    "electrodes": OUTPUTS["electrodes"],
    **{f"qc_{name}": out("qc", name=name) for name in QC_TABLES},
}
if produced(OUTPUTS["sites"]):
    TABLES.update(
        {
            name: OUTPUTS[name]
            for name in ("sites", "summary", "family_scores", "subject_sites")
        }
    )
if REPLICA and produced(OUTPUTS["recovery"]):
    TABLES["recovery"] = OUTPUTS["recovery"]
if produced(OUTPUTS["calibration"]):
    TABLES["calibration"] = OUTPUTS["calibration"]
# One entry of vlencode.figures.FIGURES per figure; its caption is written where the report reads it.
FIGURES = report_figures(TABLES, ".snakemake/vlencode/captions")
TABLE_PAGES = [
    t
    for t in (
        "electrodes",
        "summary",
        "family_scores",
        "subject_sites",
        "recovery",
        "calibration",
    )
    if t in TABLES
]
REPORT_TARGETS = [
    *[path for figure in FIGURES for path in (figure.png, figure.svg)],
    *[out("table_page", table=t) for t in TABLE_PAGES],
    OUTPUTS["protocol"],
]


rule qc:
    input:
        # Channels and events per recording; the alpha grid each fit chose from.
        unpack(
            lambda wc: {
                **recording_inputs("neural"),
                **recording_inputs("events"),
                **fit_stores(),
            }
        ),
        scores=OUTPUTS["scores"],
        # The clock alignment (trigger table) of each recording.
        clock=[
            str(p)
            for s, t in RECORDINGS
            for p in dataset().event_files(s, t, MOVIE_OF[(s, t)])
        ],
    output:
        **{name: out("qc", name=name) for name in QC_TABLES},
    log:
        "logs/qc/qc.log",
    benchmark:
        "results/benchmarks/qc.tsv"
    conda:
        "../envs/vlencode.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        settings=settings("qc"),
    script:
        "../workflow/scripts/qc.py"


rule figures:
    input:
        **{name: TABLES[name] for name in TABLES},
    output:
        **{
            f"{figure.name}_png": report(
                figure.png,
                caption=figure.caption,
                category=figure.category,
                subcategory=figure.subcategory,
                labels={"figure": figure.label},
            )
            for figure in FIGURES
        },
        **{f"{figure.name}_svg": figure.svg for figure in FIGURES},
    log:
        "logs/figures/figures.log",
    benchmark:
        "results/benchmarks/figures.tsv"
    conda:
        "../envs/vlencode.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        settings=settings("figures"),
        figures=[figure.name for figure in FIGURES],
        # Which model is an entry, a random-init twin or a baseline: the statistics choose what the figures show.
        models=json.dumps(
            {name: MODELS[name].identity() for name in MODELS}, sort_keys=True
        ),
    script:
        "../workflow/scripts/figures.py"


rule tables:
    input:
        lambda wc: TABLES[wc.table],
    output:
        report(
            OUTPUTS["table_page"],
            caption="../workflow/report/tables.rst",
            category="6. Tables",
            labels={"table": "{table}"},
        ),
    log:
        "logs/tables/{table}.log",
    wildcard_constraints:
        table="|".join(TABLE_PAGES) or "none",
    conda:
        "../envs/vlencode.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        settings=settings("tables"),
    script:
        "../workflow/scripts/tables.py"


rule protocol:
    output:
        report(
            OUTPUTS["protocol"],
            caption="../workflow/report/protocol.rst",
            category="0. Protocol",
            labels={"page": "protocol"},
        ),
    log:
        "logs/protocol/protocol.log",
    conda:
        "../envs/vlencode.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        settings=settings("protocol"),
        config=protocol_settings(),
        models=[m.as_dict() for m in MODELS.values()],
    script:
        "../workflow/scripts/protocol.py"
