# Events (word, sentence, scene) mapped to neural samples; preprocessing streamed into Zarr; epochs per alignment.


rule events:
    input:
        unpack(event_inputs),
    output:
        OUTPUTS["events"],
    log:
        "logs/events/sub-{subject}_trial-{trial}.log",
    benchmark:
        "results/benchmarks/events/sub-{subject}_trial-{trial}.tsv"
    conda:
        "../envs/vlencode.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=settings("events"),
    script:
        "../workflow/scripts/events.py"


rule preprocess:
    input:
        recording_files,
    output:
        directory(OUTPUTS["neural"]),
    log:
        "logs/preprocess/sub-{subject}_trial-{trial}.log",
    benchmark:
        "results/benchmarks/preprocess/sub-{subject}_trial-{trial}.tsv"
    conda:
        "../envs/vlencode.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=120,
        chunk_s=str(SETTINGS["preprocess"]["chunk_s"]),
    params:
        settings=settings("preprocess"),
    script:
        "../workflow/scripts/preprocess.py"


rule epochs:
    input:
        neural=OUTPUTS["neural"],
        events=OUTPUTS["events"],
    output:
        directory(OUTPUTS["epochs"]),
    log:
        "logs/epochs/sub-{subject}_trial-{trial}.log",
    benchmark:
        "results/benchmarks/epochs/sub-{subject}_trial-{trial}.tsv"
    conda:
        "../envs/vlencode.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        settings=settings("epochs"),
    script:
        "../workflow/scripts/epochs.py"
