"""Rule calibration: the validation harness at small scale (null, planted, equal skill, fast vs refit)."""

from vlencode import steps
from vlencode.runlog import rule_logger
from vlencode.store import write_parquet
from vlencode.validation.harness import calibration_table

log = rule_logger(snakemake.log[0])
settings = steps.Calibration.from_params(snakemake.params.settings)
table = calibration_table(settings.params)
write_parquet(table, snakemake.output[0], params=settings.params, inputs={})
log.info("%d calibration rows", len(table))
