"""vlencode's ridge engine on a wide design (more features than training events): the dual form at the paper's shape.

Task: X 5000 x 7800 float32 (a wide network layer; near-low-rank like activations), Y with 24,150 targets (150
electrodes x 161 bins), alphas logspace(-1, 6, 7) (one decade beyond the study's logspace(-1, 5, 7); the cost is the
same), 5 contiguous folds whose held-out fifth is split into validation and test halves, standardised features,
out-of-fold predictions: the study's protocol, where every fold has 4000 training rows for 7800 features and so takes
the dual form (:mod:`vlencode.ridge.decomposition`).

The fit runs the engine's own steps (:func:`vlencode.ridge.search.prepare_candidate`, then
:func:`vlencode.ridge.search.score_batch` per batch of targets, exactly what ``cross_validated_ridge`` runs) so that
the decompositions and the scoring are timed apart.  Each part's rate counts its dominant products
(``dual_flops``) and sits next to this machine's torch matrix-multiply rate on products of the same shapes: float64
for the kernels and the held-out projections (the decomposition's products), float32 for the scoring.  The float64
eigendecompositions of the 4000 x 4000 kernels are timed on their own, on one thread as the engine runs them.

Run: ``.venv/bin/python benchmarks/ridge_wide.py`` (options: ``--help``); a few minutes on a small machine.

Measured 2026-12-06 on a 2-core CPU box (24 GB) shared with other jobs (load average 4-8, so the machine rates were
measured under the same load as the fit), torch threads 2, default memory plan (19,777 targets per batch):

* machine: float32 matmul 22.3 GFLOP/s, float64 matmul 8.8 GFLOP/s, float64 eigh of 4000 x 4000 on one thread 74.5 s;
* fit 789.5 s: preparation 363.4 s (kernels 1248 GFLOP float64, 141.8 s at the machine's rate; cross-kernels and
  projections 472 GFLOP float32, 21.2 s; five eigendecompositions, 372.5 s one after another, two side by side),
  scoring 426.0 s (8695 GFLOP float32 at 20.4 GFLOP/s, 0.92 of the float32 matmul rate);
* the whole fit at the machine's matmul rates with the eigendecompositions side by side would take 777.1 s: the fit
  ran at 0.98 of the machine's rate.  Of that ideal time the eigendecompositions take 29%, the float64 kernels 18%, the
  cross-kernels 3% and the scoring 50%.

That run projected the held-out rows in float32; they are float64 since (commit 12b66da, for accuracy), which adds
472 GFLOP of float64 products per fit instead (about 33 s more at the rates above).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from vlencode.encoding import contiguous_splits
from vlencode.ridge.checks import check_inputs
from vlencode.ridge.fold import TRIANGLE_BLOCKS, triangular_factor_pays
from vlencode.ridge.search import (
    SearchAccumulator,
    SearchInputs,
    SearchOptions,
    plan_batch,
    prepare_candidate,
    score_batch,
)

ALPHAS = np.logspace(-1, 6, 7)


def make_data(n_samples: int, n_features: int, n_targets: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Features of rank 64 plus 10% noise (like network activations); targets a noisy read-out of 16 directions.

    The read-out is formed in the 16-dimensional signal space, so making 24,150 targets costs no wide product.
    """
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n_samples, 64)).astype(np.float32)
    loading = rng.standard_normal((64, n_features)).astype(np.float32)
    X = latent @ loading + 0.1 * np.sqrt(64) * rng.standard_normal((n_samples, n_features)).astype(np.float32)
    signal = latent[:, :16] @ rng.standard_normal((16, n_targets)).astype(np.float32)
    signal /= signal.std(0)
    snr = 10.0 ** rng.uniform(-2.0, 0.5, n_targets).astype(np.float32)
    Y = signal * np.sqrt(snr) + rng.standard_normal((n_samples, n_targets)).astype(np.float32)
    return X, Y


def matmul_rate(rows: int, inner: int, cols: int, dtype: torch.dtype, repeats: int = 2) -> float:
    """Best torch.mm rate (GFLOP/s) of ``[rows, inner] @ [inner, cols]`` in ``dtype`` over ``repeats`` runs."""
    a = torch.randn(rows, inner, dtype=dtype)
    b = torch.randn(inner, cols, dtype=dtype)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * rows * inner * cols / best / 1e9


def eigh_seconds(size: int) -> float:
    """Seconds of one float64 ``torch.linalg.eigh`` of a ``size`` x ``size`` kernel on one thread (as the engine)."""
    a = torch.randn(size, size, dtype=torch.float64)
    kernel = a @ a.T
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        start = time.perf_counter()
        torch.linalg.eigh(kernel)
        return time.perf_counter() - start
    finally:
        torch.set_num_threads(previous)


