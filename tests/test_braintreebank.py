"""The Brain Treebank reader: labels, streaming, clock, transcript, and one-line errors on damaged input."""

from __future__ import annotations

import logging
import shutil

import h5py
import numpy as np
import pandas as pd
import pytest

from vlencode.datasets import DatasetError, open_dataset
from vlencode.datasets import replica as replica_module
from vlencode.datasets.base import split_label
from vlencode.datasets.braintreebank import BrainTreebank, clean_label, clock_from_timings, is_neural
from vlencode.neural.stream import line_frequency


@pytest.fixture
def damaged(replica, tmp_path):
    """A private copy of the small replica to break (hard links would let damage reach the shared copy)."""
    root = tmp_path / "copy"
    shutil.copytree(replica, root, ignore=shutil.ignore_patterns("movies"))
    return root


def assert_one_line_naming(error: pytest.ExceptionInfo, name: str) -> None:
    message = str(error.value)
    assert "\n" not in message and name in message, message


def test_label_helpers():
    assert clean_label("T1cIf10*") == "T1cIf10" and clean_label("#LT_3a1") == "LT3a1"
    assert split_label("T1cIf10") == ("T1cIf", 10) and split_label("F10Fa14") == ("F10Fa", 14)
    assert split_label("TRIG") == ("TRIG", -1)
    assert not is_neural("DC10") and not is_neural("trig1*") and is_neural("T2aA1")


def test_open_dataset_builds_the_reader(replica):
    dataset = open_dataset({"dataset": {"format": "braintreebank", "root": str(replica)}})
    assert isinstance(dataset, BrainTreebank)
    with pytest.raises(DatasetError, match="dataset root not found"):
        BrainTreebank(replica / "missing")


def test_read_streams_slices_of_the_right_channels(replica):
    dataset = BrainTreebank(replica)
    recording = dataset.recording("5", "0")
    raw = dataset.raw_labels("5")
    positions = [[clean_label(x) for x in raw].index(label) for label in recording.labels]
    with h5py.File(replica / "all_subject_data/sub_5_trial000.h5") as handle:
        expected = np.stack([handle["data"][f"electrode_{i}"][5000:6000] for i in positions], axis=1)
    assert np.array_equal(recording.read(5000, 6000), expected)
    chunks = list(recording.chunks(30000))
    assert [start for start, _ in chunks] == list(range(0, recording.n_samples, 30000))
    assert sum(block.shape[0] for _, block in chunks) == recording.n_samples
    assert recording.read(recording.n_samples - 10, recording.n_samples + 50).shape[0] == 10


def test_clock_parses_pauses_and_measures_drift(tmp_path):
    path = tmp_path / "timings.csv"
    pd.DataFrame(
        {
            "type": ["start", "trigger", "pause", "unpause", "trigger", "end"],
            "movie_time": [10.0, 11.0, 12.0, 12.0, 13.0, 14.0],
            "start_time": 0.0,
            "end_time": 0.0,
            "trig_type": ["movie beginning", "movie", "pause", "unpause", "movie", "movie end"],
            "index": [0, 2048, 4096 + 3, 20000, 22048 - 5, 24096],
            "diff": 0,
        }
    ).to_csv(path, index=False)
    clock = clock_from_timings(path)
    assert clock.pauses_s == ((12.0, 12.0),)
    assert clock.max_residual_samples == 5  # 22043 -> 24096 is 2053 samples for one second
    assert clock.to_sample(np.array([10.5, 12.4, 13.0, 14.5])).tolist() == [1024, 20000 + 819, 22043, -1]


def test_a_non_numeric_trigger_is_an_error_naming_its_row(tmp_path):
    path = tmp_path / "timings.csv"
    pd.DataFrame(
        {
            "type": ["start", "trigger", "trigger", "end"],
            "movie_time": [10.0, 11.0, "x", 14.0],
            "start_time": 0.0,
            "end_time": 0.0,
            "trig_type": ["movie beginning", "movie", "movie", "movie end"],
            "index": [0, 2048, 4096, 8192],
            "diff": 0,
        }
    ).to_csv(path, index=False)
    with pytest.raises(
        DatasetError, match=r"timings\.csv: empty or non-numeric movie_time/index at row 2 \(CSV line 4"
    ):
        clock_from_timings(path)


