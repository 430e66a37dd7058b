"""Rules replica_*: one part of the embedded Brain Treebank replica (a movie, a subject, a recording, the truth)."""

import json

from vlencode.datasets import replica
from vlencode.runlog import rule_logger

snakemake = globals()["snakemake"]
rule_logger(snakemake.log[0])
root, wildcards = snakemake.params.root, snakemake.wildcards
cfg = json.loads(snakemake.params.settings)["replica"]
if snakemake.rule == "replica_movie":
    replica.build_movie(root, wildcards.movie, cfg)
elif snakemake.rule == "replica_subject":
    replica.build_subject(root, wildcards.subject, cfg)
elif snakemake.rule == "replica_corrupted":
    replica.build_corrupted(root, cfg)
elif snakemake.rule == "replica_recording":
    replica.build_recording(root, wildcards.subject, str(int(wildcards.trial3)), cfg)
else:
    replica.build_ground_truth(root, cfg, json.loads(snakemake.params.recordings))
