"""Scoring one fold on a batch of targets: every alpha's validation r, the chosen alpha's test r and predictions.

Every alpha is scored on the validation rows at once:

* the covariance of prediction and target for all alphas is one small product, ``shrink @ (Z * (Hv' Yv))``;
* the prediction variance needs, per alpha, the product ``(Hv diag(shrink_a)) @ Z`` and its column norms (with
  ``Hv`` replaced by its triangular QR factor when that is smaller, whose zeros the products skip).

The alpha with the best validation r is taken per target, then one more product gives the validation and test
predictions at that alpha.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vlencode.pearson import pearson_from_sums
from vlencode.ridge.downdate import HeldProducts
from vlencode.ridge.fold import DowndatedProjection, Fold, Rows

#: Targets per chunk of the per-alpha products, so that a chunk of ``Z`` stays in cache across blocks and alphas.
TARGET_CHUNK = 2048


def _centred(y: torch.Tensor) -> torch.Tensor:
    """The held-out targets centred over their rows (a copy).

    The covariance with the centred predictions is formed from them too: with the targets' own mean in it, the
    rounding of the predictions' mean (about 1e-8 of a float32 projection) enters every covariance times that mean,
    which Pearson r scales up where the predictions hardly vary.  Their sums of squares are the variances
    (torch.var over dim 0 was measured ten times slower).
    """
    return y - y.mean(0)


@dataclass(frozen=True)
class FoldScores:
    """One fold's results on one batch of targets, on the device."""

    val_r_all: torch.Tensor
    best: torch.Tensor
    val_r: torch.Tensor
    test_r: torch.Tensor
    val_prediction: torch.Tensor
    test_prediction: torch.Tensor


def flat_targets(y: torch.Tensor, folds: list[Fold], rest: Rows | None) -> list[tuple[torch.Tensor, ...]]:
    """Per fold, which targets are constant over its training, validation and test rows.

    The extremes of every fold's validation and test rows and of the rows no fold holds out are taken once; a fold
    whose training rows are all the others combines those of the other blocks instead of scanning its training rows.
    """

    def extremes(rows: Rows) -> tuple[torch.Tensor, torch.Tensor]:
        block = y[rows]
        return block.amax(0), block.amin(0)

    held = [[extremes(fold.val.rows)] + ([extremes(fold.test.rows)] if fold.test.count else []) for fold in folds]
    rest_extremes = [extremes(rest)] if rest is not None else []
    flat = []
    for k, fold in enumerate(folds):
        if fold.train.is_complement:
            train_blocks = [pair for j, pairs in enumerate(held) if j != k for pair in pairs] + rest_extremes
        else:
            train_blocks = [extremes(rows) for _, rows in fold.train.runs]
        high = torch.stack([pair[0] for pair in train_blocks]).amax(0)
        low = torch.stack([pair[1] for pair in train_blocks]).amin(0)
        flat.append(tuple(high == low for high, low in [(high, low)] + held[k]))
    return flat


