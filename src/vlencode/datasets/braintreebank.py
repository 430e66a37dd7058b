"""Reader of the Brain Treebank layout (Wang et al. 2024; docs/method.md §1), also used for the embedded replica.

Layout under ``root``::

    all_subject_data/sub_{N}_trial{NNN}.h5            group ``data``, one dataset ``electrode_{i}`` per channel
    electrode_labels/sub_{N}/electrode_labels.json    raw channel labels, i = position in this list
    corrupted_elec.json                               {"sub_N": [labels to drop]}
    localization/sub_{N}/depth-wm.csv                 Electrode, Hemisphere, DesikanKilliany, Destrieux, L, P, I
    subject_metadata/sub_{N}_trial{NNN}_metadata.json filename (the movie), title
    subject_timings/sub_{N}_trial{NNN}_timings.csv    type, movie_time, start_time, end_time, trig_type, index, diff
    transcripts/<movie>/features.csv                  one row per word (start, end in movie seconds, text, ...)
    scene_annotations/<movie>.csv                     column ``cut_s`` (movie seconds), optional
    movies/<movie>.mp4                                the movie, optional (not distributed with the dataset)

Channels: a label is cleaned of the ``*``, ``#`` and ``_`` marks (:func:`clean_label`).  When two raw labels clean to
one (``LT2`` and ``LT2*``), which of them is contact ``LT2`` is unknown, and keeping either could make a re-reference
subtract the wrong channel from its neighbours: every channel of such a label is excluded, with the raw labels and the
file in its reason (recorded with the other exclusions in the recording and the neural store's dropped channels).

Transcripts: the ``text`` and ``sentence`` columns keep every word as written (``None``, ``NA``, ``null``, ``nan`` are
words); a row with an empty ``text`` is dropped and counted in a warning.

Compression: recordings compressed with a filter HDF5 lacks (Blosc, LZ4, Zstandard, bitshuffle, ...) are read when the
``hdf5plugin`` package is installed, which this module then imports; without it the error names the filter.

Coordinates: ``depth-wm.csv`` holds native-space L/P/I coordinates, which cannot be pooled across subjects, so MNI152
coordinates come from the per-subject table that the neuroprobe wheel ships for the Brain Treebank
(``mni_coords/btbank{N}_mni_coords.csv``, matched by cleaned label); electrodes it lacks get NaN.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from vlencode.datasets import _neuroprobe
from vlencode.datasets.base import (
    DOWNLOAD_AGAIN,
    ELECTRODE_COLUMNS,
    WORD_COLUMNS,
    ClockAlignment,
    Dataset,
    DatasetError,
    Recording,
    read_csv_keeping_text,
    split_label,
)

try:  # registers the HDF5 compression filters of the hdf5plugin package (Blosc, LZ4, Zstandard, ...) when installed
    import hdf5plugin  # noqa: F401
except ImportError:
    pass

#: Sampling rate of every Brain Treebank recording.
RATE_HZ = 2048.0
#: Mains frequency: the Brain Treebank was recorded in the US; its files carry no such field, so this is what
#: ``preprocess.line_freq_hz: auto`` notches in its recordings (and in the replica's, which copy the format).
LINE_FREQ_HZ = 60.0
LINE_FREQ_SOURCE = "the Brain Treebank's 60 Hz mains (recorded in the US)"
#: Prefixes of channels that carry no neural signal (analog inputs and the trigger line).
NON_NEURAL_PREFIXES = ("DC", "TRIG")
_VIDEO_SUFFIXES = {".mp4", ".mkv", ".avi", ".mov", ".m4v"}
_TIMING_COLUMNS = ["movie_time", "index", "trig_type"]
_TRANSCRIPT_COLUMNS = ["start", "end", "text", "sentence", "sentence_idx", "word_idx", "idx_in_sentence", "is_onset"]
_TRANSCRIPT_TEXT = ("text", "sentence")

log = logging.getLogger("vlencode.datasets.braintreebank")


def write_stand_in(root: Path) -> None:
    """The Brain Treebank's layout for all its trials with metadata only (empty recordings, movies and tables): what a
    run's plan (``snakemake -n``) reads, for dry runs of a configuration on a machine without the dataset."""
    for (subject, trial), movie in _neuroprobe.trial_movie_map().items():
        stem = f"sub_{subject}_trial{int(trial):03d}"
        files = {
            f"all_subject_data/{stem}.h5": "",
            f"electrode_labels/sub_{subject}/electrode_labels.json": "[]",
            f"localization/sub_{subject}/depth-wm.csv": "Electrode,Label\n",
            f"subject_metadata/{stem}_metadata.json": json.dumps({"filename": f"{movie}.mp4"}),
            f"subject_timings/{stem}_timings.csv": "type,index,movie_time\n",
            f"transcripts/{movie}/features.csv": "",
            f"movies/{movie}.mp4": "",
        }
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
    (root / "corrupted_elec.json").write_text("{}")


