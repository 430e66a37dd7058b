"""The embedded default dataset: a Brain Treebank replica built from real metadata plus a planted ground truth.

Real parts (the neuroprobe wheel): the trial -> movie map, each trial's word table (movie times and the neural sample
index of every word, ``est_idx``), the electrode montage with MNI152 and scanner coordinates.  Simulated parts: the
movie (rendered scenes, :mod:`vlencode.datasets._movie`), the neural signals (:mod:`vlencode.simulation`) and
the responses planted in them.  The tree has the exact Brain Treebank layout read by
:class:`vlencode.datasets.braintreebank.BrainTreebank`, plus ``movies/``, ``scene_annotations/`` and the ground truth
(``ground_truth*.parquet``, ``ground_truth.md``), which no analysis rule may read.

Clock.  Neuroprobe's ``est_idx`` is a piecewise-linear function of movie time (one piece per pause) plus about
±20 samples of jitter.  Each trial's window is split at the jumps of ``est_idx - rate * start`` larger than
:data:`PAUSE_MIN_S`, a least-squares line is fitted per piece, and the timings CSV gets a trigger every
:data:`TRIGGER_INTERVAL_S` of movie time on that line plus one trigger at every word onset carrying the word's
``est_idx``, so the nearest-trigger mapping reproduces ``est_idx`` (shifted by the trial's ``sample_offset``) exactly;
each jump becomes a pause/unpause pair.  The drift check therefore reports the real jitter.
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import h5py
import numpy as np
import pandas as pd

from vlencode import simulation, store
from vlencode.datasets import _neuroprobe
from vlencode.datasets._atlas import atlas_labels
from vlencode.datasets._framecode import MAX_INDEX, check_frame_size, read_frame_code
from vlencode.datasets._movie import VISUAL_CLASSES, plan_scenes, render_movie
from vlencode.datasets.base import ClockAlignment, DatasetError, split_label
from vlencode.datasets.braintreebank import RATE_HZ, BrainTreebank
from vlencode.simulation import (
    BACKGROUND_RMS_UV,
    CATEGORIES,
    COMMON_RMS_UV,
    CORRUPTIONS,
    GAIN_UV,
    HIGH_GAMMA_BAND_HZ,
    HIGH_GAMMA_FRACTION,
    LATENCY_S,
    LINE_HZ,
    LINE_MAX_HZ,
    LINE_UV,
    SPIKE_UV,
    SPIKES_PER_MINUTE,
)

__all__ = [
    "GROUND_TRUTH_FILES",
    "ReplicaSettings",
    "build_corrupted",
    "build_ground_truth",
    "build_movie",
    "build_recording",
    "build_replica",
    "build_subject",
    "lexical_latents",
    "read_frame_code",
    "replica_movies",
]

log = logging.getLogger("vlencode.datasets.replica")

#: Movie time before a trial's first word at which its replica window starts.
LEAD_IN_S = 5.0
#: Recording before the first and after the last trigger (s).
PRE_ROLL_S = 3.0
POST_ROLL_S = 3.0
#: Regular trigger spacing (movie s) and the pulse width written to the TRIG channel (s).
TRIGGER_INTERVAL_S = 1.0
TRIGGER_PULSE_S = 0.01
#: A jump of ``est_idx - rate * start`` larger than this (s) between consecutive words is a pause.
PAUSE_MIN_S = 0.5
#: Regular triggers closer than this to a word onset, a pause or the window edges are skipped (keeps rows in order).
WORD_GUARD_S = 0.05
#: Movie seconds rendered past the last trial window.
MOVIE_TAIL_S = 5.0
NON_NEURAL = ["DC1", "DC2", "DC3", "DC4"]
TRIGGER_CHANNEL = "TRIG1"
#: Fraction of electrodes without a planted response; the rest split evenly over the three response categories.
NONE_FRACTION = 0.4
#: Closed-class English words: "function" words (lexical latent -1), everything else "content" (+1).
FUNCTION_WORDS = frozenset(
    """a an the and or but if so of to in on at by for with from as into onto about than then that this these those
    there here it its it's i i'm i'll i've i'd me my we we're us our you you're your he he's him his she she's her they
    they're them their what who whom which where when why how is am are was were be been being do does did done have
    has had not no yes all some any just up down out off over very too can could will would shall should may might
    must oh uh um well okay ok hey let's""".split()
)


def _stable_rng(seed: int, *names: object) -> np.random.Generator:
    """A generator seeded by ``seed`` and a name, independent of the order in which components are built."""
    return np.random.default_rng([seed, zlib.crc32("/".join(map(str, names)).encode())])


def _pairs(recordings: Iterable[Any]) -> list[tuple[str, str]]:
    out = []
    for item in recordings:
        subject, trial = (item["subject"], item["trial"]) if isinstance(item, Mapping) else item
        out.append((str(subject), str(trial)))
    return out


