# Statistics: paired comparisons per subject, multimodal sites over all subjects, recovery of a replica's planted
# truth, and the validation harness's calibration table.


def model_meta(name):
    """What the comparisons need to know of a model instance: its entry, family, init, parts and registry pair."""
    instance = MODELS[name]
    return {
        "base": instance.base,
        "family": instance.family,
        "init": instance.init,
        "components": list(instance.components),
        "pair": instance.entry.get("pair") if instance.name == instance.base else None,
    }


rule compare:
    input:
        fits=lambda wc: [
            f"results/encoding/sub-{wc.subject}/model-{m}.zarr" for m in MODELS
        ],
    output:
        "results/stats/sub-{subject}_comparisons.parquet",
    log:
        "logs/compare/sub-{subject}.log",
    benchmark:
        "results/benchmarks/compare/sub-{subject}.tsv"
    conda:
        "../envs/vlencode.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        cfg={
            "ci": config["bootstrap"]["ci"],
            "alphas": config["encoding"]["alphas"],
            "statistics": {
                key: config["statistics"][key]
                for key in ("keep_rules", "min_bins", "alpha_edge_fraction")
            },
        },
        model_names=list(MODELS),
        models={name: model_meta(name) for name in MODELS},
    script:
        "../workflow/scripts/compare.py"


rule sites:
    input:
        expand("results/stats/sub-{subject}_comparisons.parquet", subject=SUBJECTS),
    output:
        sites="results/stats/sites.parquet",
        comparisons="results/stats/comparisons.parquet",
    log:
        "logs/sites/sites.log",
    benchmark:
        "results/benchmarks/sites.tsv"
    conda:
        "../envs/vlencode.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        cfg={
            "statistics": {
                key: config["statistics"][key]
                for key in ("fdr_q", "multimodal_tests", "min_bins")
            },
        },
    script:
        "../workflow/scripts/sites.py"


if REPLICA:

    rule recovery:
        input:
            sites="results/stats/sites.parquet",
            truth=ground_truth_path("electrodes"),
        output:
            "results/validation/recovery.parquet",
        log:
            "logs/recovery/recovery.log",
        benchmark:
            "results/benchmarks/recovery.tsv"
        conda:
            "../envs/vlencode.yaml"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        params:
            cfg={"statistics": {"min_bins": config["statistics"]["min_bins"]}},
        script:
            "../workflow/scripts/recovery.py"


rule calibration:
    output:
        "results/validation/calibration.parquet",
    log:
        "logs/calibration/calibration.log",
    benchmark:
        "results/benchmarks/calibration.tsv"
    conda:
        "../envs/vlencode.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        cfg={
            "seed": config["seed"],
            "bootstrap": {
                key: config["bootstrap"][key]
                for key in ("ci", "block_s", "block_kind")
            },
            "encoding": {
                "n_folds": config["encoding"]["n_folds"],
                "alphas": config["encoding"]["alphas"],
            },
            "statistics": {
                key: config["statistics"][key]
                for key in ("min_bins", "fdr_q", "multimodal_tests", "calibration")
            },
        },
    script:
        "../workflow/scripts/calibration.py"
