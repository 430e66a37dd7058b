"""vlencode.datasets.bids on a tiny BIDS iEEG dataset written here with mne-bids (BrainVision, SEEG, MNI space)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import mne
import mne_bids
import numpy as np
import pandas as pd
import pytest
from schema_defaults import schema_defaults

from vlencode import store
from vlencode.datasets import DatasetError, open_dataset
from vlencode.datasets._atlas import atlas_labels
from vlencode.datasets.base import ELECTRODE_COLUMNS, WORD_COLUMNS
from vlencode.datasets.bids import BidsRecording
from vlencode.neural import write_neural_store
from vlencode.stimuli.events import build_events

RATE_HZ = 512.0
LABELS = ["LA1", "LA2", "LA3", "LA4", "LB1", "LB2", "LB3", "DC1"]
WORDS = ["the", "fox", "ran.", "a", "hen", "sat!"]


#: The events settings (their schema defaults).
EVENTS_CFG = {"events": {"text_context": "prefix"}}


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
    np.testing.assert_allclose(dataset.scene_cuts("fox", [("1", "0")]), [3.0, 6.5])
    assert dataset.scene_cuts("other", []) is None
    assert [p.name for p in dataset.scene_cut_files("fox", [("1", "0")])] == [
        "sub-1_task-fox_run-0_space-MNI152NLin2009aSym_events.tsv"
    ]
    names = {p.name for p in dataset.recording_files("1", "0")}
    assert {
        "sub-1_task-fox_run-0_space-MNI152NLin2009aSym_ieeg.eeg",
        "sub-1_space-MNI152NLin2009aSym_electrodes.tsv",
    } <= names


def test_preprocess_runs_on_the_bids_recording(bids_root, tmp_path):
    root, _ = bids_root
    recording = open_dataset({"dataset": {"format": "bids", "root": str(root)}}).recording("1", "0")
    write_neural_store(
        recording, schema_defaults("preprocess", {"rate_hz": 128, "chunk_s": 4.0}), tmp_path / "neural.zarr"
    )
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


# --- real-world BIDS faults ------------------------------------------------------------------------------------------
@pytest.fixture
def bids_copy(bids_root, tmp_path) -> Path:
    """A private copy of the tiny dataset to edit."""
    copy = tmp_path / "copy"
    shutil.copytree(bids_root[0], copy)
    return copy


def _edit_tsv(root: Path, suffix: str, edit) -> Path:
    path = next(root.rglob(f"*_{suffix}.tsv"))
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    edit(table)
    table.to_csv(path, sep="\t", index=False)
    return path


def _edit_sidecar(root: Path, **fields) -> Path:
    path = next(root.rglob("*_ieeg.json"))
    path.write_text(json.dumps(json.loads(path.read_text()) | fields))
    return path


@pytest.mark.parametrize("missing", ["n/a", "NaN", "nan", ""])
def test_events_without_an_onset_are_dropped_and_counted(bids_copy, missing, caplog):
    def blank_first_scene_and_word(table):
        table.loc[(table["trial_type"] == "scene").idxmax(), "onset"] = missing
        table.loc[table["word"] == "hen", "onset"] = missing

    events_path = _edit_tsv(bids_copy, "events", blank_first_scene_and_word)
    dataset = open_dataset({"dataset": {"format": "bids", "root": str(bids_copy)}})
    with caplog.at_level(logging.INFO, logger="vlencode"):
        np.testing.assert_array_equal(dataset.scene_cuts("fox"), [6.5])
        assert dataset.words("1", "0")["word"].tolist() == ["the", "fox", "ran.", "a", "sat!"]
        events, counts = build_events(dataset, "1", "0", EVENTS_CFG)
    assert f"{events_path}: dropped 2 of 8 event row(s) without a usable onset (1 scene, 1 word)" in caplog.text
    assert caplog.text.count("without a usable onset") == 1  # once per file, however often it is read
    assert np.isfinite(events["onset_s"]).all() and counts["scene"]["total"] == 1
    assert counts["word"]["total"] == 5


@pytest.mark.parametrize("missing", ["N/A", "NA", "null", "None"])
def test_other_missing_spellings_are_dropped_and_named_where_mne_bids_cannot_read_them(bids_copy, missing, caplog):
    def blank_first_scene(table):
        table.loc[(table["trial_type"] == "scene").idxmax(), "onset"] = missing

    events_path = _edit_tsv(bids_copy, "events", blank_first_scene)
    dataset = open_dataset({"dataset": {"format": "bids", "root": str(bids_copy)}})
    with caplog.at_level(logging.INFO, logger="vlencode"):
        np.testing.assert_array_equal(dataset.scene_cuts("fox"), [6.5])
    assert f"{events_path}: dropped 1 of 8 event row(s) without a usable onset (1 scene)" in caplog.text
    with pytest.raises(DatasetError, match=rf"{events_path}: onset {missing!r} on line 5: mne-bids") as error:
        build_events(dataset, "1", "0", EVENTS_CFG)
    assert "\n" not in str(error.value) and "write n/a" in str(error.value)


def test_events_with_a_missing_movie_time_are_dropped_and_an_unreadable_onset_is_a_one_line_error(bids_copy, caplog):
    def add_movie_time(table):
        table["movie_time"] = table["onset"]
        table.loc[table["word"] == "fox", "movie_time"] = "n/a"

    _edit_tsv(bids_copy, "events", add_movie_time)
    dataset = open_dataset({"dataset": {"format": "bids", "root": str(bids_copy)}})
    with caplog.at_level(logging.INFO, logger="vlencode"):
        assert dataset.words("1", "0")["word"].tolist() == ["the", "ran.", "a", "hen", "sat!"]
    assert "dropped 1 of 8 event row(s) without a usable onset (1 word)" in caplog.text

    def garble(table):
        table.loc[table["word"] == "a", "onset"] = "4,0"

    path = _edit_tsv(bids_copy, "events", garble)
    dataset = open_dataset({"dataset": {"format": "bids", "root": str(bids_copy)}})
    with pytest.raises(DatasetError, match=rf"{path}: onset '4,0' on line 6 is not a number of seconds") as error:
        dataset.scene_cuts("fox")
    assert "\n" not in str(error.value)


def test_word_rows_without_a_word_are_dropped_and_counted(bids_copy, caplog):
    def forget(table):
        table.loc[table["word"].isin(["fox", "hen"]), "word"] = "n/a"

    path = _edit_tsv(bids_copy, "events", forget)
    with caplog.at_level(logging.INFO, logger="vlencode"):
        words = open_dataset({"dataset": {"format": "bids", "root": str(bids_copy)}}).words("1", "0")
    assert words["word"].tolist() == ["the", "ran.", "a", "sat!"]
    assert f"{path}: dropped 2 word row(s) without a word" in caplog.text


def test_missing_sentence_index_is_a_one_line_error(bids_copy):
    def index(table):
        table["sentence_idx"] = ["0", "0", "0", "n/a", "1", "n/a", "1", "n/a"]

    path = _edit_tsv(bids_copy, "events", index)
    with pytest.raises(DatasetError, match=rf"{path}: 1 word event\(s\) without a sentence_idx") as error:
        open_dataset({"dataset": {"format": "bids", "root": str(bids_copy)}}).words("1", "0")
    assert "\n" not in str(error.value)


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("vlencode")]


def _tone_recording(root: Path, freq_hz: float) -> None:
    """Replace every channel of the copy's recording by noise plus a strong ``freq_hz`` line."""
    eeg = next(root.rglob("*_ieeg.eeg"))
    data = np.fromfile(eeg, "<f4").reshape(-1, len(LABELS))
    t = np.arange(len(data)) / RATE_HZ
    data = data + 200.0 * np.sin(2 * np.pi * freq_hz * t)[:, None]
    eeg.write_bytes(data.astype("<f4").tobytes())


