"""Fitting the encoding model: ridge settings, every candidate layer of an alignment, the layer choice and the
bootstrap of its scores, for one subject and model."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vlencode import ridge
from vlencode.bootstrap.bounds import percentile_bounds
from vlencode.bootstrap.fast import fast_bootstrap
from vlencode.bootstrap.inflation import (
    MIN_RESAMPLES,
    NULL_RESAMPLES,
    inflate,
    inflation_factor,
    null_electrodes,
    shifted_null,
)
from vlencode.bootstrap.refit import refit_bootstrap
from vlencode.config import ConfigError
from vlencode.device import resolve_device
from vlencode.encoding.folds import Split, contiguous_splits, select_layer
from vlencode.encoding.inputs import (
    BANDED_LAYER,
    CONCAT_LAYER,
    Design,
    Features,
    PathLike,
    Responses,
    design_matrix,
    load_responses,
    open_features,
)
from vlencode.encoding.screening import Screening, screen_layers
from vlencode.models.registry import ModelInstance
from vlencode.store import input_hash
from vlencode.stores.fit import AlignmentFit, LayerFit, ModelIdentity, SubjectModelFit
from vlencode.stores.resamples import read_indices

log = logging.getLogger("vlencode.encoding")

#: The bootstrap protocols (``bootstrap.protocol``) and the fast protocol's variance inflation
#: (``bootstrap.inflation``: none, or measured on a shifted null fit, :func:`null_inflation`).
PROTOCOLS = ("fast", "refit")
INFLATIONS = ("none", "shifted")


def memory_budget_gb(value: str | float) -> float | None:
    """The ridge engine's memory budget from ``encoding.memory_gb`` as the config or a Snakemake resource gives it.

    Parameters
    ----------
    value : "auto", a number or its text (resources are text)
        GiB of working memory for the engine's target batches.

    Returns
    -------
    float or None
        The budget in GiB; None for ``"auto"`` (the engine measures free memory).
    """
    return None if value == "auto" else float(value)


@dataclass(frozen=True)
class RidgeSettings:
    """What the ridge engine needs beyond the data, from the config's ``encoding`` section and ``device``.

    Attributes
    ----------
    alphas : ndarray
        The penalty grid, ``logspace(log10_min, log10_max, n)``.
    n_folds : int
    banded_iterations : int or None
        Random draws of feature-space weights in banded ridge; None where the config leaves them out (the rerun key
        of a network's fit, which never runs banded ridge).
    seed : int
        Seed of banded ridge's random search (the config seed).
    device : {"auto", "cpu", "cuda"}
    memory_gb : float or None
        Working-memory budget of the engine's target batches; None lets the engine measure free memory.
    """

    alphas: np.ndarray
    n_folds: int
    banded_iterations: int | None
    seed: int
    device: str
    memory_gb: float | None

    @classmethod
    def from_config(cls, encoding: Mapping[str, Any], seed: int, device: str, memory_gb: float | None) -> RidgeSettings:
        """Settings from the canonical config's ``encoding`` section (:func:`vlencode.config.canonical_config`: every
        key present, the schema's defaults filled in; ``banded`` may be left out, as a network's rerun key does), the
        seed, the device and the memory budget (:func:`memory_budget_gb`; ``encoding.memory_gb`` is a performance
        knob, outside the section a step reads)."""
        alphas = encoding["alphas"]
        banded = encoding.get("banded")
        return cls(
            alphas=np.logspace(alphas["log10_min"], alphas["log10_max"], alphas["n"]),
            n_folds=int(encoding["n_folds"]),
            banded_iterations=None if banded is None else int(banded["n_iter"]),
            seed=int(seed),
            device=device,
            memory_gb=memory_gb,
        )

    def splits(self, trial_of_event: np.ndarray, name: str = "events") -> list[Split]:
        """The encoding protocol's folds of these events: :func:`contiguous_splits` with ``n_folds``."""
        return contiguous_splits(trial_of_event, self.n_folds, name)

    def cross_validate(self, design: Design, targets: np.ndarray, splits: Sequence[Split]) -> ridge.RidgeCVResult:
        """Plain ridge for one design matrix, banded ridge for a list of feature spaces."""
        if isinstance(design, list):
            if self.banded_iterations is None:
                raise ValueError("banded ridge needs encoding.banded.n_iter, which these settings leave out")
            return ridge.banded_ridge_cv(
                design,
                targets,
                splits,
                self.alphas,
                n_iter=self.banded_iterations,
                seed=self.seed,
                device=self.device,
                memory_gb=self.memory_gb,
            )
        return ridge.cross_validated_ridge(
            design, targets, splits, self.alphas, standardize=True, device=self.device, memory_gb=self.memory_gb
        )

    def validation_r(self, design: np.ndarray, targets: np.ndarray, splits: Sequence[Split]) -> np.ndarray:
        """Plain ridge's validation r per fold and target, the criterion a screening proxy ranks layers by.

        From one eigendecomposition of the kernel over all rows where that takes less time than the engine's
        decomposition of every fold (:func:`vlencode.ridge.shared_kernel_pays`: wide layers, few targets, and it fits
        the memory budget) and its standardisation over all rows stands in for each fold's
        (:func:`vlencode.ridge.scaling_agrees`: not for a sparse layer whose columns vary mostly in some fold's
        held-out rows), else the engine's fit scoring the validation rows alone (no out-of-fold predictions, no test
        r).

        Returns
        -------
        ndarray of float32, shape (n_folds, n_targets)
        """
        device = resolve_device(self.device)
        workers = ridge.concurrent_items(len(splits), device)
        budget = None if self.memory_gb is None else int(self.memory_gb * 2**30)
        if ridge.shared_kernel_pays(
            design.shape[0], design.shape[1], splits, self.alphas, targets.shape[1], workers, device, budget
        ) and ridge.scaling_agrees(design, splits):
            return ridge.shared_kernel_validation_r(design, targets, splits, self.alphas, device=device)
        result = ridge.cross_validated_ridge(
            design,
            targets,
            splits,
            self.alphas,
            standardize=True,
            device=device,
            memory_gb=self.memory_gb,
            return_predictions=False,
            score_test=False,
        )
        return result.val_r


