"""vlencode's ridge engine side by side with scikit-learn and himalaya, on the same data in the same run.

Task: X 5000 x 768 float32, Y with 200 and 24,150 targets, alphas logspace(-1, 5, 7), 5 contiguous folds
(KFold, no shuffle), one alpha per target chosen by the mean validation Pearson r over the folds, then a refit on all
rows at each target's alpha.  Every contender does exactly that:

* vlencode: ``cross_validated_ridge(refit=True)`` with each KFold test fold as the validation set (no test set) and
  no out-of-fold predictions (the peers form none): alpha = argmax of the fold-mean r, coefficients on all rows.
* himalaya ``RidgeCV(fit_intercept=True, cv=KFold(5), solver_params={"score_func": correlation_score})``, numpy and
  torch (CPU) backends, other solver parameters at their defaults (all targets in one batch).
* scikit-learn: ``RidgeCV(cv=KFold(5), alpha_per_target=True)`` refuses that combination (it supports one alpha per
  target only with its leave-one-out GCV), so the benchmark runs what a scikit-learn user writes instead: per fold and
  alpha ``Ridge(alpha).fit(train).predict(val)`` for all targets at once, Pearson r per target, then one
  ``Ridge(alpha).fit`` on all rows per distinct chosen alpha.

Then one paper-scale fit of the study's protocol (5000 events, 24,150 targets, 768 features, 7 alphas, 5 folds, each
held-out fold split into validation and test halves, with out-of-fold predictions) and, when ``vlencode.stats``
provides it, the 1000-resample fast bootstrap of those predictions.

Run: ``.venv/bin/python benchmarks/ridge_vs_peers.py`` (options: ``--help``).  The printed GFLOP/s count the dominant
matrix products of each vlencode call (formulas in ``vlencode_flops``) and sit next to the float32 matrix-multiply
rate of this machine, measured on products of the same shapes.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.model_selection import KFold

from vlencode.pearson import pearson_columns
from vlencode.ridge import cross_validated_ridge
from vlencode.ridge.fold import TRIANGLE_BLOCKS, triangular_factor_pays

ALPHAS = np.logspace(-1, 5, 7)


def make_data(n_samples: int, n_features: int, n_targets: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Correlated features; targets read out a low-rank signal at signal-to-noise ratios spread over three decades.

    The spread makes the best alpha differ between targets, so the agreement of alpha choices is informative.
    """
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((n_features, n_features)) / np.sqrt(n_features)
    X = (rng.standard_normal((n_samples, n_features)) @ (np.eye(n_features) + 0.5 * mixing)).astype(np.float32)
    readout = rng.standard_normal((n_features, 16)) @ rng.standard_normal((16, n_targets)) / np.sqrt(16 * n_features)
    snr = 10.0 ** rng.uniform(-2.0, 1.0, n_targets)
    signal = X @ readout.astype(np.float32)
    signal /= signal.std(0)
    Y = signal * np.sqrt(snr) + rng.standard_normal((n_samples, n_targets))
    return X, Y.astype(np.float32)


