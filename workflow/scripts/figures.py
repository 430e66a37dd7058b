"""Rule figures: every figure of the report, drawn from the tidy tables only -> results/figures/*.png and *.svg."""

import json

from vlencode import steps, store
from vlencode.figures import DrawContext, draw_figures
from vlencode.runlog import rule_logger
from vlencode.stats.shown import shown_models

snakemake = globals()["snakemake"]
log = rule_logger(snakemake.log[0])
tables = {name: store.read_parquet(path) for name, path in snakemake.input.items()}
output = snakemake.output
outputs = {name: (output[f"{name}_png"], output[f"{name}_svg"]) for name in snakemake.params.figures}
settings = steps.Figures.from_params(snakemake.params.settings)
shown = shown_models(tables, json.loads(snakemake.params.models))
draw_figures(tables, outputs, DrawContext(seed=settings.seed, atlas=settings.atlas, shown=shown))
log.info("drew %d figures from %d tables", len(outputs), len(tables))