def test_line_frequency_comes_from_the_sidecar_and_an_explicit_value_overrides_it(bids_copy, tmp_path, caplog):
    sidecar = _edit_sidecar(bids_copy, PowerLineFrequency=50)
    _tone_recording(bids_copy, 50.0)
    recording = open_dataset({"dataset": {"format": "bids", "root": str(bids_copy)}}).recording("1", "0")
    assert recording.line_freq_hz == 50.0 and str(sidecar) in recording.line_freq_source
    cfg = {"rate_hz": 128, "chunk_s": 4.0, "reference": "none", "zscore": False, "despike": {"enabled": False}}
    with caplog.at_level(logging.INFO, logger="vlencode"):
        write_neural_store(
            recording, schema_defaults("preprocess", cfg | {"line_freq_hz": "auto"}), tmp_path / "auto.zarr"
        )
    auto = store.open_zarr(tmp_path / "auto.zarr")
    assert auto.attrs["line_freq_hz"] == 50.0 and auto.attrs["notch_hz"] == [50.0, 100.0, 150.0, 200.0, 250.0]
    assert str(sidecar) in auto.attrs["line_freq_source"]
    assert "line frequency 50 Hz" in caplog.text

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="vlencode"):
        write_neural_store(
            recording, schema_defaults("preprocess", cfg | {"line_freq_hz": 60}), tmp_path / "sixty.zarr"
        )
    sixty = store.open_zarr(tmp_path / "sixty.zarr")
    assert sixty.attrs["line_freq_hz"] == 60.0 and sixty.attrs["notch_hz"] == [60.0, 120.0, 180.0, 240.0]
    middle = slice(4 * 128, 8 * 128)  # beyond the notch's half length (3.3 s) from the mirrored edges
    t = np.arange(4 * 128) / 128.0
    line = np.exp(-2j * np.pi * 50 * t)
    removed = np.abs(line @ auto["signal"][middle]) * 2 / len(t)
    kept = np.abs(line @ sixty["signal"][middle]) * 2 / len(t)
    assert kept.min() > 150.0 and removed.max() < 0.01 * kept.min()  # the 200 uV line at 50 Hz is gone
    warnings = _warnings(caplog)
    assert any("preprocess.line_freq_hz 60 Hz overrides the 50 Hz" in m and str(sidecar) in m for m in warnings)


def test_auto_line_frequency_without_metadata_is_a_one_line_error(bids_copy, tmp_path):
    sidecar = _edit_sidecar(bids_copy, PowerLineFrequency="n/a")
    recording = open_dataset({"dataset": {"format": "bids", "root": str(bids_copy)}}).recording("1", "0")
    assert recording.line_freq_hz is None
    with pytest.raises(DatasetError, match=r"no line frequency .*set preprocess.line_freq_hz") as error:
        write_neural_store(
            recording, schema_defaults("preprocess", {"rate_hz": 128, "line_freq_hz": "auto"}), tmp_path / "neural.zarr"
        )
    assert "\n" not in str(error.value) and str(recording.path) in str(error.value)
    assert not (tmp_path / "neural.zarr").exists()
    assert sidecar.exists()


