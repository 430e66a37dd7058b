"""Rule sites: Benjamini-Hochberg over every subject's comparisons, then the multimodal sites and categories."""

from vlencode import steps
from vlencode.keyed import keyed
from vlencode.runlog import rule_logger
from vlencode.stats.sites import site_counts, sites_from_comparisons
from vlencode.store import input_hashes, write_parquet

log = rule_logger(snakemake.log[0])
settings = steps.Sites.from_params(snakemake.params.settings)
comparisons, sites = sites_from_comparisons(
    list(keyed(snakemake.input, "comparisons").values()),
    list(keyed(snakemake.input, "selection").values()),
    q=settings.fdr_q,
    tests=settings.multimodal_tests,
    min_bins=settings.min_bins,
    n_resamples=settings.n_resamples,
)
inputs = input_hashes(snakemake.input)
write_parquet(comparisons, snakemake.output.comparisons, params=settings.params, inputs=inputs)
write_parquet(sites, snakemake.output.sites, params=settings.params, inputs=inputs)
log.info(
    "electrodes per category (alignment both: the same category in every alignment):\n%s",
    site_counts(sites).to_string(index=False),
)
