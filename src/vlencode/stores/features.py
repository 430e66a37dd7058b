"""The features store, ``results/features/model-<model>/movie-<movie>.zarr``: its layout, writer and reader.

Layout: ``stimulus_id`` (str, ``[n_stimuli]``, the stimuli table's order) and ``layers/<layer>`` (float32,
``[n_stimuli, dim]``, chunks of 4096 rows) for every extracted layer; attributes: ``layers`` (the layer names in the
model's order), the model's identity ``model, family, init, seed``, the ``cache_key`` and provenance of the
activations, and for the concatenation baseline ``bands`` (``[component, start_col, stop_col]`` per feature space).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vlencode.store import create_array, open_zarr, zarr_array
from vlencode.stores import strings

#: Attributes that identify the model instance a store (and every fit of it) belongs to.
MODEL_KEYS = ("model", "family", "init", "seed")


def write_features(
    group: Any, stimulus_ids: Sequence[str], layers: Mapping[str, np.ndarray], attrs: Mapping[str, Any]
) -> None:
    """Lay a features store out in an open zarr group: ``stimulus_id``, ``layers/<layer>`` and the attributes."""
    ids = create_array(group, "stimulus_id", shape=(len(stimulus_ids),), dtype=str)
    ids[:] = np.asarray(stimulus_ids, dtype=np.dtypes.StringDType())
    arrays = group.create_group("layers")
    for name, values in layers.items():
        if values.shape[0] != len(stimulus_ids):
            raise ValueError(f"layer {name} has {values.shape[0]} rows for {len(stimulus_ids)} stimuli")
        create_array(
            arrays,
            name,
            data=np.ascontiguousarray(values, dtype=np.float32),
            chunks=(min(4096, values.shape[0]), values.shape[1]),
        )
    group.attrs.update(json.loads(json.dumps(dict(attrs), default=_json_scalar)))


def _json_scalar(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def read_features(group: Any, layer: str | None = None) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, Any]]:
    """``stimulus_id``, the layers (all, or only ``layer``; ``last`` is the deepest) and the attributes of a store."""
    attrs = dict(group.attrs)
    names = attrs["layers"]
    if layer is not None:
        if layer == "last":
            layer = names[-1]
        if layer not in names:
            raise ValueError(
                f"features store of {attrs.get('model')} has no layer {layer!r}; it has {', '.join(names)}"
            )
        names = [layer]
    ids = np.asarray(group["stimulus_id"][:], dtype=np.dtypes.StringDType())
    return ids, {name: np.asarray(group["layers"][name][:], dtype=np.float32) for name in names}, attrs


class FeaturesStore:
    """Read access to a finished features store, one layer at a time.

    Attributes
    ----------
    path : Path
    attrs : dict
        Every attribute of the store.
    layers : list of str
        Layer names in the model's order.
    bands : list of (name, start, stop) or None
        Column ranges of the concatenation baseline's feature spaces; None for an ordinary model.
    model : dict
        ``model, family, init, seed``.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._root = open_zarr(path)
        self.attrs: dict[str, Any] = dict(self._root.attrs)  # zarr types attributes as any JSON value
        self.layers = [str(layer) for layer in self.attrs.get("layers", [])]
        bands = self.attrs.get("bands")
        self.bands = None if bands is None else [(str(n), int(a), int(b)) for n, a, b in bands]
        self.model = {key: self.attrs.get(key) for key in MODEL_KEYS}

    def stimulus_id(self) -> np.ndarray:
        """The stimulus id of every row (str, ``[n_stimuli]``)."""
        return strings(zarr_array(self._root, "stimulus_id")[:])

    def layer(self, name: str) -> np.ndarray:
        """One layer's features, float32 ``[n_stimuli, dim]``."""
        return np.asarray(zarr_array(self._root, f"layers/{name}")[:], dtype=np.float32)
