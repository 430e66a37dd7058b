"""Cross-validated ridge: per fold and target, the alpha with the best validation r and the test r at that alpha.

Each split is ``(train_idx, val_idx, test_idx)``.  Within a fold the design is centred (and standardised) with the
training rows' statistics, the targets are centred with the training means (the intercept), the fold is decomposed
once (:mod:`vlencode.ridge.decomposition`) and every alpha is scored on the validation rows at once:

* the covariance of prediction and target for all alphas is one small product, ``shrink @ (Z * (Hv' Yv))``;
* the prediction variance needs, per alpha, the product ``(Hv diag(shrink_a)) @ Z`` and its column norms.

The alpha with the best validation r is taken per target, then one more product gives the validation and test
predictions at that alpha: the test r and the out-of-fold predictions (``prediction[event, target]``, NaN for events
in no validation or test set) that the fast bootstrap resamples.

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

from vlencode.ridge.decomposition import FoldDecomposition, decompose
from vlencode.ridge.memory import (
    bytes_per_target,
    fixed_bytes,
    plan_targets_batch,
    resolve_device,
    torch_threads,
)

Split = tuple[np.ndarray, np.ndarray, np.ndarray]
Rows = slice | torch.Tensor

#: Most runs of consecutive training rows multiplied as views; beyond, the training targets are gathered (copied).
MAX_RUNS = 16


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
            if np.unique(index).size != index.size:
                raise ValueError(f"ridge split {fold} {part_name} repeats indices; each row may appear once")
            parts.append(index)
        train, val, test = parts
        if train.size < 2 or val.size < 2:
            raise ValueError(
                f"ridge split {fold} has {train.size} training and {val.size} validation rows; each needs >= 2"
            )
        held = np.concatenate([val, test])
        if np.unique(held).size != held.size or np.intersect1d(train, held).size:
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
class _Fold:
    """One fold ready to score: its decomposition and its held-out rows projected, centred per held-out set.

    ``train_basis`` is the decomposition's training basis with a column of ones appended, so one product gives the
    projected targets and the training sums.  ``train_runs`` pairs its rows with the target rows they multiply (see
    :func:`_row_runs`).  ``val_norm_basis`` has the column norms of ``val_proj`` (``R'R = val_proj'val_proj``):
    ``val_proj`` itself, or its triangular QR factor when the validation set has more rows than the rank, so each
    alpha's prediction variance costs ``min(n_val, rank)`` rows.  ``shrink_t`` is ``shrink`` transposed
    (``[rank, n_alphas]``, contiguous) for gathering each target's chosen alpha.  ``train_is_complement`` tells that
    the training rows are all rows but the held-out ones.
    """

    decomposition: FoldDecomposition
    train_basis: torch.Tensor
    train_runs: list[tuple[slice, Rows]]
    train_is_complement: bool
    val: Rows
    test: Rows
    n_test: int
    shrink: torch.Tensor
    shrink_t: torch.Tensor
    val_proj: torch.Tensor
    val_norm_basis: torch.Tensor
    val_proj_mean: torch.Tensor
    test_proj: torch.Tensor
    test_proj_mean: torch.Tensor


def _prepare_fold(
    X: torch.Tensor,
    split: Split,
    alphas: torch.Tensor,
    standardize: bool,
    dtype: torch.dtype,
    column_weight: torch.Tensor | None,
    solver: str,
) -> _Fold:
    device = X.device
    train, val, test = (torch.as_tensor(part, device=device) for part in split)
    decomposition = decompose(
        X[train], standardize=standardize, dtype=dtype, column_weight=column_weight, solver=solver
    )
    train_runs = _row_runs(split[0])
    if train_runs is None:
        train_runs = [(slice(0, len(train)), train)]
    basis = decomposition.train_basis
    val_proj = decomposition.project(X[val])
    test_proj = decomposition.project(X[test])
    val_mean = val_proj.mean(0)
    test_mean = test_proj.mean(0) if len(test) else torch.zeros_like(val_mean)
    val_centred = val_proj - val_mean
    val_norm_basis = val_centred
    if val_centred.shape[0] > val_centred.shape[1]:
        val_norm_basis = torch.linalg.qr(val_centred.to(torch.float64), mode="r").R.to(dtype)
    shrink = decomposition.shrinkage(alphas)
    return _Fold(
        decomposition=decomposition,
        train_basis=torch.cat([basis, torch.ones((basis.shape[0], 1), dtype=basis.dtype, device=device)], dim=1),
        train_runs=train_runs,
        train_is_complement=len(train) + len(val) + len(test) == X.shape[0],
        val=_rows(split[1], device),
        test=_rows(split[2], device),
        n_test=len(test),
        shrink=shrink,
        shrink_t=shrink.T.contiguous(),
        val_proj=val_centred,
        val_norm_basis=val_norm_basis,
        val_proj_mean=val_mean,
        test_proj=test_proj - test_mean,
        test_proj_mean=test_mean,
    )


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
    centred = y - y.mean(0)
    return (centred * centred).sum(0)


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


def _score_fold(
    fold: _Fold, y: torch.Tensor, offset: torch.Tensor, flat: tuple[torch.Tensor, ...], predict: bool
) -> _FoldScores:
    """Score every alpha of one fold on a batch of targets.

    ``y[n_samples, batch]`` is centred over all rows (``offset`` its means), so the fold's training mean is small and
    the projected targets can be taken without a centred copy: ``Z = T'y - (T'1) mean'``.  ``flat`` marks targets
    constant over the training, validation (and test) rows.  Without ``predict`` the validation predictions are not
    formed (``val_prediction`` is empty).
    """
    rank = fold.train_basis.shape[1] - 1
    projected = torch.zeros((rank + 1, y.shape[1]), dtype=y.dtype, device=y.device)
    for positions, rows in fold.train_runs:
        projected.addmm_(fold.train_basis[positions].T, y[rows])
    train_mean = projected[rank] / fold.train_basis.shape[0]
    z = projected[:rank].sub_(torch.outer(fold.train_basis[:, :rank].sum(0), train_mean))
    flat_train, flat_val = flat[0], flat[1]

    y_val = y[fold.val]
    cov = fold.shrink @ (z * (fold.val_proj.T @ y_val))
    var = torch.empty_like(cov)
    prediction = torch.empty((fold.val_norm_basis.shape[0], y.shape[1]), dtype=y.dtype, device=y.device)
    for a in range(fold.shrink.shape[0]):
        torch.matmul(fold.val_norm_basis * fold.shrink[a], z, out=prediction)
        var[a] = torch.linalg.vector_norm(prediction, dim=0).square()
    del prediction
    val_r_all = pearson_from_sums(cov, var, _sum_squares(y_val), (flat_train | flat_val)[None, :])
    best = val_r_all.argmax(0)
    val_r = val_r_all.gather(0, best[None, :])[0]

    chosen = z * torch.index_select(fold.shrink_t, 1, best)
    intercept = offset + train_mean
    val_prediction = chosen[:0]
    if predict:
        val_prediction = fold.val_proj @ chosen + (fold.val_proj_mean @ chosen + intercept)
    if fold.n_test:
        y_test = y[fold.test]
        test_pred = fold.test_proj @ chosen
        test_r = pearson_from_sums(
            (test_pred * y_test).sum(0), test_pred.square().sum(0), _sum_squares(y_test), flat_train | flat[2]
        )
        test_prediction = test_pred + (fold.test_proj_mean @ chosen + intercept)
    else:
        test_r = torch.full_like(val_r, float("nan"))
        test_prediction = chosen[:0]
    return _FoldScores(val_r_all, best, val_r, test_r, val_prediction, test_prediction)


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
    return_predictions, solver
        As in :func:`cross_validated_ridge`.

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
    if targets_batch is None:
        targets_batch = plan_targets_batch(
            n_targets,
            bytes_per_target(
                n_samples, max(s[1] for s in fold_shapes), max(s[2] for s in fold_shapes), len(alphas), itemsize
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
            folds = [
                _prepare_fold(design, split, alphas_device, standardize, dtype, column_weight, solver)
                for split in splits
            ]
            if c == 0:
                fold_solvers = [fold.decomposition.solver for fold in folds]
            for start in range(0, n_targets, targets_batch):
                batch = slice(start, min(start + targets_batch, n_targets))
                y = torch.from_numpy(np.ascontiguousarray(Y[:, batch])).to(device=device, dtype=dtype)
                offset = y.mean(0)
                y = y - offset
                flat = _flat_targets(y, folds, rest)
                for k, (fold, (_, val, test)) in enumerate(zip(folds, splits)):
                    scores = _score_fold(fold, y, offset, flat[k], prediction is not None)
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
                del y
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
    )
