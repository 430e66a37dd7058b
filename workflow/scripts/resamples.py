"""Rule resamples: draw the bootstrap resamples that every model of one subject shares (one stream per alignment)."""

import json

from vlencode import encoding
from vlencode.runlog import rule_logger
from vlencode.store import atomic_zarr, input_hashes

log = rule_logger(snakemake.log[0])
params = snakemake.params
settings = json.loads(params.settings)
resamples = encoding.subject_resamples(
    subject=snakemake.wildcards.subject,
    trials=params.trials,
    epochs_paths=list(snakemake.input.epochs),
    alignments=settings["encoding"]["alignments"],
    n_resamples=settings["bootstrap"]["n_resamples"],
    seed=settings["seed"],
)
inputs = input_hashes({f"epochs/{trial}": path for trial, path in zip(params.trials, snakemake.input.epochs)})
with atomic_zarr(snakemake.output[0], settings, inputs) as group:
    resamples.write(group)
for alignment, indices in resamples.indices.items():
    log.info("sub-%s %s: %d resamples of %d events", resamples.subject, alignment, *indices.shape)
