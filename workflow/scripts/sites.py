"""Rule sites: Benjamini-Hochberg over every subject's comparisons, then the multimodal sites and categories."""

import json

from vlencode.runlog import rule_logger
from vlencode.stats.sites import site_counts, sites_from_comparisons
from vlencode.store import input_hashes, write_parquet

log = rule_logger(snakemake.log[0])
settings = json.loads(snakemake.params.settings)
statistics = settings["statistics"]
comparisons, sites = sites_from_comparisons(
    list(snakemake.input.comparisons),
    list(snakemake.input.selection),
    q=statistics["fdr_q"],
    tests=statistics["multimodal_tests"],
    min_bins=statistics["min_bins"],
    n_resamples=settings["bootstrap"]["n_resamples"],
)
inputs = input_hashes(
    {
        **{f"comparisons/{i}": path for i, path in enumerate(snakemake.input.comparisons)},
        **{f"selection/{i}": path for i, path in enumerate(snakemake.input.selection)},
    }
)
write_parquet(comparisons, snakemake.output.comparisons, params=settings, inputs=inputs)
write_parquet(sites, snakemake.output.sites, params=settings, inputs=inputs)
log.info(
    "electrodes per category (alignment both: the same category in every alignment):\n%s",
    site_counts(sites).to_string(index=False),
)
