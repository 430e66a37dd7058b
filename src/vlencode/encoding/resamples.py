"""The resamples every model of a subject shares: drawn once per subject and alignment, iid and in blocks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vlencode.bootstrap import resampling
from vlencode.encoding.inputs import PathLike, epoch_event_keys
from vlencode.store import read_parquet
from vlencode.stores.resamples import SubjectResamples, events_sha256


def event_onsets(events_paths: Sequence[PathLike], trials: Sequence[str], event_keys: np.ndarray) -> np.ndarray:
    """Movie time (``onset_s``) of every event ``"<trial>/<event_id>"``, read from the trials' events tables."""
    onset_of = {}
    for path, trial in zip(events_paths, trials, strict=True):
        table = read_parquet(path)
        onset_of[str(trial)] = dict(zip(table["event_id"].astype(str), table["onset_s"].astype(float)))
    onset = np.asarray(
        [onset_of[trial].get(event, np.nan) for trial, event in (str(k).split("/", 1) for k in event_keys)],
        dtype=np.float64,
    )
    if np.isnan(onset).any():
        raise ValueError(
            f"{int(np.isnan(onset).sum())} epoched events are missing from the events tables "
            f"{[str(p) for p in events_paths]}; rerun events and epochs"
        )
    return onset


def subject_resamples(
    *,
    subject: str,
    trials: Sequence[str],
    epochs_paths: Sequence[PathLike],
    events_paths: Sequence[PathLike],
    alignments: Sequence[str],
    n_resamples: int,
    seed: int,
    block_s: float,
    block_kind: str = "circular",
) -> SubjectResamples:
    """Draw the resamples every model of ``subject`` shares: per alignment, iid events (the paper's) and blocks of
    ``block_s`` seconds of movie time (:mod:`vlencode.bootstrap.resampling`), each stream seeded by (seed, subject,
    alignment[, "block"])."""
    indices, hashes = {}, {}
    for alignment in alignments:
        keys = epoch_event_keys(epochs_paths, trials, alignment)
        if len(keys) == 0:
            raise ValueError(f"sub-{subject}: no epoched {alignment} events; drop {alignment} from encoding.alignments")
        trial_of = np.asarray([str(k).split("/", 1)[0] for k in keys], dtype=object)
        indices[alignment] = {
            "iid": resampling.draw_resamples(
                len(keys), n_resamples, resampling.resample_seed(seed, subject, alignment)
            ),
            "block": resampling.draw_block_resamples(
                event_onsets(events_paths, trials, keys),
                trial_of,
                block_s,
                n_resamples,
                resampling.resample_seed(seed, subject, alignment, "block"),
                block_kind,
            ),
        }
        hashes[alignment] = events_sha256(keys)
    return SubjectResamples(str(subject), int(seed), indices, hashes, {"block_s": block_s, "kind": block_kind})
