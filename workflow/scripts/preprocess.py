"""Rule preprocess: one trial's recording, quality-checked, re-referenced, filtered and resampled into Zarr."""

import json

from vlencode import store
from vlencode.datasets import open_dataset
from vlencode.neural import write_neural_store
from vlencode.runlog import rule_logger

snakemake = globals()["snakemake"]
log = rule_logger(snakemake.log[0])
subject, trial = snakemake.wildcards.subject, snakemake.wildcards.trial
settings = json.loads(snakemake.params.settings)
recording = open_dataset(settings).recording(subject, trial)
inputs = store.input_hashes(snakemake.input)
summary = write_neural_store(
    recording,
    settings["preprocess"],
    snakemake.output[0],
    params=settings,
    inputs=inputs,
    workers=snakemake.threads,
    progress=True,
)
log.info("wrote %s: %s", snakemake.output[0], summary)
