"""What vlencode checks: a catalogue of broken inputs across every stage (the table in config/README.md).

Each row is an error or a documented handling.  An error stops the job with a non-zero exit, leaves no output (not
even a temporary sibling) and ends the rule log and stderr with one line naming the file and the fix; a handled input
logs what was done.  Rows marked (snakemake) run the workflow on a damaged copy of the small replica, read as a real
Brain Treebank; the others call the library function the rule's script calls, where a workflow run adds only minutes.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml
import zarr
from test_encoding import BOOTSTRAP, ENCODING, _fit, _resamples, _write_tree, toy_instance

from vlencode import encoding, store
from vlencode.datasets import DatasetError
from vlencode.datasets._atlas import atlas_labels
from vlencode.datasets.braintreebank import BrainTreebank
from vlencode.neural import write_neural_store
from vlencode.ridge import cross_validated_ridge
from vlencode.stimuli.events import build_events
from vlencode.stimuli.table import build_stimuli

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
H5 = "all_subject_data/sub_1_trial000.h5"
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


@pytest.fixture
def damaged(replica, tmp_path):
    """A private copy of the small replica to break; movies are linked (read-only) unless a row breaks them."""
    root = tmp_path / "braintreebank"
    shutil.copytree(replica, root, ignore=shutil.ignore_patterns("movies", "ground_truth*"))
    (root / "movies").mkdir()
    for movie in (replica / "movies").iterdir():
        (root / "movies" / movie.name).symlink_to(movie)
    return root


def one_line(error: pytest.ExceptionInfo, *names: str) -> str:
    message = str(error.value)
    assert "\n" not in message, message
    for name in names:
        assert name in message, message
    return message


# --- through Snakemake ------------------------------------------------------------------------------------------------


def workflow(root: Path, workdir: Path, **changes) -> Path:
    """A workdir whose config reads ``root`` as a Brain Treebank (replica generation off), changed by ``changes``."""
    config = json.loads(json.dumps(CONFIG))
    config["replica"]["enabled"] = False
    recordings = [{"subject": "1", "trial": "0"}, {"subject": "5", "trial": "0"}]
    config["dataset"].update(root=str(root), recordings=recordings)
    config["models"]["registry"] = str(ROOT / "config" / "models.yaml")
    for dotted, value in changes.items():
        *parents, key = dotted.split(".")
        section = config
        for parent in parents:
            section = section.setdefault(parent, {})
        section[key] = value
    workdir.mkdir(exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    return workdir


def snakemake(workdir: Path, *targets: str) -> subprocess.CompletedProcess:
    command = [
        str(SNAKEMAKE),
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        "--cores",
        "1",
        *targets,
    ]
    return subprocess.run(command, capture_output=True, text=True, cwd=workdir, timeout=900)


def assert_failed_job(workdir: Path, result: subprocess.CompletedProcess, output: str, log: str, *names: str) -> str:
    """Non-zero exit, no output or temporary sibling, and one line naming ``names`` ending the log and on stderr."""
    assert result.returncode != 0
    out = workdir / output
    assert not out.exists()
    assert not list(out.parent.glob(f".{out.name}.tmp-*")) if out.parent.exists() else True
    last = (workdir / log).read_text().rstrip("\n").splitlines()[-1]
    message = last.split(" ERROR vlencode: ", 1)[1]
    for name in names:
        assert name in message, last
    assert message in result.stderr
    return message


def assert_message_alone(result: subprocess.CompletedProcess, name: str) -> None:
    """A start-up error ends stderr with its message naming ``name``, without Snakemake's file and line before it or
    the workflow's traceback after it."""
    assert result.returncode == 1
    assert 'File "' not in result.stderr and " in file " not in result.stderr, result.stderr[-2000:]
    assert name in result.stderr.rstrip("\n").splitlines()[-1]


def test_config_typo_stops_the_run_before_any_job(damaged, tmp_path):
    """(snakemake) An unknown key: one line naming the config file and the key."""
    workdir = workflow(damaged, tmp_path / "w", **{"preprocess.line_freq": 60})
    result = snakemake(workdir)
    assert result.returncode != 0
    assert "preprocess" in result.stderr and "line_freq" in result.stderr and "config.yaml" in result.stderr
    assert_message_alone(result, "line_freq")
    assert not (workdir / "results").exists()


