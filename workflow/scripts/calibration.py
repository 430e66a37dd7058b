"""Rule calibration: the validation harness at small scale (null, planted, equal skill, fast vs refit)."""

from vlencode.runlog import rule_logger
from vlencode.stats.harness import calibration_table
from vlencode.store import write_parquet

log = rule_logger(snakemake.log[0])
table = calibration_table(snakemake.params.cfg)
write_parquet(table, snakemake.output[0], params=snakemake.params.cfg, inputs={})
log.info("%d calibration rows", len(table))