def clean_label(label: str) -> str:
    """A channel label without the ``*``, ``#`` and ``_`` marks the dataset decorates some labels with."""
    return re.sub(r"[*#_]", "", str(label)).strip()


def is_neural(label: str) -> bool:
    """False for the analog-input (``DC*``) and trigger (``TRIG*``) channels."""
    return not clean_label(label).upper().startswith(NON_NEURAL_PREFIXES)


def _exclusion(label: str, corrupted: set[str]) -> str | None:
    """Why a raw channel is left out of a recording and the electrode table, or None when it is kept."""
    name = clean_label(label)
    if name.upper().startswith("TRIG"):
        return "trigger channel, not neural"
    if not is_neural(label):
        return "analog input (DC), not neural"
    if name in corrupted:
        return "listed in corrupted_elec.json"
    return None


class H5Recording(Recording):
    """One trial's channels streamed from its HDF5 file: each :meth:`read` opens the file and slices the datasets.

    Parameters
    ----------
    path
        The ``sub_{N}_trial{NNN}.h5`` file.
    labels
        Cleaned labels of the channels to read, in output order.
    datasets
        The HDF5 dataset name (``electrode_{i}``) of each label.
    excluded
        Label -> reason of every channel left out (see :meth:`BrainTreebank.channels`).
    """

    line_freq_hz = LINE_FREQ_HZ
    line_freq_source = LINE_FREQ_SOURCE

    def __init__(self, path: Path, labels: list[str], datasets: list[str], excluded: Mapping[str, str] | None = None):
        self.path = Path(path)
        self.excluded = dict(excluded or {})
        self.rate_hz = RATE_HZ
        self.labels = list(labels)
        self._datasets = list(datasets)
        with _open_h5(self.path) as handle:
            lengths = {handle["data"][name].shape[0] for name in self._datasets}
        if len(lengths) > 1:
            raise DatasetError(f"{self.path}: channels differ in length {sorted(lengths)}; re-export the recording")
        self.n_samples = lengths.pop() if lengths else 0

    def read(self, start: int, stop: int) -> np.ndarray:
        start, stop = max(int(start), 0), min(int(stop), self.n_samples)
        # Channel-major buffer: each channel lands in one contiguous row (read_direct, no strided copy).
        out = np.empty((len(self.labels), max(stop - start, 0)), dtype=np.float32)
        with _open_h5(self.path) as handle:
            data = handle["data"]
            for row, name in enumerate(self._datasets):
                try:
                    data[name].read_direct(out[row], np.s_[start:stop])
                except (OSError, TypeError) as error:
                    # A compression filter without its plugin fails like damage; downloading again cannot fix it.
                    missing = _missing_filter(data[name])
                    if missing:
                        raise DatasetError(
                            f"{self.path}: {name} is compressed with {missing}, which this HDF5 cannot decode (the "
                            "file is not damaged); pip install hdf5plugin (vlencode loads it) and rerun"
                        ) from None
                    raise DatasetError(
                        f"{self.path}: cannot read {name} samples {start}:{stop} ({_first_line(error)}); "
                        f"the file is damaged, {DOWNLOAD_AGAIN}"
                    ) from None
        return out.T


