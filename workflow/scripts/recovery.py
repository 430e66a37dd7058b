"""Rule recovery (replica only): precision, recall and false-positive rate of the calls against the planted truth."""

from vlencode import steps
from vlencode.runlog import rule_logger
from vlencode.store import input_hashes, write_parquet
from vlencode.validation.recovery import recovery_from_files

log = rule_logger(snakemake.log[0])
settings = steps.Recovery.from_params(snakemake.params.settings)
truth = snakemake.input.truth
table = recovery_from_files(snakemake.input.sites, truth, min_bins=settings.min_bins)
write_parquet(table, snakemake.output[0], params=settings.params, inputs=input_hashes(snakemake.input))
for row in table[table["primary"]].itertuples(index=False):
    log.info(
        "%s %s %s: recall %.2f precision %.2f false-positive rate %.2f",
        row.keep_rule,
        row.alignment,
        row.category,
        row.recall,
        row.precision,
        row.false_positive_rate,
    )
