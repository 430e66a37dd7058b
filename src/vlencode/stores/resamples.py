"""The resamples store, ``results/encoding/sub-<subject>/resamples.zarr``: its layout, writer and reader.

Layout: root attributes ``subject, seed, block`` (the block bootstrap's ``block_s, kind``); one group per alignment
holding ``indices`` (the iid resamples) and ``block_indices`` (the block resamples), int32, ``[n_resamples,
n_events]``, events in fit order (trials in config order, events in the epochs stores' order), with attributes
``seed, n_events, events_sha256``.  The hash is over the events' ``"<trial>/<event_id>"`` keys; it ties a
fit to the resamples drawn for the same events.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zarr

from vlencode.store import array_sha256, create_array, open_zarr, zarr_array, zarr_group


def events_sha256(event_keys: np.ndarray) -> str:
    """The content key of a sequence of ``"<trial>/<event_id>"`` event keys."""
    return array_sha256(np.asarray([str(k) for k in event_keys], dtype=str))


#: Array of each resampling scheme in an alignment group.
SCHEME_ARRAYS = {"iid": "indices", "block": "block_indices"}


@dataclass
class SubjectResamples:
    """One subject's shared resamples, per alignment and scheme: indices ``[n_resamples, n_events]``; event hashes."""

    subject: str
    seed: int
    indices: dict[str, dict[str, np.ndarray]]
    events_sha256: dict[str, str]
    block: dict[str, Any] = field(default_factory=dict)

    def write(self, group: zarr.Group) -> None:
        """Write each alignment's ``indices`` and ``block_indices`` (int32) with attrs ``seed, n_events,
        events_sha256``."""
        group.attrs.update(subject=self.subject, seed=self.seed, block=self.block)
        for alignment, schemes in self.indices.items():
            sub = group.create_group(alignment)
            n_events = next(iter(schemes.values())).shape[1]
            sub.attrs.update(seed=self.seed, n_events=n_events, events_sha256=self.events_sha256[alignment])
            for scheme, indices in schemes.items():
                create_array(sub, SCHEME_ARRAYS[scheme], data=indices.astype(np.int32))


def read_indices(path: str | os.PathLike, alignment: str, event_keys: np.ndarray) -> dict[str, np.ndarray]:
    """The resampled event indices ``[n_resamples, n_events]`` of one alignment per scheme (``iid``, ``block``),
    checked against the fit's events.

    Raises
    ------
    ValueError
        The store has no such alignment, or its resamples were drawn for other events (rerun resamples).
    """
    resamples = open_zarr(path)
    if alignment not in resamples:
        raise ValueError(f"{path}: no resamples for '{alignment}' events; rerun resamples")
    group = zarr_group(resamples, alignment)
    if group.attrs.get("events_sha256") != events_sha256(event_keys):
        raise ValueError(
            f"{path}: resamples were drawn for other {alignment} events ({group.attrs.get('n_events')} vs "
            f"{len(event_keys)} now); rerun resamples"
        )
    return {scheme: np.asarray(zarr_array(group, name)[:]) for scheme, name in SCHEME_ARRAYS.items() if name in group}
