"""The encoding protocol: folds, layer choice, inputs in the contract formats, the fit store and the scores table."""

import json
import logging
import runpy
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.model_selection import KFold
from snakemake.iocontainers import Namedlist

from vlencode import encoding, ridge
from vlencode.bootstrap import fast, resampling
from vlencode.config import ConfigError
from vlencode.encoding import screening
from vlencode.keyed import keyed_inputs
from vlencode.models import ModelInstance
from vlencode.stats.subject import model_scores
from vlencode.store import (
    atomic_zarr,
    content_sha256,
    file_sha256,
    open_zarr,
    read_parquet,
    read_provenance,
    write_parquet,
)
from vlencode.stores.fit import FitStore
from vlencode.validation.agreement import compare_protocols

SCRIPTS = Path(__file__).resolve().parents[1] / "workflow" / "scripts"

ENCODING = {
    "alignments": ["word", "scene"],
    "n_folds": 5,
    "alphas": {"log10_min": -1, "log10_max": 5, "n": 7},
    "layer_selection": "validation",
    "screening": {"features": 0, "targets": 1024, "z": 2.0, "growth": 4},
    "banded": {"n_iter": 3},
}
BOOTSTRAP = {"protocol": "fast", "n_resamples": 20, "ci": 0.95, "inflation": "none"}


def toy_instance(name="toy", base="toy", components=(), pair="other"):
    """The model instance the toy features stores hold (model ``toy``), as the registry would give it."""
    return ModelInstance.from_dict(
        {
            "name": name,
            "family": "vision",
            "init": "trained" if name == base else "random",
            "seed": None if name == base else 0,
            "components": list(components),
            "entry": {"name": base, "pair": pair},
            "fingerprint": {},
        }
    )


TOY = toy_instance()
N_ELECTRODES, N_BINS, DIM = 4, 3, 6
INFORMATIVE = [0, 1]  # electrodes driven by the planted layer; the others are noise


# --- folds and layer choice -------------------------------------------------------------------------------------------


def test_one_trial_is_kfold_then_half_split():
    splits = encoding.contiguous_splits(["0"] * 53, 5)
    for (train, val, test), (kf_train, kf_held) in zip(splits, KFold(5).split(np.zeros(53))):
        assert np.array_equal(train, kf_train)
        half = (len(kf_held) + 1) // 2
        assert np.array_equal(val, kf_held[:half]) and np.array_equal(test, kf_held[half:])


def test_folds_are_contiguous_within_trials_and_cover_every_event_once():
    trial = np.array(["3"] * 23 + ["0"] * 41 + ["7"] * 12)
    splits = encoding.contiguous_splits(trial, 4)
    held = np.concatenate([np.r_[val, test] for _, val, test in splits])
    assert np.array_equal(np.sort(held), np.arange(len(trial)))
    for train, val, test in splits:
        assert not set(train) & set(val) | set(test) & set(train)
        assert np.array_equal(np.sort(np.r_[train, val, test]), np.arange(len(trial)))
        for name in np.unique(trial):
            block = np.sort(np.r_[val, test][trial[np.r_[val, test]] == name])
            assert np.array_equal(block, np.arange(block[0], block[-1] + 1))  # one run: no gap, no other trial
            in_trial_val = val[trial[val] == name]
            assert in_trial_val.max() < test[trial[test] == name].min()  # validation first, then test


def test_splits_reject_interleaved_trials_and_too_few_events():
    with pytest.raises(ValueError, match="not contiguous"):
        encoding.contiguous_splits(["0", "0", "1", "0"] * 5, 2)
    with pytest.raises(ValueError, match=r"sub-1 scene events: 17 events .* 5 folds need at least 2") as error:
        encoding.contiguous_splits(["0"] * 17, 5, "sub-1 scene events")
    assert "\n" not in str(error.value)


def test_select_layer():
    scores = {"a": 0.1, "b": 0.3, "c": 0.3, "d": float("nan")}
    assert encoding.select_layer(scores, "validation") == "b"
    assert encoding.select_layer(scores, "last") == "d"
    with pytest.raises(ValueError, match="layer_selection"):
        encoding.select_layer(scores, "best")


# --- small synthetic stores in the contract formats -------------------------------------------------------------------


def _string_array(group, name, values):
    group.create_array(name, shape=(len(values),), dtype=str)[:] = np.asarray(values, dtype=str)


