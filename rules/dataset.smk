# The embedded default dataset: a Brain Treebank replica generated from real metadata plus planted ground truth, one
# rule per movie, subject and recording, so adding a recording builds only its own files.

if REPLICA:

    rule replica_movie:
        output:
            movie=LAYOUT.movie_path("{movie}"),
            scenes=LAYOUT.scene_path("{movie}"),
            transcript=LAYOUT.transcript_path("{movie}"),
        log:
            "logs/replica/movie-{movie}.log",
        benchmark:
            "results/benchmarks/replica/movie-{movie}.tsv"
        conda:
            "../envs/vlencode.yaml"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        params:
            settings=settings("replica_movie"),
        script:
            "../workflow/scripts/replica.py"

    rule replica_subject:
        output:
            labels=LAYOUT.labels_path("{subject}"),
            localization=LAYOUT.localization_path("{subject}"),
        log:
            "logs/replica/sub-{subject}.log",
        benchmark:
            "results/benchmarks/replica/sub-{subject}.tsv"
        conda:
            "../envs/vlencode.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=5,
        params:
            settings=settings("replica_subject"),
        script:
            "../workflow/scripts/replica.py"

    rule replica_corrupted:
        output:
            LAYOUT.corrupted_path(),
        log:
            "logs/replica/corrupted.log",
        benchmark:
            "results/benchmarks/replica/corrupted.tsv"
        conda:
            "../envs/vlencode.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=5,
        params:
            settings=settings("replica_corrupted"),
        script:
            "../workflow/scripts/replica.py"

    rule replica_recording:
        output:
            recording=LAYOUT.h5_path("{subject}", "{trial3}"),
            metadata=LAYOUT.metadata_path("{subject}", "{trial3}"),
            timings=LAYOUT.timings_path("{subject}", "{trial3}"),
        log:
            "logs/replica/sub-{subject}_trial-{trial3}.log",
        benchmark:
            "results/benchmarks/replica/sub-{subject}_trial-{trial3}.tsv"
        wildcard_constraints:
            trial3="[0-9]{3}",
        conda:
            "../envs/vlencode.yaml"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=30,
        params:
            settings=settings("replica_recording"),
        script:
            "../workflow/scripts/replica.py"

    rule replica_truth:
        output:
            electrodes=ground_truth_path("electrodes"),
            scenes=ground_truth_path("scenes"),
            trials=ground_truth_path("trials"),
            note=ground_truth_path("note"),
        log:
            "logs/replica/truth.log",
        benchmark:
            "results/benchmarks/replica/truth.tsv"
        conda:
            "../envs/vlencode.yaml"
        threads: 1
        resources:
            mem_mb=2000,
            runtime=10,
        params:
            settings=settings("replica_truth"),
            recordings=json.dumps(RECORDINGS),
        script:
            "../workflow/scripts/replica.py"