def test_unknown_model_stops_the_run_before_any_job(damaged, tmp_path):
    """(snakemake) models.use names an entry the registry lacks: one line naming the registry and the entry."""
    workdir = workflow(damaged, tmp_path / "w", **{"models.use": ["no-such-model"]})
    result = snakemake(workdir)
    assert result.returncode != 0
    assert "no-such-model" in result.stderr and "models.yaml" in result.stderr
    assert_message_alone(result, "no-such-model")
    assert not (workdir / "results").exists()


def test_truncated_h5_fails_preprocess_with_one_line(damaged, tmp_path):
    """(snakemake) A recording cut short by a broken download."""
    path = damaged / H5
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size // 2)
    workdir = workflow(damaged, tmp_path / "w")
    output, log = "results/neural/sub-1_trial-0.zarr", "logs/preprocess/sub-1_trial-0.log"
    result = snakemake(workdir, output)
    assert_failed_job(workdir, result, output, log, str(path), "download it again")


def test_non_monotonic_triggers_fail_events_with_one_line(damaged, tmp_path):
    """(snakemake) A trigger row whose index goes backwards."""
    path = damaged / "subject_timings/sub_5_trial000_timings.csv"
    table = pd.read_csv(path)
    table.loc[10, "index"] = table.loc[8, "index"]
    table.to_csv(path, index=False)
    workdir = workflow(damaged, tmp_path / "w")
    output, log = "results/events/sub-5_trial-0.parquet", "logs/events/sub-5_trial-0.log"
    result = snakemake(workdir, output)
    assert_failed_job(workdir, result, output, log, str(path), "row 10", "fix or remove that row")


def test_missing_movie_stops_the_run_before_any_job_with_one_line(damaged, tmp_path):
    """(snakemake) The movie file of a configured trial is absent: refused at start-up, naming the file, whatever
    outputs exist (Snakemake itself would keep a stimuli table built from another copy of the dataset)."""
    movie = damaged / "movies" / "fantastic-mr-fox.mp4"
    movie.unlink()
    workdir = workflow(damaged, tmp_path / "w")
    result = snakemake(workdir, "results/stimuli/movie-fantastic-mr-fox.parquet")
    assert str(movie) in result.stderr and "remove its recording from dataset.recordings" in result.stderr
    assert_message_alone(result, f"{movie}: missing;")
    assert not (workdir / "results").exists()
    assert not (workdir / "results").exists()


def test_words_past_the_recording_are_dropped_and_counted(damaged, tmp_path):
    """(snakemake) Handled: transcript words after the last trigger map to sample -1, are invalid and counted."""
    dataset = BrainTreebank(damaged)
    path = dataset.transcript_path(dataset.movie("5", "0"))
    words = pd.read_csv(path)
    end_s = dataset.clock("5", "0").movie_time_s[-1]
    late_rows = words.tail(2).assign(start=[end_s + 1.0, end_s + 2.0], end=[end_s + 1.5, end_s + 2.5])
    pd.concat([words, late_rows]).to_csv(path, index=False)
    workdir = workflow(damaged, tmp_path / "w")
    output, log = "results/events/sub-5_trial-0.parquet", "logs/events/sub-5_trial-0.log"
    result = snakemake(workdir, output)
    assert result.returncode == 0, result.stderr[-3000:]
    events = store.read_parquet(workdir / output)
    late = events[(events["invalid_reason"] == "after_last_trigger") & (events["alignment"] == "word")]
    assert len(late) == 2 and (late["sample"] == -1).all() and not late["valid"].any()
    text = (workdir / log).read_text()
    assert "2 word(s) start after the last trigger" in text and "after_last_trigger 2" in text


# --- through the library function a rule's script calls ---------------------------------------------------------------


def test_missing_electrode_dataset_is_one_line(damaged):
    path = damaged / H5
    with h5py.File(path, "r+") as handle:
        del handle["data/electrode_1"]
    with pytest.raises(DatasetError) as error:
        BrainTreebank(damaged).recording("1", "0")
    one_line(error, str(path), "data/electrode_1")


