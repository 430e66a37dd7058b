"""Events of one trial — word onsets, sentence onsets and scene cuts — with their text and their neural sample.

Every event keeps a row, valid or not, so the counts of what was excluded and why stay inspectable; later stages use
the valid rows only.  An event is invalid when its movie time lies after the last trigger (the clock cannot map it),
maps outside the recording, falls inside a pause, or (scene cuts only) has no preceding sentence to pair it with.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from vlencode.datasets.base import ClockAlignment, Dataset, DatasetError

log = logging.getLogger(__name__)

#: The alignments of an events table, in the order its rows come.
ALIGNMENTS = ("word", "sentence", "scene")
#: Columns of an events table.
EVENT_COLUMNS = [
    "event_id",
    "alignment",
    "subject",
    "movie",
    "trial",
    "onset_s",
    "frame_time_s",
    "sample",
    "stimulus_id",
    "word",
    "text",
    "sentence_idx",
    "valid",
    "invalid_reason",
]
#: Why an event is invalid, in the order the reasons are tested (an event carries the first that applies).  A
#: ``duplicate`` repeats an earlier event's onset and text (a transcript row or an annotated cut listed twice): kept
#: in the table, counted in the log, but never epoched twice.
INVALID_REASONS = ("after_last_trigger", "outside_recording", "in_pause", "no_text", "duplicate")


def stimulus_id(movie: str, frame_time_s: float, text: str) -> str:
    """A content key for a (frame, text) stimulus: the same movie, time (to 1 ms) and text give the same id.

    Every subject who watched ``movie`` therefore shares the id, and the features of that stimulus are computed once.
    """
    millisecond = int(np.floor(frame_time_s * 1000.0 + 0.5))
    return hashlib.sha256(f"{movie}\x1f{millisecond}\x1f{text}".encode()).hexdigest()[:16]


def prefix_texts(sentence: str, words: Sequence[str]) -> list[str]:
    """For each word of a sentence, the sentence up to and including that word.

    The prefix is cut from ``sentence`` itself, so its spelling and punctuation survive (punctuation attached to the
    word is kept, so the last word's prefix is the whole sentence); when a word cannot be found in order in the
    sentence (a transcript whose words and sentence disagree) the words themselves are joined instead.
    """
    lowered = sentence.lower()
    cursor = 0
    prefixes = []
    for word in words:
        found = lowered.find(str(word).lower(), cursor)
        if found < 0:
            return [" ".join(str(w) for w in words[: i + 1]) for i in range(len(words))]
        cursor = found + len(str(word))
        while cursor < len(sentence) and not sentence[cursor].isspace() and not sentence[cursor].isalnum():
            cursor += 1
        prefixes.append(sentence[:cursor].strip())
    return prefixes


def word_texts(words: pd.DataFrame, text_context: str) -> pd.Series:
    """The model text of every word: its sentence prefix (``prefix``) or its whole sentence (``sentence``)."""
    if text_context == "sentence":
        return words["sentence"].astype(str)
    if text_context != "prefix":
        raise ValueError(f"events.text_context: unknown value {text_context!r}; use prefix or sentence")
    texts = pd.Series("", index=words.index, dtype=object)
    for _, group in words.groupby("sentence_idx", sort=False):
        texts.loc[group.index] = prefix_texts(str(group["sentence"].iloc[0]), list(group["word"]))
    return texts.astype(str)


def _annotated_cuts(dataset: Dataset, movie: str, recordings: Sequence[tuple[str, str]]) -> np.ndarray | None:
    cuts = dataset.scene_cuts(movie, recordings)
    if cuts is None:
        return None
    cuts = np.asarray(cuts, dtype=np.float64)
    if not np.isfinite(cuts).all():
        raise DatasetError(
            f"{dataset.root}: scene cuts of {movie} include {int((~np.isfinite(cuts)).sum())} non-finite "
            "time(s); repair the scene annotation (drop or time those rows)"
        )
    return np.sort(cuts)


def scene_cut_times(
    dataset: Dataset,
    movie: str,
    recordings: Sequence[tuple[str, str]],
    scene_cuts: str,
    detection: Mapping[str, Any],
) -> tuple[np.ndarray, str]:
    """Scene-cut times of ``movie`` (movie seconds, sorted) and where they came from (``annotation`` or ``detect``).

    With ``scene_cuts='annotation'`` the dataset's annotation (read from ``recordings``, the trials showing the movie,
    where the dataset keeps cuts per recording) is used, and a movie without one falls back to detection; with
    ``'detect'`` cuts are always detected from the movie file, ``detection`` being the keyword arguments of
    :func:`vlencode.stimuli.scenes.detect_cuts` (the config's ``stimuli.scene_detection``).

    Raises
    ------
    DatasetError
        An annotation with a missing (NaN) or infinite time: readers drop rows without a time, so this is a reader
        fault, stopped here rather than as a NaN sample further on.
    """
    if scene_cuts not in ("annotation", "detect"):
        raise ValueError(f"dataset.scene_cuts: unknown value {scene_cuts!r}; use annotation or detect")
    if scene_cuts == "annotation":
        cuts = _annotated_cuts(dataset, movie, recordings)
        if cuts is not None:
            return cuts, "annotation"
    # PySceneDetect pulls in OpenCV: import it only when cuts are actually detected.
    from vlencode.stimuli.scenes import detect_cuts

    return detect_cuts(dataset.movie_path(movie), **detection), "detect"


def _ordered_words(words: pd.DataFrame, where: str) -> pd.DataFrame:
    missing = {"start_s", "word", "sentence", "sentence_idx", "idx_in_sentence"} - set(words.columns)
    if missing:
        raise DatasetError(f"{where}: transcript lacks columns {sorted(missing)}; regenerate the dataset")
    timed = np.isfinite(pd.to_numeric(words["start_s"], errors="coerce").to_numpy(np.float64))
    if not timed.all():
        log.warning("%s: %d of %d word(s) without a start time dropped", where, int((~timed).sum()), len(words))
    words = words[timed].copy()
    words["sentence_idx"] = words["sentence_idx"].astype(np.int64)
    # A row listed twice would repeat the event and its word inside every later prefix text of the sentence.
    repeated = words.duplicated(["start_s", "word", "sentence_idx", "idx_in_sentence"])
    if repeated.any():
        log.info("%s: %d duplicate transcript row(s) dropped", where, int(repeated.sum()))
        words = words[~repeated]
    words = words.sort_values(["start_s", "sentence_idx", "idx_in_sentence"], kind="stable")
    return words.reset_index(drop=True)


def _word_events(words: pd.DataFrame, text_context: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "onset_s": words["start_s"].to_numpy(np.float64),
            "word": words["word"].astype(str).to_numpy(),
            "text": word_texts(words, text_context).to_numpy(),
            "sentence_idx": words["sentence_idx"].to_numpy(np.int64),
        }
    )


def _sentence_events(word_events: pd.DataFrame, words: pd.DataFrame) -> pd.DataFrame:
    first = words.groupby("sentence_idx", sort=False)["idx_in_sentence"].transform("min") == words["idx_in_sentence"]
    onsets = word_events[first.to_numpy()]
    return onsets.drop_duplicates("sentence_idx", keep="first").reset_index(drop=True)


def _scene_events(cuts: np.ndarray, words: pd.DataFrame) -> pd.DataFrame:
    sentences = words.groupby("sentence_idx", sort=False).agg(onset_s=("start_s", "min"), text=("sentence", "first"))
    sentences = sentences.sort_values("onset_s", kind="stable")
    texts = sentences["text"].astype(str).to_numpy()
    indices = sentences.index.to_numpy(np.int64)
    preceding = np.searchsorted(sentences["onset_s"].to_numpy(), cuts, side="right") - 1
    return pd.DataFrame(
        {
            "onset_s": np.asarray(cuts, dtype=np.float64),
            "word": "",
            "text": [texts[p] if p >= 0 else "" for p in preceding],
            "sentence_idx": np.array([indices[p] if p >= 0 else -1 for p in preceding], dtype=np.int64),
        }
    )


def map_to_samples(onset_s: np.ndarray, clock: ClockAlignment, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Neural samples of movie times and the invalid reason of each ("" when valid).

    Samples are -1 where the time cannot be mapped into the recording (after the last trigger or outside
    ``[0, n_samples)``); a time inside a pause keeps its mapped sample but is invalid.
    """
    sample = clock.to_sample(onset_s)
    after_last = np.asarray(onset_s) > clock.movie_time_s[-1]
    outside = ~after_last & ((sample < 0) | (sample >= n_samples))
    paused = ~after_last & ~outside & clock.in_pause(onset_s)
    reason = np.full(len(sample), "", dtype=object)
    reason[after_last] = "after_last_trigger"
    reason[outside] = "outside_recording"
    reason[paused] = "in_pause"
    sample = np.where(after_last | outside, -1, sample).astype(np.int64)
    return sample, reason


def build_events(
    dataset: Dataset, subject: str, trial: str, cfg: Mapping[str, Any], cuts: np.ndarray | None = None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The events table of one trial (columns :data:`EVENT_COLUMNS`) and the counts of what was excluded.

    Parameters
    ----------
    dataset
        The dataset the trial belongs to.
    subject, trial
        The trial, as strings ("1", "0").
    cfg
        ``cfg['events']['text_context']``: ``prefix`` (the sentence up to and including the word) or ``sentence``.
    cuts
        The movie's scene-cut times (movie seconds), as the workflow's ``cuts`` step gives them
        (:func:`scene_cut_times`); None reads the dataset's annotation of the movie (a movie without one is an error).

    Returns
    -------
    events
        One row per event: word events (one per word onset), sentence events (the first word of each sentence) and
        scene events (one per cut; text = the latest sentence whose onset precedes the cut, the whole sentence).
        Word and sentence texts follow ``text_context``.  ``frame_time_s`` is the onset: the frame shown then is the
        image.  Rows are ordered by alignment, then onset; ``event_id`` is unique in the table.
    counts
        Per alignment ``{'total', 'valid', <reason>: n for each of INVALID_REASONS}``, plus ``max_residual_samples``
        (the clock's drift check).
    """
    text_context = cfg["events"]["text_context"]
    movie = dataset.movie(subject, trial)
    words = _ordered_words(dataset.words(subject, trial), f"{dataset.root} (sub {subject}, trial {trial})")
    if cuts is None:
        cuts = _annotated_cuts(dataset, movie, [(subject, trial)])
        if cuts is None:
            raise DatasetError(f"{dataset.root}: movie {movie} has no scene-cut annotation; pass detected cuts")
    cuts = np.sort(np.asarray(cuts, dtype=np.float64))
    clock = dataset.clock(subject, trial)
    n_samples = dataset.recording(subject, trial).n_samples

    word_events = _word_events(words, text_context)
    by_alignment = {
        "word": word_events,
        "sentence": _sentence_events(word_events, words),
        "scene": _scene_events(cuts, words),
    }
    tables = []
    counts: dict[str, Any] = {}
    for alignment in ALIGNMENTS:
        table = by_alignment[alignment].sort_values("onset_s", kind="stable").reset_index(drop=True)
        sample, reason = map_to_samples(table["onset_s"].to_numpy(), clock, n_samples)
        reason[(reason == "") & (table["text"].to_numpy() == "")] = "no_text"
        reason[(reason == "") & table.duplicated(["onset_s", "text"]).to_numpy()] = "duplicate"
        table.insert(0, "event_id", [f"sub-{subject}_trial-{trial}_{alignment}-{i:05d}" for i in range(len(table))])
        table.insert(1, "alignment", alignment)
        table.insert(2, "subject", subject)
        table.insert(3, "movie", movie)
        table.insert(4, "trial", trial)
        table["frame_time_s"] = table["onset_s"]
        table["sample"] = sample
        table["stimulus_id"] = [stimulus_id(movie, t, x) for t, x in zip(table["onset_s"], table["text"], strict=True)]
        table["valid"] = reason == ""
        table["invalid_reason"] = reason.astype(str)
        counts[alignment] = {"total": len(table), "valid": int(table["valid"].sum())}
        counts[alignment].update({r: int((reason == r).sum()) for r in INVALID_REASONS})
        tables.append(table[EVENT_COLUMNS])
    counts["max_residual_samples"] = float(clock.max_residual_samples)

    events = pd.concat(tables, ignore_index=True)
    events = events.astype(
        {
            "event_id": str,
            "alignment": str,
            "subject": str,
            "movie": str,
            "trial": str,
            "stimulus_id": str,
            "word": str,
            "text": str,
            "invalid_reason": str,
            "sentence_idx": np.int64,
            "sample": np.int64,
            "valid": bool,
        }
    )
    log.info(
        "sub %s trial %s (%s): clock drift check max residual %.3f samples; %d scene cuts",
        subject,
        trial,
        movie,
        clock.max_residual_samples,
        len(cuts),
    )
    for alignment in ALIGNMENTS:
        c = counts[alignment]
        excluded = ", ".join(f"{r} {c[r]}" for r in INVALID_REASONS)
        log.info("%s events: %d of %d valid (excluded: %s)", alignment, c["valid"], c["total"], excluded)
    return events, counts
