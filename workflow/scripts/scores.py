"""Rule scores: the chosen layer's scores of every fit store -> results/encoding/scores.parquet."""

from pathlib import Path

from vlencode import encoding, steps
from vlencode.runlog import rule_logger
from vlencode.store import file_sha256, write_parquet

log = rule_logger(snakemake.log[0])
settings = steps.Scores.from_params(snakemake.params.settings)
fits = list(snakemake.input)
table = encoding.scores_table(fits)
# A fit store is a deterministic function of the provenance in its root metadata (params and input hashes), so that
# small file stands for the whole store without rereading gigabytes of bootstrap arrays.
inputs = {path: file_sha256(Path(path) / "zarr.json") for path in fits}
write_parquet(table, snakemake.output[0], params=settings.params, inputs=inputs)
log.info("%d score rows from %d fits; %d kept (val_lo > 0)", len(table), len(fits), int(table["kept"].sum()))
