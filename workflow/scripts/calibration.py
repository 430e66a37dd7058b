"""Rule calibration: the validation harness at small scale (null, planted, equal skill, fast vs refit)."""

import json

from vlencode.runlog import rule_logger
from vlencode.store import write_parquet
from vlencode.validation.harness import calibration_table

log = rule_logger(snakemake.log[0])
settings = json.loads(snakemake.params.settings)
table = calibration_table(settings)
write_parquet(table, snakemake.output[0], params=settings, inputs={})
log.info("%d calibration rows", len(table))
