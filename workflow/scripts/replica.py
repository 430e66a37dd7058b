"""Rules replica_*: one part of the embedded Brain Treebank replica (a movie, a subject, a recording, the truth)."""

import json

from vlencode import steps
from vlencode.datasets import replica
from vlencode.runlog import rule_logger

snakemake = globals()["snakemake"]
rule_logger(snakemake.log[0])
wildcards, out = snakemake.wildcards, snakemake.output
cfg = steps.STEPS[snakemake.rule].from_params(snakemake.params.settings).params["replica"]
if snakemake.rule == "replica_movie":
    replica.build_movie(
        wildcards.movie, cfg, movie_path=out.movie, scenes_path=out.scenes, transcript_path=out.transcript
    )
elif snakemake.rule == "replica_subject":
    replica.build_subject(wildcards.subject, cfg, labels_path=out.labels, localization_path=out.localization)
elif snakemake.rule == "replica_corrupted":
    replica.build_corrupted(cfg, out[0])
elif snakemake.rule == "replica_recording":
    replica.build_recording(
        wildcards.subject,
        str(int(wildcards.trial3)),
        cfg,
        recording_path=out.recording,
        metadata_path=out.metadata,
        timings_path=out.timings,
    )
else:
    replica.build_ground_truth(
        cfg,
        json.loads(snakemake.params.recordings),
        electrodes_path=out.electrodes,
        scenes_path=out.scenes,
        trials_path=out.trials,
        note_path=out.note,
    )
