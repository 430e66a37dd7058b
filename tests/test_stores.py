"""Each store's writer and reader agree, and the library keeps its layering: one owner per store layout, device
choice and Pearson r; generic modules never import a dataset reader; the library reads nothing from workflow/."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest

from vlencode.store import atomic_zarr
from vlencode.stores import epochs, features, frames, neural, resamples
from vlencode.stores.fit import AlignmentFit, FitStore, LayerFit, ModelIdentity, SubjectModelFit

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "vlencode"


def test_neural_store_round_trip(tmp_path):
    with atomic_zarr(tmp_path / "n.zarr") as group:
        neural.create_signal(group, 10, 2, block=4)[:] = np.arange(20, dtype=np.float32).reshape(10, 2)
        neural.write_metadata(
            group,
            electrodes=["A1", "A2"],
            rate_hz=200,
            source_rate_hz=2048,
            line_freq_hz=50,
            line_freq_source="BIDS PowerLineFrequency",
            notch_hz=[50, 100],
            dropped_channels={"B1": "flat"},
            clipped_fraction={"A1": 0.0, "A2": 0.01},
        )
    store = neural.NeuralStore(tmp_path / "n.zarr")
    assert store.signal.shape == (10, 2) and store.signal[3, 1] == 7
    assert store.electrode.tolist() == ["A1", "A2"] and (store.rate_hz, store.source_rate_hz) == (200.0, 2048.0)
    assert (store.line_freq_hz, store.notch_hz) == (50.0, [50.0, 100.0])
    assert store.dropped_channels == {"B1": "flat"} and store.clipped_fraction["A2"] == 0.01


def test_epochs_store_round_trip_and_missing_alignment(tmp_path):
    from vlencode.epochs import AlignmentEpochs

    response = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    with atomic_zarr(tmp_path / "e.zarr") as group:
        epochs.write_epochs(
            group,
            {"word": AlignmentEpochs(response, np.array(["w1", "w2"]), 1)},
            bin_time_s=np.linspace(-0.1, 0.2, 4),
            electrodes=["A1", "A2", "A3"],
            rate_hz=100.0,
        )
    store = epochs.EpochsStore(tmp_path / "e.zarr")
    np.testing.assert_array_equal(store.response("word"), response)
    assert store.event_id("word").tolist() == ["w1", "w2"] and store.electrode.tolist() == ["A1", "A2", "A3"]
    assert store.bin_time_s.tolist() == pytest.approx([-0.1, 0.0, 0.1, 0.2])
    with pytest.raises(ValueError, match=r"e\.zarr: no 'scene' group; rerun epochs"):
        store.response("scene")


def test_features_store_round_trip(tmp_path):
    attrs = {
        "model": "m",
        "family": "text",
        "init": "trained",
        "seed": np.int64(0),
        "layers": ["a", "b"],
        "bands": [["x", 0, 2], ["y", 2, 3]],
    }
    with atomic_zarr(tmp_path / "f.zarr") as group:
        features.write_features(group, ["s0", "s1"], {"a": np.ones((2, 3)), "b": np.zeros((2, 1))}, attrs)
    store = features.FeaturesStore(tmp_path / "f.zarr")
    assert store.layers == ["a", "b"] and store.bands == [("x", 0, 2), ("y", 2, 3)]
    assert store.model == {"model": "m", "family": "text", "init": "trained", "seed": 0}
    assert store.stimulus_id().tolist() == ["s0", "s1"] and store.layer("a").dtype == np.float32
    with atomic_zarr(tmp_path / "bad.zarr") as group, pytest.raises(ValueError, match="layer b has 1 rows"):
        features.write_features(group, ["s0", "s1"], {"b": np.zeros((1, 1))}, attrs)


def test_frames_store_round_trip(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 255, (3, 4, 5, 3), dtype=np.uint8)
    with atomic_zarr(tmp_path / "fr.zarr") as group:
        frames.write_frames(group, pixels, np.array([0.0, 0.5, 1.0]))
    store = frames.FramesStore(tmp_path / "fr.zarr")
    np.testing.assert_array_equal(store.frames[1:3], pixels[1:3])
    assert store.frame_time_s.tolist() == [0.0, 0.5, 1.0]


def test_resamples_store_checks_the_events(tmp_path):
    keys = np.array(["1/a", "1/b", "2/a"], dtype=object)
    iid, block = np.array([[0, 0, 2], [1, 2, 2]]), np.array([[1, 2, 0], [2, 0, 1]])
    drawn = resamples.SubjectResamples(
        "1", 0, {"word": {"iid": iid, "block": block}}, {"word": resamples.events_sha256(keys)}
    )
    with atomic_zarr(tmp_path / "r.zarr") as group:
        drawn.write(group)
    read = resamples.read_indices(tmp_path / "r.zarr", "word", keys)
    assert sorted(read) == ["block", "iid"]
    np.testing.assert_array_equal(read["iid"], iid)
    np.testing.assert_array_equal(read["block"], block)
    with pytest.raises(ValueError, match=r"drawn for other word events \(3 vs 2 now\); rerun resamples"):
        resamples.read_indices(tmp_path / "r.zarr", "word", keys[:2])
    with pytest.raises(ValueError, match="no resamples for 'scene' events"):
        resamples.read_indices(tmp_path / "r.zarr", "scene", keys)


def test_fit_store_round_trip(tmp_path):
    grid = np.arange(6, dtype=np.float32).reshape(2, 3) / 10
    boot = np.stack([grid, grid + 0.1]).astype(np.float16)
    fit = SubjectModelFit(
        subject="1",
        model={"model": "m-random-s0", "family": "text", "init": "random", "seed": 0},
        identity=ModelIdentity(base="m", twin=True, pair=None, components=("a", "b")),
        electrode=np.array(["A1", "A2"]),
        bin_time_s=np.array([0.0, 0.1, 0.2]),
        alpha_grid=np.logspace(-1, 5, 7),
        alignments={
            "word": AlignmentFit(
                {"l0": LayerFit(grid, grid / 2, grid + 1)},
                "l0",
                {"l0": {"iid_val_r": boot, "block_test_r": boot + 0.1}},
                grid - 1,
                grid + 1,
                40,
                {"l0": 0.25},
            )
        },
        protocol="fast",
        resamples_sha256="abc",
    )
    with atomic_zarr(tmp_path / "fit.zarr") as group:
        fit.write(group)
    store = FitStore(tmp_path / "fit.zarr")
    assert (store.subject, store.chosen_layer, store.bootstrap_protocol) == ("1", {"word": "l0"}, "fast")
    assert store.identity == ModelIdentity(base="m", twin=True, pair=None, components=("a", "b"))
    assert store.resamples_sha256 == "abc"
    np.testing.assert_array_equal(store.alpha_grid, np.logspace(-1, 5, 7))  # exactly the grid, float64
    assert store.model["model"] == "m-random-s0" and store.alignments == ["word"] and store.layers("word") == ["l0"]
    np.testing.assert_array_equal(store.scores("word")["test_r"], grid / 2)
    np.testing.assert_array_equal(store.bounds("word")[1], grid + 1)
    assert store.boot_layers("word") == ["l0"]
    resampled = store.boot("word")
    assert sorted(resampled) == ["block_test_r", "iid_val_r"]
    np.testing.assert_array_equal(resampled["iid_val_r"], boot)
    assert resampled["block_test_r"].dtype == np.float16


# --- layering ---------------------------------------------------------------------------------------------------------


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_generic_modules_import_no_dataset_reader():
    """Only the readers themselves (and the dataset package) may import a reader; everything else sees the
    interface in vlencode.datasets.base."""
    readers = ("vlencode.datasets.braintreebank", "vlencode.datasets.bids", "vlencode.datasets.replica")
    offenders = {
        str(path.relative_to(SRC)): sorted(n for n in _imports(path) if n.startswith(readers))
        for path in _modules()
        if "datasets" not in path.relative_to(SRC).parts
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    # Readers do not lean on each other (the replica may: it writes the Brain Treebank layout).
    assert not {n for n in _imports(SRC / "datasets" / "bids.py") if n.startswith(readers)}


def test_library_reads_no_file_of_the_workflow_folder():
    pattern = re.compile(r"""["']workflow["']|workflow/""")
    offenders = [str(p.relative_to(SRC)) for p in _modules() if pattern.search(p.read_text())]
    assert offenders == []


def test_one_owner_for_device_choice_and_pearson_r():
    definitions = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and (node.name == "resolve_device" or "pearson" in node.name):
                definitions.setdefault(node.name, []).append(str(path.relative_to(SRC)))
    owners = {name: places for name, places in definitions.items() if name != "resampled_pearson"}
    assert owners == {
        "resolve_device": ["device.py"],
        **{
            name: ["pearson.py"]
            for name in ("pearson_from_sums", "weighted_pearson_from_sums", "pearson", "pearson_columns")
        },
    }
    assert not [p for p in _modules() if "corrcoef" in p.read_text()]


def test_store_keys_are_named_only_by_their_store_module():
    """Array and attribute keys of the stores appear, as subscripts, only in vlencode.stores (and tests); a script's
    ``inputs[...]`` names a rule input, not a key."""
    keys = (
        "signal",
        "source_rate_hz",
        "dropped_channels",
        "clipped_fraction",
        "response",
        "frames",
        "indices",
        "boot_val_r",
        "boot_test_r",
        "val_lo",
        "val_hi",
        "chosen_layer",
        "events_sha256",
    )
    subscript = re.compile(r"""(?<!inputs)\[\s*["'](""" + "|".join(keys) + r""")["']\s*\]|["']layers/""")
    files = [p for p in _modules() if "stores" not in p.relative_to(SRC).parts]
    files += sorted((ROOT / "workflow" / "scripts").glob("*.py"))
    offenders = {str(p.relative_to(ROOT)): subscript.findall(p.read_text()) for p in files}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_a_fit_store_of_the_older_layout_is_refused_with_the_fix(tmp_path):
    with atomic_zarr(tmp_path / "old.zarr") as group:  # fit version 2: no grid, no identity, digest in provenance
        group.attrs.update(subject="1", model="m", family="text", init="trained", seed=None, chosen_layer={})
        group.create_array("electrode", data=np.array(["A1"]))
        group.create_array("bin_time_s", data=np.zeros(1))
    with pytest.raises(ValueError, match=r"old.zarr: a fit store without base, twin, pair, components, "):
        FitStore(tmp_path / "old.zarr")