def test_header_units_off_by_a_million_are_warned_naming_the_file(bids_copy, tmp_path, caplog):
    vhdr = next(bids_copy.rglob("*_ieeg.vhdr"))
    vhdr.write_text(vhdr.read_text(encoding="utf-8").replace(",,1,µV", ",,1,V"), encoding="utf-8")
    recording = open_dataset({"dataset": {"format": "bids", "root": str(bids_copy)}}).recording("1", "0")
    with caplog.at_level(logging.INFO, logger="vlencode"):
        write_neural_store(
            recording, schema_defaults("preprocess", {"rate_hz": 128, "chunk_s": 4.0}), tmp_path / "neural.zarr"
        )
    warnings = _warnings(caplog)
    assert len(warnings) == 1, warnings
    assert str(vhdr) in warnings[0] and "2e+07 uV" in warnings[0] and "1e+06 times too large" in warnings[0]
    assert "1 uV to 10000 uV" in warnings[0]


def test_dbs_contacts_are_neural_and_every_exclusion_is_logged(bids_copy, caplog):
    def types(table):
        table.loc[table["name"].isin(["LB1", "LB2", "LB3"]), "type"] = "DBS"
        table.loc[table["name"] == "LB3", "status_description"] = "broken lead"

    _edit_tsv(bids_copy, "channels", types)
    dataset = open_dataset({"dataset": {"format": "bids", "root": str(bids_copy)}})
    with caplog.at_level(logging.INFO, logger="vlencode"):
        recording = dataset.recording("1", "0")
        table = dataset.electrodes("1")
    assert recording.labels == ["LA1", "LA2", "LA3", "LA4", "LB1", "LB2"]
    assert "LB3 excluded: status bad (broken lead)" in caplog.text
    assert "DC1 excluded: type MISC is not an intracranial neural type (SEEG, ECOG, DBS)" in caplog.text
    assert recording.excluded == {  # carried to the neural store's dropped channels and the QC table
        "LB3": "status bad (broken lead)",
        "DC1": "type MISC is not an intracranial neural type (SEEG, ECOG, DBS)",
    }
    assert table["electrode"].tolist() == ["LA1", "LA2", "LA3", "LA4", "LB1", "LB2", "LB3"]
    assert "DC1 left out of the electrode table: type MISC" in caplog.text


def write_edf(path: Path, data_uv: np.ndarray, names: list[str], unit: str) -> Path:
    """A minimal EDF (one 1 s record per second, int16 at 0.1 uV per step) whose physical dimension is ``unit``."""
    rate, n_channels = int(RATE_HZ), len(names)
    records = len(data_uv) // rate
    digital = np.clip(np.rint(data_uv[: records * rate] * 10), -32767, 32767).astype("<i2")

    def field(value, width: int) -> bytes:
        return str(value).ljust(width)[:width].encode("latin-1")

    header = b"".join(
        [field(0, 8), field("X X X X", 80), field("Startdate 01-JAN-2020 X X X", 80), field("01.01.20", 8)]
        + [field("00.00.00", 8), field(256 * (n_channels + 1), 8), field("", 44), field(records, 8)]
        + [field(1, 8), field(n_channels, 4)]
        + [field(name, 16) for name in names]
        + [field("", 80)] * n_channels
        + [field(unit, 8)] * n_channels
        + [field(-3276.7, 8)] * n_channels
        + [field(3276.7, 8)] * n_channels
        + [field(-32767, 8)] * n_channels
        + [field(32767, 8)] * n_channels
        + [field("", 80)] * n_channels
        + [field(rate, 8)] * n_channels
        + [field("", 32)] * n_channels
    )
    # Each record holds one second of every channel, channel after channel.
    body = digital.reshape(records, rate, n_channels).transpose(0, 2, 1).tobytes()
    path.write_bytes(header + body)
    return path


@pytest.mark.parametrize(("unit", "warned"), [("uV", False), ("uv", True), ("", True), ("microV", True)])
def test_edf_unit_spellings_that_mne_reads_as_volts_are_warned(tmp_path, unit, warned, caplog):
    """MNE reads an EDF physical dimension other than uV/µV/mV as volts: 20 uV of noise then reads as 2e7 uV."""
    names = ["LA1", "LA2", "LA3", "LA4"]
    data = np.random.default_rng(1).normal(scale=20.0, size=(int(10 * RATE_HZ), len(names)))
    path = write_edf(tmp_path / "sub-1_task-fox_ieeg.edf", data, names, unit)
    raw = mne.io.read_raw_edf(path, preload=False, verbose=False)
    raw.set_channel_types(dict.fromkeys(names, "seeg"))
    raw.info["line_freq"] = 60
    recording = BidsRecording(path, raw, names, "the test")
    with caplog.at_level(logging.INFO, logger="vlencode"):
        write_neural_store(
            recording,
            schema_defaults("preprocess", {"rate_hz": 128, "chunk_s": 4.0, "reference": "car"}),
            tmp_path / "n.zarr",
        )
    warnings = _warnings(caplog)
    assert len(warnings) == int(warned), warnings
    if warned:
        assert warnings[0].startswith(f"{path}: median channel standard deviation 2e+07 uV")
        assert "1e+06 times too large" in warnings[0] and "V declared for data in uV" in warnings[0]


