"""The fit store, ``results/encoding/sub-<subject>/model-<model>.zarr``: its layout, writer and reader.

Layout: root attributes ``subject, model, family, init, seed``; the instance's place in the registry
(:data:`IDENTITY_KEYS`: the ``base`` entry, ``twin`` — a random-init twin of that entry rather than the entry —, the
entry's controlled ``pair`` and a concatenation baseline's ``components``); ``bootstrap_protocol``, ``chosen_layer``
(alignment -> layer) and ``resamples_sha256`` (content hash of the resamples store the bootstrap drew from); arrays
``electrode`` (str, ``[n_electrodes]``), ``bin_time_s`` (float64, ``[n_bins]``) and ``alpha_grid`` (float64,
``[n_alphas]``, the ridge penalties every layer chose from). Per alignment a group with attributes ``chosen_layer,
layers, n_events, mean_val_r, proxy_val_r, inflation`` (``layers``: those fitted to all targets: every candidate under
``validation``, the last under ``last``, the leading ones under ``screen``; ``proxy_val_r``: the screening proxy of
every candidate, empty without screening, :mod:`vlencode.encoding.screening`; ``inflation``: bootstrapped layer ->
``<scheme>_<val|test>_r`` -> the factor its resamples were widened by, empty under ``bootstrap.inflation: none``,
:mod:`vlencode.bootstrap.inflation`); ``layers/<layer>/{val_r, test_r, alpha}`` (float32, ``[n_electrodes, n_bins]``)
for every fitted layer, plus ``band_weights`` (``[n_electrodes, n_bins, n_bands]``, attribute ``bands``) for banded
ridge; the resampled scores of every bootstrapped layer (the chosen one; both fits of a concatenation baseline),
``boot/<layer>/<scheme>_<val|test>_r`` (float16, ``[n_resamples, n_electrodes, n_bins]``, schemes ``iid`` and
``block``); and the percentile bounds of the chosen layer's iid validation r, ``val_lo, val_hi`` (float32,
``[n_electrodes, n_bins]``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from vlencode.store import create_array, open_zarr
from vlencode.stores import strings
from vlencode.stores.features import MODEL_KEYS

#: Root attributes placing the fitted instance in the registry (:class:`ModelIdentity`).
IDENTITY_KEYS = ("base", "twin", "pair", "components")


@dataclass(frozen=True)
class ModelIdentity:
    """Where a fitted model instance sits in the registry.

    Attributes
    ----------
    base : str
        The registry entry the instance comes from.
    twin : bool
        True for a random-init twin of ``base``, False for the entry itself.
    pair : str or None
        The entry's controlled-comparison partner; None for a twin or an unpaired entry.
    components : tuple of str
        Instance names of a concatenation baseline's parts, in band order; empty for a network.
    """

    base: str
    twin: bool
    pair: str | None
    components: tuple[str, ...]


@dataclass(frozen=True)
class LayerFit:
    """Fold-averaged scores of one layer, each ``[n_electrodes, n_bins]`` float32 (``band_weights``: plus bands)."""

    val_r: np.ndarray
    test_r: np.ndarray
    alpha: np.ndarray
    band_weights: np.ndarray | None = None


@dataclass
class AlignmentFit:
    """Everything the fit store holds for one alignment.

    ``layers`` maps each layer fitted to all targets to its scores (``proxy_val_r``: every candidate's screening
    proxy, when screened; ``inflation``: the factors each bootstrapped layer's resamples were widened by, when
    widened); ``boot`` maps each bootstrapped layer to its resampled scores
    ``<scheme>_<val|test>_r``, each ``[n_resamples, n_electrodes, n_bins]`` (float16); ``val_lo`` and ``val_hi`` are
    the percentile bounds of the chosen layer's iid validation r (the paper's keep rule), computed before the cast.
    """

    layers: dict[str, LayerFit]
    chosen_layer: str
    boot: dict[str, dict[str, np.ndarray]]
    val_lo: np.ndarray
    val_hi: np.ndarray
    n_events: int
    mean_val_r: dict[str, float] = field(default_factory=dict)
    proxy_val_r: dict[str, float] = field(default_factory=dict)
    inflation: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class SubjectModelFit:
    """One subject x model fit: every alignment's layers, choice and bootstrap, ready to write as the fit store."""

    subject: str
    model: dict[str, Any]
    identity: ModelIdentity
    electrode: np.ndarray
    bin_time_s: np.ndarray
    alpha_grid: np.ndarray
    alignments: dict[str, AlignmentFit]
    protocol: str
    resamples_sha256: str
    bands: list[tuple[str, int, int]] | None = None

    def write(self, group: zarr.Group) -> None:
        """Write the fit-store layout into an (empty, provenance-stamped) zarr group."""
        identity = self.identity
        group.attrs.update(
            subject=self.subject,
            **{key: self.model[key] for key in MODEL_KEYS},
            base=identity.base,
            twin=identity.twin,
            pair=identity.pair,
            components=list(identity.components),
            bootstrap_protocol=self.protocol,
            chosen_layer={a: fit.chosen_layer for a, fit in self.alignments.items()},
            resamples_sha256=self.resamples_sha256,
        )
        create_array(group, "electrode", shape=self.electrode.shape, dtype=str)[:] = self.electrode.astype(str)
        create_array(group, "bin_time_s", data=np.asarray(self.bin_time_s, dtype=np.float64))
        create_array(group, "alpha_grid", data=np.asarray(self.alpha_grid, dtype=np.float64))
        for alignment, fit in self.alignments.items():
            sub = group.create_group(alignment)
            sub.attrs.update(
                chosen_layer=fit.chosen_layer,
                layers=list(fit.layers),
                n_events=fit.n_events,
                mean_val_r=fit.mean_val_r,
                proxy_val_r=fit.proxy_val_r,
                inflation=fit.inflation,
            )
            for layer, scores in fit.layers.items():
                arrays = sub.create_group(f"layers/{layer}")
                for key in ("val_r", "test_r", "alpha"):
                    create_array(arrays, key, data=getattr(scores, key))
                if scores.band_weights is not None:
                    create_array(arrays, "band_weights", data=scores.band_weights)
                    arrays.attrs["bands"] = [name for name, _, _ in self.bands or []]
            for layer, resampled in fit.boot.items():
                for key, values in resampled.items():
                    create_array(sub, f"boot/{layer}/{key}", data=values)
            for key in ("val_lo", "val_hi"):
                create_array(sub, key, data=getattr(fit, key))


