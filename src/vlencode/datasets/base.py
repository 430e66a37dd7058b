"""The one small interface every dataset reader offers to the stages above it.

Stages above this layer (events, preprocessing, epochs, regions) see only what is declared here: a recording that is
read in chunks, an electrode table, a trigger table with the movie-time -> sample mapping, a word transcript, the
movie a trial showed and the scene cuts of a movie.  A Brain Treebank reader and a BIDS iEEG reader implement it.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

#: Columns of :meth:`Dataset.electrodes` (coordinates in MNI space when known, NaN otherwise).
ELECTRODE_COLUMNS = ["electrode", "shaft", "contact", "hemisphere", "x_mni", "y_mni", "z_mni", "dk", "destrieux"]
#: Columns of :meth:`Dataset.words` (times in movie seconds).
WORD_COLUMNS = ["word_idx", "start_s", "end_s", "word", "sentence", "sentence_idx", "idx_in_sentence", "is_onset"]


#: pandas' default spellings of a missing value; in a text column each of them can be a spoken word (pandas#55032).
NA_SPELLINGS = (
    "",
    "n/a",
    "N/A",
    "NA",
    "nan",
    "NaN",
    "-nan",
    "-NaN",
    "null",
    "NULL",
    "None",
    "<NA>",
    "#N/A",
    "#NA",
    "#N/A N/A",
    "1.#IND",
    "-1.#IND",
    "1.#QNAN",
    "-1.#QNAN",
)


def read_csv_keeping_text(path: str | PathLike, text: Sequence[str]) -> pd.DataFrame:
    """A CSV whose ``text`` columns keep every cell verbatim, as ``str``, and whose other columns parse as usual.

    pandas reads ``None``, ``NA``, ``null``, ``nan``, ``N/A`` ... as missing in every column by default, so a spoken
    "None" became NaN; in ``text`` columns only an empty cell means missing, and it stays ``""``.  The other columns
    take :data:`NA_SPELLINGS` as missing and their numbers as numbers.
    """
    header = pd.read_csv(path, nrows=0).columns
    missing = {column: list(NA_SPELLINGS) for column in header if column not in text}
    return pd.read_csv(path, keep_default_na=False, na_values=missing, dtype=dict.fromkeys(text, str))


def split_label(label: str) -> tuple[str, int]:
    """``(shaft, contact)`` of a depth-contact label: ``T1cIf10`` -> ``("T1cIf", 10)``; no trailing number -> -1."""
    match = re.fullmatch(r"(.*?)(\d+)", label)
    if match is None or not match.group(1):
        return label, -1
    return match.group(1), int(match.group(2))


#: The fix of a damaged recording file.  The embedded replica's files are generated, not downloaded: deleting one
#: makes the workflow build it again.
DOWNLOAD_AGAIN = "download it again (a file of the embedded replica: delete it and rerun, which rebuilds it)"


class DatasetError(ValueError):
    """Bad or missing input; the message is one line naming the file and the fix."""


class Recording(abc.ABC):
    """A multichannel recording, read lazily: never the whole trial in memory.

    ``labels`` are the cleaned labels of the neural, uncorrupted channels, in the order :meth:`read` returns them;
    ``excluded`` maps every channel the reader left out (non-neural types, channels the dataset marks as corrupted or
    bad) to its reason, so that the neural store and the QC table list them beside the channels preprocessing drops.
    ``types`` gives a label's channel type where the format records one (``SEEG``, ``ECOG``, ``DBS``).
    Values are microvolts, float32, shaped ``[time, electrode]``.  ``line_freq_hz`` is the mains frequency the
    recording's own metadata gives (None when the format carries none) and ``line_freq_source`` says where it came
    from, for the log and the store's provenance.
    """

    path: Path
    rate_hz: float
    n_samples: int
    labels: list[str]
    line_freq_hz: float | None = None
    line_freq_source: str = "no metadata"
    excluded: Mapping[str, str] = MappingProxyType({})
    types: Mapping[str, str] = MappingProxyType({})

    @abc.abstractmethod
    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start:stop`` of every channel in ``labels``, as ``[stop - start, len(labels)]`` float32."""

    def chunks(self, chunk_samples: int) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(start, block)`` over the whole recording in blocks of at most ``chunk_samples`` samples."""
        for start in range(0, self.n_samples, chunk_samples):
            yield start, self.read(start, min(start + chunk_samples, self.n_samples))

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.rate_hz


@dataclass(frozen=True)
class ClockAlignment:
    """Maps movie time to neural samples through the trigger table.

    ``movie_time_s`` and ``sample`` are the anchor points (one per trigger, increasing); ``rate_hz`` the recording
    rate.  ``pauses_s`` are ``(start, end)`` movie-time intervals during which the movie was paused (no valid mapping);
    ``max_residual_samples`` is the drift check: the largest disagreement between consecutive triggers' predictions.
    """

    movie_time_s: np.ndarray
    sample: np.ndarray
    rate_hz: float
    max_residual_samples: float
    pauses_s: tuple[tuple[float, float], ...] = ()

    def to_sample(self, movie_time_s: np.ndarray) -> np.ndarray:
        """``round(index + (t - movie_time) * rate)`` from the trigger with the nearest movie time.

        Times after the last trigger map to -1 (the caller drops them and logs the count).
        """
        t = np.asarray(movie_time_s, dtype=np.float64)
        anchors = self.movie_time_s
        right = np.clip(np.searchsorted(anchors, t), 1, len(anchors) - 1) if len(anchors) > 1 else np.zeros_like(t, int)
        left = np.maximum(right - 1, 0)
        nearest = np.where(np.abs(t - anchors[left]) <= np.abs(t - anchors[right]), left, right)
        samples = np.rint(self.sample[nearest] + (t - anchors[nearest]) * self.rate_hz).astype(np.int64)
        samples[t > anchors[-1]] = -1
        return samples

    def in_pause(self, movie_time_s: np.ndarray) -> np.ndarray:
        """True where a movie time falls inside a pause."""
        t = np.asarray(movie_time_s, dtype=np.float64)
        inside = np.zeros(t.shape, dtype=bool)
        for start, end in self.pauses_s:
            inside |= (t >= start) & (t <= end)
        return inside


class Dataset(abc.ABC):
    """A movie-watching intracranial dataset: subjects, trials (one movie each), recordings and annotations."""

    root: Path

    @abc.abstractmethod
    def recording(self, subject: str, trial: str) -> Recording:
        """The neural recording of one trial, non-neural and corrupted channels already dropped."""

    @abc.abstractmethod
    def electrodes(self, subject: str) -> pd.DataFrame:
        """One row per electrode of ``subject``, columns :data:`ELECTRODE_COLUMNS`."""

    @abc.abstractmethod
    def clock(self, subject: str, trial: str) -> ClockAlignment:
        """The movie-time -> sample mapping of one trial."""

    @abc.abstractmethod
    def words(self, subject: str, trial: str) -> pd.DataFrame:
        """The transcript of the movie this trial showed, columns :data:`WORD_COLUMNS`."""

    @abc.abstractmethod
    def movie(self, subject: str, trial: str) -> str:
        """The movie identifier of one trial."""

    @abc.abstractmethod
    def movie_path(self, movie: str) -> Path:
        """Where the movie file is; it need not exist (features then fail with a one-line error)."""

    @abc.abstractmethod
    def scene_cuts(self, movie: str, recordings: Sequence[tuple[str, str]] | None = None) -> np.ndarray | None:
        """Annotated scene-cut times in movie seconds, or None when the dataset has no annotation for ``movie``.

        ``recordings`` are the ``(subject, trial)`` pairs showing ``movie`` whose annotations may be read (a dataset
        that keeps scene cuts beside each recording reads only those, :meth:`scene_cut_files`; None: all of them).
        """

    # Every file a step reads is one of its declared workflow inputs, and these lists are what the workflow declares
    # (and hashes into provenance): each names exactly what the matching reader methods open.
    @abc.abstractmethod
    def recording_files(self, subject: str, trial: str) -> list[Path]:
        """The files :meth:`recording` reads."""

    @abc.abstractmethod
    def event_files(self, subject: str, trial: str, movie: str) -> list[Path]:
        """The files :meth:`movie`, :meth:`clock` and :meth:`words` read for a trial showing ``movie``."""

    @abc.abstractmethod
    def scene_cut_files(self, movie: str, recordings: Sequence[tuple[str, str]]) -> list[Path]:
        """The files :meth:`scene_cuts` reads (empty when ``movie`` has no annotation)."""
