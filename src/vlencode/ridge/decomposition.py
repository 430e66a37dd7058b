"""One eigendecomposition of a ridge design serves every alpha and every target.

With the training design centred (and scaled) to ``Xs``, ridge regression with penalty ``alpha`` has weights

* primal, ``Xs'Xs = V diag(s) V'``:  ``W = V diag(1 / (s + alpha)) V' Xs' Y``
* dual, ``Xs Xs' = U diag(s) U'``:  ``W = Xs' U diag(1 / (s + alpha)) U' Y``

Both read ``W = F diag(1 / (s + alpha)) Z`` with a feature basis ``F`` (``V``, or ``Xs'U``) and projected targets
``Z = T' Y`` (``T = Xs V``, or ``U``), and held-out predictions are ``(Xh F) diag(1 / (s + alpha)) Z``.  So a fold is
decomposed once, its held-out rows are projected once, and each alpha costs a diagonal scaling and one product.  The
primal form is used when the fold has at least as many training rows as features (the smaller Gram matrix).

The dual form never materialises ``F`` (``[n_features, n_train]``, which cost as many operations as the kernel
itself): held-out rows are projected through the cross-kernel, ``Xh F = (Xh Xs') U`` in float64, and weights are
formed as ``Xs' (U diag(1 / (s + alpha)) Z)``.  Its cost then grows with the features only through the kernel and
the cross-kernel.  The kernel is formed per fold: standardisation uses each fold's training statistics, so no kernel
over all rows contains the folds' kernels as sub-blocks.

The Gram matrix (or kernel) and its eigendecomposition are computed in float64 (eigenvalues of an ill-conditioned design
lose their small end in float32); the bases are then cast to the compute dtype for the products.  Measured on 2000 x 256
near-low-rank features (rank 20 + 1% noise, like network activations), 300 targets, against an all-float64 fit: a
float32 eigendecomposition moved test r by up to 2e-2 and flipped 0.9% of the chosen alphas; float64 eigendecomposition
with float32 products stayed within 1.1e-6 and agreed on every alpha.  On the CPU both go through NumPy and SciPy
(:func:`gram_matrix`: BLAS ``syrk``, half a general product's operations; :func:`_eigh`: SciPy's LAPACK, faster here
than the MKL inside torch's wheels), and the eigendecomposition runs on one thread: a Gram matrix of a few hundred
features gains little from threads, and the threaded LAPACK tridiagonalisation was measured 10-20x slower than one
thread when other processes share the cores (a 4000 x 4000 kernel: 38 s on one thread, 65 s on two, on a loaded 2-core
machine).
The cross-validation instead decomposes its folds side by side, one per core
(:func:`vlencode.ridge.memory.map_single_threaded`).
"""

from __future__ import annotations

from dataclasses import dataclass

import scipy.linalg
import torch

from vlencode.ridge.memory import blas_threads


