# Model weights: each hub repository or release file the zoo reads, fetched once into models.weights_dir (converted
# where a converter exists) with a lock the features jobs verify. On the submitting host: cluster nodes need no network.


localrules:
    weights,


rule weights:
    output:
        f"{WEIGHTS_DIR}/locks/{{unit}}.json",
    log:
        "logs/weights/{unit}.log",
    benchmark:
        "results/benchmarks/weights/{unit}.tsv"
    conda:
        "../envs/vlencode.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=240,
        offline=lambda wc: int(offline()),
    params:
        unit=lambda wc: {
            "name": WEIGHTS[wc.unit].name,
            "kind": WEIGHTS[wc.unit].kind,
            "spec": WEIGHTS[wc.unit].spec,
        },
        # The directory above locks/, from the output: the lint's rule for a path prefix given as a param.
        weights_dir=lambda wc, output: os.path.dirname(os.path.dirname(output[0])),
        script=script_digest("weights"),
    script:
        "../workflow/scripts/weights.py"
