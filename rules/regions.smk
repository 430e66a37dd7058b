# Atlas labels of every electrode; sites and scores summarised per region, hemisphere and alignment.


rule electrodes:
    input:
        dataset=electrode_inputs,
        # The electrodes each trial kept, so that derived (bipolar) channels get a region too.
        neural=[f"results/neural/sub-{s}_trial-{t}.zarr" for s, t in RECORDINGS],
    output:
        "results/regions/electrodes.parquet",
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
        recordings=RECORDINGS,
    script:
        "../workflow/scripts/electrodes.py"


rule regions:
    input:
        sites="results/stats/sites.parquet",
        scores="results/encoding/scores.parquet",
        electrodes="results/regions/electrodes.parquet",
    output:
        summary="results/regions/summary.parquet",
        family_scores="results/regions/family_scores.parquet",
        subject_sites="results/regions/subject_sites.parquet",
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