def matmul_rate(n_targets: int, n_samples: int, n_features: int) -> float:
    """Best float32 torch.mm rate (GFLOP/s) over the shapes the engine multiplies."""
    rates = []
    for rows in (n_samples // 10, n_samples // 5, n_features):
        a = torch.randn(rows, n_features)
        b = torch.randn(n_features, n_targets)
        torch.mm(a, b)
        start = time.perf_counter()
        for _ in range(3):
            torch.mm(a, b)
        rates.append(3 * 2 * rows * n_features * n_targets / (time.perf_counter() - start) / 1e9)
    a = torch.randn(n_features, n_samples * 4 // 5)
    b = torch.randn(n_samples * 4 // 5, n_targets)
    start = time.perf_counter()
    torch.mm(a, b)
    rates.append(2 * a.shape[0] * a.shape[1] * n_targets / (time.perf_counter() - start) / 1e9)
    return max(rates)


def vlencode_flops(
    n_samples: int, n_features: int, n_targets: int, splits, n_alphas: int, refit: bool, predictions: bool
) -> float:
    """Floating-point operations of the dominant products of cross-validation (+ refit), per the engine's algorithm.

    The folds here are primal with all other rows for training, so the engine downdates them: once, the float64 Gram
    matrices of the held-out rows, which add up to 2 n p^2, and the held-out cross-products, which add up to 2 n p t.
    Per fold (rank p): projections 2 n_held p^2; projected targets 2 p^2 t; validation covariances 2 n_val p t; per
    alpha 2 min(n_val, p) p t, of which a triangular factor (when it pays, see ``triangular_factor_pays``) in b row
    blocks multiplies (b + 1) / 2b; predictions at the chosen alpha 2 n_held p t (2 n_test p t without out-of-fold
    predictions).  Refit (its Gram matrix and cross-products are the totals above): projected targets and
    coefficients 4 p^2 t.
    """
    p, t = n_features, n_targets
    total = 2 * n_samples * p * p + 2 * n_samples * p * t
    for _, val, test in splits:
        n_val, n_held = len(val), len(val) + len(test)
        per_alpha = 2 * min(n_val, p) * p * t
        if triangular_factor_pays(n_val, p, n_alphas, t):
            per_alpha *= (TRIANGLE_BLOCKS + 1) / (2 * TRIANGLE_BLOCKS)
        total += 2 * n_held * p * p + n_alphas * per_alpha
        total += 2 * p * t * (p + n_val + (n_held if predictions else len(test)))
    if refit:
        total += 4 * p * p * t
    return total


def run_vlencode(X, Y, folds, device):
    splits = [(train, val, np.array([], dtype=np.intp)) for train, val in folds]
    start = time.perf_counter()
    cv = cross_validated_ridge(
        X, Y, splits, ALPHAS, standardize=False, device=device, return_predictions=False, refit=True
    )
    total = time.perf_counter() - start
    flops = vlencode_flops(*X.shape, Y.shape[1], splits, len(ALPHAS), refit=True, predictions=False)
    return {"seconds": total, "alphas": cv.refit_alpha, "coef": cv.coef, "gflops": flops / total / 1e9}


def run_himalaya(X, Y, backend_name):
    from himalaya.backend import set_backend
    from himalaya.ridge import RidgeCV as HimalayaRidgeCV
    from himalaya.scoring import correlation_score

    backend = set_backend(backend_name, on_error="raise")
    model = HimalayaRidgeCV(
        alphas=ALPHAS, fit_intercept=True, cv=KFold(5), solver_params={"score_func": correlation_score}
    )
    start = time.perf_counter()
    model.fit(X, Y)
    seconds = time.perf_counter() - start
    set_backend("numpy")
    return {
        "seconds": seconds,
        "alphas": np.asarray(backend.to_numpy(model.best_alphas_), dtype=np.float64),
        "coef": np.asarray(backend.to_numpy(model.coef_)),
    }


def run_sklearn(X, Y, folds):
    start = time.perf_counter()
    scores = np.zeros((len(folds), len(ALPHAS), Y.shape[1]))
    for k, (train, val) in enumerate(folds):
        for a, alpha in enumerate(ALPHAS):
            model = Ridge(alpha=alpha, fit_intercept=True).fit(X[train], Y[train])
            scores[k, a] = pearson_columns(model.predict(X[val]), Y[val])
    chosen = scores.mean(0).argmax(0)
    coef = np.zeros((X.shape[1], Y.shape[1]), dtype=np.float32)
    for a in np.unique(chosen):
        columns = np.flatnonzero(chosen == a)
        refit = Ridge(alpha=ALPHAS[a], fit_intercept=True).fit(X, Y[:, columns])
        coef[:, columns] = refit.coef_.reshape(len(columns), -1).T
    return {"seconds": time.perf_counter() - start, "alphas": ALPHAS[chosen], "coef": coef}


def sklearn_refusal(X, Y) -> str:
    try:
        RidgeCV(alphas=ALPHAS, cv=KFold(5), alpha_per_target=True).fit(X[:50], Y[:50, :2])
    except ValueError as error:
        return str(error)
    return "accepted"


def compare_peers(n_samples, n_features, n_targets, args):
    X, Y = make_data(n_samples, n_features, n_targets, seed=args.seed)
    folds = list(KFold(5).split(X))
    print(f"\n== {n_samples} x {n_features} features, {n_targets} targets, {len(ALPHAS)} alphas, 5 contiguous folds ==")
    rate = matmul_rate(n_targets, n_samples, n_features)
    run_vlencode(X[:400, :32], Y[:400, :8], list(KFold(5).split(X[:400])), args.device)  # thread pools, kernels
    results = {"vlencode": run_vlencode(X, Y, folds, args.device)}
    if "himalaya" in args.peers:
        for backend in ("numpy", "torch"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                results[f"himalaya-{backend}"] = run_himalaya(X, Y, backend)
    if "sklearn" in args.peers and n_targets <= args.sklearn_max_targets:
        results["sklearn"] = run_sklearn(X, Y, folds)
    elif "sklearn" in args.peers:
        print(f"sklearn skipped at {n_targets} targets (--sklearn-max-targets {args.sklearn_max_targets})")
    ours = results["vlencode"]
    print(f"{'solver':18s} {'seconds':>9s} {'vs vlencode':>12s} {'alpha agrees':>13s} {'max |coef diff|':>16s}")
    for name, found in results.items():
        ratio = found["seconds"] / ours["seconds"]
        agree = np.mean(np.isclose(found["alphas"], ours["alphas"], rtol=1e-4))
        scale = np.abs(ours["coef"]).max()
        coef_diff = np.abs(found["coef"] - ours["coef"]).max() / scale
        print(f"{name:18s} {found['seconds']:9.2f} {ratio:11.1f}x {100 * agree:12.2f}% {coef_diff:16.2e}")
    print(
        f"vlencode dominant products {ours['gflops']:.0f} GFLOP/s "
        f"vs float32 torch.mm {rate:.0f} GFLOP/s on this machine ({ours['gflops'] / rate:.2f} of it)"
    )


def paper_scale(args):
    n_samples, n_features, n_targets = 5000, 768, args.paper_targets
    X, Y = make_data(n_samples, n_features, n_targets, seed=args.seed)
    splits = []
    for train, held in KFold(5).split(X):
        half = len(held) // 2
        splits.append((train, held[:half], held[half:]))
    print(
        f"\n== paper-scale fit: {n_samples} events, {n_targets} targets, {n_features} features, "
        f"{len(ALPHAS)} alphas, 5 folds (validation/test halves) =="
    )
    warm_up = [(train, held, held[:0]) for train, held in KFold(5).split(X[:400])]
    cross_validated_ridge(X[:400, :32], Y[:400, :8], warm_up, ALPHAS, device=args.device)  # CUDA context, kernels
    start = time.perf_counter()
    fit = cross_validated_ridge(X, Y, splits, ALPHAS, device=args.device)
    seconds = time.perf_counter() - start
    flops = vlencode_flops(n_samples, n_features, n_targets, splits, len(ALPHAS), refit=False, predictions=True)
    print(
        f"cross_validated_ridge: {seconds:.2f} s ({flops / seconds / 1e9:.0f} GFLOP/s, targets_batch "
        f"{fit.targets_batch}, device {args.device})"
    )
    try:
        from vlencode.bootstrap.fast import resampled_pearson
        from vlencode.bootstrap.resampling import draw_resamples, resample_counts
    except ImportError as error:
        print(f"fast bootstrap not timed: vlencode.stats is not importable here ({error})")
        return
    start = time.perf_counter()
    counts = resample_counts(draw_resamples(n_samples, 1000, args.seed), n_samples)
    for part in (1, 2):
        resampled_pearson(fit.prediction, Y, counts, [split[part] for split in splits], device=args.device)
    print(
        f"fast bootstrap, 1000 resamples (vlencode.bootstrap.fast.resampled_pearson, validation and test groups): "
        f"{time.perf_counter() - start:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--features", type=int, default=768)
    parser.add_argument("--targets", type=int, nargs="*", default=[200, 24150])
    parser.add_argument("--peers", nargs="*", default=["sklearn", "himalaya"], choices=["sklearn", "himalaya"])
    parser.add_argument("--sklearn-max-targets", type=int, default=24150)
    parser.add_argument("--paper-targets", type=int, default=24150, help="0 skips the paper-scale fit")
    parser.add_argument("--device", default="cpu", help="vlencode's device (peers run on the CPU)")
    parser.add_argument("--threads", type=int, default=None, help="torch and BLAS threads (default: as configured)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from threadpoolctl import threadpool_info, threadpool_limits

    if args.threads:
        torch.set_num_threads(args.threads)
        threadpool_limits(args.threads)
    blas = {
        (info["internal_api"], info.get("architecture"), info["num_threads"])
        for info in threadpool_info()
        if info["user_api"] == "blas"
    }
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; numpy/scipy BLAS {sorted(blas)}")
    print(f"sklearn RidgeCV(cv=KFold(5), alpha_per_target=True): {sklearn_refusal(*make_data(50, 4, 2, 0))}")
    for n_targets in args.targets:
        compare_peers(args.samples, args.features, n_targets, args)
    if args.paper_targets:
        paper_scale(args)


if __name__ == "__main__":
    main()