# --- coordinates: units and spaces -----------------------------------------------------------------------------------
def _electrodes_files(root: Path) -> tuple[Path, Path]:
    """The copy's MNI electrodes.tsv (contacts in metres) and its coordsystem.json."""
    electrodes = next(root.rglob("*_space-MNI152NLin2009aSym_electrodes.tsv"))
    return electrodes, electrodes.with_name(electrodes.name.replace("_electrodes.tsv", "_coordsystem.json"))


def _write_coordinates(electrodes: Path, factor: float, **coordsystem) -> None:
    """Scale the contacts of ``electrodes`` by ``factor``; set (None: delete) ``coordsystem`` fields beside it."""
    table = pd.read_csv(electrodes, sep="\t", dtype=str, keep_default_na=False)
    for axis in "xyz":
        numbers = pd.to_numeric(table[axis], errors="coerce") * factor
        table[axis] = [f"{value:.6g}" if np.isfinite(value) else "n/a" for value in numbers]
    table.to_csv(electrodes, sep="\t", index=False)
    path = electrodes.with_name(electrodes.name.replace("_electrodes.tsv", "_coordsystem.json"))
    fields = json.loads(path.read_text()) | coordsystem
    path.write_text(json.dumps({key: value for key, value in fields.items() if value is not None}))


def _la2(root: Path) -> list[float]:
    row = open_dataset({"dataset": {"format": "bids", "root": str(root)}}).electrodes("1").set_index("electrode")
    return row.loc["LA2", ["x_mni", "y_mni", "z_mni"]].astype(float).tolist()


@pytest.mark.parametrize(
    ("factor", "unit", "read_as"),
    [(1.0, "n/a", "m"), (100.0, "n/a", "cm"), (1000.0, "n/a", "mm"), (1.0, None, "m"), (100.0, "", "cm")],
)
def test_an_undeclared_unit_is_inferred_from_the_magnitudes_and_warned(bids_copy, factor, unit, read_as, caplog):
    """mne-bids writes ``iEEGCoordinateUnits: n/a`` for a recording without a montage; read as mm, contacts given in
    metres sat 1000 times too close to the MNI origin (a superior temporal contact labelled Left-Thalamus)."""
    electrodes, coordsystem = _electrodes_files(bids_copy)
    _write_coordinates(electrodes, factor, iEEGCoordinateUnits=unit)
    with caplog.at_level(logging.INFO, logger="vlencode"):
        np.testing.assert_allclose(_la2(bids_copy), [-20.0, 10.0, 20.0], rtol=1e-5)
    warnings = _warnings(caplog)
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(f"{coordsystem}: ") and f"read as {read_as} from their magnitude" in warnings[0]


def test_a_superior_temporal_contact_in_metres_with_unit_na_keeps_its_region(bids_copy, caplog):
    """The reported case: mne-bids' ``n/a`` unit with MNI metres; read as mm, the contact sat near the origin."""
    electrodes, _ = _electrodes_files(bids_copy)
    table = pd.read_csv(electrodes, sep="\t", dtype=str, keep_default_na=False)
    table.loc[table["name"] == "LA2", ["x", "y", "z"]] = ["-0.058", "-0.022", "0.006"]
    table.to_csv(electrodes, sep="\t", index=False)
    _write_coordinates(electrodes, 1.0, iEEGCoordinateUnits="n/a")
    with caplog.at_level(logging.INFO, logger="vlencode"):
        xyz = _la2(bids_copy)
    np.testing.assert_allclose(xyz, [-58.0, -22.0, 6.0], rtol=1e-5)
    assert atlas_labels(np.array([xyz]), "dk") == ["ctx-lh-superiortemporal"]
    assert len(_warnings(caplog)) == 1


def test_a_missing_coordsystem_is_inferred_and_warned(bids_copy, caplog):
    electrodes, coordsystem = _electrodes_files(bids_copy)
    _write_coordinates(electrodes, 100.0)
    coordsystem.unlink()
    with caplog.at_level(logging.INFO, logger="vlencode"):
        np.testing.assert_allclose(_la2(bids_copy), [-20.0, 10.0, 20.0], rtol=1e-5)
    assert any(m.startswith(f"{coordsystem}: missing; coordinates") and "read as cm" in m for m in _warnings(caplog))


@pytest.mark.parametrize("unit", ["µm", "inches", "um", "voxels"])
def test_a_declared_unit_other_than_m_cm_mm_is_a_one_line_error(bids_copy, unit):
    electrodes, coordsystem = _electrodes_files(bids_copy)
    _write_coordinates(electrodes, 1e6, iEEGCoordinateUnits=unit)
    with pytest.raises(DatasetError, match=rf"{coordsystem}: iEEGCoordinateUnits '{unit}' is not m, cm or mm") as error:
        _la2(bids_copy)
    assert "\n" not in str(error.value) and "convert the coordinates" in str(error.value)


