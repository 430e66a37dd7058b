"""vlencode.datasets.bids on a tiny BIDS iEEG dataset written here with mne-bids (BrainVision, SEEG, MNI space)."""

from __future__ import annotations

import shutil
from pathlib import Path

import mne
import mne_bids
import numpy as np
import pandas as pd
import pytest

from vlencode import store
from vlencode.datasets import DatasetError, open_dataset
from vlencode.datasets.base import ELECTRODE_COLUMNS, WORD_COLUMNS
from vlencode.neural import write_neural_store

RATE_HZ = 512.0
LABELS = ["LA1", "LA2", "LA3", "LA4", "LB1", "LB2", "LB3", "DC1"]
WORDS = ["the", "fox", "ran.", "a", "hen", "sat!"]


def write_brainvision(stem: Path, data_uv: np.ndarray, names: list[str]) -> Path:
    """A minimal BrainVision triplet (float32, multiplexed, microvolts); mne-bids copies it without conversion."""
    stem.with_suffix(".eeg").write_bytes(np.asarray(data_uv, "<f4").tobytes())
    channels = "\n".join(f"Ch{i + 1}={name},,1,µV" for i, name in enumerate(names))
    stem.with_suffix(".vhdr").write_text(
        "Brain Vision Data Exchange Header File Version 1.0\n\n[Common Infos]\nCodepage=UTF-8\n"
        f"DataFile={stem.name}.eeg\nMarkerFile={stem.name}.vmrk\nDataFormat=BINARY\nDataOrientation=MULTIPLEXED\n"
        f"NumberOfChannels={len(names)}\nSamplingInterval={1e6 / RATE_HZ}\n\n[Binary Infos]\n"
        f"BinaryFormat=IEEE_FLOAT_32\n\n[Channel Infos]\n{channels}\n",
        encoding="utf-8",
    )
    stem.with_suffix(".vmrk").write_text(
        "Brain Vision Data Exchange Marker File, Version 1.0\n\n[Common Infos]\nCodepage=UTF-8\n"
        f"DataFile={stem.name}.eeg\n\n[Marker Infos]\nMk1=New Segment,,1,1,0\n",
        encoding="utf-8",
    )
    return stem.with_suffix(".vhdr")


@pytest.fixture(scope="module")
def bids_root(tmp_path_factory) -> tuple[Path, np.ndarray]:
    tmp = tmp_path_factory.mktemp("bids")
    rng = np.random.default_rng(0)
    data = rng.normal(scale=20.0, size=(int(12 * RATE_HZ), len(LABELS))).astype(np.float32)
    raw = mne.io.read_raw_brainvision(write_brainvision(tmp / "source", data, LABELS), verbose=False)
    raw.set_channel_types({name: "seeg" for name in LABELS[:-1]} | {"DC1": "misc"}, verbose=False)
    raw.info["line_freq"] = 60
    raw.info["bads"] = ["LB3"]
    onsets = [1.0, 1.5, 2.0, 4.0, 4.25, 4.75]  # on the sample grid, as mne-bids writes them
    raw.set_annotations(mne.Annotations(onsets + [3.0, 6.5], [0.3] * 6 + [0, 0], ["word"] * 6 + ["scene"] * 2))
    positions = {name: np.array([-0.03 + 0.01 * i, 0.01, 0.02]) for i, name in enumerate(LABELS[:-1])}
    montage = mne.channels.make_dig_montage(ch_pos=positions, coord_frame="unknown")
    root = tmp / "dataset"
    path = mne_bids.BIDSPath(subject="1", task="fox", run="0", root=root, datatype="ieeg", space="MNI152NLin2009aSym")
    mne_bids.write_raw_bids(raw, path, montage=montage, verbose=False)
    events_path = Path(path.copy().update(suffix="events", extension=".tsv").fpath)
    events = pd.read_csv(events_path, sep="\t")
    events = events.sort_values("onset")
    events["word"] = _interleave(events["trial_type"].tolist())
    events.to_csv(events_path, sep="\t", index=False)
    return root, data


