"""The stimuli of one movie: the unique (frame, text) pairs over every subject's and alignment's valid events."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from vlencode.datasets.base import DatasetError
from vlencode.stimuli.frames import decode_frames, frame_sha256

#: Columns of a stimuli table.
STIMULUS_COLUMNS = ["stimulus_id", "movie", "frame_time_s", "frame_index", "frame_sha256", "text"]


def build_stimuli(
    events_tables: Sequence[pd.DataFrame], movie: str, movie_path: str | Path, max_frame_side: int | None = None
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Unique stimuli of ``movie`` and their frames, each distinct frame decoded once.

    Parameters
    ----------
    events_tables
        Events tables (:data:`vlencode.stimuli.events.EVENT_COLUMNS`) of the trials that showed ``movie``; their valid
        rows of that movie are used, every alignment.
    movie
        The movie identifier.
    movie_path
        The movie file the frames are decoded from.
    max_frame_side
        Shrink frames so their longer side is at most this many pixels (None: the movie's size).

    Returns
    -------
    stimuli
        One row per ``stimulus_id`` (columns :data:`STIMULUS_COLUMNS`), sorted by (frame_time_s, text, stimulus_id):
        ``frame_time_s`` is the decoded frame's timestamp (the frame at or just after the event onset) and
        ``frame_index`` its row in ``frames``; ``frame_sha256`` the frame's content hash (:func:`frame_sha256`).
    frames
        ``[n_frames, H, W, 3]`` uint8 RGB, distinct frames in time order.
    frame_time_s
        ``[n_frames]`` the frames' timestamps.
    """
    if not events_tables:
        raise DatasetError(f"movie {movie}: no events tables given; check which trials showed this movie")
    events = pd.concat([table[["stimulus_id", "movie", "frame_time_s", "text", "valid"]] for table in events_tables])
    events = events[events["valid"].astype(bool) & (events["movie"] == movie)]
    if events.empty:
        raise DatasetError(
            f"movie {movie}: no valid events in {len(events_tables)} events tables, so no stimuli; "
            "check the transcript, the triggers and the scene cuts of its trials"
        )
    # An id covers every onset within its millisecond; the earliest one picks the frame.
    unique = events.sort_values(["frame_time_s", "stimulus_id"], kind="stable").drop_duplicates("stimulus_id")
    decoded = decode_frames(movie_path, unique["frame_time_s"].to_numpy(), max_side=max_frame_side)
    stimuli = pd.DataFrame(
        {
            "stimulus_id": unique["stimulus_id"].astype(str).to_numpy(),
            "movie": movie,
            "frame_time_s": decoded.frame_time_s[decoded.index],
            "frame_index": decoded.index,
            "frame_sha256": np.asarray(frame_sha256(decoded.frames), dtype=object)[decoded.index],
            "text": unique["text"].astype(str).to_numpy(),
        }
    )
    stimuli = stimuli.sort_values(["frame_time_s", "text", "stimulus_id"], kind="stable").reset_index(drop=True)
    stimuli = stimuli.astype({"stimulus_id": str, "movie": str, "frame_sha256": str, "text": str})
    return stimuli, decoded.frames, decoded.frame_time_s
