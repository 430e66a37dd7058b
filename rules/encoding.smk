# Shared bootstrap resamples per subject; one ridge fit per subject x model (all alignments and layers); scores table.


rule resamples:
    input:
        epochs=lambda wc: [
            f"results/epochs/sub-{wc.subject}_trial-{t}.zarr"
            for t in trials_of(wc.subject)
        ],
        events=lambda wc: [
            f"results/events/sub-{wc.subject}_trial-{t}.parquet"
            for t in trials_of(wc.subject)
        ],
    output:
        directory("results/encoding/sub-{subject}/resamples.zarr"),
    log:
        "logs/resamples/sub-{subject}.log",
    benchmark:
        "results/benchmarks/resamples/sub-{subject}.tsv"
    conda:
        "../envs/vlencode.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=settings("resamples"),
        trials=lambda wc: trials_of(wc.subject),
    script:
        "../workflow/scripts/resamples.py"


rule fit:
    input:
        epochs=lambda wc: [
            f"results/epochs/sub-{wc.subject}_trial-{t}.zarr"
            for t in trials_of(wc.subject)
        ],
        events=lambda wc: [
            f"results/events/sub-{wc.subject}_trial-{t}.parquet"
            for t in trials_of(wc.subject)
        ],
        features=lambda wc: [
            f"results/features/model-{wc.model}/movie-{m}.zarr"
            for m in movies_of_subject(wc.subject)
        ],
        resamples="results/encoding/sub-{subject}/resamples.zarr",
    output:
        directory("results/encoding/sub-{subject}/model-{model}.zarr"),
    log:
        "logs/fit/sub-{subject}_model-{model}.log",
    benchmark:
        "results/benchmarks/fit/sub-{subject}_model-{model}.tsv"
    conda:
        "../envs/vlencode.yaml"
    # A fixed request (capped at --cores locally): workflow.cores would ask a cluster node for the whole run's cores.
    threads: 8
    resources:
        mem_mb=12000,
        runtime=120,
        gpu=1 if USE_GPU else 0,
        device=DEVICE,
        memory_gb=str(SETTINGS["encoding"]["memory_gb"]),
    params:
        settings=settings("fit"),
        model=lambda wc: MODELS[wc.model].as_dict(),
        trials=lambda wc: trials_of(wc.subject),
        movies=lambda wc: movies_of_subject(wc.subject),
    script:
        "../workflow/scripts/fit.py"


rule scores:
    input:
        expand(
            "results/encoding/sub-{subject}/model-{model}.zarr",
            subject=SUBJECTS,
            model=list(MODELS),
        ),
    output:
        "results/encoding/scores.parquet",
    log:
        "logs/scores/scores.log",
    benchmark:
        "results/benchmarks/scores.tsv"
    conda:
        "../envs/vlencode.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        settings=settings("scores"),
    script:
        "../workflow/scripts/scores.py"