def summarize_folds(result: ridge.RidgeCVResult, shape: tuple[int, int]) -> LayerFit:
    """Per target: validation and test r averaged over folds, the median (log10) alpha over folds; reshaped."""
    alpha = 10 ** np.median(np.log10(np.asarray(result.best_alpha, dtype=np.float64)), axis=0)
    weights = result.band_weights
    return LayerFit(
        val_r=np.asarray(result.val_r, dtype=np.float64).mean(axis=0).astype(np.float32).reshape(shape),
        test_r=np.asarray(result.test_r, dtype=np.float64).mean(axis=0).astype(np.float32).reshape(shape),
        alpha=alpha.astype(np.float32).reshape(shape),
        band_weights=None if weights is None else weights.mean(axis=0).astype(np.float32).reshape(*shape, -1),
    )


@dataclass(frozen=True)
class LayerSearch:
    """The layer-search stage of one alignment: which layers were fitted in full, their scores, and the choice.

    Attributes
    ----------
    layers : dict of layer -> LayerFit
        Every layer fitted to all targets (all candidates, or the leading layers of a screening).
    mean_val_r : dict of layer -> float
        Mean validation r over all targets of each layer in ``layers``.
    proxy_val_r : dict of layer -> float
        The screening proxy of every candidate layer (:mod:`vlencode.encoding.screening`); empty without screening.
    chosen : str
    kept_fits : dict of layer -> (prediction, design)
        The out-of-fold predictions ``[n_events, n_targets]`` and design of each layer the bootstrap resamples: the
        chosen one, or both fits of a concatenation baseline.
    rider_fits : dict of layer -> RidgeCVResult
        The riders' cross-validation (:func:`search_layers`' ``riders``) for each layer they were fitted with; empty
        when none rode.
    """

    layers: dict[str, LayerFit]
    mean_val_r: dict[str, float]
    proxy_val_r: dict[str, float]
    chosen: str
    kept_fits: dict[str, tuple[np.ndarray, Design]]
    rider_fits: dict[str, ridge.RidgeCVResult]


