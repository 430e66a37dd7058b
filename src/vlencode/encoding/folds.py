"""Cross-validation folds of the encoding protocol, and the choice of the reported layer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

Split = tuple[np.ndarray, np.ndarray, np.ndarray]


def contiguous_splits(trial_of_event: Sequence[str] | np.ndarray, n_folds: int, name: str = "events") -> list[Split]:
    """Contiguous cross-validation folds that never straddle a trial boundary.

    Each trial's events (a contiguous run of ``trial_of_event``) are cut into ``n_folds`` contiguous blocks whose
    sizes differ by at most one, the longer blocks first (as ``sklearn.model_selection.KFold`` without shuffling).  Fold
    ``k`` holds out the k-th block of every trial and trains on all other events.  Each held-out block is split in
    half in event order: its first ``ceil(m / 2)`` events validate, the rest test.  With one trial this is exactly
    ``KFold(n_folds)`` followed by the half split.

    Parameters
    ----------
    trial_of_event : sequence of str, length n_events
        The trial of every event, in fit order; each trial's events must be contiguous.
    n_folds : int
    name : str
        Names the events in errors, e.g. ``"sub-1 word events"``.

    Returns
    -------
    list of (train, val, test) int64 index arrays, one per fold
        Every event is in exactly one validation or test set.

    Raises
    ------
    ValueError
        When a trial's events are not contiguous, or a fold would have fewer than 2 validation or 2 test events
        (a Pearson r needs two points) or fewer than 2 training events.
    """
    trial_of_event = np.asarray(trial_of_event)
    n_events = len(trial_of_event)
    if n_folds < 2:
        raise ValueError(f"{name}: n_folds must be at least 2, got {n_folds}")
    starts = np.flatnonzero(np.r_[True, trial_of_event[1:] != trial_of_event[:-1]]) if n_events else np.array([], int)
    if len(set(trial_of_event[starts].tolist())) != len(starts):
        raise ValueError(f"{name}: a trial's events are not contiguous; order events by trial before splitting")
    stops = np.r_[starts[1:], n_events]
    held_out: list[list[np.ndarray]] = [[] for _ in range(n_folds)]
    for start, stop in zip(starts, stops):
        for fold, block in enumerate(np.array_split(np.arange(start, stop), n_folds)):
            held_out[fold].append(block)
    splits = []
    for fold, blocks in enumerate(held_out):
        val = np.concatenate([b[: (len(b) + 1) // 2] for b in blocks]).astype(np.int64)
        test = np.concatenate([b[(len(b) + 1) // 2 :] for b in blocks]).astype(np.int64)
        train = np.setdiff1d(np.arange(n_events), np.concatenate([val, test])).astype(np.int64)
        if min(len(val), len(test), len(train)) < 2:
            sizes = dict(zip(*np.unique(trial_of_event, return_counts=True)))
            raise ValueError(
                f"{name}: {n_events} events (per trial { ({str(k): int(v) for k, v in sizes.items()}) }) leave fold "
                f"{fold} with {len(train)} training, {len(val)} validation and {len(test)} test events; "
                f"{n_folds} folds need at least 2 of each: lower encoding.n_folds or drop this alignment"
            )
        splits.append((train, val, test))
    return splits


def select_layer(mean_val_r: Mapping[str, float], method: str) -> str:
    """The layer whose fit is reported: best mean validation r over all targets, or the last layer.

    Parameters
    ----------
    mean_val_r : mapping of layer name -> mean validation r, in the model's layer order
    method : {"validation", "last"}
        Ties in validation score go to the earlier layer.
    """
    if not mean_val_r:
        raise ValueError("no layers to choose from")
    layers = list(mean_val_r)
    if method == "last":
        return layers[-1]
    if method != "validation":
        raise ValueError(
            f"encoding.layer_selection: unknown method {method!r}; use validation or last (screen ends in validation)"
        )
    scores = np.array([mean_val_r[layer] for layer in layers], dtype=np.float64)
    return layers[int(np.argmax(np.nan_to_num(scores, nan=-np.inf)))]
