"""Events: word, sentence and scene events, their texts, samples and validity on a small hand-made dataset."""

import logging
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest

from vlencode.datasets.base import WORD_COLUMNS, ClockAlignment, Dataset, DatasetError, Recording
from vlencode.stimuli.events import EVENT_COLUMNS, build_events, prefix_texts, scene_cut_times, stimulus_id
from vlencode.store import write_parquet

RATE_HZ = 2048.0
MOVIE = "tiny-movie"
SENTENCES = [  # (sentence, [(word, onset_s), ...])
    ("Hello there, friend.", [("Hello", 1.0), ("there", 1.4), ("friend", 1.8)]),
    ("How are you?", [("How", 3.0), ("are", 3.3), ("you", 3.6)]),
    ("Fine.", [("Fine", 6.0)]),  # inside the pause
    ("Late words here.", [("Late", 25.0), ("words", 25.5), ("here", 26.0)]),  # after the last trigger (20 s)
]
CUTS_S = np.array([0.5, 2.5, 5.0, 8.0])  # 0.5 s precedes every sentence
CFG = {
    "events": {"text_context": "prefix"},
    "stimuli": {"scene_detection": {"threshold": 27.0, "min_scene_len_s": 0.5}},
}


class TinyRecording(Recording):
    def __init__(self, n_samples: int):
        self.path = Path("tiny.h5")
        self.rate_hz = RATE_HZ
        self.n_samples = n_samples
        self.labels = ["A1", "A2"]

    def read(self, start, stop):
        return np.zeros((stop - start, 2), dtype=np.float32)


class TinyDataset(Dataset):
    """Subjects "1" and "2" watched the same movie; their recordings start at different samples."""

    def __init__(self, movie_path: Path = Path("missing.mp4"), cuts: np.ndarray | None = CUTS_S, n_samples=None):
        self.root = Path("tiny")
        self._movie_path = movie_path
        self._cuts = cuts
        self._n_samples = n_samples
        self._offset = {"1": 4096, "2": 10_000}

    def recording(self, subject, trial):
        return TinyRecording(self._n_samples or self._offset[subject] + int(30 * RATE_HZ))

    def electrodes(self, subject):
        raise NotImplementedError("events do not read electrodes")

    def clock(self, subject, trial):
        anchors = np.array([0.0, 10.0, 20.0])
        return ClockAlignment(
            movie_time_s=anchors,
            sample=self._offset[subject] + np.rint(anchors * RATE_HZ).astype(np.int64),
            rate_hz=RATE_HZ,
            max_residual_samples=0.25,
            pauses_s=((5.5, 6.5),),
        )

    def words(self, subject, trial):
        rows = []
        for sentence_idx, (sentence, words) in enumerate(SENTENCES):
            for position, (word, onset) in enumerate(words):
                rows.append((len(rows), onset, onset + 0.3, word, sentence, sentence_idx, position, position == 0))
        return pd.DataFrame(rows, columns=WORD_COLUMNS).sample(frac=1.0, random_state=0)  # order must not matter

    def movie(self, subject, trial):
        return MOVIE

    def movie_path(self, movie):
        return self._movie_path

    def scene_cuts(self, movie, recordings=()):
        return self._cuts

    def recording_files(self, subject, trial):
        return []

    def event_files(self, subject, trial, movie):
        return []

    def scene_cut_files(self, movie, recordings):
        return []


def _by(events, alignment):
    return events[events["alignment"] == alignment].reset_index(drop=True)


