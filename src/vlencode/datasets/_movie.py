"""The replica's movies: scenes with a planted visual class, rendered to H.264 with PyAV.

Each scene has a visual class that a vision network can see: a colour family (warm or cool) crossed with a texture
(stripes or blobs).  Within a scene a small disc drifts across the frame, and every frame carries its index in a
corner code (:mod:`vlencode.datasets._framecode`).  Cuts fall on frame boundaries, so the annotated cut time is exactly
the display time of the first frame of the new scene.
"""

from __future__ import annotations

import colorsys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pandas as pd

from vlencode.datasets._framecode import draw_frame_code

#: Visual classes: (colour family, texture).  ``colour_sign`` +1 warm, -1 cool (the multimodal interaction reads it).
VISUAL_CLASSES = (("warm", "stripes"), ("warm", "blobs"), ("cool", "stripes"), ("cool", "blobs"))
_HUES = {"warm": (0.0, 0.12), "cool": (0.5, 0.68)}
#: Fixed encoder settings: the same frames give byte-identical files.
ENCODER_OPTIONS = {"crf": "12", "preset": "veryfast", "threads": "1"}


def plan_scenes(n_frames: int, fps: float, mean_scene_s: float, rng: np.random.Generator) -> pd.DataFrame:
    """Scenes covering frames ``0:n_frames``: gamma-distributed durations (mean ``mean_scene_s``, at least 1 s).

    Returns one row per scene: ``scene, start_frame, stop_frame, cut_s`` (display time of its first frame),
    ``visual_class, colour, texture, colour_sign`` and the rendering parameters ``hue, angle, frequency, seed``.
    Consecutive scenes never share a class, so every cut is visible.
    """
    starts, frame = [], 0
    while frame < n_frames:
        starts.append(frame)
        duration = max(1.0, rng.gamma(shape=4.0, scale=mean_scene_s / 4.0))
        frame += max(1, int(round(duration * fps)))
    classes, previous = [], -1
    for _ in starts:
        choice = int(rng.integers(len(VISUAL_CLASSES) - (previous >= 0)))
        if previous >= 0 and choice >= previous:
            choice += 1
        classes.append(choice)
        previous = choice
    n = len(starts)
    colour = [VISUAL_CLASSES[c][0] for c in classes]
    return pd.DataFrame(
        {
            "scene": np.arange(n),
            "start_frame": np.asarray(starts, dtype=np.int64),
            "stop_frame": np.asarray(starts[1:] + [n_frames], dtype=np.int64),
            "cut_s": np.asarray(starts, dtype=np.float64) / fps,
            "visual_class": np.asarray(classes, dtype=np.int64),
            "colour": colour,
            "texture": [VISUAL_CLASSES[c][1] for c in classes],
            "colour_sign": np.where(np.asarray(colour) == "warm", 1.0, -1.0),
            "hue": [rng.uniform(*_HUES[c]) for c in colour],
            "angle": rng.uniform(0, np.pi, n),
            "frequency": rng.uniform(2.0, 5.0, n),
            "seed": rng.integers(0, 2**31 - 1, n),
        }
    )


def _rgb(hue: float, saturation: float, value: float) -> np.ndarray:
    return np.asarray(colorsys.hsv_to_rgb(hue % 1.0, saturation, value), dtype=np.float32)


def scene_image(scene: pd.Series, height: int, width: int) -> np.ndarray:
    """The static background of one scene, ``[H, W, 3]`` float32 in 0..255."""
    rng = np.random.default_rng(int(scene["seed"]))
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    y, x = y / height, x / width
    if scene["texture"] == "stripes":
        phase = rng.uniform(0, 2 * np.pi)
        along = x * np.cos(scene["angle"]) + y * np.sin(scene["angle"])
        pattern = 0.5 + 0.5 * np.sin(2 * np.pi * scene["frequency"] * along + phase)
    else:
        pattern = np.zeros_like(x)
        for cx, cy, radius in zip(rng.uniform(0, 1, 5), rng.uniform(0, 1, 5), rng.uniform(0.08, 0.2, 5)):
            pattern += np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * radius**2))
        pattern = np.clip(pattern, 0, 1)
    dark = _rgb(scene["hue"], 0.8, rng.uniform(0.25, 0.45))
    light = _rgb(scene["hue"] + 0.05, 0.5, rng.uniform(0.8, 1.0))
    return (dark + pattern[..., None] * (light - dark)) * 255.0


def _paste_disc(image: np.ndarray, disc: np.ndarray, row: int, column: int, colour: np.ndarray) -> None:
    """Paint the boolean ``disc`` mask centred at ``(row, column)`` in ``colour``, clipped at the frame edges."""
    radius = disc.shape[0] // 2
    top, left = row - radius, column - radius
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + disc.shape[0], image.shape[0]), min(left + disc.shape[1], image.shape[1])
    if r0 < r1 and c0 < c1:
        image[r0:r1, c0:c1][disc[r0 - top : r1 - top, c0 - left : c1 - left]] = colour


def render_movie(path: Path, scenes: pd.DataFrame, frame_size: tuple[int, int], fps: float) -> None:
    """Encode every frame of ``scenes`` to an H.264 MP4 at ``path`` (frame k has pts k, time base 1/fps)."""
    height, width = frame_size
    radius = max(2, min(height, width) // 10)
    offsets = np.arange(-radius, radius + 1)
    disc = offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius**2
    with av.open(str(path), "w", format="mp4") as container:
        rate = Fraction(fps).limit_denominator(1001)
        stream = container.add_stream("libx264", rate=rate, options=dict(ENCODER_OPTIONS))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.thread_count = 1
        for scene in scenes.itertuples(index=False):
            background = scene_image(pd.Series(scene._asdict()), height, width).astype(np.uint8)
            disc_colour = (_rgb(scene.hue + 0.5, 0.9, 0.95) * 255.0).astype(np.uint8)
            rng = np.random.default_rng(int(scene.seed) + 1)
            start_xy, velocity = rng.uniform(0.2, 0.8, 2), rng.uniform(-0.15, 0.15, 2)
            for frame_index in range(scene.start_frame, scene.stop_frame):
                t = (frame_index - scene.start_frame) / fps
                cx, cy = (start_xy + velocity * t) % 1.0
                image = background.copy()
                _paste_disc(image, disc, int(cy * height), int(cx * width), disc_colour)
                draw_frame_code(image, frame_index)
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts = frame_index
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
