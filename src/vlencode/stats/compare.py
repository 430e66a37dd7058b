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
baselines (concatenations of feature spaces) are baselines and never a best multimodal model.  Those choices, and every
model's kept bins, are the selection table (:data:`SELECTION_COLUMNS`), apart from the comparisons
(:data:`COMPARISON_COLUMNS`).

Each comparison kind is one entry of :data:`COMPARISONS`: a function from the prepared models (:class:`Zoo`) to the
:class:`Pairing` objects it compares; a new kind is one more function there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
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
#: Columns of the selection table (rule ``compare``): what each model keeps and which model is each family's best.
SELECTION_COLUMNS = [
    "subject",
    "alignment",
    "keep_rule",
    "electrode",
    "selection",
    "model",
    "validation_score",
    "n_kept",
    "n_selected",
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


def _prepare(model: ModelScores, rule: KeepRule, ci: float, bin_time_s: np.ndarray) -> _Prepared:
    """A model's bins selected for comparisons and kept under ``rule`` (bands centred on its own scores)."""
    estimate = {"val_r": model.val_r, "test_r": model.test_r}
    return _Prepared(
        model,
        selected_for_comparison(rule, model.boot, ci, estimate, bin_time_s),
        kept(rule, model.boot, ci, estimate, bin_time_s),
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


@dataclass(frozen=True)
class _Best:
    """A family's best model per electrode: the gathered arrays and the chosen instance's name."""

    prepared: _Prepared
    names: np.ndarray


@dataclass(frozen=True)
class Zoo:
    """One subject and alignment's models prepared under one keep rule, as the comparison kinds look them up.

    Attributes
    ----------
    prepared : dict of (name, layer) -> prepared model, in the order of the models given
    by_name : dict of name -> prepared model (a baseline's first layer stands for it)
    entries : list of prepared models that are registry entries, not random-init twins
    twins_of : dict of entry -> its random-init twins
    best : dict of family -> :class:`_Best`, for the families with a candidate
    rule : KeepRule
    ci : float
    bin_time_s : ndarray, shape (n_bins,)
    """

    prepared: dict[tuple[str, str], _Prepared]
    by_name: dict[str, _Prepared]
    entries: list[_Prepared]
    twins_of: dict[str, list[_Prepared]]
    best: dict[str, _Best]
    rule: KeepRule
    ci: float
    bin_time_s: np.ndarray


def _zoo(models: Sequence[ModelScores], rule: KeepRule, ci: float, bin_time_s: np.ndarray) -> Zoo:
    prepared = {(m.name, m.layer): _prepare(m, rule, ci, bin_time_s) for m in models}
    by_name: dict[str, _Prepared] = {}
    for (name, _), prep in prepared.items():
        by_name.setdefault(name, prep)
    entries = [p for p in by_name.values() if p.model.is_entry]
    twins_of = {
        e.model.base: [p for p in by_name.values() if p.model.base == e.model.base and not p.model.is_entry]
        for e in entries
    }
    return Zoo(prepared, by_name, entries, twins_of, _best_models(entries, rule.scheme), rule, ci, bin_time_s)


def _best_models(entries: Sequence[_Prepared], scheme: str) -> dict[str, _Best]:
    """Per family and electrode, the candidate with the highest validation score (see the module docstring)."""
    best = {}
    for family in ("vision", "language", "multimodal"):
        candidates = [p for p in entries if p.model.family == family and not p.model.baseline]
        # A network without trained weights (an untrained control such as the demo's SLIP/SimCLR pair) stands for
        # its family only where the family has no trained network.
        candidates = [p for p in candidates if p.model.init == "trained"] or candidates
        if candidates:
            choice = np.argmax(np.stack([validation_score(p.model, p.select) for p in candidates]), axis=0)
            names = np.asarray([candidates[c].model.name for c in choice], dtype=object)
            best[family] = _Best(_gather(candidates, choice, scheme), names)
    return best


@dataclass(frozen=True)
class Pairing:
    """One comparison to run per electrode: model ``a`` against model ``b``.

    ``a`` and ``b`` are None for a comparison that cannot run (``note`` says why): its row has NaN delta and p.
    ``model_a`` and ``model_b`` label the row: a name, or one name per electrode for a best model.
    """

    comparison: str
    a: _Prepared | None
    b: _Prepared | None
    model_a: str | np.ndarray
    model_b: str | np.ndarray
    note: str = ""


def trained_vs_random(zoo: Zoo) -> Iterator[Pairing]:
    """Every entry with trained weights against each random-init twin, and against the twins' mean over seeds."""
    for entry in zoo.entries:
        name, twins = entry.model.name, zoo.twins_of[entry.model.base]
        if entry.model.init != "trained":
            note = "exists only as a random init: no trained weights"
            yield from (Pairing("trained_vs_random", None, None, name, t.model.name, note) for t in twins)
            continue
        yield from (Pairing("trained_vs_random", entry, t, name, t.model.name) for t in twins)
        if len(twins) > 1:
            mean = mean_over_seeds([t.model for t in twins], f"{entry.model.base}-random-mean")
            yield Pairing(
                "trained_vs_random_mean", entry, _prepare(mean, zoo.rule, zoo.ci, zoo.bin_time_s), name, mean.name
            )


def equal_skill(zoo: Zoo) -> Iterator[Pairing]:
    """Random inits of one architecture (an entry drawn at random and its twins, or twins of one entry): a null."""
    for entry in zoo.entries:
        randoms = ([entry] if entry.model.init == "random" else []) + zoo.twins_of[entry.model.base]
        yield from (Pairing("equal_skill", a, b, a.model.name, b.model.name) for a, b in zip(randoms, randoms[1:]))


def registry_pair(zoo: Zoo) -> Iterator[Pairing]:
    """Every registry pair, multimodal member first."""
    for entry in zoo.entries:
        partner = entry.model.pair
        if partner and partner in zoo.by_name and entry.model.family == "multimodal":
            yield Pairing("pair", entry, zoo.by_name[partner], entry.model.name, partner)


def multimodal_vs_best(zoo: Zoo) -> Iterator[Pairing]:
    """The best multimodal network against the best vision and the best language model, electrode by electrode."""
    if "multimodal" in zoo.best:
        multimodal = zoo.best["multimodal"]
        for family in ("vision", "language"):
            if family in zoo.best:
                other = zoo.best[family]
                yield Pairing(
                    f"multimodal_vs_best_{family}", multimodal.prepared, other.prepared, multimodal.names, other.names
                )


def multimodal_vs_baseline(zoo: Zoo) -> Iterator[Pairing]:
    """The best multimodal network against each fit of a linear-integration baseline (:data:`BASELINE_COMPARISONS`)."""
    if "multimodal" in zoo.best:
        multimodal = zoo.best["multimodal"]
        for (name, layer), prep in zoo.prepared.items():
            if prep.model.baseline and prep.model.is_entry and layer in BASELINE_COMPARISONS:
                yield Pairing(
                    BASELINE_COMPARISONS[layer], multimodal.prepared, prep, multimodal.names, f"{name}:{layer}"
                )


#: Comparison kinds, in the order their rows appear: kind -> the pairings it makes of a :class:`Zoo`.
COMPARISONS: dict[str, Callable[[Zoo], Iterable[Pairing]]] = {
    "trained_vs_random": trained_vs_random,
    "equal_skill": equal_skill,
    "pair": registry_pair,
    "multimodal_vs_best": multimodal_vs_best,
    "multimodal_vs_baseline": multimodal_vs_baseline,
}


def compare_alignment(
    models: Sequence[ModelScores],
    rule: KeepRule,
    *,
    ci: float,
    min_bins: int,
    electrodes: Sequence[str] | np.ndarray,
    bin_time_s: np.ndarray,
    subject: str,
    alignment: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every comparison of :data:`COMPARISONS`, and the models selected, of one subject, alignment and keep rule.

    ``bin_time_s`` (shape (n_bins,), each bin's time in seconds from the event, as the epochs label it: the start of
    its averaging window under ``epochs.window_placement: start``) places the rule's comparison window and sets the
    span of its band's standard errors (:meth:`~vlencode.stats.keep.KeepRule.se_span`).

    Returns
    -------
    comparisons : DataFrame
        Columns :data:`COMPARISON_COLUMNS`; ``comparison`` names the pairing (``trained_vs_random``,
        ``trained_vs_random_mean``, ``equal_skill``, ``pair``, ``multimodal_vs_best_<vision|language>``,
        ``multimodal_vs_concat``, ``multimodal_vs_concat_banded``).
    selection : DataFrame
        Columns :data:`SELECTION_COLUMNS` (see :func:`selection_rows`).

    Raises
    ------
    ValueError
        If ``bin_time_s`` does not have one time per bin of the models.
    """
    bin_time_s = np.asarray(bin_time_s, dtype=np.float64)
    if len(models) and bin_time_s.shape != models[0].test_r.shape[-1:]:
        raise ValueError(f"compare_alignment: {bin_time_s.size} bin times for {models[0].test_r.shape[-1]} bins")
    window = None if rule.compare_from_s is None else bin_time_s >= rule.compare_from_s - 1e-9
    zoo = _zoo(models, rule, ci, bin_time_s)
    labels = np.asarray([str(e) for e in electrodes], dtype=object)
    rows = [
        _comparison_rows(pairing, labels, rule, min_bins, window)
        for kind in COMPARISONS.values()
        for pairing in kind(zoo)
    ]
    keys = {"subject": str(subject), "alignment": alignment, "keep_rule": rule.name}
    return _table(rows, keys, COMPARISON_COLUMNS), _table(selection_rows(zoo, labels), keys, SELECTION_COLUMNS)


def _comparison_rows(
    pairing: Pairing, electrodes: np.ndarray, rule: KeepRule, min_bins: int, window: np.ndarray | None
) -> pd.DataFrame:
    """One row per electrode of a pairing's :func:`paired_comparison` (NaN for a pairing that cannot run)."""
    n = len(electrodes)
    if pairing.a is None or pairing.b is None:
        zeros = np.zeros(n, int)
        result = Paired(np.full(n, np.nan), np.full(n, np.nan), zeros, zeros, zeros, np.zeros(n, bool))
    else:
        key = f"{rule.scheme}_test_r"
        a, b = pairing.a, pairing.b
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
    return pd.DataFrame(
        {
            "electrode": electrodes,
            "comparison": pairing.comparison,
            "model_a": pairing.model_a,
            "model_b": pairing.model_b,
            "delta": result.delta,
            "p": result.p,
            "n_bins_a": result.n_bins_a,
            "n_bins_b": result.n_bins_b,
            "n_bins_common": result.n_bins_common,
            "eligible": result.eligible,
            "note": pairing.note,
        }
    )


def selection_rows(zoo: Zoo, electrodes: np.ndarray) -> list[pd.DataFrame]:
    """What was selected, per electrode: rows ``best_<family>`` and ``kept``.

    A ``best_<family>`` row names the model chosen for the family (``model``; on validation scores, among the
    family's trained entries, or among its untrained ones when it has none), its ``validation_score``, its kept bins
    (``n_kept``) and its bins selected for comparisons (``n_selected``); a ``kept`` row gives every model's (a
    baseline's as ``name:layer``) kept and selected bins, with a NaN ``validation_score``. Bins are counted over the
    whole epoch.
    """
    frames = [
        _selection(
            electrodes,
            f"best_{family}",
            best.names,
            best.prepared,
            validation_score(best.prepared.model, best.prepared.select),
        )
        for family, best in zoo.best.items()
    ]
    for (name, layer), prep in zoo.prepared.items():
        label = f"{name}:{layer}" if prep.model.baseline else name
        frames.append(_selection(electrodes, "kept", label, prep, np.nan))
    return frames


def _selection(
    electrodes: np.ndarray, selection: str, model: str | np.ndarray, prep: _Prepared, score: float | np.ndarray
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "electrode": electrodes,
            "selection": selection,
            "model": model,
            "validation_score": score,
            "n_kept": prep.kept.sum(axis=1),
            "n_selected": prep.select.sum(axis=1),
        }
    )


def _table(frames: Sequence[pd.DataFrame], keys: dict[str, str], columns: list[str]) -> pd.DataFrame:
    """The frames stacked, led by the subject, alignment and keep rule, in ``columns``' order."""
    if not frames:
        return empty_table(columns)
    return pd.concat(frames, ignore_index=True).assign(**keys)[columns]


#: Columns of the comparisons and selection tables that are not text.
_DTYPES = {
    "delta": "float64",
    "p": "float64",
    "validation_score": "float64",
    "n_bins_a": "int64",
    "n_bins_b": "int64",
    "n_bins_common": "int64",
    "n_kept": "int64",
    "n_selected": "int64",
    "eligible": "bool",
}


def empty_table(columns: Sequence[str]) -> pd.DataFrame:
    """A comparisons or selection table without rows (e.g. a subject with one model), its columns typed as if it had
    some, so that it filters and stacks like one."""
    return pd.DataFrame({c: pd.Series(dtype=_DTYPES.get(c, "object")) for c in columns})
