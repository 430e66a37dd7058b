"""Keep rules: which (model, electrode, bin) targets carry a score, decided from bootstrap bounds.

Two rules are offered.

``paper``
    The study's rule, exactly as published: keep a target when the lower percentile bound of its *validation* r under
    the iid event bootstrap exceeds 0.  Whichever protocol (fast or refit) computed the bootstrap.  On null data it
    keeps far more than its nominal rate: each target's alpha is chosen on those same validation events (so the
    validation r is optimistic), and resampling single events ignores their dependence (so the bounds are too narrow).
``calibrated`` (the default)
    Keep a bin when the lower percentile bound of its *test* r under the block bootstrap exceeds 0, on a (model,
    electrode) whose *simultaneous* lower band over all its bins exceeds 0 in at least one bin.  The test r is not used
    to choose alpha, blocks of contiguous events carry the events' dependence into the bounds, and the band controls the
    error per electrode: an electrode is "called" when it keeps >= ``statistics.min_bins`` bins, and its bins are
    strongly correlated (overlapping windows, a slow background), so per-bin bounds, each wrong on a few percent of
    null bins, are wrong in runs of neighbouring bins and call many silent electrodes.  The band is the sup-t band
    (:func:`vlencode.bootstrap.bounds.sup_t_lower_band`), its standard errors averaged over 0.15 s of neighbouring
    bins (``se_span_s``; at the default 0.2 s windows and 25 ms steps, the 7 bins that share more than half their
    samples with the bin's own: each bin's standard error, read off the resamples, is noisy enough to let the maximum
    over bins favour the bins where it came out small).  Measured on the harness, keeping only bins above the band
    itself (``band="simultaneous"``) called no silent electrode either but lost half the planted vision contacts; the
    gate kept the null calls <= 5% with the per-bin bounds' recall on the 8-minute harness (config/README.md, "Measured
    calibration"; at the paper's lengths with ``bootstrap.inflation: shifted``, "Calibration at the paper's length").

Comparisons between models select bins on validation scores and compare test scores (:mod:`vlencode.stats.compare`),
so each rule also names the resampling scheme its comparisons use, the bound that selects their bins, the bins that
may enter (``paper``: every bin; ``calibrated``: bins from the event onset on) and which model needs ``min_bins``
selected bins (``paper``: both, as published; ``calibrated``: the model claimed to win).  Measured on the harness
(config/README.md), the published design lost the planted multimodal contacts whose language component no language
model predicts, and diluted a brief interaction over the bins before the onset, where the response to earlier events
and to the held scene is predicted alike by the vision and the multimodal model.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from vlencode.bootstrap.bounds import lower_bound
from vlencode.config import ConfigError

log = logging.getLogger("vlencode.stats")


@dataclass(frozen=True)
class KeepRule:
    """A keep rule: the resampling ``scheme`` (``iid`` or ``block``), the ``score`` (``val`` or ``test``) bounded,
    the ``band`` of the kept bins: ``pointwise`` (a percentile bound per bin), ``simultaneous`` (a sup-t band over the
    bins) or ``gated`` (per-bin bounds, for rows whose band exceeds 0 somewhere), and the ``select_band`` of the bins
    selected for comparisons (same choices). A comparison averages over bins whose time is at or after
    ``compare_from_s`` (seconds from the event, as ``bin_time_s`` labels them; None: every bin) and is eligible where
    ``eligibility`` has ``min_bins`` selected bins there: ``both`` models or model ``a``, the one claimed to win.
    ``se_span_s`` (seconds, 0 for none) is the span of neighbouring bins whose bootstrap standard errors a
    simultaneous band averages (:func:`vlencode.bootstrap.bounds.sup_t_lower_band`)."""

    name: str
    scheme: str
    score: str
    band: str = "pointwise"
    select_band: str = "pointwise"
    compare_from_s: float | None = None
    eligibility: str = "both"
    se_span_s: float = 0.0

    def se_span(self, bin_time_s: np.ndarray | None, n_bins: int | None = None) -> int:
        """The odd number of bins within ``se_span_s / 2`` of a bin, at the bins' step, itself included (1 when 0, or
        for a single bin).

        Parameters
        ----------
        bin_time_s : ndarray, shape (n_bins,)
            The bins' times, seconds from the event, increasing.
        n_bins : int, optional
            The bins of the scores the band is computed on; checked against ``bin_time_s``.

        Raises
        ------
        ValueError
            If the rule averages over a span and ``bin_time_s`` is None, not one time per bin, or not finite and
            strictly increasing.

        Warns
        -----
        UserWarning
            When the bins are further apart than the span (each bin's own standard error is then used): times in
            milliseconds instead of seconds read so.
        """
        if self.se_span_s <= 0:
            return 1
        if bin_time_s is None:
            raise ValueError(f"keep rule {self.name!r}: its band averages over {self.se_span_s} s; pass the bin times")
        times = np.asarray(bin_time_s, dtype=np.float64).reshape(-1)
        if n_bins is not None and times.size != n_bins:
            raise ValueError(f"keep rule {self.name!r}: {times.size} bin times for {n_bins} bins")
        if times.size < 2:
            return 1
        steps = np.diff(times)
        if not (np.isfinite(times).all() and (steps > 0).all()):
            raise ValueError(f"keep rule {self.name!r}: bin times must be finite and increasing, in seconds")
        step = float(np.median(steps))
        if step > self.se_span_s:
            warnings.warn(
                f"keep rule {self.name!r}: bins {step:g} s apart are wider than the band's {self.se_span_s} s "
                "average of standard errors, so each bin's own is used; are the bin times in seconds?",
                stacklevel=3,
            )
        # The bins within half the span either side (1e-9: 0.15 s is not a float multiple of 25 ms).
        return 2 * int(np.floor(self.se_span_s / 2 / step + 1e-9)) + 1


#: The keep rules by name; ``calibrated`` is the default.
KEEP_RULES = {
    "paper": KeepRule("paper", scheme="iid", score="val"),
    "calibrated": KeepRule(
        "calibrated",
        scheme="block",
        score="test",
        band="gated",
        select_band="pointwise",
        compare_from_s=0.0,
        eligibility="a",
        se_span_s=0.15,
    ),
}
DEFAULT_RULE = "calibrated"


def keep_rule(name: str) -> KeepRule:
    """The rule called ``name``; a one-line error lists the known rules."""
    if name not in KEEP_RULES:
        raise ValueError(f"statistics.keep_rules: unknown rule {name!r}; use one of {', '.join(KEEP_RULES)}")
    return KEEP_RULES[name]


def check_min_bins(keep_rules: Sequence[str], min_bins: int, bin_time_s: np.ndarray, source: str = "config") -> None:
    """Refuse at start-up a ``statistics.min_bins`` above the bins a keep rule's comparisons may select: the epochs'
    bins from the rule's ``compare_from_s`` on (``calibrated``: from the onset).  No comparison or site could then
    be called, and the run would end with an empty sites table and no error.

    Parameters
    ----------
    keep_rules : the rules' names (``statistics.keep_rules``)
    min_bins : int
    bin_time_s : ndarray, shape (n_bins,)
        The epochs' bin times, seconds from the event (:meth:`vlencode.epochs.EpochWindows.bin_time_s`).
    source : str
        The config file, prefixed to the message.

    Raises
    ------
    ConfigError
        One line naming the rule, the bins it may select and the fix.
    """
    times = np.asarray(bin_time_s, dtype=np.float64)
    for name in keep_rules:
        rule = keep_rule(name)
        start = rule.compare_from_s
        n_bins = times.size if start is None else int(np.count_nonzero(times >= start - 1e-9))
        if min_bins > n_bins:
            where = "of the epochs" if start is None else f"of the epochs at or after {start:g} s"
            raise ConfigError(
                f"{source}: statistics.min_bins {min_bins} exceeds the {n_bins} bins {where} that keep rule {name!r}"
                " may select (epochs.tmin_s to tmax_s every step_s); lower min_bins or widen the epochs"
            )


def kept(
    rule: KeepRule,
    boot: Mapping[str, np.ndarray],
    ci: float,
    estimate: Mapping[str, np.ndarray] | None = None,
    bin_time_s: np.ndarray | None = None,
) -> np.ndarray:
    """The targets a rule keeps: lower bound of the rule's score under the rule's scheme > 0.

    Parameters
    ----------
    rule : KeepRule
    boot : mapping of ``"<scheme>_<score>_r"`` -> ndarray, shape (n_resamples, ..., n_bins)
        Bootstrap scores of one fit (e.g. ``iid_val_r``, ``block_test_r``).
    ci : float
    estimate : mapping of ``"val_r"`` / ``"test_r"`` -> ndarray, shape (..., n_bins), optional
        The scores on the original events, the centre of a simultaneous band (default: the resamples' mean).
    bin_time_s : ndarray, shape (n_bins,), optional
        The bins' times (seconds); needed by a rule whose band averages standard errors (:meth:`KeepRule.se_span`).

    Returns
    -------
    ndarray of bool, shape ``boot[...].shape[1:]``
    """
    centre = None if estimate is None else estimate.get(f"{rule.score}_r")
    scores = boot[f"{rule.scheme}_{rule.score}_r"]
    span = rule.se_span(bin_time_s, np.shape(scores)[-1]) if rule.band != "pointwise" else 1
    return lower_bound(rule.band, scores, ci, centre, span) > 0


def selected_for_comparison(
    rule: KeepRule,
    boot: Mapping[str, np.ndarray],
    ci: float,
    estimate: Mapping[str, np.ndarray] | None = None,
    bin_time_s: np.ndarray | None = None,
) -> np.ndarray:
    """Bins a comparison under ``rule`` averages over: lower bound of the *validation* r under the rule's scheme > 0.

    Validation scores select and test scores are compared, so the selection does not favour either model's test
    score.  The bound is the rule's ``select_band``.  For ``paper`` this is exactly its kept set.
    """
    centre = None if estimate is None else estimate.get("val_r")
    scores = boot[f"{rule.scheme}_val_r"]
    span = rule.se_span(bin_time_s, np.shape(scores)[-1]) if rule.select_band != "pointwise" else 1
    return lower_bound(rule.select_band, scores, ci, centre, span) > 0


#: Resamples below which a simultaneous band is unstable: its critical value is a tail quantile of a maximum over the
#: bins.  On the embedded replica with 20 resamples the calibrated rule called 31 of 62 electrodes at scene cuts and
#: 37 at words; with 200, 13 and 24 (config/README.md; before the band averaged its standard errors: 14 and 23 now).
MIN_BAND_RESAMPLES = 100


def warn_few_resamples(rule: KeepRule, n_resamples: int, name: str) -> bool:
    """Log a warning, and return True, when ``rule`` uses a simultaneous band on fewer than
    :data:`MIN_BAND_RESAMPLES` resamples (raise ``bootstrap.n_resamples``)."""
    if "pointwise" == rule.band == rule.select_band or n_resamples >= MIN_BAND_RESAMPLES:
        return False
    log.warning(
        "%s: the %s rule's simultaneous band rests on %d resamples, fewer than %d, and calls too many "
        "electrodes; raise bootstrap.n_resamples",
        name,
        rule.name,
        n_resamples,
        MIN_BAND_RESAMPLES,
    )
    return True


def alpha_on_edge(alpha: np.ndarray, grid: np.ndarray) -> float:
    """Fraction of targets whose chosen alpha is the smallest or the largest of the grid.

    Parameters
    ----------
    alpha : ndarray
        Chosen alphas (per target, e.g. the median over folds).
    grid : ndarray
        The penalty grid.
    """
    alpha = np.log10(np.asarray(alpha, dtype=np.float64))
    grid = np.log10(np.asarray(grid, dtype=np.float64))
    edge = np.isclose(alpha, grid.min(), atol=1e-3) | np.isclose(alpha, grid.max(), atol=1e-3)
    return float(edge.mean()) if edge.size else 0.0


def warn_alpha_edge(alpha: np.ndarray, grid: np.ndarray, limit: float, name: str) -> float:
    """Log a warning when more than ``limit`` of the targets chose an alpha on the grid's edge; return the fraction.

    Many targets at the largest alpha usually means no signal (the ridge shrinks to the intercept); many at the
    smallest means the grid should extend lower (``encoding.alphas``).
    """
    fraction = alpha_on_edge(alpha, grid)
    if fraction > limit:
        log.warning(
            "%s: %.0f%% of targets chose an alpha on the edge of the grid [%g, %g]; widen encoding.alphas "
            "if they sit at the low end",
            name,
            100 * fraction,
            float(np.min(grid)),
            float(np.max(grid)),
        )
    return fraction
