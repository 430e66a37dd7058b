# Quality-control tables, the figures (from tables only), table pages and the protocol page of the report.
from vlencode.figures import report_figures

# The tables figures are drawn from; the statistics' and validation tables join when the run has them.
TABLES = {
    "scores": "results/encoding/scores.parquet",
    "electrodes": "results/regions/electrodes.parquet",
    **{
        f"qc_{name}": f"results/qc/{name}.parquet"
        for name in ("channels", "clock", "events", "alpha_edge")
    },
}
if produced("results/stats/sites.parquet"):
    TABLES.update(
        sites="results/stats/sites.parquet",
        summary="results/regions/summary.parquet",
        family_scores="results/regions/family_scores.parquet",
        subject_sites="results/regions/subject_sites.parquet",
    )
if REPLICA and produced("results/validation/recovery.parquet"):
    TABLES["recovery"] = "results/validation/recovery.parquet"
if produced("results/validation/calibration.parquet"):
    TABLES["calibration"] = "results/validation/calibration.parquet"
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
    *[f"results/tables/{t}.html" for t in TABLE_PAGES],
    "results/report/protocol.html",
]


rule qc:
    input:
        neural=[f"results/neural/sub-{s}_trial-{t}.zarr" for s, t in RECORDINGS],
        events=[f"results/events/sub-{s}_trial-{t}.parquet" for s, t in RECORDINGS],
        scores="results/encoding/scores.parquet",
        # The clock alignment (trigger table) of each recording.
        clock=[
            str(p)
            for s, t in RECORDINGS
            for p in dataset().event_files(s, t, MOVIE_OF[(s, t)])
        ],
    output:
        channels="results/qc/channels.parquet",
        clock="results/qc/clock.parquet",
        events="results/qc/events.parquet",
        alpha_edge="results/qc/alpha_edge.parquet",
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
        settings=settings("qc", *READER_KEYS, "encoding.alphas"),
        recordings=RECORDINGS,
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
        settings=settings("figures", "seed", "regions.atlas"),
        figures=[figure.name for figure in FIGURES],
        # Which model is an entry, a random-init twin or a baseline: the statistics choose what the figures show.
        models=json.dumps({name: model_meta(name) for name in MODELS}, sort_keys=True),
    script:
        "../workflow/scripts/figures.py"


rule tables:
    input:
        lambda wc: TABLES[wc.table],
    output:
        report(
            "results/tables/{table}.html",
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
            "results/report/protocol.html",
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
