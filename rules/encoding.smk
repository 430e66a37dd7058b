# Shared bootstrap resamples per subject; one ridge fit per subject x model (all alignments and layers); scores table.

# What a fit's outputs depend on: every encoding and bootstrap setting but the memory budget (a performance knob).
# fit reads the bootstrap's protocol and interval; the resampling settings reach it through the resamples store.
FIT_KEYS = [f"encoding.{key}" for key in SETTINGS["encoding"] if key != "memory_gb"] + [
    "bootstrap.protocol",
    "bootstrap.ci",
]


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
        settings=settings(
            "resamples",
            "seed",
            "bootstrap.n_resamples",
            "bootstrap.block_s",
            "bootstrap.block_kind",
            "encoding.alignments",
        ),
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
        settings=settings("fit", "seed", *FIT_KEYS),
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
