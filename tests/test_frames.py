"""Movie frames as a viewer sees them: the display rotation and mirror applied, and the last frame of a
variable-frame-rate movie held for as long as it is on screen.

The movies are written here with PyAV (``av``): ``VideoStream.set_display_rotation(degrees, hflip, vflip)`` stores a
display matrix in the container (MP4 ``tkhd``, Matroska projection), which FFmpeg hands back as ``DISPLAYMATRIX`` side
data on every decoded frame; ``degrees`` is counter-clockwise, as ``VideoFrame.rotation`` reads it and ``ffprobe``
prints it.  A legacy ``rotate`` tag (clockwise degrees, as FFmpeg 4 applied it) is written as Matroska stream
metadata, which the MP4 muxer no longer writes (PyAV#1045).  Variable frame rates come from explicit ``pts`` in a
1/30 s time base.
"""

from fractions import Fraction

import av
import numpy as np
import pandas as pd
import pytest

from vlencode.datasets.base import DatasetError
from vlencode.stimuli.events import stimulus_id
from vlencode.stimuli.frames import decode_frames
from vlencode.stimuli.table import build_stimuli
from vlencode.store import atomic_zarr
from vlencode.stores.frames import FramesStore, write_frames

HEIGHT, WIDTH = 32, 48
RED, GREEN, BLUE, WHITE = (230, 30, 30), (30, 200, 30), (30, 30, 230), (245, 245, 245)


