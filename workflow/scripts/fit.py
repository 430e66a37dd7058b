"""Rule fit: one subject x model, every alignment and layer, the chosen layer's bootstrap -> the fit store."""

import torch

from vlencode import encoding, steps
from vlencode.keyed import keyed
from vlencode.models import ModelInstance
from vlencode.runlog import rule_logger
from vlencode.store import atomic_zarr, input_hashes

log = rule_logger(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
params = snakemake.params
settings = steps.Fit.from_params(params.settings)
epochs, events = keyed(snakemake.input, "epochs"), keyed(snakemake.input, "events")
fit = encoding.fit_subject_model(
    subject=snakemake.wildcards.subject,
    trials=list(epochs),
    epochs_paths=list(epochs.values()),
    events_paths=[events[trial] for trial in epochs],
    features_paths=keyed(snakemake.input, "features"),
    resamples_path=snakemake.input.resamples,
    encoding=settings.params["encoding"],
    bootstrap_config=settings.params["bootstrap"],
    seed=settings.seed,
    instance=ModelInstance.from_dict(params.model),
    device=snakemake.resources.device,
    # A performance knob (a resource): the results do not depend on it, so it is in no rerun key.
    memory_gb=encoding.memory_budget_gb(snakemake.resources.memory_gb),
)
with atomic_zarr(
    snakemake.output[0], {**settings.params, "model": params.model}, input_hashes(snakemake.input)
) as group:
    fit.write(group)
log.info(
    "sub-%s model-%s: chosen layers %s",
    fit.subject,
    snakemake.wildcards.model,
    {a: f.chosen_layer for a, f in fit.alignments.items()},
)
