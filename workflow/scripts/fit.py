"""Rule fit: one subject x model, every alignment and layer, the chosen layer's bootstrap -> the fit store."""

import json

import torch

from vlencode import encoding
from vlencode.keyed import keyed
from vlencode.models import ModelInstance
from vlencode.runlog import rule_logger
from vlencode.store import atomic_zarr, input_hashes

log = rule_logger(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
params = snakemake.params
settings = json.loads(params.settings)
memory_gb = snakemake.resources.memory_gb
# The memory budget is a performance knob (a resource): the results do not depend on it, so it is in no rerun key.
encoding_cfg = {**settings["encoding"], "memory_gb": memory_gb if memory_gb == "auto" else float(memory_gb)}
epochs, events = keyed(snakemake.input, "epochs"), keyed(snakemake.input, "events")
fit = encoding.fit_subject_model(
    subject=snakemake.wildcards.subject,
    trials=list(epochs),
    epochs_paths=list(epochs.values()),
    events_paths=[events[trial] for trial in epochs],
    features_paths=keyed(snakemake.input, "features"),
    resamples_path=snakemake.input.resamples,
    encoding=encoding_cfg,
    bootstrap_config=settings["bootstrap"],
    seed=settings["seed"],
    instance=ModelInstance.from_dict(params.model),
    device=snakemake.resources.device,
)
with atomic_zarr(snakemake.output[0], {**settings, "model": params.model}, input_hashes(snakemake.input)) as group:
    fit.write(group)
log.info(
    "sub-%s model-%s: chosen layers %s",
    fit.subject,
    snakemake.wildcards.model,
    {a: f.chosen_layer for a, f in fit.alignments.items()},
)
