"""Cross-validated ridge: per fold and target, the alpha with the best validation r and the test r at that alpha.

Each split is ``(train_idx, val_idx, test_idx)``.  Within a fold the design is centred (and standardised) with the
training rows' statistics, the targets are centred with the training means (the intercept), the fold is decomposed
once (:mod:`vlencode.ridge.decomposition`) and every alpha is scored on the validation rows at once:

* the covariance of prediction and target for all alphas is one small product, ``shrink @ (Z * (Hv' Yv))``;
* the prediction variance needs, per alpha, the product ``(Hv diag(shrink_a)) @ Z`` and its column norms (with
  ``Hv`` replaced by its triangular QR factor when that is smaller, whose zeros the products skip).

A primal fold whose training rows are all rows but its held-out ones is downdated: its Gram matrix (float64) and its
training cross-products ``X_train' Y_train`` are the totals over all rows minus the held-out rows' part, with the
design centred once over all rows and the training means' shift corrected as a rank-one term.  Each fold then
multiplies its held-out rows only (a fifth of the rows with 5 folds instead of four fifths).

The alpha with the best validation r is taken per target, then one more product gives the validation and test
predictions at that alpha: the test r and the out-of-fold predictions (``prediction[event, target]``, NaN for events
in no validation or test set) that the fast bootstrap resamples.  With ``refit``, every target is also fitted on all
rows at the alpha with the best fold-mean validation r; the decomposition of all rows reuses the folds' Gram matrices
and cross-products.

On the CPU the folds (and the refit's decomposition) are prepared side by side, one per torch thread: their float64
eigendecompositions dominate small problems and gain little from threads within one call.

Targets are processed in batches (``targets_batch``, or what :mod:`vlencode.ridge.memory` plans for the memory
budget); results do not depend on the batch size beyond float round-off.  Training targets of contiguous folds are
multiplied as views of a few row runs rather than copied.

Conventions: a target constant over a fold's training rows, or over the rows scored, gets r = 0 (not NaN), as does a
constant prediction; ties between alphas go to the first (smallest index) alpha.  A fold with an empty test set gets
test r = NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from vlencode.ridge.decomposition import FoldDecomposition, decompose, decompose_gram
from vlencode.ridge.memory import (
    bytes_per_target,
    fixed_bytes,
    map_single_threaded,
    plan_targets_batch,
    resolve_device,
    torch_threads,
)

Split = tuple[np.ndarray, np.ndarray, np.ndarray]
Rows = slice | torch.Tensor

#: Most runs of consecutive training rows multiplied as views; beyond, the training targets are gathered (copied).
MAX_RUNS = 16

#: Row blocks of a triangular validation factor: each block multiplies only the rows of ``Z`` from its diagonal on,
#: (n + 1) / 2n of the full product's operations.
TRIANGLE_BLOCKS = 6

#: Targets per chunk of the per-alpha products, so that a chunk of ``Z`` stays in cache across blocks and alphas.
TARGET_CHUNK = 2048


@dataclass(frozen=True)
class RidgeCVResult:
    """What cross-validated ridge returns; arrays are numpy, on the host.

    Attributes
    ----------
    alphas : numpy.ndarray
        ``[n_alphas]`` the grid searched (float64).
    best_alpha : numpy.ndarray
        ``[n_folds, n_targets]`` float64, the alpha with the best validation r per fold and target.
    val_r : numpy.ndarray
        ``[n_folds, n_targets]`` float32, validation Pearson r at ``best_alpha``.
    test_r : numpy.ndarray
        ``[n_folds, n_targets]`` float32, test Pearson r at ``best_alpha`` (NaN for a fold without test rows).
    prediction : numpy.ndarray or None
        ``[n_samples, n_targets]`` float32, each validation and test event predicted by its fold's model at that
        fold's ``best_alpha``; NaN for events in no validation or test set (None unless ``return_predictions``).
    solver : tuple of str
        Per fold ``"primal"`` or ``"dual"``.
    targets_batch : int
        Targets processed at once (given, or chosen by the planner).
    val_r_all : numpy.ndarray or None
        ``[n_folds, n_alphas, n_targets]`` float32 validation r of every alpha, when ``return_all_alphas``.
    band_weights : numpy.ndarray or None
        ``[n_folds, n_targets, n_bands]`` float32, the chosen feature-space weights (banded ridge only).
    refit_alpha : numpy.ndarray or None
        ``[n_targets]`` float64, the alpha with the best validation r averaged over the folds (with ``refit``).
    coef : numpy.ndarray or None
        ``[n_features, n_targets]`` in the compute dtype, ridge coefficients on all rows at ``refit_alpha``, for the
        unscaled design: ``X @ coef + intercept`` predicts ``Y`` (with ``refit``).
    intercept : numpy.ndarray or None
        ``[n_targets]``, with ``coef``.
    """

    alphas: np.ndarray
    best_alpha: np.ndarray
    val_r: np.ndarray
    test_r: np.ndarray
    prediction: np.ndarray | None
    solver: tuple[str, ...]
    targets_batch: int
    val_r_all: np.ndarray | None = None
    band_weights: np.ndarray | None = None
    refit_alpha: np.ndarray | None = None
    coef: np.ndarray | None = None
    intercept: np.ndarray | None = None


def cross_validated_ridge(
    X: np.ndarray,
    Y: np.ndarray,
    splits: Sequence[Split],
    alphas: Sequence[float] | np.ndarray,
    *,
    standardize: bool = True,
    device: str | torch.device = "auto",
    dtype: torch.dtype = torch.float32,
    targets_batch: int | None = None,
    memory_gb: float | None = None,
    return_all_alphas: bool = False,
    return_predictions: bool = True,
    n_threads: int | None = None,
    solver: str = "auto",
    refit: bool = False,
) -> RidgeCVResult:
    """Multi-target, multi-alpha cross-validated ridge regression with intercept, scored by Pearson r.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        Design (features per event); float32 is the norm.
    Y : array of shape (n_samples, n_targets)
        Targets (e.g. every electrode x time bin).
    splits : sequence of (train_idx, val_idx, test_idx)
        Integer row indices per fold.  Training and held-out rows of a fold are disjoint, validation and test rows
        are disjoint, and no row is held out by two folds.  ``test_idx`` may be empty.
    alphas : sequence of float
        Positive ridge penalties, all evaluated from one decomposition per fold.
    standardize : bool
        Scale features to unit variance with the training rows' statistics (after centring).  A feature constant over
        a fold's training rows is set to zero in that fold.
    device : str or torch.device
        ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda[:N]"``.
    dtype : torch.dtype
        Compute dtype of the products (float32; float64 for reference checks).  The Gram matrix and its
        eigendecomposition are float64 regardless.
    targets_batch : int or None
        Targets per batch; None lets the planner choose from ``memory_gb``.
    memory_gb : float or None
        Working-memory budget (GiB) for the planner; None takes half of the memory free on the device.
    return_all_alphas : bool
        Also return ``val_r_all[fold, alpha, target]`` (n_alphas times the size of ``val_r``).
    return_predictions : bool
        Return the out-of-fold predictions (``prediction`` is None otherwise, saving a product over the validation
        rows per fold and an ``[n_samples, n_targets]`` array).
    n_threads : int or None
        torch intra-op threads for this call (restored after); None keeps torch's setting.
    solver : str
        ``"auto"`` decomposes ``X'X`` when a fold has at least as many training rows as features, else ``XX'``;
        ``"primal"`` or ``"dual"`` force one (same results, different cost).
    refit : bool
        Also fit every target on all rows at the alpha with the best validation r averaged over the folds
        (``refit_alpha``, ``coef``, ``intercept``), like the ``RidgeCV`` estimators of scikit-learn and himalaya.  The
        decomposition of all rows runs beside the folds' and reuses their Gram matrices and cross-products.

    Returns
    -------
    RidgeCVResult

    Raises
    ------
    ValueError
        On NaN or infinite values in ``X`` or ``Y``, mismatched shapes, malformed splits or non-positive alphas
        (one line naming the array and the fix).
    """
    X, Y, splits, alphas = check_inputs(X, Y, splits, alphas)
    bands = [np.arange(X.shape[1])]
    return search(
        X,
        Y,
        splits,
        alphas,
        bands,
        np.ones((1, 1)),
        standardize=standardize,
        device=device,
        dtype=dtype,
        targets_batch=targets_batch,
        memory_gb=memory_gb,
        return_all_alphas=return_all_alphas,
        return_predictions=return_predictions,
        n_threads=n_threads,
        solver=solver,
        refit=refit,
    )


def check_array(name: str, array: np.ndarray, what: str) -> np.ndarray:
    """A 2-D finite floating array, or a one-line ValueError naming ``name`` and what is wrong."""
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"ridge {name} must be 2-D [samples, {what}], got shape {array.shape}; reshape it")
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float32)
    if np.isfinite(array.sum()):
        # One reduction instead of two full scans: a sum is finite unless an entry is NaN or infinite (or it
        # overflows, which the scans below then clear).
        return array
    n_nan = int(np.count_nonzero(np.isnan(array)))
    if n_nan:
        raise ValueError(f"ridge {name} holds {n_nan} NaN values (shape {array.shape}); impute or drop them first")
    n_inf = int(np.count_nonzero(np.isinf(array)))
    if n_inf:
        raise ValueError(f"ridge {name} holds {n_inf} infinite values (shape {array.shape}); clip or drop them first")
    return array


def check_splits(splits: Sequence[Split], n_samples: int) -> list[Split]:
    """Integer index arrays per fold, checked: in range, no duplicates, no overlap; or a one-line ValueError."""
    if len(splits) == 0:
        raise ValueError("ridge splits is empty; pass at least one (train_idx, val_idx, test_idx)")
    held_by = np.full(n_samples, -1)
    checked = []
    for fold, split in enumerate(splits):
        if len(split) != 3:
            raise ValueError(f"ridge split {fold} has {len(split)} parts; each must be (train_idx, val_idx, test_idx)")
        parts = []
        for part_name, part in zip(("train", "val", "test"), split):
            index = np.asarray(part).ravel()
            if index.size and not np.issubdtype(index.dtype, np.integer):
                raise ValueError(f"ridge split {fold} {part_name} indices are {index.dtype}, not integers")
            index = index.astype(np.intp)
            if index.size and (index.min() < 0 or index.max() >= n_samples):
                raise ValueError(f"ridge split {fold} {part_name} indices leave [0, {n_samples}); fix the splits")
            if index.size and np.bincount(index, minlength=n_samples).max() > 1:
                raise ValueError(f"ridge split {fold} {part_name} repeats indices; each row may appear once")
            parts.append(index)
        train, val, test = parts
        if train.size < 2 or val.size < 2:
            raise ValueError(
                f"ridge split {fold} has {train.size} training and {val.size} validation rows; each needs >= 2"
            )
        held = np.concatenate([val, test])
        if np.bincount(np.concatenate([train, held]), minlength=n_samples).max() > 1:
            raise ValueError(f"ridge split {fold} reuses rows between train, val and test; make them disjoint")
        if (held_by[held] >= 0).any():
            raise ValueError(
                f"ridge split {fold} holds out rows already held out by fold {held_by[held].max()}; "
                "a row may be held out by one fold only"
            )
        held_by[held] = fold
        checked.append((train, val, test))
    return checked


def check_inputs(
    X: np.ndarray, Y: np.ndarray, splits: Sequence[Split], alphas: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[Split], np.ndarray]:
    """Validate and normalise the engine's inputs (shapes, finiteness, splits, alphas)."""
    X = check_array("X", X, "features")
    Y = check_array("Y", Y, "targets")
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"ridge X has {X.shape[0]} rows but Y has {Y.shape[0]}; they must describe the same events")
    alphas = np.asarray(alphas, dtype=np.float64).ravel()
    if alphas.size == 0 or not np.all(np.isfinite(alphas)) or np.any(alphas <= 0):
        raise ValueError(f"ridge alphas must be finite and > 0, got {alphas.tolist()}")
    return X, Y, check_splits(splits, X.shape[0]), alphas


