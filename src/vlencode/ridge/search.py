"""The search behind both public solvers: band weights x alphas per fold and target, by validation r.

Targets are processed in batches (``targets_batch``, or what :mod:`vlencode.ridge.memory` plans for the memory
budget); results do not depend on the batch size beyond float round-off.  On the CPU the folds (and the refit's
decomposition) are prepared side by side, one per torch thread: their float64 eigendecompositions dominate small
problems and gain little from threads within one call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vlencode.device import resolve_device
from vlencode.ridge.checks import Split, check_options
from vlencode.ridge.coefficients import refit_coefficients
from vlencode.ridge.decomposition import FoldDecomposition
from vlencode.ridge.downdate import CentredDesign, decompose_all_rows, downdates, held_cross_products
from vlencode.ridge.fold import Fold, fold_rank, prepare_fold, row_selection
from vlencode.ridge.memory import bytes_per_target, fixed_bytes, map_single_threaded, plan_targets_batch, torch_threads
from vlencode.ridge.scoring import flat_targets, score_fold


@dataclass(frozen=True)
class RidgeCVResult:
    """What cross-validated ridge returns; arrays are numpy, on the host.

    Attributes
    ----------
    alphas : numpy.ndarray
        ``[n_alphas]`` the grid searched (float64).
    best_alpha : numpy.ndarray
        ``[n_folds, n_targets]`` float64, the alpha with the best validation r per fold and target.
    val_r : numpy.ndarray
        ``[n_folds, n_targets]`` float32, validation Pearson r at ``best_alpha``.
    test_r : numpy.ndarray
        ``[n_folds, n_targets]`` float32, test Pearson r at ``best_alpha`` (NaN for a fold without test rows).
    prediction : numpy.ndarray or None
        ``[n_samples, n_targets]`` float32, each validation and test event predicted by its fold's model at that
        fold's ``best_alpha``; NaN for events in no validation or test set (None unless ``return_predictions``).
    solver : tuple of str
        Per fold ``"primal"`` or ``"dual"``.
    targets_batch : int
        Targets processed at once (given, or chosen by the planner).
    val_r_all : numpy.ndarray or None
        ``[n_folds, n_alphas, n_targets]`` float32 validation r of every alpha, when ``return_all_alphas``.
    band_weights : numpy.ndarray or None
        ``[n_folds, n_targets, n_bands]`` float32, the chosen feature-space weights (banded ridge only).
    refit_alpha : numpy.ndarray or None
        ``[n_targets]`` float64, the alpha with the best validation r averaged over the folds (with ``refit``).
    coef : numpy.ndarray or None
        ``[n_features, n_targets]`` in the compute dtype, ridge coefficients on all rows at ``refit_alpha``, for the
        unscaled design: ``X @ coef + intercept`` predicts ``Y`` (with ``refit``).
    intercept : numpy.ndarray or None
        ``[n_targets]``, with ``coef``.
    """

    alphas: np.ndarray
    best_alpha: np.ndarray
    val_r: np.ndarray
    test_r: np.ndarray
    prediction: np.ndarray | None
    solver: tuple[str, ...]
    targets_batch: int
    val_r_all: np.ndarray | None = None
    band_weights: np.ndarray | None = None
    refit_alpha: np.ndarray | None = None
    coef: np.ndarray | None = None
    intercept: np.ndarray | None = None


def _keep_better(
    prediction: np.ndarray, rows: np.ndarray, batch: slice, found: np.ndarray, improved: np.ndarray
) -> None:
    """Write ``found`` into ``prediction[rows, batch]`` for the improved targets (all of them without reading the
    old values, as for the first candidate)."""
    if improved.all():
        prediction[rows, batch] = found
    else:
        prediction[rows, batch] = np.where(improved[None, :], found, prediction[rows, batch])


def search(
    X: np.ndarray,
    Y: np.ndarray,
    splits: list[Split],
    alphas: np.ndarray,
    bands: list[np.ndarray],
    candidates: np.ndarray,
    *,
    standardize: bool,
    device: str | torch.device,
    dtype: torch.dtype,
    targets_batch: int | None,
    memory_gb: float | None,
    return_all_alphas: bool,
    n_threads: int | None,
    return_predictions: bool = True,
    solver: str = "auto",
    refit: bool = False,
) -> RidgeCVResult:
    """Search band weights x alphas per fold and target by validation r (the engine behind both public solvers).

    Parameters
    ----------
    X, Y, splits, alphas
        Checked inputs (see :func:`vlencode.ridge.checks.check_inputs`).
    bands : list of numpy.ndarray
        Column indices of ``X`` per feature space.
    candidates : numpy.ndarray
        ``[n_candidates, n_bands]`` band weights to try; each band's columns are scaled by the square root of its
        weight after standardisation, and bands of weight 0 are left out.  A target keeps the first candidate that
        reaches its best validation r.
    standardize, device, dtype, targets_batch, memory_gb, return_all_alphas, n_threads
        As in :func:`vlencode.ridge.cross_validated_ridge`.
    return_predictions, solver, refit
        As in :func:`vlencode.ridge.cross_validated_ridge` (``refit`` with a single candidate).

    Returns
    -------
    RidgeCVResult
        ``band_weights`` is set when there is more than one band.

    Raises
    ------
    ValueError
        Unknown or conflicting options (:func:`vlencode.ridge.checks.check_options`), or ``refit`` or
        ``return_all_alphas`` with more than one candidate (both would keep only the last candidate's values).
    """
    check_options(solver=solver, dtype=dtype, targets_batch=targets_batch, memory_gb=memory_gb)
    if len(candidates) > 1 and (refit or return_all_alphas):
        raise ValueError(
            "ridge refit and return_all_alphas score one band weighting, but banded ridge searches "
            f"{len(candidates)}; fit plain ridge on the chosen weighting instead"
        )
    device = resolve_device(device)
    n_samples, n_features = X.shape
    n_targets = Y.shape[1]
    n_folds = len(splits)
    itemsize = torch.empty((), dtype=dtype).element_size()
    fold_shapes = [(len(tr), len(va) + len(te), fold_rank(len(tr), n_features, solver)) for tr, va, te in splits]
    # Counted for any fold whose training rows are all the others: banded candidates drop columns, which can make
    # such a fold primal (downdated) where the full design is not.
    cross_rows = 0
    if any(len(tr) + len(va) + len(te) == n_samples for tr, va, te in splits):
        cross_rows = (n_folds + 1) * n_features
    if targets_batch is None:
        targets_batch = plan_targets_batch(
            n_targets,
            bytes_per_target(
                n_samples,
                max(s[1] for s in fold_shapes),
                max(s[2] for s in fold_shapes),
                len(alphas),
                itemsize,
                cross_rows,
            ),
            fixed_bytes(n_samples, n_features, fold_shapes, itemsize),
            None if memory_gb is None else int(memory_gb * 2**30),
            device,
        )

    best_alpha = np.zeros((n_folds, n_targets), dtype=np.intp)
    best_candidate = np.zeros((n_folds, n_targets), dtype=np.intp)
    val_r = np.full((n_folds, n_targets), -np.inf, dtype=np.float32)
    test_r = np.full((n_folds, n_targets), np.nan, dtype=np.float32)
    prediction = np.full((n_samples, n_targets), np.nan, dtype=np.float32) if return_predictions else None
    val_r_all = np.zeros((n_folds, len(alphas), n_targets), dtype=np.float32) if return_all_alphas else None
    refit_alpha = coef = intercept = None
    if refit:
        refit_alpha = np.zeros(n_targets, dtype=np.intp)
        coef = np.empty((n_features, n_targets), dtype=torch.empty((), dtype=dtype).numpy().dtype)
        intercept = np.empty(n_targets, dtype=coef.dtype)
    fold_solvers: list[str] = []

    held_rows = np.concatenate([np.concatenate([val, test]) for _, val, test in splits])
    never_held = np.setdiff1d(np.arange(n_samples), held_rows)
    with torch_threads(n_threads), torch.no_grad():
        rest = row_selection(never_held, device) if never_held.size else None
        X_device = torch.as_tensor(X, device=device)
        alphas_device = torch.as_tensor(alphas, device=device)
        for c, weights in enumerate(candidates):
            kept = weights > 0
            columns = np.concatenate([band for band, keep in zip(bands, kept) if keep])
            column_weight = None
            if len(bands) > 1:
                column_weight = torch.as_tensor(
                    np.concatenate([np.full(len(b), np.sqrt(w)) for b, w in zip(bands, weights) if w > 0]),
                    device=device,
                )
            design = X_device if columns.size == n_features and column_weight is None else X_device[:, columns]
            downdated = [downdates(split, n_samples, design.shape[1], solver) for split in splits]
            centred = CentredDesign.of(design, dtype, splits, never_held) if any(downdated) else None

            def prepare(k: int) -> Fold | FoldDecomposition:
                if k == n_folds:  # the refit's decomposition of all rows: one more work item beside the folds'
                    return decompose_all_rows(design, centred, standardize, dtype, solver)
                fold_centred = centred if downdated[k] else None
                return prepare_fold(
                    design,
                    fold_centred,
                    k,
                    splits[k],
                    alphas=alphas_device,
                    standardize=standardize,
                    dtype=dtype,
                    column_weight=column_weight,
                    solver=solver,
                    n_targets=n_targets,
                )

            prepared = map_single_threaded(prepare, range(n_folds + refit), device)
            folds, whole = prepared[:n_folds], (prepared[n_folds] if refit else None)
            # Only the compute-dtype copy serves the batches; the float64 one was for the folds' Gram matrices.
            centred_design = centred.compute if centred is not None else None
            del centred
            if c == 0:
                fold_solvers = [fold.decomposition.solver for fold in folds]
            for start in range(0, n_targets, targets_batch):
                batch = slice(start, min(start + targets_batch, n_targets))
                y = torch.from_numpy(np.ascontiguousarray(Y[:, batch])).to(device=device, dtype=dtype)
                offset = y.mean(0)
                y = y - offset
                flat = flat_targets(y, folds, rest)
                held = held_cross_products(centred_design, y, folds, rest) if centred_design is not None else None
                for k, (fold, (_, val, test)) in enumerate(zip(folds, splits)):
                    scores = score_fold(fold, y, offset, flat[k], prediction is not None, held, k)
                    if whole is not None:
                        alpha_scores = scores.val_r_all if k == 0 else alpha_scores + scores.val_r_all
                    fold_val_r = scores.val_r.float().cpu().numpy()
                    improved = fold_val_r > val_r[k, batch]
                    updates = [
                        (best_alpha[k], scores.best.cpu().numpy()),
                        (best_candidate[k], c),
                        (val_r[k], fold_val_r),
                        (test_r[k], scores.test_r.float().cpu().numpy()),
                    ]
                    for stored, found in updates:
                        stored[batch] = np.where(improved, found, stored[batch])
                    if prediction is not None:
                        for rows, rows_prediction in ((val, scores.val_prediction), (test, scores.test_prediction)):
                            if len(rows):
                                _keep_better(prediction, rows, batch, rows_prediction.float().cpu().numpy(), improved)
                    if val_r_all is not None:
                        val_r_all[k, :, batch] = scores.val_r_all.float().cpu().numpy()
                if whole is not None:
                    chosen = alpha_scores.argmax(0)
                    refit_alpha[batch] = chosen.cpu().numpy()
                    cross = held.total_cross if held is not None else None
                    weights, bias = refit_coefficients(whole, y, offset, cross, alphas_device, chosen)
                    coef[:, batch] = weights.cpu().numpy()
                    intercept[batch] = bias.cpu().numpy()
                del y, held
    return RidgeCVResult(
        alphas=alphas,
        best_alpha=alphas[best_alpha],
        val_r=val_r,
        test_r=test_r,
        prediction=prediction,
        solver=tuple(fold_solvers),
        targets_batch=int(targets_batch),
        val_r_all=val_r_all,
        band_weights=candidates[best_candidate].astype(np.float32) if len(bands) > 1 else None,
        refit_alpha=alphas[refit_alpha] if refit else None,
        coef=coef,
        intercept=intercept,
    )
