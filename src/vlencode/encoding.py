"""The encoding protocol (METHOD.md §7) for one subject and model, and its bootstrap (§8).

Targets are every (electrode, time bin) of a subject's epoched responses; the design matrix is one layer of a
model's features for the stimulus each event showed.  All trials of the subject are pooled in config order, events in
the epochs store's order, and cut into contiguous folds that never straddle a trial boundary
(:func:`contiguous_splits`).  Each fold's held-out block is split in half: the first half validates (chooses the alpha
of every target), the second half tests.  The ridge engine (:mod:`vlencode.ridge`) standardises X with training-fold
statistics.  One layer per (subject, model, alignment) is chosen by mean validation r over all targets, or the last
layer.  The concatenation baseline (a features store with a ``bands`` attribute) is fitted twice: plain ridge on the
concatenation (layer ``concat``) and banded ridge with one alpha per feature space (layer ``concat-banded``).

Reported per layer and target: ``val_r`` and ``test_r`` averaged over folds (each fold at its own best alpha) and
``alpha``, the per-target median over folds of the chosen alpha (taken on log10 alpha, so with an odd number of folds
it is one of the grid values).

Degenerate input, documented rather than fatal: a feature constant over a training fold gets unit scale, so it is a
column of zeros that the ridge ignores; a target constant over a fold's validation or test events scores r = 0, in the
fit and in every bootstrap resample.  NaNs in features or responses, too few events for the folds, stimuli missing
from a features store and resamples drawn for other events are one-line errors naming the file and the fix.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import zarr

from vlencode import bootstrap, ridge
from vlencode.store import array_sha256, open_zarr, read_parquet

log = logging.getLogger("vlencode.encoding")

Split = tuple[np.ndarray, np.ndarray, np.ndarray]
Design = np.ndarray | list[np.ndarray]
PathLike = str | os.PathLike

#: Layer names of the concatenation baseline: plain ridge on the concatenation, and banded ridge over its bands.
CONCAT_LAYER = "concat"
BANDED_LAYER = "concat-banded"
#: Columns of the scores table.
SCORE_COLUMNS = [
    "subject", "alignment", "model", "family", "init", "layer", "electrode", "bin_time_s",
    "val_r", "test_r", "alpha", "val_lo", "val_hi", "kept",
]  # fmt: skip


# --- folds and layer choice -------------------------------------------------------------------------------------------


def contiguous_splits(trial_of_event: Sequence[str] | np.ndarray, n_folds: int, name: str = "events") -> list[Split]:
    """Contiguous cross-validation folds that never straddle a trial boundary.

    Each trial's events (a contiguous run of ``trial_of_event``) are cut into ``n_folds`` contiguous blocks whose
    sizes differ by at most one, the longer blocks first (as ``sklearn.model_selection.KFold`` without shuffling).  Fold
    ``k`` holds out the k-th block of every trial and trains on all other events.  Each held-out block is split in
    half in event order: its first ``ceil(m / 2)`` events validate, the rest test.  With one trial this is exactly
    ``KFold(n_folds)`` followed by the half split.

    Parameters
    ----------
    trial_of_event : sequence of str, length n_events
        The trial of every event, in fit order; each trial's events must be contiguous.
    n_folds : int
    name : str
        Names the events in errors, e.g. ``"sub-1 word events"``.

    Returns
    -------
    list of (train, val, test) int64 index arrays, one per fold
        Every event is in exactly one validation or test set.

    Raises
    ------
    ValueError
        When a trial's events are not contiguous, or a fold would have fewer than 2 validation or 2 test events
        (a Pearson r needs two points) or fewer than 2 training events.
    """
    trial_of_event = np.asarray(trial_of_event)
    n_events = len(trial_of_event)
    if n_folds < 2:
        raise ValueError(f"{name}: n_folds must be at least 2, got {n_folds}")
    starts = np.flatnonzero(np.r_[True, trial_of_event[1:] != trial_of_event[:-1]]) if n_events else np.array([], int)
    if len(set(trial_of_event[starts].tolist())) != len(starts):
        raise ValueError(f"{name}: a trial's events are not contiguous; order events by trial before splitting")
    stops = np.r_[starts[1:], n_events]
    held_out: list[list[np.ndarray]] = [[] for _ in range(n_folds)]
    for start, stop in zip(starts, stops):
        for fold, block in enumerate(np.array_split(np.arange(start, stop), n_folds)):
            held_out[fold].append(block)
    splits = []
    for fold, blocks in enumerate(held_out):
        val = np.concatenate([b[: (len(b) + 1) // 2] for b in blocks]).astype(np.int64)
        test = np.concatenate([b[(len(b) + 1) // 2 :] for b in blocks]).astype(np.int64)
        train = np.setdiff1d(np.arange(n_events), np.concatenate([val, test])).astype(np.int64)
        if min(len(val), len(test), len(train)) < 2:
            sizes = dict(zip(*np.unique(trial_of_event, return_counts=True)))
            raise ValueError(
                f"{name}: {n_events} events (per trial {({str(k): int(v) for k, v in sizes.items()})}) leave fold "
                f"{fold} with {len(train)} training, {len(val)} validation and {len(test)} test events; "
                f"{n_folds} folds need at least 2 of each: lower encoding.n_folds or drop this alignment"
            )
        splits.append((train, val, test))
    return splits


def select_layer(mean_val_r: Mapping[str, float], method: str) -> str:
    """The layer whose fit is reported: best mean validation r over all targets, or the last layer.

    Parameters
    ----------
    mean_val_r : mapping of layer name -> mean validation r, in the model's layer order
    method : {"validation", "last"}
        Ties in validation score go to the earlier layer.
    """
    if not mean_val_r:
        raise ValueError("no layers to choose from")
    layers = list(mean_val_r)
    if method == "last":
        return layers[-1]
    if method != "validation":
        raise ValueError(f"encoding.layer_selection: unknown method {method!r}; use validation or last")
    scores = np.array([mean_val_r[layer] for layer in layers], dtype=np.float64)
    return layers[int(np.argmax(np.nan_to_num(scores, nan=-np.inf)))]


# --- inputs: responses and features -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Responses:
    """One subject's responses to one alignment's events, all trials pooled in fit order.

    Attributes
    ----------
    response : ndarray of float32, shape (n_events, n_electrodes, n_bins)
    trial, movie, stimulus_id, event_key : ndarrays of str, shape (n_events,)
        ``event_key`` is ``"<trial>/<event_id>"``, unique over the subject.
    electrode : ndarray of str, shape (n_electrodes,)
    bin_time_s : ndarray of float, shape (n_bins,)
    """

    response: np.ndarray
    trial: np.ndarray
    movie: np.ndarray
    stimulus_id: np.ndarray
    event_key: np.ndarray
    electrode: np.ndarray
    bin_time_s: np.ndarray

    @property
    def targets(self) -> np.ndarray:
        """The responses as a ``[n_events, n_electrodes * n_bins]`` matrix (electrode-major)."""
        return self.response.reshape(len(self.response), -1)


def _strings(array: Any) -> np.ndarray:
    return np.asarray([str(v) for v in np.asarray(array).ravel()], dtype=object)


def _events_of(group: zarr.Group, alignment: str, path: PathLike) -> zarr.Group:
    if alignment not in group:
        raise ValueError(
            f"{path}: no '{alignment}' group; rerun epochs, or remove {alignment} from encoding.alignments"
        )
    return group[alignment]


def epoch_event_keys(epochs_paths: Sequence[PathLike], trials: Sequence[str], alignment: str) -> np.ndarray:
    """``"<trial>/<event_id>"`` of every epoched event of one alignment, trials in the given order.

    The resamples and the fit both index events in this order; its hash ties a fit to its resamples.
    """
    keys = []
    for path, trial in zip(epochs_paths, trials, strict=True):
        events = _events_of(open_zarr(path), alignment, path)
        keys.extend(f"{trial}/{event_id}" for event_id in _strings(events["event_id"][:]))
    return np.asarray(keys, dtype=object)


def load_responses(
    epochs_paths: Sequence[PathLike],
    events_paths: Sequence[PathLike],
    trials: Sequence[str],
    alignment: str,
) -> Responses:
    """Read one alignment of a subject's epochs stores and join each event's stimulus from its events table.

    Electrodes are intersected across trials (in the first trial's order), with a warning naming what was dropped.

    Raises
    ------
    ValueError
        NaNs in a response array, bins that differ between trials, or epoched events absent from the events table.
    """
    per_trial = []
    electrodes: list[np.ndarray] = []
    bin_time_s = None
    for epochs_path, events_path, trial in zip(epochs_paths, events_paths, trials, strict=True):
        root = open_zarr(epochs_path)
        group = _events_of(root, alignment, epochs_path)
        response = np.asarray(group["response"][:], dtype=np.float32)
        n_nan = int(np.isnan(response).sum())
        if n_nan:
            raise ValueError(f"{epochs_path}: {n_nan} NaN values in {alignment}/response; rerun preprocess and epochs")
        bins = np.asarray(root["bin_time_s"][:], dtype=np.float64)
        if bin_time_s is not None and not np.allclose(bins, bin_time_s):
            raise ValueError(f"{epochs_path}: time bins differ from the first trial's; rerun epochs for all trials")
        bin_time_s = bins
        event_id = _strings(group["event_id"][:])
        table = read_parquet(events_path).set_index("event_id")
        table.index = table.index.astype(str)
        missing = ~pd.Index(event_id).isin(table.index)
        if missing.any():
            raise ValueError(
                f"{events_path}: {int(missing.sum())} events of {epochs_path} are missing from the events table; "
                "rerun events and epochs"
            )
        rows = table.loc[event_id]
        electrodes.append(_strings(root["electrode"][:]))
        per_trial.append((trial, event_id, rows, response, epochs_path))
    if bin_time_s is None:
        raise ValueError("load_responses needs at least one trial")
    common = [label for label in electrodes[0] if all(label in set(e) for e in electrodes[1:])]
    for (_, _, _, _, path), labels in zip(per_trial, electrodes):
        if len(labels) != len(common):
            log.warning("%s: %d of %d electrodes are not in every trial; fitting the %d shared ones",
                        path, len(labels) - len(common), len(labels), len(common))  # fmt: skip
    responses, trial_of, movie, stimulus, keys = [], [], [], [], []
    for (trial, event_id, rows, response, _), labels in zip(per_trial, electrodes):
        position = {label: i for i, label in enumerate(labels)}
        responses.append(response[:, [position[label] for label in common], :])
        trial_of.extend([str(trial)] * len(event_id))
        movie.extend(_strings(rows["movie"]))
        stimulus.extend(_strings(rows["stimulus_id"]))
        keys.extend(f"{trial}/{e}" for e in event_id)
    return Responses(
        response=np.concatenate(responses, axis=0),
        trial=np.asarray(trial_of, dtype=object),
        movie=np.asarray(movie, dtype=object),
        stimulus_id=np.asarray(stimulus, dtype=object),
        event_key=np.asarray(keys, dtype=object),
        electrode=np.asarray(common, dtype=object),
        bin_time_s=bin_time_s,
    )


@dataclass(frozen=True)
class Features:
    """One model's features stores for the movies a subject watched.

    Attributes
    ----------
    paths : dict of movie -> store path
    layers : list of str
        Layer names in the model's order (the stores' ``layers`` attribute).
    bands : list of (name, start, stop) or None
        Column ranges of the concatenation baseline's feature spaces; None for an ordinary model.
    attrs : dict
        ``model, family, init, seed`` copied from the stores.
    """

    paths: dict[str, Path]
    layers: list[str]
    bands: list[tuple[str, int, int]] | None
    attrs: dict[str, Any]

    @property
    def candidate_layers(self) -> list[str]:
        """The fits a layer is chosen from: every layer, or plain and banded ridge for the concatenation baseline."""
        return [CONCAT_LAYER, BANDED_LAYER] if self.bands else list(self.layers)


def open_features(paths: Mapping[str, PathLike]) -> Features:
    """Open a model's features stores (movie -> path) and check that they agree on layers, bands and model."""
    layers = bands = None
    attrs: dict[str, Any] = {}
    for movie, path in paths.items():
        store_attrs = dict(open_zarr(path).attrs)
        these = [str(layer) for layer in store_attrs.get("layers", [])]
        these_bands = [(str(n), int(a), int(b)) for n, a, b in store_attrs["bands"]] if "bands" in store_attrs else None
        this = {key: store_attrs.get(key) for key in ("model", "family", "init", "seed")}
        if not these:
            raise ValueError(f"{path}: features store has no 'layers' attribute; rerun features")
        if layers is not None and (these != layers or these_bands != bands or this != attrs):
            raise ValueError(f"{path}: layers, bands or model differ from the other movies' stores; rerun features")
        layers, bands, attrs = these, these_bands, this
    if layers is None:
        raise ValueError("open_features needs at least one features store")
    return Features({m: Path(p) for m, p in paths.items()}, layers, bands, attrs)