@dataclass(frozen=True)
class _CentredDesign:
    """The design centred over all rows, for folds whose training rows are all the others (see :func:`_downdates`).

    Every fold's training mean is a small shift from the mean over all rows, so products of the centred design lose
    nothing to large feature offsets when a fold's part is subtracted from the total.  ``held`` has, per fold, the
    float64 Gram matrix and column sums of its held-out rows; no row is held out twice, so they and those of the rows
    no fold holds out add up to ``gram`` and ``column_sum``, the totals over all rows.  ``extremes`` has the column
    maxima and minima of each fold's held-out rows, and then of the rows no fold holds out: a fold's training rows
    are the other blocks, so they tell which columns its training rows hold constant.
    """

    mean: torch.Tensor
    compute: torch.Tensor
    gram: torch.Tensor
    column_sum: torch.Tensor
    held: list[tuple[torch.Tensor, torch.Tensor]]
    extremes: list[tuple[torch.Tensor, torch.Tensor]]

    def constant_columns(self, leave_out: int | None = None) -> torch.Tensor:
        """``[n_features]`` bool: the columns constant over all rows but fold ``leave_out``'s held-out rows (a fold's
        training rows), or over all rows (None)."""
        blocks = [pair for j, pair in enumerate(self.extremes) if j != leave_out]
        return torch.stack([pair[0] for pair in blocks]).amax(0) == torch.stack([pair[1] for pair in blocks]).amin(0)

    @classmethod
    def of(
        cls, design: torch.Tensor, dtype: torch.dtype, splits: list[Split], never_held: np.ndarray
    ) -> _CentredDesign:
        """Centre ``design`` (a compute-dtype copy is kept) and form the float64 Gram matrices and column sums of
        each fold's held-out rows side by side, and their totals."""
        exact = design.to(torch.float64)
        mean = exact.mean(0)
        exact = exact.sub_(mean)

        def products(rows: np.ndarray) -> tuple[torch.Tensor, ...]:
            block = exact[torch.as_tensor(rows, device=design.device)]
            return block.T @ block, block.sum(0), block.amax(0), block.amin(0)

        blocks = [np.concatenate(split[1:]) for split in splits] + ([never_held] if never_held.size else [])
        held = map_single_threaded(products, blocks, design.device)
        gram, column_sum = (torch.stack([part[i] for part in held]).sum(0) for i in (0, 1))
        extremes = [part[2:] for part in held]
        return cls(mean, exact.to(dtype), gram, column_sum, [part[:2] for part in held[: len(splits)]], extremes)