@pytest.mark.parametrize("factor", [20.0, 1e4])  # largest magnitude 0.6 and 300: inside a brain in no unit
def test_an_undeclared_unit_that_no_magnitude_explains_is_refused(bids_copy, factor):
    electrodes, coordsystem = _electrodes_files(bids_copy)
    _write_coordinates(electrodes, factor, iEEGCoordinateUnits="n/a")
    with pytest.raises(DatasetError, match=rf"{coordsystem}: iEEGCoordinateUnits 'n/a', and no unit puts") as error:
        _la2(bids_copy)
    assert "\n" not in str(error.value) and "declare iEEGCoordinateUnits" in str(error.value)


def _add_space(root: Path, space: str, shift_m: float) -> Path:
    """Another electrodes.tsv + coordsystem.json of sub-1 in ``space``, contacts shifted by ``shift_m`` in x."""
    electrodes, coordsystem = _electrodes_files(root)
    other = electrodes.with_name(f"sub-1_space-{space}_electrodes.tsv")
    table = pd.read_csv(electrodes, sep="\t", dtype=str, keep_default_na=False)
    table["x"] = [f"{float(x) + shift_m:.6g}" if x != "n/a" else x for x in table["x"]]
    table.to_csv(other, sep="\t", index=False)
    fields = json.loads(coordsystem.read_text()) | {"iEEGCoordinateSystem": space}
    other.with_name(f"sub-1_space-{space}_coordsystem.json").write_text(json.dumps(fields))
    return other


def _drop_space(root: Path) -> None:
    for path in _electrodes_files(root):
        path.unlink()


@pytest.mark.parametrize(
    ("spaces", "drop_mni", "la2_x"),
    [
        ({"ACPC": 0.005}, False, -20.0),  # bids-specification#649: ACPC sorts first
        ({"ACPC": 0.005, "fsaverage": 0.002}, True, -18.0),
        ({"MNI152NLin6ASym": 0.001}, False, -19.0),  # the atlases' template, though 2009aSym sorts first
        ({"Other": 0.005, "MNI152NLin2009cAsym": 0.003}, False, -17.0),
    ],
)
def test_the_coordinate_space_is_chosen_by_name_not_by_sort_order(bids_copy, spaces, drop_mni, la2_x, caplog):
    for space, shift in spaces.items():
        _add_space(bids_copy, space, shift)
    if drop_mni:
        _drop_space(bids_copy)
    with caplog.at_level(logging.INFO, logger="vlencode"):
        np.testing.assert_allclose(_la2(bids_copy), [la2_x, 10.0, 20.0], rtol=1e-5)
    assert not _warnings(caplog)
    assert "electrodes in space(s)" in caplog.text
    dataset = open_dataset({"dataset": {"format": "bids", "root": str(bids_copy)}})
    assert dataset.recording("1", "0").labels == ["LA1", "LA2", "LA3", "LA4", "LB1", "LB2"]


@pytest.mark.parametrize("spaces", [["ACPC"], ["ACPC", "Other"], ["T1w"]])
def test_electrodes_in_no_mni_space_are_nan_and_said_in_one_warning(bids_copy, spaces, caplog):
    for space in spaces:
        _add_space(bids_copy, space, 0.0)
    _drop_space(bids_copy)
    with caplog.at_level(logging.INFO, logger="vlencode"):
        table = open_dataset({"dataset": {"format": "bids", "root": str(bids_copy)}}).electrodes("1")
    assert table[["x_mni", "y_mni", "z_mni"]].isna().all().all() and table["hemisphere"].eq("").all()
    warnings = _warnings(caplog)
    assert len(warnings) == 1, warnings
    assert f"sub-1: electrodes only in space(s) {', '.join(sorted(spaces))}, none an MNI template" in warnings[0]


@pytest.mark.parametrize("codes", [["2"] * 6, ["2", "2", "3", "2", "2", "7"], ["2.0"] * 6])
def test_word_events_whose_value_holds_event_codes_are_a_one_line_error(bids_copy, codes):
    """Fresh-user report: without a 'word' column the reader took mne-bids' integer codes in 'value' as the words."""

    def to_codes(table):
        words = table["trial_type"] == "word"
        table["value"] = "n/a"
        table.loc[words, "value"] = codes
        del table["word"]

    path = _edit_tsv(bids_copy, "events", to_codes)
    with pytest.raises(DatasetError, match=rf"{path}: word events have no 'word' column") as error:
        open_dataset({"dataset": {"format": "bids", "root": str(bids_copy)}}).words("1", "0")
    assert "\n" not in str(error.value) and "add a 'word' column" in str(error.value)


def test_words_in_the_value_column_are_read_when_there_is_no_word_column(bids_copy):
    def to_value(table):
        table["value"] = table["word"]
        del table["word"]

    _edit_tsv(bids_copy, "events", to_value)
    words = open_dataset({"dataset": {"format": "bids", "root": str(bids_copy)}}).words("1", "0")
    assert words["word"].tolist() == ["the", "fox", "ran.", "a", "hen", "sat!"]


@pytest.mark.parametrize("rename", [lambda n: n.replace("1", "01"), str.lower])
def test_electrodes_named_unlike_their_channels_are_warned_not_dropped_in_silence(bids_copy, rename, caplog):
    """Fresh-user report: LA01 in electrodes.tsv against LA1 in channels.tsv emptied the table, logged at INFO only."""
    names = []

    def renamed(table):
        names.extend(table["name"])
        table["name"] = table["name"].map(rename)

    path = _edit_tsv(bids_copy, "electrodes", renamed)
    changed = sum(rename(n) != n for n in names)
    assert changed
    with caplog.at_level(logging.WARNING, logger="vlencode"):
        table = open_dataset({"dataset": {"format": "bids", "root": str(bids_copy)}}).electrodes("1")
    assert len(table) == len(names) - changed
    assert f"{path}: {changed} of {len(names)} electrode(s) named in no channels.tsv of sub-1" in caplog.text


