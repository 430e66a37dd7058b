"""Rule compare: one subject's paired comparisons of every model pair, every alignment and keep rule (raw p), and the
models they selected."""

import json
from pathlib import Path

import numpy as np

from vlencode.runlog import rule_logger
from vlencode.stats.subject import compare_subject
from vlencode.store import file_sha256, write_parquet

log = rule_logger(snakemake.log[0])
params = snakemake.params
settings = json.loads(params.settings)
models = json.loads(params.models)
statistics = settings["statistics"]
fits = dict(zip(params.model_names, snakemake.input.fits, strict=True))
grid = settings["encoding"]["alphas"]
table, selection = compare_subject(
    snakemake.wildcards.subject,
    fits,
    models,
    keep_rules=statistics["keep_rules"],
    ci=settings["bootstrap"]["ci"],
    min_bins=statistics["min_bins"],
    alphas=np.logspace(grid["log10_min"], grid["log10_max"], grid["n"]),
    alpha_edge_fraction=statistics["alpha_edge_fraction"],
)
# A fit store is a deterministic function of the provenance in its root metadata, so that file stands for it.
inputs = {path: file_sha256(Path(path) / "zarr.json") for path in fits.values()}
write_parquet(table, snakemake.output.comparisons, params={**settings, "models": models}, inputs=inputs)
write_parquet(selection, snakemake.output.selection, params={**settings, "models": models}, inputs=inputs)
log.info("sub-%s: %d comparison rows, %d selection rows", snakemake.wildcards.subject, len(table), len(selection))
