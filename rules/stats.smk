# Statistics: paired comparisons per subject, multimodal sites over all subjects, recovery of a replica's planted
# truth, and the validation harness's calibration table.


rule compare:
    input:
        fits=lambda wc: [
            f"results/encoding/sub-{wc.subject}/model-{m}.zarr" for m in MODELS
        ],
    output:
        comparisons="results/stats/sub-{subject}_comparisons.parquet",
        selection="results/stats/sub-{subject}_selection.parquet",
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
        settings=settings(
            "compare",
            "bootstrap.ci",
            "encoding.alphas",
            "statistics.keep_rules",
            "statistics.min_bins",
            "statistics.alpha_edge_fraction",
        ),
        model_names=list(MODELS),
        models=json.dumps({name: model_meta(name) for name in MODELS}, sort_keys=True),
    script:
        "../workflow/scripts/compare.py"


rule sites:
    input:
        comparisons=expand(
            "results/stats/sub-{subject}_comparisons.parquet", subject=SUBJECTS
        ),
        selection=expand(
            "results/stats/sub-{subject}_selection.parquet", subject=SUBJECTS
        ),
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
        settings=settings(
            "sites",
            "bootstrap.n_resamples",
            "statistics.fdr_q",
            "statistics.multimodal_tests",
            "statistics.min_bins",
        ),
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
            settings=settings("recovery", "statistics.min_bins"),
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
        settings=settings(
            "calibration",
            "seed",
            "bootstrap.ci",
            "bootstrap.block_s",
            "bootstrap.block_kind",
            "encoding.n_folds",
            "encoding.alphas",
            "statistics.min_bins",
            "statistics.fdr_q",
            "statistics.multimodal_tests",
            "statistics.calibration",
        ),
    script:
        "../workflow/scripts/calibration.py"
