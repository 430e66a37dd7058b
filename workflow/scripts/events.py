"""Rule events: the word, sentence and scene events of one trial, mapped to neural samples."""

from vlencode import store
from vlencode.datasets import open_dataset
from vlencode.runlog import rule_logger
from vlencode.stimuli.events import build_events

snakemake = globals()["snakemake"]
log = rule_logger(snakemake.log[0])
subject, trial = snakemake.wildcards.subject, snakemake.wildcards.trial
dataset = open_dataset({"dataset": snakemake.params.dataset})
events, counts = build_events(
    dataset, subject, trial, snakemake.params.cfg, scene_cuts=snakemake.params.dataset.get("scene_cuts", "annotation")
)
inputs = {str(p): p for p in dataset.input_files(subject, trial)}
if counts["scene_cut_source"] == "detect":
    inputs["movie"] = dataset.movie_path(dataset.movie(subject, trial))
params = {"dataset": snakemake.params.dataset, **snakemake.params.cfg}
store.write_parquet(events, snakemake.output[0], params=params, inputs=store.input_hashes(inputs))
log.info("wrote %s: %d events (%d valid)", snakemake.output[0], len(events), int(events["valid"].sum()))