def replica_movies(recordings: Iterable[Any]) -> dict[tuple[str, str], str]:
    """``{(subject, trial): movie}`` for the replica's recordings, from neuroprobe's trial-to-movie map.

    ``recordings`` holds ``(subject, trial)`` pairs or ``{"subject", "trial"}`` mappings.
    """
    known = _neuroprobe.trial_movie_map()
    out = {}
    for pair in _pairs(recordings):
        if pair not in known:
            choices = ", ".join(f"{s}/{t}" for s, t in sorted(known, key=lambda k: (int(k[0]), int(k[1]))))
            raise DatasetError(
                f"dataset.recordings: subject {pair[0]} trial {pair[1]} is not a Brain Treebank trial; "
                f"use one of {choices}"
            )
        out[pair] = known[pair]
    return out


def lexical_latents(words: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    """The planted word properties: ``(content, length)``.

    ``content`` is +1 for content words and -1 for closed-class words; ``length`` is the standardised number of
    letters.  Both are visible to a language network (closed-class words and long words are distinct tokens).
    """
    cleaned = ["".join(ch for ch in str(w).lower() if ch.isalpha() or ch == "'") for w in words]
    content = np.array([-1.0 if w in FUNCTION_WORDS else 1.0 for w in cleaned])
    letters = np.array([sum(ch.isalpha() for ch in w) for w in cleaned], dtype=np.float64)
    length = (letters - letters.mean()) / max(letters.std(), 1e-9) if letters.size else letters
    return content, length


# --- trials: windows and clocks -------------------------------------------------------------------------------------
@dataclass
class _Trial:
    subject: str
    trial: str
    movie: str
    t0: float
    t1: float
    words: pd.DataFrame
    breaks_s: np.ndarray
    slopes: np.ndarray
    intercepts: np.ndarray
    sample_offset: int
    n_samples: int
    triggers: pd.DataFrame | None = None
    clock: ClockAlignment | None = None

    def timing(self) -> tuple[pd.DataFrame, ClockAlignment]:
        """The trigger table and the clock fitted to it, which :func:`_plan_trial` adds to the plan."""
        if self.triggers is None or self.clock is None:
            raise RuntimeError(f"trial {self.subject}/{self.trial}: its triggers are not planned; use _plan_trial")
        return self.triggers, self.clock

    def raw_sample(self, t: np.ndarray, piece: np.ndarray | None = None) -> np.ndarray:
        """Neuroprobe-frame sample of movie times on the fitted clock (``piece`` forces a clock piece)."""
        t = np.asarray(t, dtype=np.float64)
        piece = np.searchsorted(self.breaks_s, t, side="right") if piece is None else piece
        return self.slopes[piece] * t + self.intercepts[piece]


def _plan_trial(subject: str, trial: str, movie: str, minutes: float) -> _Trial:
    table = _neuroprobe.words_table(subject, trial).sort_values("start", kind="stable").reset_index(drop=True)
    t0 = max(0.0, float(table["start"].iloc[0]) - LEAD_IN_S)
    t1 = t0 + 60.0 * minutes
    words = table[(table["start"] >= t0) & (table["start"] < t1)].reset_index(drop=True)
    if len(words) < 2:
        raise DatasetError(
            f"replica.minutes: trial {subject}/{trial} has fewer than 2 words in {minutes} min; increase it"
        )
    start, est = words["start"].to_numpy(), words["est_idx"].to_numpy(np.float64)
    jump = np.diff(est - RATE_HZ * start)
    if (jump < -PAUSE_MIN_S * RATE_HZ).any():
        raise DatasetError(
            f"neuroprobe word table of subject {subject} trial {trial}: the movie skips forward inside the replica "
            "window; choose another recording or fewer replica.minutes"
        )
    cut = np.flatnonzero(jump > PAUSE_MIN_S * RATE_HZ)
    ends = words["end"].to_numpy()
    breaks = np.array([0.5 * (min(ends[k], start[k + 1]) + start[k + 1]) for k in cut])
    edges = np.concatenate([[0], cut + 1, [len(words)]])
    slopes, intercepts = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        if hi - lo >= 2:
            slope, intercept = np.polyfit(start[lo:hi], est[lo:hi], 1)
        else:
            slope, intercept = RATE_HZ, float(np.median(est[lo:hi] - RATE_HZ * start[lo:hi]))
        slopes.append(slope)
        intercepts.append(intercept)
    plan = _Trial(subject, trial, movie, t0, t1, words, breaks, np.array(slopes), np.array(intercepts), 0, 0)
    first = float(plan.raw_sample(np.array([t0]))[0])
    last = float(plan.raw_sample(np.array([t1]))[0])
    plan.sample_offset = int(np.rint(first - PRE_ROLL_S * RATE_HZ))
    plan.n_samples = int(np.rint(last + POST_ROLL_S * RATE_HZ)) - plan.sample_offset
    plan.triggers = _trigger_table(plan)
    plan.clock = ClockAlignment(
        movie_time_s=plan.triggers["movie_time"].to_numpy(np.float64),
        sample=plan.triggers["index"].to_numpy(np.float64),
        rate_hz=RATE_HZ,
        max_residual_samples=0.0,
    )
    return plan


def _trigger_table(plan: _Trial) -> pd.DataFrame:
    """The timings CSV of one trial (see the module docstring), indices relative to the replica recording."""
    onsets = plan.words["start"].to_numpy()
    regular = plan.t0 + TRIGGER_INTERVAL_S * np.arange(1, int(np.ceil((plan.t1 - plan.t0) / TRIGGER_INTERVAL_S)))
    others = np.concatenate([onsets, plan.breaks_s, [plan.t0, plan.t1]])
    regular = regular[np.abs(regular[:, None] - others[None, :]).min(axis=1) >= WORD_GUARD_S]
    rows = [("start", "movie beginning", plan.t0, plan.raw_sample(np.array([plan.t0]))[0])]
    rows += [("trigger", "movie", t, s) for t, s in zip(regular, plan.raw_sample(regular))]
    rows += [("trigger", "movie", t, s) for t, s in zip(onsets, plan.words["est_idx"].to_numpy(np.float64))]
    for piece, t in enumerate(plan.breaks_s):
        rows.append(("pause", "pause", t, plan.raw_sample(np.array([t]), np.array([piece]))[0]))
        rows.append(("unpause", "unpause", t, plan.raw_sample(np.array([t]), np.array([piece + 1]))[0]))
    rows.append(("end", "movie end", plan.t1, plan.raw_sample(np.array([plan.t1]))[0]))
    table = pd.DataFrame(rows, columns=["type", "trig_type", "movie_time", "index"])
    table["index"] = np.rint(table["index"]).astype(np.int64) - plan.sample_offset
    table = table.sort_values(["movie_time", "index"], kind="stable").reset_index(drop=True)
    keep = np.ones(len(table), dtype=bool)
    last = -1
    for row, value in enumerate(table["index"].to_numpy()):
        if value <= last:
            keep[row] = False
        else:
            last = value
    if (~keep).any():
        log.info(
            "sub %s trial %s: %d trigger(s) out of order after rounding dropped",
            plan.subject,
            plan.trial,
            int((~keep).sum()),
        )
    table = table[keep].reset_index(drop=True)
    table["start_time"] = table["index"] / RATE_HZ
    table["end_time"] = table["start_time"] + TRIGGER_PULSE_S
    table["diff"] = table["index"].diff().fillna(0).astype(np.int64)
    return table[["type", "movie_time", "start_time", "end_time", "trig_type", "index", "diff"]]


# --- transcript ------------------------------------------------------------------------------------------------------
def _transcript(tables: list[pd.DataFrame], until_s: float) -> pd.DataFrame:
    """``features.csv`` of one movie from neuroprobe's word tables of its trials (union by ``original_index``).

    A word with an empty ``context`` starts a sentence (neuroprobe's context is the sentence prefix before the word);
    ``sentence`` joins the words of that sentence, ``idx_in_sentence`` counts from 0.
    """
    words = pd.concat(tables).drop_duplicates("original_index").sort_values("original_index", kind="stable")
    words = words[words["start"] < until_s].reset_index(drop=True)
    onset = words["context"].isna() | (words["context"].astype(str).str.strip() == "")
    onset.iloc[0] = True
    sentence_idx = np.cumsum(onset.to_numpy()) - 1
    text = words["full_word"].astype(str)
    sentence = text.groupby(sentence_idx).transform(lambda s: " ".join(s))
    out = pd.DataFrame(
        {
            "start": words["start"].to_numpy(),
            "end": words["end"].to_numpy(),
            "text": text.to_numpy(),
            "sentence": sentence.to_numpy(),
            "sentence_idx": sentence_idx,
            "word_idx": words["original_index"].to_numpy(np.int64),
            "idx_in_sentence": words.groupby(sentence_idx).cumcount().to_numpy(),
            "is_onset": onset.to_numpy().astype(np.int64),
        },
        index=words["original_index"].to_numpy(np.int64),
    )
    return out


# --- montage ---------------------------------------------------------------------------------------------------------
def _montage(subject: str, n_electrodes: int, rng: np.random.Generator) -> pd.DataFrame:
    """Whole shafts of the subject's real montage, in a seeded order, up to ``n_electrodes`` contacts."""
    table = _neuroprobe.mni_coords(subject)
    table = table.assign(contact=table["electrode_label"].map(lambda x: split_label(x)[1]))
    shafts = list(dict.fromkeys(table["name"]))
    chosen, total = [], 0
    for shaft in rng.permutation(np.array(shafts, dtype=object)):
        size = int((table["name"] == shaft).sum())
        if total + size <= n_electrodes:
            chosen.append(shaft)
            total += size
    if not chosen:
        smallest = min(shafts, key=lambda s: int((table["name"] == s).sum()))
        part = table[table["name"] == smallest].sort_values("contact").head(n_electrodes)
        return part.reset_index(drop=True)
    parts = [table[table["name"] == s].sort_values("contact") for s in shafts if s in chosen]
    return pd.concat(parts).reset_index(drop=True)


def _localization(montage: pd.DataFrame) -> pd.DataFrame:
    """``depth-wm.csv``: atlas labels from the MNI coordinates; L/P/I = native scanner RAS negated (mm)."""
    xyz = montage[["mni152_x", "mni152_y", "mni152_z"]].to_numpy(np.float64)
    return pd.DataFrame(
        {
            "Electrode": montage["electrode_label"].to_numpy(),
            "Hemisphere": montage["hem"].to_numpy(),
            "DesikanKilliany": atlas_labels(xyz, "dk"),
            "Destrieux": atlas_labels(xyz, "destrieux"),
            "L": np.round(-montage["ras_scanner_x"].to_numpy(np.float64), 4),
            "P": np.round(-montage["ras_scanner_y"].to_numpy(np.float64), 4),
            "I": np.round(-montage["ras_scanner_z"].to_numpy(np.float64), 4),
        }
    )


def _ground_truth(
    subject: str, labels: list[str], corrupted: dict[str, str], plant_null: bool, rng: np.random.Generator
) -> pd.DataFrame:
    """One row per electrode: its category, latency, gain, tuning and the latent it reads."""
    healthy = [x for x in labels if x not in corrupted]
    categories = dict.fromkeys(labels, "none")
    if not plant_null:
        order = rng.permutation(len(healthy))
        n_respond = len(healthy) - int(round(NONE_FRACTION * len(healthy)))
        for rank, index in enumerate(order[:n_respond]):
            categories[healthy[index]] = CATEGORIES[rank % 3]
    rows = []
    for label in labels:
        category = categories[label]
        tuning = rng.standard_normal(len(VISUAL_CLASSES))
        tuning = (tuning - tuning.mean()) / max(tuning.std(), 1e-9)
        latency = float(rng.uniform(*LATENCY_S[category])) if category != "none" else np.nan
        gain = float(rng.uniform(*GAIN_UV)) if category != "none" else 0.0
        sign = float(rng.choice([-1.0, 1.0]))
        latent = {
            "vision": "scene visual_class (colour x texture) at each cut, per-class tuning",
            "language": "word content (+1) / function (-1) and standardised letter count at each onset",
            "multimodal": "scene colour sign (warm +1 / cool -1) x word content sign at each word onset",
            "none": "",
        }[category]
        rows.append(
            {
                "subject": subject,
                "electrode": label,
                "category": category,
                "latency_s": latency,
                "gain": gain,
                "sign": sign,
                "tuning": tuning.round(6).tolist(),
                "latent": latent,
                "corrupted": label in corrupted,
                "corruption": corrupted.get(label, ""),
            }
        )
    return pd.DataFrame(rows)


# --- signals ---------------------------------------------------------------------------------------------------------
def _event_drive(
    plan: _Trial, truth: pd.Series, scenes: pd.DataFrame, transcript: pd.DataFrame, latents: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Event samples and amplitudes (latent units) driving one electrode's planted response."""
    if truth["category"] == "vision":
        cuts, classes = scenes["cut_s"].to_numpy()[1:], scenes["visual_class"].to_numpy()[1:]
        inside = (cuts >= plan.t0) & (cuts < plan.t1)
        cuts, classes = cuts[inside], classes[inside]
        amplitude = 0.5 + truth["sign"] * np.asarray(truth["tuning"])[classes]
        return plan.timing()[1].to_sample(cuts), amplitude
    onsets = transcript["start"].to_numpy()
    inside = (onsets >= plan.t0) & (onsets < plan.t1)
    content, length = latents["content"][inside], latents["length"][inside]
    if truth["category"] == "language":
        amplitude = 0.5 + truth["sign"] * (0.8 * content + 0.6 * length)
    else:
        colour = latents["colour"][inside]
        amplitude = 0.5 + truth["sign"] * (1.2 * colour * content + 0.2 * content + 0.2 * colour)
    return plan.timing()[1].to_sample(onsets[inside]), amplitude


def _write_recording(
    path: Path,
    plan: _Trial,
    raw_labels: list[str],
    truth: pd.DataFrame,
    scenes: pd.DataFrame,
    transcript: pd.DataFrame,
    latents: dict[str, np.ndarray],
    seed: int,
) -> None:
    """One trial's HDF5 file, channel by channel (each channel is one block, float32 µV)."""
    n = plan.n_samples
    common = simulation.colored_noise(n, RATE_HZ, COMMON_RMS_UV, _stable_rng(seed, "common", plan.subject, plan.trial))
    truth = truth.set_index("electrode")
    trigger_line = np.zeros(n)
    pulse = int(TRIGGER_PULSE_S * RATE_HZ)
    for index in plan.timing()[0]["index"].to_numpy():
        trigger_line[index : index + pulse] = 5000.0
    gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
    gcpl.set_obj_track_times(False)
    with h5py.File(path, "w") as handle:
        data = h5py.Group(h5py.h5g.create(handle.id, b"data", gcpl=gcpl))
        for i, raw in enumerate(raw_labels):
            label = raw.strip("*#")
            rng = _stable_rng(seed, "channel", plan.subject, plan.trial, label)
            if label == TRIGGER_CHANNEL:
                signal = trigger_line + rng.standard_normal(n) * 2.0
            elif label in NON_NEURAL:
                signal = rng.uniform(-200, 200) + rng.standard_normal(n) * 5.0
            else:
                signal = _neural_channel(n, plan, truth.loc[label], common, scenes, transcript, latents, rng)
            data.create_dataset(f"electrode_{i}", data=signal.astype(np.float32), track_times=False)


def _neural_channel(
    n: int,
    plan: _Trial,
    truth: pd.Series,
    common: np.ndarray,
    scenes: pd.DataFrame,
    transcript: pd.DataFrame,
    latents: dict[str, np.ndarray],
    rng: np.random.Generator,
) -> np.ndarray:
    signal = simulation.colored_noise(n, RATE_HZ, BACKGROUND_RMS_UV, rng) + common
    signal += simulation.line_noise(n, RATE_HZ, LINE_HZ, rng.uniform(*LINE_UV), LINE_MAX_HZ, rng)
    signal += simulation.spikes(n, RATE_HZ, SPIKES_PER_MINUTE, SPIKE_UV, rng)
    if truth["category"] != "none":
        samples, amplitude = _event_drive(plan, truth, scenes, transcript, latents)
        kernel = simulation.gamma_kernel(truth["latency_s"], RATE_HZ)
        signal += truth["gain"] * simulation.evoked(n, samples, amplitude, kernel)
        envelope = simulation.evoked(n, samples, np.abs(amplitude), kernel)
        carrier = simulation.band_noise(n, RATE_HZ, HIGH_GAMMA_BAND_HZ, rng)
        signal += HIGH_GAMMA_FRACTION * truth["gain"] * envelope * carrier
    if truth["corruption"]:
        signal = simulation.corrupt(signal, truth["corruption"], rng)
    return signal


# --- the tree --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReplicaSettings:
    """The ``replica`` config section (defaults in the workflow's schema), checked.

    A key a part of the tree does not use may be absent (None): each workflow rule passes only the keys its files
    depend on, so e.g. changing ``frame_size`` rebuilds the movies but not the recordings.
    """

    minutes: float | None = None
    electrodes_per_subject: int | None = None
    frame_size: tuple[int, int] | None = None
    fps: float | None = None
    mean_scene_s: float | None = None
    corrupted_per_subject: int | None = None
    plant_null: bool | None = None
    seed: int | None = None

    @classmethod
    def from_config(cls, replica_cfg: Mapping[str, Any]) -> ReplicaSettings:
        kinds = {
            "minutes": float,
            "electrodes_per_subject": int,
            "fps": float,
            "mean_scene_s": float,
            "corrupted_per_subject": int,
            "plant_null": bool,
            "seed": int,
        }
        values: dict[str, Any] = {key: kind(replica_cfg[key]) for key, kind in kinds.items() if key in replica_cfg}
        if "frame_size" in replica_cfg:
            values["frame_size"] = tuple(int(v) for v in replica_cfg["frame_size"])
            check_frame_size(*values["frame_size"])
        if any(values.get(k, 1) <= 0 for k in ("minutes", "fps", "mean_scene_s")):
            raise ValueError("replica.minutes, replica.fps and replica.mean_scene_s must be positive; fix config.yaml")
        if values.get("corrupted_per_subject", 0) >= values.get("electrodes_per_subject", np.inf):
            raise ValueError(
                "replica.corrupted_per_subject must be below replica.electrodes_per_subject; fix config.yaml"
            )
        return cls(**values)


T = TypeVar("T")


def _required(value: T | None, key: str) -> T:
    """A ``replica`` setting that the part being built needs; a ValueError naming the key when it was not given."""
    if value is None:
        raise ValueError(f"replica.{key}: not in the settings this part of the replica was given (vlencode.steps)")
    return value


#: The planted truth's files under the replica root (read by no analysis step).
GROUND_TRUTH_FILES = {
    "electrodes": "ground_truth.parquet",
    "scenes": "ground_truth_scenes.parquet",
    "trials": "ground_truth_trials.parquet",
    "note": "ground_truth.md",
}


@dataclass
class _Movie:
    scenes: pd.DataFrame
    transcript: pd.DataFrame
    latents: dict[str, np.ndarray]


@dataclass
class _Subject:
    montage: pd.DataFrame
    raw_labels: list[str]
    corrupted: dict[str, str]
    truth: pd.DataFrame


def _movie_trials(movie: str) -> list[tuple[str, str]]:
    return sorted(pair for pair, name in _neuroprobe.trial_movie_map().items() if name == movie)


def _plan_movie(movie: str, settings: ReplicaSettings) -> _Movie:
    """A movie's scenes, transcript and latents: from every Brain Treebank trial of that movie, whichever are analysed.

    The movie covers the replica window of each of its trials (so adding a recording never changes it), the scene
    plan is drawn from a stream of its own (seed, movie) and the transcript is the union of its trials' word tables.
    """
    fps = _required(settings.fps, "fps")
    tables = [_neuroprobe.words_table(s, t) for s, t in _movie_trials(movie)]
    starts = [max(0.0, float(table["start"].min()) - LEAD_IN_S) for table in tables]
    until = max(starts) + 60.0 * _required(settings.minutes, "minutes") + MOVIE_TAIL_S
    n_frames = int(np.ceil(until * fps))
    if n_frames - 1 > MAX_INDEX:
        raise ValueError(f"replica: movie {movie} needs {n_frames} frames, more than the frame code carries")
    rng = _stable_rng(_required(settings.seed, "seed"), "scenes", movie)
    scenes = plan_scenes(n_frames, fps, _required(settings.mean_scene_s, "mean_scene_s"), rng)
    transcript = _transcript(tables, until)
    content, length = lexical_latents(transcript["text"])
    frame_of_word = np.floor(transcript["start"].to_numpy() * fps)
    scene_at = np.searchsorted(scenes["start_frame"].to_numpy(), frame_of_word, side="right") - 1
    latents = {"content": content, "length": length, "colour": scenes["colour_sign"].to_numpy()[scene_at]}
    return _Movie(scenes, transcript, latents)


def _plan_subject(subject: str, settings: ReplicaSettings) -> _Subject:
    """A subject's montage, stored labels, corrupted contacts and planted truth, from (seed, subject) streams."""
    seed = _required(settings.seed, "seed")
    n_electrodes = _required(settings.electrodes_per_subject, "electrodes_per_subject")
    montage = _montage(subject, n_electrodes, _stable_rng(seed, "montage", subject))
    labels = montage["electrode_label"].tolist()
    rng = _stable_rng(seed, "corrupted", subject)
    bad = sorted(rng.choice(len(labels), size=settings.corrupted_per_subject, replace=False).tolist())
    corrupted = {labels[i]: CORRUPTIONS[k % len(CORRUPTIONS)] for k, i in enumerate(bad)}
    # plant_null is absent (None) for the subject and corrupted parts, which read no truth: plan it as not planted.
    plant_null = bool(settings.plant_null)
    truth = _ground_truth(subject, labels, corrupted, plant_null, _stable_rng(seed, "truth", subject))
    first_shaft = int((montage["name"] == montage["name"].iloc[0]).sum())
    raw = [f"{x}*" if k % 7 == 3 else x for k, x in enumerate(labels)]
    raw = raw[:first_shaft] + NON_NEURAL + raw[first_shaft:] + [TRIGGER_CHANNEL]
    return _Subject(montage, raw, corrupted, truth)


def _write_file(path: str | Path, write) -> None:
    """``write(tmp)`` into a temporary sibling of ``path``, renamed into place when complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with store.atomic_path(path) as tmp:
        write(tmp)


def build_movie(movie: str, replica_cfg: Mapping[str, Any], *, movie_path, scenes_path, transcript_path) -> None:
    """Write one movie's files: the MP4, its scene annotation (``cut_s``) and its transcript (``features.csv``).

    ``replica_cfg`` holds the ``replica`` keys of :class:`vlencode.steps.ReplicaMovie` declares.
    """
    settings = ReplicaSettings.from_config(replica_cfg)
    plan = _plan_movie(movie, settings)
    _write_file(transcript_path, plan.transcript.to_csv)
    cuts = pd.DataFrame({"cut_s": plan.scenes["cut_s"].to_numpy()[1:].round(6)})
    _write_file(scenes_path, lambda tmp: cuts.to_csv(tmp, index=False))
    frame_size, fps = _required(settings.frame_size, "frame_size"), _required(settings.fps, "fps")
    _write_file(movie_path, lambda tmp: render_movie(tmp, plan.scenes, frame_size, fps))
    log.info(
        "movie %s: %d frames, %d scenes, %d words",
        movie,
        int(plan.scenes["stop_frame"].max()),
        len(plan.scenes),
        len(plan.transcript),
    )


def build_subject(subject: str, replica_cfg: Mapping[str, Any], *, labels_path, localization_path) -> None:
    """Write one subject's electrode label list and localization table.

    ``replica_cfg`` holds the ``replica`` keys :class:`vlencode.steps.ReplicaSubject` declares.
    """
    plan = _plan_subject(subject, ReplicaSettings.from_config(replica_cfg))
    _write_file(labels_path, lambda tmp: tmp.write_text(json.dumps(plan.raw_labels)))
    _write_file(localization_path, lambda tmp: _localization(plan.montage).to_csv(tmp, index=False))


def build_corrupted(replica_cfg: Mapping[str, Any], path: str | Path) -> None:
    """Write ``corrupted_elec.json`` for every Brain Treebank subject, so it never changes with the analysed ones."""
    settings = ReplicaSettings.from_config(replica_cfg)
    subjects = sorted({s for s, _ in _neuroprobe.trial_movie_map()}, key=lambda s: (len(s), s))
    table = {}
    for subject in subjects:
        corrupted = _plan_subject(subject, settings).corrupted
        table[f"sub_{subject}"] = [f"#{x}" if k == 0 else x for k, x in enumerate(corrupted)]
    _write_file(path, lambda tmp: tmp.write_text(json.dumps(table, indent=1)))


def build_recording(
    subject: str, trial: str, replica_cfg: Mapping[str, Any], *, recording_path, metadata_path, timings_path
) -> None:
    """Write one trial's HDF5 recording, metadata and trigger timings (``replica_cfg``: the keys
    :class:`vlencode.steps.ReplicaSignal` declares).

    Its content depends on the trial, its subject and its movie only (each drawn from its own seeded stream), never
    on which other recordings are built.
    """
    settings = ReplicaSettings.from_config(replica_cfg)
    seed = _required(settings.seed, "seed")
    movie = replica_movies([(subject, trial)])[(subject, trial)]
    plan = _plan_trial(subject, trial, movie, _required(settings.minutes, "minutes"))
    scenes = _plan_movie(movie, settings)
    person = _plan_subject(subject, settings)
    meta = {"filename": f"{movie}.mp4", "title": movie.replace("-", " ").title()}
    _write_file(metadata_path, lambda tmp: tmp.write_text(json.dumps(meta)))
    triggers = plan.timing()[0]
    _write_file(timings_path, lambda tmp: triggers.to_csv(tmp, index=False))
    _write_file(
        recording_path,
        lambda tmp: _write_recording(
            tmp, plan, person.raw_labels, person.truth, scenes.scenes, scenes.transcript, scenes.latents, seed
        ),
    )
    log.info(
        "sub %s trial %s: %.0f s recorded, %d words, %d pause(s)",
        subject,
        trial,
        plan.n_samples / RATE_HZ,
        len(plan.words),
        len(plan.breaks_s),
    )


def build_ground_truth(
    replica_cfg: Mapping[str, Any], recordings: Iterable[Any], *, electrodes_path, scenes_path, trials_path, note_path
) -> None:
    """Write the planted truth of the analysed recordings: per electrode, per scene, per trial, and a note."""
    settings = ReplicaSettings.from_config(replica_cfg)
    movies = replica_movies(recordings)
    subjects = sorted({s for s, _ in movies}, key=lambda s: (len(s), s))
    truth = pd.concat([_plan_subject(s, settings).truth for s in subjects], ignore_index=True)
    scenes = pd.concat(
        [_plan_movie(m, settings).scenes.assign(movie=m) for m in sorted(set(movies.values()))], ignore_index=True
    )
    rows = []
    for (subject, trial), movie in movies.items():
        plan = _plan_trial(subject, trial, movie, _required(settings.minutes, "minutes"))
        rows.append(
            {
                "subject": subject,
                "trial": trial,
                "movie": movie,
                "window_start_s": plan.t0,
                "window_stop_s": plan.t1,
                "sample_offset": plan.sample_offset,
                "n_samples": plan.n_samples,
                "pauses_s": plan.breaks_s.round(6).tolist(),
                "n_words": len(plan.words),
            }
        )
    params = {"replica": dict(replica_cfg)}
    store.write_parquet(truth, electrodes_path, params)
    store.write_parquet(scenes, scenes_path, params)
    store.write_parquet(pd.DataFrame(rows), trials_path, params)
    plant_null = _required(settings.plant_null, "plant_null")
    _write_file(note_path, lambda tmp: tmp.write_text(_ground_truth_note(truth, plant_null)))


def build_replica(root: str | Path, replica_cfg: Mapping[str, Any], recordings: Iterable[Any]) -> Path:
    """Build the whole replica tree of ``recordings`` at ``root`` (the workflow builds the same files rule by rule).

    Parameters
    ----------
    root
        Output directory; files already there are replaced.
    replica_cfg
        The ``replica`` config section, every key: ``minutes, electrodes_per_subject, frame_size [H, W], fps,
        mean_scene_s, corrupted_per_subject, plant_null, seed`` (the same section gives byte-identical files).
    recordings
        ``(subject, trial)`` pairs or ``{"subject", "trial"}`` mappings (Brain Treebank trials known to neuroprobe).

    Returns
    -------
    Path
        ``root``.
    """
    ReplicaSettings.from_config(replica_cfg)
    movies = replica_movies(recordings)
    layout = BrainTreebank(root, must_exist=False)
    for movie in sorted(set(movies.values())):
        build_movie(
            movie,
            replica_cfg,
            movie_path=layout.movie_path(movie),
            scenes_path=layout.scene_path(movie),
            transcript_path=layout.transcript_path(movie),
        )
    for subject in sorted({s for s, _ in movies}):
        build_subject(
            subject,
            replica_cfg,
            labels_path=layout.labels_path(subject),
            localization_path=layout.localization_path(subject),
        )
    build_corrupted(replica_cfg, layout.corrupted_path())
    for subject, trial in movies:
        build_recording(
            subject,
            trial,
            replica_cfg,
            recording_path=layout.h5_path(subject, trial),
            metadata_path=layout.metadata_path(subject, trial),
            timings_path=layout.timings_path(subject, trial),
        )
    root = Path(root)
    build_ground_truth(replica_cfg, recordings, **{f"{k}_path": root / name for k, name in GROUND_TRUTH_FILES.items()})
    return root


def _ground_truth_note(truth: pd.DataFrame, plant_null: bool) -> str:
    counts = truth[~truth["corrupted"]]["category"].value_counts().reindex(CATEGORIES, fill_value=0)
    return f"""# Planted ground truth of this replica (do not read from analysis rules)

Built by `vlencode.datasets.replica.build_replica`; `plant_null: {str(plant_null).lower()}`.
Uncorrupted electrodes per category: {", ".join(f"{k} {v}" for k, v in counts.items())};
{int(truth["corrupted"].sum())} corrupted (listed in `corrupted_elec.json`, category `none`).

Every neural channel = 1/f background ({BACKGROUND_RMS_UV:g} µV RMS) + a component common to all channels
({COMMON_RMS_UV:g} µV) + 60 Hz line noise and harmonics up to {LINE_MAX_HZ:g} Hz + occasional spikes
({SPIKES_PER_MINUTE:g}/min) + the planted response. A response is a gamma-shaped broadband bump peaking `latency_s`
after each event, scaled by `gain` (µV) times an event amplitude, plus a high-gamma ({HIGH_GAMMA_BAND_HZ[0]:g}-
{HIGH_GAMMA_BAND_HZ[1]:g} Hz) burst with the same envelope at {HIGH_GAMMA_FRACTION:g} x gain. Event samples are the
ones the timings CSV maps the events to.

- vision: events = scene cuts; amplitude = 0.5 + sign x tuning[visual_class] (tuning: zero-mean, unit-variance
  over the 4 classes warm/cool x stripes/blobs, the rendered content; see `ground_truth_scenes.parquet`).
- language: events = word onsets; amplitude = 0.5 + sign x (0.8 content + 0.6 length), content = +1 content word /
  -1 closed-class word, length = standardised letter count.
- multimodal: events = word onsets; amplitude = 0.5 + sign x (1.2 colour x content + 0.2 content + 0.2 colour),
  colour = +1 warm / -1 cool scene on screen at the onset: the interaction dominates either modality alone.
- none: no response.

Latencies: vision {LATENCY_S["vision"]}, language {LATENCY_S["language"]}, multimodal {LATENCY_S["multimodal"]} s.
Nothing here comes from a neural network. Laplacian re-referencing subtracts half of each responsive contact's
signal from its shaft neighbours, so a `none` contact next to a responsive one can show a (sign-flipped) response.
`ground_truth_trials.parquet` gives each trial's movie window, the
`sample_offset` (replica sample = neuroprobe est_idx - sample_offset) and the pauses.
"""
