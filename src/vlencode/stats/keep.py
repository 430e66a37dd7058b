"""Keep rules: which (model, electrode, bin) targets carry a score, decided from bootstrap bounds.

Two rules are offered.

``paper``
    The study's rule, exactly as published: keep a target when the lower percentile bound of its *validation* r under
    the iid event bootstrap exceeds 0.  Whichever protocol (fast or refit) computed the bootstrap.  On null data it
    keeps far more than its nominal rate: each target's alpha is chosen on those same validation events (so the
    validation r is optimistic), and resampling single events ignores their dependence (so the bounds are too narrow).
``calibrated`` (the default)
    Keep a target when the lower percentile bound of its *test* r under the block bootstrap exceeds 0.  The test r is
    not used to choose alpha, and blocks of contiguous events carry the events' dependence into the bounds.

Comparisons between models select bins on validation scores and compare test scores (:mod:`vlencode.stats.compare`),
so each rule also names the resampling scheme its comparisons use and the bound that selects their bins.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

log = logging.getLogger("vlencode.stats")


@dataclass(frozen=True)
class KeepRule:
    """A keep rule: the resampling ``scheme`` (``iid`` or ``block``) and the ``score`` (``val`` or ``test``) bounded."""

    name: str
    scheme: str
    score: str


#: The keep rules by name; ``calibrated`` is the default.
KEEP_RULES = {
    "paper": KeepRule("paper", scheme="iid", score="val"),
    "calibrated": KeepRule("calibrated", scheme="block", score="test"),
}
DEFAULT_RULE = "calibrated"


def keep_rule(name: str) -> KeepRule:
    """The rule called ``name``; a one-line error lists the known rules."""
    if name not in KEEP_RULES:
        raise ValueError(f"statistics.keep_rules: unknown rule {name!r}; use one of {', '.join(KEEP_RULES)}")
    return KEEP_RULES[name]


def percentile_bounds(boot: np.ndarray, ci: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile confidence bounds over resamples (axis 0): ``ci=0.95`` gives the 2.5th and 97.5th percentiles.

    Parameters
    ----------
    boot : ndarray, shape (n_resamples, ...)
    ci : float in (0, 1)

    Returns
    -------
    lo, hi : ndarrays of float32, shape ``boot.shape[1:]``
    """
    if not 0 < ci < 1:
        raise ValueError(f"bootstrap.ci must lie in (0, 1), got {ci}")
    tail = 100 * (1 - ci) / 2
    lo, hi = np.percentile(np.asarray(boot, dtype=np.float32), [tail, 100 - tail], axis=0)
    return lo.astype(np.float32), hi.astype(np.float32)


def kept(rule: KeepRule, boot: Mapping[str, np.ndarray], ci: float) -> np.ndarray:
    """The targets a rule keeps: lower bound of the rule's score under the rule's scheme > 0.

    Parameters
    ----------
    rule : KeepRule
    boot : mapping of ``"<scheme>_<score>_r"`` -> ndarray, shape (n_resamples, ...)
        Bootstrap scores of one fit (e.g. ``iid_val_r``, ``block_test_r``).
    ci : float

    Returns
    -------
    ndarray of bool, shape ``boot[...].shape[1:]``
    """
    return percentile_bounds(boot[f"{rule.scheme}_{rule.score}_r"], ci)[0] > 0


def selected_for_comparison(rule: KeepRule, boot: Mapping[str, np.ndarray], ci: float) -> np.ndarray:
    """Bins a comparison under ``rule`` averages over: lower bound of the *validation* r under the rule's scheme > 0.

    Validation scores select and test scores are compared, so the selection does not favour either model's test
    score.  For ``paper`` this is exactly its kept set.
    """
    return percentile_bounds(boot[f"{rule.scheme}_val_r"], ci)[0] > 0


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
        log.warning("%s: %.0f%% of targets chose an alpha on the edge of the grid [%g, %g]; widen encoding.alphas "
                    "if they sit at the low end", name, 100 * fraction, float(np.min(grid)), float(np.max(grid)))
    return fraction