def test_counts_and_columns():
    events, counts = build_events(TinyDataset(), "1", "0", CFG)
    assert list(events.columns) == EVENT_COLUMNS
    assert events["event_id"].is_unique
    assert [len(_by(events, a)) for a in ("word", "sentence", "scene")] == [10, 4, 4]
    assert counts["word"] == {
        "total": 10,
        "valid": 6,
        "after_last_trigger": 3,
        "outside_recording": 0,
        "in_pause": 1,
        "no_text": 0,
        "duplicate": 0,
    }
    assert (counts["sentence"]["valid"], counts["sentence"]["in_pause"], counts["sentence"]["after_last_trigger"]) == (
        2,
        1,
        1,
    )
    assert (counts["scene"]["valid"], counts["scene"]["no_text"]) == (3, 1)
    assert counts["max_residual_samples"] == 0.25
    assert set(events["trial"]) == {"0"} and set(events["movie"]) == {MOVIE}


def test_word_texts_samples_and_validity():
    events, _ = build_events(TinyDataset(), "1", "0", CFG)
    words = _by(events, "word")
    assert list(words["text"][:4]) == ["Hello", "Hello there,", "Hello there, friend.", "How"]
    assert list(words["word"][:3]) == ["Hello", "there", "friend"]
    assert words["sample"][0] == 4096 + 2048  # 1.0 s after the trigger at movie time 0
    assert words["sample"][1] == 4096 + round(1.4 * RATE_HZ)
    paused = words[words["word"] == "Fine"].iloc[0]
    assert not paused["valid"] and paused["invalid_reason"] == "in_pause" and paused["sample"] >= 0
    late = words[words["sentence_idx"] == 3]
    assert not late["valid"].any() and (late["sample"] == -1).all()
    assert set(late["invalid_reason"]) == {"after_last_trigger"}
    assert (words["frame_time_s"] == words["onset_s"]).all()


def test_sentence_and_scene_events():
    events, _ = build_events(TinyDataset(), "1", "0", CFG)
    sentences = _by(events, "sentence")
    assert list(sentences["onset_s"]) == [1.0, 3.0, 6.0, 25.0]
    assert list(sentences["text"]) == ["Hello", "How", "Fine.", "Late"]  # the prefix rule: the first word
    scenes = _by(events, "scene")
    assert list(scenes["onset_s"]) == list(CUTS_S)
    assert list(scenes["text"]) == ["", "Hello there, friend.", "How are you?", "Fine."]
    assert list(scenes["sentence_idx"]) == [-1, 0, 1, 2]
    assert list(scenes["valid"]) == [False, True, True, True]
    assert scenes["invalid_reason"][0] == "no_text"


def test_whole_sentence_context():
    cfg = {**CFG, "events": {"text_context": "sentence"}}
    events, _ = build_events(TinyDataset(), "1", "0", cfg)
    assert list(_by(events, "word")["text"][:3]) == ["Hello there, friend."] * 3
    assert list(_by(events, "sentence")["text"][:2]) == ["Hello there, friend.", "How are you?"]


def test_stimulus_ids_are_shared_across_subjects_of_a_movie():
    first, _ = build_events(TinyDataset(), "1", "0", CFG)
    second, _ = build_events(TinyDataset(), "2", "0", CFG)
    assert list(first["stimulus_id"]) == list(second["stimulus_id"])
    assert not (first["sample"][first["valid"]] == second["sample"][second["valid"]]).any()
    words = _by(first, "word")
    assert words["stimulus_id"][0] == stimulus_id(MOVIE, 1.0, "Hello")
    assert words["stimulus_id"].nunique() == len(words)
    assert stimulus_id(MOVIE, 1.0, "Hello") == stimulus_id(MOVIE, 1.0004, "Hello")
    assert stimulus_id(MOVIE, 1.0, "Hello") != stimulus_id(MOVIE, 1.001, "Hello")
    assert stimulus_id(MOVIE, 1.0, "Hello") != stimulus_id("other-movie", 1.0, "Hello")


def test_events_outside_the_recording_are_invalid():
    events, counts = build_events(TinyDataset(n_samples=4096 + int(3.2 * RATE_HZ)), "1", "0", CFG)
    # "are" (3.3 s), "you" (3.6 s) and "Fine" (6.0 s, also paused: the first reason that applies is counted).
    assert counts["word"]["outside_recording"] == 3
    assert counts["word"]["in_pause"] == 0 and counts["word"]["valid"] == 4
    outside = events[events["invalid_reason"] == "outside_recording"]
    assert (outside["sample"] == -1).all()


