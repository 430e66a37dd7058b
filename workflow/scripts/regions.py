"""Rule regions: sites and scores summarised per region, hemisphere and alignment, and per-subject site counts."""

import json

from vlencode import store
from vlencode.regions import summarize_regions
from vlencode.runlog import rule_logger

snakemake = globals()["snakemake"]
log = rule_logger(snakemake.log[0])
inputs = snakemake.input
settings = json.loads(snakemake.params.settings)
tables = summarize_regions(
    store.read_parquet(inputs.sites),
    store.read_parquet(inputs.scores),
    store.read_parquet(inputs.electrodes),
    settings["regions"],
    seed=settings["seed"],
)
hashes = store.input_hashes(inputs)
for name, table in tables.items():
    store.write_parquet(table, snakemake.output[name], params=settings, inputs=hashes)
    log.info("wrote %s: %d rows", snakemake.output[name], len(table))