def _write_tree(root, *, seed=0, n_events=(70, 60), concat=False, nan_in=None, drop_stimuli=0, extra_electrode=False):
    """Two trials of subject "1" (movies m0, m1), both alignments, and one model's features stores.

    Layer ``l1`` is the planted one: responses of electrodes 0-1 are linear in it; ``l0`` and ``l2`` are noise.
    Each movie has fewer stimuli than events, so events share stimuli as words of one frame do.
    """
    rng = np.random.default_rng(seed)
    bins = np.array([-0.1, 0.0, 0.1])
    weights = rng.standard_normal((DIM, N_ELECTRODES * N_BINS))
    paths = {"epochs": [], "events": [], "features": {}, "trials": ["0", "1"]}
    for trial, (movie, n) in enumerate(zip(["m0", "m1"], n_events)):
        n_stimuli = n - 10
        stimulus = np.array([f"{movie}-s{i:03d}" for i in range(n_stimuli)])
        layers = {name: rng.standard_normal((n_stimuli, DIM)).astype(np.float32) for name in ("l0", "l1", "l2")}
        kept = slice(drop_stimuli, None)
        features = root / f"features/movie-{movie}.zarr"
        with atomic_zarr(features) as group:
            group.attrs.update(model="toy", family="vision", init="trained", seed=None, layers=["l0", "l1", "l2"])
            _string_array(group, "stimulus_id", stimulus[kept])
            for name, values in layers.items():
                if nan_in == "features" and name == "l1" and movie == "m1":
                    values = values.copy()
                    values[3, 2] = np.nan
                group.create_array(f"layers/{name}", data=values[kept])
            if concat:
                group.attrs.update(layers=["concat"], bands=[["l0", 0, DIM], ["l1", DIM, 2 * DIM]])
                group.create_array("layers/concat", data=np.hstack([layers["l0"], layers["l1"]])[kept])
        paths["features"][movie] = features
        rows, groups = [], {}
        for alignment in ("word", "scene"):
            shown = np.sort(rng.integers(0, n_stimuli, n))
            signal = layers["l1"][shown] @ weights
            noise = rng.standard_normal(signal.shape)
            response = 0.8 * signal * np.isin(np.arange(N_ELECTRODES), INFORMATIVE).repeat(N_BINS) + noise
            response = response.reshape(n, N_ELECTRODES, N_BINS).astype(np.float32)
            if nan_in == "responses" and trial == 1:
                response[5, 0, 0] = np.nan
            ids = [f"{alignment}-{i}" for i in range(n)]
            groups[alignment] = (ids, response)
            rows += [
                {
                    "event_id": ids[i],
                    "alignment": alignment,
                    "movie": movie,
                    "trial": str(trial),
                    "onset_s": float(i),
                    "sample": 200 * i,
                    "stimulus_id": stimulus[shown[i]],
                    "word": "w",
                    "text": "t",
                    "sentence_idx": i,
                    "valid": True,
                    "frame_time_s": float(i),
                }
                for i in range(n)
            ]
        rows.append(dict(rows[0], event_id="invalid-0", valid=False, stimulus_id="nowhere"))
        events = root / f"events/sub-1_trial-{trial}.parquet"
        write_parquet(pd.DataFrame(rows), events)
        epochs = root / f"epochs/sub-1_trial-{trial}.zarr"
        labels = [f"E{e}" for e in range(N_ELECTRODES)]
        with atomic_zarr(epochs) as group:
            group.create_array("bin_time_s", data=bins)
            if extra_electrode and trial == 1:
                labels = labels + ["X9"]
            _string_array(group, "electrode", labels)
            for alignment, (ids, response) in groups.items():
                if extra_electrode and trial == 1:
                    response = np.concatenate([response, response[:, :1]], axis=1)
                group.create_array(f"{alignment}/response", data=response)
                _string_array(group[alignment], "event_id", ids)
        paths["epochs"].append(epochs)
        paths["events"].append(events)
    return paths


def _resamples(root, paths, n_resamples=20):
    resamples = encoding.subject_resamples(
        subject="1",
        trials=paths["trials"],
        epochs_paths=paths["epochs"],
        events_paths=paths["events"],
        alignments=["word", "scene"],
        n_resamples=n_resamples,
        seed=0,
        block_s=5.0,
    )
    with atomic_zarr(root / "resamples.zarr", {"n_resamples": n_resamples}) as group:
        resamples.write(group)
    return root / "resamples.zarr"


def _fit(root, paths, encoding_cfg=ENCODING, bootstrap_cfg=BOOTSTRAP, instance=TOY):
    resamples = _resamples(root, paths, bootstrap_cfg["n_resamples"])
    return encoding.fit_subject_model(
        subject="1",
        trials=paths["trials"],
        epochs_paths=paths["epochs"],
        events_paths=paths["events"],
        features_paths=paths["features"],
        resamples_path=resamples,
        encoding=encoding_cfg,
        bootstrap_config=bootstrap_cfg,
        seed=0,
        instance=instance,
        device="cpu",
    )


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    root = tmp_path_factory.mktemp("fit")
    paths = _write_tree(root)
    fit = _fit(root, paths)
    with atomic_zarr(root / "model-toy.zarr", {"encoding": ENCODING}) as group:
        fit.write(group)
    return root, paths, fit


