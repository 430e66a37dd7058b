"""Rule regions: sites and scores summarised per region, hemisphere and alignment, and per-subject site counts."""

from vlencode import steps, store
from vlencode.regions import summarize_regions
from vlencode.runlog import rule_logger

snakemake = globals()["snakemake"]
log = rule_logger(snakemake.log[0])
inputs = snakemake.input
settings = steps.Regions.from_params(snakemake.params.settings)
tables = summarize_regions(
    store.read_parquet(inputs.sites),
    store.read_parquet(inputs.scores),
    store.read_parquet(inputs.electrodes),
    n_resamples=settings.n_resamples,
    ci=settings.ci,
    seed=settings.seed,
)
hashes = store.input_hashes(inputs)
for name, table in tables.items():
    store.write_parquet(table, snakemake.output[name], params=settings.params, inputs=hashes)
    log.info("wrote %s: %d rows", snakemake.output[name], len(table))
