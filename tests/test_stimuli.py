"""Frames at exact times, scene-cut detection against planted cuts, and the unique stimuli of a movie.

Everything runs on a small replica (:mod:`vlencode.datasets.replica`): its movie carries each frame's index in a corner
code and its scene annotation lists the planted cuts.
"""

import numpy as np
import pandas as pd
import pytest

from vlencode.datasets.base import DatasetError
from vlencode.datasets.braintreebank import BrainTreebank
from vlencode.datasets.replica import build_replica, read_frame_code
from vlencode.stimuli.events import build_events, stimulus_id
from vlencode.stimuli.frames import decode_frames, frame_sha256
from vlencode.stimuli.scenes import detect_cuts
from vlencode.stimuli.table import STIMULUS_COLUMNS, build_stimuli

FPS = 24
REPLICA = {
    "minutes": 0.25,
    "electrodes_per_subject": 4,
    "frame_size": [32, 48],
    "fps": FPS,
    "mean_scene_s": 3.0,
    "corrupted_per_subject": 0,
    "plant_null": False,
    "seed": 0,
}
EVENTS_CFG = {"events": {"text_context": "prefix"}, "stimuli": {"scene_detection": {"threshold": 27.0}}}


@pytest.fixture(scope="module")
def replica(tmp_path_factory):
    """Subjects 1 and 5 both watched fantastic-mr-fox; returns the dataset, the movie and its file."""
    root = build_replica(tmp_path_factory.mktemp("replica") / "tree", REPLICA, [("1", "0"), ("5", "0")])
    dataset = BrainTreebank(root)
    movie = dataset.movie("1", "0")
    return dataset, movie, dataset.movie_path(movie)


@pytest.fixture(scope="module")
def movie(replica):
    return replica[2]


