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
held-out rows of ``U`` times the projected targets ``U' y`` and their own Gram matrix, ``n_h r (m + n_h)``
multiply-adds (``r`` columns of ``U``), and one solve of ``n_h`` rows, where the engine pays an eigendecomposition per
fold (:func:`shared_kernel_pays` compares the two).

With enough fewer columns than rows (:func:`null_space_pays`; the study extraction's largest trial: 10,570 events,
8,168 columns) the kernel, of rank at most ``p``, is not decomposed: the Gram matrix ``Z' Z = V diag(s) V'`` is, and
``U = Z V diag(s)^-1/2`` are the kernel's ``r`` eigenvectors of nonzero eigenvalue.  The rest of ``R^n`` is the
kernel's null space, where ``A^-1`` is ``1 / alpha``, so ``A^-1 = U diag(1 / (s + alpha) - 1 / alpha) U' + I / alpha``
(Woodbury's identity in the kernel's eigenbasis): an eigendecomposition of ``p`` rows and the product forming ``U``
instead of one of ``n`` rows (at 10,570 x 8,168, 176 s against 266 for the whole proxy).  The first term is negative
semidefinite, so the held-out block is still formed as one triangle (``syrk``).

Ridge with an unpenalised intercept is ridge on the training rows centred with their means, as the engine fits.  What
differs is the scaling: the kernel is of the design standardised with statistics over all rows, where the engine
scales each fold with its training rows' (no target enters either).  Without standardisation the two are the same
regression, and their validation r agree to round-off (``tests/test_ridge.py``); with it,
``benchmarks/screening_proxy.py`` measures the difference.  It is small where the training rows' variances are the
all-rows ones up to sampling error (dense layers), and large on a sparse layer whose columns vary mostly in some
fold's held-out rows: :func:`scaling_agrees` tells the two apart, and the screening proxy takes the shared kernel only
where it holds.  Everything is float64: the identity subtracts the
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


#: Most a column's weight in a fold's own standardisation may differ from its weight over all rows, relatively
#: (:func:`scaling_agrees`).  On the study extraction's dense projections the training rows' variance is the sampling
#: error of the all-rows one (the weights within a few percent at thousands of events); on sparse pooled layers some
#: columns are active mostly in one fold's held-out rows: the replica's EfficientNet-Lite0 head (1,005 events x 1,280
#: columns) has weights up to 38,000, and its proxy from the shared kernel was 0.0127 above the engine's in mean
#: validation r over 128 targets (0.128 on one target), more than separates its layers.  The study extraction's
#: synthetic layers stay within 0.06-0.15 of 1 (4,066 and 603 events), the replica's MiniLM layers within 0.23-0.39
#: (486 events), where the two proxies' means differ by at most 5e-4.
SCALING_TOLERANCE = 0.5

#: Columns :func:`scaling_agrees` converts to float64 at a time (10,570 events x 1,024 columns: 87 MB).
SCALING_COLUMNS = 1024


def scaling_agrees(design: np.ndarray, splits: Sequence[Split], tolerance: float = SCALING_TOLERANCE) -> bool:
    """Whether standardising over all rows stands in for each fold's own: in every fold, every column's weight in the
    engine's standardisation relative to the shared kernel's, ``var_all / var_train``, is within ``tolerance`` of 1.

    The shared kernel weights column ``j`` by ``1 / var_all``, the engine by ``1 / var_train`` of the fold's training
    rows.  Centring does not matter (an unpenalised intercept absorbs it), and neither does a column exactly constant
    over the training rows, which the engine drops (:func:`vlencode.ridge.decomposition.column_scale`) and which adds
    only what the intercept absorbs to the shared kernel's training block and cross-kernel; a column nearly constant
    there is weighted by its tiny variance, so it counts.  Variances are taken about the mean (NumPy's two passes),
    in float64, a block of columns at a time.

    Parameters
    ----------
    design : ndarray, shape (n_samples, n_features)
    splits : the folds, ``(train, val, test)`` index arrays
    tolerance : float
        :data:`SCALING_TOLERANCE` by default.
    """
    x = np.asarray(design)
    n = x.shape[0]
    folds = [np.asarray(train) for train, _, _ in splits if len(train) < n]
    for start in range(0, x.shape[1], SCALING_COLUMNS):
        block = x[:, start : start + SCALING_COLUMNS].astype(np.float64)
        var_all = block.var(axis=0)
        for train in folds:
            rows = block[train]
            counted = (var_all > 0) & (rows.max(axis=0) != rows.min(axis=0))
            weight = var_all[counted] / rows[:, counted].var(axis=0)
            if weight.size and not np.all(np.abs(weight - 1.0) <= tolerance):
                return False
    return True