def _missing_filter(dataset: h5py.Dataset) -> str | None:
    """The first filter of ``dataset``'s pipeline that this HDF5 lacks, as ``HDF5 filter <id> (<name>)``, or None."""
    pipeline = dataset.id.get_create_plist()
    for index in range(pipeline.get_nfilters()):
        code, _, _, name = pipeline.get_filter(index)
        if not h5py.h5z.filter_avail(code):
            # The name is the one the writer stored in the file (e.g. b"blosc"); it may be empty.
            label = name.decode(errors="replace").strip("\0 ")
            return f"HDF5 filter {code}" + (f" ({label})" if label else "")
    return None


def _first_line(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _open_h5(path: Path) -> h5py.File:
    if not path.exists():
        raise DatasetError(f"{path}: recording not found; check dataset.root and the subject/trial")
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise DatasetError(
            f"{path}: not a readable HDF5 file ({_first_line(error)}); it is truncated or corrupt, {DOWNLOAD_AGAIN}"
        ) from None
    if "data" not in handle:
        handle.close()
        raise DatasetError(f"{path}: no group 'data'; this is not a Brain Treebank recording")
    return handle


def _read_json(path: Path, what: str):
    if not path.exists():
        raise DatasetError(f"{path}: missing {what}; check dataset.root")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DatasetError(
            f"{path}: invalid JSON ({error.msg} at line {error.lineno}); repair or re-download it"
        ) from None


def _read_csv(path: Path, what: str, columns: list[str], text: Sequence[str] = ()) -> pd.DataFrame:
    """A CSV with ``columns``; ``text`` columns keep every cell as written (:func:`read_csv_keeping_text`)."""
    if not path.exists():
        raise DatasetError(f"{path}: missing {what}; check dataset.root")
    try:
        table = read_csv_keeping_text(path, text) if text else pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path}: unreadable CSV ({_first_line(error)}); repair or re-download it") from None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {missing}; expected the Brain Treebank {what} format")
    return table


def clock_from_timings(path: Path, rate_hz: float = RATE_HZ) -> ClockAlignment:
    """The movie-time -> sample mapping of a timings CSV.

    Every trigger row is an anchor.  A ``pause`` row and the next ``unpause`` row bound a pause, whose movie-time
    interval is ``(pause movie_time, unpause movie_time)``.  The drift check predicts each trigger's sample from the
    previous one at ``rate_hz`` (pairs spanning a pause excluded) and keeps the largest absolute residual.

    Raises
    ------
    DatasetError
        Missing columns, or trigger samples / movie times that go backwards.
    """
    table = _read_csv(path, "timings", _TIMING_COLUMNS)
    movie_time = pd.to_numeric(table["movie_time"], errors="coerce").to_numpy(np.float64)
    sample = pd.to_numeric(table["index"], errors="coerce").to_numpy(np.float64)
    if len(table) == 0:
        raise DatasetError(f"{path}: no trigger rows; re-export the timings")
    bad = np.flatnonzero(~(np.isfinite(movie_time) & np.isfinite(sample)))
    if bad.size:
        row = int(bad[0])
        raise DatasetError(
            f"{path}: empty or non-numeric movie_time/index at row {row} (CSV line {row + 2}: index "
            f"{table['index'].iloc[row]}, movie_time {table['movie_time'].iloc[row]}"
            f"{f', and {bad.size - 1} more rows' if bad.size > 1 else ''}); fix that row or re-export the timings"
        )
    backwards = np.flatnonzero((np.diff(sample) <= 0) | (np.diff(movie_time) < 0))
    if backwards.size:
        row = int(backwards[0]) + 1
        raise DatasetError(
            f"{path}: non-monotonic triggers at row {row} (CSV line {row + 2}, index {sample[row]:.0f}, "
            f"movie_time {movie_time[row]}); "
            "triggers must increase in both index and movie_time — fix or remove that row"
        )
    kind = table["trig_type"].astype(str).str.strip().str.lower().to_numpy()
    pauses, crossing = [], np.zeros(max(len(table) - 1, 0), dtype=bool)
    open_pause = None
    for row, value in enumerate(kind):
        if value == "pause":
            open_pause = row
        elif value == "unpause" and open_pause is not None:
            pauses.append((float(movie_time[open_pause]), float(movie_time[row])))
            crossing[open_pause:row] = True
            open_pause = None
    predicted = sample[:-1] + np.diff(movie_time) * rate_hz
    residual = np.abs(sample[1:] - predicted)[~crossing]
    max_residual = float(residual.max()) if residual.size else 0.0
    log.info(
        "%s: %d triggers, %d pause(s), drift check max residual %.1f samples",
        path,
        len(table),
        len(pauses),
        max_residual,
    )
    return ClockAlignment(
        movie_time_s=movie_time,
        sample=sample,
        rate_hz=rate_hz,
        max_residual_samples=max_residual,
        pauses_s=tuple(pauses),
    )


