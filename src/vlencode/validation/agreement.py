"""Agreement of the fast and refit protocols: bounds, keep decisions and calls, and both run on one problem."""

from __future__ import annotations

import numpy as np

from vlencode.bootstrap.bounds import percentile_bounds
from vlencode.bootstrap.fast import fast_bootstrap
from vlencode.bootstrap.refit import refit_bootstrap
from vlencode.encoding import Design, RidgeSettings, contiguous_splits
from vlencode.pearson import pearson


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa of two boolean decisions on the same items (``sklearn.metrics.cohen_kappa_score``).

    Two constant and equal decision vectors agree perfectly: kappa 1 (scikit-learn returns NaN there).
    """
    from sklearn.metrics import cohen_kappa_score

    a = np.asarray(a, dtype=bool).ravel()
    b = np.asarray(b, dtype=bool).ravel()
    if a.shape != b.shape:
        raise ValueError(f"decisions of different lengths: {a.shape} vs {b.shape}")
    if np.array_equal(a, b):
        return 1.0
    return float(cohen_kappa_score(a, b))


def protocol_agreement(fast_val_r: np.ndarray, refit_val_r: np.ndarray, ci: float) -> dict[str, float]:
    """How well the fast protocol reproduces the refit protocol's bounds and keep decisions.

    Parameters
    ----------
    fast_val_r, refit_val_r : ndarray, shape (n_resamples, n_targets)
        Bootstrap validation r of the same targets under each protocol (resample counts may differ).
    ci : float

    Returns
    -------
    dict
        ``lower_bound_r`` and ``upper_bound_r``: Pearson r over targets between the two protocols' bounds;
        ``kept_agreement``: share of targets with the same decision ``lower bound > 0``; ``kept_kappa``: its Cohen's
        kappa; ``kept_fast`` and ``kept_refit``: how many targets each protocol keeps; ``n_targets``.
    """
    fast_val_r = np.asarray(fast_val_r)
    refit_val_r = np.asarray(refit_val_r)
    if fast_val_r.shape[1:] != refit_val_r.shape[1:]:
        raise ValueError(f"fast {fast_val_r.shape} and refit {refit_val_r.shape} bootstraps cover different targets")
    fast_lo, fast_hi = (b.ravel() for b in percentile_bounds(fast_val_r, ci))
    refit_lo, refit_hi = (b.ravel() for b in percentile_bounds(refit_val_r, ci))
    return {
        "lower_bound_r": pearson(fast_lo, refit_lo),
        "upper_bound_r": pearson(fast_hi, refit_hi),
        "kept_agreement": float(np.mean((fast_lo > 0) == (refit_lo > 0))),
        "kept_kappa": cohen_kappa(fast_lo > 0, refit_lo > 0),
        "kept_fast": float(np.sum(fast_lo > 0)),
        "kept_refit": float(np.sum(refit_lo > 0)),
        "n_targets": float(fast_lo.size),
    }


def compare_protocols(
    design: Design,
    targets: np.ndarray,
    *,
    trial_of_event: np.ndarray,
    indices: np.ndarray,
    settings: RidgeSettings,
    ci: float = 0.95,
) -> dict[str, float]:
    """Run both bootstrap protocols on one (small) problem and report their agreement.

    Returns :func:`protocol_agreement` of the validation-r bootstraps: correlation of the
    lower and upper bounds over targets and the share of targets with the same keep decision (lower bound > 0).
    """
    splits = contiguous_splits(trial_of_event, settings.n_folds)
    result = settings.cross_validate(design, targets, splits)
    assert result.prediction is not None, "cross_validate returns the out-of-fold predictions by default"
    fast_val, _ = fast_bootstrap(result.prediction, targets, splits, indices, settings.device)
    refit_val, _ = refit_bootstrap(design, targets, trial_of_event=trial_of_event, indices=indices, settings=settings)
    return protocol_agreement(fast_val, refit_val, ci)
