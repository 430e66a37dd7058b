"""Downdating: a fold's Gram matrix and training cross-products as the totals over all rows minus its held-out part.

A primal fold whose training rows are all rows but its held-out ones is downdated: its Gram matrix (float64) and its
training cross-products ``X_train' Y_train`` are the totals over all rows minus the held-out rows' part, with the
design centred once over all rows and the training means' shift corrected as a rank-one term.  Each fold then
multiplies its held-out rows only (a fifth of the rows with 5 folds instead of four fifths).  The refit's decomposition
of all rows reuses the same totals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from vlencode.ridge.checks import Split
from vlencode.ridge.decomposition import FoldDecomposition, decompose, decompose_gram, gram_matrix
from vlencode.ridge.memory import map_single_threaded

if TYPE_CHECKING:
    from vlencode.ridge.fold import Fold, Rows


@dataclass(frozen=True)
class CentredDesign:
    """The design centred over all rows, for folds whose training rows are all the others (see :func:`downdates`).

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
    def of(cls, design: torch.Tensor, dtype: torch.dtype, splits: list[Split], never_held: np.ndarray) -> CentredDesign:
        """Centre ``design`` (a compute-dtype copy is kept) and form the float64 Gram matrices and column sums of
        each fold's held-out rows side by side, and their totals."""
        # A copy even when the design is float64 already: it may be the caller's array, centred in place here.
        exact = design.to(torch.float64, copy=True)
        mean = exact.mean(0)
        exact = exact.sub_(mean)

        def products(rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
            block = exact[torch.as_tensor(rows, device=design.device)]
            return gram_matrix(block), block.sum(0), block.amax(0), block.amin(0)

        blocks = [np.concatenate(split[1:]) for split in splits] + ([never_held] if never_held.size else [])
        held = map_single_threaded(products, blocks, design.device)
        gram, column_sum = (torch.stack([part[i] for part in held]).sum(0) for i in (0, 1))
        held_sums = [(part[0], part[1]) for part in held[: len(splits)]]
        extremes = [(part[2], part[3]) for part in held]
        return cls(mean, exact.to(dtype), gram, column_sum, held_sums, extremes)


def downdates(split: Split, n_samples: int, n_features: int, solver: str) -> bool:
    """Whether a fold is downdated: primal, with all rows but the held-out ones for training.

    Its Gram matrix and training cross-products are then the totals over all rows minus the held-out part.
    """
    train, val, test = split
    primal = solver == "primal" or (solver == "auto" and len(train) >= n_features)
    return primal and len(train) + len(val) + len(test) == n_samples


def decompose_downdated(
    centred: CentredDesign,
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


@dataclass(frozen=True)
class HeldProducts:
    """Cross-products ``Xc' y`` and target sums per fold's held-out rows and over all rows (``Xc``: the design
    centred over all rows), from which a fold's training products are downdated (:func:`held_cross_products`)."""

    cross: list[torch.Tensor]
    sums: list[torch.Tensor]
    total_cross: torch.Tensor
    total_sum: torch.Tensor


def held_cross_products(
    centred_design: torch.Tensor, y: torch.Tensor, folds: list[Fold], rest: Rows | None
) -> HeldProducts:
    """``Xc' y`` and ``1' y`` over each fold's held-out rows, and their totals over all rows.

    No row is held out by two folds, so the held-out products and those of the rows never held out add up to the
    products over all rows: a fold whose training rows are all the others gets ``Xc_train' y_train`` as the total minus
    its held-out part.  With 5 folds that is 1/5 of the training rows multiplied per fold instead of 4/5.
    """
    cross, sums = [], []
    for fold in folds:
        cross.append(centred_design[fold.val.rows].T @ y[fold.val.rows])
        sums.append(y[fold.val.rows].sum(0))
        if fold.test.count:
            cross[-1].addmm_(centred_design[fold.test.rows].T, y[fold.test.rows])
            sums[-1] += y[fold.test.rows].sum(0)
    total_cross, total_sum = cross[0].clone(), sums[0].clone()
    for fold_cross, fold_sum in zip(cross[1:], sums[1:]):
        total_cross += fold_cross
        total_sum += fold_sum
    if rest is not None:
        total_cross.addmm_(centred_design[rest].T, y[rest])
        total_sum += y[rest].sum(0)
    return HeldProducts(cross, sums, total_cross, total_sum)


def decompose_all_rows(
    X: torch.Tensor, centred: CentredDesign | None, standardize: bool, dtype: torch.dtype, solver: str
) -> FoldDecomposition:
    """The refit's decomposition of all rows: from the Gram matrix over all rows when the folds were downdated
    (``centred``), else from the rows themselves."""
    if centred is None:
        return decompose(X, standardize=standardize, dtype=dtype, solver=solver)
    return decompose_gram(
        centred.gram, centred.mean, centred.constant_columns(), X.shape[0], standardize=standardize, dtype=dtype
    )
