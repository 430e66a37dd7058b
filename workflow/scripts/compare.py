"""Rule compare: one subject's paired comparisons of every model pair, every alignment and keep rule (raw p)."""

import json

from vlencode.keyed import keyed_pairs
from vlencode.runlog import rule_logger
from vlencode.stats.subject import compare_subject
from vlencode.store import input_hashes, write_parquet

log = rule_logger(snakemake.log[0])
settings = json.loads(snakemake.params.settings)
statistics = settings["statistics"]
table = compare_subject(
    snakemake.wildcards.subject,
    {model: path for (_, model), path in keyed_pairs(snakemake.input, "fit").items()},
    keep_rules=statistics["keep_rules"],
    ci=settings["bootstrap"]["ci"],
    min_bins=statistics["min_bins"],
    alpha_edge_fraction=statistics["alpha_edge_fraction"],
)
write_parquet(table, snakemake.output[0], params=settings, inputs=input_hashes(snakemake.input))
log.info("sub-%s: %d comparison rows", snakemake.wildcards.subject, len(table))
