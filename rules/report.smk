# Quality-control tables, the figures (from tables only), table pages and the protocol page of the report.
from vlencode.plots import figures_for
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
FIGURES = figures_for(TABLES)
FIGURE_CATEGORIES = {
    "trained_vs_random": ("1. Encoding", "models"),
    "model_ranking": ("1. Encoding", "models"),
    "time_courses": ("2. Sites", "time courses"),
    "glass_brain_category": ("2. Sites", "maps"),
    "glass_brain_best_model": ("2. Sites", "maps"),
    "glass_brain_pair": ("2. Sites", "maps"),
    "region_fractions": ("3. Regions", "fractions"),
    "region_map": ("3. Regions", "fractions"),
    "recovery": ("4. Validation", "recovery"),
    "calibration": ("4. Validation", "calibration"),
    "qc_channels": ("5. Quality control", "neural"),
    "qc_clock": ("5. Quality control", "events"),
    "qc_events": ("5. Quality control", "events"),
    "qc_alpha_edge": ("5. Quality control", "encoding"),
}
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
    *[out("figure", name=name, ext=ext) for name in FIGURES for ext in ("png", "svg")],
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
            f"{name}_png": report(
                out("figure", name=name, ext="png"),
                caption=f"../workflow/report/{name}.rst",
                category=FIGURE_CATEGORIES[name][0],
                subcategory=FIGURE_CATEGORIES[name][1],
                labels={"figure": name.replace("_", " ")},
            )
            for name in FIGURES
        },
        **{f"{name}_svg": out("figure", name=name, ext="svg") for name in FIGURES},
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
        figures=FIGURES,
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
