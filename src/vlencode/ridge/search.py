"""The search behind both public solvers: band weights x alphas per fold and target, by validation r.

The search runs in steps: per candidate band weighting, the design is weighted and its folds prepared
(:func:`prepare_candidate`); per batch of targets, every fold is scored and a :class:`SearchAccumulator` keeps, per
fold and target, the candidate and alpha with the best validation r (:func:`score_batch`).  Targets are processed in
batches (``targets_batch``, or what :mod:`vlencode.ridge.memory` plans for the memory budget); results do not depend
on the batch size beyond float round-off.  On the CPU the folds (and the refit's decomposition) are prepared side by
side, one per torch thread: their float64 eigendecompositions dominate small problems and gain little from threads
within one call.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from vlencode.device import resolve_device
from vlencode.ridge.checks import Split, check_options
from vlencode.ridge.coefficients import refit_coefficients
from vlencode.ridge.decomposition import FoldDecomposition
from vlencode.ridge.downdate import CentredDesign, decompose_all_rows, downdates, held_cross_products
from vlencode.ridge.fold import Fold, Rows, fold_rank, prepare_fold, row_selection
from vlencode.ridge.memory import (
    AVAILABLE_SHARE,
    available_memory_bytes,
    bytes_per_target,
    concurrent_items,
    fixed_bytes,
    map_single_threaded,
    plan_targets_batch,
    torch_threads,
)
from vlencode.ridge.scoring import FoldScores, flat_targets, score_fold


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
        ``[n_folds, n_targets]`` float32, test Pearson r at ``best_alpha`` (NaN for a fold without test rows, and
        everywhere without ``score_test``).
    prediction : numpy.ndarray or None
        ``[n_samples, n_targets]`` float32, each validation and test event predicted by its fold's model at that
        fold's ``best_alpha``; NaN for events in no validation or test set, and for the test events without
        ``score_test`` (None unless ``return_predictions``).
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

    def columns(self, targets: slice) -> RidgeCVResult:
        """The result of the targets ``targets`` selects, as if they had been fitted alone: every target is searched
        and scored on its own, so a joint fit's columns are a separate fit's, to float rounding (views, no copy)."""
        return replace(
            self,
            best_alpha=self.best_alpha[:, targets],
            val_r=self.val_r[:, targets],
            test_r=self.test_r[:, targets],
            prediction=None if self.prediction is None else self.prediction[:, targets],
            val_r_all=None if self.val_r_all is None else self.val_r_all[:, :, targets],
            band_weights=None if self.band_weights is None else self.band_weights[:, targets],
            refit_alpha=None if self.refit_alpha is None else self.refit_alpha[targets],
            coef=None if self.coef is None else self.coef[:, targets],
            intercept=None if self.intercept is None else self.intercept[targets],
        )


@dataclass(frozen=True)
class SearchOptions:
    """How :func:`search` fits and what it returns: the options of :func:`vlencode.ridge.cross_validated_ridge` and
    :func:`vlencode.ridge.banded_ridge_cv`, documented here once.

    Attributes
    ----------
    standardize : bool
        Scale features to unit variance with the training rows' statistics (after centring).  A feature constant over
        a fold's training rows is set to zero in that fold.
    device : str or torch.device
        ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda[:N]"``.
    dtype : torch.dtype
        Compute dtype of the products (float32; float64 for reference checks).  The Gram matrix and its
        eigendecomposition are float64 regardless.
    targets_batch : int or None
        Targets per batch; None lets the planner choose from ``memory_gb``.
    memory_gb : float or None
        Working-memory budget (GiB) for the planner; None takes half of the memory free on the device.
    return_all_alphas : bool
        Also return ``val_r_all[fold, alpha, target]`` (n_alphas times the size of ``val_r``).
    return_predictions : bool
        Return the out-of-fold predictions (``prediction`` is None otherwise, saving a product over the validation
        rows per fold and an ``[n_samples, n_targets]`` array).
    score_test : bool
        Score the test rows (``test_r`` is NaN otherwise, and the test rows' predictions too, saving their projection
        and a product per fold): a search that ranks by validation r alone, such as a layer-screening proxy, skips
        them.
    n_threads : int or None
        torch intra-op threads for this call (restored after); None keeps torch's setting.
    solver : str
        ``"auto"`` decomposes ``X'X`` when a fold has at least as many training rows as features, else ``XX'``;
        ``"primal"`` or ``"dual"`` force one (same results, different cost).
    refit : bool
        Also fit every target on all rows at the alpha with the best validation r averaged over the folds
        (``refit_alpha``, ``coef``, ``intercept``), like the ``RidgeCV`` estimators of scikit-learn and himalaya.  The
        decomposition of all rows runs beside the folds' and reuses their Gram matrices and cross-products.

    Raises
    ------
    ValueError
        Unknown or conflicting options (:func:`vlencode.ridge.checks.check_options`), on construction.
    """

    standardize: bool
    device: str | torch.device
    dtype: torch.dtype
    targets_batch: int | None
    memory_gb: float | None
    return_all_alphas: bool
    n_threads: int | None
    return_predictions: bool = True
    score_test: bool = True
    solver: str = "auto"
    refit: bool = False

    def __post_init__(self) -> None:
        check_options(
            solver=self.solver,
            dtype=self.dtype,
            targets_batch=self.targets_batch,
            memory_gb=self.memory_gb,
            n_threads=self.n_threads,
        )


@dataclass(frozen=True)
class SearchInputs:
    """What every step of one search shares: the targets ``Y`` (on the host), the checked ``splits``, the design and
    the alphas on the ``device``, and the rows no fold holds out (``never_held``; ``rest``, their selection, or None
    when every row is held out once)."""

    Y: np.ndarray
    splits: list[Split]
    design: torch.Tensor
    alphas: torch.Tensor
    never_held: np.ndarray
    rest: Rows | None
    device: torch.device

    @classmethod
    def on_device(
        cls, X: np.ndarray, Y: np.ndarray, splits: list[Split], alphas: np.ndarray, device: torch.device
    ) -> SearchInputs:
        """Move the design and the alphas to ``device`` and find the rows no fold holds out."""
        held_rows = np.concatenate([np.concatenate([val, test]) for _, val, test in splits])
        never_held = np.setdiff1d(np.arange(X.shape[0]), held_rows)
        rest = row_selection(never_held, device) if never_held.size else None
        return cls(
            Y,
            splits,
            torch.as_tensor(X, device=device),
            torch.as_tensor(alphas, device=device),
            never_held,
            rest,
            device,
        )


def plan_batch(
    X: np.ndarray, n_targets: int, splits: list[Split], n_alphas: int, options: SearchOptions, device: torch.device
) -> tuple[int, int | None]:
    """Targets per batch and folds decomposed at once.

    Targets per batch: ``options.targets_batch``, or the largest batch the memory budget holds
    (:func:`vlencode.ridge.memory.plan_targets_batch`).  Folds are decomposed side by side
    (:func:`vlencode.ridge.memory.concurrent_items`; None) unless the budget then holds no target, as for wide
    Gram matrices (10,500 events x 7,900 features: 2 GB of float64 work per fold) in half of 24 GB: then one at a
    time (1).
    """
    if options.targets_batch is not None:
        return options.targets_batch, None
    n_samples, n_features = X.shape
    itemsize = torch.empty((), dtype=options.dtype).element_size()
    ranks = [fold_rank(len(tr), n_features, options.solver) for tr, _, _ in splits]
    fold_shapes = [
        (len(tr), len(va) + len(te), rank == n_features, downdates((tr, va, te), n_samples, n_features, options.solver))
        for (tr, va, te), rank in zip(splits, ranks)
    ]
    if options.refit:
        primal = fold_rank(n_samples, n_features, options.solver) == n_features
        fold_shapes.append((n_samples, 0, primal, any(shape[3] for shape in fold_shapes)))
    # Counted for any fold whose training rows are all the others: banded candidates drop columns, which can make
    # such a fold primal (downdated) where the full design is not.
    complement = any(len(tr) + len(va) + len(te) == n_samples for tr, va, te in splits)
    cross_rows = (len(splits) + 1) * n_features if complement else 0
    per_target = bytes_per_target(
        n_samples, max(len(va) + len(te) for _, va, te in splits), max(ranks), n_alphas, itemsize, cross_rows
    )
    budget = None if options.memory_gb is None else int(options.memory_gb * 2**30)
    concurrent = concurrent_items(len(fold_shapes), device)
    fixed = fixed_bytes(n_samples, n_features, fold_shapes, itemsize, concurrent, complement)
    if concurrent > 1 and budget is None:
        budget = int(available_memory_bytes(device) * AVAILABLE_SHARE)
    if concurrent > 1 and budget is not None and budget < fixed + per_target:
        fixed = fixed_bytes(n_samples, n_features, fold_shapes, itemsize, 1, complement)
        return plan_targets_batch(n_targets, per_target, fixed, budget, device), 1
    return plan_targets_batch(n_targets, per_target, fixed, budget, device), None


@dataclass(frozen=True)
class RefitArrays:
    """The refit's results gathered batch by batch: per target the index of the alpha with the best fold-mean
    validation r (``alpha``), and the coefficients ``[n_features, n_targets]`` and intercepts at that alpha."""

    alpha: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray


@dataclass
class SearchAccumulator:
    """Per fold and target, the best candidate and alpha found so far and their scores, filled batch by batch.

    ``best_alpha`` and ``best_candidate`` ``[n_folds, n_targets]`` index the alphas and the candidates; ``val_r``
    starts at -inf so the first candidate always improves; ``test_r`` and ``prediction`` hold the values at the best
    (candidate, alpha).  A later candidate replaces an earlier one only where it raises the validation r, so ties keep
    the first.  ``val_r_all`` and ``refit`` score a single candidate.  ``solver`` is set from the first candidate.
    """

    best_alpha: np.ndarray
    best_candidate: np.ndarray
    val_r: np.ndarray
    test_r: np.ndarray
    prediction: np.ndarray | None
    val_r_all: np.ndarray | None
    refit: RefitArrays | None
    solver: tuple[str, ...] = ()

    @classmethod
    def empty(
        cls, n_samples: int, n_features: int, n_targets: int, n_folds: int, n_alphas: int, options: SearchOptions
    ) -> SearchAccumulator:
        """Nothing found yet, for a problem of that size and the results ``options`` asks for."""
        shape = (n_folds, n_targets)
        refit = None
        if options.refit:
            coef = np.empty((n_features, n_targets), dtype=torch.empty((), dtype=options.dtype).numpy().dtype)
            refit = RefitArrays(np.zeros(n_targets, dtype=np.intp), coef, np.empty(n_targets, dtype=coef.dtype))
        return cls(
            best_alpha=np.zeros(shape, dtype=np.intp),
            best_candidate=np.zeros(shape, dtype=np.intp),
            val_r=np.full(shape, -np.inf, dtype=np.float32),
            test_r=np.full(shape, np.nan, dtype=np.float32),
            prediction=np.full((n_samples, n_targets), np.nan, dtype=np.float32)
            if options.return_predictions
            else None,
            val_r_all=np.zeros((n_folds, n_alphas, n_targets), dtype=np.float32) if options.return_all_alphas else None,
            refit=refit,
        )

    def keep_fold(self, k: int, split: Split, batch: slice, candidate: int, scores: FoldScores) -> None:
        """Keep fold ``k``'s scores of ``candidate`` on the targets ``batch`` where they raise the validation r."""
        fold_val_r = scores.val_r.float().cpu().numpy()
        improved = fold_val_r > self.val_r[k, batch]
        updates: list[tuple[np.ndarray, np.ndarray | int]] = [
            (self.best_alpha[k], scores.best.cpu().numpy()),
            (self.best_candidate[k], candidate),
            (self.val_r[k], fold_val_r),
            (self.test_r[k], scores.test_r.float().cpu().numpy()),
        ]
        for stored, found in updates:
            stored[batch] = np.where(improved, found, stored[batch])
        if self.prediction is not None:
            for rows, rows_prediction in ((split[1], scores.val_prediction), (split[2], scores.test_prediction)):
                if len(rows) and len(rows_prediction):  # an unscored test set has no predictions
                    _keep_better(self.prediction, rows, batch, rows_prediction.float().cpu().numpy(), improved)
        if self.val_r_all is not None:
            self.val_r_all[k, :, batch] = scores.val_r_all.float().cpu().numpy()

    def result(self, alphas: np.ndarray, candidates: np.ndarray, banded: bool, targets_batch: int) -> RidgeCVResult:
        """The search's result: indices turned into alphas (and band weights when ``banded``)."""
        return RidgeCVResult(
            alphas=alphas,
            best_alpha=alphas[self.best_alpha],
            val_r=self.val_r,
            test_r=self.test_r,
            prediction=self.prediction,
            solver=self.solver,
            targets_batch=int(targets_batch),
            val_r_all=self.val_r_all,
            band_weights=candidates[self.best_candidate].astype(np.float32) if banded else None,
            refit_alpha=alphas[self.refit.alpha] if self.refit is not None else None,
            coef=self.refit.coef if self.refit is not None else None,
            intercept=self.refit.intercept if self.refit is not None else None,
        )


