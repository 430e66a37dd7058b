"""The movie frame shown at given movie times, decoded with PyAV in one sequential pass (no seeking).

Movie time 0 is the first shown frame: a frame's movie time is its presentation timestamp (``pts`` times the time
base) minus that of the first frame the decoder outputs.  Containers stamp the first frame at arbitrary times (an MP4
edit list that delays the video, an MPEG-TS stream starting at its mux delay, a clip cut from a broadcast), while
annotations, transcripts and players count from the first frame; scene detection (:mod:`vlencode.stimuli.scenes`)
reads the same clock.

The frame "at or just after" a time ``t`` is the first frame, in presentation order, whose movie time is
``>= t - FRAME_TIME_TOLERANCE_S``.  The tolerance absorbs floating-point error
in times that are meant to be exactly a frame's timestamp (a scene cut), so such a time selects that frame and not the
next.  A time after the last frame's timestamp while that frame is still on screen selects it; a later time is an
error, since the events then do not belong to this movie.  The last frame stays on screen for the longest of the
stream's average frame period, its stored duration and the gap before it: in a variable-frame-rate movie the last
gap can far exceed the average period (30 fps, then 10 fps), and containers store the last duration as a guess.

Frames are returned as displayed.  Phone videos and camera files keep the sensor's orientation and carry a display
matrix (ISO/IEC 14496-12 ``tkhd`` matrix; FFmpeg's ``AV_FRAME_DATA_DISPLAYMATRIX`` side data on each decoded frame)
that players apply: a turn by a multiple of 90 degrees, possibly mirrored.  PyAV does not apply it (PyAV#570), so
:func:`display_orientation` reads it and the decoder turns and mirrors the pixels the way the ``ffmpeg`` command line
does (its ``transpose``/``hflip``/``vflip`` autorotation): a 90 or 270 degree turn swaps height and width.  Mirrors
are applied too, since a player shows them.  A stream without a display matrix but with a legacy ``rotate`` tag
(clockwise degrees, written by FFmpeg 4 and older, e.g. in Matroska) is turned as FFmpeg 4 did.  Any other angle is
an error: it cannot be shown without resampling the picture.

Frames may be shrunk on decoding (``max_side``): full-HD frames of a two-hour movie would not fit in memory, and the
networks resize their inputs to a few hundred pixels anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vlencode.datasets.base import DatasetError
from vlencode.store import array_sha256

log = logging.getLogger(__name__)

#: Slack, in seconds, when comparing a requested time with a frame's timestamp.
FRAME_TIME_TOLERANCE_S = 1e-6


@dataclass(frozen=True)
class DecodedFrames:
    """Distinct frames for a set of requested times.

    ``frames[n, H, W, 3]`` uint8 RGB as displayed (display matrix applied; H and W the displayed size) in time order,
    ``frame_time_s[n]`` their movie times, and ``index[k]`` the row of ``frames`` chosen for the k-th requested time.
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


def _rotate_tag(stream: av.video.stream.VideoStream) -> str | None:
    """The stream's legacy ``rotate`` tag (any case: Matroska stores ``ROTATE``), or None."""
    return next((value for key, value in stream.metadata.items() if key.lower() == "rotate"), None)