def design_matrix(features: Features, movie: np.ndarray, stimulus_id: np.ndarray, layer: str) -> np.ndarray:
    """Rows of one layer's features for each event's (movie, stimulus).

    Returns
    -------
    X : ndarray of float32, shape (n_events, dim)

    Raises
    ------
    ValueError
        A movie without a features store, stimuli missing from a store (names how many; rerun features), or NaNs.
    """
    movie = np.asarray(movie)
    stimulus_id = np.asarray(stimulus_id)
    out: np.ndarray | None = None
    for name in pd.unique(movie):
        if name not in features.paths:
            raise ValueError(f"events of movie {name!r} have no features store of model {features.attrs.get('model')}")
        path = features.paths[name]
        store = open_zarr(path)
        values = np.asarray(store[f"layers/{layer}"][:], dtype=np.float32)
        n_nan = int(np.isnan(values).sum())
        if n_nan:
            raise ValueError(f"{path}: {n_nan} NaN values in layers/{layer}; rerun features")
        rows = pd.Index(_strings(store["stimulus_id"][:])).get_indexer(stimulus_id[movie == name])
        if (rows < 0).any():
            n_missing = len(set(stimulus_id[movie == name][rows < 0].tolist()))
            raise ValueError(
                f"{path}: {n_missing} stimulus ids of this subject's events are missing; "
                "rerun features (snakemake -R features) after stimuli"
            )
        if out is None:
            out = np.empty((len(movie), values.shape[1]), dtype=np.float32)
        out[movie == name] = values[rows]
    if out is None:
        raise ValueError("design_matrix needs at least one event")
    return out


