"""Layer screening: rank every candidate layer on a cheap proxy of its encoding score, fit all targets only for the
leading layers.

The full search (``encoding.layer_selection: validation``) fits every layer to every target and keeps the layer with
the best mean validation r.  Screening (``screen``) estimates that same criterion for each layer on less work, then
runs the full fit only for the ``leading`` layers of the ranking and chooses among them by the full criterion:

- **targets**: a seeded random subset of ``targets`` targets (electrode x bin).  The mean validation r over a random
  subset is an unbiased estimate of the mean over all targets, so the ranking is the full search's up to its sampling
  error.
- **features**: each layer, standardised over all events, is multiplied by a seeded Gaussian sketch to ``features``
  columns (Johnson-Lindenstrauss: the sketch preserves the linear kernel ``X X'`` that ridge regression depends on, up
  to a relative error of about ``1 / sqrt(features)``).  A layer no wider than ``features`` is used as it is.  The
  sketch makes a proxy cost the same whatever the layer's width, and spares the eigendecomposition of a wide layer's
  folds.
- the folds and the alpha grid are the protocol's own (:func:`vlencode.encoding.contiguous_splits`).

The proxy is computed from the data alone: no per-model table of good layers.  Measured agreement with the full
search (chosen layer, site calls) on the harness and the replica: ``config/README.md``, "Layer screening".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vlencode.bootstrap.resampling import resample_seed


@dataclass(frozen=True)
class Screening:
    """The proxy of ``encoding.layer_selection: screen`` (``encoding.screening`` in the config).

    Attributes
    ----------
    features : int
        Columns of the Gaussian sketch of a wider layer.
    targets : int
        Targets (electrode x bin) of the seeded subset the proxy scores; all targets when there are fewer.
    leading : int
        Layers of the proxy's ranking fitted to all targets; the reported layer is the best of them by mean
        validation r.  With at least as many as the model has candidates, screening is the full search.
    """

    features: int
    targets: int
    leading: int

    @classmethod
    def from_config(cls, screening: Mapping[str, Any]) -> Screening:
        """From the canonical config's ``encoding.screening`` (every key present)."""
        return cls(
            features=int(screening["features"]), targets=int(screening["targets"]), leading=int(screening["leading"])
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


def sketch(design: np.ndarray, width: int, seed: int, layer: str) -> np.ndarray:
    """The layer standardised over all events and, when wider than ``width``, projected by a Gaussian sketch.

    Parameters
    ----------
    design : ndarray, shape (n_events, n_features)
    width : int
        Columns kept.
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
    if design.shape[1] <= width:
        return scaled
    rng = np.random.default_rng(resample_seed(seed, "screening-sketch", layer))
    projection = rng.standard_normal((design.shape[1], width), dtype=np.float32) / np.float32(np.sqrt(width))
    return scaled @ projection


def leading_layers(proxy_val_r: Mapping[str, float], count: int) -> list[str]:
    """The ``count`` layers of best proxy score, in the model's layer order (ties go to the earlier layer).

    Parameters
    ----------
    proxy_val_r : mapping of layer -> proxy mean validation r, in the model's layer order
    count : int
        At least 1.
    """
    if count < 1:
        raise ValueError(f"encoding.screening.leading must be at least 1, got {count}")
    layers = list(proxy_val_r)
    scores = np.nan_to_num(np.array([proxy_val_r[layer] for layer in layers], dtype=np.float64), nan=-np.inf)
    # A stable sort of the negated scores keeps the earlier layer first among ties.
    best = np.argsort(-scores, kind="stable")[:count]
    return [layers[i] for i in sorted(best)]


def screened(candidates: Sequence[str], screening: Screening | None) -> bool:
    """Whether a proxy ranking can save work: more candidates than the leading layers fitted in full."""
    return screening is not None and len(candidates) > screening.leading