def dual_flops(n_features: int, n_targets: int, splits, n_alphas: int) -> tuple[float, float, float]:
    """Floating-point operations of the dual form's dominant products: (float64 kernels, float64 cross-kernels and
    held-out projections, float32 scoring).

    Per fold (``n_t`` training rows = rank, ``n_v`` validation, ``n_h`` held-out rows, ``p`` features, ``t``
    targets): the kernel 2 n_t^2 p (float64); the cross-kernel 2 n_h n_t p and its projection 2 n_h n_t^2; projected
    targets 2 n_t (n_t + 1) t; validation covariances 2 n_v n_t t; per alpha 2 min(n_v, n_t) n_t t (a triangular
    factor multiplies (b + 1) / 2b of it, when it pays); predictions at the chosen alpha 2 n_h n_t t.
    """
    kernels = projections = scoring = 0.0
    p, t = n_features, n_targets
    for train, val, test in splits:
        n_t, n_v, n_h = len(train), len(val), len(val) + len(test)
        kernels += 2 * n_t * n_t * p
        projections += 2 * n_h * n_t * (p + n_t)
        per_alpha = 2 * min(n_v, n_t) * n_t * t
        if triangular_factor_pays(n_v, n_t, n_alphas, t):
            per_alpha *= (TRIANGLE_BLOCKS + 1) / (2 * TRIANGLE_BLOCKS)
        scoring += 2 * n_t * (n_t + 1) * t + 2 * n_v * n_t * t + n_alphas * per_alpha + 2 * n_h * n_t * t
    return kernels, projections, scoring


def fit_timed(X: np.ndarray, Y: np.ndarray, splits, memory_gb: float | None) -> dict:
    """Cross-validated ridge through the engine's steps, the folds' preparation and the scoring timed apart."""
    options = SearchOptions(
        standardize=True,
        device="cpu",
        dtype=torch.float32,
        targets_batch=None,
        memory_gb=memory_gb,
        return_all_alphas=False,
        n_threads=None,
    )
    X, Y, splits, alphas = check_inputs(X, Y, splits, ALPHAS)
    device = torch.device("cpu")
    n_targets = Y.shape[1]
    targets_batch, workers = plan_batch(X, n_targets, splits, len(alphas), options, device)
    accumulator = SearchAccumulator.empty(*X.shape, n_targets, len(splits), len(alphas), options)
    with torch.no_grad():
        start = time.perf_counter()
        inputs = SearchInputs.on_device(X, Y, splits, alphas, device)
        prepared = prepare_candidate(inputs, [np.arange(X.shape[1])], np.ones(1), options, workers)
        prepare_s = time.perf_counter() - start
        start = time.perf_counter()
        for first in range(0, n_targets, targets_batch):
            batch = slice(first, min(first + targets_batch, n_targets))
            score_batch(inputs, prepared, 0, batch, accumulator, options)
        score_s = time.perf_counter() - start
    solvers = {fold.decomposition.solver for fold in prepared.folds}
    return {"prepare_s": prepare_s, "score_s": score_s, "batch": targets_batch, "solvers": solvers, "acc": accumulator}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--features", type=int, default=7800)
    parser.add_argument("--targets", type=int, default=24150)
    parser.add_argument("--memory-gb", type=float, default=None, help="the planner's budget (default: half free)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: as configured)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    X, Y = make_data(args.samples, args.features, args.targets, args.seed)
    splits = contiguous_splits(np.zeros(args.samples, dtype=str), 5)
    n_train, n_val = len(splits[0][0]), len(splits[0][1])
    print(
        f"X {X.shape}, Y {Y.shape}, {len(splits)} folds of {n_train} training rows, "
        f"torch threads {torch.get_num_threads()}"
    )

    rate64 = matmul_rate(n_train, args.features, n_train, torch.float64)
    rate32 = max(
        matmul_rate(n_train, n_train, 2048, torch.float32),
        matmul_rate(n_val, n_train, 2048, torch.float32),
        matmul_rate(n_train + n_val, args.features, n_train, torch.float32),
    )
    eigh_s = eigh_seconds(n_train)
    print(f"machine: float32 matmul {rate32:.1f} GFLOP/s, float64 matmul {rate64:.1f} GFLOP/s, ", end="")
    print(f"float64 eigh of {n_train} x {n_train} on one thread {eigh_s:.1f} s")

    fit = fit_timed(X, Y, splits, args.memory_gb)
    kernels, projections, scoring = dual_flops(args.features, args.targets, splits, len(ALPHAS))
    total_s = fit["prepare_s"] + fit["score_s"]
    score_rate = scoring / fit["score_s"] / 1e9
    print(f"fit: {total_s:.1f} s ({sorted(fit['solvers'])}, {fit['batch']} targets per batch)")
    print(
        f"  preparation {fit['prepare_s']:.1f} s: kernels {kernels / 1e9:.0f} GFLOP float64 "
        f"({kernels / 1e9 / rate64:.1f} s at the machine's rate), cross-kernels and projections "
        f"{projections / 1e9:.0f} GFLOP float64 ({projections / 1e9 / rate64:.1f} s), "
        f"{len(splits)} eigendecompositions ({len(splits) * eigh_s:.1f} s one after another)"
    )
    print(
        f"  scoring {fit['score_s']:.1f} s: {scoring / 1e9:.0f} GFLOP float32, {score_rate:.1f} GFLOP/s = "
        f"{score_rate / rate32:.2f} of the float32 matmul rate"
    )
    # Eigendecompositions run one per thread, side by side (vlencode.ridge.memory.map_single_threaded).
    eigh_wall = -(-len(splits) // torch.get_num_threads()) * eigh_s
    ideal = ((kernels + projections) / rate64 + scoring / rate32) / 1e9 + eigh_wall
    print(
        f"  whole fit at the machine's matmul rates, eigendecompositions side by side: {ideal:.1f} s "
        f"= {ideal / total_s:.2f} of the time taken"
    )


if __name__ == "__main__":
    main()