# --- fitting ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RidgeSettings:
    """What the ridge engine needs beyond the data, from the config's ``encoding`` section and ``device``.

    Attributes
    ----------
    alphas : ndarray
        The penalty grid, ``logspace(log10_min, log10_max, n)``.
    n_folds : int
    banded_iterations : int
        Random draws of feature-space weights in banded ridge.
    seed : int
        Seed of banded ridge's random search (the config seed).
    device : {"auto", "cpu", "cuda"}
    memory_gb : float or None
        Working-memory budget of the engine's target batches; None lets the engine measure free memory.
    """

    alphas: np.ndarray
    n_folds: int = 5
    banded_iterations: int = 20
    seed: int = 0
    device: str = "auto"
    memory_gb: float | None = None

    @classmethod
    def from_config(cls, encoding: Mapping[str, Any], seed: int, device: str = "auto") -> RidgeSettings:
        """Settings from the config's ``encoding`` section (defaults as in the schema), seed and device."""
        alphas = encoding.get("alphas", {})
        memory = encoding.get("memory_gb", "auto")
        return cls(
            alphas=np.logspace(alphas.get("log10_min", -1), alphas.get("log10_max", 5), alphas.get("n", 7)),
            n_folds=int(encoding.get("n_folds", 5)),
            banded_iterations=int(encoding.get("banded", {}).get("n_iter", 20)),
            seed=int(seed),
            device=device,
            memory_gb=None if memory == "auto" else float(memory),
        )

    def cross_validate(self, design: Design, targets: np.ndarray, splits: Sequence[Split]) -> ridge.RidgeCVResult:
        """Plain ridge for one design matrix, banded ridge for a list of feature spaces."""
        if isinstance(design, list):
            return ridge.banded_ridge_cv(
                design, targets, splits, self.alphas, n_iter=self.banded_iterations, seed=self.seed,
                device=self.device, memory_gb=self.memory_gb,
            )  # fmt: skip
        return ridge.cross_validated_ridge(
            design, targets, splits, self.alphas, standardize=True, device=self.device, memory_gb=self.memory_gb
        )


