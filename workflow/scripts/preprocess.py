"""Rule preprocess: one trial's recording, quality-checked, re-referenced, filtered and resampled into Zarr."""

from vlencode import steps, store
from vlencode.datasets import open_dataset
from vlencode.neural import write_neural_store
from vlencode.runlog import rule_logger

snakemake = globals()["snakemake"]
log = rule_logger(snakemake.log[0])
subject, trial = snakemake.wildcards.subject, snakemake.wildcards.trial
settings = steps.Preprocess.from_params(snakemake.params.settings)
recording = open_dataset(settings.params).recording(subject, trial)
inputs = store.input_hashes(snakemake.input)
summary = write_neural_store(
    recording,
    # The block length is a performance knob (a resource): the results do not depend on it beyond float rounding.
    settings.config(chunk_s=snakemake.resources.chunk_s),
    snakemake.output[0],
    params=settings.params,
    inputs=inputs,
    workers=snakemake.threads,
    progress=True,
)
log.info("wrote %s: %s", snakemake.output[0], summary)