def n_frames(path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_the_frame_at_or_just_after_each_time(movie):
    times = np.array([0.0, 1.0, 1.0 + 1e-7, 1.0 + 1e-3, 1.0 - 1e-3, 10.5, 3.25, 0.2, 0.2])
    decoded = decode_frames(movie, times)
    codes = [read_frame_code(decoded.frames[i]) for i in decoded.index]
    assert codes == [0, 24, 24, 25, 24, 252, 78, 5, 5]  # ceil(t * 24) within the 1e-6 s tolerance
    assert decoded.frames.shape == (6, 32, 48, 3) and decoded.frames.dtype == np.uint8
    assert np.all(np.diff(decoded.frame_time_s) > 0)
    np.testing.assert_allclose(decoded.frame_time_s[decoded.index[:2]], [0.0, 1.0])


def test_every_frame_of_a_dense_request_carries_its_code_and_the_tail_maps_to_the_last(movie):
    n = n_frames(movie)
    times = np.append(np.arange(n) / FPS, (n - 0.5) / FPS)  # the last time: after the last frame, still on screen
    decoded = decode_frames(movie, times)
    assert [read_frame_code(frame) for frame in decoded.frames] == list(range(n))
    assert decoded.index[-1] == n - 1


def test_times_beyond_the_movie_are_a_one_line_error(movie):
    with pytest.raises(DatasetError, match="do not belong to this movie"):
        decode_frames(movie, np.array([1.0, 10_000.0]))


def test_detected_cuts_match_the_planted_cuts_within_one_frame(replica):
    dataset, name, path = replica
    planted = dataset.scene_cuts(name)
    detected = detect_cuts(path, threshold=27.0, min_scene_len_s=0.5)
    distance = np.abs(detected[:, None] - planted[None, :])
    precision = float(np.mean(distance.min(axis=1) <= 1.0 / FPS + 1e-6))
    recall = float(np.mean(distance.min(axis=0) <= 1.0 / FPS + 1e-6))
    print(
        f"scene cuts: {len(planted)} planted, {len(detected)} detected, precision {precision:.3f} recall {recall:.3f}"
    )
    assert len(planted) >= 20
    assert precision >= 0.9 and recall >= 0.9


def test_missing_and_corrupt_movies_are_one_line_errors(tmp_path):
    with pytest.raises(DatasetError, match="absent.mp4: movie file not found"):
        decode_frames(tmp_path / "absent.mp4", np.array([0.0]))
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    for call in (lambda: decode_frames(corrupt, np.array([0.0])), lambda: detect_cuts(corrupt)):
        with pytest.raises(DatasetError, match="corrupt.mp4: .*replace") as error:
            call()
        assert "\n" not in str(error.value)


def _events(movie_name, rows):
    """Events rows ``(onset_s, text, valid)`` of one movie, as the events rule writes them."""
    return pd.DataFrame(
        {
            "stimulus_id": [stimulus_id(movie_name, t, text) for t, text, _ in rows],
            "movie": movie_name,
            "frame_time_s": [t for t, _, _ in rows],
            "text": [text for _, text, _ in rows],
            "valid": [valid for _, _, valid in rows],
        }
    )


def test_stimuli_are_unique_over_subjects_with_each_frame_decoded_once(movie):
    subject_1 = _events("fox", [(1.0, "Hello", True), (1.0, "Before.", True), (2.01, "Hello there", True)])
    subject_2 = _events("fox", [(1.0, "Hello", True), (2.01, "Hello there", True), (5.0, "Gone", False)])
    other_movie = _events("other", [(3.0, "Elsewhere", True)])
    stimuli, frames, frame_time_s = build_stimuli([subject_1, subject_2, other_movie], "fox", movie)

    assert list(stimuli.columns) == STIMULUS_COLUMNS
    assert list(stimuli["text"]) == ["Before.", "Hello", "Hello there"]
    assert stimuli["stimulus_id"].is_unique
    assert set(stimuli["stimulus_id"]) == set(subject_1["stimulus_id"])
    assert len(frames) == 2 == len(frame_time_s)  # 1.0 s shared by two texts; 2.01 s shows frame 49
    assert [read_frame_code(frames[i]) for i in stimuli["frame_index"]] == [24, 24, 49]
    np.testing.assert_allclose(stimuli["frame_time_s"], [1.0, 1.0, 49 / FPS])
    hashes = stimuli["frame_sha256"].tolist()
    assert hashes[0] == hashes[1] != hashes[2] and hashes == [frame_sha256(frames)[i] for i in stimuli["frame_index"]]
    assert (stimuli["movie"] == "fox").all()


def test_frame_hashes_follow_pixels_and_shape():
    frames = np.zeros((3, 4, 6, 3), dtype=np.uint8)
    frames[2, 1, 1, 0] = 1
    hashes = frame_sha256(frames)
    assert hashes[0] == hashes[1] != hashes[2]
    assert frame_sha256(frames.reshape(3, 6, 4, 3))[0] != hashes[0]  # same bytes, other shape


def test_replica_events_of_two_subjects_share_their_stimuli(replica):
    dataset, name, path = replica
    first, _ = build_events(dataset, "1", "0", EVENTS_CFG)
    second, counts = build_events(dataset, "5", "0", EVENTS_CFG)
    assert counts["word"]["valid"] > 0 and counts["scene"]["valid"] > 0
    assert set(first.loc[first["alignment"] == "word", "stimulus_id"]) == set(
        second.loc[second["alignment"] == "word", "stimulus_id"]
    )
    stimuli, frames, frame_time_s = build_stimuli([first, second], name, path)
    valid_ids = set(first.loc[first["valid"], "stimulus_id"]) | set(second.loc[second["valid"], "stimulus_id"])
    assert set(stimuli["stimulus_id"]) == valid_ids and stimuli["stimulus_id"].is_unique
    assert [read_frame_code(frame) for frame in frames] == list(np.rint(frame_time_s * FPS).astype(int))
    onsets = pd.concat([first, second]).drop_duplicates("stimulus_id").set_index("stimulus_id")["onset_s"]
    shown = stimuli.set_index("stimulus_id")["frame_time_s"]
    lag = shown - onsets.loc[shown.index]
    assert (lag >= -1e-6).all() and (lag < 1.0 / FPS).all()  # the frame at or just after each onset


def test_no_valid_events_is_a_one_line_error(movie):
    with pytest.raises(DatasetError, match="movie fox: no valid events"):
        build_stimuli([_events("fox", [(1.0, "Hello", False)])], "fox", movie)


def test_frames_can_be_shrunk_on_decoding(movie):
    full = decode_frames(movie, np.array([2.0, 7.0]))
    small = decode_frames(movie, np.array([2.0, 7.0]), max_side=24)
    assert small.frames.shape == (2, 16, 24, 3)
    np.testing.assert_array_equal(small.frame_time_s, full.frame_time_s)
    # Area interpolation keeps each frame's mean colour.
    np.testing.assert_allclose(small.frames.mean(axis=(1, 2)), full.frames.mean(axis=(1, 2)), atol=3.0)
