"""Banded ridge: one regularisation per feature space, by random search over the simplex of space weights.

Scaling feature space ``b`` by ``sqrt(w_b)`` (weights on the simplex) and fitting ridge with penalty ``alpha`` is ridge
with penalty ``alpha / w_b`` on that space.  So every candidate weight vector is one plain cross-validated ridge over
the alpha grid (one decomposition per fold, all alphas at once), and each target keeps the (weights, alpha) with the
best validation r, as in himalaya's ``solve_group_ridge_random_search``.  The candidates always include the uniform
weights and each space alone (weight 1 on it, the others left out), then seeded Dirichlet draws.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from vlencode.ridge.checks import Split, check_array, check_inputs
from vlencode.ridge.search import RidgeCVResult, SearchOptions, search


def band_weight_candidates(n_bands: int, n_iter: int, seed: int, concentration: float = 1.0) -> np.ndarray:
    """The band weights banded ridge tries, in order.

    Parameters
    ----------
    n_bands : int
        Feature spaces.
    n_iter : int
        Dirichlet draws added after the fixed candidates.
    seed : int
        Seed of the draws (numpy ``default_rng``).
    concentration : float
        Dirichlet concentration (1: uniform on the simplex; below 1 favours weights near the corners).

    Returns
    -------
    numpy.ndarray
        ``[n_candidates, n_bands]`` float64 rows summing to 1: the uniform weights, each band alone, then the draws;
        duplicates (to 12 decimals) removed, keeping the first, so one band gives the single candidate ``[1.0]``.
    """
    if n_bands < 1 or n_iter < 0:
        raise ValueError(f"banded ridge needs n_bands >= 1 and n_iter >= 0, got {n_bands} and {n_iter}")
    fixed = np.vstack([np.full((1, n_bands), 1.0 / n_bands), np.eye(n_bands)])
    draws = np.random.default_rng(seed).dirichlet(np.full(n_bands, concentration), size=n_iter)
    candidates = np.vstack([fixed, draws])
    # Draws equal to a fixed candidate up to round-off (always, for one band) would only repeat a fit.
    _, first = np.unique(candidates.round(12), axis=0, return_index=True)
    return candidates[np.sort(first)]


def _concatenate_spaces(Xs: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The feature spaces checked and side by side ``[n_samples, n_features]``, and each space's column indices."""
    if len(Xs) == 0:
        raise ValueError("banded ridge needs at least one feature space in Xs")
    checked = [check_array(f"Xs[{b}]", x, "features") for b, x in enumerate(Xs)]
    if len({x.shape[0] for x in checked}) != 1:
        raise ValueError(f"banded ridge feature spaces have different row counts {[x.shape[0] for x in checked]}")
    bounds = np.cumsum([0] + [x.shape[1] for x in checked])
    bands = [np.arange(start, stop) for start, stop in zip(bounds[:-1], bounds[1:])]
    return np.concatenate(checked, axis=1), bands


def banded_ridge_cv(
    Xs: Sequence[np.ndarray],
    Y: np.ndarray,
    splits: Sequence[Split],
    alphas: Sequence[float] | np.ndarray,
    *,
    n_iter: int = 20,
    seed: int = 0,
    concentration: float = 1.0,
    standardize: bool = True,
    device: str | torch.device = "auto",
    dtype: torch.dtype = torch.float32,
    targets_batch: int | None = None,
    memory_gb: float | None = None,
    n_threads: int | None = None,
) -> RidgeCVResult:
    """Cross-validated banded ridge with intercept: per fold and target the best (band weights, alpha) by validation r.

    Parameters
    ----------
    Xs : sequence of arrays of shape (n_samples, n_features_b)
        One design per feature space (e.g. the vision and the language component of a concatenation baseline).
    Y : array of shape (n_samples, n_targets)
        Targets.
    splits : sequence of (train_idx, val_idx, test_idx)
        As in :func:`vlencode.ridge.cross_validated_ridge`.
    alphas : sequence of float
        Positive penalties, crossed with every candidate weight vector.
    n_iter : int
        Dirichlet draws of band weights beyond the uniform and single-band candidates (see
        :func:`band_weight_candidates`); the cost is about (n_iter + n_bands + 1) plain fits.
    seed : int
        Seed of the draws.
    concentration : float
        Dirichlet concentration of the draws.
    standardize, device, dtype, targets_batch, memory_gb, n_threads
        As in :class:`vlencode.ridge.search.SearchOptions`.  Standardisation is per column, before band scaling.

    Returns
    -------
    RidgeCVResult
        With ``band_weights[fold, target, band]`` (None for a single band, which reduces to plain ridge).  The
        effective penalty of band ``b`` is ``best_alpha / band_weights[..., b]`` (infinite for weight 0).
    """
    X, bands = _concatenate_spaces(Xs)
    X, Y, splits, alphas = check_inputs(X, Y, splits, alphas)
    options = SearchOptions(
        standardize=standardize,
        device=device,
        dtype=dtype,
        targets_batch=targets_batch,
        memory_gb=memory_gb,
        return_all_alphas=False,
        n_threads=n_threads,
    )
    return search(X, Y, splits, alphas, bands, band_weight_candidates(len(Xs), n_iter, seed, concentration), options)
