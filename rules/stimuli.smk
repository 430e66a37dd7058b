# Unique (frame, text) stimuli per movie, frames decoded once; layerwise activations per model instance and movie.


rule stimuli:
    input:
        events=lambda wc: [
            f"results/events/sub-{s}_trial-{t}.parquet"
            for s, t in recordings_of_movie(wc.movie)
        ],
        dataset=lambda wc: [DATASET["root"]],
    output:
        table="results/stimuli/movie-{movie}.parquet",
        frames=directory("results/stimuli/movie-{movie}_frames.zarr"),
    log:
        "logs/stimuli/movie-{movie}.log",
    benchmark:
        "results/benchmarks/stimuli/movie-{movie}.tsv"
    conda:
        "../envs/vlencode.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        # One sequential decoding pass over the whole movie.
        runtime=60,
    params:
        dataset=DATASET,
        cfg=narrowed("stimuli"),
        # The table's layout: a table written before a column was added is rebuilt, not read.
        columns=STIMULUS_COLUMNS,
    script:
        "../workflow/scripts/stimuli.py"


rule features:
    input:
        unpack(feature_inputs),
    output:
        directory("results/features/model-{model}/movie-{movie}.zarr"),
    log:
        "logs/features/model-{model}_movie-{movie}.log",
    benchmark:
        "results/benchmarks/features/model-{model}_movie-{movie}.tsv"
    conda:
        "../envs/vlencode.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=1 if USE_GPU else 0,
    params:
        model=lambda wc: MODELS[wc.model].as_dict(),
        cfg=narrowed("features", "device"),
        batch_size=config["models"].get("batch_size", 32),
    script:
        "../workflow/scripts/features.py"
