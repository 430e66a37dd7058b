"""The frames store, ``results/stimuli/movie-<movie>_frames.zarr``: its layout, writer and reader.

Layout: ``frames`` (uint8 RGB, ``[n_frames, H, W, 3]``, distinct frames in time order, chunks of 64 frames) and
``frame_time_s`` (float64, ``[n_frames]``, each frame's timestamp in movie seconds).  The stimuli table's
``frame_index`` points into ``frames``.
"""

from __future__ import annotations

import os

import numpy as np
import zarr

from vlencode.store import create_array, open_zarr, zarr_array


def write_frames(group: zarr.Group, frames: np.ndarray, frame_time_s: np.ndarray) -> None:
    """Lay out the frames store: ``frames[n, H, W, 3]`` uint8 in chunks of 64 frames, ``frame_time_s[n]``."""
    n_frames, height, width, _ = frames.shape
    array = create_array(
        group, "frames", shape=frames.shape, dtype="uint8", chunks=(max(min(n_frames, 64), 1), height, width, 3)
    )
    array[:] = frames
    create_array(group, "frame_time_s", data=np.asarray(frame_time_s, dtype=np.float64))


class FramesStore:
    """Read access to a finished frames store; ``frames`` stays a lazy zarr array, read by rows.

    Attributes
    ----------
    frames : zarr.Array, shape (n_frames, H, W, 3), uint8
    frame_time_s : ndarray of float64, shape (n_frames,)
    """

    def __init__(self, path: str | os.PathLike):
        root = open_zarr(path)
        self.frames = zarr_array(root, "frames")
        self.frame_time_s = np.asarray(zarr_array(root, "frame_time_s")[:], dtype=np.float64)
