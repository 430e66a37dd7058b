# Quality-control tables, the figures (from tables only), table pages and the protocol page of the report.
from vlencode.plots import figures_for

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
    *[f"results/figures/{name}.{ext}" for name in FIGURES for ext in ("png", "svg")],
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
        settings=settings("qc"),
        recordings=RECORDINGS,
    script:
        "../workflow/scripts/qc.py"


rule figures:
    input:
        **{name: TABLES[name] for name in TABLES},
    output:
        **{
            f"{name}_png": report(
                f"results/figures/{name}.png",
                caption=f"../workflow/report/{name}.rst",
                category=FIGURE_CATEGORIES[name][0],
                subcategory=FIGURE_CATEGORIES[name][1],
                labels={"figure": name.replace("_", " ")},
            )
            for name in FIGURES
        },
        **{f"{name}_svg": f"results/figures/{name}.svg" for name in FIGURES},
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
