"""Bootstrap confidence bounds of resampled scores: per-target percentile bounds and the sup-t simultaneous band.

The keep rules (:mod:`vlencode.stats.keep`) name which bound decides; the encoding fit stores percentile bounds.
"""

from __future__ import annotations

import numpy as np


def percentile_bounds(boot: np.ndarray, ci: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile confidence bounds over resamples (axis 0): ``ci=0.95`` gives the 2.5th and 97.5th percentiles.

    Parameters
    ----------
    boot : ndarray, shape (n_resamples, ...)
    ci : float in (0, 1)

    Returns
    -------
    lo, hi : ndarrays of float32, shape ``boot.shape[1:]``
    """
    if not 0 < ci < 1:
        raise ValueError(f"bootstrap.ci must lie in (0, 1), got {ci}")
    tail = 100 * (1 - ci) / 2
    lo, hi = np.percentile(np.asarray(boot, dtype=np.float32), [tail, 100 - tail], axis=0)
    return lo.astype(np.float32), hi.astype(np.float32)


def sup_t_lower_band(boot: np.ndarray, ci: float, estimate: np.ndarray | None = None) -> np.ndarray:
    """Simultaneous lower confidence band over the last axis (bins): the one-sided sup-t band.

    ``se_j`` is the standard deviation over resamples of bin ``j``; ``t*_b = max_j (r_j - r*_bj) / se_j``; the band
    is ``r_j - crit * se_j`` with ``crit`` the ``1 - (1 - ci) / 2`` quantile of ``t*_b`` (the tail of the two-sided
    percentile bound at ``ci``, so that on one bin the two agree up to the percentile vs. studentised construction).
    Bins with ``se_j == 0`` (constant under resampling) do not enter the maximum and their bound is ``r_j``.

    Source: J. L. Montiel Olea and M. Plagborg-Møller (2019), "Simultaneous confidence bands: theory,
    implementation, and an application to SVARs", Journal of Applied Econometrics 34(1), 1-17 (the sup-t band
    computed from bootstrap draws: their plug-in algorithm).

    Parameters
    ----------
    boot : ndarray, shape (n_resamples, ..., n_bins)
        Resampled scores; every leading index (e.g. an electrode) gets its own band over its bins.
    ci : float in (0, 1)
    estimate : ndarray, shape (..., n_bins), optional
        The scores on the original events (``r_j``); default the mean over resamples.

    Returns
    -------
    ndarray of float32, shape ``boot.shape[1:]``
    """
    if not 0 < ci < 1:
        raise ValueError(f"bootstrap.ci must lie in (0, 1), got {ci}")
    boot = np.asarray(boot, dtype=np.float32)
    centre = boot.mean(axis=0) if estimate is None else np.asarray(estimate, dtype=np.float32)
    if centre.shape != boot.shape[1:]:
        raise ValueError(
            f"sup_t_lower_band: estimate of shape {centre.shape} does not match resamples of shape {boot.shape}"
        )
    se = boot.std(axis=0)
    spread = se > 0
    t = np.where(spread, (centre - boot) / np.where(spread, se, 1.0), -np.inf)
    sup = t.max(axis=-1)  # (n_resamples, ...): the largest studentised shortfall over the bins
    crit = np.quantile(sup, 1 - (1 - ci) / 2, axis=0)
    crit = np.where(np.isfinite(crit), crit, 0.0)  # every bin constant: nothing to widen
    return (centre - crit[..., None] * se).astype(np.float32)


def lower_bound(band: str, boot: np.ndarray, ci: float, estimate: np.ndarray | None = None) -> np.ndarray:
    """The rule's lower bound of one bootstrapped score, shape ``boot.shape[1:]``: the per-bin percentile bound
    (``band="pointwise"``), the sup-t band over the last axis (``band="simultaneous"``, :func:`sup_t_lower_band`), or
    the per-bin bound where the band exceeds 0 in at least one bin of the row and -inf elsewhere (``band="gated"``).
    """
    if band == "simultaneous":
        return sup_t_lower_band(boot, ci, estimate)
    pointwise = percentile_bounds(boot, ci)[0]
    if band == "gated":  # per-bin bounds, where the band clears 0 somewhere over the bins
        gate = (sup_t_lower_band(boot, ci, estimate) > 0).any(axis=-1, keepdims=True)
        return np.where(gate, pointwise, np.float32(-np.inf))
    return pointwise