def search_layers(
    design_of: Callable[[str], Design],
    candidates: Sequence[str],
    targets: np.ndarray,
    splits: Sequence[Split],
    settings: RidgeSettings,
    *,
    shape: tuple[int, int],
    layer_selection: str = "validation",
    screening: Screening | None = None,
    banded: bool = False,
    riders: np.ndarray | None = None,
    name: str = "events",
) -> LayerSearch:
    """Fit the candidate layers of one alignment and choose the reported one.

    Parameters
    ----------
    design_of : callable layer -> design
        The design of a candidate (a matrix ``[n_events, n_features]``, or a list of them for banded ridge).
    candidates : sequence of str
        Layer names in the model's order.
    targets : ndarray, shape (n_events, n_targets)
    splits : the protocol's folds (:func:`vlencode.encoding.contiguous_splits`)
    settings : RidgeSettings
    shape : (n_electrodes, n_bins)
        ``n_targets`` reshaped, for the stored scores.
    layer_selection : {"validation", "last", "screen"}
        ``validation`` fits every candidate and keeps the best mean validation r; ``last`` fits and keeps the last
        layer; ``screen`` ranks every candidate on the proxy of ``screening`` and fits only its leading layers.
    screening : Screening
        Required by ``screen``.
    banded : bool
        The candidates are a concatenation baseline's plain and banded fits: both are kept for the bootstrap, and
        they are never screened (each is compared in its own right).
    riders : ndarray, shape (n_events, n_riders), optional
        More targets to cross-validate with the layer the bootstrap will resample (the shifted null of
        :func:`null_inflation`), in the same fit as the targets: they then share its fold decompositions instead of
        paying them again in a fit of their own (at the study extraction's width most of a fit).  They ride with
        the layer when it is certain before the fits (the only one fitted in full: ``last``, or a screening that
        leaves one; both fits of a concatenation baseline); with several fitted, the choice waits for their fits,
        and they ride with every one of them only where that costs less than a fit of their own
        (:func:`vlencode.ridge.riders_pay`: the study extraction's widths, a few layers); the kept layer's result
        is kept.  Every target is fitted on its own, so the riders' results equal a fit of their own to float
        rounding.
    name : str
        Names the events in log lines and errors.
    """
    if layer_selection not in ("validation", "last", "screen"):
        raise ValueError(
            f"encoding.layer_selection: unknown method {layer_selection!r}; use validation, last or screen"
        )
    if layer_selection == "screen" and screening is None and not banded:
        raise ValueError("encoding.layer_selection: screen needs encoding.screening")
    method = "validation" if layer_selection == "screen" else layer_selection
    proxy_val_r: dict[str, float] = {}
    # ``last`` needs no other layer's fit; a concatenation baseline keeps both of its fits whatever the method.
    fitted = list(candidates) if banded or layer_selection != "last" else list(candidates)[-1:]
    if layer_selection == "screen" and not banded and len(candidates) > 1:
        assert screening is not None
        leading = screen_layers(
            design_of, candidates, targets, splits, settings.validation_r, screening, settings.seed, name
        )
        if leading is not None:
            fitted, proxy_val_r = leading
            log.info("%s: screened %d layers on a proxy; fitting %s", name, len(candidates), fitted)
    if not fitted:
        raise ValueError(f"{name}: no candidate layer to fit")
    layers: dict[str, LayerFit] = {}
    mean_val_r: dict[str, float] = {}
    chosen = ""
    kept_fits: dict[str, tuple[np.ndarray, Design]] = {}
    rider_fits: dict[str, ridge.RidgeCVResult] = {}
    # The first layer's design, loaded once: its width prices riding with several layers.
    first = design_of(fitted[0])
    ride = riders is not None and (
        banded
        or len(fitted) == 1
        or ridge.riders_pay(len(first), np.shape(first)[-1], splits, len(settings.alphas), riders.shape[1], len(fitted))
    )
    for i, layer in enumerate(fitted, start=1):
        design = first if i == 1 else design_of(layer)
        if ride:
            assert riders is not None
            joint = settings.cross_validate(design, np.hstack([targets, riders]), splits)
            result = joint.columns(slice(0, targets.shape[1]))
            rider_fits[layer] = joint.columns(slice(targets.shape[1], None))
        else:
            result = settings.cross_validate(design, targets, splits)
        layers[layer] = summarize_folds(result, shape)
        mean_val_r[layer] = float(np.mean(layers[layer].val_r))
        log.info(
            "%s: layer %s (%d/%d) mean val r %.4f, mean test r %.4f",
            name,
            layer,
            i,
            len(fitted),
            mean_val_r[layer],
            float(np.mean(layers[layer].test_r)),
        )
        # Only the leading layer's out-of-fold predictions are kept (each is as large as the targets); a
        # concatenation baseline keeps both of its fits, each compared in its own right.
        if banded:
            kept_fits[layer] = (_prediction(result), design)
        if not chosen or select_layer({chosen: mean_val_r[chosen], layer: mean_val_r[layer]}, method) == layer:
            chosen = layer
            if not banded:
                kept_fits = {layer: (_prediction(result), design)}
        # Like the predictions, only the kept layers' riders are kept.
        rider_fits = {name: fit for name, fit in rider_fits.items() if name in kept_fits}
    return LayerSearch(layers, mean_val_r, proxy_val_r, chosen, kept_fits, rider_fits)