@dataclass(frozen=True)
class _Fold:
    """One fold ready to score: its decomposition and its held-out rows projected, centred per held-out set.

    ``train_basis`` is the decomposition's training basis with a column of ones appended, so one product gives the
    projected targets and the training sums.  ``train_runs`` pairs its rows with the target rows they multiply (see
    :func:`_row_runs`).  A downdated fold (:func:`_downdates`) has no ``train_basis`` but a ``downdate_basis``, the
    eigenvectors scaled by the column scales (``Z = downdate_basis' Xc_train' y``), and ``mean_shift``, its training
    means minus the means over all rows: its projected targets come from the held-out cross-products
    (:func:`_held_cross_products`).  ``val_norm_basis`` has the column norms of ``val_proj``
    (``R'R = val_proj'val_proj``): ``val_proj`` itself, or its triangular QR factor when the validation set has more
    rows than the rank, so each alpha's prediction variance costs ``min(n_val, rank)`` rows; ``val_norm_blocks`` lists
    its row blocks with the first column each has nonzero (:func:`_triangle_blocks`).  ``shrink_t`` is ``shrink``
    transposed (``[rank, n_alphas]``, contiguous) for gathering each target's chosen alpha.  ``train_is_complement``
    tells that the training rows are all rows but the held-out ones.
    """

    decomposition: FoldDecomposition
    n_train: int
    train_basis: torch.Tensor | None
    train_runs: list[tuple[slice, Rows]]
    train_is_complement: bool
    downdate_basis: torch.Tensor | None
    mean_shift: torch.Tensor | None
    val: Rows
    test: Rows
    n_test: int
    shrink: torch.Tensor
    shrink_t: torch.Tensor
    val_proj: torch.Tensor
    val_norm_basis: torch.Tensor
    val_norm_blocks: list[tuple[slice, int]]
    val_proj_mean: torch.Tensor
    test_proj: torch.Tensor
    test_proj_mean: torch.Tensor


