"""The ridge engine against scikit-learn and against itself (paths, batches, devices, repeated runs).

tests/golden/ridge_search.json holds the search's exact results on a few shapes that select every variant of a fold;
after a deliberate change of the engine's numerics, record them with ``VLENCODE_RECORD_GOLDEN=1 pytest
tests/test_ridge.py -k recorded``.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from sklearn.linear_model import Ridge

from vlencode.ridge import (
    band_weight_candidates,
    banded_ridge_cv,
    cross_validated_ridge,
    plan_targets_batch,
    ridge_coefficients,
    shared_kernel_pays,
    shared_kernel_validation_r,
)
from vlencode.ridge.decomposition import _eigh, decompose, gram_matrix
from vlencode.ridge.memory import (
    available_memory_bytes,
    blas_threads,
    cgroup_room,
    fixed_bytes,
    fold_bytes,
    map_single_threaded,
    slurm_memory_mb,
    torch_threads,
)
from vlencode.ridge.search import SearchOptions, plan_batch, search
from vlencode.ridge.shared_kernel import null_space_pays

ALPHAS = np.logspace(-1, 5, 7)


def make_problem(n_samples: int, n_features: int, n_targets: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features with offsets and unequal scales; targets a noisy linear read-out of them plus offsets."""
    rng = np.random.default_rng(seed)
    scale, offset = rng.uniform(0.5, 3.0, n_features), rng.uniform(-2, 2, n_features)
    X = rng.standard_normal((n_samples, n_features)) * scale + offset
    weights = rng.standard_normal((n_features, n_targets)) * (rng.random(n_targets) < 0.8)
    Y = X @ weights / np.sqrt(n_features) + rng.standard_normal((n_samples, n_targets)) * rng.uniform(0.3, 3, n_targets)
    return X.astype(np.float32), (Y + rng.uniform(-5, 5, n_targets)).astype(np.float32)