def _interleave(trial_types: list[str]) -> list[str]:
    """The spoken word of each word event in onset order, ``n/a`` for scene events."""
    words = iter(WORDS)
    return [next(words) if kind == "word" else "n/a" for kind in trial_types]


def test_recording_keeps_good_seeg_channels_and_reads_microvolts(bids_root):
    root, data = bids_root
    dataset = open_dataset({"dataset": {"format": "bids", "root": str(root), "bids_task": "fox"}})
    recording = dataset.recording("1", "0")
    assert recording.labels == ["LA1", "LA2", "LA3", "LA4", "LB1", "LB2"]  # LB3 bad, DC1 not neural
    assert recording.rate_hz == RATE_HZ and recording.n_samples == len(data)
    np.testing.assert_allclose(recording.read(100, 140), data[100:140, :6], rtol=1e-5, atol=1e-4)


def test_electrodes_are_in_mni_millimetres(bids_root):
    root, _ = bids_root
    table = open_dataset({"dataset": {"format": "bids", "root": str(root)}}).electrodes("1")
    assert list(table.columns) == ELECTRODE_COLUMNS
    row = table.set_index("electrode").loc["LA2"]
    assert (row.shaft, row.contact, row.hemisphere) == ("LA", 2, "L")
    np.testing.assert_allclose([row.x_mni, row.y_mni, row.z_mni], [-20.0, 10.0, 20.0])


def test_words_clock_movie_and_scene_cuts(bids_root):
    root, _ = bids_root
    dataset = open_dataset({"dataset": {"format": "bids", "root": str(root)}})
    words = dataset.words("1", "0")
    assert list(words.columns) == WORD_COLUMNS
    assert words["word"].tolist() == WORDS
    assert words["sentence_idx"].tolist() == [0, 0, 0, 1, 1, 1]
    assert words["sentence"].iloc[4] == "a hen sat!" and words["is_onset"].tolist() == [1, 0, 0, 1, 0, 0]
    np.testing.assert_allclose(words["start_s"], [1.0, 1.5, 2.0, 4.0, 4.25, 4.75])
    clock = dataset.clock("1", "0")
    np.testing.assert_array_equal(clock.to_sample(np.array([1.0, 4.25])), [512, 2176])
    assert dataset.movie("1", "0") == "fox"
    np.testing.assert_allclose(dataset.scene_cuts("fox"), [3.0, 6.5])
    assert dataset.scene_cuts("other") is None
    names = {p.name for p in dataset.input_files("1", "0")}
    assert {
        "sub-1_task-fox_run-0_space-MNI152NLin2009aSym_ieeg.eeg",
        "sub-1_space-MNI152NLin2009aSym_electrodes.tsv",
    } <= names


def test_preprocess_runs_on_the_bids_recording(bids_root, tmp_path):
    root, _ = bids_root
    recording = open_dataset({"dataset": {"format": "bids", "root": str(root)}}).recording("1", "0")
    write_neural_store(recording, {"rate_hz": 128, "chunk_s": 4.0}, tmp_path / "neural.zarr")
    group = store.open_zarr(tmp_path / "neural.zarr")
    assert list(group["electrode"][:]) == ["LA2", "LA3"]
    assert group["signal"].shape == (12 * 128, 2)


def test_unknown_trial_and_missing_events_are_one_line_errors(bids_root, tmp_path):
    root, _ = bids_root
    dataset = open_dataset({"dataset": {"format": "bids", "root": str(root)}})
    with pytest.raises(DatasetError, match=r"no iEEG recording of sub-1 for trial '7' \(trials found: \['0'\]\)"):
        dataset.recording("1", "7")
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    events = next(copy.rglob("*_events.tsv"))
    events.unlink()
    with pytest.raises(DatasetError, match=f"{events}: missing events file") as error:
        open_dataset({"dataset": {"format": "bids", "root": str(copy)}}).words("1", "0")
    assert "\n" not in str(error.value)
    with pytest.raises(DatasetError, match="BIDS root not found"):
        open_dataset({"dataset": {"format": "bids", "root": str(tmp_path / "absent")}})
