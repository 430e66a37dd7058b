"""Pearson r, the score of every encoding fit: one definition for the ridge engine, the bootstrap and the checks.

Convention: where r is undefined (a side constant over the rows scored, or zero variance), r = 0 rather than NaN,
so a constant target or prediction scores as no fit; r is clipped to [-1, 1] against round-off.
"""

from __future__ import annotations

import numpy as np
import torch


def pearson_from_sums(
    cov: torch.Tensor, var_pred: torch.Tensor, var_true: torch.Tensor, undefined: torch.Tensor
) -> torch.Tensor:
    """Pearson r from centred (co)variance sums, 0 where ``undefined`` or a side has no variance, clipped to [-1, 1].

    Parameters
    ----------
    cov, var_pred, var_true : torch.Tensor
        Sums ``sum (p - mean p)(y - mean y)``, ``sum (p - mean p)^2`` and ``sum (y - mean y)^2`` (any common
        scale), broadcastable to one shape.
    undefined : torch.Tensor of bool
        Where the caller knows r is undefined (e.g. a target constant over the rows, to float rounding).
    """
    denominator = torch.sqrt(var_pred * var_true)
    valid = (denominator > 0) & ~undefined
    r = cov / torch.where(valid, denominator, torch.ones_like(denominator))
    return torch.where(valid, r, torch.zeros_like(r)).clamp(-1.0, 1.0)


def weighted_pearson_from_sums(
    w: torch.Tensor, sp: torch.Tensor, sy: torch.Tensor, spy: torch.Tensor, spp: torch.Tensor, syy: torch.Tensor
) -> torch.Tensor:
    """Pearson r from the raw weighted sums ``sum w``, ``sum w p``, ``sum w y``, ``sum w p y``, ``sum w p^2`` and
    ``sum w y^2`` (e.g. bootstrap counts as weights).

    A side whose centred sum of squares is below ``1e-5`` of its raw one is constant to float32 rounding: r = 0.
    The sums should be of standardised values, so that threshold sits well above float32 cancellation.
    """
    cov = w * spy - sp * sy
    var_p = w * spp - sp * sp
    var_y = w * syy - sy * sy
    constant = (var_p <= 1e-5 * w * spp) | (var_y <= 1e-5 * w * syy)
    return pearson_from_sums(cov, var_p, var_y, constant)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r of two 1-D samples (float64), 0 when either is constant."""
    a = np.asarray(a, dtype=np.float64) - np.mean(a)
    b = np.asarray(b, dtype=np.float64) - np.mean(b)
    denominator = np.sqrt(np.sum(a * a) * np.sum(b * b))
    return float(np.sum(a * b) / denominator) if denominator > 0 else 0.0


def pearson_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r of every column pair of two ``[n_samples, n_columns]`` arrays (float64), 0 for a constant column."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a = a - a.mean(0)
    b = b - b.mean(0)
    denominator = np.sqrt((a * a).sum(0) * (b * b).sum(0))
    return np.where(denominator > 0, (a * b).sum(0) / np.where(denominator > 0, denominator, 1.0), 0.0)
