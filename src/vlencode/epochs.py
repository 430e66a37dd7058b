"""Neural response per event: bin means of the preprocessed signal around each event onset.

Bins sit every ``step_s`` from ``tmin_s`` to ``tmax_s`` inclusive (161 bins for -2..2 s at 25 ms); each bin is the mean
of the signal over a ``window_s`` window placed at the bin time: ``start`` [t, t + w) (the default (?)), ``center``
[t - w/2, t + w/2) or ``end`` [t - w, t).  In samples: the event sits at the neural sample nearest its raw sample
(``round(sample * rate_hz / source_rate_hz)``), a bin's window starts ``round((t + shift) * rate_hz)`` samples from it
and spans ``round(window_s * rate_hz)`` samples.

Window sums come from cumulative sums over blocks of the recording read around the (sorted) events, so memory is
bounded by the block size, never the trial's length.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from vlencode.config import ConfigError
from vlencode.stimuli.events import ALIGNMENTS

log = logging.getLogger(__name__)

_PLACEMENT_SHIFT = {"start": 0.0, "center": -0.5, "end": -1.0}


class SignalReader(Protocol):
    """A ``[time, electrode]`` array read by slices (a zarr array or a numpy array)."""

    shape: tuple[int, ...]

    def __getitem__(self, key: Any) -> np.ndarray: ...


@dataclass(frozen=True)
class EpochWindows:
    """Bin times and averaging windows, in seconds relative to the event onset."""

    tmin_s: float
    tmax_s: float
    step_s: float
    window_s: float
    window_placement: str

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> EpochWindows:
        """From the canonical ``epochs`` config section (the schema's defaults filled in: every field present).

        Raises
        ------
        ValueError
            A missing key, an unknown ``window_placement``, or windows that do not fit.
        """
        missing = [key for key in cls.__dataclass_fields__ if key not in cfg]
        if missing:
            raise ValueError(f"epochs: missing key(s) {missing}; fill the schema's defaults (canonical_config)")
        windows = cls(**{key: cfg[key] for key in cls.__dataclass_fields__})
        if windows.window_placement not in _PLACEMENT_SHIFT:
            raise ValueError(
                f"epochs.window_placement: unknown value {windows.window_placement!r}; use start, center or end"
            )
        wrong = [
            text
            for bad, text in (
                (windows.tmax_s < windows.tmin_s, f"tmin_s {windows.tmin_s} is after tmax_s {windows.tmax_s}"),
                (windows.step_s <= 0, f"step_s {windows.step_s} is not positive"),
                (windows.window_s <= 0, f"window_s {windows.window_s} is not positive"),
            )
            if bad
        ]
        if wrong:
            raise ValueError(f"epochs: {'; '.join(wrong)}; need tmin_s <= tmax_s and positive step_s and window_s")
        return windows

    def bin_time_s(self) -> np.ndarray:
        """Bin times from ``tmin_s`` to ``tmax_s`` inclusive at ``step_s``.

        Rounded to 1 ns, so -2 + 4 * 0.025 is -1.9.
        """
        n_bins = int(np.floor((self.tmax_s - self.tmin_s) / self.step_s + 1e-9)) + 1
        return np.round(self.tmin_s + self.step_s * np.arange(n_bins), 9)

    def window_offsets(self, rate_hz: float) -> tuple[np.ndarray, int]:
        """Per bin, the window's first sample relative to the event's sample, and the window length in samples."""
        length = int(round(self.window_s * rate_hz))
        if length < 1:
            raise ValueError(
                f"epochs.window_s: {self.window_s} s is shorter than one sample at preprocess.rate_hz {rate_hz} Hz;"
                " raise window_s or rate_hz"
            )
        shift = _PLACEMENT_SHIFT[self.window_placement] * self.window_s
        starts = np.rint((self.bin_time_s() + shift) * rate_hz).astype(np.int64)
        return starts, length


def check_epochs_config(epochs: Mapping[str, Any], rate_hz: float | None = None, source: str = "config") -> None:
    """Refuse at start-up, from the canonical config's ``epochs`` section, windows the epochs jobs would refuse only
    after preprocessing: :meth:`EpochWindows.from_config`'s refusals (``tmin_s`` after ``tmax_s``, ...) and, at the
    preprocessed rate ``rate_hz`` (``preprocess.rate_hz``), a window shorter than one sample
    (:meth:`EpochWindows.window_offsets`).

    Raises
    ------
    ConfigError
        One line naming the keys and the fix, prefixed by ``source`` (the config file).
    """
    try:
        windows = EpochWindows.from_config(epochs)
        if rate_hz is not None:
            windows.window_offsets(rate_hz)
    except ValueError as error:
        raise ConfigError(f"{source}: {error}") from None


@dataclass(frozen=True)
class AlignmentEpochs:
    """Responses of one alignment: ``response[event, electrode, bin]`` float32, ``event_id[event]`` in onset order,
    and ``n_dropped`` valid events whose windows left the recording."""

    response: np.ndarray
    event_id: np.ndarray
    n_dropped: int


def event_samples(raw_sample: np.ndarray, rate_hz: float, source_rate_hz: float) -> np.ndarray:
    """The neural sample nearest each raw sample: raw sample ``s`` is signal index ``s * rate_hz / source_rate_hz``."""
    return np.floor(np.asarray(raw_sample, dtype=np.float64) * (rate_hz / source_rate_hz) + 0.5).astype(np.int64)


def _blocks(span_start: np.ndarray, span_stop: np.ndarray, max_samples: int, max_events: int) -> list[tuple[int, int]]:
    """Consecutive runs ``[i, j)`` of sorted events whose spans fit together in ``max_samples`` samples and that number
    at most ``max_events`` (a run holds at least one event)."""
    runs = []
    i = 0
    while i < len(span_start):
        j = i + 1
        stop = span_stop[i]
        while j < len(span_start) and j - i < max_events and max(stop, span_stop[j]) - span_start[i] <= max_samples:
            stop = max(stop, span_stop[j])
            j += 1
        runs.append((i, j))
        i = j
    return runs


def window_means(
    signal: SignalReader,
    anchors: np.ndarray,
    offsets: np.ndarray,
    length: int,
    out: np.ndarray,
    block_mb: float = 64.0,
) -> None:
    """Fill ``out[e, c, b]`` with the mean of ``signal[anchors[e] + offsets[b] : ... + length, c]``.

    Every window must lie inside the signal.  Events are visited in sample order and the signal is read in blocks
    whose float64 cumulative sums, and whose events' window sums, each take about ``block_mb`` MB at most (a single
    event's span may exceed it), so memory does not grow with the recording's length.
    """
    n_electrodes = signal.shape[1]
    order = np.argsort(anchors, kind="stable")
    sorted_anchors = anchors[order]
    span_start = sorted_anchors + offsets.min()
    span_stop = sorted_anchors + offsets.max() + length
    budget = block_mb * 1e6 / (8 * max(n_electrodes, 1))
    max_samples, max_events = max(int(budget), 1), max(int(budget / len(offsets)), 1)
    for i, j in _blocks(span_start, span_stop, max_samples, max_events):
        first, stop = int(span_start[i]), int(span_stop[i:j].max())
        block = np.asarray(signal[first:stop], dtype=np.float64)
        cumulative = np.concatenate([np.zeros((1, n_electrodes)), np.cumsum(block, axis=0)])
        starts = sorted_anchors[i:j, None] + offsets[None, :] - first
        sums = cumulative[starts + length] - cumulative[starts]
        out[order[i:j]] = (sums / length).transpose(0, 2, 1)


def epoch_responses(
    signal: SignalReader,
    *,
    rate_hz: float,
    source_rate_hz: float,
    events: pd.DataFrame,
    cfg: EpochWindows | Mapping[str, Any],
    block_mb: float = 64.0,
) -> dict[str, AlignmentEpochs]:
    """Per alignment, the binned responses of the valid events whose windows fit in the recording.

    Parameters
    ----------
    signal
        The preprocessed ``[time, electrode]`` signal at ``rate_hz``, read by slices.
    rate_hz, source_rate_hz
        The signal's rate and the raw recording's rate (events' ``sample`` is at the raw rate).
    events
        An events table (:data:`vlencode.stimuli.events.EVENT_COLUMNS`); only ``valid`` rows are used.
    cfg
        The windows, or the canonical ``epochs`` config section (:meth:`EpochWindows.from_config`).
    block_mb
        Memory for one block of the signal read at once.

    Returns
    -------
    dict
        For each of :data:`vlencode.stimuli.events.ALIGNMENTS`, an :class:`AlignmentEpochs` (empty when none fit).
        The responses of all alignments share one array (each alignment's is a view of it).
    """
    windows = cfg if isinstance(cfg, EpochWindows) else EpochWindows.from_config(cfg)
    offsets, length = windows.window_offsets(rate_hz)
    valid = events[events["valid"].astype(bool)].copy()
    valid["rank"] = valid["alignment"].map({name: rank for rank, name in enumerate(ALIGNMENTS)})
    valid = valid.dropna(subset=["rank"]).sort_values(["rank", "onset_s", "event_id"], kind="stable")
    anchors = event_samples(valid["sample"].to_numpy(), rate_hz, source_rate_hz)
    fits = (anchors + offsets.min() >= 0) & (anchors + offsets.max() + length <= signal.shape[0])
    kept = valid[fits]
    response = np.empty((len(kept), signal.shape[1], len(offsets)), dtype=np.float32)
    window_means(signal, anchors[fits], offsets, length, response, block_mb)

    # Rows are grouped by alignment, so each alignment's responses are one contiguous slice.
    bounds = np.searchsorted(kept["rank"].to_numpy(), np.arange(len(ALIGNMENTS) + 1))
    event_id = kept["event_id"].astype(str).to_numpy()
    result = {}
    for rank, name in enumerate(ALIGNMENTS):
        rows = slice(bounds[rank], bounds[rank + 1])
        n_dropped = int(((valid["rank"] == rank).to_numpy() & ~fits).sum())
        result[name] = AlignmentEpochs(response[rows], event_id[rows], n_dropped)
        log.info(
            "%s: %d events epoched, %d dropped (window leaves the recording), %d invalid skipped",
            name,
            len(event_id[rows]),
            n_dropped,
            int((events["alignment"] == name).sum()) - int((valid["rank"] == rank).sum()),
        )
    return result
