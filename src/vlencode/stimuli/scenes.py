"""Scene cuts detected in a movie file with PySceneDetect, for movies without a cut annotation.

Times are movie times (seconds after the first shown frame, :func:`vlencode.stimuli.frames.movie_frames`), the clock
frames are decoded on, so the frame at a cut is the first frame of the new shot whatever the container stamps.

PySceneDetect's detectors compare a frame with the one before it (or threshold its brightness); a camera flash then
reads as two cuts, a fade through black as one wherever the colours of the dark frames jump, and a dissolve as none.
The library's flash filter only merges or suppresses cuts closer than a minimum scene length, so one cut survives a
flash, and no detector asks whether the shot after a transition is a new one (the open camera-flash question,
https://github.com/Breakthrough/PySceneDetect/issues/35).  Detection therefore runs in two passes:

1. Every frame, downscaled so its longer side is at most :data:`DETECTION_SIDE` pixels, goes to three PySceneDetect
   detectors: the abrupt-change ``detector`` (``ContentDetector``, ``HistogramDetector`` or ``HashDetector``); a
   ``ThresholdDetector`` that places a cut in the middle of each fade through black; and ``HistogramDetector``\\ s that
   compare each frame with the one ``transition_s`` earlier, which fire across fades and dissolves.
2. Candidates are checked against the shots around them, in frames decoded in a second pass over the movie:

   - an abrupt change into or out of a faded-out frame is part of a fade, left to the fade and gradual detectors;
   - an abrupt change after which the frame before it is seen again within ``flash_max_s`` (the abrupt detector finds
     no cut between them) is a flash: it and the changes inside it are dropped;
   - a run of gradual candidates not explained by a kept cut or a flash is a transition; it becomes one cut (the
     fade's middle when a fade lies in it, else the middle of the transition) only if the frame before it and the frame
     after it show different shots (the gradual ``HistogramDetector`` would cut between them).

Cuts closer than ``min_scene_len_s`` to the previous one are dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from scenedetect import ContentDetector, HashDetector, HistogramDetector, ThresholdDetector
from scenedetect.common import FrameTimecode, Timecode
from scenedetect.detector import SceneDetector

from vlencode.datasets.base import DatasetError
from vlencode.stimuli.frames import decode_frames, movie_frames, open_movie, output_size

#: Longer side, in pixels, of the frames the detectors see (PySceneDetect's SceneManager works at 256-384 px width).
DETECTION_SIDE = 256
#: Abrupt-change detectors offered by ``detector``.
DETECTORS = ("content", "histogram", "hash")
#: Nominal rate for frame-number arithmetic inside PySceneDetect when the stream declares none (times stay exact).
_FALLBACK_RATE = Fraction(24)


def _abrupt_detector(detector: str, threshold: float | None) -> SceneDetector:
    if detector in ("histogram", "hash") and threshold is not None and not 0 < threshold < 1:
        raise ValueError(
            f"stimuli.scene_detection.threshold: {threshold} is outside 0-1, the {detector} detector's scale; "
            "set a value in that range or null for its default"
        )
    kwargs = {"min_scene_len": 0} if threshold is None else {"threshold": float(threshold), "min_scene_len": 0}
    if detector == "content":
        return ContentDetector(**kwargs)
    if detector == "histogram":
        return HistogramDetector(**kwargs)
    if detector == "hash":
        return HashDetector(**kwargs)
    raise ValueError(f"stimuli.scene_detection.detector: unknown value {detector!r}; use one of {', '.join(DETECTORS)}")


@dataclass
class _Pass:
    """What the first pass collects: every frame's movie time and darkness, each detector's candidate frames and the
    gradual detector's lag in frames."""

    times: list[Fraction] = field(default_factory=list)
    dark: list[bool] = field(default_factory=list)
    abrupt: list[int] = field(default_factory=list)
    fades: list[int] = field(default_factory=list)
    gradual: list[int] = field(default_factory=list)
    lag: int = 0


