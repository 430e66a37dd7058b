# Scene cuts per movie; unique (frame, text) stimuli per movie, frames decoded once; layerwise activations per model.


rule cuts:
    input:
        unpack(cut_inputs),
    output:
        OUTPUTS["cuts"],
    log:
        "logs/cuts/movie-{movie}.log",
    benchmark:
        "results/benchmarks/cuts/movie-{movie}.tsv"
    conda:
        "../envs/vlencode.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        # Detecting the cuts of a two-hour movie takes tens of minutes.
        runtime=60,
    params:
        settings=cut_settings,
        recordings=lambda wc: json.dumps(cut_recordings(wc.movie)),
    script:
        "../workflow/scripts/cuts.py"


# Movie names may hold underscores, so `movie-X_cuts.parquet` also matches the stimuli table's pattern.
ruleorder: cuts > stimuli


rule stimuli:
    input:
        unpack(stimuli_inputs),
    output:
        table=OUTPUTS["stimuli"],
        frames=directory(OUTPUTS["frames"]),
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
        settings=settings("stimuli"),
        # The table's layout: a table written before a column was added is rebuilt, not read.
        columns=STIMULUS_COLUMNS,
    script:
        "../workflow/scripts/stimuli.py"


rule features:
    input:
        unpack(feature_inputs),
    output:
        directory(OUTPUTS["features"]),
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
        device=DEVICE,
        batch_size=SETTINGS["models"]["batch_size"],
    params:
        model=lambda wc: MODELS[wc.model].as_dict(),
        settings=settings("features"),
    script:
        "../workflow/scripts/features.py"
