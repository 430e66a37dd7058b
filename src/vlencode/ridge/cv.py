"""Cross-validated ridge: per fold and target, the alpha with the best validation r and the test r at that alpha.

Each split is ``(train_idx, val_idx, test_idx)``.  Within a fold the design is centred (and standardised) with the
training rows' statistics, the targets are centred with the training means (the intercept), the fold is decomposed
once (:mod:`vlencode.ridge.fold`, :mod:`vlencode.ridge.decomposition`; downdated from the totals over all rows where
its training rows are all the others, :mod:`vlencode.ridge.downdate`) and every alpha is scored on the validation rows
at once (:mod:`vlencode.ridge.scoring`).  The alpha with the best validation r is taken per target, then one more
product gives the test r and the out-of-fold predictions (``prediction[event, target]``, NaN for events in no
validation or test set) that the fast bootstrap resamples.  With ``refit``, every target is also fitted on all rows at
the alpha with the best fold-mean validation r.  Targets are processed in batches (:mod:`vlencode.ridge.search`);
inputs and options are checked first (:mod:`vlencode.ridge.checks`).

Conventions: a target constant over a fold's training rows, or over the rows scored, gets r = 0 (not NaN), as does a
constant prediction; ties between alphas go to the first (smallest index) alpha.  A fold with an empty test set gets
test r = NaN, as does every fold with ``score_test=False``, which skips the test rows' projection and product (their
rows still count as the other folds' training rows).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from vlencode.ridge.checks import Split, check_inputs
from vlencode.ridge.search import RidgeCVResult, SearchOptions, search


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
    score_test: bool = True,
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
    standardize, device, dtype, targets_batch, memory_gb, return_all_alphas, return_predictions, score_test, n_threads,
    solver
        The search's options, documented once in :class:`vlencode.ridge.search.SearchOptions`.
    refit : bool
        Also fit every target on all rows at its best fold-mean alpha (``refit_alpha``, ``coef``, ``intercept``).

    Returns
    -------
    RidgeCVResult

    Raises
    ------
    ValueError
        On NaN or infinite values in ``X`` or ``Y``, mismatched shapes, malformed splits or non-positive alphas
        (one line naming the array and the fix), and on options that are unknown or cannot be combined
        (:func:`vlencode.ridge.checks.check_options`).
    """
    X, Y, splits, alphas = check_inputs(X, Y, splits, alphas)
    options = SearchOptions(
        standardize=standardize,
        device=device,
        dtype=dtype,
        targets_batch=targets_batch,
        memory_gb=memory_gb,
        return_all_alphas=return_all_alphas,
        n_threads=n_threads,
        return_predictions=return_predictions,
        score_test=score_test,
        solver=solver,
        refit=refit,
    )
    return search(X, Y, splits, alphas, [np.arange(X.shape[1])], np.ones((1, 1)), options)
