"""Quality-control tables derived from what the workflow's stores record: the figures' only source for QC.

- channels: every channel of every trial, kept or dropped with the reason the neural store records;
- clock: the drift check of every trial's clock alignment (the largest trigger-to-trigger residual);
- events: events of every trial and alignment, valid or excluded, per reason the events table records;
- alpha edge: the share of targets (electrode x bin) whose chosen ridge penalty sits on the edge of the grid —
  an alpha on the lower edge means the grid may stop too early, on the upper edge that the target is predicted by
  nothing but its mean.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from os import PathLike

import numpy as np
import pandas as pd

from vlencode.datasets import Dataset
from vlencode.store import read_parquet
from vlencode.stores.fit import FitStore
from vlencode.stores.neural import NeuralStore

CHANNEL_COLUMNS = ["subject", "trial", "electrode", "status", "reason_kind", "reason"]
CLOCK_COLUMNS = ["subject", "trial", "rate_hz", "max_residual_samples", "max_residual_ms", "n_triggers"]
EVENT_COLUMNS = ["subject", "trial", "alignment", "reason", "n_events"]
ALPHA_EDGE_COLUMNS = [
    "subject",
    "alignment",
    "model",
    "family",
    "init",
    "n_targets",
    "n_low_edge",
    "n_high_edge",
    "share_edge",
]
#: The tables of the ``qc`` rule, in the order :func:`qc_tables` returns them.
QC_TABLES = ("channels", "clock", "events", "alpha_edge")
#: The reason of a valid event in the events QC table.
VALID = "valid"


def reason_kind(reason: str) -> str:
    """The kind of a drop reason, without its numbers: ``flat: std 0.0001 uV < ...`` -> ``flat``,
    ``NaN run of 0.3 s (> ...)`` -> ``NaN run``, ``laplacian: no same-shaft neighbour`` -> ``laplacian``."""
    head = re.split(r"[:(0-9]", str(reason), maxsplit=1)[0].strip()
    return re.sub(r"\s+of$", "", head) or str(reason)


def channel_table(neural_paths: Mapping[tuple[str, str], str | PathLike]) -> pd.DataFrame:
    """One row per channel of each neural store (keyed by ``(subject, trial)``): :data:`CHANNEL_COLUMNS`."""
    rows = []
    for (subject, trial), path in neural_paths.items():
        store = NeuralStore(path)
        rows += [[subject, trial, label, "kept", "", ""] for label in store.electrode]
        dropped = sorted(store.dropped_channels.items())
        rows += [[subject, trial, label, "dropped", reason_kind(str(r)), r] for label, r in dropped]
    return pd.DataFrame(rows, columns=CHANNEL_COLUMNS)


def clock_table(dataset: Dataset, recordings: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """The drift check of each recording's clock alignment (:data:`CLOCK_COLUMNS`; residuals in samples and ms)."""
    rows = []
    for subject, trial in recordings:
        clock = dataset.clock(subject, trial)
        residual = float(clock.max_residual_samples)
        rows.append(
            [subject, trial, float(clock.rate_hz), residual, 1000 * residual / clock.rate_hz, len(clock.sample)]
        )
    return pd.DataFrame(rows, columns=CLOCK_COLUMNS)


def event_table(event_paths: Mapping[tuple[str, str], str | PathLike]) -> pd.DataFrame:
    """Events per subject, trial, alignment and reason (``valid`` or the exclusion reason): :data:`EVENT_COLUMNS`."""
    frames = []
    for (subject, trial), path in event_paths.items():
        events = read_parquet(path)
        reason = np.where(events["valid"].to_numpy(bool), VALID, events["invalid_reason"].astype(str).to_numpy())
        counts = events.assign(reason=reason).groupby(["alignment", "reason"], sort=True).size()
        frames.append(counts.rename("n_events").reset_index().assign(subject=subject, trial=trial))
    if not frames:
        return pd.DataFrame(columns=EVENT_COLUMNS)
    return pd.concat(frames, ignore_index=True)[EVENT_COLUMNS].astype({"n_events": np.int64})


def alpha_edge_table(scores: pd.DataFrame, alpha_grids: Mapping[tuple[str, str], np.ndarray]) -> pd.DataFrame:
    """Share of targets whose alpha is on the edge of the grid, per subject, alignment and model.

    Parameters
    ----------
    scores : DataFrame
        The scores table (``alpha``: per target, the median over folds of the chosen alpha).
    alpha_grids : mapping of (subject, model) -> ndarray of float, shape (n_alphas,)
        The ridge penalties each fit chose from, ascending, as its fit store records them.

    Returns
    -------
    DataFrame :data:`ALPHA_EDGE_COLUMNS`.  An alpha counts as on an edge when its log10 is within 1e-3 of the grid's
    first or last value (so at least half the folds chose that edge).

    Raises
    ------
    ValueError
        A (subject, model) of the scores table has no grid.
    """
    keys = ["subject", "model"]
    missing = sorted(set(map(tuple, scores[keys].astype(str).to_numpy().tolist())) - set(alpha_grids))
    if missing:
        raise ValueError(f"no alpha grid for the fits of (subject, model) {missing}; rerun qc with their fit stores")
    edges = pd.DataFrame(
        [(s, m, np.log10(grid[0]), np.log10(grid[-1])) for (s, m), grid in alpha_grids.items()],
        columns=[*keys, "log10_min", "log10_max"],
    )
    grid_edges = scores[keys].astype(str).merge(edges, on=keys, how="left", validate="many_to_one")
    log_alpha = np.log10(scores["alpha"].to_numpy(np.float64))
    table = scores[["subject", "alignment", "model", "family", "init"]].assign(
        low=np.isclose(log_alpha, grid_edges["log10_min"].to_numpy(np.float64), atol=1e-3),
        high=np.isclose(log_alpha, grid_edges["log10_max"].to_numpy(np.float64), atol=1e-3),
    )
    out = (
        table.groupby(["subject", "alignment", "model", "family", "init"], sort=True)
        .agg(n_targets=("low", "size"), n_low_edge=("low", "sum"), n_high_edge=("high", "sum"))
        .reset_index()
    )
    out["share_edge"] = (out["n_low_edge"] + out["n_high_edge"]) / out["n_targets"]
    return out[ALPHA_EDGE_COLUMNS].astype({"n_low_edge": np.int64, "n_high_edge": np.int64})


def alpha_grids(fit_paths: Sequence[str | PathLike]) -> dict[tuple[str, str], np.ndarray]:
    """The alpha grid of each fit store, keyed by ``(subject, model)``."""
    grids = {}
    for path in fit_paths:
        fit = FitStore(path)
        grids[(fit.subject, str(fit.model["model"]))] = fit.alpha_grid
    return grids


def qc_tables(
    dataset: Dataset,
    neural_paths: Mapping[tuple[str, str], str | PathLike],
    event_paths: Mapping[tuple[str, str], str | PathLike],
    scores_path: str | PathLike,
    fit_paths: Sequence[str | PathLike],
) -> dict[str, pd.DataFrame]:
    """The four QC tables of the ``qc`` rule: ``channels``, ``clock``, ``events`` and ``alpha_edge`` (the alpha
    grids read from the fit stores the scores table was built from)."""
    return {
        "channels": channel_table(neural_paths),
        "clock": clock_table(dataset, list(neural_paths)),
        "events": event_table(event_paths),
        "alpha_edge": alpha_edge_table(read_parquet(scores_path), alpha_grids(fit_paths)),
    }
