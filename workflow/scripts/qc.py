"""Rule qc: quality-control tables (channels, clock drift, events, alpha on the grid edge) from what the stores
record."""

from vlencode import steps, store
from vlencode.datasets import open_dataset
from vlencode.qc import qc_tables
from vlencode.runlog import rule_logger

snakemake = globals()["snakemake"]
log = rule_logger(snakemake.log[0])
params = snakemake.params
settings = steps.Qc.from_params(params.settings)
recordings = [tuple(r) for r in params.recordings]
tables = qc_tables(
    open_dataset(settings.params),
    dict(zip(recordings, snakemake.input.neural, strict=True)),
    dict(zip(recordings, snakemake.input.events, strict=True)),
    snakemake.input.scores,
    settings.alphas,
)
for name, table in tables.items():
    store.write_parquet(table, snakemake.output[name], params=settings.params)
    log.info("wrote %s: %d rows", snakemake.output[name], len(table))