@dataclass(frozen=True)
class LayerFit:
    """Fold-averaged scores of one layer, each ``[n_electrodes, n_bins]`` float32 (``band_weights``: plus bands)."""

    val_r: np.ndarray
    test_r: np.ndarray
    alpha: np.ndarray
    band_weights: np.ndarray | None = None


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


def refit_bootstrap(
    design: Design,
    targets: np.ndarray,
    trial_of_event: np.ndarray,
    indices: np.ndarray,
    settings: RidgeSettings,
    name: str = "events",
) -> tuple[np.ndarray, np.ndarray]:
    """The paper's bootstrap: rerun the whole cross-validation of one design on every resample of the events.

    Each resample's drawn events are sorted back into event order (so trials stay contiguous and folds stay
    contiguous in time); copies of one event stay adjacent and can straddle a fold edge only at its ends.  The layer
    is the one chosen on the original events; alphas are chosen again in every resample.

    Returns
    -------
    val_r, test_r : ndarrays of float32, shape (n_resamples, n_targets)
        Fold-averaged validation and test r of every resample.
    """
    val_r = np.empty((len(indices), targets.shape[1]), dtype=np.float32)
    test_r = np.empty_like(val_r)
    for r, drawn in enumerate(np.asarray(indices)):
        order = np.sort(drawn)
        splits = contiguous_splits(np.asarray(trial_of_event)[order], settings.n_folds, name)
        picked = [x[order] for x in design] if isinstance(design, list) else design[order]
        result = settings.cross_validate(picked, targets[order], splits)
        val_r[r] = np.asarray(result.val_r, dtype=np.float64).mean(axis=0)
        test_r[r] = np.asarray(result.test_r, dtype=np.float64).mean(axis=0)
        if (r + 1) % max(1, len(indices) // 10) == 0:
            log.info("%s: refit bootstrap %d/%d resamples", name, r + 1, len(indices))
    return val_r, test_r


def compare_protocols(
    design: Design,
    targets: np.ndarray,
    trial_of_event: np.ndarray,
    indices: np.ndarray,
    settings: RidgeSettings,
    ci: float = 0.95,
) -> dict[str, float]:
    """Run both bootstrap protocols on one (small) problem and report their agreement.

    Returns :func:`vlencode.bootstrap.protocol_agreement` of the validation-r bootstraps: correlation of the lower and
    upper bounds over targets and the share of targets with the same keep decision (lower bound > 0).
    """
    splits = contiguous_splits(trial_of_event, settings.n_folds)
    result = settings.cross_validate(design, targets, splits)
    fast_val, _ = bootstrap.fast_bootstrap(result.prediction, targets, splits, indices, settings.device)
    refit_val, _ = refit_bootstrap(design, targets, trial_of_event, indices, settings)
    return bootstrap.protocol_agreement(fast_val, refit_val, ci)


@dataclass
class AlignmentFit:
    """Everything the fit store holds for one alignment.

    ``layers`` maps each candidate layer to its scores; ``boot_val_r`` and ``boot_test_r`` are
    ``[n_resamples, n_electrodes, n_bins]`` (float16) for the chosen layer, ``val_lo`` and ``val_hi`` the percentile
    bounds of the validation r, computed before the float16 cast.
    """

    layers: dict[str, LayerFit]
    chosen_layer: str
    boot_val_r: np.ndarray
    boot_test_r: np.ndarray
    val_lo: np.ndarray
    val_hi: np.ndarray
    n_events: int
    mean_val_r: dict[str, float] = field(default_factory=dict)


@dataclass
class SubjectModelFit:
    """One subject x model fit: every alignment's layers, choice and bootstrap, ready to write as the fit store."""

    subject: str
    model: dict[str, Any]
    electrode: np.ndarray
    bin_time_s: np.ndarray
    alignments: dict[str, AlignmentFit]
    protocol: str
    bands: list[tuple[str, int, int]] | None = None

    def write(self, group: zarr.Group) -> None:
        """Write the fit-store layout into an (empty, provenance-stamped) zarr group."""
        group.attrs.update(
            subject=self.subject,
            **{key: self.model[key] for key in ("model", "family", "init", "seed")},
            bootstrap_protocol=self.protocol,
            chosen_layer={a: fit.chosen_layer for a, fit in self.alignments.items()},
        )
        group.create_array("electrode", shape=self.electrode.shape, dtype=str)[:] = self.electrode.astype(str)
        group.create_array("bin_time_s", data=np.asarray(self.bin_time_s, dtype=np.float64))
        for alignment, fit in self.alignments.items():
            sub = group.create_group(alignment)
            sub.attrs.update(chosen_layer=fit.chosen_layer, layers=list(fit.layers), n_events=fit.n_events,
                             mean_val_r=fit.mean_val_r)  # fmt: skip
            for layer, scores in fit.layers.items():
                arrays = sub.create_group(f"layers/{layer}")
                for key in ("val_r", "test_r", "alpha"):
                    arrays.create_array(key, data=getattr(scores, key))
                if scores.band_weights is not None:
                    arrays.create_array("band_weights", data=scores.band_weights)
                    arrays.attrs["bands"] = [name for name, _, _ in self.bands or []]
            for key in ("boot_val_r", "boot_test_r", "val_lo", "val_hi"):
                sub.create_array(key, data=getattr(fit, key))


def fit_alignment(
    responses: Responses,
    features: Features,
    indices: np.ndarray,
    settings: RidgeSettings,
    *,
    layer_selection: str = "validation",
    protocol: str = "fast",
    ci: float = 0.95,
    name: str = "events",
) -> AlignmentFit:
    """Fit every candidate layer of one alignment, choose one and bootstrap its scores.

    Parameters
    ----------
    responses : Responses
    features : Features
    indices : ndarray of int, shape (n_resamples, n_events)
        The subject's shared resamples of this alignment's events.
    settings : RidgeSettings
    layer_selection : {"validation", "last"}
    protocol : {"fast", "refit"}
    ci : float
        Coverage of the percentile bounds ``val_lo, val_hi``.
    name : str
        Names the events in log lines and errors.
    """
    if protocol not in ("fast", "refit"):
        raise ValueError(f"bootstrap.protocol: unknown protocol {protocol!r}; use fast or refit")
    targets = responses.targets
    shape = responses.response.shape[1:]
    splits = contiguous_splits(responses.trial, settings.n_folds, name)
    layers: dict[str, LayerFit] = {}
    mean_val_r: dict[str, float] = {}
    chosen = ""
    for i, layer in enumerate(features.candidate_layers, start=1):
        design = _design(features, responses, layer)
        result = settings.cross_validate(design, targets, splits)
        layers[layer] = summarize_folds(result, shape)
        mean_val_r[layer] = float(np.mean(layers[layer].val_r))
        log.info("%s: layer %s (%d/%d) mean val r %.4f, mean test r %.4f", name, layer, i,
                 len(features.candidate_layers), mean_val_r[layer], float(np.mean(layers[layer].test_r)))  # fmt: skip
        # Only the leading layer's out-of-fold predictions are kept (each is as large as the targets).
        if not chosen or select_layer({chosen: mean_val_r[chosen], layer: mean_val_r[layer]}, layer_selection) == layer:
            chosen, prediction, chosen_design = layer, result.prediction, design
    if protocol == "fast":
        boot_val, boot_test = bootstrap.fast_bootstrap(prediction, targets, splits, indices, settings.device)
    else:
        boot_val, boot_test = refit_bootstrap(chosen_design, targets, responses.trial, indices, settings, name)
    val_lo, val_hi = bootstrap.percentile_bounds(boot_val, ci)
    log.info("%s: chose %s; %d of %d targets kept (val_lo > 0)", name, chosen, int((val_lo > 0).sum()), val_lo.size)
    return AlignmentFit(
        layers=layers,
        chosen_layer=chosen,
        boot_val_r=boot_val.reshape(-1, *shape).astype(np.float16),
        boot_test_r=boot_test.reshape(-1, *shape).astype(np.float16),
        val_lo=val_lo.reshape(shape),
        val_hi=val_hi.reshape(shape),
        n_events=len(targets),
        mean_val_r=mean_val_r,
    )


def _design(features: Features, responses: Responses, layer: str) -> Design:
    if layer == BANDED_LAYER:
        concat = design_matrix(features, responses.movie, responses.stimulus_id, CONCAT_LAYER)
        return [concat[:, start:stop] for _, start, stop in features.bands or []]
    return design_matrix(features, responses.movie, responses.stimulus_id, layer)


def fit_subject_model(
    subject: str,
    trials: Sequence[str],
    epochs_paths: Sequence[PathLike],
    events_paths: Sequence[PathLike],
    features_paths: Mapping[str, PathLike],
    resamples_path: PathLike,
    encoding: Mapping[str, Any],
    bootstrap_config: Mapping[str, Any],
    *,
    seed: int,
    device: str = "auto",
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
        The subject's ``resamples.zarr`` (:func:`subject_resamples`).
    encoding, bootstrap_config : the config's ``encoding`` and ``bootstrap`` sections
    seed : int
        The config seed (banded ridge's random search).
    device : {"auto", "cpu", "cuda"}

    Returns
    -------
    SubjectModelFit
        Call its ``write`` on a :func:`vlencode.store.atomic_zarr` group.
    """
    settings = RidgeSettings.from_config(encoding, seed, device)
    features = open_features(features_paths)
    resamples = open_zarr(resamples_path)
    alignments: dict[str, AlignmentFit] = {}
    electrode = bin_time_s = None
    for alignment in encoding.get("alignments", ["word", "scene"]):
        name = f"sub-{subject} {alignment} events"
        responses = load_responses(epochs_paths, events_paths, trials, alignment)
        indices = _resample_indices(resamples, resamples_path, alignment, responses.event_key)
        alignments[alignment] = fit_alignment(
            responses, features, indices, settings,
            layer_selection=encoding.get("layer_selection", "validation"),
            protocol=bootstrap_config.get("protocol", "fast"), ci=float(bootstrap_config.get("ci", 0.95)), name=name,
        )  # fmt: skip
        electrode, bin_time_s = responses.electrode, responses.bin_time_s
    return SubjectModelFit(
        subject=str(subject),
        model=features.attrs,
        electrode=np.asarray(electrode),
        bin_time_s=np.asarray(bin_time_s),
        alignments=alignments,
        protocol=bootstrap_config.get("protocol", "fast"),
        bands=features.bands,
    )


# --- resamples and scores ---------------------------------------------------------------------------------------------


def _events_sha256(event_keys: np.ndarray) -> str:
    return array_sha256(np.asarray([str(k) for k in event_keys], dtype=str))


def _resample_indices(resamples: zarr.Group, path: PathLike, alignment: str, event_keys: np.ndarray) -> np.ndarray:
    if alignment not in resamples:
        raise ValueError(f"{path}: no resamples for '{alignment}' events; rerun resamples")
    group = resamples[alignment]
    if group.attrs.get("events_sha256") != _events_sha256(event_keys):
        raise ValueError(
            f"{path}: resamples were drawn for other {alignment} events ({group.attrs.get('n_events')} vs "
            f"{len(event_keys)} now); rerun resamples"
        )
    return np.asarray(group["indices"][:])


@dataclass
class SubjectResamples:
    """One subject's shared bootstrap resamples, per alignment: indices ``[n_resamples, n_events]`` and event hash."""

    subject: str
    seed: int
    indices: dict[str, np.ndarray]
    events_sha256: dict[str, str]

    def write(self, group: zarr.Group) -> None:
        """Write ``<alignment>/indices`` (int32) with attrs ``seed, n_events, events_sha256`` per alignment."""
        group.attrs.update(subject=self.subject, seed=self.seed)
        for alignment, indices in self.indices.items():
            sub = group.create_group(alignment)
            sub.attrs.update(seed=self.seed, n_events=indices.shape[1], events_sha256=self.events_sha256[alignment])
            sub.create_array("indices", data=indices.astype(np.int32))


def subject_resamples(
    subject: str,
    trials: Sequence[str],
    epochs_paths: Sequence[PathLike],
    alignments: Sequence[str],
    n_resamples: int,
    seed: int,
) -> SubjectResamples:
    """Draw the resamples every model of ``subject`` shares, one stream per alignment seeded by (seed, subject,
    alignment)."""
    indices, hashes = {}, {}
    for alignment in alignments:
        keys = epoch_event_keys(epochs_paths, trials, alignment)
        if len(keys) == 0:
            raise ValueError(f"sub-{subject}: no epoched {alignment} events; drop {alignment} from encoding.alignments")
        indices[alignment] = bootstrap.draw_resamples(
            len(keys), n_resamples, bootstrap.resample_seed(seed, subject, alignment)
        )
        hashes[alignment] = _events_sha256(keys)
    return SubjectResamples(str(subject), int(seed), indices, hashes)


def scores_table(fit_paths: Sequence[PathLike]) -> pd.DataFrame:
    """The tidy scores of every fit store's chosen layer: one row per (subject, alignment, model, electrode, bin).

    ``kept`` is ``val_lo > 0`` (METHOD.md §8).  Columns :data:`SCORE_COLUMNS`; rows in the order of ``fit_paths``,
    then alignment, electrode and bin.
    """
    frames = []
    for path in fit_paths:
        store = open_zarr(path)
        attrs = dict(store.attrs)
        electrode = _strings(store["electrode"][:])
        bins = np.asarray(store["bin_time_s"][:], dtype=np.float64)
        for alignment, layer in attrs["chosen_layer"].items():
            group = store[alignment]
            scores = {key: group[f"layers/{layer}/{key}"][:].ravel() for key in ("val_r", "test_r", "alpha")}
            val_lo = np.asarray(group["val_lo"][:]).ravel()
            frames.append(pd.DataFrame({
                "subject": str(attrs["subject"]), "alignment": alignment, "model": str(attrs["model"]),
                "family": str(attrs["family"]), "init": str(attrs["init"]), "layer": layer,
                "electrode": np.repeat(electrode, len(bins)).astype(str), "bin_time_s": np.tile(bins, len(electrode)),
                **scores, "val_lo": val_lo, "val_hi": np.asarray(group["val_hi"][:]).ravel(), "kept": val_lo > 0,
            }))  # fmt: skip
    if not frames:
        return pd.DataFrame({column: [] for column in SCORE_COLUMNS})
    return pd.concat(frames, ignore_index=True)[SCORE_COLUMNS]
