"""Rule qc: quality-control tables (channels, clock drift, events, alpha on the grid edge) from what the stores
record."""

from vlencode import steps, store
from vlencode.datasets import open_dataset
from vlencode.keyed import keyed_pairs
from vlencode.qc import qc_tables
from vlencode.runlog import rule_logger

snakemake = globals()["snakemake"]
log = rule_logger(snakemake.log[0])
params = snakemake.params
settings = steps.Qc.from_params(params.settings)
tables = qc_tables(
    open_dataset(settings.params),
    keyed_pairs(snakemake.input, "neural"),
    keyed_pairs(snakemake.input, "events"),
    snakemake.input.scores,
    list(keyed_pairs(snakemake.input, "fit").values()),
)
inputs = store.input_hashes(snakemake.input)
for name, table in tables.items():
    store.write_parquet(table, snakemake.output[name], params=settings.params, inputs=inputs)
    log.info("wrote %s: %d rows", snakemake.output[name], len(table))