def test_prefix_falls_back_to_joined_words_when_the_sentence_disagrees():
    assert prefix_texts("Well, I'm here!", ["Well", "I'm", "here"]) == ["Well,", "Well, I'm", "Well, I'm here!"]
    assert prefix_texts("Gonna go.", ["Going", "to", "go"]) == ["Going", "Going to", "Going to go"]


def test_bad_text_context_and_transcript_are_one_line_errors():
    with pytest.raises(ValueError, match="events.text_context"):
        build_events(TinyDataset(), "1", "0", {**CFG, "events": {"text_context": "paragraph"}})

    class NoSentences(TinyDataset):
        def words(self, subject, trial):
            return super().words(subject, trial).drop(columns="sentence")

    with pytest.raises(DatasetError, match=r"transcript lacks columns \['sentence'\]"):
        build_events(NoSentences(), "1", "0", CFG)


def test_a_dataset_giving_missing_times_never_reaches_the_table(caplog):
    """Any reader's NaN times: words without a start are dropped and counted, a NaN cut is a one-line error."""

    class Holes(TinyDataset):
        def words(self, subject, trial):
            words = super().words(subject, trial)
            words.loc[words["word"] == "there", "start_s"] = np.nan
            return words

    with caplog.at_level(logging.INFO, logger="vlencode"):
        events, counts = build_events(Holes(), "1", "0", CFG)
    assert counts["word"]["total"] == 9 and np.isfinite(events["onset_s"]).all()
    assert "1 of 10 word(s) without a start time dropped" in caplog.text
    with pytest.raises(DatasetError, match=rf"scene cuts of {MOVIE} include 1 non-finite time") as error:
        build_events(TinyDataset(cuts=np.array([0.5, np.nan, 5.0])), "1", "0", CFG)
    assert "\n" not in str(error.value)


def _solid_scene_movie(path: Path, cut_frames: list[int], n_frames: int, fps: int = 24) -> None:
    colors = [(220, 40, 40), (20, 100, 20), (60, 60, 250), (240, 240, 60)]  # hue and brightness both jump
    scene = np.searchsorted(cut_frames, np.arange(n_frames), side="right")
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        for i in range(n_frames):
            image = np.empty((32, 48, 3), np.uint8)
            image[:] = colors[scene[i] % len(colors)]
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.mark.parametrize("mode, annotation", [("detect", CUTS_S), ("annotation", None)])
def test_cuts_are_detected_in_the_movie_when_asked_or_unannotated(tmp_path, mode, annotation):
    movie = tmp_path / "tiny.mp4"
    _solid_scene_movie(movie, [36, 72, 144], n_frames=216)
    dataset = TinyDataset(movie, cuts=annotation)
    cuts, source = scene_cut_times(dataset, MOVIE, [("1", "0")], mode, CFG["stimuli"]["scene_detection"])
    assert source == "detect"
    events, _ = build_events(dataset, "1", "0", CFG, cuts=cuts)
    np.testing.assert_allclose(_by(events, "scene")["onset_s"], [1.5, 3.0, 6.0], atol=1e-6)


def test_detection_without_the_movie_is_a_one_line_error():
    with pytest.raises(DatasetError, match="missing.mp4: movie file not found"):
        scene_cut_times(TinyDataset(cuts=None), MOVIE, [("1", "0")], "annotation", CFG["stimuli"]["scene_detection"])


def test_the_same_inputs_give_a_byte_identical_table(tmp_path):
    for name in ("a", "b"):
        events, _ = build_events(TinyDataset(), "1", "0", CFG)
        write_parquet(events, tmp_path / f"{name}.parquet", params=CFG)
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