def display_orientation(frame: av.VideoFrame, rotate_tag: str | None, path: str | Path) -> tuple[bool, bool, bool]:
    """How a decoded frame becomes the frame as displayed: ``(transpose, flip rows, flip columns)``, in that order.

    Parameters
    ----------
    frame
        A decoded frame; its display matrix side data, when present, decides.
    rotate_tag
        The stream's legacy ``rotate`` tag (clockwise degrees), used only when the frame has no display matrix.
    path
        The movie, named in errors.

    Raises
    ------
    DatasetError
        A display matrix or tag that turns the picture by other than a multiple of 90 degrees.
    """
    side_data = frame.side_data.get("DISPLAYMATRIX")
    if side_data is None:
        try:
            turns = float(rotate_tag or 0) / 90  # clockwise quarter turns
        except ValueError:
            turns = 0.5
        if not turns.is_integer():
            raise DatasetError(
                f"{path}: the stream's rotate tag {rotate_tag!r} is not a multiple of 90 degrees; "
                "remove the tag or re-encode the movie upright"
            )
        return [(False, False, False), (True, False, True), (False, True, True), (True, True, False)][int(turns) % 4]
    # Nine native-endian int32 (a, b, u, c, d, v, x, y, w); a displayed point is (x', y') = (a x + c y, b x + d y)
    # plus a shift, x rightwards and y downwards.  Only the signs of a right-angle turn or mirror matter here.
    # av's stub types Frame.side_data as a TypedDict; at run time it maps names to SideData buffers.
    a, b, _, c, d = np.frombuffer(memoryview(side_data), dtype=np.int32)[:5].astype(np.float64)  # type: ignore[arg-type]
    small = 1e-3 * max(abs(a), abs(b), abs(c), abs(d))
    if small > 0 and abs(b) <= small and abs(c) <= small:
        return False, bool(d < 0), bool(a < 0)
    if small > 0 and abs(a) <= small and abs(d) <= small:
        # Transposed: displayed row y' = b x and column x' = c y.
        return True, bool(b < 0), bool(c < 0)
    raise DatasetError(
        f"{path}: the display matrix turns the picture by {frame.rotation} degrees, not a multiple of 90; "
        "re-encode the movie upright (ffmpeg -i MOVIE -c:a copy UPRIGHT.mp4 applies it)"
    )


def _rgb(frame: av.VideoFrame, max_side: int | None, rotate_tag: str | None, path: str | Path) -> np.ndarray:
    """The frame as displayed, ``[H, W, 3]`` uint8 RGB, shrunk to ``max_side`` (the displayed H and W)."""
    height, width = output_size(frame.height, frame.width, max_side)
    if (height, width) == (frame.height, frame.width):
        image = frame.to_ndarray(format="rgb24")
    else:
        image = frame.to_ndarray(format="rgb24", height=height, width=width, interpolation="AREA")
    transpose, flip_rows, flip_columns = display_orientation(frame, rotate_tag, path)
    if transpose:
        image = image.transpose(1, 0, 2)
    return np.ascontiguousarray(image[:: -1 if flip_rows else 1, :: -1 if flip_columns else 1])


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
    last, last_time, gap = None, 0.0, 0.0
    with open_movie(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        period = 1.0 / float(stream.average_rate) if stream.average_rate else 0.0
        rotate_tag = _rotate_tag(stream)
        try:
            for time, frame in movie_frames(container, path):
                if next_time == len(times):
                    break
                gap = float(time) - last_time if last is not None else 0.0
                last, last_time = frame, float(time)
                if times[order[next_time]] - FRAME_TIME_TOLERANCE_S > last_time:
                    continue
                frames.append(_rgb(frame, max_side, rotate_tag, path))
                frame_times.append(last_time)
                while next_time < len(times) and times[order[next_time]] - FRAME_TIME_TOLERANCE_S <= last_time:
                    index[order[next_time]] = len(frames) - 1
                    next_time += 1
        except av.FFmpegError as error:
            raise DatasetError(f"{path}: decoding failed ({error}); replace the file with an intact copy") from None
        if next_time < len(times):
            late = times[order[next_time:]]
            stored = (
                float(last.duration * last.time_base)
                if last is not None and last.duration and last.time_base is not None
                else 0.0
            )
            if last is None or late[-1] - FRAME_TIME_TOLERANCE_S > last_time + max(period, stored, gap):
                end = "no frames" if last is None else f"its last frame is at {last_time:.3f} s"
                raise DatasetError(
                    f"{path}: {len(late)} requested times reach {late[-1]:.3f} s but {end}; "
                    "the events do not belong to this movie file, or their movie times are not seconds (a BIDS "
                    "events.tsv's movie_time in milliseconds or frames)"
                )
            if not frame_times or frame_times[-1] != last_time:
                frames.append(_rgb(last, max_side, rotate_tag, path))
                frame_times.append(last_time)
            index[order[next_time:]] = len(frames) - 1
        if frames and last is not None and any(display_orientation(last, rotate_tag, path)):
            log.info("%s: frames turned or mirrored as displayed (display matrix or rotate tag)", path)
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