def test_label_list_shorter_than_the_recording_is_one_line(damaged):
    path = damaged / "electrode_labels/sub_1/electrode_labels.json"
    path.write_text(json.dumps(json.loads(path.read_text())[:-2]))
    with pytest.raises(DatasetError) as error:
        BrainTreebank(damaged).recording("1", "0")
    one_line(error, str(path))


def test_corrupted_electrode_list_that_is_not_json_is_one_line(damaged):
    path = damaged / "corrupted_elec.json"
    path.write_text("{not json")
    with pytest.raises(DatasetError) as error:
        BrainTreebank(damaged).recording("1", "0")
    one_line(error, str(path), "invalid JSON")


def preprocess_cfg(**changes):
    return {**CONFIG["preprocess"], **changes}


def test_rate_mismatch_is_one_line(damaged, tmp_path):
    recording = BrainTreebank(damaged).recording("1", "0")
    out = tmp_path / "results"
    with pytest.raises(DatasetError) as error:
        write_neural_store(recording, preprocess_cfg(source_rate_hz=1024), out / "neural.zarr")
    one_line(error, str(recording.path), "set preprocess.source_rate_hz")
    assert not list(out.iterdir())  # nothing half-written


def test_nan_runs_and_flat_channels_are_handled_and_logged(damaged, tmp_path, caplog):
    """Handled: a NaN gap up to max_nan_gap_s is filled; a longer NaN run or a flat channel drops the channel."""
    path = damaged / H5
    with h5py.File(path, "r+") as handle:
        names = sorted(handle["data"], key=lambda n: int(n.split("_")[1]))
        data = {name: handle[f"data/{name}"] for name in names}
        kept = [n for n in names if np.std(data[n][:4096]) > 1]  # a channel the corruption list leaves alone
        long_run, short_gap, flat = kept[0], kept[1], kept[2]
        data[long_run][1000:3000] = np.nan  # ~1 s
        data[short_gap][1000:1020] = np.nan  # ~10 ms
        data[flat][:] = 5.0
    recording = BrainTreebank(damaged).recording("1", "0")
    labels = dict(zip([f"electrode_{i}" for i in range(len(recording.labels))], recording.labels))
    caplog.set_level(logging.INFO, logger="vlencode")
    write_neural_store(recording, preprocess_cfg(reference="none"), tmp_path / "neural.zarr")
    neural = store.open_zarr(tmp_path / "neural.zarr")
    electrodes = [str(e) for e in neural["electrode"][:]]
    assert labels[long_run] not in electrodes and labels[flat] not in electrodes
    assert labels[short_gap] in electrodes
    assert np.isfinite(neural["signal"][:]).all()
    for label in (labels[long_run], labels[flat]):
        assert f"dropped {label} (" in caplog.text


def test_corrupt_movie_is_one_line(damaged, tmp_path):
    movie = damaged / "movies" / "fantastic-mr-fox.mp4"
    movie.unlink()
    movie.write_bytes(b"\0" * 4096)
    dataset = BrainTreebank(damaged)
    events, _ = build_events(dataset, "1", "0", {"seed": 0, "events": CONFIG["events"], "stimuli": CONFIG["stimuli"]})
    with pytest.raises(DatasetError) as error:
        build_stimuli([events], "fantastic-mr-fox", movie)
    one_line(error, str(movie))


def test_duplicate_transcript_rows_are_dropped_and_counted(damaged, caplog):
    """Handled: a word listed twice gives one event, and later prefix texts do not repeat it."""
    dataset = BrainTreebank(damaged)
    cfg = {"seed": 0, "events": CONFIG["events"], "stimuli": CONFIG["stimuli"]}
    clean, _ = build_events(dataset, "1", "0", cfg)
    path = dataset.transcript_path(dataset.movie("1", "0"))
    table = pd.read_csv(path)
    pd.concat([table, table.iloc[[5, 6]]]).sort_index(kind="stable").to_csv(path, index=False)
    caplog.set_level(logging.INFO, logger="vlencode")
    events, counts = build_events(dataset, "1", "0", cfg)
    pd.testing.assert_frame_equal(events, clean)
    assert "2 duplicate transcript row(s) dropped" in caplog.text


