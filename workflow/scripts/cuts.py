"""Rule cuts: the scene-cut times of one movie, from its annotation or detected in the movie file."""

import json

import pandas as pd

from vlencode import steps, store
from vlencode.datasets import open_dataset
from vlencode.runlog import rule_logger
from vlencode.stimuli.events import scene_cut_times

snakemake = globals()["snakemake"]
log = rule_logger(snakemake.log[0])
settings = steps.Cuts.from_params(snakemake.params.settings)
movie = snakemake.wildcards.movie
recordings = [tuple(pair) for pair in json.loads(snakemake.params.recordings)]
cuts, source = scene_cut_times(
    open_dataset(settings.params), movie, recordings, settings.scene_cuts, settings.detection or {}
)
inputs = store.input_hashes(snakemake.input)
store.write_parquet(pd.DataFrame({"cut_s": cuts}), snakemake.output[0], params=settings.params, inputs=inputs)
log.info("movie %s: %d scene cuts from %s", movie, len(cuts), source)
