"""The fast bootstrap of encoding scores: resample out-of-fold predictions instead of refitting.

The paper's protocol reruns the whole cross-validation for each of 1000 resamples of the events.  The fast protocol
resamples the events' out-of-fold predictions and recomputes the Pearson r of every target.  A Pearson r needs only
six sums over the (weighted) events; with the resamples written as a count matrix ``C[resample, event]`` (how often
each event is drawn), five of them are one matrix product ``C @ [p, y, p*y, p**2, y**2]`` and the sixth is a row sum
of ``C``.  So all resamples of all targets cost one product the size of a ridge fit, with no loop over resamples.

Every subject and alignment draws its resamples once (rule ``resamples``); every model of that subject reuses them, so
two models' bootstrap scores are paired.  Seeds derive from the config seed and the subject and alignment names
through a stable hash (SHA-256), never Python's salted ``hash()``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import torch

from vlencode.device import resolve_device
from vlencode.pearson import pearson, weighted_pearson_from_sums

#: Bytes of working memory one target needs per resample and per event in :func:`resampled_pearson`: five stacked
#: sums and their operand, plus the temporaries of the r formula.
_BYTES_PER_RESAMPLE_TARGET = 4 * 13
_BYTES_PER_EVENT_TARGET = 4 * 5


def resample_seed(seed: int, *keys: str) -> np.random.SeedSequence:
    """A seed sequence derived from the config seed and names (e.g. subject, alignment), stable across processes.

    Parameters
    ----------
    seed : int
        The config's master seed.
    *keys : str
        Names that make the stream distinct, hashed with SHA-256 (the first 8 bytes of each digest).

    Returns
    -------
    numpy.random.SeedSequence
    """
    entropy = [int(seed)]
    for key in keys:
        entropy.append(int.from_bytes(hashlib.sha256(str(key).encode()).digest()[:8], "little"))
    return np.random.SeedSequence(entropy)


def draw_resamples(n_events: int, n_resamples: int, seed: int | np.random.SeedSequence) -> np.ndarray:
    """Indices of events drawn with replacement, one row per resample.

    Parameters
    ----------
    n_events : int
        Number of events of one subject and alignment (all trials pooled, in fit order).
    n_resamples : int
        Number of bootstrap resamples.
    seed : int or numpy.random.SeedSequence
        Use :func:`resample_seed` so every subject and alignment gets its own reproducible stream.

    Returns
    -------
    indices : ndarray of int32, shape (n_resamples, n_events)
    """
    if n_events < 1 or n_resamples < 1:
        raise ValueError(f"cannot draw {n_resamples} resamples of {n_events} events; both must be positive")
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_events, size=(n_resamples, n_events), dtype=np.int64).astype(np.int32)


def resample_counts(indices: np.ndarray, n_events: int) -> np.ndarray:
    """How often each event is drawn in each resample: the count matrix of :func:`resampled_pearson`.

    Parameters
    ----------
    indices : ndarray of int, shape (n_resamples, n_draws)
        Resampled event indices, each in ``[0, n_events)``.
    n_events : int

    Returns
    -------
    counts : ndarray of float32, shape (n_resamples, n_events)
    """
    indices = np.asarray(indices, dtype=np.int64)
    if indices.size and (indices.min() < 0 or indices.max() >= n_events):
        raise ValueError(f"resample indices fall outside [0, {n_events}); the resamples were drawn for other events")
    n_resamples = indices.shape[0]
    flat = (np.arange(n_resamples, dtype=np.int64)[:, None] * n_events + indices).ravel()
    return np.bincount(flat, minlength=n_resamples * n_events).reshape(n_resamples, n_events).astype(np.float32)


def resampled_pearson(
    prediction: np.ndarray,
    target: np.ndarray,
    counts: np.ndarray,
    groups: Sequence[np.ndarray] | None = None,
    *,
    targets_batch: int | None = None,
    memory_gb: float = 1.0,
    device: str = "cpu",
) -> np.ndarray:
    """Pearson r of every target under every resample, by weighted sums from one matrix product per group.

    Parameters
    ----------
    prediction, target : ndarray, shape (n_events, n_targets)
        Out-of-fold predictions and the measured responses.  Rows outside every group are ignored (may be NaN).
    counts : ndarray, shape (n_resamples, n_events)
        Times each event is drawn in each resample (:func:`resample_counts`).
    groups : sequence of int arrays, optional
        Event indices scored separately (e.g. the validation events of each fold, each predicted by its own fold's
        model); the r of each group is computed on that group's resampled events and the groups' r are averaged, as
        the point estimate averages fold scores.  Default: one group of all events.
    targets_batch : int, optional
        Targets per product.  Default: as many as fit in ``memory_gb``.
    memory_gb : float
        Working-memory budget used to pick ``targets_batch``.
    device : {"cpu", "cuda", "auto"}

    Returns
    -------
    r : ndarray of float32, shape (n_resamples, n_targets)
        A target that is constant (or predicted as constant) on a resample's events scores 0, like the ridge engine.

    Notes
    -----
    Predictions and targets are centred and scaled per target on each group's events before the sums are formed
    (Pearson r is unchanged by it), so the float32 products do not lose the covariance to cancellation.
    """
    prediction = np.asarray(prediction)
    target = np.asarray(target)
    counts = np.asarray(counts, dtype=np.float32)
    if prediction.shape != target.shape or prediction.ndim != 2:
        raise ValueError(f"prediction {prediction.shape} and target {target.shape} must be equal 2-D shapes")
    n_events, n_targets = prediction.shape
    if counts.ndim != 2 or counts.shape[1] != n_events:
        raise ValueError(f"counts {counts.shape} must be (n_resamples, {n_events})")
    n_resamples = counts.shape[0]
    groups = [np.arange(n_events)] if groups is None else [np.asarray(g, dtype=np.int64) for g in groups]
    if not groups:
        raise ValueError("resampled_pearson needs at least one group of events")
    if targets_batch is None:
        per_target = _BYTES_PER_RESAMPLE_TARGET * n_resamples + _BYTES_PER_EVENT_TARGET * n_events
        targets_batch = max(1, int(memory_gb * 2**30 // per_target))
    dev = resolve_device(device)
    weights = [torch.as_tensor(counts[:, rows], device=dev) for rows in groups]
    out = np.empty((n_resamples, n_targets), dtype=np.float32)
    for start in range(0, n_targets, targets_batch):
        stop = min(start + targets_batch, n_targets)
        total = torch.zeros((n_resamples, stop - start), dtype=torch.float32, device=dev)
        for rows, w in zip(groups, weights):
            p = _standardized(prediction[rows, start:stop], dev)
            y = _standardized(target[rows, start:stop], dev)
            sums = w @ torch.cat([p, y, p * y, p * p, y * y], dim=1)
            total += weighted_pearson_from_sums(w.sum(dim=1, keepdim=True), *sums.split(stop - start, dim=1))
        out[:, start:stop] = (total / len(groups)).cpu().numpy()
    return out


def _standardized(values: np.ndarray, device: torch.device) -> torch.Tensor:
    """Columns centred and scaled in float64 on ``device``, returned as float32; constant columns become zeros."""
    values = torch.as_tensor(np.ascontiguousarray(values), device=device).double()
    centred = values - values.mean(dim=0)
    scale = centred.square().mean(dim=0).sqrt()
    # A spread below float32 resolution of the values is rounding, not signal: such a column is constant.
    constant = scale <= 1e-7 * values.abs().amax(dim=0)
    return (centred / torch.where(constant, torch.inf, scale)).float()


def fast_bootstrap(
    prediction: np.ndarray,
    target: np.ndarray,
    splits: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    indices: np.ndarray,
    device: str = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """The fast protocol: resampled validation and test r of out-of-fold predictions, per fold, averaged over folds.

    Parameters
    ----------
    prediction, target : ndarray, shape (n_events, n_targets)
        The ridge engine's out-of-fold predictions and the responses.
    splits : sequence of (train, val, test) index arrays
        The folds the predictions came from; each fold's validation (test) events are scored as one group.
    indices : ndarray of int, shape (n_resamples, n_events)
        Resampled event indices (:func:`draw_resamples`) over all events of the alignment.
    device : {"cpu", "cuda", "auto"}

    Returns
    -------
    val_r, test_r : ndarrays of float32, shape (n_resamples, n_targets)
    """
    counts = resample_counts(indices, len(target))
    val_r = resampled_pearson(prediction, target, counts, [split[1] for split in splits], device=device)
    test_r = resampled_pearson(prediction, target, counts, [split[2] for split in splits], device=device)
    return val_r, test_r


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
        ``kept_agreement``: share of targets with the same decision ``lower bound > 0``; ``kept_fast`` and
        ``kept_refit``: how many targets each protocol keeps; ``n_targets``.
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
        "kept_fast": float(np.sum(fast_lo > 0)),
        "kept_refit": float(np.sum(refit_lo > 0)),
        "n_targets": float(fast_lo.size),
    }