def test_duplicate_scene_cuts_are_marked_and_counted(damaged):
    """Handled: an annotated cut listed twice gives one valid event; the repeat is invalid (`duplicate`), counted."""
    dataset = BrainTreebank(damaged)
    path = dataset.scene_path(dataset.movie("1", "0"))
    cfg = {"seed": 0, "events": CONFIG["events"], "stimuli": CONFIG["stimuli"]}
    clean, _ = build_events(dataset, "1", "0", cfg)
    cuts = pd.read_csv(path)
    pd.concat([cuts, cuts]).to_csv(path, index=False)
    events, counts = build_events(dataset, "1", "0", cfg)
    scenes, clean_scenes = events[events["alignment"] == "scene"], clean[clean["alignment"] == "scene"]
    assert counts["scene"]["duplicate"] == int(clean_scenes["valid"].sum()) > 0
    assert scenes["valid"].sum() == clean_scenes["valid"].sum()


def _gzip_copy(path: Path) -> None:
    """Rewrite a recording gzip-compressed in HDF5's earliest file format, whose filter pipeline messages (version 1)
    store each filter's id beside its name and carry no checksum."""
    with h5py.File(path) as source:
        data = {name: source["data"][name][:] for name in source["data"]}
    with h5py.File(path, "w", libver="earliest") as target:
        for name, values in data.items():
            target.create_dataset(f"data/{name}", data=values, chunks=(4096,), compression="gzip")


def _claim_filter(path: Path, filter_id: int, name: bytes) -> None:
    """Make every deflate (id 1) pipeline of ``path`` name filter ``filter_id`` instead, as a recording compressed by
    a plugin filter reads where the plugin is not installed (h5py#2294).

    h5py refuses to create such a dataset ("Unknown compression filter"), and an unavailable filter set through
    ``h5py.h5p`` with ``H5Z_FLAG_OPTIONAL`` is skipped when the chunks are written, so they stay readable; patching
    the id in the file makes HDF5 look for the plugin on every chunk.  A version-1 filter entry is id (2 bytes), name
    length, flags, value count (2 bytes each), then the name ("deflate\\0", 8 bytes).
    """
    raw = bytearray(path.read_bytes())
    start, patched = raw.find(b"deflate\0"), 0
    while start >= 0:
        assert raw[start - 8 : start - 6] == (1).to_bytes(2, "little")
        raw[start - 8 : start - 6] = filter_id.to_bytes(2, "little")
        raw[start : start + 8] = name.ljust(8, b"\0")
        patched += 1
        start = raw.find(b"deflate\0", start + 8)
    assert patched
    path.write_bytes(raw)


@pytest.mark.parametrize(
    ("filter_id", "name", "said"),
    [
        (32001, b"blosc", "HDF5 filter 32001 (blosc)"),  # the reported case
        (32015, b"zstd", "HDF5 filter 32015 (zstd)"),
        (32004, b"", "HDF5 filter 32004,"),  # a writer that stored no name
    ],
)
def test_a_compression_filter_without_its_plugin_is_named_not_called_damage(damaged, filter_id, name, said):
    if h5py.h5z.filter_avail(filter_id):
        pytest.skip(f"HDF5 filter {filter_id} is installed here")
    path = damaged / H5
    _gzip_copy(path)
    _claim_filter(path, filter_id, name)
    recording = BrainTreebank(damaged).recording("1", "0")  # the metadata reads; the chunks need the filter
    with pytest.raises(DatasetError) as error:
        recording.read(0, 100)
    message = one_line(error, str(path), said, "pip install hdf5plugin", "not damaged")
    assert "download it again" not in message


def test_a_damaged_compressed_chunk_still_says_download_it_again(damaged):
    path = damaged / H5
    _gzip_copy(path)
    with h5py.File(path) as handle:
        chunk = handle["data/electrode_0"].id.get_chunk_info(0)
    raw = bytearray(path.read_bytes())
    raw[chunk.byte_offset : chunk.byte_offset + chunk.size] = b"\xff" * chunk.size
    path.write_bytes(raw)
    recording = BrainTreebank(damaged).recording("1", "0")
    assert recording.read(8192, 8292).shape == (100, len(recording.labels))  # other chunks read
    with pytest.raises(DatasetError) as error:
        recording.read(0, 100)
    message = one_line(error, str(path), "electrode_0", "the file is damaged, download it again")
    assert "hdf5plugin" not in message