@pytest.mark.parametrize(("factor", "declared", "looks"), [(1.0, "mm", "m"), (1000.0, "m", "mm"), (100.0, "mm", "cm")])
def test_a_declared_unit_the_magnitudes_contradict_is_read_as_declared_and_warned(
    bids_copy, factor, declared, looks, caplog
):
    """Fresh-user report: ``mm`` declared for coordinates in metres put every contact at the MNI origin, silently."""
    electrodes, coordsystem = _electrodes_files(bids_copy)
    _write_coordinates(electrodes, factor, iEEGCoordinateUnits=declared)
    with caplog.at_level(logging.INFO, logger="vlencode"):
        _la2(bids_copy)
    warnings = _warnings(caplog)
    assert len(warnings) == 1 and warnings[0].startswith(f"{coordsystem}: iEEGCoordinateUnits '{declared}'")
    assert f"look like {looks}" in warnings[0]


def test_a_declared_unit_the_magnitudes_agree_with_is_not_warned(bids_copy, caplog):
    electrodes, _ = _electrodes_files(bids_copy)
    _write_coordinates(electrodes, 1000.0, iEEGCoordinateUnits="mm")
    with caplog.at_level(logging.INFO, logger="vlencode"):
        np.testing.assert_allclose(_la2(bids_copy), [-20.0, 10.0, 20.0], rtol=1e-5)
    assert _warnings(caplog) == []


@pytest.mark.parametrize(("movie", "suggested"), [("The Fox", "The-Fox"), ("fox/2", "fox-2"), ("fox_cuts", "fox-cuts")])
def test_a_movie_id_that_cannot_name_a_file_is_a_one_line_error(bids_copy, movie, suggested):
    """Fresh-user report: 'The Fox' ended in a MissingInputException for results/stimuli/movie-The Fox_cuts.parquet."""

    def name(table):
        table["movie"] = movie

    path = _edit_tsv(bids_copy, "events", name)
    with pytest.raises(DatasetError, match=rf"{path}: movie '{movie}' is not a usable id") as error:
        open_dataset({"dataset": {"format": "bids", "root": str(bids_copy)}}).movie("1", "0")
    assert "\n" not in str(error.value) and f"(e.g. {suggested})" in str(error.value)


def test_a_movie_id_of_letters_digits_and_dashes_is_taken(bids_copy):
    _edit_tsv(bids_copy, "events", lambda table: table.__setitem__("movie", "fantastic-mr-fox.2"))
    assert open_dataset({"dataset": {"format": "bids", "root": str(bids_copy)}}).movie("1", "0") == "fantastic-mr-fox.2"


def _channels_tsv(root: Path) -> Path:
    return next(root.rglob("*_channels.tsv"))


def test_channels_listed_in_another_order_are_the_same_channels(bids_root, bids_copy):
    path = _channels_tsv(bids_copy)
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    table.iloc[::-1].to_csv(path, sep="\t", index=False)
    reordered = open_dataset({"dataset": {"format": "bids", "root": str(bids_copy)}}).recording("1", "0")
    original = open_dataset({"dataset": {"format": "bids", "root": str(bids_root[0])}}).recording("1", "0")
    assert sorted(reordered.labels) == sorted(original.labels) == ["LA1", "LA2", "LA3", "LA4", "LB1", "LB2"]
    assert reordered.excluded.keys() == original.excluded.keys()
    ours, theirs = reordered.read(0, 64), original.read(0, 64)
    for label in original.labels:
        np.testing.assert_array_equal(ours[:, reordered.labels.index(label)], theirs[:, original.labels.index(label)])


def test_a_channel_without_a_row_in_channels_tsv_is_a_one_line_error(bids_copy):
    path = _channels_tsv(bids_copy)
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    table.drop(index=2).to_csv(path, sep="\t", index=False)
    with pytest.raises(DatasetError, match=rf"^{path}: no row for channel\(s\) \['LA3'\] of .*add their rows") as error:
        open_dataset({"dataset": {"format": "bids", "root": str(bids_copy)}}).recording("1", "0")
    assert "\n" not in str(error.value)


def test_channel_names_unlike_the_recordings_are_a_one_line_error(bids_copy):
    path = _edit_tsv(bids_copy, "channels", lambda table: table.loc.__setitem__((2, "name"), "LX9"))
    pattern = rf"^{path}: lists \['LX9'\], which .* lacks, and not \['LA3'\], which it has; name each channel as"
    with pytest.raises(DatasetError, match=pattern):
        open_dataset({"dataset": {"format": "bids", "root": str(bids_copy)}}).recording("1", "0")


def test_the_movie_is_the_video_beside_its_subtitles(bids_copy):
    stimuli = bids_copy / "stimuli"
    stimuli.mkdir()
    (stimuli / "fox.en.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nthe fox\n")
    (stimuli / "fox.MKV").write_bytes(b"")
    dataset = open_dataset({"dataset": {"format": "bids", "root": str(bids_copy)}})
    assert dataset.movie_path("fox") == stimuli / "fox.MKV"
    (stimuli / "fox.MKV").unlink()
    assert dataset.movie_path("fox") == stimuli / "fox.mp4"  # absent: the rules then name it as missing


