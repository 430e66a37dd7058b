"""Recovery of a replica's planted truth: precision, recall and false-positive rate of what the statistics call.

A planted contact is *called* (per keep rule and alignment):

- ``vision`` when the best trained vision model keeps at least ``min_bins`` of its bins (the replica plants vision at
  scene cuts, so the scene alignment is the one that counts: ``primary``);
- ``language`` when the best trained language model keeps at least ``min_bins`` bins (primary: word alignment);
- ``multimodal`` when it is a multimodal site (primary: word alignment).

Denominators are contacts that survive preprocessing (those in the sites table).  Laplacian re-referencing puts part of
a responsive contact's signal into its shaft neighbours, so silent (``none``) contacts next to a planted one on the
same shaft are counted apart (``n_neighbours``, ``n_called_neighbours``) and left out of the false-positive rate and of
precision.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vlencode.datasets.base import split_label

#: Columns of the recovery table.
RECOVERY_COLUMNS = [
    "keep_rule",
    "alignment",
    "category",
    "primary",
    "n_planted",
    "n_called",
    "n_true_called",
    "precision",
    "recall",
    "false_positive_rate",
    "n_silent",
    "n_called_silent",
    "n_neighbours",
    "n_called_neighbours",
]
PRIMARY_ALIGNMENT = {"vision": "scene", "language": "word", "multimodal": "word"}


def planted_neighbours(truth: pd.DataFrame) -> pd.Series:
    """For every contact of the ground truth: silent and adjacent on its shaft to a planted (responsive) contact."""
    parsed = truth["electrode"].map(split_label)
    shaft = parsed.map(lambda x: x[0])
    number = parsed.map(lambda x: x[1])
    planted = truth["category"].ne("none") & ~truth["corrupted"].astype(bool)
    out = np.zeros(len(truth), dtype=bool)
    keys = list(zip(truth["subject"].astype(str), shaft, number))
    responsive = {k for k, p in zip(keys, planted) if p}
    for i, (subject, s, n) in enumerate(keys):
        if truth["category"].iloc[i] == "none":
            out[i] = (subject, s, n - 1) in responsive or (subject, s, n + 1) in responsive
    return pd.Series(out, index=truth.index)


def called(sites: pd.DataFrame, category: str, min_bins: int) -> pd.Series:
    """Whether each sites row calls a contact of ``category`` (module docstring)."""
    if category == "multimodal":
        return sites["category"].eq("multimodal")
    return sites[f"n_kept_best_{category}"].ge(min_bins)


def recovery_table(sites: pd.DataFrame, truth: pd.DataFrame, min_bins: int) -> pd.DataFrame:
    """Precision, recall and false-positive rate per keep rule, alignment and planted category.

    Parameters
    ----------
    sites : DataFrame
        :func:`vlencode.stats.sites.sites_table` (alignment ``both`` is skipped).
    truth : DataFrame
        The replica's ``ground_truth.parquet``: ``subject, electrode, category, corrupted``.
    min_bins : int

    Returns
    -------
    DataFrame with columns :data:`RECOVERY_COLUMNS`
    """
    truth = truth.assign(subject=truth["subject"].astype(str), electrode=truth["electrode"].astype(str))
    truth = truth.assign(neighbour=planted_neighbours(truth))
    sites = sites[sites["alignment"] != "both"]
    merged = sites.merge(
        truth[["subject", "electrode", "category", "neighbour"]],
        on=["subject", "electrode"],
        how="left",
        suffixes=("", "_planted"),
    )
    if merged["category_planted"].isna().any():
        missing = merged.loc[merged["category_planted"].isna(), "electrode"].unique()[:5]
        raise ValueError(f"electrodes {list(missing)} are not in the replica's ground truth; rebuild the replica")
    rows = []
    for (rule, alignment), group in merged.groupby(["keep_rule", "alignment"], sort=True):
        for category in ("vision", "language", "multimodal"):
            call = called(group, category, min_bins).to_numpy(bool)
            planted = group["category_planted"].eq(category).to_numpy()
            neighbour = group["neighbour"].to_numpy(bool)
            silent = group["category_planted"].eq("none").to_numpy() & ~neighbour
            counted = ~neighbour
            n_called = int((call & counted).sum())
            n_true = int((call & planted).sum())
            rows.append(
                {
                    "keep_rule": rule,
                    "alignment": alignment,
                    "category": category,
                    "primary": PRIMARY_ALIGNMENT[category] == alignment,
                    "n_planted": int(planted.sum()),
                    "n_called": n_called,
                    "n_true_called": n_true,
                    "precision": n_true / n_called if n_called else np.nan,
                    "recall": n_true / planted.sum() if planted.sum() else np.nan,
                    "false_positive_rate": (call & silent).sum() / silent.sum() if silent.sum() else np.nan,
                    "n_silent": int(silent.sum()),
                    "n_called_silent": int((call & silent).sum()),
                    "n_neighbours": int(neighbour.sum()),
                    "n_called_neighbours": int((call & neighbour).sum()),
                }
            )
    return pd.DataFrame(rows, columns=RECOVERY_COLUMNS)


def recovery_from_files(sites_path: str, truth_path: str, *, min_bins: int) -> pd.DataFrame:
    """:func:`recovery_table` of a sites table and a replica's ``ground_truth.parquet``."""
    from vlencode.store import read_parquet

    return recovery_table(read_parquet(sites_path), read_parquet(truth_path), min_bins)