def fit_alignment(
    responses: Responses,
    features: Features,
    *,
    resamples: Mapping[str, np.ndarray],
    settings: RidgeSettings,
    layer_selection: str = "validation",
    screening: Screening | None = None,
    protocol: str = "fast",
    inflation: str = "none",
    ci: float = 0.95,
    name: str = "events",
) -> AlignmentFit:
    """Fit the candidate layers of one alignment (:func:`search_layers`), choose one and bootstrap its scores.

    Parameters
    ----------
    responses : Responses
    features : Features
    resamples : mapping of scheme -> ndarray of int, shape (n_resamples, n_events)
        The subject's shared resamples of this alignment's events, per resampling scheme (``iid``, ``block``).
    settings : RidgeSettings
    layer_selection : {"validation", "last", "screen"}
    screening : Screening, required by ``screen``
    protocol : {"fast", "refit"}
    inflation : {"none", "shifted"}
        ``shifted`` widens the fast protocol's resamples of every bootstrapped layer by the factors of
        :func:`null_inflation` (the refit protocol refits, so it has no shortfall to widen).
    ci : float
        Coverage of the percentile bounds ``val_lo, val_hi``.
    name : str
        Names the events in log lines and errors.
    """
    check_bootstrap(protocol, inflation, resamples, responses.response.shape[1], name)
    if "iid" not in resamples:
        raise ValueError(f"{name}: no iid resamples (the paper's bootstrap); rerun resamples")
    targets = responses.targets
    shape = responses.response.shape[1:]
    splits = contiguous_splits(responses.trial, settings.n_folds, name)
    widen = widens(protocol, inflation)
    search = search_layers(
        design_of(features, responses),
        features.candidate_layers,
        targets,
        splits,
        settings,
        shape=shape,
        layer_selection=layer_selection,
        screening=screening,
        banded=bool(features.bands),
        riders=null_targets(targets, shape, settings.seed, responses.trial)[0] if widen else None,
        name=name,
    )
    chosen = search.chosen
    boot: dict[str, dict[str, np.ndarray]] = {}
    factors: dict[str, dict[str, float]] = {}
    val_lo = val_hi = np.zeros(0)
    for layer, fit in search.kept_fits.items():
        resampled, widened = bootstrap_layer(
            fit,
            search.layers[layer],
            targets,
            splits,
            resamples,
            settings,
            protocol=protocol,
            inflation=inflation,
            trial_of_event=responses.trial,
            null_fit=search.rider_fits.get(layer),
            name=name,
        )
        if widened:
            factors[layer] = widened
            log.info("%s: %s's bootstrap widened by %s", name, layer, widened)
        if layer == chosen:
            val_lo, val_hi = percentile_bounds(resampled["iid_val_r"], ci)
        boot[layer] = {key: values.reshape(-1, *shape).astype(np.float16) for key, values in resampled.items()}
    log.info("%s: chose %s; %d of %d targets kept (val_lo > 0)", name, chosen, int((val_lo > 0).sum()), val_lo.size)
    return AlignmentFit(
        layers=search.layers,
        chosen_layer=chosen,
        boot=boot,
        val_lo=val_lo.reshape(shape),
        val_hi=val_hi.reshape(shape),
        n_events=len(targets),
        mean_val_r=search.mean_val_r,
        proxy_val_r=search.proxy_val_r,
        inflation=factors,
    )