def test_words_after_the_last_trigger_are_logged_and_map_to_minus_one(damaged, caplog):
    path = damaged / "subject_timings/sub_5_trial000_timings.csv"
    timings = pd.read_csv(path)
    timings.head(len(timings) // 2).to_csv(path, index=False)
    dataset = BrainTreebank(damaged)
    with caplog.at_level(logging.INFO, logger="vlencode.datasets.braintreebank"):
        words = dataset.words("5", "0")
    late = words["start_s"].to_numpy() > dataset.clock("5", "0").movie_time_s[-1]
    assert late.sum() > 0
    assert f"{late.sum()} word(s) start after the last trigger" in caplog.text
    assert (dataset.clock("5", "0").to_sample(words["start_s"].to_numpy()[late]) == -1).all()


def test_truncated_h5_is_a_one_line_error(damaged):
    path = damaged / "all_subject_data/sub_1_trial000.h5"
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.truncate(size // 2)
    with pytest.raises(DatasetError) as error:
        BrainTreebank(damaged).recording("1", "0")
    assert_one_line_naming(error, str(path))
    assert "download it again" in str(error.value)


def test_missing_channel_dataset_is_a_one_line_error(damaged):
    path = damaged / "all_subject_data/sub_1_trial000.h5"
    with h5py.File(path, "r+") as handle:
        del handle["data/electrode_1"]
    with pytest.raises(DatasetError) as error:
        BrainTreebank(damaged).recording("1", "0")
    assert_one_line_naming(error, "data/electrode_1")
    assert str(path) in str(error.value)


def test_non_monotonic_triggers_are_a_one_line_error(damaged):
    path = damaged / "subject_timings/sub_5_trial000_timings.csv"
    table = pd.read_csv(path)
    table.loc[10, "index"] = table.loc[8, "index"]
    table.to_csv(path, index=False)
    with pytest.raises(DatasetError) as error:
        BrainTreebank(damaged).clock("5", "0")
    assert_one_line_naming(error, str(path))
    assert "row 10" in str(error.value)


@pytest.mark.parametrize(
    ("relative", "damage", "name"),
    [
        ("subject_metadata/sub_5_trial000_metadata.json", "{}", "metadata.json"),
        ("subject_timings/sub_5_trial000_timings.csv", "movie_time,index\n1,2\n", "trig_type"),
    ],
)
def test_other_damaged_files_are_one_line_errors(damaged, relative, damage, name):
    (damaged / relative).write_text(damage)
    dataset = BrainTreebank(damaged)
    with pytest.raises(DatasetError) as error:
        dataset.recording("5", "0") if "corrupted" in relative else dataset.words("5", "0")
    assert_one_line_naming(error, name)


def test_line_frequency_is_the_us_mains_and_every_exclusion_is_logged(replica, caplog):
    dataset = BrainTreebank(replica)
    with caplog.at_level(logging.INFO, logger="vlencode"):
        recording = dataset.recording("5", "0")
        assert line_frequency("auto", recording) == (60.0, recording.line_freq_source)
    assert recording.line_freq_hz == replica_module.LINE_HZ  # the replica's line noise, in the Brain Treebank format
    assert "line frequency 60 Hz from the Brain Treebank's 60 Hz mains (recorded in the US)" in caplog.text
    corrupted = dataset.corrupted("5")
    left_out = [clean_label(x) for x in dataset.raw_labels("5") if clean_label(x) not in recording.labels]
    assert left_out and corrupted <= set(left_out)
    for label in left_out:
        reason = "listed in corrupted_elec.json" if label in corrupted else "not neural"
        assert f"{label} excluded: " in caplog.text and reason in caplog.text.split(f"{label} excluded: ")[1]
        assert reason in recording.excluded[label]  # carried to the neural store's dropped channels and QC
    assert sorted(recording.excluded) == sorted(left_out)
    assert dataset.electrodes("5")["electrode"].tolist() == recording.labels


def test_a_configured_trial_the_dataset_lacks_names_its_recordings_entry(replica):
    from vlencode.datasets import trial_movies

    config = {
        "dataset": {
            "format": "braintreebank",
            "root": str(replica),
            "recordings": [{"subject": "1", "trial": "0"}, {"subject": "1", "trial": "9"}],
        },
        "replica": {"enabled": False},
    }
    with pytest.raises(DatasetError) as error:
        trial_movies(config, source="mine.yaml")
    assert_one_line_naming(error, "mine.yaml: dataset.recordings[1] (subject 1, trial 9): ")
    assert "sub_1_trial009_metadata.json: missing trial metadata" in str(error.value)
