"""One subject's comparisons and selection from its fit stores: every alignment and keep rule (rule ``compare``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from vlencode.stats.compare import (
    COMPARISON_COLUMNS,
    SELECTION_COLUMNS,
    ModelScores,
    compare_alignment,
    empty_table,
)
from vlencode.stats.keep import keep_rule, warn_alpha_edge, warn_few_resamples
from vlencode.stores.fit import FitStore

log = logging.getLogger("vlencode.stats")


def compare_subject(
    subject: str,
    fit_paths: Mapping[str, str | os.PathLike],
    *,
    keep_rules: Sequence[str],
    ci: float,
    min_bins: int,
    alpha_edge_fraction: float,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every comparison and selection of one subject (:func:`vlencode.stats.compare.compare_alignment`) under every
    keep rule.

    Parameters
    ----------
    subject : str
    fit_paths : mapping of model instance -> fit store
    keep_rules : sequence of rule names (``paper``, ``calibrated``)
    ci : float
        Coverage of the percentile bounds.
    min_bins : int
        Selected bins each model needs for a comparison.
    alpha_edge_fraction : float
        Warn when more than this fraction of a fit's targets chose an edge alpha of its grid.

    Returns
    -------
    comparisons : DataFrame
        Columns :data:`vlencode.stats.compare.COMPARISON_COLUMNS`.
    selection : DataFrame
        Columns :data:`vlencode.stats.compare.SELECTION_COLUMNS`.
    """
    rules = [keep_rule(name) for name in keep_rules]
    stores = {name: FitStore(path) for name, path in fit_paths.items()}
    electrodes, bin_time_s = _shared_targets(stores.values())
    alignments: list[str] = []
    for name, store in stores.items():
        for alignment in store.alignments:
            warn_alpha_edge(
                store.scores(alignment)["alpha"],
                store.alpha_grid,
                alpha_edge_fraction,
                f"sub-{subject} model-{name} {alignment}",
            )
            alignments += [alignment] if alignment not in alignments else []
    frames, selections = [], []
    # One alignment at a time: every model's resampled scores of one alignment are in memory together.
    for alignment in alignments:
        scores = [m for store in stores.values() for m in model_scores(store, alignment)]
        for rule in rules:
            warn_few_resamples(rule, len(scores[0].boot[f"{rule.scheme}_test_r"]), f"sub-{subject} {alignment}")
            table, selection = compare_alignment(
                scores,
                rule,
                ci=ci,
                min_bins=min_bins,
                electrodes=electrodes,
                bin_time_s=bin_time_s,
                subject=subject,
                alignment=alignment,
            )
            frames.append(table)
            selections.append(selection)
            _log_tested(table, f"sub-{subject} {alignment} {rule.name}")
    if not frames:
        return empty_table(COMPARISON_COLUMNS), empty_table(SELECTION_COLUMNS)
    return pd.concat(frames, ignore_index=True), pd.concat(selections, ignore_index=True)


def _log_tested(table: pd.DataFrame, where: str) -> None:
    tested = table[table["eligible"]]
    n_low = int((tested["p"] <= 0.05).sum())
    log.info("%s: %d comparisons on eligible electrodes, %d with p <= 0.05", where, len(tested), n_low)


def _shared_targets(stores: Iterable[FitStore]) -> tuple[np.ndarray, np.ndarray]:
    """The electrodes and bin times (s) every fit shares, so that their comparisons pair target by target.

    Raises
    ------
    ValueError
        If a fit's electrodes or time bins differ from the first fit's.
    """
    stores = list(stores)
    if not stores:
        return np.array([], dtype=object), np.array([], dtype=np.float64)
    electrodes, bin_time_s = stores[0].electrode, stores[0].bin_time_s
    for store in stores[1:]:
        if not np.array_equal(store.electrode, electrodes):
            raise ValueError(
                f"{store.path}: electrodes differ from the subject's other fits; rerun fit for every model"
            )
        if store.bin_time_s.shape != bin_time_s.shape or not np.allclose(store.bin_time_s, bin_time_s):
            raise ValueError(f"{store.path}: time bins differ from the subject's other fits; rerun fit for every model")
    return electrodes, bin_time_s


def model_scores(store: FitStore, alignment: str) -> list[ModelScores]:
    """The bootstrapped fits of one fit store and alignment as :class:`vlencode.stats.compare.ModelScores`.

    One per resampled layer: the chosen layer, or both fits of a concatenation baseline; the instance's entry,
    components and pair are the store's :class:`vlencode.stores.fit.ModelIdentity`.  Resampled scores stay float16
    as stored (half the memory at paper scale); the statistics compute in float32.
    """
    out = []
    for layer in store.boot_layers(alignment):
        scores = store.scores(alignment, layer)
        out.append(
            ModelScores(
                name=str(store.model["model"]),
                base=store.identity.base,
                family=str(store.model["family"]),
                init=str(store.model["init"]),
                layer=layer,
                val_r=np.asarray(scores["val_r"], dtype=np.float32),
                test_r=np.asarray(scores["test_r"], dtype=np.float32),
                boot=store.boot(alignment, layer),
                baseline=bool(store.identity.components),
                pair=store.identity.pair,
            )
        )
    return out