def _downdates(split: Split, n_samples: int, n_features: int, solver: str) -> bool:
    """Whether a fold is downdated: primal, with all rows but the held-out ones for training.

    Its Gram matrix and training cross-products are then the totals over all rows minus the held-out part.
    """
    train, val, test = split
    primal = solver == "primal" or (solver == "auto" and len(train) >= n_features)
    return primal and len(train) + len(val) + len(test) == n_samples


def _decompose_downdated(
    centred: _CentredDesign,
    k: int,
    n_train: int,
    standardize: bool,
    dtype: torch.dtype,
    column_weight: torch.Tensor | None,
) -> FoldDecomposition:
    """Fold ``k``'s decomposition, downdated: its centred Gram matrix is the total minus the held-out rows' part, minus
    ``n_train d d'`` for the shift ``d`` of the training means from the means over all rows (all in float64)."""
    held_gram, held_sum = centred.held[k]
    shift = (centred.column_sum - held_sum) / n_train
    gram = (centred.gram - held_gram).sub_(torch.outer(shift, shift), alpha=n_train)
    return decompose_gram(
        gram,
        centred.mean + shift,
        centred.constant_columns(k),
        n_train,
        standardize=standardize,
        dtype=dtype,
        column_weight=column_weight,
    )


def _prepare_fold(
    X: torch.Tensor,
    centred: _CentredDesign | None,
    k: int,
    split: Split,
    alphas: torch.Tensor,
    standardize: bool,
    dtype: torch.dtype,
    column_weight: torch.Tensor | None,
    solver: str,
    n_targets: int,
) -> _Fold:
    """Decompose fold ``k`` and project its held-out rows; ``centred`` is given when the fold is downdated.

    ``n_targets`` (all the targets the fold will score) decides whether its validation projection is factored
    (:func:`triangular_factor_pays`)."""
    device = X.device
    train, val, test = (torch.as_tensor(part, device=device) for part in split)
    train_runs = _row_runs(split[0])
    if train_runs is None:
        train_runs = [(slice(0, len(train)), train)]
    train_basis = downdate_basis = mean_shift = None
    if centred is not None:
        decomposition = _decompose_downdated(centred, k, len(split[0]), standardize, dtype, column_weight)
        downdate_basis = (decomposition.scale[:, None] * decomposition.feature_basis.to(torch.float64)).to(dtype)
        mean_shift = (decomposition.mean - centred.mean).to(dtype)
    else:
        decomposition = decompose(
            X[train], standardize=standardize, dtype=dtype, column_weight=column_weight, solver=solver
        )
        basis = decomposition.train_basis
        train_basis = torch.cat([basis, torch.ones((basis.shape[0], 1), dtype=basis.dtype, device=device)], dim=1)
    if centred is not None:
        # Projected from the design centred over all rows, shifted to the training means (one float32 pass; no
        # float64 copy of the held-out rows).
        scale = decomposition.scale.to(dtype)
        val_proj, test_proj = (
            ((centred.compute[rows] - mean_shift) * scale) @ decomposition.feature_basis for rows in (val, test)
        )
    else:
        val_proj = decomposition.project(X[val])
        test_proj = decomposition.project(X[test])
    val_mean = val_proj.mean(0)
    test_mean = test_proj.mean(0) if len(test) else torch.zeros_like(val_mean)
    val_centred = val_proj - val_mean
    val_norm_basis = val_centred
    val_norm_blocks = [(slice(0, val_centred.shape[0]), 0)]
    if triangular_factor_pays(*val_centred.shape, len(alphas), n_targets):
        val_norm_basis = torch.linalg.qr(val_centred.to(torch.float64), mode="r").R.to(dtype)
        val_norm_blocks = _triangle_blocks(val_norm_basis.shape[0])
    shrink = decomposition.shrinkage(alphas)
    return _Fold(
        decomposition=decomposition,
        n_train=len(train),
        train_basis=train_basis,
        train_runs=train_runs,
        train_is_complement=len(train) + len(val) + len(test) == X.shape[0],
        downdate_basis=downdate_basis,
        mean_shift=mean_shift,
        val=_rows(split[1], device),
        test=_rows(split[2], device),
        n_test=len(test),
        shrink=shrink,
        shrink_t=shrink.T.contiguous(),
        val_proj=val_centred,
        val_norm_basis=val_norm_basis,
        val_norm_blocks=val_norm_blocks,
        val_proj_mean=val_mean,
        test_proj=test_proj - test_mean,
        test_proj_mean=test_mean,
    )


def triangular_factor_pays(n_val: int, rank: int, n_alphas: int, n_targets: int) -> bool:
    """Whether replacing a fold's validation projection by its triangular QR factor saves time.

    The factor exists when there are more validation rows than the rank.  It costs ``2 n p^2 - 2/3 p^3`` float64
    operations once per fold (counted twice: float64 runs at about half the float32 rate) and saves, per target and
    alpha, ``2 p (n - p (b + 1) / 2b)`` float32 operations of the prediction variance (``b`` row blocks).  With 1000
    validation rows, 768 features and 7 alphas it pays from about 300 targets.
    """
    if n_val <= rank:
        return False
    cost = 2 * (2 * n_val * rank**2 - 2 * rank**3 / 3)
    saved = n_targets * n_alphas * 2 * rank * (n_val - rank * (TRIANGLE_BLOCKS + 1) / (2 * TRIANGLE_BLOCKS))
    return saved > cost