def test_fit_store_layout_and_planted_layer(fitted):
    root, _, fit = fitted
    store = open_zarr(root / "model-toy.zarr")
    assert store.attrs["chosen_layer"] == {"word": "l1", "scene": "l1"}
    assert (store.attrs["subject"], store.attrs["model"], store.attrs["family"]) == ("1", "toy", "vision")
    assert list(store["electrode"][:]) == ["E0", "E1", "E2", "E3"]
    for alignment in ("word", "scene"):
        group = store[alignment]
        assert group.attrs["chosen_layer"] == "l1" and group.attrs["n_events"] == 130
        assert group.attrs["layers"] == ["l0", "l1", "l2"]
        for layer in ("l0", "l1", "l2"):
            for key in ("val_r", "test_r", "alpha"):
                assert group[f"layers/{layer}/{key}"].shape == (N_ELECTRODES, N_BINS)
        assert sorted(group["boot"]) == ["l1"]  # only the chosen layer is resampled
        for key in ("iid_val_r", "iid_test_r", "block_val_r", "block_test_r"):
            assert group[f"boot/l1/{key}"].shape == (20, N_ELECTRODES, N_BINS)
            assert group[f"boot/l1/{key}"].dtype == np.float16
        test_r = group["layers/l1/test_r"][:]
        assert test_r[INFORMATIVE].min() > 0.5  # the planted linear response is recovered
        assert np.abs(test_r[2:]).mean() < 0.25
        assert group["layers/l0/test_r"][:][INFORMATIVE].mean() < 0.3
        val_lo, val_hi = group["val_lo"][:], group["val_hi"][:]
        assert (val_lo[INFORMATIVE] > 0).all() and (val_lo <= val_hi).all()
        assert set(np.unique(group["layers/l1/alpha"][:])) <= set(np.logspace(-1, 5, 7).astype(np.float32))
        # the bootstrap distribution sits around the point estimate of the validation r
        boot_mean = group["boot/l1/iid_val_r"][:].astype(np.float32).mean(axis=0)
        np.testing.assert_allclose(boot_mean, group["layers/l1/val_r"][:], atol=0.1)


def test_scores_table(fitted):
    root, _, _ = fitted
    table = encoding.scores_table([root / "model-toy.zarr"])
    assert list(table.columns) == encoding.SCORE_COLUMNS
    assert len(table) == 2 * N_ELECTRODES * N_BINS
    assert set(table["layer"]) == {"l1"} and set(table["subject"]) == {"1"}
    word = table[table["alignment"] == "word"]
    store = open_zarr(root / "model-toy.zarr")
    np.testing.assert_array_equal(word["test_r"].to_numpy(), store["word/layers/l1/test_r"][:].ravel())
    assert word["electrode"].tolist()[:4] == ["E0", "E0", "E0", "E1"]
    assert word["bin_time_s"].tolist()[:4] == [-0.1, 0.0, 0.1, -0.1]
    assert (table["kept"] == (table["val_lo"] > 0)).all()


def test_same_inputs_give_identical_stores(fitted, tmp_path):
    root, paths, _ = fitted
    again = _fit(tmp_path, paths)
    with atomic_zarr(tmp_path / "model-toy.zarr", {"encoding": ENCODING}) as group:
        again.write(group)
    assert content_sha256(tmp_path / "model-toy.zarr") == content_sha256(root / "model-toy.zarr")  # byte-identical


def test_last_layer_selection_and_refit_protocol(fitted, tmp_path):
    _, paths, _ = fitted
    fit = _fit(
        tmp_path,
        paths,
        dict(ENCODING, layer_selection="last", alignments=["word"]),
        dict(BOOTSTRAP, protocol="refit", n_resamples=4),
    )
    assert fit.alignments["word"].chosen_layer == "l2" and list(fit.alignments["word"].layers) == ["l2"]
    assert fit.alignments["word"].boot["l2"]["block_val_r"].shape == (4, N_ELECTRODES, N_BINS)


def test_screening_fits_only_the_leading_layer_and_finds_the_planted_one(fitted, tmp_path):
    _, paths, full = fitted
    screen = dict(ENCODING, layer_selection="screen", screening={"features": 4, "targets": 6, "z": 0.0, "growth": 4})
    fit = _fit(tmp_path, paths, screen)
    for alignment in ("word", "scene"):
        screened = fit.alignments[alignment]
        assert screened.chosen_layer == "l1" and list(screened.layers) == ["l1"] and list(screened.boot) == ["l1"]
        assert list(screened.proxy_val_r) == ["l0", "l1", "l2"]
        assert max(screened.proxy_val_r, key=screened.proxy_val_r.__getitem__) == "l1"
        # The leading layer's fit is the full search's fit of that layer.
        np.testing.assert_array_equal(screened.layers["l1"].val_r, full.alignments[alignment].layers["l1"].val_r)
        np.testing.assert_array_equal(screened.val_lo, full.alignments[alignment].val_lo)
    with atomic_zarr(tmp_path / "model-toy.zarr", {"encoding": screen}) as group:
        fit.write(group)
    store = FitStore(tmp_path / "model-toy.zarr")
    assert store.layers("word") == ["l1"] and set(open_zarr(store.path)["word"].attrs["proxy_val_r"]) == {
        "l0",
        "l1",
        "l2",
    }


