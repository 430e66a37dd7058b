"""Layer screening: rank every candidate layer on a cheap proxy of its encoding score, fit all targets only for the
leading layers.

The full search (``encoding.layer_selection: validation``) fits every layer to every target and keeps the layer with
the best mean validation r.  Screening (``screen``) estimates that same criterion for each layer on less work, then
runs the full fit only for the ``leading`` layers of the ranking and chooses among them by the full criterion:

- **targets**: a seeded random subset of ``targets`` targets (electrode x bin).  The mean validation r over a random
  subset is an unbiased estimate of the mean over all targets, so the ranking is the full search's up to its sampling
  error.
- **features** (optional, off by default): each layer wider than ``features``, standardised over all events, is
  multiplied by a seeded Gaussian sketch to ``features`` columns (Johnson-Lindenstrauss: the sketch preserves the
  linear kernel ``X X'`` that ridge regression depends on, up to a relative error of about ``1 / sqrt(features)``).  It
  makes a wide layer's proxy cheap, but it is biased: on the replica (sub-1, word onsets, the random-init
  EfficientNet-Lite0's 1280-wide head over 1005 events) mean validation r fell from 0.149 to 0.130 at 256 columns and
  0.142 at 512, more than the 0.001-0.006 between the leading layers, so the sketched layer lost a choice it wins in
  full.  The top principal components instead of a sketch did worse (0.070 at 256): the information was not in the
  layer's leading variance.  The default proxy therefore reads every layer as it is.
- the folds and the alpha grid are the protocol's own (:func:`vlencode.encoding.contiguous_splits`), and only the
  validation rows are scored (no out-of-fold predictions, no test r: the ranking reads neither).  What the engine
  cannot save is each fold's decomposition of the layer, paid whatever the number of targets: at 10,570 events x 768
  columns its 5 eigendecompositions and Gram products are more than half of a 1,024-target proxy.  Where the layer
  is wide (the study extraction's 7,000-8,500 columns), one eigendecomposition of the kernel over all rows serves
  every fold instead (:mod:`vlencode.ridge.shared_kernel`, chosen by its cost), with the layer standardised over all
  rows rather than each fold's training rows.

Every layer the proxy cannot tell from its best (within ``z`` standard errors of the target sampling,
:func:`leading_layers`) is fitted in full: where layers are nearly tied the full criterion decides, where one layer
stands out it is the only full fit.  Before that, near ties are rescored (``growth`` > 1): the leading layers alone
are scored on ``growth`` times as many targets (the first subset and more, drawn from the rest), and the leading
layers are taken again from those, round after round while a round scores at most a quarter of all targets
(:data:`RESCORE_SHARE`).  Adjacent layers of a network are often within the first subset's sampling error of each
other; a few thousand targets tell most of them apart at a fraction of a full fit each.  What stays tied is fitted in
full as before, so the choice between layers the proxy cannot separate is still the full criterion's.

The proxy is computed from the data alone: no per-model table of good layers.  Its error is the target sampling's
(without a sketch), which :func:`leading_layers` accounts for.  The shared kernel's scaling over all rows adds a
small one it does not count: on a synthetic layer at the study extraction's widths (``benchmarks/screening_proxy.py``)
it moved a fold's validation r by at most 1.3e-3 per target and the mean over targets by 4e-6; on the replica's
115-event alignments, a layer's mean by up to 3e-3.  Measured agreement with the full search (chosen layer, site
calls) on the harness and the replica: ``config/README.md``, "Layer screening".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vlencode.bootstrap.resampling import resample_seed
from vlencode.encoding.folds import Split

log = logging.getLogger("vlencode.encoding")

#: Most a rescoring round scores, as a share of all targets.  A rescored layer pays its proxy's fold decompositions
#: again and its new targets' scoring (validation rows alone): at the paper's shapes 0.2-0.3 of a full fit (sub-6's
#: words at the study width: three layers rescored on 3,072 targets in 148 s beside a full fit of 183 s, both under
#: the same load), so k tied layers cost less than the k - 1 full fits a separation saves; a larger share would
#: approach the cost of the full fits that settle the tie exactly.
RESCORE_SHARE = 0.25


@dataclass(frozen=True)
class Screening:
    """The proxy of ``encoding.layer_selection: screen`` (``encoding.screening`` in the config).

    Attributes
    ----------
    features : int
        Columns of the Gaussian sketch of a wider layer; 0 reads every layer as it is (the default: a sketch biases
        the ranking against wide layers, see the module's notes).
    targets : int
        Targets (electrode x bin) of the seeded subset the proxy scores; all targets when there are fewer.
    z : float
        Margin of the leading layers in standard errors of the proxy (:func:`leading_layers`): each layer the proxy
        cannot tell from its best is fitted to all targets, and the reported layer is the best of them by mean
        validation r.
    growth : int
        Rescoring of near ties: while several layers lead, they are scored on ``growth`` times as many targets and
        the leading layers taken again (:func:`screen_layers`); 1 fits every leading layer of the first round.
    """

    features: int
    targets: int
    z: float
    growth: int

    @classmethod
    def from_config(cls, screening: Mapping[str, Any]) -> Screening:
        """From the canonical config's ``encoding.screening`` (every key present)."""
        z = float(screening["z"])
        if not np.isfinite(z):
            raise ValueError(f"encoding.screening.z must be a finite number of standard errors, got {z}")
        return cls(
            features=int(screening["features"]),
            targets=int(screening["targets"]),
            z=z,
            growth=int(screening["growth"]),
        )


def target_subset(n_targets: int, count: int, seed: int, name: str) -> np.ndarray:
    """Seeded, sorted indices of ``min(count, n_targets)`` distinct targets.

    Parameters
    ----------
    n_targets : int
    count : int
    seed : int
        The config seed; ``name`` (the events, e.g. ``"sub-1 word events"``) makes the draw distinct per alignment.
    """
    if count >= n_targets:
        return np.arange(n_targets)
    rng = np.random.default_rng(resample_seed(seed, "screening-targets", name))
    return np.sort(rng.choice(n_targets, size=count, replace=False))


def rescoring_order(n_targets: int, subset: np.ndarray, seed: int, name: str) -> np.ndarray:
    """The targets outside ``subset`` in the seeded order rescoring rounds add them (:func:`screen_layers`).

    Parameters
    ----------
    n_targets : int
    subset : ndarray of int
        The first round's targets (:func:`target_subset`).
    seed : int
        The config seed; ``name`` (the events) makes the order distinct per alignment.

    Returns
    -------
    ndarray of int, shape (n_targets - len(subset),)
        A permutation of the other targets: round ``r`` adds the next ones, so each round's targets hold the last's.
    """
    rng = np.random.default_rng(resample_seed(seed, "screening-rescore", name))
    return rng.permutation(np.setdiff1d(np.arange(n_targets), subset))


def sketch(design: np.ndarray, width: int, seed: int, layer: str) -> np.ndarray:
    """The layer standardised over all events and, when wider than ``width`` > 0, projected by a Gaussian sketch.

    Parameters
    ----------
    design : ndarray, shape (n_events, n_features)
    width : int
        Columns kept; 0 keeps every column.
    seed : int
        The config seed; ``layer`` makes each layer's sketch distinct.

    Returns
    -------
    ndarray of float32, shape (n_events, min(n_features, width))
        Constant columns become zeros.  The sketch has N(0, 1/width) entries, so ``S S'`` is the identity in
        expectation and the product's kernel estimates the standardised layer's.
    """
    design = np.asarray(design, dtype=np.float32)
    centred = design - design.mean(axis=0, dtype=np.float64).astype(np.float32)
    std = centred.std(axis=0, dtype=np.float64)
    scaled = centred * np.divide(1.0, std, out=np.zeros_like(std), where=std > 0).astype(np.float32)
    if width == 0 or design.shape[1] <= width:
        return scaled
    rng = np.random.default_rng(resample_seed(seed, "screening-sketch", layer))
    projection = rng.standard_normal((design.shape[1], width), dtype=np.float32) / np.float32(np.sqrt(width))
    return scaled @ projection


def leading_layers(proxy_r: Mapping[str, np.ndarray], n_targets: int, z: float) -> list[str]:
    """The layers the proxy cannot tell from its best: mean proxy r within ``z`` standard errors of the best's.

    The proxy's targets are a random subset of the targets, so the difference between two layers' proxy means
    estimates the difference of the full search's criterion with a standard error of
    ``sd(d) / sqrt(m) * sqrt(1 - m / n_targets)`` for the paired per-target differences ``d`` over the ``m`` proxy
    targets (sampling without replacement; 0 when every target is scored, where the proxy's ranking is exact up to the
    sketch).  Every layer whose difference from the best is at most ``z`` of those is fitted in full, so a near tie
    is settled by the full criterion rather than by the draw of targets.

    Parameters
    ----------
    proxy_r : mapping of layer -> ndarray, shape (m,)
        Each layer's proxy validation r per target (averaged over folds), in the model's layer order.
    n_targets : int
        Targets of the full fit.
    z : float
        The margin in standard errors, finite (0: the best and any layer tied with it exactly).

    Returns
    -------
    list of str, in the model's layer order
        Never empty: the best proxy is always in it.
    """
    layers = list(proxy_r)
    # A NaN r (no variance to correlate) counts as 0 per target, as the engine scores a constant target; the full
    # criterion's NaN mean (a layer that failed) is ranked last by select_layer instead.
    scores = np.stack([np.nan_to_num(np.asarray(proxy_r[layer], dtype=np.float64)) for layer in layers])
    best = int(np.argmax(scores.mean(axis=1)))
    m = scores.shape[1]
    differences = scores[best] - scores
    se = differences.std(axis=1, ddof=1) / np.sqrt(m) * np.sqrt(max(0.0, 1.0 - m / n_targets)) if m > 1 else 0.0
    # Where the standard error is 0 (the best layer itself, or every target scored) the margin is 0, whatever z.
    se = np.broadcast_to(se, (len(layers),))
    margin = z * se if np.isfinite(z) else np.where(se > 0, np.inf, 0.0)
    within = differences.mean(axis=1) <= margin + 1e-12
    return [layer for layer, lead in zip(layers, within) if lead]


def proxy_scores(
    design: np.ndarray,
    targets: np.ndarray,
    splits: Sequence[Split],
    score: Callable[[np.ndarray, np.ndarray, Sequence[Split]], np.ndarray],
    screening: Screening,
    seed: int,
    layer: str,
) -> np.ndarray:
    """One layer's proxy: validation r per proxy target, averaged over the folds, of the layer's sketch.

    Parameters
    ----------
    design : ndarray, shape (n_events, n_features)
    targets : ndarray, shape (n_events, m)
        The proxy's targets (:func:`target_subset`).
    splits : the protocol's folds
    score : callable (design, targets, splits) -> ndarray, shape (n_folds, m)
        The protocol's validation r per fold and target (:meth:`vlencode.encoding.RidgeSettings.validation_r`).
    screening : Screening
    seed : int
        The config seed.
    layer : str

    Returns
    -------
    ndarray of float64, shape (m,)
    """
    if screening.features:
        design = sketch(design, screening.features, seed, layer)
    return np.asarray(score(design, targets, splits), dtype=np.float64).mean(axis=0)


def screen_layers(
    design_of: Callable[[str], Any],
    candidates: Sequence[str],
    targets: np.ndarray,
    splits: Sequence[Split],
    score: Callable[[np.ndarray, np.ndarray, Sequence[Split]], np.ndarray],
    screening: Screening,
    seed: int,
    name: str,
) -> tuple[list[str], dict[str, float]] | None:
    """Score every candidate on the proxy, rescore near ties on more targets, and return the leading layers
    (:func:`leading_layers`) and every candidate's proxy mean validation r; None when the proxy would be the full
    search itself (every target, no sketch), which then runs once.

    The first round scores every candidate on ``screening.targets`` targets.  While several layers lead and
    ``screening.growth`` times as many targets are at most :data:`RESCORE_SHARE` of all of them, the leading layers
    alone are scored on the targets the next round adds (:func:`rescoring_order`; every target is fitted on its own,
    so a layer's scores on the union are one proxy's on it, except that a round may take the shared kernel and
    another the engine, whose standardisations differ slightly:
    :meth:`vlencode.encoding.RidgeSettings.validation_r`), and the leading layers are taken again from the union.

    Parameters
    ----------
    design_of : callable layer -> ndarray, shape (n_events, n_features)
    candidates : sequence of str, in the model's layer order
    targets : ndarray, shape (n_events, n_targets)
    splits : the protocol's folds
    score : callable (design, targets, splits) -> ndarray, shape (n_folds, m)
        As in :func:`proxy_scores`.
    screening : Screening
    seed : int
        The config seed (the target subset, the rescoring order and the sketch).
    name : str
        Names the events; seeds the target subset and the rescoring order.

    Returns
    -------
    (leading, proxy) or None
        ``leading``: the layers to fit in full, in the model's layer order.  ``proxy``: each candidate's mean proxy
        r over the targets it was scored on (a rescored layer's over the last round's, more than the others').
    """
    n_targets = targets.shape[1]
    subset = target_subset(n_targets, screening.targets, seed, name)
    if len(subset) == n_targets and not screening.features:
        return None

    def scores(layer: str, proxy_targets: np.ndarray) -> np.ndarray:
        return proxy_scores(design_of(layer), proxy_targets, splits, score, screening, seed, layer)

    first = np.ascontiguousarray(targets[:, subset])
    proxy_r = {layer: scores(layer, first) for layer in candidates}
    leading = leading_layers(proxy_r, n_targets, screening.z)
    order: np.ndarray | None = None
    scored = len(subset)
    while len(leading) > 1 and screening.growth > 1 and scored * screening.growth <= RESCORE_SHARE * n_targets:
        if order is None:
            order = rescoring_order(n_targets, subset, seed, name)
        added = np.ascontiguousarray(targets[:, order[scored - len(subset) : scored * screening.growth - len(subset)]])
        for layer in leading:
            proxy_r[layer] = np.concatenate([proxy_r[layer], scores(layer, added)])
        scored *= screening.growth
        log.info("%s: rescored %s on %d targets", name, leading, scored)
        leading = leading_layers({layer: proxy_r[layer] for layer in leading}, n_targets, screening.z)
    return leading, {layer: float(r.mean()) for layer, r in proxy_r.items()}
