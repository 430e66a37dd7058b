"""Rule tables: one table rendered as a standalone HTML page for the report."""

from vlencode import store
from vlencode.reporting import write_table_html
from vlencode.runlog import rule_logger

snakemake = globals()["snakemake"]
log = rule_logger(snakemake.log[0])
table = store.read_parquet(snakemake.input[0])
write_table_html(table, snakemake.output[0], title=snakemake.wildcards.table)
log.info("rendered %s: %d rows", snakemake.output[0], len(table))
