"""Short synthetic clips with one planted shot transition, to test and benchmark scene-cut detection.

A shot is a textured background (:func:`vlencode.datasets._movie.scene_image`) panning sideways under a drifting disc,
with a little sensor noise, so consecutive frames differ as in real footage.  Another shot is, by default, of the
opposite visual class (the other colour family and texture), so it differs in colour and layout, not only in content.
Every frame carries its index in the corner code of :mod:`vlencode.datasets._framecode`.  The transitions, centred
on ``at_s``:

- ``none``: one shot throughout;
- ``cut``: a hard cut to another shot at the frame nearest ``at_s``;
- ``flash``: ``flash_frames`` white frames (a camera flash), then the same shot;
- ``fade_same``: a fade to black over ``duration_s / 2`` and back into the same shot over ``duration_s / 2``;
- ``fade``: the same through black, into another shot;
- ``dissolve``: a cross-fade into another shot over ``duration_s``.

A clip has one cut (somewhere in its transition) for ``cut``, ``fade`` and ``dissolve``, none for the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pandas as pd

from vlencode.datasets._framecode import draw_frame_code
from vlencode.datasets._movie import _HUES, ENCODER_OPTIONS, VISUAL_CLASSES, _rgb, scene_image

TRANSITIONS = ("none", "cut", "flash", "fade_same", "fade", "dissolve")
#: Background pan, in frame widths per second.
_PAN_PER_S = 0.1


@dataclass(frozen=True)
class Clip:
    """``frames[n, H, W, 3]`` uint8 RGB at ``fps``; ``cut_window_s`` the ``(first, last)`` movie time within which the
    clip's one cut lies (equal for a hard cut), None for a single-shot clip."""

    frames: np.ndarray
    fps: float
    cut_window_s: tuple[float, float] | None


def _shot(
    visual_class: int, n: int, size: tuple[int, int], fps: float, pan_per_s: float, rng: np.random.Generator
) -> np.ndarray:
    """``n`` frames ``[n, H, W, 3]`` float32 (0..255) of one shot of ``VISUAL_CLASSES[visual_class]`` panning at
    ``pan_per_s`` frame widths per second."""
    height, width = size
    colour, texture = VISUAL_CLASSES[visual_class]
    scene = pd.Series(
        {
            "texture": texture,
            "hue": rng.uniform(*_HUES[colour]),
            "angle": rng.uniform(0, np.pi),
            "frequency": rng.uniform(2.0, 5.0),
            "seed": int(rng.integers(0, 2**31 - 1)),
        }
    )
    pan = int(np.ceil(pan_per_s * width * n / fps)) + 1
    background = scene_image(scene, height, width + pan)
    radius = max(2, min(height, width) // 10)
    y, x = np.mgrid[0:height, 0:width]
    start, velocity = rng.uniform(0.2, 0.8, 2), rng.uniform(-0.2, 0.2, 2)
    disc_colour = _rgb(scene["hue"] + 0.5, 0.9, 0.95) * 255.0
    frames = np.empty((n, height, width, 3), np.float32)
    for k in range(n):
        left = round(pan_per_s * width * k / fps)
        frame = background[:, left : left + width].copy()
        cx, cy = (start + velocity * k / fps) % 1.0
        frame[(x - cx * width) ** 2 + (y - cy * height) ** 2 <= radius**2] = disc_colour
        frames[k] = frame + rng.normal(0.0, 2.0, frame.shape)
    return frames


def transition_clip(
    kind: str,
    *,
    seconds: float = 6.0,
    at_s: float = 3.0,
    duration_s: float = 1.0,
    flash_frames: int = 2,
    fps: float = 24.0,
    frame_size: tuple[int, int] = (72, 128),
    pan_per_s: float = 0.1,
    other_class: int | None = None,
    seed: int = 0,
) -> Clip:
    """A clip of ``seconds`` with one transition of ``kind`` (see the module doc) centred on ``at_s``.

    ``seed`` picks the first shot's visual class, both shots' rendering and the noise; ``other_class`` is the second
    shot's class (default: the opposite one).  The same arguments give the same clip.  Raises ValueError for an
    unknown ``kind`` or a transition that does not fit in the clip.
    """
    if kind not in TRANSITIONS:
        raise ValueError(f"transition {kind!r}: use one of {', '.join(TRANSITIONS)}")
    n, height, width = round(seconds * fps), *frame_size
    at, half = round(at_s * fps), round(duration_s * fps / 2)
    if not half <= at <= n - half:
        raise ValueError(f"a {duration_s} s transition at {at_s} s does not fit in a {seconds} s clip")
    rng = np.random.default_rng(seed)
    first = int(rng.integers(len(VISUAL_CLASSES)))
    second = len(VISUAL_CLASSES) - 1 - first if other_class is None else other_class
    shot = _shot(first, n, (height, width), fps, pan_per_s, rng)
    other = _shot(second, n, (height, width), fps, pan_per_s, rng)
    frames, window = shot.copy(), None
    k = np.arange(n)
    if kind == "cut":
        frames[at:], window = other[at:], (at / fps, at / fps)
    elif kind == "flash":
        frames[at : at + flash_frames] = 255.0
    elif kind in ("fade_same", "fade"):
        # Brightness falls linearly to 0 at the transition's centre and rises back; the first frame after it is dark.
        gain = np.clip(np.abs(k - at) / half, 0.0, 1.0)[:, None, None, None]
        after = shot if kind == "fade_same" else other
        frames = np.where((k < at)[:, None, None, None], shot, after) * gain
        if kind == "fade":
            window = ((at - half) / fps, (at + half) / fps)
    elif kind == "dissolve":
        weight = np.clip((k - (at - half)) / (2 * half), 0.0, 1.0)[:, None, None, None]
        frames = shot * (1.0 - weight) + other * weight
        window = ((at - half) / fps, (at + half) / fps)
    frames = np.clip(np.rint(frames), 0, 255).astype(np.uint8)
    for index in range(n):
        draw_frame_code(frames[index], index)
    return Clip(frames, float(fps), window)


def write_clip(
    path: str | Path,
    frames: np.ndarray,
    pts: np.ndarray,
    time_base: Fraction,
    *,
    container_format: str = "mp4",
    rate: Fraction | int = 24,
) -> Path:
    """Encode ``frames`` (``[n, H, W, 3]`` uint8 RGB, even sizes) to H.264 at ``path`` with PyAV.

    Frame ``k`` is stamped ``pts[k]`` in units of ``time_base`` (seconds per tick), so the first frame may sit at any
    time and the spacing may vary (variable frame rate); ``rate`` is the nominal frame rate the stream declares.
    ``container_format`` is FFmpeg's muxer name (``mp4``, ``mpegts``, ``matroska``, ...).
    """
    path = Path(path)
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream("libx264", rate=rate, options=dict(ENCODER_OPTIONS))
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.codec_context.time_base = time_base
        for image, stamp in zip(frames, pts, strict=True):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts, frame.time_base = int(stamp), time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