def _triangle_blocks(size: int) -> list[tuple[slice, int]]:
    """Row blocks of an upper triangular ``[size, size]`` matrix, each with its first nonzero column."""
    edges = [round(i * size / TRIANGLE_BLOCKS) for i in range(TRIANGLE_BLOCKS + 1)]
    return [(slice(start, stop), start) for start, stop in zip(edges[:-1], edges[1:]) if stop > start]


def _rank(n_train: int, n_features: int, solver: str) -> int:
    """Size of a fold's eigenbasis: features (primal) or training rows (dual)."""
    if solver == "auto":
        return min(n_train, n_features)
    return n_features if solver == "primal" else n_train


def _row_runs(index: np.ndarray) -> list[tuple[slice, slice]] | None:
    """Split row indices into runs of consecutive rows: (positions in ``index``, rows of the data) as slices.

    Contiguous folds leave their training rows in a few runs; multiplying views of each run avoids copying the
    training targets (the largest array of a fold).  None when there are more than :data:`MAX_RUNS` runs.
    """
    breaks = np.flatnonzero(np.diff(index) != 1) + 1
    if len(breaks) >= MAX_RUNS:
        return None
    starts = np.concatenate([[0], breaks])
    stops = np.concatenate([breaks, [len(index)]])
    return [(slice(int(a), int(b)), slice(int(index[a]), int(index[b - 1]) + 1)) for a, b in zip(starts, stops)]


def _rows(index: np.ndarray, device: torch.device) -> Rows:
    """A slice when the rows are consecutive (a view, no copy), else an index tensor."""
    runs = _row_runs(index) if len(index) else None
    if runs is not None and len(runs) == 1:
        return runs[0][1]
    return torch.as_tensor(index, device=device)


def _sum_squares(y: torch.Tensor) -> torch.Tensor:
    """Centred sum of squares per column (torch.var over dim 0 was measured ten times slower than this)."""
    return (y - y.mean(0)).square_().sum(0)


def pearson_from_sums(
    cov: torch.Tensor, var_pred: torch.Tensor, var_true: torch.Tensor, zero: torch.Tensor
) -> torch.Tensor:
    """Pearson r from centred sums, 0 where a side is constant (``zero``) or has no variance, clipped to [-1, 1]."""
    denominator = torch.sqrt(var_pred * var_true)
    valid = (denominator > 0) & ~zero
    r = cov / torch.where(valid, denominator, torch.ones_like(denominator))
    return torch.where(valid, r, torch.zeros_like(r)).clamp(-1.0, 1.0)


@dataclass(frozen=True)
class _FoldScores:
    """One fold's results on one batch of targets, on the device."""

    val_r_all: torch.Tensor
    best: torch.Tensor
    val_r: torch.Tensor
    test_r: torch.Tensor
    val_prediction: torch.Tensor
    test_prediction: torch.Tensor


def _flat_targets(y: torch.Tensor, folds: list[_Fold], rest: Rows | None) -> list[tuple[torch.Tensor, ...]]:
    """Per fold, which targets are constant over its training, validation and test rows.

    The extremes of every fold's validation and test rows and of the rows no fold holds out are taken once; a fold
    whose training rows are all the others combines those of the other blocks instead of scanning its training rows.
    """

    def extremes(rows: Rows) -> tuple[torch.Tensor, torch.Tensor]:
        block = y[rows]
        return block.amax(0), block.amin(0)

    held = [[extremes(fold.val)] + ([extremes(fold.test)] if fold.n_test else []) for fold in folds]
    rest_extremes = [extremes(rest)] if rest is not None else []
    flat = []
    for k, fold in enumerate(folds):
        if fold.train_is_complement:
            train_blocks = [pair for j, pairs in enumerate(held) if j != k for pair in pairs] + rest_extremes
        else:
            train_blocks = [extremes(rows) for _, rows in fold.train_runs]
        high = torch.stack([pair[0] for pair in train_blocks]).amax(0)
        low = torch.stack([pair[1] for pair in train_blocks]).amin(0)
        flat.append(tuple(high == low for high, low in [(high, low)] + held[k]))
    return flat


@dataclass(frozen=True)
class _HeldProducts:
    """Cross-products ``Xc' y`` and target sums per fold's held-out rows and over all rows (``Xc``: the design
    centred over all rows), from which a fold's training products are downdated (:func:`_held_cross_products`)."""

    cross: list[torch.Tensor]
    sums: list[torch.Tensor]
    total_cross: torch.Tensor
    total_sum: torch.Tensor


