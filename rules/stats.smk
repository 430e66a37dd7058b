# Statistics: paired comparisons per subject, multimodal sites over all subjects, recovery of a replica's planted
# truth, and the validation harness's calibration table.


rule compare:
    input:
        unpack(lambda wc: fit_stores(wc.subject)),
    output:
        comparisons=OUTPUTS["subject_comparisons"],
        selection=OUTPUTS["subject_selection"],
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
        alpha_edge_fraction=str(SETTINGS["statistics"]["alpha_edge_fraction"]),
    params:
        settings=settings("compare"),
    script:
        "../workflow/scripts/compare.py"


rule sites:
    input:
        unpack(
            lambda wc: {
                **keyed_inputs(
                    "comparisons",
                    {s: out("subject_comparisons", subject=s) for s in SUBJECTS},
                ),
                **keyed_inputs(
                    "selection",
                    {s: out("subject_selection", subject=s) for s in SUBJECTS},
                ),
            }
        ),
    output:
        sites=OUTPUTS["sites"],
        comparisons=OUTPUTS["comparisons"],
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
        settings=settings("sites"),
    script:
        "../workflow/scripts/sites.py"


if REPLICA:

    rule recovery:
        input:
            sites=OUTPUTS["sites"],
            truth=ground_truth_path("electrodes"),
        output:
            OUTPUTS["recovery"],
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
            settings=settings("recovery"),
        script:
            "../workflow/scripts/recovery.py"


rule calibration:
    output:
        OUTPUTS["calibration"],
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
        settings=settings("calibration"),
    script:
        "../workflow/scripts/calibration.py"
