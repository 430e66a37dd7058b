# vlencode: from raw SEEG and movies to maps of vision-language integration (see README.md and docs/design.md).
from snakemake.utils import min_version

min_version("9.0")


report: "workflow/report/workflow.rst"


# The embedded default, only when no --configfile is given: a run of config/paper.yaml reads no key of it.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "rules/common.smk"


wildcard_constraints:
    subject="[A-Za-z0-9]+",
    trial="[A-Za-z0-9]+",
    movie="[A-Za-z0-9._-]+",
    model="[A-Za-z0-9._-]+",


include: "rules/dataset.smk"
include: "rules/neural.smk"
include: "rules/stimuli.smk"
include: "rules/models.smk"
include: "rules/encoding.smk"
include: "rules/stats.smk"
include: "rules/regions.smk"
# Last: it wires in the tables of every stage above.
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets(),
        REPORT_TARGETS,