def _frame_of(times: np.ndarray, timecode: FrameTimecode) -> int:
    """The frame whose movie time is nearest a detector's cut (ThresholdDetector places cuts by frame count)."""
    return int(np.argmin(np.abs(times - timecode.seconds)))


def _first_pass(
    path: Path,
    detector: str,
    threshold: float | None,
    fade_threshold: float | None,
    lag_s: float,
    transition_threshold: float,
) -> _Pass:
    found = _Pass()
    abrupt = _abrupt_detector(detector, threshold)
    fade = None if fade_threshold is None else ThresholdDetector(threshold=fade_threshold, min_scene_len=0)
    raw: dict[str, list[FrameTimecode]] = {"abrupt": [], "fades": [], "gradual": []}
    with open_movie(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = Fraction(stream.average_rate or stream.guessed_rate or _FALLBACK_RATE)
        lag = max(1, round(lag_s * rate)) if lag_s > 0 else 0
        # One HistogramDetector per phase: detector p sees frames p, p + lag, p + 2 lag, ...
        gradual = [HistogramDetector(threshold=transition_threshold, min_scene_len=0) for _ in range(lag)]
        time_base = Fraction(stream.time_base)
        timecode = None
        try:
            for k, (time, frame) in enumerate(movie_frames(container, path)):
                height, width = output_size(frame.height, frame.width, DETECTION_SIDE)
                image = frame.to_ndarray(format="bgr24", height=height, width=width, interpolation="AREA")
                timecode = FrameTimecode(Timecode(pts=round(time / time_base), time_base=time_base), fps=rate)
                found.times.append(time)
                found.dark.append(fade_threshold is not None and float(image.mean()) < fade_threshold)
                raw["abrupt"] += abrupt.process_frame(timecode, image)
                if fade is not None:
                    raw["fades"] += fade.process_frame(timecode, image)
                if lag:
                    raw["gradual"] += gradual[k % lag].process_frame(timecode, image)
        except av.FFmpegError as error:
            raise DatasetError(f"{path}: decoding failed ({error}); replace the file with an intact copy") from None
        if timecode is not None:
            raw["abrupt"] += abrupt.post_process(timecode)
    times = np.asarray(found.times, dtype=np.float64)
    found.abrupt = sorted({_frame_of(times, t) for t in raw["abrupt"]})
    found.fades = sorted({_frame_of(times, t) for t in raw["fades"]})
    found.gradual = sorted({_frame_of(times, t) for t in raw["gradual"]})
    found.lag = lag
    return found


def _differ(make: Callable[[], SceneDetector], before: np.ndarray, after: np.ndarray) -> bool:
    """Whether a fresh detector from ``make`` finds a cut between two frames (BGR) shown one after the other."""
    detector = make()
    rate = Fraction(1)
    detector.process_frame(FrameTimecode(Timecode(pts=0, time_base=rate), fps=rate), before)
    return bool(detector.process_frame(FrameTimecode(Timecode(pts=1, time_base=rate), fps=rate), after))


def detect_cuts(
    movie_path: str | Path,
    threshold: float | None = 27.0,
    min_scene_len_s: float = 0.5,
    *,
    detector: str = "content",
    flash_max_s: float = 0.25,
    fade_threshold: float | None = 12.0,
    transition_s: float = 1.0,
    transition_threshold: float = 0.2,
) -> np.ndarray:
    """Times (movie seconds, increasing) of the first frame of every shot after the first.

    The keyword names are the keys of the config section ``stimuli.scene_detection``.

    Parameters
    ----------
    movie_path
        The movie file, decoded with PyAV.
    threshold
        Threshold of the abrupt-change ``detector`` (PySceneDetect's own scale: ``content`` the mean HSV change on
        0-255, ``histogram`` one minus the luma-histogram correlation, ``hash`` the normalised perceptual-hash
        distance); None uses PySceneDetect's default for that detector.  Lower finds more cuts.
    min_scene_len_s
        A cut closer than this to the previous one is dropped.
    detector
        ``content`` (``ContentDetector``), ``histogram`` (``HistogramDetector``) or ``hash`` (``HashDetector``).
    flash_max_s
        An abrupt change after which the previous frame is seen again within this time is a flash, not a cut;
        0 disables the check.
    fade_threshold
        ``ThresholdDetector`` floor: a frame whose mean 8-bit intensity is below it is faded out; None disables fade
        handling.
    transition_s
        Lag of the gradual detector, about the longest fade or dissolve it finds as one cut; 0 disables it.
    transition_threshold
        ``HistogramDetector`` threshold for the gradual detector and for deciding whether the shots before and after a
        gradual transition differ.

    Returns
    -------
    np.ndarray
        Cut times, each the movie time of the first frame of the new shot, so the frame "at" a cut is that frame.

    Raises
    ------
    DatasetError
        The movie is missing, unreadable or has no usable frame timestamps (one line naming the file).
    """
    path = Path(movie_path)
    _abrupt_detector(detector, threshold)
    found = _first_pass(path, detector, threshold, fade_threshold, transition_s, transition_threshold)
    times = np.asarray(found.times, dtype=np.float64)
    n = len(times)

    def frame_at(k: int) -> int:
        return min(max(k, 0), n - 1)

    def flash_end(c: int) -> int:
        """The last frame shown within ``flash_max_s`` of frame ``c``."""
        return int(np.searchsorted(times, times[c] + flash_max_s + 1e-9)) - 1

    # Pass 2 needs the frame before each abrupt candidate and the last one within flash_max_s after it, and the frames
    # just outside each gradual run; they are decoded in a second sequential pass, at the detection size.
    abrupt = [c for c in found.abrupt if not (found.dark[c] or found.dark[c - 1])]
    runs = _runs(found.gradual, gap=found.lag)
    wanted = {c - 1 for c in abrupt} | {flash_end(c) for c in abrupt}
    margin = found.lag // 4
    refs = [(frame_at(first - 1 - margin), frame_at(last - found.lag + 1 + margin)) for first, last in runs]
    wanted |= {k for pair in refs for k in pair}
    wanted = sorted(wanted)
    decoded = decode_frames(path, times[wanted], max_side=DETECTION_SIDE) if wanted else None
    image = {k: decoded.frames[decoded.index[i]][..., ::-1] for i, k in enumerate(wanted)} if wanted else {}

    def make_abrupt():
        return _abrupt_detector(detector, threshold)

    def make_gradual():
        return HistogramDetector(threshold=transition_threshold, min_scene_len=0)

    cuts, flashes = [], []
    for c in abrupt:
        if flashes and c <= flashes[-1][1]:
            continue
        back = flash_end(c)
        if back > c and not _differ(make_abrupt, image[c - 1], image[back]):
            flashes.append((c, back))
            continue
        cuts.append(c)
    for (first, last), (before, after) in zip(runs, refs, strict=True):
        start = first - found.lag
        if any(start <= c <= last for c in cuts) or any(c <= last and back >= start for c, back in flashes):
            continue
        if not _differ(make_gradual, image[before], image[after]):
            continue
        inside = [f for f in found.fades if before <= f <= after]
        cuts.append(inside[0] if inside else frame_at((first + last - found.lag + 1) // 2))
    kept: list[float] = []
    for t in sorted(times[c] for c in cuts):
        if t > 0 and (not kept or t - kept[-1] >= min_scene_len_s):
            kept.append(t)
    return np.asarray(kept, dtype=np.float64)


def _runs(frames: list[int], gap: int) -> list[tuple[int, int]]:
    """Sorted frame indices grouped into ``(first, last)`` runs whose members are at most ``gap`` frames apart."""
    runs: list[tuple[int, int]] = []
    for k in frames:
        if runs and k - runs[-1][1] <= gap:
            runs[-1] = (runs[-1][0], k)
        else:
            runs.append((k, k))
    return runs