@dataclass(frozen=True)
class FoldDecomposition:
    """The decomposition of one fold's training design.

    Attributes
    ----------
    solver : str
        ``"primal"`` (eigendecomposition of ``X'X``) or ``"dual"`` (of ``XX'``).
    eigenvalues : torch.Tensor
        ``[rank]`` float64, clipped at 0 (round-off makes the null space's eigenvalues slightly negative).
    train_basis : torch.Tensor or None
        ``[n_train, rank]``; projected targets are ``train_basis.T @ (Y_train - Y_train.mean(0))``.  None from
        :func:`decompose_gram` (the cross-validation then downdates the projected targets instead), and None once a
        fold has projected its held-out rows (:func:`vlencode.ridge.fold.prepare_fold`).
    feature_basis : torch.Tensor or None
        Primal: ``[n_features, rank]``; weights in the scaled feature space are ``feature_basis @ (shrink * Z)``.
        None for the dual, whose basis ``train_rows.T @ train_basis`` is never formed (see the module note).
    train_rows, vectors : torch.Tensor or None
        Dual: ``[n_train, n_features]`` the centred, scaled training rows and ``[n_train, rank]`` the kernel's
        eigenvectors, both float64 (held-out rows are projected through them in float64, see :meth:`project`); None
        for the primal, and once a fold has projected its held-out rows.
    mean : torch.Tensor
        ``[n_features]`` float64 training means.
    scale : torch.Tensor
        ``[n_features]`` float64 factor applied after centring: ``1/std`` when standardising (0 for a constant
        column, which becomes all zeros), times any column weight.
    dtype : torch.dtype
        Compute dtype of the bases and of what :meth:`project`, :meth:`shrinkage` and :meth:`weights` return.
    """

    solver: str
    eigenvalues: torch.Tensor
    train_basis: torch.Tensor | None
    feature_basis: torch.Tensor | None
    mean: torch.Tensor
    scale: torch.Tensor
    dtype: torch.dtype
    train_rows: torch.Tensor | None = None
    vectors: torch.Tensor | None = None

    def project(self, rows: torch.Tensor) -> torch.Tensor:
        """Project design rows (centred and scaled with the training statistics) onto the feature basis.

        Parameters
        ----------
        rows : torch.Tensor
            ``[m, n_features]`` rows of the design, unscaled.

        Returns
        -------
        torch.Tensor
            ``[m, rank]`` in the compute dtype.  The dual multiplies the cross-kernel ``[m, n_train]`` by the
            eigenvectors, in float64 (``2 m n_train (n_features + rank)`` operations; the feature basis would have
            cost ``2 n_features n_train rank``): in float32 the cross-kernel's round-off, set by the largest
            eigenvalues, swamped the directions of small eigenvalues, and validation r moved by up to 7e-5 from the
            feature-basis projection at 5000 x 7800.

        Raises
        ------
        ValueError
            When the bases it needs were released (a prepared fold's decomposition).
        """
        scaled = (rows.to(torch.float64) - self.mean) * self.scale
        if self.feature_basis is not None:
            return scaled.to(self.dtype) @ self.feature_basis
        if self.train_rows is None or self.vectors is None:
            raise ValueError("ridge dual decomposition without its training rows and basis cannot project rows")
        return ((scaled @ self.train_rows.T) @ self.vectors).to(self.dtype)

    def weights(self, coordinates: torch.Tensor) -> torch.Tensor:
        """Weights in the scaled feature space of coordinates in the eigenbasis.

        Parameters
        ----------
        coordinates : torch.Tensor
            ``[rank, batch]`` in the compute dtype, e.g. ``shrink[:, None] * Z``.

        Returns
        -------
        torch.Tensor
            ``[n_features, batch]``: ``feature_basis @ coordinates``, for the dual
            ``train_rows.T @ (train_basis @ coordinates)`` in the compute dtype (``2 n_train (rank + n_features)``
            operations per column).

        Raises
        ------
        ValueError
            When the bases it needs were released.
        """
        if self.feature_basis is not None:
            return self.feature_basis @ coordinates
        if self.train_rows is None or self.train_basis is None:
            raise ValueError("ridge dual decomposition without its training rows and basis cannot form weights")
        return self.train_rows.to(self.dtype).T @ (self.train_basis @ coordinates)

    def shrinkage(self, alphas: torch.Tensor) -> torch.Tensor:
        """``1 / (s + alpha)`` for every alpha: ``[n_alphas, rank]`` in the compute dtype."""
        return (1.0 / (self.eigenvalues[None, :] + alphas.to(torch.float64)[:, None])).to(self.dtype)


