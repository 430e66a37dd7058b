"""Validation r of every fold from one eigendecomposition of the kernel over all rows: the screening proxy of wide
layers.

The engine (:mod:`vlencode.ridge.search`) decomposes each fold's training design: with 5 folds, five
eigendecompositions of ``min(n_train, n_features)`` rows.  The study extraction's layers are 7,000-8,500 columns wide
over 600-10,600 events, so each of those is a kernel or Gram matrix of thousands of rows, and a screening proxy, which
scores only ~1,000 targets, is mostly those decompositions.  Here one eigendecomposition of the kernel over all rows,
``K = Z Z' = U diag(s) U'`` (``Z`` the design centred and scaled over all rows), serves every fold and alpha, through
the held-out identity of kernel ridge regression with an unpenalised intercept (the bordered system of least-squares
support vector machines; An, Liu & Venkatesh 2007, "Fast cross-validation algorithms for least squares support vector
machine and kernel ridge regression", Pattern Recognition 40: 2154-2162).  With ``M = [[K + alpha I, 1], [1', 0]]``
and ``h`` the rows a fold does not train on, the fold's residuals on them are

    ``y_h - yhat_h = ((M^-1)_hh)^-1 (M^-1 [y; 0])_h``

(the block inverse: ``(M^-1)_hh`` is the inverse of the Schur complement of the bordered system's other rows, the
training rows and the intercept's).  With ``A^-1 = U diag(1 / (s + alpha)) U'``, ``g = A^-1 1`` and
``gamma = 1' A^-1 1``, the rows' block of ``M^-1`` is ``A^-1 - g g' / gamma``.  So per alpha and fold it costs the
held-out rows of ``U`` times the projected targets ``U' y`` and their own Gram matrix, ``n_h n (m + n_h)``
multiply-adds, and one solve of ``n_h`` rows, where the engine pays an eigendecomposition per fold
(:func:`shared_kernel_pays` compares the two).

Ridge with an unpenalised intercept is ridge on the training rows centred with their means, as the engine fits.  What
differs is the scaling: the kernel is of the design standardised with statistics over all rows, where the engine
scales each fold with its training rows' (no target enters either).  Without standardisation the two are the same
regression, and their validation r agree to round-off (``tests/test_ridge.py``); with it,
``benchmarks/screening_proxy.py`` measures the difference.  Everything is float64: the identity subtracts the
residuals from the targets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from vlencode.device import resolve_device
from vlencode.pearson import pearson_from_sums
from vlencode.ridge.checks import Split, check_inputs
from vlencode.ridge.decomposition import _eigh, column_scale, gram_matrix
from vlencode.ridge.fold import constant_prediction
from vlencode.ridge.memory import AVAILABLE_SHARE, available_memory_bytes, torch_threads

#: Alphas the identity resolves in float64, relative to the kernel's largest eigenvalue ``s_max``: below ``1e-12
#: s_max`` the held-out block's solve loses its digits (it failed outright on 1e8-scaled columns), above ``1e7 s_max``
#: the predictions are a vanishing part of the targets they are subtracted from (at ``1e9 s_max`` r was 0.1 off).
#: A standardised layer has ``n <= s_max <= n p``, which the paper grid (1e-1 to 1e5) meets at any events and width.
ALPHA_RANGE = (1e-12, 1e7)

#: The time of one eigendecomposition of ``n`` rows, in multiply-adds of a float64 matrix product: ``EIGH_COST n^3``.
#: Measured on one core of this project's 2-core AMD EPYC with SciPy's divide and conquer against NumPy's product:
#: 3.5-9 (1,500 and 2,500 rows, the machine loaded) and 4.8 s for 3,250 rows against ~25e9 multiply-adds a second.
EIGH_COST = 4.0


def shared_kernel_bytes(n_samples: int, n_features: int, n_targets: int, n_held: int) -> int:
    """Peak bytes of :func:`shared_kernel_validation_r`: the float64 design and its kernel, then the kernel's
    eigenvectors with LAPACK's divide-and-conquer workspace (``2 n^2``), or the eigenvectors, the targets, their
    projection and a fold's training rows with its held-out rows of the eigenvectors (and their scaled copy), its
    block and residuals."""
    n, n_h = n_samples, n_held
    elements = max(
        n * n_features + n * n, 3 * n * n, n * n + 4 * n * n_targets + 2 * n_h * n + n_h * n_h + 3 * n_h * n_targets
    )
    return 8 * elements


def shared_kernel_pays(
    n_samples: int,
    n_features: int,
    splits: Sequence[Split],
    alphas: Sequence[float] | np.ndarray,
    n_targets: int,
    workers: int,
    device: torch.device,
    budget_bytes: int | None,
) -> bool:
    """Whether one eigendecomposition of the kernel over all rows takes less time than the engine's per fold, and fits
    the memory budget.

    A model of the dominant costs, calibrated on the CPU (:data:`EIGH_COST`) and used on every device: the engine
    decomposes ``workers`` folds at a time, each of ``min(n_train, n_features)`` rows, one thread each; the shared
    kernel decomposes ``n_samples`` rows once (on one thread on the CPU), then multiplies ``n_h n (m + n_h)`` per
    alpha and fold on ``workers`` threads (module note).  Left out: the Gram matrices and kernels both form, the
    engine's scoring of every alpha and the shared kernel's ``U' y`` and solves (each smaller than what is counted at
    the study extraction's widths).  Never where the alphas leave :data:`ALPHA_RANGE` of a standardised design's
    largest eigenvalue (between ``n_samples`` and ``n_samples n_features``).

    Parameters
    ----------
    n_samples, n_features : int
    splits : the folds, ``(train, val, test)`` index arrays
    alphas : the grid
    n_targets : int
    workers : int
        Folds the engine decomposes side by side: its torch threads on the CPU, 1 on CUDA
        (:func:`vlencode.ridge.memory.concurrent_items`).
    device : torch.device
        Where it would compute (for the default budget).
    budget_bytes : int or None
        The engine's memory budget (``memory_gb``); None takes :data:`vlencode.ridge.memory.AVAILABLE_SHARE` of the
        memory available (:func:`vlencode.ridge.memory.available_memory_bytes`).
    """
    alphas = np.asarray(alphas, dtype=np.float64)
    low, high = ALPHA_RANGE
    if alphas.min() < low * n_samples * n_features or alphas.max() > high * n_samples:
        return False
    n_alphas = len(alphas)
    ranks = sorted((min(len(train), n_features) for train, _, _ in splits), reverse=True)
    rounds = [ranks[i] for i in range(0, len(ranks), max(1, workers))]
    engine = EIGH_COST * sum(float(rank) ** 3 for rank in rounds)
    held = [n_samples - len(train) for train, _, _ in splits]
    products = n_alphas * sum(float(n_held) * n_samples * (n_targets + n_held) for n_held in held)
    shared = EIGH_COST * float(n_samples) ** 3 + products / max(1, workers)
    if shared >= engine:
        return False
    if budget_bytes is None:
        budget_bytes = int(available_memory_bytes(device) * AVAILABLE_SHARE)
    return shared_kernel_bytes(n_samples, n_features, n_targets, max(held)) <= budget_bytes


def shared_kernel_validation_r(
    X: np.ndarray,
    Y: np.ndarray,
    splits: Sequence[Split],
    alphas: Sequence[float] | np.ndarray,
    *,
    standardize: bool = True,
    device: str | torch.device = "auto",
    n_threads: int | None = None,
) -> np.ndarray:
    """Per fold and target, the validation r at the alpha with the best one, from one decomposition of all rows.

    The scores of :func:`vlencode.ridge.cross_validated_ridge` with ``score_test=False`` (``val_r``), the design
    standardised over all rows instead of each fold's training rows (module note): the best alpha per fold and target
    by validation r (ties to the first alpha), r = 0 for a target constant over the fold's training or validation rows
    or a constant prediction (validation rows that repeat one design row).

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    Y : array of shape (n_samples, n_targets)
    splits : sequence of (train_idx, val_idx, test_idx)
        As the engine's; a fold's test rows and the rows in none of its sets are held out with its validation rows.
    alphas : sequence of float
        Positive ridge penalties.
    standardize : bool
        Scale every column to unit variance over all rows (after centring).
    device : str or torch.device
    n_threads : int or None
        torch intra-op threads (None: torch's setting); the eigendecomposition runs on one thread on the CPU
        (:func:`vlencode.ridge.decomposition._eigh`).

    Returns
    -------
    ndarray of float32, shape (n_folds, n_targets)

    Raises
    ------
    ValueError
        On the engine's input errors (:func:`vlencode.ridge.checks.check_inputs`), and where the alphas leave
        :data:`ALPHA_RANGE` of the kernel's largest eigenvalue.
    """
    X, Y, splits, alphas = check_inputs(X, Y, splits, alphas)
    device = resolve_device(device)
    n_samples = X.shape[0]
    with torch_threads(n_threads):
        # The design stays on the host, read for validation sets that predict one value; x, a copy, is scaled in place.
        if any(stride < 0 for stride in X.strides):
            X = np.ascontiguousarray(X)
        design = torch.as_tensor(X)
        x = torch.tensor(X, dtype=torch.float64, device=device)
        mean, scale = column_scale(x, standardize)
        kernel = gram_matrix(x.sub_(mean).mul_(scale), outer=True)
        del x
        eigenvalues, vectors = _eigh(kernel)
        del kernel
        eigenvalues = eigenvalues.clamp_min(0.0)
        largest = float(eigenvalues.max()) if n_samples else 0.0
        if largest == 0.0:
            # Every column constant: every prediction is one value.
            return np.zeros((len(splits), Y.shape[1]), dtype=np.float32)
        if alphas.min() < ALPHA_RANGE[0] * largest or alphas.max() > ALPHA_RANGE[1] * largest:
            raise ValueError(
                f"shared kernel: alphas {alphas.min():.3g}-{alphas.max():.3g} leave the range float64 resolves for "
                f"this design ({ALPHA_RANGE[0]:g} to {ALPHA_RANGE[1]:g} times its kernel's largest eigenvalue, "
                f"{largest:.3g}); standardise the design, or fit it with cross_validated_ridge"
            )
        # A copy (centred in place); torch takes no negative strides.
        y = torch.tensor(np.ascontiguousarray(Y), dtype=torch.float64, device=device)
        y -= y.mean(0)
        projected = vectors.T @ y
        ones_projected = vectors.sum(0)
        val_r = torch.empty((len(splits), Y.shape[1]), dtype=torch.float64, device=device)
        for k, (train, val, _) in enumerate(splits):
            if constant_prediction(design, torch.as_tensor(train), torch.as_tensor(val)):
                # A column constant over the training rows gets no weight (the border), so this holds here too.
                val_r[k] = 0.0
                continue
            held = np.setdiff1d(np.arange(n_samples), train)
            held_vectors = vectors[torch.as_tensor(held, device=device)]
            val_rows = torch.as_tensor(np.searchsorted(held, val), device=device)
            y_val = y[torch.as_tensor(val, device=device)]
            y_train = y[torch.as_tensor(train, device=device)]
            flat = (y_train.amax(0) == y_train.amin(0)) | (y_val.amax(0) == y_val.amin(0))
            y_val = y_val - y_val.mean(0)
            var_true = y_val.square().sum(0)
            best = torch.full((Y.shape[1],), -math.inf, dtype=torch.float64, device=device)
            for alpha in alphas:
                shrink = 1.0 / (eigenvalues + float(alpha))
                g_coordinates = shrink * ones_projected
                gamma = ones_projected @ g_coordinates
                g_held = held_vectors @ g_coordinates
                right = held_vectors @ (shrink[:, None] * projected)
                right.sub_(torch.outer(g_held, (g_coordinates @ projected) / gamma))
                block = gram_matrix(held_vectors * shrink.sqrt(), outer=True)
                block.sub_(torch.outer(g_held, g_held / gamma))
                residual = torch.linalg.solve(block, right)[val_rows]
                # The prediction is y_val - residual; Pearson r ignores its constant (the intercept).
                prediction = residual.neg_().add_(y_val)
                prediction -= prediction.mean(0)
                r = pearson_from_sums((prediction * y_val).sum(0), prediction.square().sum(0), var_true, flat)
                best = torch.maximum(best, r)
            val_r[k] = best
    return val_r.to(torch.float32).cpu().numpy()
