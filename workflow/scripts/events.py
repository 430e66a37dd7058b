"""Rule events: the word, sentence and scene events of one trial, mapped to neural samples."""

from vlencode import steps, store
from vlencode.datasets import open_dataset
from vlencode.runlog import rule_logger
from vlencode.stimuli.events import build_events

snakemake = globals()["snakemake"]
log = rule_logger(snakemake.log[0])
subject, trial = snakemake.wildcards.subject, snakemake.wildcards.trial
settings = steps.Events.from_params(snakemake.params.settings)
cuts = store.read_parquet(snakemake.input.cuts)["cut_s"].to_numpy()
events, counts = build_events(open_dataset(settings.params), subject, trial, settings.params, cuts=cuts)
inputs = store.input_hashes(snakemake.input)
store.write_parquet(events, snakemake.output[0], params=settings.params, inputs=inputs)
log.info("wrote %s: %d events (%d valid)", snakemake.output[0], len(events), int(events["valid"].sum()))