def _held_cross_products(
    centred_design: torch.Tensor, y: torch.Tensor, folds: list[_Fold], rest: Rows | None
) -> _HeldProducts:
    """``Xc' y`` and ``1' y`` over each fold's held-out rows, and their totals over all rows.

    No row is held out by two folds, so the held-out products and those of the rows never held out add up to the
    products over all rows: a fold whose training rows are all the others gets ``Xc_train' y_train`` as the total minus
    its held-out part.  With 5 folds that is 1/5 of the training rows multiplied per fold instead of 4/5.
    """
    cross, sums = [], []
    for fold in folds:
        cross.append(centred_design[fold.val].T @ y[fold.val])
        sums.append(y[fold.val].sum(0))
        if fold.n_test:
            cross[-1].addmm_(centred_design[fold.test].T, y[fold.test])
            sums[-1] += y[fold.test].sum(0)
    total_cross, total_sum = cross[0].clone(), sums[0].clone()
    for fold_cross, fold_sum in zip(cross[1:], sums[1:]):
        total_cross += fold_cross
        total_sum += fold_sum
    if rest is not None:
        total_cross.addmm_(centred_design[rest].T, y[rest])
        total_sum += y[rest].sum(0)
    return _HeldProducts(cross, sums, total_cross, total_sum)