def read_transcript(path: Path) -> pd.DataFrame:
    """A ``features.csv`` transcript as :data:`~vlencode.datasets.base.WORD_COLUMNS`, sorted by onset.

    ``text`` and ``sentence`` are read as written: ``None``, ``NA``, ``null`` ... are spoken words, not missing ones.
    A row whose ``text`` is empty has no word to encode (its prefix text would repeat the previous word's): it is
    dropped and counted in a warning.
    """
    table = _read_csv(path, "transcript", _TRANSCRIPT_COLUMNS, text=_TRANSCRIPT_TEXT)
    empty = table["text"].str.strip() == ""
    if empty.any():
        log.warning("%s: dropped %d of %d word row(s) with an empty text", path, int(empty.sum()), len(table))
        table = table[~empty]
    words = pd.DataFrame(
        {
            "word_idx": table["word_idx"].astype(np.int64),
            "start_s": table["start"].astype(np.float64),
            "end_s": table["end"].astype(np.float64),
            "word": table["text"],
            "sentence": table["sentence"],
            "sentence_idx": table["sentence_idx"].astype(np.int64),
            "idx_in_sentence": table["idx_in_sentence"].astype(np.int64),
            "is_onset": table["is_onset"].astype(bool),
        }
    )
    if not np.isfinite(words["start_s"]).all():
        raise DatasetError(f"{path}: words without a start time; repair the transcript")
    return words[WORD_COLUMNS].sort_values(["start_s", "word_idx"], kind="stable").reset_index(drop=True)