class FitStore:
    """Read access to a finished fit store.

    Attributes
    ----------
    path : Path
    subject : str
    model : dict
        ``model, family, init, seed`` of the fitted instance.
    identity : ModelIdentity
        The instance's registry entry, twin flag, pair and components.
    chosen_layer : dict of alignment -> layer
    bootstrap_protocol : str
    electrode : ndarray of str, shape (n_electrodes,)
    bin_time_s : ndarray of float64, shape (n_bins,)
    alpha_grid : ndarray of float64, shape (n_alphas,)
        The ridge penalties every layer chose from, ascending.
    resamples_sha256 : str
        Content hash of the resamples store the bootstrap drew from.

    Raises
    ------
    ValueError
        The store predates the fields above (written before fit version 3): rerun fit.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._root = open_zarr(path)
        attrs: dict[str, Any] = dict(self._root.attrs)
        missing = [key for key in (*IDENTITY_KEYS, "resamples_sha256") if key not in attrs]
        missing += [] if "alpha_grid" in self._root else ["alpha_grid"]
        if missing:
            raise ValueError(f"{self.path}: a fit store without {', '.join(missing)} (an older layout); rerun fit")
        self.subject = str(attrs["subject"])
        self.model = {key: attrs.get(key) for key in MODEL_KEYS}
        self.identity = ModelIdentity(
            base=str(attrs["base"]),
            twin=bool(attrs["twin"]),
            pair=None if attrs["pair"] is None else str(attrs["pair"]),
            components=tuple(str(c) for c in attrs["components"]),
        )
        self.chosen_layer = {str(a): str(layer) for a, layer in attrs["chosen_layer"].items()}
        self.bootstrap_protocol = str(attrs.get("bootstrap_protocol"))
        self.electrode = strings(self._array("electrode"))
        self.bin_time_s = self._array("bin_time_s").astype(np.float64)
        self.alpha_grid = self._array("alpha_grid").astype(np.float64)
        self.resamples_sha256 = str(attrs["resamples_sha256"])

    def _group(self, key: str) -> zarr.Group:
        node = self._root[key]
        if not isinstance(node, zarr.Group):
            raise ValueError(f"{self.path}: '{key}' is not a group; delete the store and rerun fit")
        return node

    def _array(self, key: str) -> np.ndarray:
        node = self._root[key]
        if not isinstance(node, zarr.Array):
            raise ValueError(f"{self.path}: '{key}' is not an array; delete the store and rerun fit")
        return np.asarray(node[...])

    @property
    def alignments(self) -> list[str]:
        """The fitted alignments, in fit order."""
        return list(self.chosen_layer)

    def layers(self, alignment: str) -> list[str]:
        """The layers fitted to all targets for one alignment (all candidates, the last, or the screened leaders),
        in the model's order."""
        attrs: dict[str, Any] = dict(self._group(alignment).attrs)
        return [str(layer) for layer in attrs["layers"]]

    def scores(self, alignment: str, layer: str | None = None) -> dict[str, np.ndarray]:
        """``val_r, test_r, alpha`` of one layer (default: the chosen one), each ``[n_electrodes, n_bins]``."""
        prefix = f"{alignment}/layers/{layer or self.chosen_layer[alignment]}"
        return {key: self._array(f"{prefix}/{key}") for key in ("val_r", "test_r", "alpha")}

    def bounds(self, alignment: str) -> tuple[np.ndarray, np.ndarray]:
        """``val_lo, val_hi``: the percentile bounds of the chosen layer's validation r, ``[n_electrodes, n_bins]``."""
        return self._array(f"{alignment}/val_lo"), self._array(f"{alignment}/val_hi")

    def boot_layers(self, alignment: str) -> list[str]:
        """The layers whose scores were resampled: the chosen one, or both fits of a concatenation baseline."""
        group = self._group(alignment)
        if "boot" not in group:
            raise ValueError(
                f"{self.path}: no resampled scores per scheme ('{alignment}/boot'); rerun resamples and fit"
            )
        return sorted(str(layer) for layer in self._group(f"{alignment}/boot").group_keys())

    def boot(self, alignment: str, layer: str | None = None) -> dict[str, np.ndarray]:
        """Resampled scores ``<scheme>_<val|test>_r`` of one layer (default: the chosen one), each
        ``[n_resamples, n_electrodes, n_bins]`` float16 as stored."""
        prefix = f"{alignment}/boot/{layer or self.chosen_layer[alignment]}"
        return {str(key): self._array(f"{prefix}/{key}") for key in self._group(prefix).array_keys()}
