"""Scene cuts detected in a movie file with PySceneDetect, for movies without a cut annotation.

Times are movie times (seconds after the first shown frame, :func:`vlencode.stimuli.frames.movie_frames`), the clock
frames are decoded on, so the frame at a cut is the first frame of the new shot whatever the container stamps.

PySceneDetect's detectors compare a frame with the one before it (or threshold its brightness); a camera flash then
reads as two cuts, a fade through black as one wherever the colours of the dark frames jump, and a dissolve as none.
The library's flash filter only merges or suppresses cuts closer than a minimum scene length, so one cut survives a
flash, and no detector asks whether the shot after a transition is a new one (the open camera-flash question,
https://github.com/Breakthrough/PySceneDetect/issues/35).  Detection therefore runs in two steps, in one decoding
pass that holds only the last ``transition_s`` of frames:

1. Every frame, downscaled so its longer side is at most :data:`DETECTION_SIDE` pixels, goes to three PySceneDetect
   detectors: the abrupt-change ``detector`` (``ContentDetector``, ``HistogramDetector`` or ``HashDetector``); a
   ``ThresholdDetector`` that places a cut in the middle of each fade through black; and ``HistogramDetector``\\ s that
   compare each frame with the one ``transition_s`` earlier, which fire across fades and dissolves.
2. Candidates are checked against the shots around them:

   - an abrupt change into or out of a faded-out frame is part of a fade, left to the fade and gradual detectors;
   - an abrupt change after which the frame before it is seen again within ``flash_max_s`` (the abrupt detector finds
     no cut between them) is a flash: it and the changes inside it are dropped;
   - a run of gradual candidates not explained by a kept cut or a flash is a transition; it becomes one cut (the
     fade's middle when a fade lies in it, else the middle of the transition) only if the frame before it and the frame
     after it show different shots (the gradual ``HistogramDetector`` would cut between them).

Cuts closer than ``min_scene_len_s`` to the previous one are dropped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from functools import partial
from pathlib import Path

import av
import numpy as np
from scenedetect import ContentDetector, HashDetector, HistogramDetector, ThresholdDetector
from scenedetect.common import FrameTimecode, Timecode
from scenedetect.detector import SceneDetector

from vlencode.datasets.base import DatasetError
from vlencode.stimuli.frames import movie_frames, open_movie, output_size

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


def _differ(make: Callable[[], SceneDetector], before: np.ndarray, after: np.ndarray) -> bool:
    """Whether a fresh detector from ``make`` finds a cut between two frames (BGR) shown one after the other."""
    detector = make()
    rate = Fraction(1)
    detector.process_frame(FrameTimecode(Timecode(pts=0, time_base=rate), fps=rate), before)
    return bool(detector.process_frame(FrameTimecode(Timecode(pts=1, time_base=rate), fps=rate), after))


@dataclass
class _Found:
    """Candidates with their checks, by frame index: ``abrupt`` ``(frame, flash end, is a flash)``, ``fades`` (the
    ThresholdDetector's cuts), ``runs`` of gradual candidates ``(first, last, frame before, frame after, the shots
    differ)``; ``times`` every frame's movie time and ``lag`` the gradual detector's lag in frames."""

    times: list[Fraction] = field(default_factory=list)
    abrupt: list[tuple[int, int, bool]] = field(default_factory=list)
    fades: list[int] = field(default_factory=list)
    runs: list[tuple[int, int, int, int, bool]] = field(default_factory=list)
    lag: int = 0


def _scan(path: Path, settings: dict) -> _Found:
    """Decode the movie once, feed the detectors and check each candidate as soon as the frames it needs are seen."""
    found = _Found()
    make_abrupt = partial(_abrupt_detector, settings["detector"], settings["threshold"])
    make_gradual = partial(HistogramDetector, threshold=settings["transition_threshold"], min_scene_len=0)
    abrupt, fade_threshold = make_abrupt(), settings["fade_threshold"]
    fade = None if fade_threshold is None else ThresholdDetector(threshold=fade_threshold, min_scene_len=0)
    fade_cuts: list[FrameTimecode] = []
    with open_movie(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = Fraction(stream.average_rate or stream.guessed_rate or _FALLBACK_RATE)
        lag = max(1, round(settings["transition_s"] * rate)) if settings["transition_s"] > 0 else 0
        margin = lag // 4
        # One HistogramDetector per phase: detector p sees frames p, p + lag, p + 2 lag, ...
        gradual = [make_gradual() for _ in range(lag)]
        if stream.time_base is None:
            raise DatasetError(f"{path}: its video stream has no time base; re-encode the movie")
        time_base = Fraction(stream.time_base)
        recent: deque[tuple[np.ndarray, bool]] = deque(maxlen=lag + 2)  # (image, dark) of the last frames
        pending: deque[tuple[int, Fraction, np.ndarray]] = deque()  # abrupt candidates awaiting their flash check
        run: list | None = None  # the open gradual run: [first, last, before image, after image]

        def close_run(run: list) -> None:
            first, last, before, after = run
            found.runs.append(
                (first, last, first - 1 - margin, last - lag + 1 + margin, _differ(make_gradual, before, after))
            )

        k = -1
        try:
            for k, (time, frame) in enumerate(movie_frames(container, path)):
                height, width = output_size(frame.height, frame.width, DETECTION_SIDE)
                image = frame.to_ndarray(format="bgr24", height=height, width=width, interpolation="AREA")
                dark = fade_threshold is not None and float(image.mean()) < fade_threshold
                while pending and time > pending[0][1]:
                    c, _, before = pending.popleft()
                    found.abrupt.append((c, k - 1, k - 1 > c and not _differ(make_abrupt, before, recent[-1][0])))
                recent.append((image, dark))
                timecode = FrameTimecode(Timecode(pts=round(time / time_base), time_base=time_base), fps=rate)
                found.times.append(time)
                # The abrupt detectors report the frame they were given; a change into or out of a faded-out frame
                # is left to the fade and gradual detectors.
                if abrupt.process_frame(timecode, image) and not (dark or recent[-2][1]):
                    pending.append((k, time + Fraction(settings["flash_max_s"]), recent[-2][0]))
                if fade is not None:
                    fade_cuts += fade.process_frame(timecode, image)
                if lag and gradual[k % lag].process_frame(timecode, image):
                    after = recent[-lag + margin][0]
                    if run is not None and k - run[1] <= lag:
                        run[1], run[3] = k, after
                    else:
                        if run is not None:
                            close_run(run)
                        run = [k, k, recent[-2 - margin][0], after]
        except av.FFmpegError as error:
            raise DatasetError(f"{path}: decoding failed ({error}); replace the file with an intact copy") from None
        for c, _, before in pending:
            found.abrupt.append((c, k, k > c and not _differ(make_abrupt, before, recent[-1][0])))
        if run is not None:
            close_run(run)
    times = np.asarray(found.times, dtype=np.float64)
    # ThresholdDetector places its cut by frame count: take the frame nearest its time.
    found.fades = sorted({int(np.argmin(np.abs(times - cut.seconds))) for cut in fade_cuts})
    found.lag = lag
    return found


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
    settings = {
        "detector": detector,
        "threshold": threshold,
        "flash_max_s": flash_max_s,
        "fade_threshold": fade_threshold,
        "transition_s": transition_s,
        "transition_threshold": transition_threshold,
    }
    found = _scan(path, settings)
    cuts: list[int] = []
    flashes: list[tuple[int, int]] = []
    for c, back, is_flash in found.abrupt:
        if flashes and c <= flashes[-1][1]:
            continue
        if is_flash:
            flashes.append((c, back))
        else:
            cuts.append(c)
    for first, last, before, after, differ in found.runs:
        start = first - found.lag
        explained = any(start <= c <= last for c in cuts) or any(c <= last and b >= start for c, b in flashes)
        if differ and not explained:
            inside = [f for f in found.fades if before <= f <= after]
            cuts.append(inside[0] if inside else (first + last - found.lag + 1) // 2)
    kept: list[float] = []
    for t in sorted(float(found.times[c]) for c in cuts):
        if t > 0 and (not kept or t - kept[-1] >= min_scene_len_s):
            kept.append(t)
    return np.asarray(kept, dtype=np.float64)
