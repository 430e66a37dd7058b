"""Rule resamples: draw the resamples (iid and block) that every model of one subject shares, per alignment."""

from vlencode import encoding, steps
from vlencode.runlog import rule_logger
from vlencode.store import atomic_zarr, input_hashes

log = rule_logger(snakemake.log[0])
params = snakemake.params
settings = steps.Resamples.from_params(params.settings)
resamples = encoding.subject_resamples(
    subject=snakemake.wildcards.subject,
    trials=params.trials,
    epochs_paths=list(snakemake.input.epochs),
    events_paths=list(snakemake.input.events),
    alignments=settings.alignments,
    n_resamples=settings.n_resamples,
    seed=settings.seed,
    block_s=settings.block_s,
    block_kind=settings.block_kind,
)
inputs = input_hashes(
    {
        **{f"epochs/{trial}": path for trial, path in zip(params.trials, snakemake.input.epochs)},
        **{f"events/{trial}": path for trial, path in zip(params.trials, snakemake.input.events)},
    }
)
with atomic_zarr(snakemake.output[0], settings.params, inputs) as group:
    resamples.write(group)
for alignment, schemes in resamples.indices.items():
    for scheme, indices in schemes.items():
        log.info("sub-%s %s %s: %d resamples of %d events", resamples.subject, alignment, scheme, *indices.shape)
