"""Paired comparisons of two models per electrode, on the subject's shared resamples.

For one electrode, two models and one keep rule: the bins compared are those selected for either model (lower bound of
the validation r under the rule's resampling > 0, :func:`vlencode.stats.keep.selected_for_comparison`) within the rule's
window (``paper``: every bin; ``calibrated``: bins at or after the event onset, by their ``bin_time_s``); the score
compared is the mean *test* r over those bins, a score not used to choose alpha nor to select the bins. The rule's
``eligibility`` names the models that need at least ``min_bins`` selected bins in the window (``paper``: both, as
published; ``calibrated``: model a, the one claimed to win, so that a model that predicts nothing at an electrode can be
beaten there), else the electrode is not eligible (delta and p are NaN). Because every model of a subject and alignment
is scored on the same resamples, the difference of the two means is resampled pairwise; the one-sided p that model a
does not beat model b is ``(1 + #{delta* <= 0}) / (1 + n_resamples)``.

"Best vision", "best language" and "best multimodal" models are chosen per electrode on validation scores (mean over
all bins of the validation r of the model's selected bins, unselected bins counting 0), never on the test scores then
compared.  Candidates are registry entries of the family (not their random-init twins); the linear-integration
baselines (concatenations of feature spaces) are baselines and never a best multimodal model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from vlencode.stats.keep import KeepRule, kept, selected_for_comparison

#: Columns of the comparisons table (rule ``compare``).
COMPARISON_COLUMNS = [
    "subject",
    "alignment",
    "keep_rule",
    "electrode",
    "comparison",
    "model_a",
    "model_b",
    "delta",
    "p",
    "n_bins_a",
    "n_bins_b",
    "n_bins_common",
    "eligible",
    "note",
]
#: The layer names of the linear-integration baseline's two fits, and the comparisons against each.
BASELINE_COMPARISONS = {"concat": "multimodal_vs_concat", "concat-banded": "multimodal_vs_concat_banded"}


@dataclass
class ModelScores:
    """One fit's chosen layer (or one baseline layer) for one subject and alignment.

    Attributes
    ----------
    name : str
        Model instance name (for a baseline layer, the instance name; ``layer`` tells the two fits apart).
    base, family, init : str
        Registry entry, ``vision|language|multimodal``, ``trained|random``.
    layer : str
    val_r, test_r : ndarray of float32, shape (n_electrodes, n_bins)
    boot : dict of ``"<scheme>_<val|test>_r"`` -> ndarray of float32, shape (n_resamples, n_electrodes, n_bins)
    baseline : bool
        A linear-integration baseline (a concatenation of feature spaces).
    pair : str or None
        The registry's controlled pair of this entry.
    """

    name: str
    base: str
    family: str
    init: str
    layer: str
    val_r: np.ndarray
    test_r: np.ndarray
    boot: dict[str, np.ndarray] = field(repr=False)
    baseline: bool = False
    pair: str | None = None

    @property
    def is_entry(self) -> bool:
        """A registry entry itself, not one of its random-init twins."""
        return self.name == self.base


def mean_over_seeds(twins: Sequence[ModelScores], name: str) -> ModelScores:
    """The random-init twins of one entry averaged over seeds: scores and resampled scores, target by target."""
    first = twins[0]
    return ModelScores(
        name=name,
        base=first.base,
        family=first.family,
        init="random",
        layer=first.layer,
        val_r=np.mean([t.val_r for t in twins], axis=0),
        test_r=np.mean([t.test_r for t in twins], axis=0),
        boot={key: np.mean([t.boot[key] for t in twins], axis=0) for key in first.boot},
        baseline=first.baseline,
    )


@dataclass(frozen=True)
class Paired:
    """Per-electrode result of :func:`paired_comparison`; every field has shape (n_electrodes,)."""

    delta: np.ndarray
    p: np.ndarray
    n_bins_a: np.ndarray
    n_bins_b: np.ndarray
    n_bins_common: np.ndarray
    eligible: np.ndarray


def paired_comparison(
    test_a: np.ndarray,
    test_b: np.ndarray,
    boot_a: np.ndarray,
    boot_b: np.ndarray,
    select_a: np.ndarray,
    select_b: np.ndarray,
    min_bins: int,
    eligibility: str = "both",
    window: np.ndarray | None = None,
) -> Paired:
    """Does model a beat model b, per electrode, over the bins selected for either?

    Parameters
    ----------
    test_a, test_b : ndarray, shape (n_electrodes, n_bins)
        Test r of each model.
    boot_a, boot_b : ndarray, shape (n_resamples, n_electrodes, n_bins)
        Their test r under the same resamples.
    select_a, select_b : ndarray of bool, shape (n_electrodes, n_bins)
        Bins selected for each model (on validation scores).
    min_bins : int
        Selected bins (in the window) each model named by ``eligibility`` needs.
    eligibility : ``"both"`` or ``"a"``
        Which models need ``min_bins`` selected bins.
    window : ndarray of bool, shape (n_bins,), optional
        The bins that may enter the comparison (default: all).

    Returns
    -------
    Paired
        ``delta``: mean test r of a minus b over the common bins; ``p``: one-sided bootstrap p of ``delta <= 0``;
        NaN where not eligible.  ``n_bins_a``, ``n_bins_b``: selected bins in the window.
    """
    if eligibility not in ("both", "a"):
        raise ValueError(f"paired_comparison: eligibility must be 'both' or 'a', got {eligibility!r}")
    inside = np.ones(np.shape(select_a)[-1], dtype=bool) if window is None else np.asarray(window, dtype=bool)
    select_a = np.asarray(select_a, dtype=bool) & inside
    select_b = np.asarray(select_b, dtype=bool) & inside
    common = select_a | select_b
    n_common = common.sum(axis=1)
    n_a, n_b = select_a.sum(axis=1), select_b.sum(axis=1)
    eligible = (n_a >= min_bins) & ((n_b >= min_bins) | (eligibility == "a"))
    weight = common / np.maximum(n_common, 1)[:, None]
    delta = ((np.asarray(test_a, np.float64) - np.asarray(test_b, np.float64)) * weight).sum(axis=1)
    boot_delta = np.einsum(
        "reb,eb->re", np.asarray(boot_a, np.float32) - np.asarray(boot_b, np.float32), weight.astype(np.float32)
    )
    p = (1.0 + (boot_delta <= 0).sum(axis=0)) / (1.0 + len(boot_delta))
    return Paired(
        delta=np.where(eligible, delta, np.nan),
        p=np.where(eligible, p, np.nan),
        n_bins_a=n_a,
        n_bins_b=n_b,
        n_bins_common=n_common,
        eligible=eligible,
    )


def validation_score(model: ModelScores, selected: np.ndarray) -> np.ndarray:
    """Per electrode: the validation r of the selected bins, summed and divided by the number of bins."""
    return (np.where(selected, model.val_r, 0.0)).mean(axis=1)


@dataclass
class _Prepared:
    model: ModelScores
    select: np.ndarray
    kept: np.ndarray


def _prepare(model: ModelScores, rule: KeepRule, ci: float) -> _Prepared:
    """A model's bins selected for comparisons and kept under ``rule`` (bands centred on its own scores)."""
    estimate = {"val_r": model.val_r, "test_r": model.test_r}
    return _Prepared(
        model, selected_for_comparison(rule, model.boot, ci, estimate), kept(rule, model.boot, ci, estimate)
    )


