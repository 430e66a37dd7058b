"""The epochs store, ``results/epochs/sub-<subject>_trial-<trial>.zarr``: its layout, writer and reader.

Layout: ``bin_time_s`` (float64, ``[n_bins]``, seconds from the event onset) and ``electrode`` (str,
``[n_electrodes]``); attribute ``rate_hz`` (of the signal the bins averaged).  One group per alignment with
``response`` (float32, ``[n_events, n_electrodes, n_bins]``, chunked by 256 events) and ``event_id`` (str,
``[n_events]``, keys into the trial's events table), and attribute ``n_dropped`` (valid events whose windows left the
recording).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import zarr

from vlencode.store import create_array, open_zarr, zarr_array, zarr_group
from vlencode.stores import strings

if TYPE_CHECKING:
    from vlencode.epochs import AlignmentEpochs


def write_epochs(
    group: zarr.Group,
    epochs: Mapping[str, AlignmentEpochs],
    *,
    bin_time_s: np.ndarray,
    electrodes: Sequence[str],
    rate_hz: float,
) -> None:
    """Lay out the epochs store: root ``bin_time_s``, ``electrode``; per alignment ``response`` and ``event_id``.

    ``response`` is chunked by 256 events so a reader of a few events never loads a whole alignment.
    """
    group.attrs["rate_hz"] = rate_hz
    create_array(group, "bin_time_s", data=np.asarray(bin_time_s, dtype=np.float64))
    create_array(group, "electrode", data=np.asarray(electrodes, dtype=np.dtypes.StringDType()))
    for alignment, result in epochs.items():
        sub = group.create_group(alignment)
        sub.attrs["n_dropped"] = result.n_dropped
        n_events, n_electrodes, n_bins = result.response.shape
        response = create_array(
            sub,
            "response",
            shape=result.response.shape,
            dtype="float32",
            chunks=(max(min(n_events, 256), 1), n_electrodes, n_bins),
        )
        response[:] = result.response
        create_array(sub, "event_id", data=np.asarray(result.event_id, dtype=np.dtypes.StringDType()))


class EpochsStore:
    """Read access to a finished epochs store.

    Attributes
    ----------
    path : str or PathLike
    bin_time_s : ndarray of float64, shape (n_bins,)
    electrode : ndarray of str, shape (n_electrodes,)
    """

    def __init__(self, path: str | os.PathLike):
        self.path = path
        self._root = open_zarr(path)
        self.bin_time_s = np.asarray(zarr_array(self._root, "bin_time_s")[:], dtype=np.float64)
        self.electrode = strings(zarr_array(self._root, "electrode")[:])

    def _alignment(self, alignment: str) -> zarr.Group:
        if alignment not in self._root:
            raise ValueError(
                f"{self.path}: no '{alignment}' group; rerun epochs, or remove {alignment} from encoding.alignments"
            )
        return zarr_group(self._root, alignment)

    def event_id(self, alignment: str) -> np.ndarray:
        """The epoched events' ids (str, ``[n_events]``), in the store's order."""
        return strings(zarr_array(self._alignment(alignment), "event_id")[:])

    def response(self, alignment: str) -> np.ndarray:
        """The responses, float32 ``[n_events, n_electrodes, n_bins]``."""
        return np.asarray(zarr_array(self._alignment(alignment), "response")[:], dtype=np.float32)
