"""Layer screening against the full layer search: on any layer search, and on the harness's multi-layer networks.

:func:`timed_searches` runs one (subject, model, alignment)'s layer search by every method (``validation``, the full
search; ``screen``; ``last``) and reports the chosen layer, the layers fitted to all targets and the seconds.
:func:`harness_agreement` does so for the harness's multi-layer networks (planted signal in a known layer that is not
the last, :func:`vlencode.validation.harness.layer_weights`), and compares the site calls of the whole harness
statistics under each method with the full search's (Cohen's kappa, :func:`vlencode.validation.harness.call_agreement`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from vlencode.encoding import Design, RidgeSettings, Screening, Split, contiguous_splits, search_layers
from vlencode.validation import harness

#: The layer-search methods compared: the full search first (the reference).
METHODS = ("validation", "screen", "last")


def timed_searches(
    design_of: Callable[[str], Design],
    candidates: Sequence[str],
    targets: np.ndarray,
    splits: Sequence[Split],
    settings: RidgeSettings,
    screening: Screening,
    shape: tuple[int, int],
    name: str = "events",
) -> list[dict[str, object]]:
    """One row per method of :data:`METHODS`: ``method, chosen, fitted`` (layers fitted to all targets),
    ``candidates`` and ``seconds`` (wall time of the search)."""
    rows: list[dict[str, object]] = []
    for method in METHODS:
        start = time.perf_counter()
        found = search_layers(
            design_of,
            candidates,
            targets,
            splits,
            settings,
            shape=shape,
            layer_selection=method,
            screening=screening,
            name=name,
        )
        rows.append(
            {
                "method": method,
                "chosen": found.chosen,
                "fitted": len(found.layers),
                "candidates": len(candidates),
                "seconds": time.perf_counter() - start,
            }
        )
    return rows


def same_layer(searches: pd.DataFrame) -> pd.DataFrame:
    """Per method: of the searches (rows of :func:`timed_searches` with identifying columns), how many chose the full
    search's layer (``same_layer``, ``fraction``), layers fitted in full per search and seconds summed."""
    keys = [c for c in searches.columns if c not in ("method", "chosen", "fitted", "candidates", "seconds")]
    full = searches[searches["method"] == "validation"].set_index(keys)["chosen"]
    out = []
    for method, group in searches.groupby("method", sort=False):
        indexed = group.set_index(keys)["chosen"]
        same = indexed == full.reindex(indexed.index)
        out.append(
            {
                "method": method,
                "same_layer": int(same.sum()),
                "searches": len(same),
                "fraction": float(same.mean()),
                "fitted_per_search": float(group["fitted"].mean()),
                "candidates_per_search": float(group["candidates"].mean()),
                "seconds": float(group["seconds"].sum()),
            }
        )
    return pd.DataFrame(out)


def harness_agreement(
    config: harness.HarnessConfig, screening: Screening, seeds: Sequence[int]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Screening and ``last`` against the full search on the harness's multi-layer networks.

    Parameters
    ----------
    config : HarnessConfig
        With ``layers`` > 1 and ``planted_layer`` < ``layers - 1`` (a planted layer that is the last would favour
        ``last``).
    screening : Screening
    seeds : sequence of int
        Simulated subjects.

    Returns
    -------
    searches : DataFrame
        :func:`timed_searches` rows with ``seed, alignment, model, planted`` (the planted layer's name).
    calls : DataFrame
        ``seed, method, keep_rule, alignment, metric, value``: kappa of the site calls of the harness's statistics
        with the layers each method chose, against those of the full search.
    """
    if not 0 <= config.planted_layer < config.layers - 1:
        raise ValueError(f"planted_layer must be below the last of {config.layers} layers, got {config.planted_layer}")
    settings = config.ridge_settings()
    searches, calls = [], []
    for seed in seeds:
        subject = replace(config, seed=seed)
        sim = harness.simulate(subject)
        for alignment, onset in sim.onset_s.items():
            targets = sim.response[alignment]
            shape = (len(sim.truth), targets.shape[1] // len(sim.truth))
            splits = contiguous_splits(np.zeros(len(onset), dtype=str), config.n_folds)
            for model in harness.NETWORKS:
                layers = harness.layer_names(model, config)
                for row in timed_searches(
                    sim.features[alignment].__getitem__,
                    layers,
                    targets,
                    splits,
                    settings,
                    screening,
                    shape,
                    harness.events_name(alignment),
                ):
                    searches.append(
                        {"seed": seed, "alignment": alignment, "model": model, "planted": layers[config.planted_layer]}
                        | row
                    )
        sites = {}
        for method in METHODS:
            scores = harness.score_models(sim, subject, layer_selection=method, screening=screening)
            sites[method] = harness.statistics(sim, scores, subject)[1]
        for method in METHODS[1:]:
            kappa = harness.call_agreement(sites["validation"], sites[method], config.min_bins)
            calls.append(kappa.assign(seed=seed, method=method))
    return pd.DataFrame(searches), pd.concat(calls, ignore_index=True)
