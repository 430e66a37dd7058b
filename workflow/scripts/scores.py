"""Rule scores: the chosen layer's scores of every fit store -> results/encoding/scores.parquet."""

from vlencode import encoding, steps
from vlencode.keyed import keyed_pairs
from vlencode.runlog import rule_logger
from vlencode.store import input_hashes, write_parquet

log = rule_logger(snakemake.log[0])
settings = steps.Scores.from_params(snakemake.params.settings)
fits = list(keyed_pairs(snakemake.input, "fit").values())
table = encoding.scores_table(fits)
write_parquet(table, snakemake.output[0], params=settings.params, inputs=input_hashes(snakemake.input))
log.info("%d score rows from %d fits; %d kept (val_lo > 0)", len(table), len(fits), int(table["kept"].sum()))
