"""The models the figures show, chosen by the statistics so that the figures only draw them.

A figure never chooses its model on the test scores it then shows: the trained-vs-random figure pairs each trained
registry entry with its own random-init twins, and the time courses show, per category, the model the comparisons
chose as the electrodes' best of that family (on validation scores; :mod:`vlencode.stats.compare`).  Whether a model
is a registry entry or a twin, and whether it is a linear-integration baseline, comes from the run's model instances
(:class:`vlencode.models.ModelInstance`, passed as ``models``: instance name -> ``base, family, init, components``),
never from its name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

#: The categories whose sites have a best model of the same family (``none`` has none).
RESPONSIVE = ("vision", "language", "multimodal")


@dataclass(frozen=True)
class ShownModels:
    """What the figures show (:func:`shown_models`).

    Attributes
    ----------
    twins : list of (entry, list of its random-init twins)
        For the trained-vs-random figure.
    best : DataFrame
        :func:`best_model_per_category`, for the time courses (empty without a sites table).
    """

    twins: list[tuple[str, list[str]]]
    best: pd.DataFrame


def _instances(names: Iterable[str], models: Mapping[str, Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    names = sorted(set(map(str, names)))
    unknown = [n for n in names if n not in models]
    if unknown:
        raise ValueError(f"models {unknown} of the scores table are not among the run's model instances")
    return {n: models[n] for n in names}


def twin_pairs(names: Iterable[str], models: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, list[str]]]:
    """(trained registry entry, its random-init twins) for every trained entry among ``names`` with twins there.

    Raises
    ------
    ValueError
        If a name is not a model instance of ``models``.
    """
    present = _instances(names, models)
    twins: dict[str, list[str]] = {}
    for name, meta in present.items():
        base = str(meta["base"])
        if base != name and base in present and present[base]["init"] == "trained":
            twins.setdefault(base, []).append(name)
    return sorted(twins.items())


def best_model_per_category(
    scores: pd.DataFrame, sites: pd.DataFrame, models: Mapping[str, Mapping[str, Any]]
) -> pd.DataFrame:
    """For each keep rule, alignment and responsive category: the model whose time course is shown at the category's
    sites, never chosen on the test scores then shown.

    Where the sites table names each electrode's best model of the family (``best_<family>_model``, chosen per
    electrode on validation scores by :mod:`vlencode.stats.compare`), the model chosen at most of the sites (ties: the
    higher mean validation r); otherwise the registry entry of that family with the highest mean validation r over
    the sites.  Candidates are registry entries only, as in the statistics: no random-init twin and no
    linear-integration baseline (an instance with ``components``), which is a baseline of multimodality, not a
    multimodal network.

    Returns
    -------
    DataFrame
        Columns ``keep_rule, alignment, category, model, n_sites``.

    Raises
    ------
    ValueError
        If the scores name a model that is not a model instance of ``models``.
    """
    present = _instances(scores["model"], models)
    entries = [n for n, meta in present.items() if meta["base"] == n and not meta["components"]]
    per = _electrode_validation(scores[scores["model"].astype(str).isin(entries)])
    rows = []
    for (keep_rule, alignment, category), part in sites.groupby(["keep_rule", "alignment", "category"]):
        if category not in RESPONSIVE or alignment not in set(per["alignment"]):
            continue
        keys = part[["subject", "electrode"]].astype(str)
        chosen = per[(per["alignment"] == alignment) & (per["family"] == category)].merge(keys)
        if chosen.empty:
            continue
        validation = chosen.groupby("model")["val_r"].mean()
        column = f"best_{category}_model"
        picks = part[column].astype(str) if column in part else pd.Series(dtype=str)
        votes = picks[picks.isin(validation.index)].value_counts()
        if len(votes):
            ranked = pd.DataFrame({"votes": votes, "val_r": validation.reindex(votes.index)})
            best = ranked.sort_values(["votes", "val_r"], ascending=False).index[0]
        else:
            best = validation.idxmax()
        rows.append((keep_rule, alignment, category, best, len(keys)))
    return pd.DataFrame(rows, columns=["keep_rule", "alignment", "category", "model", "n_sites"])


def _electrode_validation(scores: pd.DataFrame) -> pd.DataFrame:
    """Per subject, alignment, model and electrode: validation r averaged over every bin of the epoch."""
    keys = ["subject", "alignment", "model", "family", "init", "electrode"]
    return scores.groupby(keys, sort=True)[["val_r"]].mean().reset_index()


def shown_models(tables: Mapping[str, pd.DataFrame], models: Mapping[str, Mapping[str, Any]]) -> ShownModels:
    """The models every figure shows, from the run's ``scores`` (and ``sites``, when the run has them) tables."""
    scores = tables["scores"]
    best = (
        best_model_per_category(scores, tables["sites"], models)
        if "sites" in tables
        else pd.DataFrame(columns=["keep_rule", "alignment", "category", "model", "n_sites"])
    )
    return ShownModels(twin_pairs(scores["model"], models), best)