def check_bootstrap(
    protocol: str, inflation: str, resamples: Mapping[str, np.ndarray], n_electrodes: int, name: str = "events"
) -> None:
    """Refuse bootstrap settings before any fit: an unknown ``protocol`` or ``inflation``, and for ``shifted`` fewer
    than :data:`~vlencode.bootstrap.inflation.MIN_RESAMPLES` resamples or 2 electrodes (a spread needs two); log that
    the refit protocol is never widened.

    Raises
    ------
    ValueError
        One line naming the setting and the fix.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"bootstrap.protocol: unknown protocol {protocol!r}; use {' or '.join(PROTOCOLS)}")
    if inflation not in INFLATIONS:
        raise ValueError(f"bootstrap.inflation: unknown method {inflation!r}; use {' or '.join(INFLATIONS)}")
    if inflation != "shifted":
        return
    if protocol == "refit":
        log.info("%s: bootstrap.inflation: shifted leaves the refit protocol's resamples as drawn", name)
        return
    fewest = min((len(indices) for indices in resamples.values()), default=0)
    if fewest < MIN_RESAMPLES:
        raise ValueError(
            f"{name}: bootstrap.inflation: shifted needs bootstrap.n_resamples >= {MIN_RESAMPLES} (got {fewest}); "
            "raise it, or use none"
        )
    if n_electrodes < 2:
        raise ValueError(f"{name}: bootstrap.inflation: shifted needs >= 2 electrodes (got {n_electrodes}); use none")


def check_bootstrap_config(bootstrap: Mapping[str, Any], source: str = "config") -> None:
    """Refuse at start-up, from the canonical config's ``bootstrap`` section, what :func:`check_bootstrap` would refuse
    only in the first fit job, after preprocessing and features: ``inflation: shifted`` on the fast protocol with
    fewer than :data:`~vlencode.bootstrap.inflation.MIN_RESAMPLES` resamples.

    Raises
    ------
    ConfigError
        One line naming the key and the fix, prefixed by ``source`` (the config file).
    """
    if (
        bootstrap["inflation"] == "shifted"
        and bootstrap["protocol"] == "fast"
        and bootstrap["n_resamples"] < MIN_RESAMPLES
    ):
        raise ConfigError(
            f"{source}: bootstrap.n_resamples: {bootstrap['n_resamples']} is fewer than the {MIN_RESAMPLES} that "
            "bootstrap.inflation: shifted needs; raise it, or use inflation: none"
        )


def bootstrap_layer(
    fit: tuple[np.ndarray, Design],
    estimate: LayerFit,
    targets: np.ndarray,
    splits: Sequence[Split],
    resamples: Mapping[str, np.ndarray],
    settings: RidgeSettings,
    *,
    protocol: str = "fast",
    inflation: str = "none",
    trial_of_event: np.ndarray | None = None,
    null_fit: ridge.RidgeCVResult | None = None,
    name: str = "events",
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Resampled validation and test r of one fitted layer under every resampling scheme.

    The fast protocol reweights the layer's out-of-fold predictions (:func:`vlencode.bootstrap.fast.fast_bootstrap`);
    the refit protocol reruns its cross-validation on every resample (:func:`vlencode.bootstrap.refit.refit_bootstrap`,
    which needs ``trial_of_event``).  Under ``inflation="shifted"`` the fast protocol's resamples are widened around
    ``estimate`` by the factors of :func:`null_inflation`.

    Parameters
    ----------
    fit : (prediction, design)
        The layer's out-of-fold predictions ``[n_events, n_targets]`` and its design (:attr:`LayerSearch.kept_fits`).
    estimate : LayerFit
        The layer's fold-averaged scores, ``[n_electrodes, n_bins]``.
    targets : ndarray, shape (n_events, n_targets)
    splits : the protocol's folds
    resamples : mapping of scheme -> ndarray of int, shape (n_resamples, n_events)
    settings : RidgeSettings
    protocol : {"fast", "refit"}
    inflation : {"none", "shifted"}
    trial_of_event : ndarray, shape (n_events,), required by ``refit``
    null_fit : RidgeCVResult, optional
        The shifted null's cross-validation with this layer, already fitted (:attr:`LayerSearch.rider_fits`);
        :func:`null_inflation` fits it when None.
    name : str
        Names the events in log lines and errors.

    Returns
    -------
    boot : dict of ``"<scheme>_<val|test>_r"`` -> ndarray of float32, shape (n_resamples, n_targets)
    factors : dict of the same keys -> float
        The widening applied; empty when the resamples are as drawn.

    Raises
    ------
    ValueError
        Settings :func:`check_bootstrap` refuses, or the refit protocol without ``trial_of_event``.
    """
    check_bootstrap(protocol, inflation, resamples, estimate.val_r.shape[0], name)
    prediction, design = fit
    widen = widens(protocol, inflation)
    factors = (
        null_inflation(design, targets, splits, settings, resamples, estimate.val_r.shape, trial_of_event, null_fit)
        if widen
        else {}
    )
    boot = {}
    for scheme, indices in resamples.items():
        if protocol == "fast":
            val, test = fast_bootstrap(prediction, targets, splits, indices, settings.device)
        elif trial_of_event is None:
            raise ValueError(f"{name}: the refit protocol needs the trial of every event")
        else:
            val, test = refit_bootstrap(
                design, targets, trial_of_event=trial_of_event, indices=indices, settings=settings, name=name
            )
        for score, resampled in (("val", val), ("test", test)):
            key = f"{scheme}_{score}_r"
            centre = getattr(estimate, f"{score}_r").reshape(-1)
            boot[key] = inflate(resampled, centre, factors.get(key, 1.0))
    return boot, factors


