"""The movie frame shown at given movie times, decoded with PyAV in one sequential pass (no seeking).

Movie time 0 is the first shown frame: a frame's movie time is its presentation timestamp (``pts`` times the time
base) minus that of the first frame the decoder outputs.  Containers stamp the first frame at arbitrary times (an MP4
edit list that delays the video, an MPEG-TS stream starting at its mux delay, a clip cut from a broadcast), while
annotations, transcripts and players count from the first frame; scene detection (:mod:`vlencode.stimuli.scenes`)
reads the same clock.

The frame "at or just after" a time ``t`` is the first frame, in presentation order, whose movie time is
``>= t - FRAME_TIME_TOLERANCE_S``.  The tolerance absorbs floating-point error
in times that are meant to be exactly a frame's timestamp (a scene cut), so such a time selects that frame and not the
next.  A time after the last frame's timestamp but within one frame period of it selects the last frame (it is still on
screen); a later time is an error, since the events then do not belong to this movie.

Frames may be shrunk on decoding (``max_side``): full-HD frames of a two-hour movie would not fit in memory, and the
networks resize their inputs to a few hundred pixels anyway.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vlencode.datasets.base import DatasetError
from vlencode.store import array_sha256

#: Slack, in seconds, when comparing a requested time with a frame's timestamp.
FRAME_TIME_TOLERANCE_S = 1e-6


@dataclass(frozen=True)
class DecodedFrames:
    """Distinct frames for a set of requested times.

    ``frames[n, H, W, 3]`` uint8 RGB in time order, ``frame_time_s[n]`` their movie times, and ``index[k]`` the row of
    ``frames`` chosen for the k-th requested time.
    """

    frames: np.ndarray
    frame_time_s: np.ndarray
    index: np.ndarray


def require_movie(movie_path: str | Path) -> Path:
    """The movie path, or a one-line error telling the user where to put the missing file."""
    path = Path(movie_path)
    if not path.is_file():
        raise DatasetError(f"{path}: movie file not found; place the movie there (the dataset does not ship movies)")
    return path


@contextmanager
def open_movie(movie_path: str | Path) -> Iterator[av.container.InputContainer]:
    """Open a movie for decoding; a missing or unreadable file is a one-line error naming it."""
    path = require_movie(movie_path)
    try:
        container = av.open(str(path))
    except av.FFmpegError as error:
        raise DatasetError(f"{path}: not a readable movie ({error}); replace the file with an intact copy") from None
    try:
        if not container.streams.video:
            raise DatasetError(f"{path}: the file holds no video stream; replace it with the movie")
        yield container
    finally:
        container.close()


def movie_frames(container: av.container.InputContainer, path: str | Path) -> Iterator[tuple[Fraction, av.VideoFrame]]:
    """Every frame of the first video stream in presentation order, with its exact movie time in seconds.

    Raises DatasetError (naming ``path``) for a frame without a timestamp or one not after the previous frame: the
    frame shown at a time would be ambiguous.
    """
    stream = container.streams.video[0]
    origin, previous = None, None
    for frame in container.decode(stream):
        if frame.pts is None or not frame.time_base:
            raise DatasetError(f"{path}: a video frame has no timestamp; remux the movie (ffmpeg -c copy)")
        if origin is None:
            origin = frame.pts
        time = (frame.pts - origin) * Fraction(frame.time_base)
        if previous is not None and time <= previous:
            raise DatasetError(
                f"{path}: frame timestamps do not increase ({float(time):.6f} s after {float(previous):.6f} s); "
                "remux the movie with regenerated timestamps (ffmpeg -fflags +genpts -c copy)"
            )
        previous = time
        yield time, frame


def output_size(height: int, width: int, max_side: int | None) -> tuple[int, int]:
    """``(height, width)`` scaled so the longer side is at most ``max_side`` (aspect kept; unchanged when None)."""
    if max_side is None or max(height, width) <= max_side:
        return height, width
    scale = max_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def _rgb(frame: av.VideoFrame, max_side: int | None) -> np.ndarray:
    height, width = output_size(frame.height, frame.width, max_side)
    if (height, width) == (frame.height, frame.width):
        return frame.to_ndarray(format="rgb24")
    return frame.to_ndarray(format="rgb24", height=height, width=width, interpolation="AREA")


def decode_frames(movie_path: str | Path, times_s: np.ndarray, max_side: int | None = None) -> DecodedFrames:
    """Decode the frame at or just after each of ``times_s`` (movie seconds), each distinct frame once.

    Parameters
    ----------
    movie_path
        The movie file.
    times_s
        Requested movie times (seconds after the first shown frame), in any order; several may select the same frame.
    max_side
        Shrink frames (area interpolation, aspect kept) so their longer side is at most this many pixels; None keeps
        the movie's size.

    Returns
    -------
    DecodedFrames
        The distinct frames in time order and, per requested time, the row holding its frame.
    """
    path = require_movie(movie_path)
    times = np.asarray(times_s, dtype=np.float64)
    order = np.argsort(times, kind="stable")
    index = np.full(len(times), -1, dtype=np.int64)
    frames: list[np.ndarray] = []
    frame_times: list[float] = []
    next_time = 0
    last, last_time = None, 0.0
    with open_movie(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        period = 1.0 / float(stream.average_rate) if stream.average_rate else 0.0
        try:
            for time, frame in movie_frames(container, path):
                if next_time == len(times):
                    break
                last, last_time = frame, float(time)
                if times[order[next_time]] - FRAME_TIME_TOLERANCE_S > last_time:
                    continue
                frames.append(_rgb(frame, max_side))
                frame_times.append(last_time)
                while next_time < len(times) and times[order[next_time]] - FRAME_TIME_TOLERANCE_S <= last_time:
                    index[order[next_time]] = len(frames) - 1
                    next_time += 1
        except av.FFmpegError as error:
            raise DatasetError(f"{path}: decoding failed ({error}); replace the file with an intact copy") from None
        if next_time < len(times):
            late = times[order[next_time:]]
            if last is None or late[-1] - FRAME_TIME_TOLERANCE_S > last_time + period:
                end = "no frames" if last is None else f"its last frame is at {last_time:.3f} s"
                raise DatasetError(
                    f"{path}: {len(late)} requested times reach {late[-1]:.3f} s but {end}; "
                    "the events do not belong to this movie file"
                )
            if not frame_times or frame_times[-1] != last_time:
                frames.append(_rgb(last, max_side))
                frame_times.append(last_time)
            index[order[next_time:]] = len(frames) - 1
    if not frames:
        return DecodedFrames(np.zeros((0, 0, 0, 3), np.uint8), np.zeros(0), index)
    return DecodedFrames(np.stack(frames), np.asarray(frame_times, dtype=np.float64), index)


def frame_sha256(frames: np.ndarray) -> list[str]:
    """Content hash of each frame (``[n, H, W, 3]`` uint8): :func:`vlencode.store.array_sha256` of its pixels.

    The stimuli stage hashes each distinct frame once per movie; every model's cache key then reads these digests
    from the stimuli table instead of hashing the pixels again (on a GPU that hashing would cost as much as the
    forward passes).
    """
    return [array_sha256(frame) for frame in np.asarray(frames, dtype=np.uint8)]