def test_screening_every_target_unsketched_is_the_full_search_run_once(fitted, tmp_path):
    _, paths, full = fitted
    exact = {"features": 0, "targets": 10_000, "z": 2.0, "growth": 4}  # the proxy would be the criterion itself
    fit = _fit(tmp_path, paths, dict(ENCODING, layer_selection="screen", alignments=["word"], screening=exact))
    word = fit.alignments["word"]
    assert word.proxy_val_r == {} and word.mean_val_r == full.alignments["word"].mean_val_r
    assert word.chosen_layer == "l1"


def test_unknown_method_and_non_finite_margin_are_refused():
    with pytest.raises(ValueError, match="use validation, last or screen"):
        encoding.search_layers(
            lambda layer: np.zeros((10, 2)), ["a"], np.zeros((10, 3)), [], None, shape=(1, 3), layer_selection="best"
        )  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        screening.Screening.from_config({"features": 0, "targets": 10, "z": float("nan"), "growth": 4})
    rng = np.random.default_rng(0)
    proxy = {"a": rng.standard_normal(50), "b": rng.standard_normal(50)}
    assert screening.leading_layers(proxy, 50, float("inf")) != []  # no sampling error: the best alone, not NaN


def test_leading_layers_are_those_the_proxy_cannot_tell_from_the_best():
    rng = np.random.default_rng(0)
    best = 0.2 + 0.1 * rng.standard_normal(400)
    proxy = {"a": best - 0.1, "b": best, "c": best - 0.001 + 0.05 * rng.standard_normal(400), "d": best - 0.05}
    assert screening.leading_layers(proxy, 40_000, 2.0) == ["b", "c"]
    assert screening.leading_layers(proxy, 40_000, 0.0) == ["b"]
    assert screening.leading_layers(proxy, 400, 2.0) == ["b"]  # every target scored: no sampling error
    tied = {"a": best, "b": best.copy()}
    assert screening.leading_layers(tied, 400, 0.0) == ["a", "b"]


def test_near_ties_are_rescored_on_more_targets_until_one_leads():
    # Per-target proxy r of four layers over 4096 targets: "b" beats "a" by 0.02 on average, less than the
    # per-target spread, so 64 targets cannot tell them apart; "c" and "d" are clearly worse.
    rng = np.random.default_rng(1)
    base = 0.1 + 0.1 * rng.standard_normal(4096)
    table = {
        "a": base + 0.1 * rng.standard_normal(4096),
        "b": base + 0.02 + 0.1 * rng.standard_normal(4096),
        "c": base - 0.3,
        "d": base - 0.4,
    }
    targets = np.arange(4096, dtype=np.float64)[None, :]  # a target's value is its index: the fake scorer reads it
    scored: dict[str, list[int]] = {}

    def score(design, proxy_targets, splits):
        layer, columns = design, proxy_targets[0].astype(int)
        scored.setdefault(layer, []).extend(columns.tolist())
        return table[layer][columns][None, :]

    def screen(growth):
        scored.clear()
        plan = screening.Screening(features=0, targets=64, z=2.0, growth=growth)
        return screening.screen_layers(lambda layer: layer, list(table), targets, [], score, plan, 0, "sub-1 words")

    leading, proxy = screen(growth=1)
    assert leading == ["a", "b"] and all(len(columns) == 64 for columns in scored.values())
    leading, proxy = screen(growth=4)
    assert leading == ["b"]
    # Only the leading layers were rescored, on nested subsets of at most a quarter of the targets, each target once.
    assert len(scored["c"]) == len(scored["d"]) == 64
    assert len(scored["a"]) == len(set(scored["a"])) > 64 and len(scored["a"]) <= 1024
    assert scored["a"][:64] == scored["c"] and scored["b"] == scored["a"]
    assert proxy["b"] == pytest.approx(table["b"][scored["b"]].mean())
    # Layers still tied when a round would pass a quarter of the targets are left to the full fits.
    table["b"] = table["a"].copy()
    leading, _ = screen(growth=4)
    assert leading == ["a", "b"] and len(scored["a"]) == 1024


def test_screening_targets_are_a_seeded_subset():
    subset = screening.target_subset(1000, 50, 0, "sub-1 word events")
    assert len(np.unique(subset)) == 50 and (np.diff(subset) > 0).all() and subset.max() < 1000
    np.testing.assert_array_equal(subset, screening.target_subset(1000, 50, 0, "sub-1 word events"))
    assert not np.array_equal(subset, screening.target_subset(1000, 50, 0, "sub-1 scene events"))
    np.testing.assert_array_equal(screening.target_subset(40, 50, 0, "x"), np.arange(40))