def _projected_targets(
    fold: Fold, y: torch.Tensor, held: HeldProducts | None, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold ``k``'s projected training targets ``Z`` (``[rank, batch]``) and the training means of ``y``.

    A downdated fold takes its training cross-products from ``held``: ``Xc_train' y_train`` minus the
    shift of the training means, ``(m_train - m) (1' y_train)``, centres the design on the training rows.  They are
    formed in place of the fold's held-out cross-products, which nothing reads after (a fresh ``[n_features, batch]``
    array per fold would cost its page faults).  Other folds
    multiply their training basis by the training targets; ``y`` is centred over all rows, so the fold's training mean
    is small and ``Z = T'y - (T'1) mean'`` needs no centred copy.
    """
    n_train, projection = fold.train.count, fold.projection
    if isinstance(projection, DowndatedProjection):
        if held is None:
            raise ValueError(f"ridge fold {k} is downdated: score it with the held-out cross-products (held)")
        train_sum = held.total_sum - held.sums[k]
        cross = torch.sub(held.total_cross, held.cross[k], out=held.cross[k])
        cross.addr_(projection.mean_shift, train_sum, alpha=-1)
        return projection.basis.T @ cross, train_sum / n_train
    basis = projection.basis
    rank = basis.shape[1] - 1
    projected = torch.zeros((rank + 1, y.shape[1]), dtype=y.dtype, device=y.device)
    for positions, rows in fold.train.runs:
        projected.addmm_(basis[positions].T, y[rows])
    train_mean = projected[rank] / n_train
    return projected[:rank].sub_(torch.outer(basis[:, :rank].sum(0), train_mean)), train_mean


def _prediction_variance(fold: Fold, z: torch.Tensor) -> torch.Tensor:
    """``[n_alphas, batch]`` sums of squares of the centred validation predictions, ``||B diag(shrink_a) Z||^2`` per
    column with ``B = fold.val_factor.basis``: the dominant cost of scoring.

    The blocks of a triangular ``B`` skip its zeros and the target chunks keep ``Z`` in cache; on 768 features and
    24,150 targets this was measured 0.66 s per fold against 0.92 s for one full product per alpha.  The products are
    squared in place and summed (``linalg.vector_norm`` took a fifth of the product's time).
    """
    shrink, factor = fold.shrink.by_alpha, fold.val_factor
    n_alphas, n_targets = shrink.shape[0], z.shape[1]
    n_rows = factor.basis.shape[0]
    var = torch.empty((n_alphas, n_targets), dtype=z.dtype, device=z.device)
    scaled_bases = [factor.basis * shrink[a] for a in range(n_alphas)]
    buffer = torch.empty(n_rows * min(TARGET_CHUNK, n_targets), dtype=z.dtype, device=z.device)
    for start in range(0, n_targets, TARGET_CHUNK):
        chunk = z[:, start : start + TARGET_CHUNK]
        prediction = buffer[: n_rows * chunk.shape[1]].view(n_rows, chunk.shape[1])
        for a, basis in enumerate(scaled_bases):
            for rows, first in factor.blocks:
                torch.matmul(basis[rows, first:], chunk[first:], out=prediction[rows])
            torch.sum(prediction.square_(), 0, out=var[a, start : start + chunk.shape[1]])
    return var


def score_fold(
    fold: Fold,
    y: torch.Tensor,
    offset: torch.Tensor,
    flat: tuple[torch.Tensor, ...],
    predict: bool,
    held: HeldProducts | None,
    k: int,
) -> FoldScores:
    """Score every alpha of fold ``k`` on a batch of targets.

    ``y[n_samples, batch]`` is centred over all rows (``offset`` its means); ``held`` has the held-out cross-products
    when a fold is downdated (:func:`_projected_targets`).  ``flat`` marks targets constant over the training,
    validation (and test) rows.  Without ``predict`` the validation predictions are not formed (``val_prediction`` is
    empty).
    """
    z, train_mean = _projected_targets(fold, y, held, k)
    flat_train, flat_val = flat[0], flat[1]

    y_val = _centred(y[fold.val.rows])
    cov = fold.shrink.by_alpha @ (z * (fold.val.proj.T @ y_val))
    var = _prediction_variance(fold, z)
    val_r_all = pearson_from_sums(cov, var, y_val.square().sum(0), (flat_train | flat_val)[None, :])
    best = val_r_all.argmax(0)
    val_r = val_r_all.gather(0, best[None, :])[0]

    val_prediction = test_prediction = z[:0]
    test_r = torch.full_like(val_r, float("nan"))
    # A test set left unprojected (``score_test`` off) still counted above as other folds' training rows.
    scored_test = fold.test.scored and fold.test.count > 0
    if not (predict or scored_test):
        # Validation scores only: the weights at the chosen alpha would go unused.
        return FoldScores(val_r_all, best, val_r, test_r, val_prediction, test_prediction)
    chosen = z * torch.index_select(fold.shrink.by_rank, 1, best)
    intercept = offset + train_mean
    if predict:
        val_prediction = fold.val.proj @ chosen + (fold.val.proj_mean @ chosen + intercept)
    if scored_test:
        y_test = _centred(y[fold.test.rows])
        test_pred = fold.test.proj @ chosen
        test_r = pearson_from_sums(
            (test_pred * y_test).sum(0), test_pred.square().sum(0), y_test.square().sum(0), flat_train | flat[2]
        )
        test_prediction = test_pred + (fold.test.proj_mean @ chosen + intercept)
    return FoldScores(val_r_all, best, val_r, test_r, val_prediction, test_prediction)