def _quadrants() -> np.ndarray:
    """A non-square picture whose four quadrants differ, so every turn and mirror of it is distinguishable."""
    image = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    image[: HEIGHT // 2, : WIDTH // 2], image[: HEIGHT // 2, WIDTH // 2 :] = RED, GREEN
    image[HEIGHT // 2 :, : WIDTH // 2], image[HEIGHT // 2 :, WIDTH // 2 :] = BLUE, WHITE
    return image


def _write_movie(path, images, pts=None, rotation=None, hflip=False, vflip=False, tags=None, rate=30):
    """Encode ``images`` (H.264) at ``rate`` fps, or at ``pts`` in 1/30 s units; optionally a display matrix or tags."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = images[0].shape[1], images[0].shape[0], "yuv420p"
        if rotation is not None:
            stream.set_display_rotation(rotation, hflip=hflip, vflip=vflip)
        stream.metadata.update(tags or {})
        if pts is not None:
            stream.codec_context.time_base = Fraction(1, 30)
        for i, image in enumerate(images):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            if pts is not None:
                frame.pts, frame.time_base = pts[i], Fraction(1, 30)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _close(decoded: np.ndarray, expected: np.ndarray) -> bool:
    """Same picture up to coding error; any other turn or mirror of the quadrants is off by about 100 grey levels."""
    return decoded.shape == expected.shape and float(np.abs(decoded.astype(float) - expected).mean()) < 8.0


def test_a_90_degree_display_rotation_returns_the_frames_as_displayed(tmp_path, caplog):
    """PyAV#570: a movie stored sideways with a 90 degree display matrix came back sideways, without a warning."""
    movie = tmp_path / "phone.mp4"
    _write_movie(movie, [_quadrants()] * 3, rotation=90)
    with av.open(str(movie)) as container:
        assert next(container.decode(video=0)).rotation == 90  # the file carries what the test says
    with caplog.at_level("INFO", logger="vlencode.stimuli.frames"):
        frame = decode_frames(movie, np.array([0.0])).frames[0]
    assert "phone.mp4: frames turned or mirrored as displayed" in caplog.text
    # Turned a quarter counter-clockwise: 48 rows by 32 columns, the stored top-right (green) now top-left.
    assert frame.shape == (WIDTH, HEIGHT, 3)
    corners = [frame[0, 0], frame[0, -1], frame[-1, 0], frame[-1, -1]]
    np.testing.assert_allclose(corners, [GREEN, WHITE, RED, BLUE], atol=12)


@pytest.mark.parametrize(
    "suffix, rotation, hflip, vflip, expected",
    [
        ("mp4", 90, False, False, lambda im: np.rot90(im, 1)),
        ("mp4", -90, False, False, lambda im: np.rot90(im, -1)),  # ffprobe "rotation of -90": a portrait phone video
        ("mp4", 270, False, False, lambda im: np.rot90(im, -1)),
        ("mp4", 180, False, False, lambda im: np.rot90(im, 2)),
        ("mp4", 0, False, False, lambda im: im),
        ("mov", 90, False, False, lambda im: np.rot90(im, 1)),
        ("mkv", -90, False, False, lambda im: np.rot90(im, -1)),
        # Mirrors (front cameras) are applied too, after the turn, as ffmpeg's autorotation does.
        ("mp4", 0, True, False, lambda im: im[:, ::-1]),
        ("mp4", 0, False, True, lambda im: im[::-1]),
        ("mp4", 90, True, False, lambda im: np.rot90(im, 1)[:, ::-1]),
        ("mp4", -90, False, True, lambda im: np.rot90(im, -1)[::-1]),
    ],
)
def test_every_right_angle_turn_and_mirror_is_applied(tmp_path, suffix, rotation, hflip, vflip, expected):
    movie = tmp_path / f"turned.{suffix}"
    _write_movie(movie, [_quadrants()] * 3, rotation=rotation, hflip=hflip, vflip=vflip)
    decoded = decode_frames(movie, np.array([0.0, 0.05]))
    want = expected(_quadrants())
    assert decoded.frames.shape == (2, *want.shape) and decoded.frames.flags.c_contiguous
    assert all(_close(frame, want) for frame in decoded.frames)


def test_a_legacy_rotate_tag_turns_clockwise(tmp_path):
    movie = tmp_path / "old.mkv"
    _write_movie(movie, [_quadrants()] * 3, tags={"rotate": "90"})  # Matroska reads it back as ROTATE
    assert _close(decode_frames(movie, np.array([0.0])).frames[0], np.rot90(_quadrants(), -1))


def test_shrinking_keeps_the_displayed_shape(tmp_path):
    movie = tmp_path / "phone.mp4"
    _write_movie(movie, [_quadrants()] * 3, rotation=-90)
    small = decode_frames(movie, np.array([0.0]), max_side=24).frames[0]
    assert small.shape == (24, 16, 3)  # 48 x 32 as displayed, longer side 24
    np.testing.assert_allclose(small[0, -1], RED, atol=12)  # the stored top-left, turned clockwise


def test_the_stimuli_table_and_frames_store_hold_the_displayed_frames(tmp_path):
    movie = tmp_path / "phone.mp4"
    _write_movie(movie, [_quadrants()] * 3, rotation=90)
    events = pd.DataFrame(
        {
            "stimulus_id": [stimulus_id("m", 0.0, "Hi")],
            "movie": "m",
            "frame_time_s": [0.0],
            "text": ["Hi"],
            "valid": [True],
        }
    )
    stimuli, frames, frame_time_s = build_stimuli([events], "m", movie)
    with atomic_zarr(tmp_path / "frames.zarr") as group:
        write_frames(group, frames, frame_time_s)
    stored = FramesStore(tmp_path / "frames.zarr").frames
    assert stored.shape == (1, WIDTH, HEIGHT, 3)
    assert _close(stored[int(stimuli["frame_index"][0])], np.rot90(_quadrants()))


@pytest.mark.parametrize("suffix, rotation, tags", [("mp4", 30, None), ("mkv", None, {"rotate": "45"})])
def test_a_turn_by_other_than_a_right_angle_is_a_one_line_error(tmp_path, suffix, rotation, tags):
    movie = tmp_path / f"tilted.{suffix}"
    _write_movie(movie, [_quadrants()] * 3, rotation=rotation, tags=tags)
    with pytest.raises(DatasetError, match=rf"tilted.{suffix}: .*not a multiple of 90.*re-encode") as error:
        decode_frames(movie, np.array([0.0]))
    assert "\n" not in str(error.value)


def _grey_movie(path, pts):
    """Frame i is uniformly grey level 7 i, shown at ``pts[i] / 30`` s."""
    _write_movie(path, [np.full((HEIGHT, WIDTH, 3), 7 * i, np.uint8) for i in range(len(pts))], pts=pts)


def _shown(decoded, k: int) -> int:
    """The grey frame number chosen for the k-th requested time."""
    return round(float(decoded.frames[decoded.index[k]].mean()) / 7)


def test_an_event_while_the_last_frame_of_a_variable_rate_movie_is_on_screen_maps_to_it(tmp_path):
    """30 fps, then 10 fps: an event 50 ms after the last frame's timestamp was refused (allowance 1 / average rate)."""
    movie = tmp_path / "vfr.mp4"
    pts = [*range(30), 32, 35]  # 30 frames at 30 fps, then two 100 ms gaps
    _grey_movie(movie, pts)
    with av.open(str(movie)) as container:
        assert 1 / float(container.streams.video[0].average_rate) < 0.05  # the old allowance fell short
    last = 35 / 30
    decoded = decode_frames(movie, np.array([0.5, last + 0.05, last + 0.099, last - 0.05]))
    assert [_shown(decoded, k) for k in range(4)] == [15, 31, 31, 31]
    np.testing.assert_allclose(decoded.frame_time_s[decoded.index[1:]], last, atol=1e-6)
    with pytest.raises(DatasetError, match="vfr.mp4: 1 requested times reach .* do not belong to this movie file"):
        decode_frames(movie, np.array([0.5, last + 0.11]))  # past the last frame's 100 ms on screen


def test_a_long_last_gap_holds_the_last_frame_that_long(tmp_path):
    movie = tmp_path / "slow_end.mp4"
    pts = [*range(10), 16]  # 30 fps, then one 200 ms gap
    _grey_movie(movie, pts)
    last = 16 / 30
    assert [_shown(decode_frames(movie, np.array([last + 0.15])), 0)] == [10]
    with pytest.raises(DatasetError, match=r"do not belong to this movie file, or their movie times are not seconds"):
        decode_frames(movie, np.array([last + 0.25]))


def test_a_constant_rate_movie_holds_its_last_frame_one_period(tmp_path):
    movie = tmp_path / "cfr.mp4"
    _write_movie(movie, [np.full((HEIGHT, WIDTH, 3), 7 * i, np.uint8) for i in range(12)], rate=24)
    last = 11 / 24
    assert _shown(decode_frames(movie, np.array([last + 0.04])), 0) == 11  # within 1/24 s
    with pytest.raises(DatasetError, match="its last frame is at 0.458 s; the events do not belong"):
        decode_frames(movie, np.array([last + 0.05]))