def test_the_proxy_scores_as_the_full_fit_and_a_wide_layer_from_one_shared_kernel(monkeypatch):
    rng = np.random.default_rng(0)
    design = rng.standard_normal((90, 6)).astype(np.float32)
    targets = (design[:, :2] @ rng.standard_normal((2, 7)) + rng.standard_normal((90, 7))).astype(np.float32)
    splits = encoding.contiguous_splits(["0"] * 90, 5)
    settings = encoding.RidgeSettings(np.logspace(-1, 3, 4), 5, 1, 0, "cpu", None)
    shared = []
    monkeypatch.setattr(ridge, "shared_kernel_validation_r", lambda *a, **k: shared.append(a) or np.zeros((5, 7)))
    # Folds decomposed one at a time (one torch thread); with more the engine decomposes them side by side.
    monkeypatch.setattr(ridge, "concurrent_items", lambda n_items, device: 1)
    # A narrow layer: the engine's fit, scoring the validation rows alone, is the full fit's validation r.
    proxy = screening.proxy_scores(
        design, targets, splits, settings.validation_r, screening.Screening(0, 7, 2.0, 4), 0, "l0"
    )
    full = settings.cross_validate(design, targets, splits)
    assert full.prediction is not None and np.isfinite(full.test_r).all() and not shared
    np.testing.assert_array_equal(proxy, np.asarray(full.val_r, dtype=np.float64).mean(axis=0))
    # A layer wider than its events: one decomposition of the kernel over all rows serves the five folds.
    wide = rng.standard_normal((90, 400)).astype(np.float32)
    assert ridge.shared_kernel_pays(90, 400, splits, settings.alphas, 7, 1, torch.device("cpu"), None)
    # Over the budget:
    assert not ridge.shared_kernel_pays(90, 400, splits, settings.alphas, 7, 1, torch.device("cpu"), 1000)
    np.testing.assert_array_equal(settings.validation_r(wide, targets, splits), np.zeros((5, 7)))
    assert len(shared) == 1
    # A sparse layer whose column varies only in one fold's held-out rows: the engine weights it by those rows'
    # variance, the shared kernel by all rows', so the engine scores it.
    sparse = wide.copy()
    sparse[:, 0] = 0.0
    sparse[splits[2][1], 0] = rng.standard_normal(len(splits[2][1]))
    sparse[splits[0][1][0], 0] = 0.01  # a little variance in fold 2's training rows: not constant there
    assert ridge.scaling_agrees(wide, splits) and not ridge.scaling_agrees(sparse, splits)
    sparse[splits[0][1][0], 0] = 1e-6  # nearly constant there: the engine weights it by that tiny variance
    assert not ridge.scaling_agrees(sparse, splits)
    # Variances about the mean: a large offset with a small spread is the dense case, not round-off.
    assert ridge.scaling_agrees(1e7 + wide[:, :50], splits) and ridge.scaling_agrees(
        wide.astype(np.float64) * 1e-3 + 1e6, splits
    )
    assert np.isfinite(settings.validation_r(sparse, targets, splits)).all() and len(shared) == 1


def test_sketch_standardises_and_keeps_the_kernel():
    rng = np.random.default_rng(0)
    latent = rng.standard_normal((300, 10))
    wide = (latent @ rng.standard_normal((10, 2000)) + 0.1 * rng.standard_normal((300, 2000))).astype(np.float32)
    wide[:, 7] = 3.0  # a constant column carries nothing
    scaled = screening.sketch(wide, 4000, 0, "l0")  # narrower than the sketch: only standardised
    assert scaled.shape == wide.shape and np.all(scaled[:, 7] == 0)
    np.testing.assert_array_equal(screening.sketch(wide, 0, 0, "l0"), scaled)
    np.testing.assert_allclose(scaled[:, 1].std(), 1.0, rtol=1e-5)
    kernel = scaled.astype(np.float64) @ scaled.T
    sketched = screening.sketch(wide, 512, 0, "l0").astype(np.float64)
    assert sketched.shape == (300, 512)
    np.testing.assert_array_equal(sketched, screening.sketch(wide, 512, 0, "l0"))
    error = np.linalg.norm(sketched @ sketched.T - kernel) / np.linalg.norm(kernel)
    # The approximate-multiplication bound of a Gaussian sketch: E err^2 <= (2 / width) ||X||_F^4 / ||X X'||_F^2.
    bound = np.sqrt(2 / 512) * np.trace(kernel) / np.linalg.norm(kernel)
    assert error < bound


def test_screen_needs_its_settings():
    with pytest.raises(ValueError, match="screening"):
        encoding.search_layers(
            lambda layer: np.zeros((10, 2)),
            ["a", "b"],
            np.zeros((10, 3)),
            [],
            None,  # type: ignore[arg-type]
            shape=(1, 3),
            layer_selection="screen",
        )