def null_inflation(
    design: Design,
    targets: np.ndarray,
    splits: Sequence[Split],
    settings: RidgeSettings,
    resamples: Mapping[str, np.ndarray],
    shape: tuple[int, int],
    trial_of_event: np.ndarray | None = None,
    fitted: ridge.RidgeCVResult | None = None,
) -> dict[str, float]:
    """The fast protocol's variance inflation for one design, measured on a circularly shifted null fit.

    The null targets (:func:`null_targets`, seeded by ``settings.seed``) are cross-validated with ``design`` on
    ``splits`` (or their fit is given) and resampled by the fast protocol on the first
    :data:`~vlencode.bootstrap.inflation.NULL_RESAMPLES` resamples of each scheme;
    :func:`vlencode.bootstrap.inflation.inflation_factor` turns their studentised spread across electrodes into the
    factor.

    Parameters
    ----------
    design : the layer's design (a matrix, or a list of them for banded ridge)
    targets : ndarray, shape (n_events, n_electrodes * n_bins)
    splits : the protocol's folds
    settings : RidgeSettings
    resamples : mapping of scheme -> ndarray of int, shape (n_resamples, n_events)
    shape : (n_electrodes, n_bins)
    trial_of_event : ndarray, shape (n_events,), optional
        Each trial's events are shifted within the trial (default: all events are one trial).
    fitted : RidgeCVResult, optional
        The null targets' cross-validation with ``design`` on ``splits``, when it rode with the layer's own fit
        (:func:`search_layers`' ``riders``); fitted here when None.

    Returns
    -------
    dict of ``"<scheme>_<val|test>_r"`` -> float >= 1

    Raises
    ------
    ValueError
        Fewer than 2 electrodes, events or resamples; a ``fitted`` of other targets than the null's.
    """
    null, null_shape = null_targets(targets, shape, settings.seed, trial_of_event)
    if fitted is None:
        result = settings.cross_validate(design, null, splits)
    elif fitted.val_r.shape[1] != null.shape[1]:
        raise ValueError(f"the null fit given has {fitted.val_r.shape[1]} targets, the shifted null {null.shape[1]}")
    else:
        result = fitted
    fit = summarize_folds(result, null_shape)
    factors = {}
    for scheme, indices in resamples.items():
        val, test = fast_bootstrap(_prediction(result), null, splits, indices[:NULL_RESAMPLES], settings.device)
        factors[f"{scheme}_val_r"] = inflation_factor(val.reshape(-1, *null_shape), fit.val_r)
        factors[f"{scheme}_test_r"] = inflation_factor(test.reshape(-1, *null_shape), fit.test_r)
    return factors


def widens(protocol: str, inflation: str) -> bool:
    """Whether a bootstrap's resamples are widened by the shifted null: the fast protocol under ``shifted`` (the
    refit protocol refits, so it has no shortfall to widen)."""
    return inflation == "shifted" and protocol == "fast"


def null_targets(
    targets: np.ndarray, shape: tuple[int, int], seed: int, trial_of_event: np.ndarray | None = None
) -> tuple[np.ndarray, tuple[int, int]]:
    """The shifted null's targets: the responses of :func:`vlencode.bootstrap.inflation.null_electrodes` (seeded by
    ``seed``, so every model of a subject shifts the same electrodes), shifted by half the events within each trial
    (:func:`vlencode.bootstrap.inflation.shifted_null`); and their ``(n_null_electrodes, n_bins)``.

    Returns
    -------
    null : ndarray, shape (n_events, n_null_electrodes * n_bins)
    null_shape : (int, int)
    """
    electrodes = null_electrodes(shape[0], seed)
    return shifted_null(targets, shape, electrodes, trial_of_event), (len(electrodes), shape[1])


