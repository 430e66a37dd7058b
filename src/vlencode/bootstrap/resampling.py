"""Resamples of events shared by every model of a subject and alignment: iid events, or blocks of contiguous events.

The paper draws single events with replacement (``iid``).  Events are not independent: 4 s epochs around words a few
hundred milliseconds apart overlap, and the background is slow, so an iid bootstrap underestimates the spread of any
score.  The block bootstrap draws runs of contiguous events spanning ``block_s`` seconds of movie time and concatenates
them until the resample is as long as the data (Kuensch 1989, moving blocks; Politis & Romano 1992, circular blocks,
where a block may wrap from the end of a trial to its start).  Blocks never cross a trial boundary.  A resample is a
row of event indices; the fast protocol uses it as a count matrix (:func:`resample_counts`), the refit protocol sorts it
back into event order.

Seeds derive from the config seed and names (subject, alignment, scheme) through SHA-256, never Python's salted
``hash()``, so every process draws the same resamples.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

#: The resampling schemes: the paper's iid event bootstrap and the block bootstrap.
SCHEMES = ("iid", "block")
#: Block schemes of :func:`draw_block_resamples`.
BLOCK_KINDS = ("circular", "moving")


def resample_seed(seed: int, *keys: str) -> np.random.SeedSequence:
    """A seed sequence derived from the config seed and names (e.g. subject, alignment), stable across processes.

    Parameters
    ----------
    seed : int
        The config's master seed.
    *keys : str
        Names that make the stream distinct, hashed with SHA-256 (the first 8 bytes of each digest).

    Returns
    -------
    numpy.random.SeedSequence
    """
    entropy = [int(seed)]
    for key in keys:
        entropy.append(int.from_bytes(hashlib.sha256(str(key).encode()).digest()[:8], "little"))
    return np.random.SeedSequence(entropy)


def draw_resamples(n_events: int, n_resamples: int, seed: int | np.random.SeedSequence) -> np.ndarray:
    """The paper's iid bootstrap: indices of single events drawn with replacement, one row per resample.

    Parameters
    ----------
    n_events : int
        Number of events of one subject and alignment (all trials pooled, in fit order).
    n_resamples : int
    seed : int or numpy.random.SeedSequence
        Use :func:`resample_seed` so every subject and alignment gets its own reproducible stream.

    Returns
    -------
    indices : ndarray of int32, shape (n_resamples, n_events)
    """
    if n_events < 1 or n_resamples < 1:
        raise ValueError(f"cannot draw {n_resamples} resamples of {n_events} events; both must be positive")
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_events, size=(n_resamples, n_events), dtype=np.int64).astype(np.int32)


def block_members(
    onset_s: np.ndarray, trial_of_event: Sequence[str] | np.ndarray, block_s: float, kind: str = "circular"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The block that starts at each event: its length in events, and the first event of its trial.

    A block starting at event ``i`` holds the events of ``i``'s trial whose onsets lie in ``[t_i, t_i + block_s)``;
    a circular block continues at the trial's first event when it runs past the last one (the trial's span is taken as
    last minus first onset plus the median gap).  Events of a trial must be contiguous and sorted by onset.

    Returns
    -------
    length : ndarray of int64, shape (n_events,)
        Events in the block starting at each event (at least 1, at most the trial's events).
    trial_start, trial_size : ndarrays of int64, shape (n_events,)
        Position of the first event of each event's trial, and the trial's event count.
    """
    onset_s = np.asarray(onset_s, dtype=np.float64)
    trial_of_event = np.asarray(trial_of_event)
    if kind not in BLOCK_KINDS:
        raise ValueError(f"bootstrap.block_kind: unknown kind {kind!r}; use one of {', '.join(BLOCK_KINDS)}")
    if not (np.isfinite(block_s) and block_s > 0):
        raise ValueError(f"bootstrap.block_s must be a positive number of seconds, got {block_s}")
    n = len(onset_s)
    starts = np.flatnonzero(np.r_[True, trial_of_event[1:] != trial_of_event[:-1]]) if n else np.array([], int)
    stops = np.r_[starts[1:], n]
    length = np.empty(n, dtype=np.int64)
    trial_start = np.empty(n, dtype=np.int64)
    trial_size = np.empty(n, dtype=np.int64)
    for start, stop in zip(starts, stops):
        t = onset_s[start:stop]
        if np.any(np.diff(t) < 0):
            raise ValueError("event onsets must be sorted within each trial before drawing blocks")
        m = stop - start
        if kind == "circular" and m > 1:
            span = t[-1] - t[0] + float(np.median(np.diff(t)))
            doubled = np.r_[t, t + span]
            count = np.searchsorted(doubled, t + block_s, side="left") - np.arange(m)
        else:
            count = np.searchsorted(t, t + block_s, side="left") - np.arange(m)
        length[start:stop] = np.clip(count, 1, m)
        trial_start[start:stop] = start
        trial_size[start:stop] = m
    return length, trial_start, trial_size


