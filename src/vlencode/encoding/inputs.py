"""The encoding model's inputs: a subject's epoched responses (targets) and a model's features (design matrix)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vlencode.store import read_parquet
from vlencode.stores import strings
from vlencode.stores.epochs import EpochsStore
from vlencode.stores.features import FeaturesStore

log = logging.getLogger("vlencode.encoding")

Design = np.ndarray | list[np.ndarray]
PathLike = str | os.PathLike

#: Layer names of the concatenation baseline: plain ridge on the concatenation, and banded ridge over its bands.
CONCAT_LAYER = "concat"
BANDED_LAYER = "concat-banded"


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


def epoch_event_keys(epochs_paths: Sequence[PathLike], trials: Sequence[str], alignment: str) -> np.ndarray:
    """``"<trial>/<event_id>"`` of every epoched event of one alignment, trials in the given order.

    The resamples and the fit both index events in this order; its hash ties a fit to its resamples.
    """
    keys: list[str] = []
    for path, trial in zip(epochs_paths, trials, strict=True):
        keys.extend(f"{trial}/{event_id}" for event_id in EpochsStore(path).event_id(alignment))
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
        epochs = EpochsStore(epochs_path)
        response = epochs.response(alignment)
        n_nan = int(np.isnan(response).sum())
        if n_nan:
            raise ValueError(f"{epochs_path}: {n_nan} NaN values in {alignment}/response; rerun preprocess and epochs")
        bins = epochs.bin_time_s
        if bin_time_s is not None and not np.allclose(bins, bin_time_s):
            raise ValueError(f"{epochs_path}: time bins differ from the first trial's; rerun epochs for all trials")
        bin_time_s = bins
        event_id = epochs.event_id(alignment)
        table = read_parquet(events_path).set_index("event_id")
        table.index = table.index.astype(str)
        missing = ~pd.Index(event_id).isin(table.index)
        if missing.any():
            raise ValueError(
                f"{events_path}: {int(missing.sum())} events of {epochs_path} are missing from the events table; "
                "rerun events and epochs"
            )
        rows = table.loc[event_id]
        electrodes.append(epochs.electrode)
        per_trial.append((trial, event_id, rows, response, epochs_path))
    if bin_time_s is None:
        raise ValueError("load_responses needs at least one trial")
    common = [label for label in electrodes[0] if all(label in set(e) for e in electrodes[1:])]
    for (_, _, _, _, path), labels in zip(per_trial, electrodes):
        if len(labels) != len(common):
            log.warning(
                "%s: %d of %d electrodes are not in every trial; fitting the %d shared ones",
                path,
                len(labels) - len(common),
                len(labels),
                len(common),
            )
    responses: list[np.ndarray] = []
    trial_of: list[str] = []
    movie: list[str] = []
    stimulus: list[str] = []
    keys: list[str] = []
    for (trial, event_id, rows, response, _), labels in zip(per_trial, electrodes):
        position = {label: i for i, label in enumerate(labels)}
        responses.append(response[:, [position[label] for label in common], :])
        trial_of.extend([str(trial)] * len(event_id))
        movie.extend(strings(rows["movie"]))
        stimulus.extend(strings(rows["stimulus_id"]))
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


def open_features(paths: Mapping[str, PathLike], model: str | None = None) -> Features:
    """Open a model's features stores (movie -> path) and check that they agree on layers, bands and model.

    With ``model``, every store must hold that model instance's features (a store copied from another model's
    folder is a one-line ValueError naming it).
    """
    layers = bands = None
    attrs: dict[str, Any] = {}
    for path in paths.values():
        store = FeaturesStore(path)
        these, these_bands, this = store.layers, store.bands, store.model
        if not these:
            raise ValueError(f"{path}: features store has no 'layers' attribute; rerun features")
        if model is not None and this["model"] != model:
            raise ValueError(f"{path}: holds features of model {this['model']!r}, not {model!r}; delete it and rerun")
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
        store = FeaturesStore(path)
        values = store.layer(layer)
        n_nan = int(np.isnan(values).sum())
        if n_nan:
            raise ValueError(f"{path}: {n_nan} NaN values in layers/{layer}; rerun features")
        rows = pd.Index(store.stimulus_id()).get_indexer(stimulus_id[movie == name])
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