def test_a_fit_reads_only_the_settings_its_model_uses():
    """The rule's key leaves out banded ridge's draws for a network and the screening for a baseline."""
    rng = np.random.default_rng(2)
    designs = {"plain": rng.standard_normal((120, 6)), "banded": [rng.standard_normal((120, 3)) for _ in range(2)]}
    targets = rng.standard_normal((120, 4))
    splits = encoding.contiguous_splits(np.repeat(["0"], 120), 5)
    alphas = {"log10_min": -1, "log10_max": 3, "n": 3}
    network = encoding.RidgeSettings.from_config({"alphas": alphas, "n_folds": 5}, 0, "cpu", None)
    assert network.banded_iterations is None
    search = encoding.search_layers(designs.__getitem__, ["plain"], targets, splits, network, shape=(1, 4))
    assert list(search.layers) == ["plain"]
    with pytest.raises(ValueError, match="banded ridge needs encoding.banded.n_iter"):
        encoding.search_layers(designs.__getitem__, list(designs), targets, splits, network, shape=(1, 4), banded=True)
    baseline = encoding.RidgeSettings.from_config(
        {"alphas": alphas, "n_folds": 5, "banded": {"n_iter": 2}}, 0, "cpu", None
    )
    search = encoding.search_layers(
        designs.__getitem__,
        list(designs),
        targets,
        splits,
        baseline,
        shape=(1, 4),
        layer_selection="screen",
        banded=True,
    )
    assert list(search.layers) == ["plain", "banded"]


def test_protocols_agree_on_a_small_problem():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((150, 5)).astype(np.float32)
    signal = X @ rng.standard_normal((5, 12))
    strength = np.linspace(0, 1.2, 12)
    Y = (signal * strength + rng.standard_normal((150, 12))).astype(np.float32)
    trial = np.array(["0"] * 80 + ["1"] * 70)
    indices = resampling.draw_resamples(150, 30, resampling.resample_seed(0, "1", "word"))
    settings = encoding.RidgeSettings.from_config(ENCODING, seed=0, device="cpu", memory_gb=None)
    agreement = compare_protocols(X, Y, trial_of_event=trial, indices=indices, settings=settings, ci=0.9)
    assert agreement["n_targets"] == 12
    assert agreement["lower_bound_r"] > 0.8 and agreement["upper_bound_r"] > 0.8
    assert agreement["kept_agreement"] >= 10 / 12


def test_electrodes_are_intersected_across_trials(tmp_path, caplog):
    paths = _write_tree(tmp_path, extra_electrode=True)
    responses = encoding.load_responses(paths["epochs"], paths["events"], paths["trials"], "word")
    assert list(responses.electrode) == ["E0", "E1", "E2", "E3"]
    assert responses.response.shape == (130, N_ELECTRODES, N_BINS)
    assert "1 of 5 electrodes are not in every trial" in caplog.text


def test_concat_model_is_fitted_plain_and_banded(tmp_path):
    paths = _write_tree(tmp_path, concat=True)
    concat = toy_instance(components=("a", "b"), pair=None)
    fit = _fit(tmp_path, paths, dict(ENCODING, alignments=["word"]), dict(BOOTSTRAP, n_resamples=5), concat)
    layers = fit.alignments["word"].layers
    assert list(layers) == ["concat", "concat-banded"]
    assert layers["concat-banded"].band_weights.shape == (N_ELECTRODES, N_BINS, 2)
    # the planted space l1 (second band) carries more weight than the noise space where the response is planted
    weights = layers["concat-banded"].band_weights[INFORMATIVE]
    assert (weights[..., 1] > weights[..., 0]).mean() > 0.8
    with atomic_zarr(tmp_path / "concat.zarr") as group:
        fit.write(group)
    store = open_zarr(tmp_path / "concat.zarr")
    assert store["word/layers/concat-banded"].attrs["bands"] == ["l0", "l1"]
    # both fits of the baseline are resampled: each is compared in its own right
    assert FitStore(tmp_path / "concat.zarr").boot_layers("word") == ["concat", "concat-banded"]
    scores = model_scores(FitStore(tmp_path / "concat.zarr"), "word")
    assert [(m.layer, m.baseline) for m in scores] == [("concat", True), ("concat-banded", True)]
    assert scores[1].boot["block_test_r"].shape == (5, N_ELECTRODES, N_BINS)


# --- bad input --------------------------------------------------------------------------------------------------------


def _one_line_error(match, call):
    with pytest.raises(ValueError, match=match) as error:
        call()
    assert "\n" not in str(error.value)


def test_nan_features_name_the_store(tmp_path):
    paths = _write_tree(tmp_path, nan_in="features")
    _one_line_error(r"movie-m1\.zarr: 1 NaN values in layers/l1; rerun features", lambda: _fit(tmp_path, paths))


