"""Multimodal sites: false-discovery control over all subjects, the tests of multimodality, categories per electrode.

Benjamini-Hochberg (``scipy.stats.false_discovery_control``) runs within each comparison x alignment x keep rule over
every eligible electrode of every subject. A multimodal site is an electrode whose best multimodal network keeps at
least ``min_bins`` bins under the keep rule and beats every comparison named in ``tests`` (default: the best vision
model, the best language model and both fits of the linear-integration baseline); each test is its own boolean column
(``beats_<test>``), and so is the registry pair (``beats_pair``: a multimodal entry beats its controlled unimodal pair),
so any conjunction can be chosen afterwards. An electrode that is no multimodal site is ``vision`` or ``language`` when
the best model of that family keeps at least ``min_bins`` bins (the family with the higher validation score when both
do), else ``none``. The alignment ``both`` marks electrodes with the same category in every alignment.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control

#: Tests of multimodality and the comparison each reads.
TESTS = {
    "best_vision": "multimodal_vs_best_vision",
    "best_language": "multimodal_vs_best_language",
    "concat": "multimodal_vs_concat",
    "concat_banded": "multimodal_vs_concat_banded",
    "pair": "pair",
}
DEFAULT_TESTS = ("best_vision", "best_language", "concat", "concat_banded")
CATEGORIES = ("multimodal", "vision", "language", "none")
_GROUP = ["comparison", "alignment", "keep_rule"]
log = logging.getLogger("vlencode.stats")


def with_fdr(comparisons: pd.DataFrame, q: float) -> pd.DataFrame:
    """The comparisons with ``p_fdr`` (Benjamini-Hochberg within comparison x alignment x keep rule, over all
    subjects' eligible electrodes) and ``significant`` (``p_fdr <= q``); rows without a p keep NaN and False."""
    if not 0 < q < 1:
        raise ValueError(f"statistics.fdr_q must lie in (0, 1), got {q}")
    out = comparisons.copy()
    out["p_fdr"] = np.nan
    tested = out["p"].notna()
    for _, index in out[tested].groupby(_GROUP).groups.items():
        out.loc[index, "p_fdr"] = false_discovery_control(out.loc[index, "p"].to_numpy(np.float64), method="bh")
    out["significant"] = out["p_fdr"].le(q) & tested
    return out


def sites_table(
    comparisons: pd.DataFrame, selection: pd.DataFrame, tests: Sequence[str], min_bins: int
) -> pd.DataFrame:
    """One row per subject x electrode x alignment (word, scene, ..., and ``both``) x keep rule.

    Parameters
    ----------
    comparisons : DataFrame
        :func:`with_fdr` of every subject's comparisons.
    selection : DataFrame
        Every subject's selection table (:data:`vlencode.stats.compare.SELECTION_COLUMNS`): the best models.
    tests : sequence of str
        Tests that make a multimodal site, from :data:`TESTS`.
    min_bins : int

    Returns
    -------
    DataFrame
        ``subject, electrode, alignment, keep_rule, category, best_multimodal_model, best_vision_model,
        best_language_model, n_kept_best_<family>``, ``beats_<test>`` and ``p_fdr_<test>`` for every test of
        :data:`TESTS` (a baseline fitted several times, e.g. two concatenation entries, must be beaten in each;
        the p is the largest), and ``multimodal`` (all of ``tests``, and the best multimodal network keeps at least
        ``min_bins`` bins).
    """
    unknown = sorted(set(tests) - set(TESTS))
    if unknown or not tests:
        raise ValueError(f"statistics.multimodal_tests: unknown or empty {unknown or list(tests)}; use {list(TESTS)}")
    absent = [t for t in tests if not comparisons["comparison"].eq(TESTS[t]).any()]
    if not selection["selection"].eq("best_multimodal").any():
        log.warning("no multimodal network in models.use: no electrode can be a multimodal site")
    elif absent:
        raise ValueError(
            f"statistics.multimodal_tests: no {[TESTS[t] for t in absent]} comparisons in any subject "
            "(no such model in models.use); add the model or drop the test"
        )
    keys = ["subject", "electrode", "alignment", "keep_rule"]
    table = _best_per_electrode(selection, keys)
    for test, comparison in TESTS.items():
        rows = comparisons[comparisons["comparison"] == comparison]
        agg = rows.groupby(keys).agg(all_significant=("significant", "all"), p_fdr=("p_fdr", "max"))
        joined = table.join(agg, on=keys)
        table[f"beats_{test}"] = (
            joined["all_significant"].astype("boolean").fillna(False).astype(bool)
            if test != "pair"
            else _any_pair(table, rows, keys)
        )
        table[f"p_fdr_{test}"] = joined["p_fdr"].to_numpy(np.float64)
    # Eligibility reads validation bounds of the bins compared, not the rule's kept bins: a site must also be an
    # electrode the rule calls responsive to its best multimodal network.
    responsive = table["n_kept_best_multimodal"].to_numpy() >= min_bins
    table["multimodal"] = responsive & np.logical_and.reduce([table[f"beats_{t}"].to_numpy(bool) for t in tests])
    table["category"] = _categories(table, min_bins)
    table = table.drop(columns=[c for c in table if c.startswith("_score_")])
    table = pd.concat([table, _both(table, keys)], ignore_index=True)
    first = ["subject", "electrode", "alignment", "keep_rule", "category", "best_multimodal_model"]
    return table[first + [c for c in table if c not in first]]


def _best_per_electrode(selection: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per ``keys`` with a best model: per family its name, kept bins and (``_score_<family>``) validation
    score, from the selection's ``best_<family>`` rows."""
    best = selection[selection["selection"].str.startswith("best_")]
    table = best.drop_duplicates(keys)[keys].reset_index(drop=True)
    for family in ("vision", "language", "multimodal"):
        rows = best[best["selection"] == f"best_{family}"].set_index(keys)
        joined = table.join(rows[["model", "n_kept", "validation_score"]], on=keys)
        table[f"best_{family}_model"] = joined["model"].fillna("").to_numpy()
        table[f"n_kept_best_{family}"] = joined["n_kept"].fillna(0).astype(int).to_numpy()
        table[f"_score_{family}"] = joined["validation_score"].fillna(-np.inf).to_numpy()
    return table


def _any_pair(table: pd.DataFrame, rows: pd.DataFrame, keys: list[str]) -> np.ndarray:
    agg = rows.groupby(keys)["significant"].any()
    return table.join(agg, on=keys)["significant"].astype("boolean").fillna(False).astype(bool).to_numpy()


def _categories(table: pd.DataFrame, min_bins: int) -> np.ndarray:
    vision = table["n_kept_best_vision"].to_numpy() >= min_bins
    language = table["n_kept_best_language"].to_numpy() >= min_bins
    vision_first = table["_score_vision"].to_numpy() >= table["_score_language"].to_numpy()
    category = np.where(vision & (vision_first | ~language), "vision", np.where(language, "language", "none"))
    return np.where(table["multimodal"].to_numpy(bool), "multimodal", category).astype(object)


def _both(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Rows of alignment ``both``: a category kept in every alignment; tests passed in every alignment."""
    per = ["subject", "electrode", "keep_rule"]
    flags = [c for c in table if c.startswith("beats_")] + ["multimodal"]
    grouped = table.groupby(per, sort=False)
    out = grouped[flags].all()
    categories = grouped["category"].agg(lambda c: c.iloc[0] if c.nunique() == 1 and len(c) > 1 else "none")
    out["category"] = categories
    for column in [c for c in table if c.startswith("p_fdr_")]:
        out[column] = grouped[column].max()
    for column in [c for c in table if c.startswith("best_")]:
        out[column] = grouped[column].agg(lambda c: c.iloc[0] if c.nunique() == 1 else "")
    for column in [c for c in table if c.startswith("n_kept_best_")]:
        out[column] = grouped[column].min()
    return out.reset_index().assign(alignment="both")


def site_counts(sites: pd.DataFrame) -> pd.DataFrame:
    """Electrodes per subject, alignment, keep rule and category (the per-subject site counts), plus totals."""
    counts = sites.groupby(["keep_rule", "alignment", "subject", "category"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=list(CATEGORIES), fill_value=0)
    counts["electrodes"] = counts.sum(axis=1)
    return counts.reset_index()


def warn_p_floor(comparisons: pd.DataFrame, q: float, n_resamples: int, tests: Sequence[str] = ()) -> None:
    """Warn when the bootstrap's smallest p keeps Benjamini-Hochberg from calling a test on its own.

    A bootstrap p is at least ``1 / (n_resamples + 1)``; among ``m`` tests (electrodes, or electrode x model pairs)
    of one comparison x alignment x keep rule, one whose p is that floor while the others' are large gets
    ``p_fdr = m / (n_resamples + 1)``.  Where that exceeds ``q``, Benjamini-Hochberg calls either none of the ``m``
    or at least ``ceil(m / ((n_resamples + 1) q))`` (the k-th smallest p must be <= q k / m), however strong a lone
    effect.  One warning names the largest such group, the largest among the comparisons of the multimodal ``tests``
    (keys of :data:`TESTS`), and the resample counts that lift the limit (``ceil(m / q) - 1``).
    """
    m = comparisons[comparisons["p"].notna()].groupby(_GROUP).size()
    limited = m[m / (n_resamples + 1) > q]
    if limited.empty:
        return

    def group(key: tuple[str, str, str]) -> str:
        (comparison, alignment, rule), size = key, int(limited[key])
        fewest, lifting = math.ceil(size / ((n_resamples + 1) * q)), math.ceil(size / q) - 1
        called = f"none or >= {fewest} called"
        return f"{comparison} ({alignment}, {rule} rule): {size} tests, {called}, {lifting} resamples lift it"

    parts = [f"largest {group(limited.idxmax())}"]
    site_tests = limited[limited.index.get_level_values("comparison").isin([TESTS[t] for t in tests])]
    if not site_tests.empty and site_tests.idxmax() != limited.idxmax():
        parts.append(f"largest of the multimodal-site tests {group(site_tests.idxmax())}")
    log.warning(
        "sites: with %d resamples the smallest bootstrap p is 1/%d, so in %d of %d comparison groups "
        "Benjamini-Hochberg calls either no test or several together, never a lone strong one; %s; raise "
        "bootstrap.n_resamples to lift the limit",
        n_resamples,
        n_resamples + 1,
        len(limited),
        len(m),
        "; ".join(parts),
    )


def sites_from_comparisons(
    paths: Sequence[str],
    selection_paths: Sequence[str],
    *,
    q: float,
    tests: Sequence[str],
    min_bins: int,
    n_resamples: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read every subject's comparisons and selection tables; return the comparisons with :func:`with_fdr` and the
    :func:`sites_table`, after :func:`warn_p_floor` with the fits' ``n_resamples``."""
    from vlencode.store import read_parquet

    comparisons = pd.concat([read_parquet(p) for p in paths], ignore_index=True)
    selection = pd.concat([read_parquet(p) for p in selection_paths], ignore_index=True)
    warn_p_floor(comparisons, q, n_resamples, tests)
    comparisons = with_fdr(comparisons, q)
    return comparisons, sites_table(comparisons, selection, tests, min_bins)