def contiguous_splits(
    n_samples: int, n_folds: int = 5, order: np.ndarray | None = None
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """KFold without shuffling (over ``order`` when given); the held-out fold's first half validates, its second
    half tests."""
    order = np.arange(n_samples) if order is None else order
    splits = []
    for held in np.array_split(order, n_folds):
        half = len(held) // 2
        splits.append((order[~np.isin(order, held)], held[:half], held[half:]))
    return splits


def corr(a: np.ndarray, b: np.ndarray) -> float:
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


@pytest.mark.parametrize(("n_samples", "n_features"), [(80, 12), (25, 60)])
@pytest.mark.parametrize("standardize", [False, True])
def test_coefficients_equal_sklearn_ridge(n_samples, n_features, standardize):
    X, Y = make_problem(n_samples, n_features, 4)
    X64, Y64 = X.astype(np.float64), Y.astype(np.float64)
    scale = X64.std(0) if standardize else np.ones(n_features)
    reference = Ridge(alpha=3.0, fit_intercept=True).fit(X64 / scale, Y64)
    coef, intercept = ridge_coefficients(X, Y, 3.0, standardize=standardize)
    np.testing.assert_allclose(coef, reference.coef_.T / scale[:, None], rtol=1e-5, atol=1e-5 * np.abs(coef).max())
    np.testing.assert_allclose(intercept, reference.intercept_, rtol=1e-5)


def test_coefficients_take_one_alpha_per_target():
    X, Y = make_problem(50, 8, 3)
    alphas = np.array([0.1, 10.0, 1000.0])
    coef, intercept = ridge_coefficients(X, Y, alphas)
    for j, alpha in enumerate(alphas):
        reference = Ridge(alpha=alpha).fit(X.astype(np.float64), Y[:, j].astype(np.float64))
        np.testing.assert_allclose(coef[:, j], reference.coef_, rtol=1e-5, atol=1e-9)
        np.testing.assert_allclose(intercept[j], reference.intercept_, rtol=1e-5)


@pytest.mark.parametrize(
    ("n_samples", "n_features", "gap"), [(120, 10, False), (120, 10, True), (40, 45, False)], ids=str
)
@pytest.mark.parametrize("standardize", [False, True])
def test_refit_is_sklearn_ridge_at_the_fold_mean_best_alpha(n_samples, n_features, gap, standardize):
    # Folds that hold out every row are downdated (the refit reuses their Gram matrices); a gap of unused rows per
    # fold and a design wider than its folds' training rows take the direct decompositions.
    X, Y = make_problem(n_samples, n_features, 5)
    splits = contiguous_splits(n_samples)
    if gap:
        splits = [(train, val, test[:-2]) for train, val, test in splits]
    result = cross_validated_ridge(
        X, Y, splits, ALPHAS, dtype=torch.float64, standardize=standardize, return_all_alphas=True, refit=True
    )
    chosen = ALPHAS[result.val_r_all.mean(0).argmax(0)]
    np.testing.assert_array_equal(result.refit_alpha, chosen)
    assert len(np.unique(chosen)) > 1  # the targets do not all share one alpha
    X64, Y64 = X.astype(np.float64), Y.astype(np.float64)
    scale = X64.std(0) if standardize else np.ones(n_features)
    for j, alpha in enumerate(chosen):
        reference = Ridge(alpha=alpha).fit(X64 / scale, Y64[:, j])
        np.testing.assert_allclose(result.coef[:, j], reference.coef_ / scale, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(result.intercept[j], reference.intercept_, rtol=1e-5)


@pytest.mark.parametrize(("n_samples", "n_features", "shuffled"), [(100, 10, False), (40, 45, False), (100, 10, True)])
def test_fold_scores_equal_a_naive_loop_over_alphas(n_samples, n_features, shuffled):
    X, Y = make_problem(n_samples, n_features, 6)
    Y[:, 2] = 1.5  # constant target: r is 0, not NaN
    # Shuffled folds scatter the training rows over many runs, so the engine gathers them instead of using views.
    order = np.random.default_rng(2).permutation(n_samples) if shuffled else None
    splits = contiguous_splits(n_samples, order=order)
    result = cross_validated_ridge(X, Y, splits, ALPHAS, dtype=torch.float64, return_all_alphas=True, device="cpu")
    expected_prediction = np.full(Y.shape, np.nan)
    for k, (train, val, test) in enumerate(splits):
        mean, std = X[train].astype(np.float64).mean(0), X[train].astype(np.float64).std(0)
        scaled = (X.astype(np.float64) - mean) / std
        models = [Ridge(alpha=alpha).fit(scaled[train], Y[train].astype(np.float64)) for alpha in ALPHAS]
        val_r = np.array([[corr(m.predict(scaled[val])[:, j], Y[val, j]) for j in range(6)] for m in models])
        np.testing.assert_allclose(result.val_r_all[k], val_r, atol=1e-5)
        best = val_r.argmax(0)
        np.testing.assert_array_equal(result.best_alpha[k], ALPHAS[best])
        for j in range(6):
            model = models[best[j]]
            expected_prediction[val, j] = model.predict(scaled[val])[:, j]
            expected_prediction[test, j] = model.predict(scaled[test])[:, j]
            assert result.val_r[k, j] == pytest.approx(val_r[best[j], j], abs=1e-5)
            assert result.test_r[k, j] == pytest.approx(corr(expected_prediction[test, j], Y[test, j]), abs=1e-5)
    np.testing.assert_allclose(result.prediction, expected_prediction, rtol=1e-5, atol=1e-5)
    assert np.all(result.val_r[:, 2] == 0) and np.all(result.test_r[:, 2] == 0)


def test_wide_design_in_float32_matches_sklearn_per_fold_and_alpha():
    # More features than events, in the compute dtype the study uses: every fold and the refit take the dual form,
    # whose held-out rows are projected through the cross-kernel (no feature basis).
    n_samples, n_features, n_targets = 120, 400, 4
    X, Y = make_problem(n_samples, n_features, n_targets)
    splits = contiguous_splits(n_samples)
    result = cross_validated_ridge(X, Y, splits, ALPHAS, device="cpu", return_all_alphas=True, refit=True)
    assert set(result.solver) == {"dual"}
    X64, Y64 = X.astype(np.float64), Y.astype(np.float64)
    for k, (train, val, test) in enumerate(splits):
        scaled = (X64 - X64[train].mean(0)) / X64[train].std(0)
        models = [Ridge(alpha=alpha).fit(scaled[train], Y64[train]) for alpha in ALPHAS]
        val_r = np.array([[corr(m.predict(scaled[val])[:, j], Y64[val, j]) for j in range(n_targets)] for m in models])
        np.testing.assert_allclose(result.val_r_all[k], val_r, atol=1e-4)
        best = val_r.argmax(0)
        np.testing.assert_array_equal(result.best_alpha[k], ALPHAS[best])
        test_r = [corr(models[best[j]].predict(scaled[test])[:, j], Y64[test, j]) for j in range(n_targets)]
        np.testing.assert_allclose(result.test_r[k], test_r, atol=1e-4)
    scale = X64.std(0)
    for j, alpha in enumerate(result.refit_alpha):
        reference = Ridge(alpha=alpha).fit(X64 / scale, Y64[:, j])
        np.testing.assert_allclose(result.coef[:, j], reference.coef_ / scale, rtol=1e-3, atol=1e-4)


def test_planner_admits_a_wide_design_that_fits_the_budget():
    # 5 folds of 4000 training rows for 7800 features (the study's wide layers): the dual form keeps 0.4 GB of bases
    # and decomposes two folds at a time in 1.5 GB, so 6 GB holds the design and thousands of targets.
    n_samples, n_features = 5000, 7800
    X = np.empty((n_samples, n_features), dtype=np.float32)
    options = SearchOptions(
        standardize=True,
        device="cpu",
        dtype=torch.float32,
        targets_batch=None,
        memory_gb=6.0,
        return_all_alphas=False,
        n_threads=None,
    )
    with torch_threads(2):
        batch, workers = plan_batch(X, 24150, contiguous_splits(n_samples), len(ALPHAS), options, torch.device("cpu"))
    assert 1000 < batch < 24150 and workers is None
    fold_kept, fold_work = fold_bytes(4000, 1000, n_features, False, False, 4)
    fixed = fixed_bytes(n_samples, n_features, [(4000, 1000, False, False)] * 5, 4, 2, True)
    # The design (and its centred copies, counted in case a banded candidate downdates), five folds, two at work.
    assert fixed < 6 * 2**30 and fixed >= n_samples * n_features * 4 + 5 * fold_kept + 2 * fold_work


def test_cpu_gram_matrices_and_eigendecompositions_equal_torch():
    # On the CPU both go through NumPy (syrk, its LAPACK); they must be what torch computes, to round-off.
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((60, 25)))
    np.testing.assert_allclose(gram_matrix(x), x.T @ x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gram_matrix(x, outer=True), x @ x.T, rtol=1e-12, atol=1e-12)
    assert gram_matrix(x).shape == (25, 25) and gram_matrix(x, outer=True).shape == (60, 60)
    values, vectors = _eigh(gram_matrix(x))
    expected = torch.linalg.eigh(x.T @ x).eigenvalues
    assert values.dtype == vectors.dtype == torch.float64
    np.testing.assert_allclose(values, expected, rtol=1e-10)
    np.testing.assert_allclose(vectors @ torch.diag(values) @ vectors.T, x.T @ x, atol=1e-9)


def test_numpy_blas_follows_the_engines_threads():
    # NumPy's BLAS keeps its own pool: the engine limits it as it limits torch, and restores it after.
    from threadpoolctl import threadpool_info

    def blas() -> set[int]:
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    with blas_threads(2):
        before = blas()
        assert before == {2}
        with blas_threads(1):
            assert blas() == {1}
        assert blas() == before
        with torch_threads(2):
            inside = map_single_threaded(lambda _: blas(), range(4), torch.device("cpu"))
        assert inside == [{1}] * 4 and blas() == before


def test_cpu_eigendecomposition_runs_on_one_blas_thread(monkeypatch):
    # The folds decompose side by side, one per core: a threaded LAPACK call would oversubscribe them.
    from threadpoolctl import threadpool_info

    seen = []
    original = scipy.linalg.eigh

    def recording(*args, **kwargs):
        seen.append({pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"})
        return original(*args, **kwargs)

    monkeypatch.setattr(scipy.linalg, "eigh", recording)
    with blas_threads(2):
        _eigh(torch.eye(3, dtype=torch.float64))
    assert seen == [{1}]


def _cgroup(folder: Path, limit: str, usage: int, stat: str) -> None:
    """A cgroup folder: v2 files when ``stat`` is v2's (``inactive_file``), v1's otherwise."""
    folder.mkdir(parents=True, exist_ok=True)
    v2 = stat.startswith("inactive_file")
    names = ("memory.max", "memory.current") if v2 else ("memory.limit_in_bytes", "memory.usage_in_bytes")
    (folder / names[0]).write_text(limit + "\n")
    (folder / names[1]).write_text(f"{usage}\n")
    (folder / "memory.stat").write_text(stat)


def test_cgroup_room_reads_the_tightest_cgroup_above_the_process(tmp_path):
    # A SLURM job under cgroup v2: the limit sits on the job, the process in a task below it; reclaimable page cache
    # counts as free.  /proc/meminfo sees the whole node, so without this a job would plan for the node's memory.
    root, proc = tmp_path / "v2", tmp_path / "cgroup-v2"
    proc.write_text("0::/system.slice/job_7/step_0/task_0\n")
    _cgroup(root, "max", 50 * 2**30, "inactive_file 0\n")
    _cgroup(root / "system.slice", "max", 10 * 2**30, "inactive_file 0\n")
    _cgroup(root / "system.slice/job_7", str(64 * 2**30), 20 * 2**30, f"inactive_file {4 * 2**30}\n")
    _cgroup(root / "system.slice/job_7/step_0/task_0", "max", 20 * 2**30, "inactive_file 0\n")
    assert cgroup_room(proc, root) == 48 * 2**30
    # cgroup v1: the memory controller's own hierarchy (its "unlimited" is 2**63 rounded to a page).
    root, proc = tmp_path / "v1", tmp_path / "cgroup-v1"
    proc.write_text("5:cpu,cpuacct:/\n4:memory:/slurm/uid_1/job_7\n0::/\n")
    _cgroup(root / "memory", str(2**63 - 4096), 2**30, "total_inactive_file 0\n")
    _cgroup(root / "memory/slurm/uid_1/job_7", str(8 * 2**30), 3 * 2**30, f"total_inactive_file {2**30}\n")
    assert cgroup_room(proc, root) == 6 * 2**30
    # No limit anywhere, or nothing readable: no bound.
    unlimited = tmp_path / "unlimited"
    _cgroup(unlimited, "max", 2**30, "inactive_file 0\n")
    assert cgroup_room(tmp_path / "cgroup-v2", unlimited) is None
    assert cgroup_room(tmp_path / "missing", root) is None


def test_available_memory_honours_a_slurm_request(monkeypatch):
    for name in ("SLURM_MEM_PER_NODE", "SLURM_MEM_PER_CPU", "SLURM_CPUS_ON_NODE"):
        monkeypatch.delenv(name, raising=False)
    assert slurm_memory_mb() == 0
    monkeypatch.setenv("SLURM_MEM_PER_CPU", "4000")  # --mem-per-cpu: times the job's CPUs on this node
    monkeypatch.setenv("SLURM_CPUS_ON_NODE", "8")
    assert slurm_memory_mb() == 32000
    monkeypatch.delenv("SLURM_MEM_PER_CPU")
    machine = available_memory_bytes(torch.device("cpu"))
    monkeypatch.setenv("SLURM_MEM_PER_NODE", "1")  # 1 MB: less than this process already holds
    assert available_memory_bytes(torch.device("cpu")) == 0
    monkeypatch.setenv("SLURM_MEM_PER_NODE", str(10**9))  # 1 PB: the machine's bound is the tighter
    assert 0 < available_memory_bytes(torch.device("cpu")) <= 1.5 * machine


def test_the_callers_design_is_left_as_it_was():
    # Downdated primal folds centre a float64 copy of the design; a float64 design used to be that copy itself, so a
    # fit centred the caller's array (and wrote into a read-only memmap: a segfault).
    X, Y = make_problem(200, 12, 3)
    X = X.astype(np.float64) + 5.0
    before = X.copy()
    cross_validated_ridge(X, Y, contiguous_splits(200), ALPHAS, device="cpu")
    np.testing.assert_array_equal(X, before)
    X.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch: "The given NumPy array is not writable"
        result = cross_validated_ridge(X, Y, contiguous_splits(200), ALPHAS, device="cpu")
    assert np.isfinite(result.val_r).all()


def test_float32_products_stay_close_to_float64():
    X, Y = make_problem(300, 40, 20)
    splits = contiguous_splits(300)
    single = cross_validated_ridge(X, Y, splits, ALPHAS, device="cpu")
    double = cross_validated_ridge(X, Y, splits, ALPHAS, device="cpu", dtype=torch.float64)
    np.testing.assert_allclose(single.val_r, double.val_r, atol=1e-5)
    np.testing.assert_allclose(single.test_r, double.test_r, atol=1e-5)
    assert (single.best_alpha == double.best_alpha).mean() >= 0.99


@pytest.mark.parametrize(("n_samples", "n_features"), [(90, 12), (30, 50)])
def test_dual_path_equals_primal_path(n_samples, n_features):
    X, Y = make_problem(n_samples, n_features, 5)
    splits = contiguous_splits(n_samples)
    kwargs = dict(dtype=torch.float64, device="cpu", return_all_alphas=True)
    primal = cross_validated_ridge(X, Y, splits, ALPHAS, solver="primal", **kwargs)
    dual = cross_validated_ridge(X, Y, splits, ALPHAS, solver="dual", **kwargs)
    assert set(primal.solver) == {"primal"} and set(dual.solver) == {"dual"}
    np.testing.assert_allclose(primal.val_r_all, dual.val_r_all, atol=1e-8)
    np.testing.assert_allclose(primal.prediction, dual.prediction, rtol=1e-6, atol=1e-6)
    automatic = cross_validated_ridge(X, Y, splits, ALPHAS, **kwargs)
    assert set(automatic.solver) == {"primal" if n_samples * 4 // 5 >= n_features else "dual"}


def test_decomposition_weights_agree_between_paths():
    X, _ = make_problem(40, 40, 1)
    x = torch.as_tensor(X[:39], dtype=torch.float64)
    y = torch.randn(39, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    weights = []
    for solver in ("primal", "dual"):
        fold = decompose(x, standardize=True, dtype=torch.float64, solver=solver)
        z = fold.train_basis.T @ (y - y.mean(0))
        weights.append(fold.weights(fold.shrinkage(torch.tensor([2.0]))[0][:, None] * z))
    torch.testing.assert_close(weights[0], weights[1], rtol=1e-9, atol=1e-10)


def test_same_inputs_give_identical_outputs():
    X, Y = make_problem(150, 20, 9)
    splits = contiguous_splits(150)
    first = cross_validated_ridge(X, Y, splits, ALPHAS, device="cpu", return_all_alphas=True)
    second = cross_validated_ridge(X, Y, splits, ALPHAS, device="cpu", return_all_alphas=True)
    for name in ("best_alpha", "val_r", "test_r", "prediction", "val_r_all"):
        assert getattr(first, name).tobytes() == getattr(second, name).tobytes(), name


def test_target_batches_do_not_change_results():
    X, Y = make_problem(150, 20, 30)
    splits = contiguous_splits(150)
    whole = cross_validated_ridge(X, Y, splits, ALPHAS, device="cpu")
    batched = cross_validated_ridge(X, Y, splits, ALPHAS, device="cpu", targets_batch=7)
    assert whole.targets_batch == 30 and batched.targets_batch == 7
    np.testing.assert_array_equal(whole.best_alpha, batched.best_alpha)
    np.testing.assert_allclose(whole.val_r, batched.val_r, atol=1e-6)
    np.testing.assert_allclose(whole.test_r, batched.test_r, atol=1e-6)
    np.testing.assert_allclose(whole.prediction, batched.prediction, rtol=1e-5, atol=1e-5)


def test_planner_batches_follow_the_memory_budget():
    X, Y = make_problem(150, 20, 40)
    splits = contiguous_splits(150)
    tight = cross_validated_ridge(X, Y, splits, ALPHAS, device="cpu", memory_gb=0.00022)
    roomy = cross_validated_ridge(X, Y, splits, ALPHAS, device="cpu", memory_gb=1.0)
    assert 1 <= tight.targets_batch < 40 and roomy.targets_batch == 40
    np.testing.assert_allclose(tight.val_r, roomy.val_r, atol=1e-6)
    assert plan_targets_batch(1000, 100, 500, 10_500, torch.device("cpu")) == 100
    with pytest.raises(ValueError, match="give the job more memory, or a memory_gb it can hold"):
        plan_targets_batch(1000, 100, 500, 550, torch.device("cpu"))


@pytest.mark.parametrize("name", ["X", "Y"])
def test_nan_inputs_raise_one_line_errors(name):
    X, Y = make_problem(60, 5, 3)
    (X if name == "X" else Y)[[1, 4, 9], 0] = np.nan
    with pytest.raises(ValueError, match=rf"^ridge {name} holds 3 NaN values [^\n]*$"):
        cross_validated_ridge(X, Y, contiguous_splits(60), ALPHAS, device="cpu")


def test_malformed_splits_and_alphas_raise():
    X, Y = make_problem(60, 5, 3)
    splits = contiguous_splits(60)
    overlapping = [(np.arange(30, 60), np.arange(0, 10), np.arange(10, 20)), (np.arange(30, 60), np.arange(5, 15), [])]
    with pytest.raises(ValueError, match="held out by fold 0"):
        cross_validated_ridge(X, Y, overlapping, ALPHAS, device="cpu")
    with pytest.raises(ValueError, match="disjoint"):
        cross_validated_ridge(X, Y, [(np.arange(40), np.arange(30, 50), np.arange(50, 60))], ALPHAS, device="cpu")
    with pytest.raises(ValueError, match="disjoint"):  # validation and test share a row
        cross_validated_ridge(X, Y, [(np.arange(40), np.arange(40, 50), np.arange(49, 60))], ALPHAS, device="cpu")
    with pytest.raises(ValueError, match="split 0 val repeats indices"):
        cross_validated_ridge(X, Y, [(np.arange(40), np.array([40, 41, 41]), [])], ALPHAS, device="cpu")
    with pytest.raises(ValueError, match="alphas must be finite and > 0"):
        cross_validated_ridge(X, Y, splits, [0.0, 1.0], device="cpu")


def test_options_that_cannot_be_combined_are_rejected():
    X, Y = make_problem(60, 5, 3)
    splits = contiguous_splits(60)
    with pytest.raises(ValueError, match=r"^ridge targets_batch=4 and memory_gb=1.0 cannot be combined[^\n]*$"):
        cross_validated_ridge(X, Y, splits, ALPHAS, device="cpu", targets_batch=4, memory_gb=1.0)
    with pytest.raises(ValueError, match="ridge targets_batch must be >= 1"):
        cross_validated_ridge(X, Y, splits, ALPHAS, device="cpu", targets_batch=0)
    with pytest.raises(ValueError, match="ridge n_threads must be >= 1 or None"):
        cross_validated_ridge(X, Y, splits, ALPHAS, device="cpu", n_threads=0)
    with pytest.raises(ValueError, match="ridge solver must be 'auto', 'primal' or 'dual', got 'eig'"):
        cross_validated_ridge(X, Y, splits, ALPHAS, device="cpu", solver="eig")
    with pytest.raises(ValueError, match="ridge dtype must be torch.float32 or torch.float64"):
        cross_validated_ridge(X, Y, splits, ALPHAS, device="cpu", dtype=torch.float16)
    with pytest.raises(ValueError, match="ridge targets_batch must be >= 1"):
        ridge_coefficients(X, Y, 1.0, targets_batch=0)
    with pytest.raises(ValueError, match="banded ridge searches 2"):
        options = SearchOptions(
            standardize=True,
            device="cpu",
            dtype=torch.float32,
            targets_batch=None,
            memory_gb=None,
            return_all_alphas=False,
            n_threads=None,
            refit=True,
        )
        search(X, Y, splits, ALPHAS, [np.arange(2), np.arange(2, 5)], np.array([[0.5, 0.5], [1.0, 0.0]]), options)


@pytest.mark.parametrize("gap", [0, 3])
def test_target_constant_on_a_folds_training_rows_scores_zero(gap):
    X, Y = make_problem(100, 6, 3)
    Y[:80, 1] = 2.0  # varies only in the last fold's held-out rows
    splits = contiguous_splits(100)
    # A gap drops the training rows next to the held-out ones, so training rows are no longer all the others.
    splits = [(train[np.abs(train - val[0]) > gap], val, test) for train, val, test in splits]
    result = cross_validated_ridge(X, Y, splits, ALPHAS, device="cpu")
    assert result.val_r[4, 1] == 0 and result.test_r[4, 1] == 0
    assert np.all(result.val_r[:4, 1] == 0)  # constant over those folds' validation rows too
    assert np.all(np.abs(result.val_r[:, [0, 2]]) > 0)


def test_constant_feature_is_ignored_when_standardising():
    X, Y = make_problem(100, 6, 4)
    with_constant = np.column_stack([X, np.full(100, 7.0, dtype=np.float32)])
    splits = contiguous_splits(100)
    plain = cross_validated_ridge(X, Y, splits, ALPHAS, device="cpu", dtype=torch.float64)
    padded = cross_validated_ridge(with_constant, Y, splits, ALPHAS, device="cpu", dtype=torch.float64)
    np.testing.assert_allclose(padded.val_r, plain.val_r, atol=1e-10)
    np.testing.assert_allclose(padded.prediction, plain.prediction, atol=1e-8)


def test_feature_constant_on_one_folds_training_rows_is_ignored_in_that_fold():
    # Non-constant only inside fold 0's held-out rows: fold 0 (downdated from the totals) must drop it, not scale
    # round-off up to unit variance.
    X, Y = make_problem(100, 6, 4)
    splits = contiguous_splits(100)
    column = np.full(100, 7.0, dtype=np.float32)
    held = np.concatenate(splits[0][1:])
    column[held] += np.random.default_rng(3).standard_normal(len(held)).astype(np.float32)
    plain = cross_validated_ridge(X, Y, splits, ALPHAS, device="cpu", dtype=torch.float64)
    padded = cross_validated_ridge(np.column_stack([X, column]), Y, splits, ALPHAS, device="cpu", dtype=torch.float64)
    np.testing.assert_allclose(padded.val_r[0], plain.val_r[0], atol=1e-10)
    assert not np.allclose(padded.val_r[1:], plain.val_r[1:], atol=1e-6)  # the other folds do use it


def test_fold_without_test_rows_scores_validation_only():
    X, Y = make_problem(100, 6, 4)
    splits = [
        (train, np.concatenate([val, test]), np.array([], dtype=int)) for train, val, test in contiguous_splits(100)
    ]
    result = cross_validated_ridge(X, Y, splits, ALPHAS, device="cpu")
    assert np.isnan(result.test_r).all() and np.isfinite(result.val_r).all()
    assert np.isfinite(result.prediction).all()


def test_scores_without_predictions_are_unchanged():
    X, Y = make_problem(100, 6, 4)
    splits = contiguous_splits(100)
    with_predictions = cross_validated_ridge(X, Y, splits, ALPHAS, device="cpu")
    without = cross_validated_ridge(X, Y, splits, ALPHAS, device="cpu", return_predictions=False)
    assert without.prediction is None
    np.testing.assert_array_equal(without.val_r, with_predictions.val_r)
    np.testing.assert_array_equal(without.test_r, with_predictions.test_r)


@pytest.mark.parametrize("n_features", [6, 120])  # downdated primal folds, and dual folds decomposed directly
def test_validation_scores_without_the_test_rows_are_unchanged(n_features):
    X, Y = make_problem(100, n_features, 4)
    splits = contiguous_splits(100)
    # Target 3 varies only on fold 0's test rows and fold 1's validation rows: without the test rows, fold 1's training
    # rows would hold it constant.
    others = np.setdiff1d(np.arange(100), np.concatenate([splits[0][2], splits[1][1]]))
    Y[others, 3] = 2.0
    full = cross_validated_ridge(X, Y, splits, ALPHAS, device="cpu")
    unscored = cross_validated_ridge(X, Y, splits, ALPHAS, device="cpu", score_test=False)
    np.testing.assert_array_equal(unscored.val_r, full.val_r)
    np.testing.assert_array_equal(unscored.best_alpha, full.best_alpha)
    assert np.isnan(unscored.test_r).all() and np.isfinite(full.test_r).all()
    assert full.val_r[1, 3] != 0
    test_rows = np.concatenate([test for _, _, test in splits])
    val_rows = np.concatenate([val for _, val, _ in splits])
    assert np.isnan(unscored.prediction[test_rows]).all()
    np.testing.assert_array_equal(unscored.prediction[val_rows], full.prediction[val_rows])


def test_band_weight_candidates_start_uniform_then_single_bands():
    candidates = band_weight_candidates(3, 5, seed=4)
    np.testing.assert_allclose(candidates[0], [1 / 3] * 3)
    np.testing.assert_array_equal(candidates[1:4], np.eye(3))
    np.testing.assert_allclose(candidates.sum(1), 1.0)
    assert candidates.shape == (9, 3)
    np.testing.assert_array_equal(candidates, band_weight_candidates(3, 5, seed=4))
    assert not np.array_equal(candidates, band_weight_candidates(3, 5, seed=5))
    np.testing.assert_array_equal(band_weight_candidates(1, 20, seed=0), [[1.0]])


def test_banded_ridge_with_one_space_equals_plain_ridge():
    X, Y = make_problem(120, 10, 8)
    splits = contiguous_splits(120)
    plain = cross_validated_ridge(X, Y, splits, ALPHAS, device="cpu")
    banded = banded_ridge_cv([X], Y, splits, ALPHAS, n_iter=5, seed=3, device="cpu")
    for name in ("best_alpha", "val_r", "test_r", "prediction"):
        np.testing.assert_array_equal(getattr(banded, name), getattr(plain, name), err_msg=name)
    assert banded.band_weights is None


def test_banded_ridge_weights_the_informative_space():
    rng = np.random.default_rng(5)
    signal = rng.standard_normal((200, 5)).astype(np.float32)
    noise = rng.standard_normal((200, 40)).astype(np.float32)
    Y = (signal @ rng.standard_normal((5, 6)) + 0.5 * rng.standard_normal((200, 6))).astype(np.float32)
    splits = contiguous_splits(200)
    banded = banded_ridge_cv([signal, noise], Y, splits, ALPHAS, n_iter=10, seed=0, device="cpu")
    plain = cross_validated_ridge(np.column_stack([signal, noise]), Y, splits, ALPHAS, device="cpu")
    assert banded.band_weights.shape == (5, 6, 2)
    np.testing.assert_allclose(banded.band_weights.sum(-1), 1.0, rtol=1e-6)
    assert banded.band_weights[..., 0].mean() > 0.7
    assert banded.val_r.mean() > plain.val_r.mean()


def shared_kernel_problem(n_samples: int, n_features: int) -> tuple[np.ndarray, np.ndarray, list]:
    """Correlated, unevenly scaled features; a target constant everywhere and one constant over fold 0's validation
    rows; folds whose first leaves 5 rows in none of its sets."""
    rng = np.random.default_rng(n_features)
    X = rng.standard_normal((n_samples, 8)) @ rng.standard_normal((8, n_features)) + rng.standard_normal(
        (n_samples, n_features)
    )
    X[:, 1] *= 40.0
    X[:, 2] += 5.0
    Y = X[:, :6] @ rng.standard_normal((6, 12)) * 0.1 + rng.standard_normal((n_samples, 12))
    Y[:, 0] = 2.0
    splits = contiguous_splits(n_samples)
    train, val, test = splits[0]
    Y[val, 1] = 1.0
    return X.astype(np.float32), Y.astype(np.float32), [(train[5:], val, test)] + splits[1:]


@pytest.mark.parametrize("shape", [(300, 40), (160, 400)], ids=["more-events", "more-features"])
def test_one_shared_kernel_gives_every_folds_validation_r(shape):
    X, Y, splits = shared_kernel_problem(*shape)
    X64 = X.astype(np.float64)
    shared = shared_kernel_validation_r(X64, Y, splits, ALPHAS, standardize=False, device="cpu")
    engine = cross_validated_ridge(
        X, Y, splits, ALPHAS, standardize=False, device="cpu", dtype=torch.float64, score_test=False
    )
    # Without scaling it is the engine's regression (an unpenalised intercept is centring on the training rows).
    np.testing.assert_allclose(shared, engine.val_r, atol=2e-6)
    assert shared.shape == (5, 12) and np.all(shared[:, 0] == 0) and shared[0, 1] == 0 and np.all(shared[1:, 1] != 0)
    # Standardised, the scaling is over all rows: the engine's fit of the design so scaled.
    scaled = (X64 - X64.mean(0)) / X64.std(0)
    np.testing.assert_allclose(
        shared_kernel_validation_r(X64, Y, splits, ALPHAS, device="cpu"),
        cross_validated_ridge(scaled, Y, splits, ALPHAS, standardize=False, device="cpu", dtype=torch.float64).val_r,
        atol=2e-6,
    )
    np.testing.assert_array_equal(X64, X.astype(np.float64))  # the caller's design is left as it was


def test_with_fewer_columns_than_rows_the_gram_matrix_and_the_kernels_null_space_give_the_same_scores():
    # The Gram matrix is decomposed where that saves time, at the study extraction's widest trial but not where
    # the columns nearly match the rows; repeated columns leave it singular (eigenvalues at round-off are null space).
    sizes = [2114] * 5
    assert null_space_pays(10570, 8168, sizes, 7, 1024) and null_space_pays(300, 40, [60] * 5, 7, 12)
    assert not null_space_pays(3000, 2900, [600] * 5, 7, 1024) and not null_space_pays(160, 400, [32] * 5, 7, 12)
    X, Y, splits = shared_kernel_problem(300, 40)
    X = np.concatenate([X, X[:, :10] * 2.0], axis=1).astype(np.float64)
    engine = cross_validated_ridge(
        X, Y, splits, ALPHAS, standardize=False, device="cpu", dtype=torch.float64, score_test=False
    )
    np.testing.assert_allclose(
        shared_kernel_validation_r(X, Y, splits, ALPHAS, standardize=False, device="cpu"), engine.val_r, atol=2e-6
    )
    # Nearly low-rank columns at the smallest alphas the shared kernel accepts: eigenvalues above round-off keep their
    # directions (cutting at p eps instead of eps put r 2.5e-3 off at 1e-12 of the largest eigenvalue).
    rng = np.random.default_rng(1)
    X = rng.standard_normal((1200, 20)) @ rng.standard_normal((20, 400)) + 1e-5 * rng.standard_normal((1200, 400))
    Y = X[:, :3] @ rng.standard_normal((3, 8)) + 3 * rng.standard_normal((1200, 8))
    splits = contiguous_splits(1200)
    assert null_space_pays(1200, 400, [240] * 5, 2, 8)
    largest = np.linalg.svd(X - X.mean(0), compute_uv=False)[0] ** 2
    alphas = np.array([1e-12, 1e-11]) * largest
    engine = cross_validated_ridge(X, Y, splits, alphas, standardize=False, device="cpu", dtype=torch.float64)
    shared = shared_kernel_validation_r(X, Y, splits, alphas, standardize=False, device="cpu")
    np.testing.assert_allclose(shared, engine.val_r, atol=2e-4)


@pytest.mark.parametrize("n_features", [12, 150], ids=["primal", "dual"])
def test_held_out_rows_that_repeat_one_design_row_predict_a_constant_and_score_zero(n_features):
    # A text shown at every scene cut of a validation set: round-off used to score its constant prediction anywhere
    # in [-1, 1] (the replica's MiniLM at scene cuts: up to 0.9 in a fold, 0.02 on a layer's mean).
    X, Y = make_problem(100, n_features, 30)
    splits = contiguous_splits(100)
    _, val, test = splits[2]
    X[val] = X[val[0]]
    X[test] = X[test[0]]
    for downdate in (True, False):
        result = cross_validated_ridge(X, Y, splits if downdate else splits[:4], ALPHAS, device="cpu")
        assert np.all(result.val_r[2] == 0) and np.all(result.test_r[2] == 0)
        assert np.all(result.prediction[val] == result.prediction[val[:1]])
        assert np.all(result.prediction[test] == result.prediction[test[:1]])
        assert np.all(result.val_r[[0, 1, 3]] != 0)
    shared = shared_kernel_validation_r(X, Y, splits, ALPHAS, device="cpu")
    assert np.all(shared[2] == 0) and np.all(shared[[0, 1, 3, 4]] != 0)
    # Rows that differ only in a column constant over the training rows predict one value too.
    X[:, 5] = 1.0
    X[val, 5] = np.arange(len(val))
    X[test, 5] = np.arange(len(test))
    result = cross_validated_ridge(X, Y, splits, ALPHAS, device="cpu")
    assert np.all(result.val_r[2] == 0) and np.all(result.test_r[2] == 0)
    assert np.all(shared_kernel_validation_r(X, Y, splits, ALPHAS, device="cpu")[2] == 0)


def test_the_shared_kernel_is_chosen_where_its_one_decomposition_saves_time():
    def pays(n_events, n_features, n_targets, workers=1, budget=None):
        splits = contiguous_splits(n_events)
        return shared_kernel_pays(n_events, n_features, splits, ALPHAS, n_targets, workers, torch.device("cpu"), budget)

    # The study extraction's width over the shortest paper trial's words, and the largest's (primal folds), for a
    # 1,024-target proxy; not for 768 columns, a full fit's 24,150 targets, folds decomposed side by side, or a
    # budget it would overrun.
    assert pays(4066, 7241, 1024) and pays(10570, 8168, 1024)
    assert not pays(10570, 768, 1024) and not pays(4066, 7241, 24150) and not pays(4066, 7241, 1024, workers=8)
    assert not pays(4066, 7241, 1024, budget=2**28)  # it needs about 0.4 GB


def test_the_shared_kernel_refuses_alphas_float64_cannot_resolve_and_takes_any_strides():
    # Columns scaled by 1e8 and left so: a kernel eigenvalue of about 1e19, against alphas from 0.1 (the solve of
    # the held-out block failed outright); by 1e-6: every alpha drowns the predictions (r off by 0.1).
    X, Y, splits = shared_kernel_problem(160, 400)
    for scale in (1e8, 1e-6):
        with pytest.raises(ValueError, match="leave the range float64 resolves"):
            shared_kernel_validation_r(X * scale, Y, splits, ALPHAS, standardize=False, device="cpu")
    assert not shared_kernel_pays(160, 400, splits, [1e-12, 1.0], 12, 1, torch.device("cpu"), None)
    assert not shared_kernel_pays(160, 400, splits, [1.0, 1e10], 12, 1, torch.device("cpu"), None)
    np.testing.assert_array_equal(
        shared_kernel_validation_r(X[::-1], Y[::-1], splits, ALPHAS, device="cpu"),
        shared_kernel_validation_r(X[::-1].copy(), Y[::-1].copy(), splits, ALPHAS, device="cpu"),
    )
    X[:, :] = 3.0  # every column constant: one prediction everywhere
    assert np.all(shared_kernel_validation_r(X, Y, splits, ALPHAS, device="cpu") == 0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_the_shared_kernel_on_cuda_matches_the_cpu():
    X, Y, splits = shared_kernel_problem(160, 400)
    np.testing.assert_allclose(
        shared_kernel_validation_r(X, Y, splits, ALPHAS, device="cuda"),
        shared_kernel_validation_r(X, Y, splits, ALPHAS, device="cpu"),
        atol=1e-6,
    )


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    X, Y = make_problem(400, 60, 50)
    splits = contiguous_splits(400)
    cpu = cross_validated_ridge(X, Y, splits, ALPHAS, device="cpu", return_all_alphas=True)
    cuda = cross_validated_ridge(X, Y, splits, ALPHAS, device="cuda", return_all_alphas=True)
    np.testing.assert_allclose(cuda.val_r_all, cpu.val_r_all, atol=1e-4)
    np.testing.assert_allclose(cuda.test_r, cpu.test_r, atol=1e-4)
    np.testing.assert_allclose(cuda.prediction, cpu.prediction, rtol=1e-3, atol=1e-3)
    assert (cuda.best_alpha == cpu.best_alpha).mean() >= 0.99
    banded_cpu = banded_ridge_cv([X[:, :20], X[:, 20:]], Y, splits, ALPHAS, n_iter=4, device="cpu")
    banded_cuda = banded_ridge_cv([X[:, :20], X[:, 20:]], Y, splits, ALPHAS, n_iter=4, device="cuda")
    np.testing.assert_allclose(banded_cuda.val_r, banded_cpu.val_r, atol=1e-4)
    coef_cpu, intercept_cpu = ridge_coefficients(X, Y, 10.0)
    coef_cuda, intercept_cuda = ridge_coefficients(X, Y, 10.0, device="cuda")
    np.testing.assert_allclose(coef_cuda, coef_cpu, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(intercept_cuda, intercept_cpu, rtol=1e-8)


def search_case(name: str) -> tuple[tuple, SearchOptions]:
    """Shapes and options that together select every variant of a prepared fold: downdated (folds that hold out
    every row) or projected directly (gaps of unused rows, or a dual decomposition), training rows as views or
    gathered (shuffled folds), a triangular validation factor (validation rows beyond the rank), a fold without test
    rows, rows no fold holds out, several band weightings, batches of targets, one alpha, float64 products."""
    common = dict(device="cpu", n_threads=1, memory_gb=None)
    if name == "tall_downdated":
        X, Y = make_problem(60, 8, 6, seed=11)
        options = SearchOptions(
            standardize=True, dtype=torch.float32, targets_batch=4, return_all_alphas=True, refit=True, **common
        )
        return (X, Y, contiguous_splits(60), ALPHAS, [np.arange(8)], np.ones((1, 1))), options
    if name == "wide_dual":
        X, Y = make_problem(24, 40, 5, seed=12)
        options = SearchOptions(
            standardize=False, dtype=torch.float32, targets_batch=5, return_all_alphas=True, refit=True, **common
        )
        return (X, Y, contiguous_splits(24, 4), ALPHAS, [np.arange(40)], np.ones((1, 1))), options
    if name == "scattered_gaps":
        X, Y = make_problem(72, 4, 8, seed=13)
        order = np.random.default_rng(13).permutation(66)  # rows 66-71 are held out by no fold
        splits = [
            (train[np.abs(train - val[0]) > 3], val, test) for train, val, test in contiguous_splits(66, 5, order)
        ]
        splits[0] = (splits[0][0], splits[0][1], splits[0][2][:0])
        options = SearchOptions(
            standardize=True, dtype=torch.float32, targets_batch=8, return_all_alphas=True, refit=True, **common
        )
        return (X, Y, splits, ALPHAS, [np.arange(4)], np.ones((1, 1))), options
    if name == "banded":
        X, Y = make_problem(60, 9, 5, seed=14)
        options = SearchOptions(
            standardize=True, dtype=torch.float32, targets_batch=3, return_all_alphas=False, **common
        )
        bands = [np.arange(4), np.arange(4, 9)]
        return (X, Y, contiguous_splits(60), ALPHAS, bands, band_weight_candidates(2, 3, 0)), options
    X, Y = make_problem(40, 6, 4, seed=15)
    options = SearchOptions(
        standardize=True,
        dtype=torch.float64,
        targets_batch=4,
        return_all_alphas=True,
        return_predictions=False,
        solver="dual",
        **common,
    )
    return (X, Y, contiguous_splits(40), ALPHAS[3:4], [np.arange(6)], np.ones((1, 1))), options


SEARCH_CASES = ["tall_downdated", "wide_dual", "scattered_gaps", "banded", "one_alpha_float64"]
SEARCH_GOLDEN = Path(__file__).resolve().parent / "golden" / "ridge_search.json"
SEARCH_FIELDS = [
    "best_alpha",
    "val_r",
    "test_r",
    "prediction",
    "val_r_all",
    "band_weights",
    "refit_alpha",
    "coef",
    "intercept",
]


def sklearn_prediction(X, Y, splits, result, standardize):
    """Each fold's validation and test predictions by scikit-learn at the engine's chosen alpha (and band weights)."""
    prediction = np.full(Y.shape, np.nan)
    X64, Y64 = X.astype(np.float64), Y.astype(np.float64)
    for k, (train, val, test) in enumerate(splits):
        held = np.concatenate([val, test])
        scale = X64[train].std(0) if standardize else np.ones(X.shape[1])
        for j in range(Y.shape[1]):
            weight = np.ones(X.shape[1])
            if result.band_weights is not None:  # bands of 4 and 5 columns
                weight = np.sqrt(np.repeat(result.band_weights[k, j], [4, 5]))
            scaled = (X64 - X64[train].mean(0)) / scale * weight
            model = Ridge(alpha=result.best_alpha[k, j]).fit(scaled[train], Y64[train, j])
            prediction[held, j] = model.predict(scaled[held])
    return prediction


@pytest.mark.parametrize("name", SEARCH_CASES)
def test_search_gives_the_recorded_results(name):
    # Recorded from the engine before search was split into steps (commit 77f4497), on one torch thread; record again
    # only after a deliberate change of the engine's numerics, with VLENCODE_RECORD_GOLDEN=1.
    args, options = search_case(name)
    result = search(*args, options)
    found = {field: getattr(result, field) for field in SEARCH_FIELDS}
    golden = json.loads(SEARCH_GOLDEN.read_text()) if SEARCH_GOLDEN.exists() else {}
    if os.environ.get("VLENCODE_RECORD_GOLDEN") == "1":
        golden[name] = {
            field: None
            if value is None
            else {"dtype": str(value.dtype), "shape": list(value.shape), "values": value.ravel().tolist()}
            for field, value in found.items()
        }
        golden[name]["solver"] = list(result.solver)
        SEARCH_GOLDEN.write_text(json.dumps(golden, sort_keys=True) + "\n")
        return
    recorded = golden[name]
    assert list(result.solver) == recorded["solver"]
    for field, value in found.items():
        if recorded[field] is None:
            assert value is None, field
            continue
        expected = np.array(recorded[field]["values"], dtype=recorded[field]["dtype"]).reshape(recorded[field]["shape"])
        assert value.dtype == expected.dtype, field
        if expected.dtype.kind == "f":
            # Bit-identical on the machine that recorded it; another BLAS may round the last bits differently.
            scale = np.nanmax(np.abs(expected)) if np.isfinite(expected).any() else 1.0
            np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-6 * scale, err_msg=f"{name}: {field}")
        else:
            assert np.array_equal(value, expected), f"{name}: {field} differs from the recorded engine"
    # The recorded results are those of an independent engine up to round-off.
    X, Y, splits = args[:3]
    if result.prediction is not None:
        reference = sklearn_prediction(X, Y, splits, result, options.standardize)
        np.testing.assert_allclose(result.prediction, reference, rtol=1e-3, atol=1e-3 * np.nanmax(np.abs(reference)))
    if result.coef is not None:
        scale = X.astype(np.float64).std(0) if options.standardize else np.ones(X.shape[1])
        for j, alpha in enumerate(result.refit_alpha):
            reference = Ridge(alpha=alpha).fit(X.astype(np.float64) / scale, Y[:, j].astype(np.float64))
            np.testing.assert_allclose(result.coef[:, j], reference.coef_ / scale, rtol=1e-3, atol=1e-4)
