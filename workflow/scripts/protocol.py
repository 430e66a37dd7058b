"""Rule protocol: the settings, the model zoo and the limits of this run, as a page of the report."""

import json

from vlencode.models.registry import ModelInstance
from vlencode.reporting import protocol_page
from vlencode.runlog import rule_logger

snakemake = globals()["snakemake"]
log = rule_logger(snakemake.log[0])
instances = [ModelInstance.from_dict(m) for m in snakemake.params.models]
protocol_page(json.loads(snakemake.params.config), instances, snakemake.output[0])
log.info("wrote %s (%d models)", snakemake.output[0], len(instances))