def _keep_better(
    prediction: np.ndarray, rows: np.ndarray, batch: slice, found: np.ndarray, improved: np.ndarray
) -> None:
    """Write ``found`` into ``prediction[rows, batch]`` for the improved targets (all of them without reading the
    old values, as for the first candidate)."""
    if improved.all():
        prediction[rows, batch] = found
    else:
        prediction[rows, batch] = np.where(improved[None, :], found, prediction[rows, batch])


def weighted_design(
    design: torch.Tensor, bands: list[np.ndarray], weights: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The columns of the bands ``weights`` keeps (weight > 0), and with several bands the weight of each kept
    column, the square root of its band's (applied after standardisation)."""
    columns = np.concatenate([band for band, weight in zip(bands, weights) if weight > 0])
    column_weight = None
    if len(bands) > 1:
        column_weight = torch.as_tensor(
            np.concatenate([np.full(len(b), np.sqrt(w)) for b, w in zip(bands, weights) if w > 0]),
            device=design.device,
        )
    if columns.size == design.shape[1] and column_weight is None:
        return design, None
    return design[:, columns], column_weight


@dataclass(frozen=True)
class FoldPreparation:
    """One candidate's work items, run side by side (:func:`vlencode.ridge.memory.map_single_threaded`): item ``k``
    prepares fold ``k``, and item ``n_folds`` the refit's decomposition of all rows.  ``centred`` is the design
    centred over all rows when a fold is downdated (``downdated[k]``)."""

    inputs: SearchInputs
    options: SearchOptions
    design: torch.Tensor
    column_weight: torch.Tensor | None
    centred: CentredDesign | None
    downdated: list[bool]

    def __call__(self, k: int) -> Fold | FoldDecomposition:
        """Fold ``k`` ready to score, or (``k == n_folds``) the decomposition of all rows."""
        options = self.options
        if k == len(self.inputs.splits):
            return decompose_all_rows(self.design, self.centred, options.standardize, options.dtype, options.solver)
        return prepare_fold(
            self.design,
            self.centred if self.downdated[k] else None,
            k,
            self.inputs.splits[k],
            alphas=self.inputs.alphas,
            standardize=options.standardize,
            dtype=options.dtype,
            column_weight=self.column_weight,
            solver=options.solver,
            n_targets=self.inputs.Y.shape[1],
            score_test=options.score_test,
        )


@dataclass(frozen=True)
class PreparedCandidate:
    """One candidate's folds ready to score, the refit's decomposition of all rows (with ``refit``), and the
    compute-dtype design centred over all rows that downdated folds take their cross-products from (or None)."""

    folds: list[Fold]
    whole: FoldDecomposition | None
    centred_design: torch.Tensor | None


def prepare_candidate(
    inputs: SearchInputs,
    bands: list[np.ndarray],
    weights: np.ndarray,
    options: SearchOptions,
    workers: int | None = None,
) -> PreparedCandidate:
    """Weight the design by one candidate's band ``weights`` and prepare its folds (and the refit's decomposition).

    The float64 design centred over all rows and its Gram matrices (:class:`~vlencode.ridge.downdate.CentredDesign`)
    serve the folds' decompositions only: they live in this call, and only the compute-dtype copy is returned for the
    batches.  ``workers`` limits the folds decomposed at once (:func:`plan_batch`).
    """
    design, column_weight = weighted_design(inputs.design, bands, weights)
    downdated = [downdates(split, design.shape[0], design.shape[1], options.solver) for split in inputs.splits]
    centred = None
    if any(downdated):
        centred = CentredDesign.of(design, options.dtype, inputs.splits, inputs.never_held)
    prepare = FoldPreparation(inputs, options, design, column_weight, centred, downdated)
    prepared = map_single_threaded(prepare, range(len(inputs.splits) + options.refit), inputs.device, workers)
    return PreparedCandidate(
        folds=[item for item in prepared if isinstance(item, Fold)],
        whole=next((item for item in prepared if isinstance(item, FoldDecomposition)), None),
        centred_design=centred.compute if centred is not None else None,
    )


def score_batch(
    inputs: SearchInputs,
    prepared: PreparedCandidate,
    candidate: int,
    batch: slice,
    accumulator: SearchAccumulator,
    options: SearchOptions,
) -> None:
    """Score every fold of one candidate on the targets ``batch`` into ``accumulator``; with a refit, fit them on all
    rows at the alpha with the best fold-mean validation r."""
    y = torch.from_numpy(np.ascontiguousarray(inputs.Y[:, batch])).to(device=inputs.device, dtype=options.dtype)
    offset = y.mean(0)
    y = y - offset
    folds, centred_design = prepared.folds, prepared.centred_design
    flat = flat_targets(y, folds, inputs.rest)
    held = held_cross_products(centred_design, y, folds, inputs.rest) if centred_design is not None else None
    alpha_sum: torch.Tensor | None = None
    for k, fold in enumerate(folds):
        scores = score_fold(fold, y, offset, flat[k], options.return_predictions, held, k)
        if prepared.whole is not None:
            alpha_sum = scores.val_r_all if alpha_sum is None else alpha_sum + scores.val_r_all
        accumulator.keep_fold(k, inputs.splits[k], batch, candidate, scores)
    # A refit's candidate has its decomposition of all rows and the accumulator its arrays (``options.refit``).
    if accumulator.refit is not None and prepared.whole is not None and alpha_sum is not None:
        chosen = alpha_sum.argmax(0)
        cross = held.total_cross if held is not None else None
        weights, bias = refit_coefficients(prepared.whole, y, offset, cross, inputs.alphas, chosen)
        accumulator.refit.alpha[batch] = chosen.cpu().numpy()
        accumulator.refit.coef[:, batch] = weights.cpu().numpy()
        accumulator.refit.intercept[batch] = bias.cpu().numpy()


def search(
    X: np.ndarray,
    Y: np.ndarray,
    splits: list[Split],
    alphas: np.ndarray,
    bands: list[np.ndarray],
    candidates: np.ndarray,
    options: SearchOptions,
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
    options : SearchOptions
        As in :func:`vlencode.ridge.cross_validated_ridge` (``refit`` with a single candidate).

    Returns
    -------
    RidgeCVResult
        ``band_weights`` is set when there is more than one band.

    Raises
    ------
    ValueError
        ``refit`` or ``return_all_alphas`` with more than one candidate (both would keep only the last candidate's
        values).
    """
    if len(candidates) > 1 and (options.refit or options.return_all_alphas):
        raise ValueError(
            "ridge refit and return_all_alphas score one band weighting, but banded ridge searches "
            f"{len(candidates)}; fit plain ridge on the chosen weighting instead"
        )
    device = resolve_device(options.device)
    (n_samples, n_features), n_targets = X.shape, Y.shape[1]
    targets_batch, workers = plan_batch(X, n_targets, splits, len(alphas), options, device)
    accumulator = SearchAccumulator.empty(n_samples, n_features, n_targets, len(splits), len(alphas), options)
    with torch_threads(options.n_threads), torch.no_grad():
        inputs = SearchInputs.on_device(X, Y, splits, alphas, device)
        for c, weights in enumerate(candidates):
            prepared = prepare_candidate(inputs, bands, weights, options, workers)
            if c == 0:
                accumulator.solver = tuple(fold.decomposition.solver for fold in prepared.folds)
            for start in range(0, n_targets, targets_batch):
                batch = slice(start, min(start + targets_batch, n_targets))
                score_batch(inputs, prepared, c, batch, accumulator, options)
    return accumulator.result(alphas, candidates, len(bands) > 1, targets_batch)