def _prediction(result: ridge.RidgeCVResult) -> np.ndarray:
    """The out-of-fold predictions ``[n_events, n_targets]`` the fast bootstrap resamples (asked of every fit here)."""
    if result.prediction is None:
        raise ValueError("the ridge fit returned no out-of-fold predictions; the fast bootstrap needs them")
    return result.prediction


def design_of(features: Features, responses: Responses) -> Callable[[str], Design]:
    """The design of each candidate layer for these events: a layer's rows (:func:`design_matrix`), or for the banded
    fit of a concatenation baseline the concatenation's bands."""

    def design(layer: str) -> Design:
        if layer == BANDED_LAYER:
            concat = design_matrix(features, responses.movie, responses.stimulus_id, CONCAT_LAYER)
            return [concat[:, start:stop] for _, start, stop in features.bands or []]
        return design_matrix(features, responses.movie, responses.stimulus_id, layer)

    return design


def fit_subject_model(
    *,
    subject: str,
    trials: Sequence[str],
    epochs_paths: Sequence[PathLike],
    events_paths: Sequence[PathLike],
    features_paths: Mapping[str, PathLike],
    resamples_path: PathLike,
    encoding: Mapping[str, Any],
    bootstrap_config: Mapping[str, Any],
    seed: int,
    instance: ModelInstance,
    device: str,
    memory_gb: float | None = None,
) -> SubjectModelFit:
    """Fit one model to one subject: every alignment of ``encoding['alignments']``, every layer, and the bootstrap.

    Parameters
    ----------
    subject : str
    trials : sequence of str
        The subject's trials in config order; ``epochs_paths`` and ``events_paths`` follow it.
    epochs_paths, events_paths : sequences of paths
    features_paths : mapping of movie -> features store of this model
    resamples_path : path
        The subject's resamples store (:mod:`vlencode.stores.resamples`).
    encoding, bootstrap_config : the canonical config's ``encoding`` and ``bootstrap`` sections
        Every key a fit reads present (:func:`vlencode.config.canonical_config` fills the schema's defaults), except
        that ``screening`` may be left out where no layer is screened and ``banded`` where the model is no
        concatenation baseline (the rule's rerun key holds only what the fit reads).
    seed : int
        The config seed (banded ridge's random search).
    instance : ModelInstance
        The model instance fitted: the features stores must hold it (:func:`open_features`), and the fit store
        records its place in the registry (:class:`vlencode.stores.fit.ModelIdentity`).
    device : {"auto", "cpu", "cuda"}
    memory_gb : float or None
        The engine's memory budget (:func:`memory_budget_gb`); None measures free memory.

    Returns
    -------
    SubjectModelFit
        Call its ``write`` on a :func:`vlencode.store.atomic_zarr` group (:mod:`vlencode.stores.fit`).
    """
    settings = RidgeSettings.from_config(encoding, seed, device, memory_gb)
    features = open_features(features_paths, instance.name)
    alignments: dict[str, AlignmentFit] = {}
    electrode = bin_time_s = None
    for alignment in encoding["alignments"]:
        name = f"sub-{subject} {alignment} events"
        responses = load_responses(epochs_paths, events_paths, trials, alignment)
        resamples = read_indices(resamples_path, alignment, responses.event_key)
        alignments[alignment] = fit_alignment(
            responses,
            features,
            resamples=resamples,
            settings=settings,
            layer_selection=encoding["layer_selection"],
            screening=Screening.from_config(encoding["screening"]) if "screening" in encoding else None,
            protocol=bootstrap_config["protocol"],
            inflation=bootstrap_config["inflation"],
            ci=float(bootstrap_config["ci"]),
            name=name,
        )
        electrode, bin_time_s = responses.electrode, responses.bin_time_s
    return SubjectModelFit(
        subject=str(subject),
        model=features.attrs,
        identity=ModelIdentity(instance.base, instance.twin, instance.pair, instance.components),
        electrode=np.asarray(electrode),
        bin_time_s=np.asarray(bin_time_s),
        alpha_grid=settings.alphas,
        alignments=alignments,
        protocol=bootstrap_config["protocol"],
        resamples_sha256=input_hash(resamples_path),
        bands=features.bands,
    )
