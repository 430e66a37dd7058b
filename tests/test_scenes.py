"""Movie time 0 is the first shown frame, whatever the container stamps; flashes, fades and dissolves in detection.

Clips come from :mod:`vlencode.datasets._clips`: textured panning shots whose frames carry their index in the corner
code, so a decoded frame says which one it is.
"""

import inspect
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import yaml

from vlencode.datasets._clips import transition_clip, write_clip
from vlencode.datasets._framecode import read_frame_code
from vlencode.stimuli.frames import decode_frames
from vlencode.stimuli.scenes import detect_cuts

FPS = 24
CUT = 48  # the first frame of the second shot
SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture(scope="module")
def cut_clip():
    """4 s at 24 fps, a hard cut at frame 48 (2.0 s after the first frame)."""
    return transition_clip("cut", seconds=4.0, at_s=CUT / FPS, frame_size=(64, 96), seed=3)


def codes_at(path, times):
    decoded = decode_frames(path, np.asarray(times, dtype=np.float64))
    return [read_frame_code(decoded.frames[i]) for i in decoded.index]


def first_timestamp_s(path) -> float:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return float(frame.time)


def check_clock(path, frame_times):
    """Cut and frames on one clock: frame k shown at ``frame_times[k]``, the cut at frame 48's time."""
    cut = frame_times[CUT]
    np.testing.assert_allclose(detect_cuts(path), [cut], atol=1e-9)
    probes = [0.0, frame_times[12], cut, frame_times[CUT - 1], frame_times[-1]]
    assert codes_at(path, probes) == [0, 12, CUT, CUT - 1, len(frame_times) - 1]
    # Between two frames the next one is chosen, whatever their spacing.
    middle = (frame_times[30] + frame_times[31]) / 2
    assert codes_at(path, [middle]) == [31]


def test_mp4_with_an_edit_list_counts_from_the_first_shown_frame(tmp_path, cut_clip):
    n = len(cut_clip.frames)
    path = write_clip(tmp_path / "delayed.mp4", cut_clip.frames, np.arange(n) + FPS, Fraction(1, FPS))
    assert b"elst" in path.read_bytes() and first_timestamp_s(path) == pytest.approx(1.0)
    check_clock(path, np.arange(n) / FPS)
    # The failing case as reported: 0.5 s is frame 12, the cut (2.0 s) is frame 48.
    assert codes_at(path, [0.5, 2.0]) == [12, CUT]


def test_an_edit_list_that_trims_the_start_counts_from_the_first_kept_frame(tmp_path, cut_clip):
    import imageio_ffmpeg

    n = len(cut_clip.frames)
    source = write_clip(tmp_path / "source.mp4", cut_clip.frames, np.arange(n), Fraction(1, FPS))
    trimmed = tmp_path / "trimmed.mp4"
    # Stream copy from 0.5 s: the decoder starts at the keyframe (frame 0) and the edit list hides frames 0-11.
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-ss", "0.5", "-i", str(source), "-c", "copy"]
    subprocess.run([*command, str(trimmed)], check=True)
    assert codes_at(trimmed, [0.0, 1.5]) == [12, CUT]
    np.testing.assert_allclose(detect_cuts(trimmed), [1.5], atol=1e-9)


def test_mpeg_ts_with_a_start_offset(tmp_path, cut_clip):
    n = len(cut_clip.frames)
    ticks = 90_000 // FPS
    pts = 126_000 + np.arange(n) * ticks  # 1.4 s, FFmpeg's usual mux delay
    path = write_clip(tmp_path / "offset.ts", cut_clip.frames, pts, Fraction(1, 90_000), container_format="mpegts")
    assert first_timestamp_s(path) == pytest.approx(1.4)
    check_clock(path, np.arange(n) / FPS)


def test_variable_frame_rate(tmp_path, cut_clip):
    n = len(cut_clip.frames)
    rng = np.random.default_rng(0)
    durations_ms = rng.choice([30, 60, 90], n)
    pts_ms = 700 + np.concatenate([[0], np.cumsum(durations_ms[:-1])])
    path = write_clip(tmp_path / "vfr.mkv", cut_clip.frames, pts_ms, Fraction(1, 1000), container_format="matroska")
    frame_times = (pts_ms - pts_ms[0]) / 1000.0
    assert abs(frame_times[CUT] - CUT / FPS) > 2 / FPS  # counting frames at a nominal rate would miss
    check_clock(path, frame_times)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("kind", ["none", "flash", "fade_same"])
def test_one_shot_clips_have_no_cut(tmp_path, kind, seed):
    clip = transition_clip(kind, seed=seed)
    path = write_clip(tmp_path / f"{kind}.mp4", clip.frames, np.arange(len(clip.frames)), Fraction(1, FPS))
    assert detect_cuts(path).tolist() == []


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("kind", ["cut", "fade", "dissolve"])
def test_a_transition_into_another_shot_is_one_cut_inside_it(tmp_path, kind, seed):
    clip = transition_clip(kind, seed=seed)
    path = write_clip(tmp_path / f"{kind}.mp4", clip.frames, np.arange(len(clip.frames)), Fraction(1, FPS))
    cuts = detect_cuts(path)
    first, last = clip.cut_window_s
    assert len(cuts) == 1 and first - 1e-9 <= cuts[0] <= last + 1e-9, (cuts, clip.cut_window_s)
    if kind == "cut":
        assert cuts[0] == pytest.approx(3.0, abs=1e-9)


def test_without_the_flash_check_a_flash_is_a_cut(tmp_path):
    clip = transition_clip("flash", seed=0)
    path = write_clip(tmp_path / "flash.mp4", clip.frames, np.arange(len(clip.frames)), Fraction(1, FPS))
    np.testing.assert_allclose(detect_cuts(path, flash_max_s=0.0), [3.0], atol=1e-9)


def test_config_keys_are_the_detection_arguments_with_the_same_defaults():
    schema = yaml.safe_load(SCHEMA.read_text())
    keys = schema["properties"]["stimuli"]["properties"]["scene_detection"]["properties"]
    defaults = {name: spec["default"] for name, spec in keys.items()}
    parameters = inspect.signature(detect_cuts).parameters
    assert {name: parameters[name].default for name in defaults} == defaults
    assert set(parameters) - {"movie_path"} == set(defaults)


def test_a_threshold_off_the_detectors_scale_is_a_one_line_error(tmp_path):
    with pytest.raises(ValueError, match="threshold: 27.0 is outside 0-1, the histogram detector's scale"):
        detect_cuts(tmp_path / "absent.mp4", detector="histogram")
