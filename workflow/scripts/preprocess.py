"""Rule preprocess: one trial's recording, quality-checked, re-referenced, filtered and resampled into Zarr."""

from vlencode import store
from vlencode.datasets import open_dataset
from vlencode.neural import write_neural_store
from vlencode.runlog import rule_logger

snakemake = globals()["snakemake"]
log = rule_logger(snakemake.log[0])
subject, trial = snakemake.wildcards.subject, snakemake.wildcards.trial
dataset = open_dataset({"dataset": snakemake.params.dataset})
recording = dataset.recording(subject, trial)
inputs = store.input_hashes({str(p): p for p in dataset.input_files(subject, trial)})
params = {"dataset": snakemake.params.dataset, **snakemake.params.cfg}
summary = write_neural_store(
    recording,
    snakemake.params.cfg["preprocess"],
    snakemake.output[0],
    params=params,
    inputs=inputs,
    workers=snakemake.threads,
    progress=True,
)
log.info("wrote %s: %s", snakemake.output[0], summary)
