"""Rule recovery (replica only): precision, recall and false-positive rate of the calls against the planted truth."""

import json

from vlencode.runlog import rule_logger
from vlencode.store import file_sha256, write_parquet
from vlencode.validation.recovery import recovery_from_files

log = rule_logger(snakemake.log[0])
settings = json.loads(snakemake.params.settings)
truth = snakemake.input.truth
table = recovery_from_files(snakemake.input.sites, truth, min_bins=settings["statistics"]["min_bins"])
inputs = {str(truth): file_sha256(truth), snakemake.input.sites: file_sha256(snakemake.input.sites)}
write_parquet(table, snakemake.output[0], params=settings, inputs=inputs)
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