def test_nan_responses_name_the_store(tmp_path):
    paths = _write_tree(tmp_path, nan_in="responses")
    _one_line_error(r"sub-1_trial-1\.zarr: 1 NaN values in word/response", lambda: _fit(tmp_path, paths))


def test_missing_stimuli_name_the_store_and_count(tmp_path):
    paths = _write_tree(tmp_path, drop_stimuli=3)
    _one_line_error(
        r"movie-m0\.zarr: [1-3] stimulus ids of this subject's events are missing; rerun features",
        lambda: _fit(tmp_path, paths),
    )


def test_too_few_events_for_the_folds(tmp_path):
    paths = _write_tree(tmp_path, n_events=(12, 11))
    _one_line_error(
        r"sub-1 word events: 23 events \(per trial \{'0': 12, '1': 11\}\) leave fold \d+ with .* 1 test",
        lambda: _fit(tmp_path, paths, dict(ENCODING, n_folds=10)),
    )


def test_resamples_of_other_events_are_refused(fitted, tmp_path):
    root, paths, _ = fitted
    resamples = _resamples(tmp_path, paths)
    other = _write_tree(tmp_path / "other", n_events=(70, 61))
    _one_line_error(
        r"resamples.zarr: resamples were drawn for other word events \(130 vs 131 now\); rerun resamples",
        lambda: encoding.fit_subject_model(
            subject="1",
            trials=other["trials"],
            epochs_paths=other["epochs"],
            events_paths=other["events"],
            features_paths=other["features"],
            resamples_path=resamples,
            encoding=ENCODING,
            bootstrap_config=BOOTSTRAP,
            seed=0,
            instance=TOY,
            device="cpu",
        ),
    )


def test_constant_targets_and_features_are_handled(tmp_path):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((100, 4)).astype(np.float32)
    X[:, 1] = 3.0  # a constant feature
    Y = np.c_[X[:, 0] * 2 + rng.standard_normal(100), np.full(100, 5.0)].astype(np.float32)
    settings = encoding.RidgeSettings.from_config(ENCODING, seed=0, device="cpu", memory_gb=None)
    splits = encoding.contiguous_splits(["0"] * 100, 5)
    result = settings.cross_validate(X, Y, splits)
    assert np.isfinite(result.val_r).all() and (result.val_r[:, 1] == 0).all()
    val_r, test_r = fast.fast_bootstrap(result.prediction, Y, splits, resampling.draw_resamples(100, 5, 0))
    assert (val_r[:, 1] == 0).all() and (test_r[:, 1] == 0).all() and (val_r[:, 0] > 0.5).all()


# --- the workflow scripts, run as Snakemake runs them (a ``snakemake`` global) ----------------------------------------


def _Named(items=(), **named):
    """Snakemake's named file list: the positional entries, then the named ones (``unpack`` of a dict)."""
    out = Namedlist(toclone=list(items))
    out.update(named)
    return out


def _trial_inputs(paths):
    """The epochs and events inputs as the resamples and fit rules name them (``epochs/<trial>``)."""
    return {
        **keyed_inputs("epochs", dict(zip(paths["trials"], map(str, paths["epochs"]), strict=True))),
        **keyed_inputs("events", dict(zip(paths["trials"], map(str, paths["events"]), strict=True))),
    }


def _run_script(name, **snakemake):
    snakemake.setdefault("wildcards", SimpleNamespace(subject="1", model="toy"))
    snakemake.setdefault("threads", 1)
    runpy.run_path(str(SCRIPTS / name), init_globals={"snakemake": SimpleNamespace(**snakemake)})


@pytest.fixture
def restore_logging():
    yield
    logger = logging.getLogger("vlencode")
    for handler in list(logger.handlers):
        handler.close()
    logger.handlers.clear()
    logger.propagate = True


