"""Rule weights: fetch one hub repository or release file into the weights directory, convert it, write its lock."""

from vlencode.models.weights import WeightsError, WeightsUnit, fetch
from vlencode.runlog import rule_logger

snakemake = globals()["snakemake"]
log = rule_logger(snakemake.log[0])
spec = snakemake.params.unit
unit = WeightsUnit(spec["name"], spec["kind"], dict(spec["spec"]))
try:
    offline = bool(snakemake.resources.offline)
    lock = fetch(unit, snakemake.params.weights_dir, offline=offline, lock=snakemake.output[0])
except WeightsError as error:
    log.error(str(error))
    raise SystemExit(str(error)) from None
log.info("%s: %d files locked (%s)", unit.name, len(lock["files"]), lock.get("commit") or lock.get("sha256"))
