"""Rule make_replica: build the embedded Brain Treebank replica (atomically) from the replica config section."""

from vlencode.datasets.replica import build_replica
from vlencode.runlog import rule_logger

rule_logger(snakemake.log[0])  # noqa: F821 (injected by Snakemake)
build_replica(
    snakemake.output[0],  # noqa: F821
    snakemake.params.replica,  # noqa: F821
    snakemake.params.recordings,  # noqa: F821
    snakemake.params.seed,  # noqa: F821
)
