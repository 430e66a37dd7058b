"""The neural store, ``results/neural/sub-<subject>_trial-<trial>.zarr``: its layout, writer and reader.

Layout: ``signal`` (float32, ``[n_samples, n_electrodes]`` at ``rate_hz``, chunked by the preprocessing block) and
``electrode`` (str, ``[n_electrodes]``); attributes ``rate_hz`` (the signal's), ``source_rate_hz`` (the raw
recording's, which event samples count in), ``line_freq_hz`` (the mains frequency removed), ``line_freq_source``
(where it came from), ``notch_hz`` (the harmonics notched), ``dropped_channels`` (label -> reason) and
``clipped_fraction`` (electrode -> share of samples clipped by despiking).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import zarr

from vlencode.store import create_array, open_zarr, zarr_array
from vlencode.stores import strings


def create_signal(group: zarr.Group, n_samples: int, n_electrodes: int, block: int) -> zarr.Array:
    """The empty ``signal`` array that preprocessing streams into, in chunks of ``block`` samples."""
    return create_array(group, "signal", shape=(n_samples, n_electrodes), chunks=(block, n_electrodes), dtype="float32")


def write_metadata(
    group: zarr.Group,
    *,
    electrodes: Sequence[str],
    rate_hz: float,
    source_rate_hz: float,
    line_freq_hz: float,
    line_freq_source: str,
    notch_hz: Sequence[float],
    dropped_channels: Mapping[str, str],
    clipped_fraction: Mapping[str, float],
) -> None:
    """Write the electrode labels (one per ``signal`` column) and the store's attributes."""
    electrode = create_array(group, "electrode", shape=(len(electrodes),), dtype=str)
    electrode[:] = np.array(list(electrodes), dtype=object)
    group.attrs.update(
        {
            "rate_hz": float(rate_hz),
            "source_rate_hz": float(source_rate_hz),
            "line_freq_hz": float(line_freq_hz),
            "line_freq_source": str(line_freq_source),
            "notch_hz": [float(f) for f in notch_hz],
            "dropped_channels": dict(dropped_channels),
            "clipped_fraction": dict(clipped_fraction),
        }
    )


class NeuralStore:
    """Read access to a finished neural store; ``signal`` stays a lazy zarr array, read by slices.

    Attributes
    ----------
    signal : zarr.Array, shape (n_samples, n_electrodes), float32
    electrode : ndarray of str, shape (n_electrodes,)
    rate_hz, source_rate_hz : float
    line_freq_hz : float
        The mains frequency removed; ``line_freq_source`` says where it came from, ``notch_hz`` lists the harmonics.
    dropped_channels : dict of label -> reason
    clipped_fraction : dict of electrode -> float
    """

    def __init__(self, path: str | os.PathLike):
        root = open_zarr(path)
        attrs: dict[str, Any] = dict(root.attrs)  # zarr types attributes as any JSON value
        self.signal = zarr_array(root, "signal")
        self.electrode = strings(zarr_array(root, "electrode")[:])
        self.rate_hz = float(attrs["rate_hz"])
        self.source_rate_hz = float(attrs["source_rate_hz"])
        self.line_freq_hz = float(attrs["line_freq_hz"])
        self.line_freq_source = str(attrs["line_freq_source"])
        self.notch_hz = [float(f) for f in attrs["notch_hz"]]
        self.dropped_channels = dict(attrs.get("dropped_channels", {}))
        self.clipped_fraction = dict(attrs.get("clipped_fraction", {}))
