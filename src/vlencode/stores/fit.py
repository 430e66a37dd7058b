"""The fit store, ``results/encoding/sub-<subject>/model-<model>.zarr``: its layout, writer and reader.

Layout: root attributes ``subject, model, family, init, seed, bootstrap_protocol`` and ``chosen_layer``
(alignment -> layer); arrays ``electrode`` (str, ``[n_electrodes]``) and ``bin_time_s`` (float64, ``[n_bins]``).  Per
alignment a group with attributes ``chosen_layer, layers, n_events, mean_val_r``; ``layers/<layer>/{val_r, test_r,
alpha}`` (float32, ``[n_electrodes, n_bins]``) for every candidate layer, plus ``band_weights``
(``[n_electrodes, n_bins, n_bands]``, attribute ``bands``) for banded ridge; the resampled scores of every
bootstrapped layer (the chosen one; both fits of a concatenation baseline), ``boot/<layer>/<scheme>_<val|test>_r``
(float16, ``[n_resamples, n_electrodes, n_bins]``, schemes ``iid`` and ``block``); and the percentile bounds of the
chosen layer's iid validation r, ``val_lo, val_hi`` (float32, ``[n_electrodes, n_bins]``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from vlencode.store import open_zarr
from vlencode.stores import strings
from vlencode.stores.features import MODEL_KEYS


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

    ``layers`` maps each candidate layer to its scores; ``boot`` maps each bootstrapped layer to its resampled scores
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
            **{key: self.model[key] for key in MODEL_KEYS},
            bootstrap_protocol=self.protocol,
            chosen_layer={a: fit.chosen_layer for a, fit in self.alignments.items()},
        )
        group.create_array("electrode", shape=self.electrode.shape, dtype=str)[:] = self.electrode.astype(str)
        group.create_array("bin_time_s", data=np.asarray(self.bin_time_s, dtype=np.float64))
        for alignment, fit in self.alignments.items():
            sub = group.create_group(alignment)
            sub.attrs.update(
                chosen_layer=fit.chosen_layer, layers=list(fit.layers), n_events=fit.n_events, mean_val_r=fit.mean_val_r
            )
            for layer, scores in fit.layers.items():
                arrays = sub.create_group(f"layers/{layer}")
                for key in ("val_r", "test_r", "alpha"):
                    arrays.create_array(key, data=getattr(scores, key))
                if scores.band_weights is not None:
                    arrays.create_array("band_weights", data=scores.band_weights)
                    arrays.attrs["bands"] = [name for name, _, _ in self.bands or []]
            for layer, arrays in fit.boot.items():
                for key, values in arrays.items():
                    sub.create_array(f"boot/{layer}/{key}", data=values)
            for key in ("val_lo", "val_hi"):
                sub.create_array(key, data=getattr(fit, key))


class FitStore:
    """Read access to a finished fit store.

    Attributes
    ----------
    path : Path
    subject : str
    model : dict
        ``model, family, init, seed`` of the fitted instance.
    chosen_layer : dict of alignment -> layer
    bootstrap_protocol : str
    electrode : ndarray of str, shape (n_electrodes,)
    bin_time_s : ndarray of float64, shape (n_bins,)
    resamples_sha256 : str or None
        Content hash of the resamples store the bootstrap used (the store's provenance).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._root = open_zarr(path)
        attrs = dict(self._root.attrs)
        self.subject = str(attrs["subject"])
        self.model = {key: attrs.get(key) for key in MODEL_KEYS}
        self.chosen_layer = {str(a): str(layer) for a, layer in attrs["chosen_layer"].items()}
        self.bootstrap_protocol = str(attrs.get("bootstrap_protocol"))
        self.electrode = strings(self._root["electrode"][:])
        self.bin_time_s = np.asarray(self._root["bin_time_s"][:], dtype=np.float64)
        self.resamples_sha256 = attrs.get("inputs", {}).get("resamples")

    @property
    def alignments(self) -> list[str]:
        """The fitted alignments, in fit order."""
        return list(self.chosen_layer)

    def layers(self, alignment: str) -> list[str]:
        """The candidate layers fitted for one alignment, in the model's order."""
        return [str(layer) for layer in self._root[alignment].attrs["layers"]]

    def scores(self, alignment: str, layer: str | None = None) -> dict[str, np.ndarray]:
        """``val_r, test_r, alpha`` of one layer (default: the chosen one), each ``[n_electrodes, n_bins]``."""
        group = self._root[f"{alignment}/layers/{layer or self.chosen_layer[alignment]}"]
        return {key: np.asarray(group[key][:]) for key in ("val_r", "test_r", "alpha")}

    def bounds(self, alignment: str) -> tuple[np.ndarray, np.ndarray]:
        """``val_lo, val_hi``: the percentile bounds of the chosen layer's validation r, ``[n_electrodes, n_bins]``."""
        group = self._root[alignment]
        return np.asarray(group["val_lo"][:]), np.asarray(group["val_hi"][:])

    def boot_layers(self, alignment: str) -> list[str]:
        """The layers whose scores were resampled: the chosen one, or both fits of a concatenation baseline."""
        group = self._root[alignment]
        if "boot" not in group:
            raise ValueError(
                f"{self.path}: no resampled scores per scheme ('{alignment}/boot'); rerun resamples and fit"
            )
        return sorted(str(layer) for layer in group["boot"])

    def boot(self, alignment: str, layer: str | None = None) -> dict[str, np.ndarray]:
        """Resampled scores ``<scheme>_<val|test>_r`` of one layer (default: the chosen one), each
        ``[n_resamples, n_electrodes, n_bins]`` float16 as stored."""
        group = self._root[f"{alignment}/boot/{layer or self.chosen_layer[alignment]}"]
        return {str(key): np.asarray(group[key][:]) for key in group}
