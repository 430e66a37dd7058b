"""Rule compare: one subject's paired comparisons of every model pair, every alignment and keep rule (raw p), and the
models they selected."""

from vlencode import steps
from vlencode.keyed import keyed_pairs
from vlencode.runlog import rule_logger
from vlencode.stats.subject import compare_subject
from vlencode.store import input_hashes, write_parquet

log = rule_logger(snakemake.log[0])
settings = steps.Compare.from_params(snakemake.params.settings)
table, selection = compare_subject(
    snakemake.wildcards.subject,
    {model: path for (_, model), path in keyed_pairs(snakemake.input, "fit").items()},
    keep_rules=settings.keep_rules,
    ci=settings.ci,
    min_bins=settings.min_bins,
    # A log-only knob (a resource): it sets a warning's threshold, so no output depends on it.
    alpha_edge_fraction=float(snakemake.resources.alpha_edge_fraction),
)
inputs = input_hashes(snakemake.input)
write_parquet(table, snakemake.output.comparisons, params=settings.params, inputs=inputs)
write_parquet(selection, snakemake.output.selection, params=settings.params, inputs=inputs)
log.info("sub-%s: %d comparison rows, %d selection rows", snakemake.wildcards.subject, len(table), len(selection))
