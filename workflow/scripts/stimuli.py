"""Rule stimuli: the unique (frame, text) stimuli of one movie over its trials' events, frames decoded once."""

from vlencode import steps, store
from vlencode.keyed import keyed
from vlencode.runlog import rule_logger
from vlencode.stimuli.table import build_stimuli
from vlencode.stores.frames import write_frames

snakemake = globals()["snakemake"]
log = rule_logger(snakemake.log[0])
movie = snakemake.wildcards.movie
movie_path = snakemake.input.movie
settings = steps.Stimuli.from_params(snakemake.params.settings)
tables = [store.read_parquet(path) for path in keyed(snakemake.input, "events").values()]
stimuli, frames, frame_time_s = build_stimuli(tables, movie, movie_path, settings.max_frame_side)

inputs = store.input_hashes(snakemake.input)
params = {**settings.params, "columns": snakemake.params.columns}
with store.atomic_zarr(snakemake.output.frames, params, inputs) as root:
    write_frames(root, frames, frame_time_s)
store.write_parquet(stimuli, snakemake.output.table, params=params, inputs=inputs)
log.info(
    "movie %s: %d stimuli, %d distinct frames, %d distinct texts",
    movie,
    len(stimuli),
    len(frames),
    stimuli["text"].nunique(),
)
