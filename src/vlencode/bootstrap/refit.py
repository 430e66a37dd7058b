"""The refit protocol, the paper's bootstrap: rerun the whole cross-validation of one design on every resample.

The fast protocol (:mod:`vlencode.bootstrap.fast`) keeps one fit's out-of-fold predictions; this one refits, so the
alphas are chosen again in every resample.  It runs for ``bootstrap.protocol: refit``.  The folds and the
cross-validation are the encoding protocol's, passed in as a :class:`CrossValidation`
(:class:`vlencode.encoding.RidgeSettings` is one), so the bootstrap stays below the encoding package.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from vlencode.ridge import RidgeCVResult
from vlencode.ridge.checks import Split

log = logging.getLogger("vlencode.bootstrap")


class CrossValidation(Protocol):
    """What the refit bootstrap reruns on the events of every resample."""

    def splits(self, trial_of_event: np.ndarray, name: str) -> list[Split]:
        """The (train, val, test) folds of events whose trials are ``trial_of_event``, in event order."""
        ...

    def cross_validate(
        self, design: np.ndarray | list[np.ndarray], targets: np.ndarray, splits: Sequence[Split]
    ) -> RidgeCVResult:
        """The cross-validated ridge fit of one design (a list of feature spaces: banded ridge)."""
        ...


def refit_bootstrap(
    design: np.ndarray | list[np.ndarray],
    targets: np.ndarray,
    *,
    trial_of_event: np.ndarray,
    indices: np.ndarray,
    settings: CrossValidation,
    name: str = "events",
) -> tuple[np.ndarray, np.ndarray]:
    """The paper's bootstrap: rerun the whole cross-validation of one design on every resample of the events.

    Each resample's drawn events are sorted back into event order (so trials stay contiguous and folds stay
    contiguous in time); copies of one event stay adjacent and can straddle a fold edge only at its ends.  The layer
    is the one chosen on the original events; alphas are chosen again in every resample.

    Parameters
    ----------
    design : ndarray, shape (n_events, n_features), or list of such (feature spaces of banded ridge)
    targets : ndarray, shape (n_events, n_targets)
    trial_of_event : ndarray of str, shape (n_events,)
    indices : ndarray of int, shape (n_resamples, n_events)
        Drawn event indices (:mod:`vlencode.bootstrap.resampling`).
    settings : CrossValidation
        The folds and the cross-validation of the encoding protocol.
    name : str
        Names the events in logs and errors.

    Returns
    -------
    val_r, test_r : ndarrays of float32, shape (n_resamples, n_targets)
        Fold-averaged validation and test r of every resample.
    """
    val_r = np.empty((len(indices), targets.shape[1]), dtype=np.float32)
    test_r = np.empty_like(val_r)
    for r, drawn in enumerate(np.asarray(indices)):
        order = np.sort(drawn)
        splits = settings.splits(np.asarray(trial_of_event)[order], name)
        picked = [x[order] for x in design] if isinstance(design, list) else design[order]
        result = settings.cross_validate(picked, targets[order], splits)
        val_r[r] = np.asarray(result.val_r, dtype=np.float64).mean(axis=0)
        test_r[r] = np.asarray(result.test_r, dtype=np.float64).mean(axis=0)
        if (r + 1) % max(1, len(indices) // 10) == 0:
            log.info("%s: refit bootstrap %d/%d resamples", name, r + 1, len(indices))
    return val_r, test_r