def test_a_dataset_missing_a_file_a_rule_reads_is_refused_whatever_outputs_exist(bids_copy):
    from vlencode.datasets import check_dataset_files

    dataset = open_dataset({"dataset": {"format": "bids", "root": str(bids_copy)}})
    movie = bids_copy / "stimuli" / "fox.mp4"
    with pytest.raises(DatasetError, match=rf"^{movie}: missing; the workflow reads it.*dataset\.recordings$"):
        check_dataset_files(dataset, {("1", "0"): "fox"})
    movie.parent.mkdir()
    movie.write_bytes(b"")
    check_dataset_files(dataset, {("1", "0"): "fox"})
    data = next(bids_copy.rglob("*_ieeg.eeg"))
    data.unlink()
    movie.unlink()
    with pytest.raises(DatasetError, match=rf"^{data}: missing \(and 1 more files of dataset\.root\)"):
        check_dataset_files(dataset, {("1", "0"): "fox"})


def test_event_kinds_are_read_whatever_their_case(bids_root, bids_copy):
    _edit_tsv(bids_copy, "events", lambda table: table.__setitem__("trial_type", " " + table["trial_type"].str.title()))
    dataset = open_dataset({"dataset": {"format": "bids", "root": str(bids_copy)}})
    assert dataset.words("1", "0")["word"].tolist() == WORDS
    np.testing.assert_allclose(dataset.scene_cuts("fox", [("1", "0")]), [3.0, 6.5])


def test_events_without_a_word_event_are_a_one_line_error(bids_copy):
    path = _edit_tsv(bids_copy, "events", lambda table: table.__setitem__("trial_type", table["trial_type"] + "s"))
    with pytest.raises(DatasetError, match=rf"^{path}: no event of trial_type 'word' \(found \['scenes', 'words'\]\)"):
        open_dataset({"dataset": {"format": "bids", "root": str(bids_copy)}}).words("1", "0")


def test_onsets_in_milliseconds_are_a_one_line_error(bids_copy):
    def milliseconds(table):
        table["onset"] = (table["onset"].astype(float) * 1000).astype(str)

    path = _edit_tsv(bids_copy, "events", milliseconds)
    with pytest.raises(DatasetError, match=rf"^{path}: 8 of 8 onsets lie after the end of .* \(12\.0 s, up to 6500\)"):
        open_dataset({"dataset": {"format": "bids", "root": str(bids_copy)}}).clock("1", "0")


def test_ecog_contacts_re_referenced_by_contact_number_are_warned_of(bids_copy, tmp_path, caplog):
    def grid(table):
        table.loc[table["name"].str.startswith("LA"), "type"] = "ECOG"

    _edit_tsv(bids_copy, "channels", grid)
    recording = open_dataset({"dataset": {"format": "bids", "root": str(bids_copy)}}).recording("1", "0")
    assert recording.types == {"LA1": "ECOG", "LA2": "ECOG", "LA3": "ECOG", "LA4": "ECOG", "LB1": "SEEG", "LB2": "SEEG"}
    preprocess = {"rate_hz": 128, "chunk_s": 4.0}
    with caplog.at_level(logging.WARNING, logger="vlencode"):
        write_neural_store(recording, schema_defaults("preprocess", preprocess), tmp_path / "laplacian.zarr")
    [warning] = [w for w in _warnings(caplog) if "ECOG" in w]
    assert "4 ECOG contacts (LA1, LA2, LA3, LA4) are re-referenced by laplacian" in warning
    assert warning.endswith("for grids set preprocess.reference: car")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="vlencode"):
        car = schema_defaults("preprocess", preprocess | {"reference": "car"})
        write_neural_store(recording, car, tmp_path / "car.zarr")
    assert not [w for w in _warnings(caplog) if "ECOG" in w]


def test_without_electrodes_tsv_the_contacts_have_no_coordinates(bids_copy, caplog):
    # Optional in BIDS iEEG: treated as electrodes in no MNI space, not as a stop after preprocessing.
    for path in bids_copy.rglob("*_electrodes.tsv"):
        path.unlink()
    with caplog.at_level(logging.WARNING, logger="vlencode"):
        table = open_dataset({"dataset": {"format": "bids", "root": str(bids_copy)}}).electrodes("1")
    assert list(table.columns) == ELECTRODE_COLUMNS
    assert table["electrode"].tolist() == ["LA1", "LA2", "LA3", "LA4", "LB1", "LB2", "LB3"]
    assert table[["x_mni", "y_mni", "z_mni"]].isna().all().all() and (table["dk"] == "Unknown").all()
    assert table.set_index("electrode").loc["LB2", ["shaft", "contact"]].tolist() == ["LB", 2]
    [warning] = _warnings(caplog)
    assert "no *_electrodes.tsv; x/y/z_mni are NaN (regions Unknown)" in warning