def draw_block_resamples(
    onset_s: np.ndarray,
    trial_of_event: Sequence[str] | np.ndarray,
    block_s: float,
    n_resamples: int,
    seed: int | np.random.SeedSequence,
    kind: str = "circular",
) -> np.ndarray:
    """The block bootstrap: runs of contiguous events (``block_s`` seconds of movie time) drawn with replacement.

    Each resample draws block starts uniformly over the events and concatenates the blocks (:func:`block_members`)
    until it holds as many events as the data, cutting the last block short.

    Parameters
    ----------
    onset_s : ndarray of float, shape (n_events,)
        Movie time of each event, in fit order.
    trial_of_event : sequence of str, shape (n_events,)
        Blocks stay within a trial.
    block_s : float
        Block length in seconds of movie time.
    n_resamples : int
    seed : int or numpy.random.SeedSequence
    kind : {"circular", "moving"}

    Returns
    -------
    indices : ndarray of int32, shape (n_resamples, n_events)
    """
    n = len(onset_s)
    if n < 1 or n_resamples < 1:
        raise ValueError(f"cannot draw {n_resamples} resamples of {n} events; both must be positive")
    length, trial_start, trial_size = block_members(onset_s, trial_of_event, block_s, kind)
    rng = np.random.default_rng(seed)
    out = np.empty((n_resamples, n), dtype=np.int32)
    # Enough blocks on average, plus a margin; a short draw is topped up below.
    n_blocks = int(np.ceil(1.25 * n / length.mean())) + 4
    for r in range(n_resamples):
        picked = np.empty(0, dtype=np.int64)
        while picked.size < n:
            first = rng.integers(0, n, size=n_blocks)
            sizes = length[first]
            offset = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
            begin = np.repeat(first, sizes)
            base = np.repeat(trial_start[first], sizes)
            size = np.repeat(trial_size[first], sizes)
            picked = np.r_[picked, base + (begin - base + offset) % size]
        out[r] = picked[:n]
    return out


def resample_counts(indices: np.ndarray, n_events: int) -> np.ndarray:
    """How often each event is drawn in each resample: the weights of the fast protocol.

    Parameters
    ----------
    indices : ndarray of int, shape (n_resamples, n_draws)
        Resampled event indices, each in ``[0, n_events)``.
    n_events : int

    Returns
    -------
    counts : ndarray of float32, shape (n_resamples, n_events)
    """
    indices = np.asarray(indices, dtype=np.int64)
    if indices.size and (indices.min() < 0 or indices.max() >= n_events):
        raise ValueError(f"resample indices fall outside [0, {n_events}); the resamples were drawn for other events")
    n_resamples = indices.shape[0]
    flat = (np.arange(n_resamples, dtype=np.int64)[:, None] * n_events + indices).ravel()
    return np.bincount(flat, minlength=n_resamples * n_events).reshape(n_resamples, n_events).astype(np.float32)