def column_scale(x_train: torch.Tensor, standardize: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Training means and the per-column scale that follows centring.

    Parameters
    ----------
    x_train : torch.Tensor
        ``[n_train, n_features]`` training rows.
    standardize : bool
        Scale every column to unit variance (population std, like scikit-learn's StandardScaler).

    Returns
    -------
    mean, scale : torch.Tensor
        ``[n_features]`` float64.  A column constant over the training rows gets scale 0 (it is all zeros after
        centring, so it neither contributes nor amplifies round-off); otherwise ``1/std`` or 1.
    """
    x = x_train.to(torch.float64)
    mean = x.mean(0)
    constant = x_train.amax(0) == x_train.amin(0)
    scale = torch.ones_like(mean)
    if standardize:
        scale = 1.0 / x.std(0, correction=0).clamp_min(torch.finfo(torch.float64).tiny)
    return mean, torch.where(constant, torch.zeros_like(scale), scale)


def decompose_gram(
    gram: torch.Tensor,
    mean: torch.Tensor,
    constant: torch.Tensor,
    n_train: int,
    *,
    standardize: bool,
    dtype: torch.dtype,
    column_weight: torch.Tensor | None = None,
) -> FoldDecomposition:
    """The primal decomposition of a fold from its training rows' centred Gram matrix, without a training basis.

    The cross-validation downdates each fold's Gram matrix from the one over all rows (a fifth of the rows multiplied
    per fold with 5 folds instead of four fifths); scaling, eigenvalues and feature basis are those of
    :func:`decompose`.

    Parameters
    ----------
    gram : torch.Tensor
        ``[n_features, n_features]`` float64 ``(X_train - mean)' (X_train - mean)``.
    mean : torch.Tensor
        ``[n_features]`` float64 training means.
    constant : torch.Tensor
        ``[n_features]`` bool, the columns constant over the training rows (scale 0).
    n_train : int
        Training rows (the variances are the Gram diagonal over ``n_train``).
    standardize, dtype, column_weight
        As in :func:`decompose`.

    Returns
    -------
    FoldDecomposition
        Primal, with ``train_basis`` None.
    """
    scale = torch.ones_like(mean)
    if standardize:
        # Clipped before the root: round-off can leave a downdated variance slightly negative.
        scale = 1.0 / (gram.diagonal() / n_train).clamp_min(torch.finfo(torch.float64).tiny).sqrt()
    scale = torch.where(constant, torch.zeros_like(scale), scale)
    if column_weight is not None:
        scale = scale * column_weight.to(torch.float64)
    eigenvalues, vectors = _eigh(gram * scale[:, None] * scale[None, :])
    return FoldDecomposition(
        solver="primal",
        eigenvalues=eigenvalues.clamp_min(0.0),
        train_basis=None,
        feature_basis=vectors.to(dtype),
        mean=mean,
        scale=scale,
        dtype=dtype,
    )


def gram_matrix(x: torch.Tensor, *, outer: bool = False) -> torch.Tensor:
    """The Gram matrix ``x' x`` of a float64 matrix, or its kernel ``x x'`` with ``outer``.

    On the CPU it goes through NumPy, whose matrix product recognises a matrix times its own transpose and forms one
    triangle with BLAS ``syrk``: half the operations of torch's general product.  Measured on one core of this
    project's 2-core AMD EPYC: 0.11 s against 0.21 s for 10,570 x 768 (``x' x``), 1.3 s against 2.6 s for the
    3,250 x 7,241 kernel.  On other devices, torch's product.

    Parameters
    ----------
    x : torch.Tensor
        ``[n, m]`` float64.
    outer : bool
        ``x x'`` (``[n, n]``) instead of ``x' x`` (``[m, m]``).
    """
    if x.device.type != "cpu":
        return x @ x.T if outer else x.T @ x
    a = x.numpy()
    with blas_threads(torch.get_num_threads()):
        return torch.from_numpy(a @ a.T if outer else a.T @ a)


def _eigh(gram: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (ascending) and eigenvectors of a symmetric float64 matrix, which it overwrites on the CPU, on one
    thread there (see the module note).

    On the CPU through SciPy's LAPACK (``scipy.linalg.eigh``, ``driver="evd"``: divide and conquer, as
    ``torch.linalg.eigh``), in place: the eigenvectors take the matrix's memory, so the decomposition needs the
    matrix and LAPACK's workspace only (:func:`vlencode.ridge.memory.fold_bytes`).  The Intel MKL inside torch's CPU
    wheels was measured 1.1-1.7x slower on one core of this project's AMD EPYC (768: 0.073 s against 0.065; 3,250:
    7.1 s against 4.8; 6,000: 45 s against 26), and the study extraction's layers make fold kernels of 3,000-8,500
    rows.  On other devices, ``torch.linalg.eigh``.
    """
    if gram.device.type != "cpu":
        return torch.linalg.eigh(gram)
    # The transpose of a C-ordered symmetric matrix is the same matrix in the Fortran order LAPACK overwrites.
    matrix = gram.numpy().T
    with blas_threads(1):
        values, vectors = scipy.linalg.eigh(matrix, lower=True, overwrite_a=True, check_finite=False, driver="evd")
    return torch.from_numpy(values), torch.from_numpy(vectors)


def decompose(
    x_train: torch.Tensor,
    *,
    standardize: bool,
    dtype: torch.dtype,
    column_weight: torch.Tensor | None = None,
    solver: str = "auto",
) -> FoldDecomposition:
    """Centre, scale and eigendecompose one fold's training design.

    Parameters
    ----------
    x_train : torch.Tensor
        ``[n_train, n_features]`` training rows on the compute device.
    standardize : bool
        Scale columns to unit training variance (after centring).
    dtype : torch.dtype
        Compute dtype of the bases (the Gram matrix and ``eigh`` are float64 whatever it is).
    column_weight : torch.Tensor or None
        ``[n_features]`` factor applied after scaling (banded ridge scales each band by the square root of its
        weight); None for 1.
    solver : str
        ``"auto"`` (primal when ``n_train >= n_features``, else dual), ``"primal"`` or ``"dual"``.

    Returns
    -------
    FoldDecomposition
    """
    mean, scale = column_scale(x_train, standardize)
    if column_weight is not None:
        scale = scale * column_weight.to(torch.float64)
    scaled = (x_train.to(torch.float64) - mean) * scale
    n_train, n_features = scaled.shape
    if solver == "auto":
        solver = "primal" if n_train >= n_features else "dual"
    feature_basis = train_rows = dual_vectors = None
    if solver == "primal":
        eigenvalues, vectors = _eigh(gram_matrix(scaled))
        feature_basis = vectors.to(dtype)
        train_basis = scaled.to(dtype) @ feature_basis
    elif solver == "dual":
        eigenvalues, vectors = _eigh(gram_matrix(scaled, outer=True))
        train_basis, train_rows, dual_vectors = vectors.to(dtype), scaled, vectors
    else:
        raise ValueError(f"ridge solver must be 'auto', 'primal' or 'dual', got {solver!r}")
    return FoldDecomposition(
        solver=solver,
        eigenvalues=eigenvalues.clamp_min(0.0),
        train_basis=train_basis,
        feature_basis=feature_basis,
        mean=mean,
        scale=scale,
        dtype=dtype,
        train_rows=train_rows,
        vectors=dual_vectors,
    )
