"""Ridge coefficients and intercept of a fit on all rows, from the same decomposition the cross-validation uses."""

from __future__ import annotations

import numpy as np
import torch

from vlencode.device import resolve_device
from vlencode.ridge.checks import check_array, check_options
from vlencode.ridge.decomposition import FoldDecomposition, decompose
from vlencode.ridge.memory import torch_threads


def ridge_coefficients(
    X: np.ndarray,
    Y: np.ndarray,
    alpha: float | np.ndarray,
    *,
    standardize: bool = False,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float64,
    targets_batch: int | None = None,
    n_threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Ridge regression with intercept on all rows: ``min ||Y - X W - b||^2 + alpha ||W||^2``.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        Design.
    Y : array of shape (n_samples, n_targets)
        Targets.
    alpha : float or array of shape (n_targets,)
        Positive penalty, shared or one per target (a refit at each target's chosen alpha).
    standardize : bool
        Penalise the coefficients of the standardised design (training std, population); the coefficients
        returned still apply to the unscaled ``X``.  A constant column gets coefficient 0.
    device : str or torch.device
        ``"cpu"`` (default), ``"cuda[:N]"`` or ``"auto"``.
    dtype : torch.dtype
        Compute dtype of the products; float64 by default (reference checks), float32 for fast refits.
    targets_batch : int or None
        Targets per batch (None: all at once); 0 or less is an error, not "all at once".
    n_threads : int or None
        torch intra-op threads for this call; None keeps torch's setting.

    Returns
    -------
    coef : numpy.ndarray
        ``[n_features, n_targets]`` in the dtype of ``dtype``, so that ``X @ coef + intercept`` predicts ``Y``.
    intercept : numpy.ndarray
        ``[n_targets]``.
    """
    check_options(solver="auto", dtype=dtype, targets_batch=targets_batch, memory_gb=None)
    X = check_array("X", X, "features")
    Y = check_array("Y", Y, "targets")
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"ridge X has {X.shape[0]} rows but Y has {Y.shape[0]}; they must describe the same events")
    n_targets = Y.shape[1]
    alpha = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (n_targets,)).copy()
    if not np.all(np.isfinite(alpha)) or np.any(alpha <= 0):
        raise ValueError("ridge alpha must be finite and > 0")
    with torch_threads(n_threads), torch.no_grad():
        X_device = torch.as_tensor(X, device=resolve_device(device))
        decomposition = decompose(X_device, standardize=standardize, dtype=dtype)
        return _coefficients_by_batch(decomposition, Y, alpha, targets_batch or n_targets)


def _coefficients_by_batch(
    decomposition: FoldDecomposition, Y: np.ndarray, alpha: np.ndarray, targets_batch: int
) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients ``[n_features, n_targets]`` and intercepts of every target of ``Y`` at its ``alpha``, from the
    decomposition of all rows, ``targets_batch`` targets at a time (on the decomposition's device and dtype)."""
    device, dtype = decomposition.scale.device, decomposition.dtype
    n_targets = Y.shape[1]
    coef = np.empty((decomposition.scale.shape[0], n_targets), dtype=torch.empty((), dtype=dtype).numpy().dtype)
    intercept = np.empty(n_targets, dtype=coef.dtype)
    for start in range(0, n_targets, targets_batch):
        batch = slice(start, min(start + targets_batch, n_targets))
        y = torch.from_numpy(np.ascontiguousarray(Y[:, batch])).to(device=device, dtype=dtype)
        y_mean = y.mean(0)
        # Shrinkage per distinct alpha, gathered per target: a refit has a few distinct alphas, so this spares the
        # float64 [rank, batch] passes of forming 1 / (s + alpha) per target.
        distinct, which = np.unique(alpha[batch], return_inverse=True)
        weights, bias = refit_coefficients(
            decomposition,
            y - y_mean,
            y_mean,
            None,
            torch.as_tensor(distinct, device=device),
            torch.as_tensor(which, device=device),
        )
        coef[:, batch] = weights.cpu().numpy()
        intercept[batch] = bias.cpu().numpy()
    return coef, intercept


def refit_coefficients(
    whole: FoldDecomposition,
    y: torch.Tensor,
    offset: torch.Tensor,
    cross: torch.Tensor | None,
    alphas: torch.Tensor,
    chosen: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Coefficients ``[n_features, batch]`` and intercepts of a fit on all rows, each target at its ``chosen`` alpha.

    Parameters
    ----------
    whole : FoldDecomposition
        The decomposition of all rows.
    y : torch.Tensor
        ``[n_samples, batch]`` targets centred over all rows; ``offset`` ``[batch]`` their means.
    cross : torch.Tensor or None
        ``Xc' y`` over all rows (``Xc`` the design centred over all rows), needed when ``whole`` has no training
        basis (decomposed from the Gram matrix); the downdated folds formed it.
    alphas, chosen : torch.Tensor
        The alphas, and an index into them per target.
    """
    if whole.train_basis is not None:
        z = whole.train_basis.T @ y
    elif cross is not None and whole.feature_basis is not None:
        z = (whole.scale[:, None] * whole.feature_basis.to(torch.float64)).to(y.dtype).T @ cross
    else:
        raise ValueError("ridge refit of a decomposition without training basis needs cross, Xc' y over all rows")
    z.mul_(torch.index_select(whole.shrinkage(alphas).T, 1, chosen))
    weights = whole.weights(z).mul_(whole.scale[:, None].to(y.dtype))
    return weights, offset - whole.mean.to(y.dtype) @ weights