@pytest.mark.parametrize(
    "relabel",
    [
        {0: "T2c2", 1: "T2c2*"},  # the reported pair (LT2, LT2*)
        {0: "T2c2#", 1: "T2c2"},
        {0: "T2_c2", 1: "T2c2"},  # "_" is cleaned away too
        {0: "T2c2", 1: "T2c2*", 2: "#T2c2"},  # three raw labels, one contact
    ],
)
def test_raw_labels_that_clean_to_one_are_all_excluded_with_their_reason(damaged, tmp_path, relabel, caplog):
    """Handled: which raw label is the contact is unknown, so none is used; before, the label appeared twice and a
    neighbour's Laplacian subtracted the other channel."""
    path = damaged / "electrode_labels/sub_1/electrode_labels.json"
    labels = json.loads(path.read_text())
    for position, label in relabel.items():
        labels[position] = label
    path.write_text(json.dumps(labels))
    shared = list(relabel.values())
    dataset = BrainTreebank(damaged)
    caplog.set_level(logging.INFO, logger="vlencode")
    recording = dataset.recording("1", "0")
    assert "T2c2" not in recording.labels and len(set(recording.labels)) == len(recording.labels)
    assert recording._datasets == [f"electrode_{labels.index(label)}" for label in recording.labels]
    for label in shared:
        assert str(path) in recording.excluded[label] and all(repr(x) in recording.excluded[label] for x in shared)
    assert "all clean to T2c2; none is used" in caplog.text
    assert dataset.electrodes("1")["electrode"].tolist() == recording.labels
    write_neural_store(recording, preprocess_cfg(reference="laplacian"), tmp_path / "neural.zarr")
    neural = store.open_zarr(tmp_path / "neural.zarr")
    assert set(shared) <= set(neural.attrs["dropped_channels"])
    assert not {"T2c1", "T2c2", "T2c3"} & {str(e) for e in neural["electrode"][:]}  # no neighbour of contact 2


def _transcript(damaged: Path) -> tuple[Path, pd.DataFrame]:
    dataset = BrainTreebank(damaged)
    path = dataset.transcript_path(dataset.movie("1", "0"))
    return path, pd.read_csv(path, dtype=str, keep_default_na=False)


def _events_cfg() -> dict:
    return {"seed": 0, "events": CONFIG["events"], "stimuli": CONFIG["stimuli"]}


@pytest.mark.parametrize("spelling", ["None", "NA", "null", "nan", "N/A", "#N/A", "NULL"])
def test_transcript_words_that_spell_a_missing_value_stay_words(damaged, spelling):
    """Handled (pandas#55032): pandas reads "None", "NA", "null"... as missing; a mid-sentence one became '' and took
    the previous word's prefix text.  Text columns keep every word; the numeric columns stay numbers."""
    path, table = _transcript(damaged)
    sizes = table.groupby("sentence_idx")["text"].transform("size")
    sentence = table.loc[sizes >= 3, "sentence_idx"].iloc[0]
    rows = table.index[table["sentence_idx"] == sentence]
    table.loc[rows[1], "text"] = spelling
    table.loc[rows, "sentence"] = " ".join(table.loc[rows, "text"])
    table.to_csv(path, index=False)
    words = BrainTreebank(damaged).words("1", "0")
    assert words["word"].tolist() == table["text"].tolist()
    assert words["start_s"].dtype == np.float64 and words["word_idx"].dtype == np.int64
    events, _ = build_events(BrainTreebank(damaged), "1", "0", _events_cfg())
    mine = events[(events["alignment"] == "word") & (events["sentence_idx"] == int(sentence))]
    first = table.loc[rows[0], "text"]
    assert mine["word"].tolist()[1] == spelling and mine["text"].tolist()[1] == f"{first} {spelling}"
    assert mine["text"].is_unique  # no word takes another's text


