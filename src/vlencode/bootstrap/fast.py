"""The fast protocol: resample out-of-fold predictions and recompute scores by weighted moments, instead of refitting.

The paper's protocol reruns the whole cross-validation for each resample of the events.  The fast protocol keeps the
out-of-fold predictions of one fit and recomputes the Pearson r of every target under every resample.  A resample
with replacement is a vector of event weights (how often each event is drawn), and the Pearson r of a weighted sample
needs only weighted moments: the bootstrap of r by resampling weights is the weighted-moments bootstrap of Chaibub Neto
(2015, "Speeding up non-parametric bootstrap computations for statistics based on sample moments in small/moderate
sample size applications", PLoS ONE 10(6): e0131333).  With the resamples as a count matrix ``C[resample, event]``, five
of the six sums are one matrix product ``C @ [p, y, p*y, p**2, y**2]`` and the sixth is a row sum of ``C``, so all
resamples of all targets cost one product the size of a ridge fit, with no loop over resamples.  What it leaves out:
the alpha and the weights are those of the original fit, not refitted per resample (the refit protocol,
:func:`vlencode.bootstrap.refit.refit_bootstrap`, reruns both).

Any resampling scheme works (:mod:`vlencode.bootstrap.resampling`: iid events or blocks of contiguous events); every
model of a subject and alignment uses the same resamples, so two models' bootstrap scores are paired.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from vlencode.bootstrap.resampling import resample_counts
from vlencode.device import resolve_device
from vlencode.pearson import weighted_pearson_from_sums

#: Bytes of working memory one target needs per resample and per event in :func:`resampled_pearson`: five stacked
#: sums and their operand, plus the temporaries of the r formula.
_BYTES_PER_RESAMPLE_TARGET = 4 * 13
_BYTES_PER_EVENT_TARGET = 4 * 5
#: Most targets per product on a CPU.  Each batch makes a dozen passes over its operands: the float64 standardised
#: ``[n_events_in_group, batch]`` copies, the stacked ``[n_events_in_group, 5 batch]`` operand and the r formula's
#: ``[n_resamples, batch]`` temporaries.  At 256 targets they stay in cache, where a batch sized by the memory budget
#: alone (4,000 targets at 10,570 events to 17,000 at 603, at 1 GiB) streams each pass through main memory.  Measured
#: on one core at 24,150 targets and 1000 resamples against the budget's batch: 1.5x faster at 10,570 and 4,066 events,
#: 2.7x at 603 (``benchmarks/bootstrap_speed.py --compare-batch``), the scores equal up to float32 rounding (identical
#: there).  A GPU keeps the budget's batch: its kernels want large operands.
CPU_TARGETS_BATCH = 256


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
        Times each event is drawn in each resample (:func:`vlencode.bootstrap.resampling.resample_counts`).
    groups : sequence of int arrays, optional
        Event indices scored separately (e.g. the validation events of each fold, each predicted by its own fold's
        model); the r of each group is computed on that group's resampled events and the groups' r are averaged, as
        the point estimate averages fold scores.  Default: one group of all events.
    targets_batch : int, optional
        Targets per product.  Default: as many as fit in ``memory_gb``, at most :data:`CPU_TARGETS_BATCH` on a CPU.
    memory_gb : float
        Working-memory budget used to pick ``targets_batch``.
    device : {"cpu", "cuda", "auto"}

    Returns
    -------
    r : ndarray of float32, shape (n_resamples, n_targets)
        A target that is constant (or predicted as constant) on a resample's events scores 0, like the ridge engine.

    Raises
    ------
    ValueError
        Unequal or non-2-D ``prediction`` and ``target``, ``counts`` of the wrong shape, no group, or a
        ``targets_batch`` below 1.

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
    if targets_batch is not None and targets_batch < 1:
        raise ValueError(f"targets_batch must be a positive number of targets, got {targets_batch}")
    dev = resolve_device(device)
    if targets_batch is None:
        per_target = _BYTES_PER_RESAMPLE_TARGET * n_resamples + _BYTES_PER_EVENT_TARGET * n_events
        targets_batch = max(1, int(memory_gb * 2**30 // per_target))
        if dev.type == "cpu":
            targets_batch = min(targets_batch, CPU_TARGETS_BATCH)
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
    x = torch.as_tensor(np.ascontiguousarray(values), device=device).double()
    centred = x - x.mean(dim=0)
    scale = centred.square().mean(dim=0).sqrt()
    # A spread below float32 resolution of the values is rounding, not signal: such a column is constant.
    constant = scale <= 1e-7 * x.abs().amax(dim=0)
    return (centred / torch.where(constant, torch.inf, scale)).float()


def fast_bootstrap(
    prediction: np.ndarray,
    target: np.ndarray,
    splits: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    indices: np.ndarray,
    device: str = "cpu",
    targets_batch: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The fast protocol: resampled validation and test r of out-of-fold predictions, per fold, averaged over folds.

    Parameters
    ----------
    prediction, target : ndarray, shape (n_events, n_targets)
        The ridge engine's out-of-fold predictions and the responses.
    splits : sequence of (train, val, test) index arrays
        The folds the predictions came from; each fold's validation (test) events are scored as one group.
    indices : ndarray of int, shape (n_resamples, n_events)
        Resampled event indices over all events of the alignment (:mod:`vlencode.bootstrap.resampling`).
    device : {"cpu", "cuda", "auto"}
    targets_batch : int, optional
        Targets per product (:func:`resampled_pearson`'s default when None).

    Returns
    -------
    val_r, test_r : ndarrays of float32, shape (n_resamples, n_targets)
    """
    counts = resample_counts(indices, len(target))
    val_r, test_r = (
        resampled_pearson(
            prediction, target, counts, [split[part] for split in splits], device=device, targets_batch=targets_batch
        )
        for part in (1, 2)
    )
    return val_r, test_r
