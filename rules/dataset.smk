# The embedded default dataset: a Brain Treebank replica generated from real metadata plus planted ground truth.

if REPLICA:

    rule make_replica:
        output:
            directory(DATASET["root"]),
        log:
            "logs/make_replica/make_replica.log",
        benchmark:
            "results/benchmarks/make_replica.tsv"
        conda:
            "../envs/vlencode.yaml"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=30,
        params:
            replica=config["replica"],
            recordings=DATASET["recordings"],
            seed=config["seed"],
        script:
            "../workflow/scripts/make_replica.py"
