"""Scene cuts detected in a movie file with PySceneDetect's content detector, for movies without a cut annotation."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from scenedetect import ContentDetector, SceneManager, VideoOpenFailure, open_video

from vlencode.datasets.base import DatasetError
from vlencode.stimuli.frames import require_movie


def detect_cuts(movie_path: str | Path, threshold: float = 27.0, min_scene_len_s: float = 0.5) -> np.ndarray:
    """Times (movie seconds, increasing) of the first frame of every scene after the first.

    Parameters
    ----------
    movie_path
        The movie file, decoded with PyAV.
    threshold
        ContentDetector threshold on the frame-to-frame change of hue, saturation and luminance (0-255 scale);
        lower finds more cuts.
    min_scene_len_s
        A cut closer than this to the previous one is ignored.

    Returns
    -------
    np.ndarray
        Cut times, each the timestamp of the first frame of the new scene, so the frame "at" a cut is that frame.
    """
    path = require_movie(movie_path)
    try:
        video = open_video(str(path), backend="pyav")
        manager = SceneManager()
        manager.add_detector(ContentDetector(threshold=threshold, min_scene_len=float(min_scene_len_s)))
        manager.detect_scenes(video)
        scenes = manager.get_scene_list()
    except (VideoOpenFailure, av.FFmpegError) as error:
        raise DatasetError(f"{path}: scene detection could not read the movie ({error}); replace the file") from None
    return np.array([start.seconds for start, _ in scenes[1:]], dtype=np.float64)
