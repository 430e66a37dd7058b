"""Rule compare: one subject's paired comparisons of every model pair, every alignment and keep rule (raw p)."""

import json
from pathlib import Path

import numpy as np

from vlencode import steps
from vlencode.runlog import rule_logger
from vlencode.stats.subject import compare_subject
from vlencode.store import file_sha256, write_parquet

log = rule_logger(snakemake.log[0])
params = snakemake.params
settings = steps.Compare.from_params(params.settings)
models = json.loads(params.models)
fits = dict(zip(params.model_names, snakemake.input.fits, strict=True))
grid = settings.alphas
table = compare_subject(
    snakemake.wildcards.subject,
    fits,
    models,
    keep_rules=settings.keep_rules,
    ci=settings.ci,
    min_bins=settings.min_bins,
    alphas=np.logspace(grid["log10_min"], grid["log10_max"], grid["n"]),
    alpha_edge_fraction=settings.alpha_edge_fraction,
)
# A fit store is a deterministic function of the provenance in its root metadata, so that file stands for it.
inputs = {path: file_sha256(Path(path) / "zarr.json") for path in fits.values()}
write_parquet(table, snakemake.output[0], params={**settings.params, "models": models}, inputs=inputs)
log.info("sub-%s: %d comparison rows", snakemake.wildcards.subject, len(table))