def test_transcript_rows_without_a_word_are_dropped_and_counted(damaged, caplog):
    """Handled: an empty text is the only missing word, dropped with a warning; a missing end time stays NaN."""
    path, table = _transcript(damaged)
    table.loc[[3, 7], "text"] = ["", " "]
    table.loc[5, "end"] = "NA"
    table.to_csv(path, index=False)
    caplog.set_level(logging.INFO, logger="vlencode")
    words = BrainTreebank(damaged).words("1", "0")
    assert len(words) == len(table) - 2 and "" not in words["word"].str.strip().tolist()
    assert f"{path}: dropped 2 of {len(table)} word row(s) with an empty text" in caplog.text
    assert words["end_s"].dtype == np.float64 and words["end_s"].isna().sum() == 1


def test_coordinates_outside_the_brain_are_labelled_unknown():
    """Handled: a contact outside every labelled voxel (and the atlas volume) takes the label Unknown."""
    assert atlas_labels(np.array([[500.0, 0.0, 0.0], [0.0, -300.0, 40.0]]), "dk") == ["Unknown", "Unknown"]


def test_zero_variance_features_score_zero_not_nan():
    """Handled: a feature constant over the events carries no information; scores stay finite (r = 0)."""
    rng = np.random.default_rng(0)
    X = np.ones((60, 3))
    Y = rng.standard_normal((60, 4))
    order = np.arange(60)
    splits = [(np.setdiff1d(order, part), part[:6], part[6:]) for part in np.array_split(order, 5)]
    result = cross_validated_ridge(X, Y, splits, [1.0, 10.0], device="cpu")
    assert np.isfinite(result.val_r).all() and np.isfinite(result.test_r).all()
    assert np.allclose(result.test_r, 0.0)


def test_empty_alignment_is_one_line(tmp_path):
    """No valid scene event in any trial (e.g. a movie without cuts): the fit names the subject and alignment."""
    paths = _write_tree(tmp_path)
    for epochs, events in zip(paths["epochs"], paths["events"], strict=True):
        group = zarr.open_group(epochs, mode="r+", use_consolidated=False)
        response = group["scene/response"]
        del group["scene"]
        group.create_array("scene/response", shape=(0, *response.shape[1:]), dtype=response.dtype)
        group["scene"].create_array("event_id", shape=(0,), dtype=str)
        zarr.consolidate_metadata(epochs)
        table = store.read_parquet(events)
        store.write_parquet(table[table["alignment"] != "scene"], events)
    with pytest.raises(ValueError) as error:
        _fit(tmp_path, paths)
    one_line(error, "sub-1", "no epoched scene events", "encoding.alignments")


def test_features_store_of_another_model_is_one_line(tmp_path):
    paths = _write_tree(tmp_path)
    resamples = _resamples(tmp_path, paths)
    model = store.open_zarr(next(iter(paths["features"].values()))).attrs["model"]
    with pytest.raises(ValueError) as error:
        encoding.fit_subject_model(
            subject="1",
            trials=paths["trials"],
            epochs_paths=paths["epochs"],
            events_paths=paths["events"],
            features_paths=paths["features"],
            resamples_path=resamples,
            encoding={**ENCODING, "alignments": ["word"]},
            bootstrap_config=BOOTSTRAP,
            seed=0,
            instance=toy_instance(f"{model}-other", f"{model}-other"),
            device="cpu",
        )
    one_line(error, str(next(iter(paths["features"].values()))), f"not '{model}-other'", "rerun")


def test_fit_store_from_other_resamples_is_one_line(tmp_path):
    for name in ("a", "b"):
        with store.atomic_zarr(tmp_path / f"{name}.zarr") as group:
            group.attrs.update(subject="1", model=name, family="x", init="trained", chosen_layer={})
            group.attrs.update(base=name, twin=False, pair=None, components=[], resamples_sha256=f"hash-{name}")
            group.create_array("electrode", data=np.array(["A1"]))
            group.create_array("bin_time_s", data=np.zeros(1))
            group.create_array("alpha_grid", data=np.ones(1))
    with pytest.raises(ValueError) as error:
        encoding.scores_table([tmp_path / "a.zarr", tmp_path / "b.zarr"])
    one_line(error, str(tmp_path / "b.zarr"), "other resamples", "rerun fit")
