"""Rule resamples: draw the resamples (iid and block) that every model of one subject shares, per alignment."""

from vlencode import encoding, steps
from vlencode.keyed import keyed
from vlencode.runlog import rule_logger
from vlencode.store import atomic_zarr, input_hashes

log = rule_logger(snakemake.log[0])
settings = steps.Resamples.from_params(snakemake.params.settings)
epochs, events = keyed(snakemake.input, "epochs"), keyed(snakemake.input, "events")
resamples = encoding.subject_resamples(
    subject=snakemake.wildcards.subject,
    trials=list(epochs),
    epochs_paths=list(epochs.values()),
    events_paths=[events[trial] for trial in epochs],
    alignments=settings.alignments,
    n_resamples=settings.n_resamples,
    seed=settings.seed,
    block_s=settings.block_s,
    block_kind=settings.block_kind,
)
with atomic_zarr(snakemake.output[0], settings.params, input_hashes(snakemake.input)) as group:
    resamples.write(group)
for alignment, schemes in resamples.indices.items():
    for scheme, indices in schemes.items():
        log.info("sub-%s %s %s: %d resamples of %d events", resamples.subject, alignment, scheme, *indices.shape)
