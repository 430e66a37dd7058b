"""Rule fit: one subject x model, every alignment and layer, the chosen layer's bootstrap -> the fit store."""

import torch

from vlencode import encoding, steps
from vlencode.runlog import rule_logger
from vlencode.store import atomic_zarr, input_hashes

log = rule_logger(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
params = snakemake.params
settings = steps.Fit.from_params(params.settings)
features = dict(zip(params.movies, snakemake.input.features, strict=True))
fit = encoding.fit_subject_model(
    subject=snakemake.wildcards.subject,
    trials=params.trials,
    epochs_paths=list(snakemake.input.epochs),
    events_paths=list(snakemake.input.events),
    features_paths=features,
    resamples_path=snakemake.input.resamples,
    encoding=settings.params["encoding"],
    bootstrap_config=settings.params["bootstrap"],
    seed=settings.seed,
    device=snakemake.resources.device,
    # A performance knob (a resource): the results do not depend on it, so it is in no rerun key.
    memory_gb=encoding.memory_budget_gb(snakemake.resources.memory_gb),
    model=snakemake.wildcards.model,
)
inputs = input_hashes(
    {
        **{f"epochs/{t}": p for t, p in zip(params.trials, snakemake.input.epochs)},
        **{f"events/{t}": p for t, p in zip(params.trials, snakemake.input.events)},
        **{f"features/{m}": p for m, p in features.items()},
        "resamples": snakemake.input.resamples,
    }
)
with atomic_zarr(snakemake.output[0], {**settings.params, "model": params.model}, inputs) as group:
    fit.write(group)
log.info(
    "sub-%s model-%s: chosen layers %s",
    fit.subject,
    snakemake.wildcards.model,
    {a: f.chosen_layer for a, f in fit.alignments.items()},
)