@pytest.mark.parametrize(("last_movie_time", "residual_samples"), [(5.0, 0.0), (6.2, 0.3 * RATE_HZ)])
def test_a_pause_of_the_movie_is_not_clock_drift(bids_copy, last_movie_time, residual_samples):
    # The last event (the scene cut at 6.5 s) shown 1.5 s of recording later than the movie ran: a pause; 0.3 s: drift.
    def movie_time(table):
        table["movie_time"] = table["onset"]
        table.loc[table["onset"].astype(float) == 6.5, "movie_time"] = str(last_movie_time)

    _edit_tsv(bids_copy, "events", movie_time)
    clock = open_dataset({"dataset": {"format": "bids", "root": str(bids_copy)}}).clock("1", "0")
    assert clock.max_residual_samples == pytest.approx(residual_samples, abs=1.0)


def _dataset(root: Path):
    return open_dataset({"dataset": {"format": "bids", "root": str(root)}})


def test_a_recording_showing_two_movies_is_a_one_line_error_and_a_file_name_names_its_movie(bids_copy):
    def two(table):
        table["movie"] = ["fox.mp4"] * 4 + ["stimuli/hen.MKV"] * (len(table) - 4)

    path = _edit_tsv(bids_copy, "events", two)
    with pytest.raises(DatasetError, match=rf"^{path}: events name 2 movies \(fox, hen\); a recording shows one movie"):
        _dataset(bids_copy).movie("1", "0")
    _edit_tsv(bids_copy, "events", lambda table: table.__setitem__("movie", "stimuli/fox.mp4"))
    assert _dataset(bids_copy).movie("1", "0") == "fox"


def test_channels_tsv_rows_repeated_or_for_channels_the_recording_lacks_are_one_line_errors(bids_copy):
    path = _channels_tsv(bids_copy)
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    pd.concat([table, table.iloc[[2]]]).to_csv(path, sep="\t", index=False)
    with pytest.raises(DatasetError, match=rf"^{path}: lists channel\(s\) \['LA3'\] more than once; keep one row"):
        _dataset(bids_copy).recording("1", "0")
    extra = table.iloc[[2]].assign(name="LZ9")
    pd.concat([table, extra]).to_csv(path, sep="\t", index=False)
    with pytest.raises(DatasetError, match=rf"^{path}: rows for channel\(s\) \['LZ9'\] that .* does not have"):
        _dataset(bids_copy).recording("1", "0")


def test_electrode_coordinates_in_upper_case_columns_are_read(bids_root, bids_copy):
    electrodes = next(bids_copy.rglob("*_electrodes.tsv"))
    table = pd.read_csv(electrodes, sep="\t", dtype=str, keep_default_na=False)
    table.rename(columns={"x": "X", "y": "Y", "z": "Z"}).to_csv(electrodes, sep="\t", index=False)
    pd.testing.assert_frame_equal(_dataset(bids_copy).electrodes("1"), _dataset(bids_root[0]).electrodes("1"))
    table.drop(columns="z").to_csv(electrodes, sep="\t", index=False)
    with pytest.raises(DatasetError, match=rf"^{electrodes}: no column\(s\) \['z'\]; electrodes.tsv has name, x, y"):
        _dataset(bids_copy).electrodes("1")


def test_a_task_that_matches_no_recording_names_the_tasks_there_are(bids_root):
    dataset = open_dataset({"dataset": {"format": "bids", "root": str(bids_root[0]), "bids_task": "movie"}})
    with pytest.raises(DatasetError, match=r"no iEEG recording of sub-1 for dataset.bids_task 'movie' \(its tasks: "):
        dataset.recording("1", "0")


def test_two_video_files_of_one_movie_are_a_one_line_error(bids_copy):
    stimuli = bids_copy / "stimuli"
    stimuli.mkdir()
    for name in ("fox.mp4", "fox.mkv"):
        (stimuli / name).write_bytes(b"")
    with pytest.raises(DatasetError, match=r"stimuli: 2 video files of movie fox \(fox.mkv, fox.mp4\); keep the one"):
        _dataset(bids_copy).movie_path("fox")


def test_event_kinds_not_read_are_warned_of(bids_copy, caplog):
    def cuts(table):
        table.loc[table["trial_type"] == "scene", "trial_type"] = "scene_cut"

    path = _edit_tsv(bids_copy, "events", cuts)
    with caplog.at_level(logging.WARNING, logger="vlencode"):
        assert _dataset(bids_copy).scene_cuts("fox", [("1", "0")]) is None
    assert f"{path}: 2 row(s) of trial_type 'scene_cut' (2) are not read (only word and scene are)" in _warnings(caplog)


def test_movie_time_in_frames_is_a_one_line_error(bids_copy):
    def frames(table):
        table["movie_time"] = (table["onset"].astype(float) * 24).astype(str)

    path = _edit_tsv(bids_copy, "events", frames)
    with pytest.raises(DatasetError, match=rf"^{path}: movie_time advances 24 s per second of the recording"):
        _dataset(bids_copy).clock("1", "0")


def test_a_transcript_without_punctuation_is_warned_of(bids_copy, caplog, monkeypatch):
    from vlencode.datasets import bids

    monkeypatch.setattr(bids, "LONG_SENTENCE_WORDS", 3)
    _edit_tsv(bids_copy, "events", lambda table: table.__setitem__("word", table["word"].str.rstrip(".!")))
    with caplog.at_level(logging.WARNING, logger="vlencode"):
        words = _dataset(bids_copy).words("1", "0")
    assert words["sentence_idx"].nunique() == 1
    assert any("a sentence of 6 words, from words ending in . ! or ?" in w for w in _warnings(caplog))
