"""Cost models of the engine's fits: which of two ways of computing one result takes less time.

Counted in multiply-adds of a float64 matrix product, with an eigendecomposition of ``r`` rows at
:data:`vlencode.ridge.shared_kernel.EIGH_COST` ``r^3``.  Only the dominant terms are counted; the choices they make
change the time taken, never the result.
"""

from __future__ import annotations

from collections.abc import Sequence

from vlencode.ridge.checks import Split
from vlencode.ridge.shared_kernel import EIGH_COST


def fold_costs(n_samples: int, n_features: int, splits: Sequence[Split], n_alphas: int) -> tuple[float, float]:
    """The engine's cost of one design over ``splits``: what every fit pays whatever its targets, and what each target
    adds.

    Per fold of ``n_t`` training rows and ``h`` others, at rank ``r = min(n_t, n_features)``: forming the Gram matrix
    or the kernel (``r^2 max(n_t, n_features)``) and decomposing it (``EIGH_COST r^3``) are paid once; each target adds
    its projection onto the eigenvectors (``r^2``) and its held-out predictions at every alpha (``n_alphas h r``).

    Returns
    -------
    fixed, per_target : float
        Multiply-adds summed over the folds.
    """
    fixed = per_target = 0.0
    for train, _, _ in splits:
        n_train = len(train)
        rank = float(min(n_train, n_features))
        fixed += EIGH_COST * rank**3 + rank**2 * max(n_train, n_features)
        per_target += rank * (rank + n_alphas * (n_samples - n_train))
    return fixed, per_target


def riders_pay(
    n_samples: int, n_features: int, splits: Sequence[Split], n_alphas: int, n_riders: int, n_fits: int
) -> bool:
    """Whether ``n_riders`` more targets, needed with one of ``n_fits`` designs not yet known, take less time fitted
    beside every one of them (sharing each fit's decompositions) than in one fit of their own afterwards.

    Riding costs ``n_fits`` times the riders' per-target work; a fit of their own costs that work once plus the
    decompositions.  At the study extraction's widths the decompositions dominate (sub-3's 10,570 events x 8,168
    columns: riding pays for up to 3 fits); at 768 columns the targets' work does (riding pays for 1).

    Parameters
    ----------
    n_samples, n_features : int
        The designs' shape (the first's, when they differ).
    splits : the folds
    n_alphas, n_riders, n_fits : int
    """
    fixed, per_target = fold_costs(n_samples, n_features, splits, n_alphas)
    return (n_fits - 1) * n_riders * per_target < fixed