def _gather(prepared: Sequence[_Prepared], choice: np.ndarray, scheme: str) -> _Prepared:
    """Per electrode, the arrays of the model ``choice[e]`` indexes (one synthetic model)."""
    rows = np.arange(len(choice))
    key = f"{scheme}_test_r"
    test = np.stack([p.model.test_r for p in prepared])[choice, rows]
    val = np.stack([p.model.val_r for p in prepared])[choice, rows]
    boot = np.stack([p.model.boot[key] for p in prepared])[choice, :, rows].transpose(1, 0, 2)
    model = ModelScores("best", "best", prepared[0].model.family, "", "", val, test, {key: boot})
    return _Prepared(
        model, np.stack([p.select for p in prepared])[choice, rows], np.stack([p.kept for p in prepared])[choice, rows]
    )


def compare_alignment(
    models: Sequence[ModelScores],
    rule: KeepRule,
    *,
    ci: float,
    min_bins: int,
    electrodes: Sequence[str],
    bin_time_s: np.ndarray,
    subject: str,
    alignment: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every comparison of one subject, alignment and keep rule.

    Comparisons (the ``comparison`` column): ``trained_vs_random`` (every model with trained weights against each
    random-init twin; against the twins' mean as ``trained_vs_random_mean`` when there are several seeds; an entry
    that exists only as a random init gets rows labelled in ``note``), ``multimodal_vs_best_vision``,
    ``multimodal_vs_best_language``, ``multimodal_vs_concat``, ``multimodal_vs_concat_banded`` (the best multimodal
    network against each baseline fit), ``pair`` (every registry pair, multimodal member first) and ``equal_skill``
    (two random inits of one architecture: a null comparison).  Rows ``best_<family>`` name the model chosen per
    electrode (on validation scores, among the family's trained entries, or among its untrained ones when it has
    none) (``delta``: its validation score, ``n_bins_a``: its kept bins) and rows ``kept`` give every model's kept
    bins (``n_bins_a``) and bins selected for comparisons (``n_bins_common``), both over the whole epoch; their ``p``
    is NaN.  ``bin_time_s`` (shape (n_bins,), each bin's time in seconds from the event, as the epochs label it: the
    start of its averaging window under ``epochs.window_placement: start``) places the rule's comparison window.

    Returns
    -------
    comparisons : DataFrame
        Columns :data:`COMPARISON_COLUMNS`.
    best : DataFrame
        One row per electrode: ``best_<family>_model`` and its kept bins (``n_kept_best_<family>``) for vision,
        language and multimodal.
    """
    electrodes = np.asarray([str(e) for e in electrodes], dtype=object)
    scheme = rule.scheme
    bin_time_s = np.asarray(bin_time_s, dtype=np.float64)
    if len(models) and bin_time_s.shape != models[0].test_r.shape[-1:]:
        raise ValueError(f"compare_alignment: {bin_time_s.size} bin times for {models[0].test_r.shape[-1]} bins")
    window = None if rule.compare_from_s is None else bin_time_s >= rule.compare_from_s - 1e-9
    prepared = {(m.name, m.layer): _prepare(m, rule, ci) for m in models}
    frames: list[pd.DataFrame] = []

    def add(name: str, a: _Prepared, b: _Prepared, model_a, model_b, note: str = "") -> None:
        key = f"{scheme}_test_r"
        result = paired_comparison(
            a.model.test_r,
            b.model.test_r,
            a.model.boot[key],
            b.model.boot[key],
            a.select,
            b.select,
            min_bins,
            rule.eligibility,
            window,
        )
        frames.append(
            pd.DataFrame(
                {
                    "electrode": electrodes,
                    "comparison": name,
                    "model_a": model_a,
                    "model_b": model_b,
                    "delta": result.delta,
                    "p": result.p,
                    "n_bins_a": result.n_bins_a,
                    "n_bins_b": result.n_bins_b,
                    "n_bins_common": result.n_bins_common,
                    "eligible": result.eligible,
                    "note": note,
                }
            )
        )

    by_name: dict[str, _Prepared] = {}
    for (name, _), prep in prepared.items():
        by_name.setdefault(name, prep)  # a baseline's first layer stands for it in trained vs random
    entries = [p for p in by_name.values() if p.model.is_entry]
    twins_of = {
        e.model.base: [p for p in by_name.values() if p.model.base == e.model.base and not p.model.is_entry]
        for e in entries
    }
    for entry in entries:
        twins = twins_of[entry.model.base]
        if entry.model.init != "trained":
            for twin in twins:
                frames.append(
                    _skipped(
                        electrodes,
                        "trained_vs_random",
                        entry.model.name,
                        twin.model.name,
                        "exists only as a random init: no trained weights",
                    )
                )
            continue
        for twin in twins:
            add("trained_vs_random", entry, twin, entry.model.name, twin.model.name)
        if len(twins) > 1:
            mean = mean_over_seeds([t.model for t in twins], f"{entry.model.base}-random-mean")
            add("trained_vs_random_mean", entry, _prepare(mean, rule, ci), entry.model.name, mean.name)
    # Equal skill: random inits of one architecture (an entry drawn at random and its twins, or twins of one entry).
    for entry in entries:
        randoms = ([entry] if entry.model.init == "random" else []) + twins_of[entry.model.base]
        for a, b in zip(randoms[:-1], randoms[1:]):
            add("equal_skill", a, b, a.model.name, b.model.name)
    for entry in entries:
        partner = entry.model.pair
        if partner and partner in by_name and entry.model.family == "multimodal":
            add("pair", entry, by_name[partner], entry.model.name, partner)

    best = pd.DataFrame({"electrode": electrodes})
    chosen: dict[str, _Prepared] = {}
    for family in ("vision", "language", "multimodal"):
        candidates = [p for p in entries if p.model.family == family and not p.model.baseline]
        # A network without trained weights (an untrained control such as the demo's SLIP/SimCLR pair) stands for
        # its family only where the family has no trained network.
        candidates = [p for p in candidates if p.model.init == "trained"] or candidates
        if not candidates:
            best[f"best_{family}_model"] = ""
            best[f"n_kept_best_{family}"] = 0
            continue
        scores = np.stack([validation_score(p.model, p.select) for p in candidates])
        choice = np.argmax(scores, axis=0)
        chosen[family] = _gather(candidates, choice, scheme)
        best[f"best_{family}_model"] = [candidates[c].model.name for c in choice]
        best[f"n_kept_best_{family}"] = chosen[family].kept.sum(axis=1)
    if "multimodal" in chosen:
        names = best["best_multimodal_model"].to_numpy()
        for family in ("vision", "language"):
            if family in chosen:
                add(
                    f"multimodal_vs_best_{family}",
                    chosen["multimodal"],
                    chosen[family],
                    names,
                    best[f"best_{family}_model"].to_numpy(),
                )
        for (name, layer), prep in prepared.items():
            if prep.model.baseline and prep.model.is_entry and layer in BASELINE_COMPARISONS:
                add(BASELINE_COMPARISONS[layer], chosen["multimodal"], prep, names, f"{name}:{layer}")
    for family in chosen:
        frames.append(
            pd.DataFrame(
                {
                    "electrode": electrodes,
                    "comparison": f"best_{family}",
                    "model_a": best[f"best_{family}_model"],
                    "model_b": "",
                    "delta": validation_score(chosen[family].model, chosen[family].select),
                    "p": np.nan,
                    "n_bins_a": chosen[family].kept.sum(axis=1),
                    "n_bins_b": 0,
                    "n_bins_common": chosen[family].select.sum(axis=1),
                    "eligible": False,
                    "note": "chosen on validation scores; delta: its validation score, n_bins_a: its kept bins",
                }
            )
        )
    for (name, layer), prep in prepared.items():
        frames.append(
            pd.DataFrame(
                {
                    "electrode": electrodes,
                    "comparison": "kept",
                    "model_a": f"{name}:{layer}" if prep.model.baseline else name,
                    "model_b": "",
                    "delta": np.nan,
                    "p": np.nan,
                    "n_bins_a": prep.kept.sum(axis=1),
                    "n_bins_b": 0,
                    "n_bins_common": prep.select.sum(axis=1),
                    "eligible": False,
                    "note": "over the whole epoch: n_bins_a kept bins, n_bins_common bins selected for comparisons",
                }
            )
        )
    if not frames:
        return pd.DataFrame({c: [] for c in COMPARISON_COLUMNS}), best
    out = pd.concat(frames, ignore_index=True)
    out.insert(0, "keep_rule", rule.name)
    out.insert(0, "alignment", alignment)
    out.insert(0, "subject", str(subject))
    return out[COMPARISON_COLUMNS], best


def _skipped(electrodes: np.ndarray, name: str, model_a: str, model_b: str, note: str) -> pd.DataFrame:
    n = len(electrodes)
    return pd.DataFrame(
        {
            "electrode": electrodes,
            "comparison": name,
            "model_a": model_a,
            "model_b": model_b,
            "delta": np.nan,
            "p": np.nan,
            "n_bins_a": np.zeros(n, int),
            "n_bins_b": np.zeros(n, int),
            "n_bins_common": np.zeros(n, int),
            "eligible": False,
            "note": note,
        }
    )
