# Atlas labels of every electrode; sites and scores summarised per region, hemisphere and alignment.


rule electrodes:
    input:
        # The electrodes each trial kept, so that derived (bipolar) channels get a region too.
        unpack(lambda wc: recording_inputs("neural")),
        dataset=electrode_inputs,
    output:
        OUTPUTS["electrodes"],
    log:
        "logs/regions/electrodes.log",
    benchmark:
        "results/benchmarks/regions/electrodes.tsv"
    conda:
        "../envs/vlencode.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=settings("electrodes"),
        subjects=SUBJECTS,
    script:
        "../workflow/scripts/electrodes.py"


rule regions:
    input:
        sites=OUTPUTS["sites"],
        scores=OUTPUTS["scores"],
        electrodes=OUTPUTS["electrodes"],
    output:
        summary=OUTPUTS["summary"],
        family_scores=OUTPUTS["family_scores"],
        subject_sites=OUTPUTS["subject_sites"],
    log:
        "logs/regions/regions.log",
    benchmark:
        "results/benchmarks/regions/regions.tsv"
    conda:
        "../envs/vlencode.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        settings=settings("regions"),
    script:
        "../workflow/scripts/regions.py"