def test_scripts_write_resamples_fit_and_scores(fitted, tmp_path, restore_logging):
    _, paths, _ = fitted
    fit_settings = {"seed": 0, "encoding": ENCODING, "bootstrap": BOOTSTRAP}
    resamples_settings = {
        "seed": 0,
        "bootstrap": {"n_resamples": 20, "block_s": 5.0, "block_kind": "circular"},
        "encoding": {"alignments": ["word", "scene"]},
    }
    resamples = tmp_path / "sub-1/resamples.zarr"
    _run_script(
        "resamples.py",
        input=_Named(**_trial_inputs(paths)),
        output=_Named([str(resamples)]),
        log=_Named([str(tmp_path / "resamples.log")]),
        params=SimpleNamespace(settings=json.dumps(resamples_settings)),
    )
    assert open_zarr(resamples)["word/indices"].shape == (20, 130)
    assert open_zarr(resamples)["word/block_indices"].shape == (20, 130)
    fit = tmp_path / "sub-1/model-toy.zarr"
    _run_script(
        "fit.py",
        input=_Named(
            **_trial_inputs(paths),
            **keyed_inputs("features", {m: str(p) for m, p in paths["features"].items()}),
            resamples=str(resamples),
        ),
        output=_Named([str(fit)]),
        log=_Named([str(tmp_path / "fit.log")]),
        params=SimpleNamespace(settings=json.dumps(fit_settings), model=TOY.as_dict()),
        resources=SimpleNamespace(device="cpu", memory_gb="auto"),
    )
    assert open_zarr(fit).attrs["chosen_layer"] == {"word": "l1", "scene": "l1"}
    # the provenance keys each input by the name the rule gives it; a store by its root metadata
    hashes = read_provenance(fit)["inputs"]
    assert sorted(hashes) == ["epochs/0", "epochs/1", "events/0", "events/1", "features/m0", "features/m1", "resamples"]
    assert hashes["resamples"] == file_sha256(resamples / "zarr.json") == FitStore(fit).resamples_sha256
    assert "chosen layers" in (tmp_path / "fit.log").read_text()
    scores = tmp_path / "scores.parquet"
    log = _Named([str(tmp_path / "scores.log")])
    _run_script(
        "scores.py",
        input=_Named(**keyed_inputs("fit", {("1", "toy"): str(fit)})),
        output=_Named([str(scores)]),
        log=log,
        params=SimpleNamespace(settings=json.dumps({"version": 1})),
    )
    table = read_parquet(scores)
    assert list(table.columns) == encoding.SCORE_COLUMNS and len(table) == 2 * N_ELECTRODES * N_BINS
    assert read_provenance(scores)["inputs"] == {"fit/1/toy": file_sha256(fit / "zarr.json")}


def test_fast_bootstrap_without_resampling_reproduces_the_fold_scores():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((90, 5)).astype(np.float32)
    Y = (X @ rng.standard_normal((5, 6)) + 2 * rng.standard_normal((90, 6))).astype(np.float32)
    splits = encoding.contiguous_splits(["0"] * 50 + ["1"] * 40, 3)
    result = encoding.RidgeSettings.from_config(ENCODING, seed=0, device="cpu", memory_gb=None).cross_validate(
        X, Y, splits
    )
    identity = np.arange(90)[None, :]  # one "resample" that draws every event once
    val_r, test_r = fast.fast_bootstrap(result.prediction, Y, splits, identity)
    np.testing.assert_allclose(val_r[0], result.val_r.mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(test_r[0], result.test_r.mean(axis=0), atol=1e-5)


def test_shifted_inflation_widens_the_stored_resamples_around_the_estimate(fitted, tmp_path):
    _, paths, plain = fitted
    fit = _fit(tmp_path, paths, bootstrap_cfg=dict(BOOTSTRAP, inflation="shifted"))
    for alignment in ("word", "scene"):
        before, after = plain.alignments[alignment], fit.alignments[alignment]
        assert before.inflation == {} and list(after.inflation) == ["l1"]
        assert sorted(after.inflation["l1"]) == ["block_test_r", "block_val_r", "iid_test_r", "iid_val_r"]
        for key, factor in after.inflation["l1"].items():
            assert factor >= 1.0
            estimate = getattr(after.layers["l1"], key.split("_", 1)[1])
            expected = np.clip(estimate + factor * (before.boot["l1"][key].astype(np.float32) - estimate), -1, 1)
            np.testing.assert_allclose(after.boot["l1"][key].astype(np.float32), expected, atol=4e-3)
        assert (after.val_lo <= before.val_lo + 1e-6).all() and (after.val_hi >= before.val_hi - 1e-6).all()
    assert max(fit.alignments["word"].inflation["l1"].values()) > 1.0  # the toy's folds do fall short at words


def test_inflation_is_checked_and_left_to_the_fast_protocol(fitted, tmp_path):
    _, paths, _ = fitted
    one = dict(ENCODING, alignments=["word"])
    refit = _fit(tmp_path, paths, one, dict(BOOTSTRAP, protocol="refit", n_resamples=4, inflation="shifted"))
    assert refit.alignments["word"].inflation == {}  # the refit protocol refits: nothing to widen
    with pytest.raises(ValueError, match="bootstrap.inflation: unknown method 'x'"):
        _fit(tmp_path, paths, one, dict(BOOTSTRAP, inflation="x"))
    with pytest.raises(ValueError, match=r"shifted needs bootstrap.n_resamples >= 10 \(got 9\)"):
        _fit(tmp_path, paths, one, dict(BOOTSTRAP, inflation="shifted", n_resamples=9))
    config = dict(BOOTSTRAP, inflation="shifted", n_resamples=9)
    with pytest.raises(ConfigError, match=r"^config/x\.yaml: bootstrap\.n_resamples: 9 is fewer than the 10 that"):
        encoding.fitting.check_bootstrap_config(config, source="config/x.yaml")  # at start-up, before any job
    encoding.fitting.check_bootstrap_config(dict(config, protocol="refit"))  # the refit protocol is never widened
    encoding.fitting.check_bootstrap_config(dict(config, n_resamples=10))
