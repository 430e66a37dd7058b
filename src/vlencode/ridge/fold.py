"""One cross-validation fold ready to score: its decomposition and its held-out rows projected onto it.

Each split is ``(train_idx, val_idx, test_idx)``.  Within a fold the design is centred (and standardised) with the
training rows' statistics and decomposed once (:mod:`vlencode.ridge.decomposition`), or downdated from the totals over
all rows (:mod:`vlencode.ridge.downdate`).  A :class:`Fold` gathers the few concepts scoring needs: its training rows,
how its training targets are projected (a :class:`DirectProjection` or a :class:`DowndatedProjection`, the tagged
variants), each held-out set projected (:class:`HeldOut`), the validation rows' factor for the prediction variance
(:class:`VarianceFactor`) and the shrinkage per alpha (:class:`Shrinkage`).  Row sets are kept as slices where they
are contiguous, so the largest arrays are multiplied as views rather than copied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

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
class TrainRows:
    """A fold's training rows: their ``count``, their ``runs`` (positions in the training index paired with the
    target rows they select, see :func:`row_runs`; one gathered index when the rows are too scattered) and whether
    they are all rows but the held-out ones (``is_complement``)."""

    count: int
    runs: Sequence[tuple[slice, Rows]]
    is_complement: bool

    @classmethod
    def of(cls, split: Split, n_samples: int, device: torch.device) -> TrainRows:
        """The training rows of ``split`` among ``n_samples`` events."""
        train, val, test = split
        runs: Sequence[tuple[slice, Rows]] | None = row_runs(train)
        if runs is None:
            runs = [(slice(0, len(train)), torch.as_tensor(train, device=device))]
        return cls(len(train), runs, len(train) + len(val) + len(test) == n_samples)


@dataclass(frozen=True)
class DirectProjection:
    """A fold that projects its training targets itself: ``basis`` ``[n_train, rank + 1]`` is the decomposition's
    training basis with a column of ones appended, so one product gives the projected targets and the training sums."""

    basis: torch.Tensor

    @classmethod
    def of(cls, decomposition: FoldDecomposition) -> DirectProjection:
        """From a decomposition of the training rows (:func:`~vlencode.ridge.decomposition.decompose`)."""
        basis = decomposition.train_basis
        assert basis is not None, "decompose() always forms the training basis"
        ones = torch.ones((basis.shape[0], 1), dtype=basis.dtype, device=basis.device)
        return cls(torch.cat([basis, ones], dim=1))


@dataclass(frozen=True)
class DowndatedProjection:
    """A downdated fold (:func:`~vlencode.ridge.downdate.downdates`), whose projected targets come from the held-out
    cross-products (:func:`~vlencode.ridge.downdate.held_cross_products`): ``basis`` ``[n_features, rank]`` is the
    eigenvectors scaled by the column scales (``Z = basis' Xc_train' y``) and ``mean_shift`` ``[n_features]`` the
    training means minus the means over all rows, both in the compute dtype."""

    basis: torch.Tensor
    mean_shift: torch.Tensor

    @classmethod
    def of(cls, decomposition: FoldDecomposition, centred: CentredDesign, dtype: torch.dtype) -> DowndatedProjection:
        """From a downdated decomposition and the design centred over all rows."""
        assert decomposition.feature_basis is not None, "downdated folds are primal"
        basis = (decomposition.scale[:, None] * decomposition.feature_basis.to(torch.float64)).to(dtype)
        return cls(basis, (decomposition.mean - centred.mean).to(dtype))

    def project(self, centred: CentredDesign, decomposition: FoldDecomposition, rows: torch.Tensor) -> torch.Tensor:
        """``[len(rows), rank]`` held-out rows projected from the design centred over all rows, shifted to the training
        means (one pass in the compute dtype; no float64 copy of the held-out rows)."""
        assert decomposition.feature_basis is not None, "downdated folds are primal"
        scale = decomposition.scale.to(self.basis.dtype)
        return ((centred.compute[rows] - self.mean_shift) * scale) @ decomposition.feature_basis


@dataclass(frozen=True)
class HeldOut:
    """One held-out set of a fold: its ``rows`` (a slice when consecutive), their ``count``, and ``proj``
    ``[count, rank]``, the rows projected onto the feature basis and centred by ``proj_mean`` ``[rank]`` (zeros for an
    empty set, and for rows that predict one value, :meth:`of`); ``scored`` is False for a set left unprojected
    (:meth:`unscored`: ``proj`` then has no rows)."""

    rows: Rows
    count: int
    proj: torch.Tensor
    proj_mean: torch.Tensor
    scored: bool = True

    @classmethod
    def of(cls, index: np.ndarray, proj: torch.Tensor, constant: bool = False) -> HeldOut:
        """Centre the projection ``proj`` of the rows ``index``; zeros where the rows predict one value (``constant``,
        :func:`constant_prediction`).

        Rows that repeat one design row (a text shown at every scene cut of a validation set), or differ only in
        columns constant over the training rows (which the scaling zeroes), predict one value whatever the weights.
        Their centred projection would be the rounding of its mean (primal) or round-off of the cross-kernel (dual,
        about 1e-6 relative), which Pearson r scales up to any value in [-1, 1]; zeros make it 0, the engine's
        convention for a constant prediction.
        """
        mean = proj.mean(0) if len(index) else proj.new_zeros(proj.shape[1])
        centred = torch.zeros_like(proj) if constant else proj - mean
        return cls(row_selection(index, proj.device), len(index), centred, mean)

    @classmethod
    def unscored(cls, index: np.ndarray, like: torch.Tensor) -> HeldOut:
        """The rows ``index`` without a projection (an empty ``proj`` shaped and typed as ``like``'s rows): a set that
        is not scored still tells which targets its rows hold constant (:func:`vlencode.ridge.scoring.flat_targets`)."""
        return cls(row_selection(index, like.device), len(index), like[:0], like.new_zeros(like.shape[1]), scored=False)


@dataclass(frozen=True)
class VarianceFactor:
    """A ``basis`` with the column norms of the centred validation projection ``P`` (``B'B = P'P``): ``P`` itself, or
    its triangular QR factor when the validation set has more rows than the rank, so each alpha's prediction variance
    costs ``min(n_val, rank)`` rows; ``blocks`` lists its row blocks with the first column each has nonzero."""

    basis: torch.Tensor
    blocks: list[tuple[slice, int]]

    @classmethod
    def of(cls, val_proj: torch.Tensor, n_alphas: int, n_targets: int) -> VarianceFactor:
        """The factor of ``val_proj`` that saves the most time for ``n_targets`` (:func:`triangular_factor_pays`)."""
        n_val, rank = val_proj.shape
        if not triangular_factor_pays(n_val, rank, n_alphas, n_targets):
            return cls(val_proj, [(slice(0, n_val), 0)])
        factor = torch.linalg.qr(val_proj.to(torch.float64), mode="r").R.to(val_proj.dtype)
        return cls(factor, _triangle_blocks(factor.shape[0]))


@dataclass(frozen=True)
class Shrinkage:
    """``1 / (s + alpha)`` of a fold: ``by_alpha`` ``[n_alphas, rank]``, and ``by_rank``, its contiguous transpose
    ``[rank, n_alphas]`` for gathering each target's chosen alpha."""

    by_alpha: torch.Tensor
    by_rank: torch.Tensor

    @classmethod
    def of(cls, decomposition: FoldDecomposition, alphas: torch.Tensor) -> Shrinkage:
        """Every alpha's shrinkage of ``decomposition``."""
        shrink = decomposition.shrinkage(alphas)
        return cls(shrink, shrink.T.contiguous())


@dataclass(frozen=True)
class Fold:
    """One fold ready to score: its decomposition, its training rows, how its training targets are projected (the
    variant), its validation and test sets projected, the validation factor and the shrinkage."""

    decomposition: FoldDecomposition
    train: TrainRows
    projection: DirectProjection | DowndatedProjection
    val: HeldOut
    test: HeldOut
    val_factor: VarianceFactor
    shrink: Shrinkage


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
    score_test: bool = True,
) -> Fold:
    """Decompose fold ``k`` and project its held-out rows; ``centred`` is given when the fold is downdated.

    ``n_targets`` (all the targets the fold will score) decides whether its validation projection is factored
    (:func:`triangular_factor_pays`).  Without ``score_test`` the test rows are not projected
    (:meth:`HeldOut.unscored`)."""
    train, val, test = (torch.as_tensor(part, device=X.device) for part in split)
    projection: DirectProjection | DowndatedProjection
    if centred is not None:
        decomposition = decompose_downdated(centred, k, len(train), standardize, dtype, column_weight)
        projection = DowndatedProjection.of(decomposition, centred, dtype)
        val_proj = projection.project(centred, decomposition, val)
        test_proj = projection.project(centred, decomposition, test) if score_test else None
    else:
        decomposition = decompose(
            X[train], standardize=standardize, dtype=dtype, column_weight=column_weight, solver=solver
        )
        projection = DirectProjection.of(decomposition)
        val_proj = decomposition.project(X[val])
        test_proj = decomposition.project(X[test]) if score_test else None
        # Scoring reads the training basis from the projection (which holds a copy with a column of ones) and the
        # dual's float64 training rows and eigenvectors served the held-out projection only.
        decomposition = replace(decomposition, train_basis=None, train_rows=None, vectors=None)
    held_val = HeldOut.of(split[1], val_proj, constant_prediction(X, train, val))
    return Fold(
        decomposition=decomposition,
        train=TrainRows.of(split, X.shape[0], X.device),
        projection=projection,
        val=held_val,
        test=(
            HeldOut.unscored(split[2], val_proj)
            if test_proj is None
            else HeldOut.of(split[2], test_proj, constant_prediction(X, train, test))
        ),
        val_factor=VarianceFactor.of(held_val.proj, len(alphas), n_targets),
        shrink=Shrinkage.of(decomposition, alphas),
    )


def constant_prediction(X: torch.Tensor, train: torch.Tensor, index: torch.Tensor) -> bool:
    """Whether the rows ``index`` of ``X`` predict one value whatever a fit on the rows ``train``: they repeat one row,
    or differ only in columns constant over the training rows (which the fit's centring leaves no weight).

    The columns are read one at a time until one varies over the training rows: usually the first.
    """
    if len(index) < 2:
        return False
    rows = X[index]
    for column in torch.nonzero((rows != rows[:1]).any(0)).flatten():
        values = X[train, column]
        if bool((values != values[0]).any()):
            return False
    return True


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
