"""Checks of the ridge engine's inputs and options: one-line errors naming the argument and the fix."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

Split = tuple[np.ndarray, np.ndarray, np.ndarray]


def check_array(name: str, array: np.ndarray, what: str) -> np.ndarray:
    """A 2-D finite floating array, or a one-line ValueError naming ``name`` and what is wrong."""
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"ridge {name} must be 2-D [samples, {what}], got shape {array.shape}; reshape it")
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float32)
    if np.isfinite(array.sum()):
        # One reduction instead of two full scans: a sum is finite unless an entry is NaN or infinite (or it
        # overflows, which the scans below then clear).
        return array
    n_nan = int(np.count_nonzero(np.isnan(array)))
    if n_nan:
        raise ValueError(f"ridge {name} holds {n_nan} NaN values (shape {array.shape}); impute or drop them first")
    n_inf = int(np.count_nonzero(np.isinf(array)))
    if n_inf:
        raise ValueError(f"ridge {name} holds {n_inf} infinite values (shape {array.shape}); clip or drop them first")
    return array


def check_splits(splits: Sequence[Split], n_samples: int) -> list[Split]:
    """Integer index arrays per fold, checked: in range, no duplicates, no overlap; or a one-line ValueError."""
    if len(splits) == 0:
        raise ValueError("ridge splits is empty; pass at least one (train_idx, val_idx, test_idx)")
    held_by = np.full(n_samples, -1)
    checked = []
    for fold, split in enumerate(splits):
        if len(split) != 3:
            raise ValueError(f"ridge split {fold} has {len(split)} parts; each must be (train_idx, val_idx, test_idx)")
        parts = []
        for part_name, part in zip(("train", "val", "test"), split):
            index = np.asarray(part).ravel()
            if index.size and not np.issubdtype(index.dtype, np.integer):
                raise ValueError(f"ridge split {fold} {part_name} indices are {index.dtype}, not integers")
            index = index.astype(np.intp)
            if index.size and (index.min() < 0 or index.max() >= n_samples):
                raise ValueError(f"ridge split {fold} {part_name} indices leave [0, {n_samples}); fix the splits")
            if index.size and np.bincount(index, minlength=n_samples).max() > 1:
                raise ValueError(f"ridge split {fold} {part_name} repeats indices; each row may appear once")
            parts.append(index)
        train, val, test = parts
        if train.size < 2 or val.size < 2:
            raise ValueError(
                f"ridge split {fold} has {train.size} training and {val.size} validation rows; each needs >= 2"
            )
        held = np.concatenate([val, test])
        if np.bincount(np.concatenate([train, held]), minlength=n_samples).max() > 1:
            raise ValueError(f"ridge split {fold} reuses rows between train, val and test; make them disjoint")
        if (held_by[held] >= 0).any():
            raise ValueError(
                f"ridge split {fold} holds out rows already held out by fold {held_by[held].max()}; "
                "a row may be held out by one fold only"
            )
        held_by[held] = fold
        checked.append((train, val, test))
    return checked


def check_inputs(
    X: np.ndarray, Y: np.ndarray, splits: Sequence[Split], alphas: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[Split], np.ndarray]:
    """Validate and normalise the engine's inputs (shapes, finiteness, splits, alphas)."""
    X = check_array("X", X, "features")
    Y = check_array("Y", Y, "targets")
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"ridge X has {X.shape[0]} rows but Y has {Y.shape[0]}; they must describe the same events")
    alphas = np.asarray(alphas, dtype=np.float64).ravel()
    if alphas.size == 0 or not np.all(np.isfinite(alphas)) or np.any(alphas <= 0):
        raise ValueError(f"ridge alphas must be finite and > 0, got {alphas.tolist()}")
    return X, Y, check_splits(splits, X.shape[0]), alphas


#: Compute dtypes of the engine's products.
DTYPES = (torch.float32, torch.float64)
#: The engine's solvers: by fold shape, or forced.
SOLVERS = ("auto", "primal", "dual")


def check_options(
    *, solver: str, dtype: torch.dtype, targets_batch: int | None, memory_gb: float | None, n_threads: int | None = None
) -> None:
    """Reject options the engine does not know and options that cannot be combined, rather than ignore one.

    Raises
    ------
    ValueError
        An unknown solver or compute dtype; ``targets_batch`` or ``n_threads`` below 1; or both ``targets_batch`` and
        ``memory_gb`` (the memory budget only sizes the batches the planner chooses, so with a fixed batch it would be
        ignored).
    """
    if solver not in SOLVERS:
        raise ValueError(f"ridge solver must be 'auto', 'primal' or 'dual', got {solver!r}")
    if dtype not in DTYPES:
        raise ValueError(f"ridge dtype must be torch.float32 or torch.float64, got {dtype}")
    if targets_batch is not None and targets_batch < 1:
        raise ValueError(f"ridge targets_batch must be >= 1 or None, got {targets_batch}")
    if n_threads is not None and n_threads < 1:
        raise ValueError(f"ridge n_threads must be >= 1 or None (torch's setting), got {n_threads}")
    if targets_batch is not None and memory_gb is not None:
        raise ValueError(
            f"ridge targets_batch={targets_batch} and memory_gb={memory_gb} cannot be combined: memory_gb only sizes "
            "the batches the planner chooses; pass one of them"
        )
