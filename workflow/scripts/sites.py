"""Rule sites: Benjamini-Hochberg over every subject's comparisons, then the multimodal sites and categories."""

from vlencode.runlog import rule_logger
from vlencode.stats.sites import site_counts, sites_from_comparisons
from vlencode.store import input_hashes, write_parquet

log = rule_logger(snakemake.log[0])
statistics = snakemake.params.cfg["statistics"]
comparisons, sites = sites_from_comparisons(
    list(snakemake.input), q=statistics["fdr_q"], tests=statistics["multimodal_tests"], min_bins=statistics["min_bins"]
)
inputs = input_hashes({f"comparisons/{i}": path for i, path in enumerate(snakemake.input)})
write_parquet(comparisons, snakemake.output.comparisons, params=snakemake.params.cfg, inputs=inputs)
write_parquet(sites, snakemake.output.sites, params=snakemake.params.cfg, inputs=inputs)
for row in site_counts(sites).itertuples(index=False):
    log.info("%s", dict(row._asdict()))