def _projected_targets(
    fold: _Fold, y: torch.Tensor, held: _HeldProducts | None, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold ``k``'s projected training targets ``Z`` (``[rank, batch]``) and the training means of ``y``.

    A fold with a ``downdate_basis`` takes its training cross-products from ``held``: ``Xc_train' y_train`` minus the
    shift of the training means, ``(m_train - m) (1' y_train)``, centres the design on the training rows.  They are
    formed in place of the fold's held-out cross-products, which nothing reads after (a fresh ``[n_features, batch]``
    array per fold would cost its page faults).  Other folds
    multiply their training basis by the training targets; ``y`` is centred over all rows, so the fold's training mean
    is small and ``Z = T'y - (T'1) mean'`` needs no centred copy.
    """
    n_train = fold.n_train
    if fold.downdate_basis is not None:
        train_sum = held.total_sum - held.sums[k]
        cross = torch.sub(held.total_cross, held.cross[k], out=held.cross[k])
        cross.addr_(fold.mean_shift, train_sum, alpha=-1)
        return fold.downdate_basis.T @ cross, train_sum / n_train
    rank = fold.train_basis.shape[1] - 1
    projected = torch.zeros((rank + 1, y.shape[1]), dtype=y.dtype, device=y.device)
    for positions, rows in fold.train_runs:
        projected.addmm_(fold.train_basis[positions].T, y[rows])
    train_mean = projected[rank] / n_train
    return projected[:rank].sub_(torch.outer(fold.train_basis[:, :rank].sum(0), train_mean)), train_mean


def _prediction_variance(fold: _Fold, z: torch.Tensor) -> torch.Tensor:
    """``[n_alphas, batch]`` sums of squares of the centred validation predictions, ``||B diag(shrink_a) Z||^2`` per
    column with ``B = val_norm_basis``: the dominant cost of scoring.

    The blocks of a triangular ``B`` skip its zeros and the target chunks keep ``Z`` in cache; on 768 features and
    24,150 targets this was measured 0.66 s per fold against 0.92 s for one full product per alpha.  The products are
    squared in place and summed (``linalg.vector_norm`` took a fifth of the product's time).
    """
    n_alphas, n_targets = fold.shrink.shape[0], z.shape[1]
    n_rows = fold.val_norm_basis.shape[0]
    var = torch.empty((n_alphas, n_targets), dtype=z.dtype, device=z.device)
    scaled_bases = [fold.val_norm_basis * fold.shrink[a] for a in range(n_alphas)]
    buffer = torch.empty(n_rows * min(TARGET_CHUNK, n_targets), dtype=z.dtype, device=z.device)
    for start in range(0, n_targets, TARGET_CHUNK):
        chunk = z[:, start : start + TARGET_CHUNK]
        prediction = buffer[: n_rows * chunk.shape[1]].view(n_rows, chunk.shape[1])
        for a, basis in enumerate(scaled_bases):
            for rows, first in fold.val_norm_blocks:
                torch.matmul(basis[rows, first:], chunk[first:], out=prediction[rows])
            torch.sum(prediction.square_(), 0, out=var[a, start : start + chunk.shape[1]])
    return var


def _score_fold(
    fold: _Fold,
    y: torch.Tensor,
    offset: torch.Tensor,
    flat: tuple[torch.Tensor, ...],
    predict: bool,
    held: _HeldProducts | None,
    k: int,
) -> _FoldScores:
    """Score every alpha of fold ``k`` on a batch of targets.

    ``y[n_samples, batch]`` is centred over all rows (``offset`` its means); ``held`` has the held-out cross-products
    when a fold is downdated (:func:`_projected_targets`).  ``flat`` marks targets constant over the training,
    validation (and test) rows.  Without ``predict`` the validation predictions are not formed (``val_prediction`` is
    empty).
    """
    z, train_mean = _projected_targets(fold, y, held, k)
    flat_train, flat_val = flat[0], flat[1]

    y_val = y[fold.val]
    cov = fold.shrink @ (z * (fold.val_proj.T @ y_val))
    var = _prediction_variance(fold, z)
    val_r_all = pearson_from_sums(cov, var, _sum_squares(y_val), (flat_train | flat_val)[None, :])
    best = val_r_all.argmax(0)
    val_r = val_r_all.gather(0, best[None, :])[0]

    val_prediction = test_prediction = z[:0]
    test_r = torch.full_like(val_r, float("nan"))
    if not (predict or fold.n_test):
        # Validation scores only: the weights at the chosen alpha would go unused.
        return _FoldScores(val_r_all, best, val_r, test_r, val_prediction, test_prediction)
    chosen = z * torch.index_select(fold.shrink_t, 1, best)
    intercept = offset + train_mean
    if predict:
        val_prediction = fold.val_proj @ chosen + (fold.val_proj_mean @ chosen + intercept)
    if fold.n_test:
        y_test = y[fold.test]
        test_pred = fold.test_proj @ chosen
        test_r = pearson_from_sums(
            (test_pred * y_test).sum(0), test_pred.square().sum(0), _sum_squares(y_test), flat_train | flat[2]
        )
        test_prediction = test_pred + (fold.test_proj_mean @ chosen + intercept)
    return _FoldScores(val_r_all, best, val_r, test_r, val_prediction, test_prediction)


def _decompose_all_rows(
    X: torch.Tensor, centred: _CentredDesign | None, standardize: bool, dtype: torch.dtype, solver: str
) -> FoldDecomposition:
    """The refit's decomposition of all rows: from the Gram matrix over all rows when the folds were downdated
    (``centred``), else from the rows themselves."""
    if centred is None:
        return decompose(X, standardize=standardize, dtype=dtype, solver=solver)
    return decompose_gram(
        centred.gram, centred.mean, centred.constant_columns(), X.shape[0], standardize=standardize, dtype=dtype
    )


def refit_coefficients(
    whole: FoldDecomposition,
    y: torch.Tensor,
    offset: torch.Tensor,
    cross: torch.Tensor | None,
    alphas: torch.Tensor,
    chosen: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Coefficients ``[n_features, batch]`` and intercepts of a fit on all rows, each target at its ``chosen`` alpha.

    Parameters
    ----------
    whole : FoldDecomposition
        The decomposition of all rows.
    y : torch.Tensor
        ``[n_samples, batch]`` targets centred over all rows; ``offset`` ``[batch]`` their means.
    cross : torch.Tensor or None
        ``Xc' y`` over all rows (``Xc`` the design centred over all rows), needed when ``whole`` has no training
        basis (decomposed from the Gram matrix); the downdated folds formed it.
    alphas, chosen : torch.Tensor
        The alphas, and an index into them per target.
    """
    if whole.train_basis is None:
        z = (whole.scale[:, None] * whole.feature_basis.to(torch.float64)).to(y.dtype).T @ cross
    else:
        z = whole.train_basis.T @ y
    z.mul_(torch.index_select(whole.shrinkage(alphas).T, 1, chosen))
    weights = (whole.feature_basis @ z).mul_(whole.scale[:, None].to(y.dtype))
    return weights, offset - whole.mean.to(y.dtype) @ weights


def _keep_better(
    prediction: np.ndarray, rows: np.ndarray, batch: slice, found: np.ndarray, improved: np.ndarray
) -> None:
    """Write ``found`` into ``prediction[rows, batch]`` for the improved targets (all of them without reading the
    old values, as for the first candidate)."""
    if improved.all():
        prediction[rows, batch] = found
    else:
        prediction[rows, batch] = np.where(improved[None, :], found, prediction[rows, batch])


def search(
    X: np.ndarray,
    Y: np.ndarray,
    splits: list[Split],
    alphas: np.ndarray,
    bands: list[np.ndarray],
    candidates: np.ndarray,
    *,
    standardize: bool,
    device: str | torch.device,
    dtype: torch.dtype,
    targets_batch: int | None,
    memory_gb: float | None,
    return_all_alphas: bool,
    n_threads: int | None,
    return_predictions: bool = True,
    solver: str = "auto",
    refit: bool = False,
) -> RidgeCVResult:
    """Search band weights x alphas per fold and target by validation r (the engine behind both public solvers).

    Parameters
    ----------
    X, Y, splits, alphas
        Checked inputs (see :func:`check_inputs`).
    bands : list of numpy.ndarray
        Column indices of ``X`` per feature space.
    candidates : numpy.ndarray
        ``[n_candidates, n_bands]`` band weights to try; each band's columns are scaled by the square root of its
        weight after standardisation, and bands of weight 0 are left out.  A target keeps the first candidate that
        reaches its best validation r.
    standardize, device, dtype, targets_batch, memory_gb, return_all_alphas, n_threads
        As in :func:`cross_validated_ridge`.
    return_predictions, solver, refit
        As in :func:`cross_validated_ridge` (``refit`` with a single candidate).

    Returns
    -------
    RidgeCVResult
        ``band_weights`` is set when there is more than one band.
    """
    device = resolve_device(device)
    n_samples, n_features = X.shape
    n_targets = Y.shape[1]
    n_folds = len(splits)
    itemsize = torch.empty((), dtype=dtype).element_size()
    fold_shapes = [(len(tr), len(va) + len(te), _rank(len(tr), n_features, solver)) for tr, va, te in splits]
    # Counted for any fold whose training rows are all the others: banded candidates drop columns, which can make
    # such a fold primal (downdated) where the full design is not.
    cross_rows = 0
    if any(len(tr) + len(va) + len(te) == n_samples for tr, va, te in splits):
        cross_rows = (n_folds + 1) * n_features
    if targets_batch is None:
        targets_batch = plan_targets_batch(
            n_targets,
            bytes_per_target(
                n_samples,
                max(s[1] for s in fold_shapes),
                max(s[2] for s in fold_shapes),
                len(alphas),
                itemsize,
                cross_rows,
            ),
            fixed_bytes(n_samples, n_features, fold_shapes, itemsize),
            None if memory_gb is None else int(memory_gb * 2**30),
            device,
        )
    elif targets_batch < 1:
        raise ValueError(f"ridge targets_batch must be >= 1 or None, got {targets_batch}")

    best_alpha = np.zeros((n_folds, n_targets), dtype=np.intp)
    best_candidate = np.zeros((n_folds, n_targets), dtype=np.intp)
    val_r = np.full((n_folds, n_targets), -np.inf, dtype=np.float32)
    test_r = np.full((n_folds, n_targets), np.nan, dtype=np.float32)
    prediction = np.full((n_samples, n_targets), np.nan, dtype=np.float32) if return_predictions else None
    val_r_all = np.zeros((n_folds, len(alphas), n_targets), dtype=np.float32) if return_all_alphas else None
    refit_alpha = coef = intercept = None
    if refit:
        refit_alpha = np.zeros(n_targets, dtype=np.intp)
        coef = np.empty((n_features, n_targets), dtype=torch.empty((), dtype=dtype).numpy().dtype)
        intercept = np.empty(n_targets, dtype=coef.dtype)
    fold_solvers: list[str] = []

    held_rows = np.concatenate([np.concatenate([val, test]) for _, val, test in splits])
    never_held = np.setdiff1d(np.arange(n_samples), held_rows)
    with torch_threads(n_threads), torch.no_grad():
        rest = _rows(never_held, device) if never_held.size else None
        X_device = torch.as_tensor(X, device=device)
        alphas_device = torch.as_tensor(alphas, device=device)
        for c, weights in enumerate(candidates):
            kept = weights > 0
            columns = np.concatenate([band for band, keep in zip(bands, kept) if keep])
            column_weight = None
            if len(bands) > 1:
                column_weight = torch.as_tensor(
                    np.concatenate([np.full(len(b), np.sqrt(w)) for b, w in zip(bands, weights) if w > 0]),
                    device=device,
                )
            design = X_device if columns.size == n_features and column_weight is None else X_device[:, columns]
            downdated = [_downdates(split, n_samples, design.shape[1], solver) for split in splits]
            centred = _CentredDesign.of(design, dtype, splits, never_held) if any(downdated) else None

            def prepare(k: int) -> _Fold | FoldDecomposition:
                if k == n_folds:  # the refit's decomposition of all rows: one more work item beside the folds'
                    return _decompose_all_rows(design, centred, standardize, dtype, solver)
                fold_centred = centred if downdated[k] else None
                return _prepare_fold(
                    design,
                    fold_centred,
                    k,
                    splits[k],
                    alphas_device,
                    standardize,
                    dtype,
                    column_weight,
                    solver,
                    n_targets,
                )

            prepared = map_single_threaded(prepare, range(n_folds + refit), device)
            folds, whole = prepared[:n_folds], (prepared[n_folds] if refit else None)
            # Only the compute-dtype copy serves the batches; the float64 one was for the folds' Gram matrices.
            centred_design = centred.compute if centred is not None else None
            del centred
            if c == 0:
                fold_solvers = [fold.decomposition.solver for fold in folds]
            for start in range(0, n_targets, targets_batch):
                batch = slice(start, min(start + targets_batch, n_targets))
                y = torch.from_numpy(np.ascontiguousarray(Y[:, batch])).to(device=device, dtype=dtype)
                offset = y.mean(0)
                y = y - offset
                flat = _flat_targets(y, folds, rest)
                held = _held_cross_products(centred_design, y, folds, rest) if centred_design is not None else None
                for k, (fold, (_, val, test)) in enumerate(zip(folds, splits)):
                    scores = _score_fold(fold, y, offset, flat[k], prediction is not None, held, k)
                    if whole is not None:
                        alpha_scores = scores.val_r_all if k == 0 else alpha_scores + scores.val_r_all
                    fold_val_r = scores.val_r.float().cpu().numpy()
                    improved = fold_val_r > val_r[k, batch]
                    updates = [
                        (best_alpha[k], scores.best.cpu().numpy()),
                        (best_candidate[k], c),
                        (val_r[k], fold_val_r),
                        (test_r[k], scores.test_r.float().cpu().numpy()),
                    ]
                    for stored, found in updates:
                        stored[batch] = np.where(improved, found, stored[batch])
                    if prediction is not None:
                        for rows, rows_prediction in ((val, scores.val_prediction), (test, scores.test_prediction)):
                            if len(rows):
                                _keep_better(prediction, rows, batch, rows_prediction.float().cpu().numpy(), improved)
                    if val_r_all is not None:
                        val_r_all[k, :, batch] = scores.val_r_all.float().cpu().numpy()
                if whole is not None:
                    chosen = alpha_scores.argmax(0)
                    refit_alpha[batch] = chosen.cpu().numpy()
                    cross = held.total_cross if held is not None else None
                    weights, bias = refit_coefficients(whole, y, offset, cross, alphas_device, chosen)
                    coef[:, batch] = weights.cpu().numpy()
                    intercept[batch] = bias.cpu().numpy()
                del y, held
    return RidgeCVResult(
        alphas=alphas,
        best_alpha=alphas[best_alpha],
        val_r=val_r,
        test_r=test_r,
        prediction=prediction,
        solver=tuple(fold_solvers),
        targets_batch=int(targets_batch),
        val_r_all=val_r_all,
        band_weights=candidates[best_candidate].astype(np.float32) if len(bands) > 1 else None,
        refit_alpha=alphas[refit_alpha] if refit else None,
        coef=coef,
        intercept=intercept,
    )
