"""Rule qc: quality-control tables (channels, clock drift, events, alpha on the grid edge) from what the stores
record."""

import json

from vlencode import store
from vlencode.datasets import open_dataset
from vlencode.qc import qc_tables
from vlencode.runlog import rule_logger

snakemake = globals()["snakemake"]
log = rule_logger(snakemake.log[0])
params = snakemake.params
settings = json.loads(params.settings)
recordings = [tuple(r) for r in params.recordings]
tables = qc_tables(
    open_dataset(settings),
    dict(zip(recordings, snakemake.input.neural, strict=True)),
    dict(zip(recordings, snakemake.input.events, strict=True)),
    snakemake.input.scores,
    settings["encoding"]["alphas"],
)
for name, table in tables.items():
    store.write_parquet(table, snakemake.output[name], params=settings)
    log.info("wrote %s: %d rows", snakemake.output[name], len(table))
