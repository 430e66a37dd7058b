# Shared bootstrap resamples per subject; one ridge fit per subject x model (all alignments and layers); scores table.


rule resamples:
    input:
        unpack(trial_inputs),
    output:
        directory(OUTPUTS["resamples"]),
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
    script:
        "../workflow/scripts/resamples.py"


rule fit:
    input:
        unpack(fit_inputs),
    output:
        directory(OUTPUTS["fit"]),
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
        settings=fit_settings,
        model=lambda wc: MODELS[wc.model].as_dict(),
    script:
        "../workflow/scripts/fit.py"


rule scores:
    input:
        unpack(lambda wc: fit_stores()),
    output:
        OUTPUTS["scores"],
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