class BrainTreebank(Dataset):
    """The Brain Treebank (or its replica) under ``root``; subjects and trials are strings (``"1"``, ``"0"``)."""

    def __init__(self, root: str | Path, must_exist: bool = True):
        """``must_exist=False`` gives the layout of a tree not built yet (the replica rules' outputs)."""
        self.root = Path(root)
        if must_exist and not self.root.is_dir():
            raise DatasetError(f"{self.root}: dataset root not found; build the replica or set dataset.root")

    # --- paths -----------------------------------------------------------------------------------------------------
    def _trial_stem(self, subject: str, trial: str) -> str:
        if str(trial).startswith("{"):  # a workflow wildcard (the replica rules name these files as their outputs)
            return f"sub_{subject}_trial{trial}"
        if not str(trial).isdigit():
            raise DatasetError(f"trial {trial!r} of subject {subject}: Brain Treebank trials are numbers ('0', '1')")
        return f"sub_{subject}_trial{int(trial):03d}"

    def h5_path(self, subject: str, trial: str) -> Path:
        return self.root / "all_subject_data" / f"{self._trial_stem(subject, trial)}.h5"

    def labels_path(self, subject: str) -> Path:
        return self.root / "electrode_labels" / f"sub_{subject}" / "electrode_labels.json"

    def corrupted_path(self) -> Path:
        return self.root / "corrupted_elec.json"

    def localization_path(self, subject: str) -> Path:
        return self.root / "localization" / f"sub_{subject}" / "depth-wm.csv"

    def metadata_path(self, subject: str, trial: str) -> Path:
        return self.root / "subject_metadata" / f"{self._trial_stem(subject, trial)}_metadata.json"

    def timings_path(self, subject: str, trial: str) -> Path:
        return self.root / "subject_timings" / f"{self._trial_stem(subject, trial)}_timings.csv"

    def transcript_path(self, movie: str) -> Path:
        return self.root / "transcripts" / movie / "features.csv"

    def scene_path(self, movie: str) -> Path:
        return self.root / "scene_annotations" / f"{movie}.csv"

    def movie_path(self, movie: str) -> Path:
        return self.root / "movies" / f"{movie}.mp4"

    # --- channels --------------------------------------------------------------------------------------------------
    def raw_labels(self, subject: str) -> list[str]:
        """The subject's channel labels as stored (uncleaned); position i is dataset ``electrode_{i}``."""
        path = self.labels_path(subject)
        labels = _read_json(path, "electrode label list")
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise DatasetError(f"{path}: expected a JSON list of label strings; re-download it")
        return labels

    def corrupted(self, subject: str) -> set[str]:
        """Cleaned labels that ``corrupted_elec.json`` marks as corrupted for ``subject``."""
        path = self.corrupted_path()
        table = _read_json(path, "corrupted-electrode list")
        if not isinstance(table, dict):
            raise DatasetError(f'{path}: expected {{"sub_N": [labels]}}; re-download it')
        return {clean_label(x) for x in table.get(f"sub_{subject}", [])}

    def channels(self, subject: str) -> tuple[list[tuple[int, str]], dict[str, str]]:
        """The kept channels as ``(position in the label list, cleaned label)``, and every left-out one -> reason.

        Trigger, analog and corrupted channels are keyed by their cleaned label.  Raw labels that clean to one label
        (``LT2`` and ``LT2*``) are all left out, keyed by their raw label: which of them is that contact is unknown,
        and a re-reference with the wrong one would subtract another channel from its neighbours.
        """
        path = self.labels_path(subject)
        raw = self.raw_labels(subject)
        dropped = self.corrupted(subject)
        reasons = [_exclusion(label, dropped) for label in raw]
        counts = Counter(clean_label(label) for label, reason in zip(raw, reasons, strict=True) if reason is None)
        kept: list[tuple[int, str]] = []
        excluded: dict[str, str] = {}
        shared: dict[str, list[str]] = {}
        for i, (label, reason) in enumerate(zip(raw, reasons, strict=True)):
            name = clean_label(label)
            if reason is not None:
                excluded[name] = reason
            elif counts[name] > 1:
                shared.setdefault(name, []).append(label)
            else:
                kept.append((i, name))
        for name, labels in shared.items():
            listed = ", ".join(repr(label) for label in labels)
            log.warning(
                "%s: raw labels %s all clean to %s; none is used (which is that contact is unknown)", path, listed, name
            )
            for label in labels:
                excluded[label] = f"raw labels {listed} of {path} all clean to {name}: which is that contact is unknown"
        return kept, excluded

    def recording(self, subject: str, trial: str) -> H5Recording:
        path = self.h5_path(subject, trial)
        raw = self.raw_labels(subject)
        with _open_h5(path) as handle:
            stored = [name for name in handle["data"] if name.startswith("electrode_")]
        if len(stored) > len(raw):
            raise DatasetError(
                f"{self.labels_path(subject)}: lists {len(raw)} labels but {path.name} holds {len(stored)} channels; "
                "use the label list that belongs to this subject"
            )
        kept, excluded = self.channels(subject)
        for name, reason in excluded.items():
            log.info("%s: %s excluded: %s", path, name, reason)
        labels, datasets = [], []
        for i, name in kept:
            if f"electrode_{i}" not in stored:
                raise DatasetError(
                    f"{path}: missing dataset data/electrode_{i} (label {name}); the file is incomplete, "
                    f"{DOWNLOAD_AGAIN}"
                )
            labels.append(name)
            datasets.append(f"electrode_{i}")
        log.info(
            "%s: %d neural channels kept of %d (%d corrupted, non-neural or ambiguous left out)",
            path,
            len(labels),
            len(raw),
            len(raw) - len(labels),
        )
        return H5Recording(path, labels, datasets, excluded)

    def electrode_labels(self, subject: str) -> list[str]:
        """Cleaned labels of the channels :meth:`recording` keeps, in recording order."""
        return [name for _, name in self.channels(subject)[0]]

    def electrodes(self, subject: str) -> pd.DataFrame:
        labels = self.electrode_labels(subject)
        path = self.localization_path(subject)
        local = _read_csv(path, "localization", ["Electrode", "Hemisphere", "DesikanKilliany", "Destrieux"])
        local = local.assign(Electrode=local["Electrode"].map(clean_label)).drop_duplicates("Electrode")
        local = local.set_index("Electrode")
        mni = self._mni(subject)
        rows = []
        for label in labels:
            shaft, contact = split_label(label)
            loc = local.loc[label] if label in local.index else None
            xyz = mni.get(label, (np.nan, np.nan, np.nan))
            rows.append(
                {
                    "electrode": label,
                    "shaft": shaft,
                    "contact": contact,
                    "hemisphere": _hemisphere(loc["Hemisphere"] if loc is not None else "", xyz[0]),
                    "x_mni": xyz[0],
                    "y_mni": xyz[1],
                    "z_mni": xyz[2],
                    "dk": str(loc["DesikanKilliany"]) if loc is not None else "Unknown",
                    "destrieux": str(loc["Destrieux"]) if loc is not None else "Unknown",
                }
            )
        table = pd.DataFrame(rows, columns=ELECTRODE_COLUMNS)
        return table.astype({"contact": np.int64, "x_mni": np.float64, "y_mni": np.float64, "z_mni": np.float64})

    def _mni(self, subject: str) -> dict[str, tuple[float, float, float]]:
        path = _neuroprobe.mni_path(subject)
        if not path.exists():
            log.warning("%s: no MNI coordinates for subject %s; x/y/z_mni are NaN", path, subject)
            return {}
        table = _neuroprobe.mni_coords(subject)
        return {
            clean_label(row.electrode_label): (row.mni152_x, row.mni152_y, row.mni152_z)
            for row in table.itertuples(index=False)
        }

    # --- clock, words, movie ---------------------------------------------------------------------------------------
    def clock(self, subject: str, trial: str) -> ClockAlignment:
        return clock_from_timings(self.timings_path(subject, trial))

    def movie(self, subject: str, trial: str) -> str:
        path = self.metadata_path(subject, trial)
        meta = _read_json(path, "trial metadata")
        filename = meta.get("filename") if isinstance(meta, dict) else None
        if not filename:
            raise DatasetError(f"{path}: no 'filename' (the movie id); re-download the metadata")
        name = Path(str(filename)).name
        return name[: -len(Path(name).suffix)] if Path(name).suffix.lower() in _VIDEO_SUFFIXES else name

    def words(self, subject: str, trial: str) -> pd.DataFrame:
        path = self.transcript_path(self.movie(subject, trial))
        words = read_transcript(path)
        clock = self.clock(subject, trial)
        late = int((words["start_s"].to_numpy() > clock.movie_time_s[-1]).sum())
        if late:
            log.info(
                "%s: %d word(s) start after the last trigger of %s; they map to sample -1 and are dropped",
                path,
                late,
                self.timings_path(subject, trial).name,
            )
        return words

    def scene_cuts(self, movie: str, recordings: Sequence[tuple[str, str]] | None = None) -> np.ndarray | None:
        path = self.scene_path(movie)
        if not path.exists():
            return None
        cuts = _read_csv(path, "scene annotation", ["cut_s"])["cut_s"].to_numpy(np.float64)
        if not np.isfinite(cuts).all():
            raise DatasetError(f"{path}: non-numeric cut_s values; repair the annotation")
        return np.sort(cuts)

    def recording_files(self, subject: str, trial: str) -> list[Path]:
        return [self.h5_path(subject, trial), self.labels_path(subject), self.corrupted_path()]

    def event_files(self, subject: str, trial: str, movie: str) -> list[Path]:
        return [self.metadata_path(subject, trial), self.timings_path(subject, trial), self.transcript_path(movie)]

    def scene_cut_files(self, movie: str, recordings: Sequence[tuple[str, str]]) -> list[Path]:
        path = self.scene_path(movie)
        return [path] if path.exists() else []


def _hemisphere(value, x_mni: float) -> str:
    """``L``/``R`` from the localization's spelling (``L``, ``left``, ``lh``, …), else from the sign of MNI x."""
    text = str(value).strip().lower()
    if text in {"l", "left", "lh"}:
        return "L"
    if text in {"r", "right", "rh"}:
        return "R"
    if np.isfinite(x_mni):
        return "L" if x_mni < 0 else "R"
    return ""
