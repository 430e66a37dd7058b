"""One cross-validation fold ready to score: its decomposition and its held-out rows projected onto it.

Each split is ``(train_idx, val_idx, test_idx)``.  Within a fold the design is centred (and standardised) with the
training rows' statistics and decomposed once (:mod:`vlencode.ridge.decomposition`), or downdated from the totals over
all rows (:mod:`vlencode.ridge.downdate`).  Row sets are kept as slices where they are contiguous, so the largest
arrays are multiplied as views rather than copied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vlencode.ridge.checks import Split
from vlencode.ridge.decomposition import FoldDecomposition, decompose
from vlencode.ridge.downdate import CentredDesign, decompose_downdated

Rows = slice | torch.Tensor

#: Most runs of consecutive training rows multiplied as views; beyond, the training targets are gathered (copied).
MAX_RUNS = 16

#: Row blocks of a triangular validation factor: each block multiplies only the rows of ``Z`` from its diagonal on,
#: (n + 1) / 2n of the full product's operations.
TRIANGLE_BLOCKS = 6


@dataclass(frozen=True)
class Fold:
    """One fold ready to score: its decomposition and its held-out rows projected, centred per held-out set.

    ``train_basis`` is the decomposition's training basis with a column of ones appended, so one product gives the
    projected targets and the training sums.  ``train_runs`` pairs its rows with the target rows they multiply (see
    :func:`row_runs`).  A downdated fold (:func:`~vlencode.ridge.downdate.downdates`) has no ``train_basis`` but a
    ``downdate_basis``, the eigenvectors scaled by the column scales (``Z = downdate_basis' Xc_train' y``), and
    ``mean_shift``, its training means minus the means over all rows: its projected targets come from the held-out
    cross-products (:func:`~vlencode.ridge.downdate.held_cross_products`).  ``val_norm_basis`` has the column norms of
    ``val_proj`` (``R'R = val_proj'val_proj``): ``val_proj`` itself, or its triangular QR factor when the validation
    set has more rows than the rank, so each alpha's prediction variance costs ``min(n_val, rank)`` rows;
    ``val_norm_blocks`` lists its row blocks with the first column each has nonzero (:func:`_triangle_blocks`).
    ``shrink_t`` is ``shrink`` transposed (``[rank, n_alphas]``, contiguous) for gathering each target's chosen alpha.
    ``train_is_complement`` tells that the training rows are all rows but the held-out ones.
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


def prepare_fold(
    X: torch.Tensor,
    centred: CentredDesign | None,
    k: int,
    split: Split,
    *,
    alphas: torch.Tensor,
    standardize: bool,
    dtype: torch.dtype,
    column_weight: torch.Tensor | None,
    solver: str,
    n_targets: int,
) -> Fold:
    """Decompose fold ``k`` and project its held-out rows; ``centred`` is given when the fold is downdated.

    ``n_targets`` (all the targets the fold will score) decides whether its validation projection is factored
    (:func:`triangular_factor_pays`)."""
    device = X.device
    train, val, test = (torch.as_tensor(part, device=device) for part in split)
    train_runs = row_runs(split[0])
    if train_runs is None:
        train_runs = [(slice(0, len(train)), train)]
    train_basis = downdate_basis = mean_shift = None
    if centred is not None:
        decomposition = decompose_downdated(centred, k, len(split[0]), standardize, dtype, column_weight)
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
    return Fold(
        decomposition=decomposition,
        n_train=len(train),
        train_basis=train_basis,
        train_runs=train_runs,
        train_is_complement=len(train) + len(val) + len(test) == X.shape[0],
        downdate_basis=downdate_basis,
        mean_shift=mean_shift,
        val=row_selection(split[1], device),
        test=row_selection(split[2], device),
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


def fold_rank(n_train: int, n_features: int, solver: str) -> int:
    """Size of a fold's eigenbasis: features (primal) or training rows (dual)."""
    if solver == "auto":
        return min(n_train, n_features)
    return n_features if solver == "primal" else n_train


def row_runs(index: np.ndarray) -> list[tuple[slice, slice]] | None:
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


def row_selection(index: np.ndarray, device: torch.device) -> Rows:
    """A slice when the rows are consecutive (a view, no copy), else an index tensor."""
    runs = row_runs(index) if len(index) else None
    if runs is not None and len(runs) == 1:
        return runs[0][1]
    return torch.as_tensor(index, device=device)