def shared_kernel_bytes(n_samples: int, n_features: int, n_targets: int, n_held: int, null_space: bool = False) -> int:
    """Peak bytes of :func:`shared_kernel_validation_r`: the float64 design and the matrix it decomposes (the kernel,
    or with ``null_space`` the Gram matrix), its eigenvectors with LAPACK's divide-and-conquer workspace
    (twice the matrix), the kernel's eigenvectors formed from the design and the Gram matrix's, then the kernel's
    eigenvectors, the targets, their projection and a fold's training rows with its held-out rows of the
    eigenvectors (and their scaled copy), its block and residuals."""
    n, p, n_h = n_samples, n_features, n_held
    rank = min(n, p) if null_space else n
    elements = max(
        n * p + rank * rank,
        3 * rank * rank + (n * p if null_space else 0),
        n * p + p * p + n * rank if null_space else 0,
        n * rank + 4 * n * n_targets + 2 * n_h * rank + n_h * n_h + (4 if null_space else 3) * n_h * n_targets,
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
    kernel decomposes ``r = min(n_samples, n_features)`` rows once (on one thread on the CPU), with fewer columns
    than rows forms the kernel's eigenvectors (``n r^2``), then multiplies ``n_h r (m + n_h)`` per alpha and fold,
    both on ``workers`` threads (module note).  Left out: the Gram matrices and kernels both form, the
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
    ranks = sorted((min(len(train), n_features) for train, _, _ in splits), reverse=True)
    rounds = [ranks[i] for i in range(0, len(ranks), max(1, workers))]
    engine = EIGH_COST * sum(float(rank) ** 3 for rank in rounds)
    held = [n_samples - len(train) for train, _, _ in splits]
    thin = null_space_pays(n_samples, n_features, held, len(alphas), n_targets)
    rank = min(n_samples, n_features) if thin else n_samples
    if _cost(n_samples, rank, held, len(alphas), n_targets, workers) >= engine:
        return False
    if budget_bytes is None:
        budget_bytes = int(available_memory_bytes(device) * AVAILABLE_SHARE)
    return shared_kernel_bytes(n_samples, n_features, n_targets, max(held), thin) <= budget_bytes


def null_space_pays(n_samples: int, n_features: int, held: Sequence[int], n_alphas: int, n_targets: int) -> bool:
    """Whether to decompose the Gram matrix and add the kernel's null space (module note) rather than decompose the
    kernel: fewer columns than rows, by enough that ``p`` rows' eigendecomposition and the ``n p^2`` forming the
    kernel's eigenvectors take less time than ``n`` rows' (at 3,000 x 2,900 they took 9.6 s against 9.2).  Costed on
    one thread, so the choice, and the round-off of the result, is the same on every machine.

    Parameters
    ----------
    n_samples, n_features : int
    held : sequence of int
        Each fold's rows not trained on.
    n_alphas, n_targets : int
    """
    if n_features >= n_samples:
        return False
    return _cost(n_samples, n_features, held, n_alphas, n_targets, 1) < _cost(
        n_samples, n_samples, held, n_alphas, n_targets, 1
    )


def _cost(n_samples: int, rank: int, held: Sequence[int], n_alphas: int, n_targets: int, workers: int) -> float:
    """The shared kernel's dominant multiply-adds with ``rank`` eigenvectors of the kernel (``n_samples``: the kernel
    decomposed; fewer: the Gram matrix, and the kernel's eigenvectors formed from it), the eigendecomposition on one
    thread and the products on ``workers``."""
    r = float(rank)
    products = n_alphas * sum(float(n_held) * r * (n_targets + n_held) for n_held in held)
    if rank < n_samples:
        products += n_samples * r * r
    return EIGH_COST * r**3 + products / max(1, workers)


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
        x.sub_(mean).mul_(scale)
        # With enough fewer columns than rows, A^-1 adds I / alpha on the kernel's null space (module note).
        held_sizes = [n_samples - len(train) for train, _, _ in splits]
        null_space = null_space_pays(n_samples, X.shape[1], held_sizes, len(alphas), Y.shape[1])
        matrix = gram_matrix(x, outer=not null_space)
        # The kernel's eigenvectors are the decomposition's own unless they are formed from the design's.
        scaled = x if null_space else None
        del x
        eigenvalues, vectors = _eigh(matrix)
        del matrix
        eigenvalues = eigenvalues.clamp_min(0.0)
        largest = float(eigenvalues.max()) if n_samples else 0.0
        if largest == 0.0:
            # Every column constant: every prediction is one value.
            return np.zeros((len(splits), Y.shape[1]), dtype=np.float32)
        if scaled is not None:
            # Eigenvalues at the decomposition's round-off (eps times the largest) have no direction to speak of:
            # dividing by their root would amplify noise, so they join the null space.  A larger cut (p eps) cost
            # accuracy at the smallest alphas ALPHA_RANGE allows (r 2.5e-3 off at 1e-12 s_max, against 2e-5).
            # Ascending, so the kept ones are the last: a view of their vectors, not a copy.
            first = int((eigenvalues <= largest * torch.finfo(torch.float64).eps).sum())
            eigenvalues = eigenvalues[first:]
            vectors = (scaled @ vectors[:, first:]).div_(eigenvalues.sqrt())
            del scaled
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
        y_sum = y.sum(0)
        ones_projected = vectors.sum(0)
        val_r = torch.empty((len(splits), Y.shape[1]), dtype=torch.float64, device=device)
        for k, (train, val, _) in enumerate(splits):
            if constant_prediction(design, torch.as_tensor(train), torch.as_tensor(val)):
                # A column constant over the training rows gets no weight (the border), so this holds here too.
                val_r[k] = 0.0
                continue
            held = np.setdiff1d(np.arange(n_samples), train)
            held_rows = torch.as_tensor(held, device=device)
            held_vectors = vectors[held_rows]
            y_held = y[held_rows] if null_space else None
            val_rows = torch.as_tensor(np.searchsorted(held, val), device=device)
            y_val = y[torch.as_tensor(val, device=device)]
            y_train = y[torch.as_tensor(train, device=device)]
            flat = (y_train.amax(0) == y_train.amin(0)) | (y_val.amax(0) == y_val.amin(0))
            y_val = y_val - y_val.mean(0)
            var_true = y_val.square().sum(0)
            best = torch.full((Y.shape[1],), -math.inf, dtype=torch.float64, device=device)
            for alpha in alphas:
                # A^-1 = U diag(shrink) U' + null I, with shrink <= 0 where the kernel has a null space.
                null = 1.0 / float(alpha) if null_space else 0.0
                shrink = 1.0 / (eigenvalues + float(alpha)) - null
                g_coordinates = shrink * ones_projected
                gamma = ones_projected @ g_coordinates + null * n_samples
                g_held = held_vectors @ g_coordinates + null
                right = held_vectors @ (shrink[:, None] * projected)
                if y_held is not None:
                    right.add_(y_held, alpha=null)
                right.sub_(torch.outer(g_held, (g_coordinates @ projected + null * y_sum) / gamma))
                block = gram_matrix(held_vectors * shrink.abs().sqrt(), outer=True)
                if null_space:
                    block.neg_().diagonal().add_(null)
                block.sub_(torch.outer(g_held, g_held / gamma))
                residual = torch.linalg.solve(block, right)[val_rows]
                # The prediction is y_val - residual; Pearson r ignores its constant (the intercept).
                prediction = residual.neg_().add_(y_val)
                prediction -= prediction.mean(0)
                r = pearson_from_sums((prediction * y_val).sum(0), prediction.square().sum(0), var_true, flat)
                best = torch.maximum(best, r)
            val_r[k] = best
    return val_r.to(torch.float32).cpu().numpy()
