"""Re-referencing montages: which contacts combine into which derived channels.

A depth electrode's contacts are named ``<shaft><contact number>`` (``T2aA12`` is contact 12 of shaft ``T2aA``).  Every
montage is a linear map from the recorded channels to the derived ones, returned as a matrix so that a block of
samples is re-referenced by one matrix product, identically in every chunk.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from vlencode.datasets.base import split_label

REFERENCES = ("laplacian", "car", "bipolar", "none")
LAPLACIAN_NEIGHBOURS = ("both", "any")
#: References that pair a contact with its neighbours by contact number (:func:`laplacian`, :func:`bipolar`).
BY_CONTACT_NUMBER = ("laplacian", "bipolar")


def numbered_surface_contacts(labels: list[str], types: Mapping[str, str], reference: str) -> list[str]:
    """The ECoG contacts (type ``ECOG``) of ``labels`` that ``reference`` pairs with neighbours by contact number.

    Consecutive numbers are physical neighbours along a depth shaft or a strip, but not across the rows of a grid
    (contact 8 of an 8-column grid is not beside contact 9), which the channel types do not tell apart.
    """
    if reference not in BY_CONTACT_NUMBER:
        return []
    return [label for label in labels if types.get(label) == "ECOG"]


def contacts(labels: list[str]) -> dict[tuple[str, int], int]:
    """``(shaft, contact) -> column`` for every label ending in a contact number (``T2aA12`` -> ``("T2aA", 12)``).

    A contact named by more than one column (``LT2`` twice, or ``LT2`` and ``LT02``) is left out: which column is
    that contact is unknown, so it is nobody's neighbour and makes no derived channel of its own.
    """
    out, shared = {}, set()
    for index, label in enumerate(labels):
        shaft, contact = split_label(label)
        if contact >= 0:
            if (shaft, contact) in out:
                shared.add((shaft, contact))
            out[(shaft, contact)] = index
    return {key: index for key, index in out.items() if key not in shared}


@dataclass(frozen=True)
class Montage:
    """A linear re-referencing: ``derived = recorded @ weights``.

    Attributes
    ----------
    weights : np.ndarray
        ``[n_recorded, n_derived]`` float32.
    labels : list of str
        Names of the derived channels.
    dropped : dict
        Recorded channels that produce no derived channel, with the reason.
    """

    weights: np.ndarray
    labels: list[str]
    dropped: dict[str, str]

    def apply(self, block: np.ndarray) -> np.ndarray:
        """Re-reference a ``[recorded, time]`` block into ``[derived, time]``."""
        return self.weights.T @ block


def laplacian(labels: list[str], neighbours: str = "both") -> Montage:
    """Each contact minus the mean of its same-shaft neighbours (contact - 1 and contact + 1).

    Parameters
    ----------
    labels : list of str
        The recorded channels (bad ones already removed: a removed channel is nobody's neighbour).
    neighbours : {"both", "any"}
        ``both`` (BrainBERT, the paper) keeps only contacts with both neighbours present, so shaft ends are dropped;
        ``any`` also keeps contacts with a single neighbour and subtracts that one.
    """
    if neighbours not in LAPLACIAN_NEIGHBOURS:
        raise ValueError(f"preprocess.laplacian_neighbours: {neighbours!r} is not one of {LAPLACIAN_NEIGHBOURS}")
    position = contacts(labels)
    columns, kept, dropped = [], [], {}
    for index, label in enumerate(labels):
        shaft, contact = split_label(label)
        if contact < 0:
            dropped[label] = "laplacian: label has no contact number"
            continue
        if position.get((shaft, contact)) != index:
            dropped[label] = "laplacian: its contact is named by more than one channel"
            continue
        around = [position[key] for key in ((shaft, contact - 1), (shaft, contact + 1)) if key in position]
        if not around or (neighbours == "both" and len(around) < 2):
            dropped[label] = (
                "laplacian: lacks a same-shaft neighbour" if around else "laplacian: no same-shaft neighbour"
            )
            continue
        column = np.zeros(len(labels), dtype=np.float32)
        column[index] = 1.0
        column[around] -= 1.0 / len(around)
        columns.append(column)
        kept.append(label)
    return Montage(_stack(columns, len(labels)), kept, dropped)


def bipolar(labels: list[str]) -> Montage:
    """Each contact minus the next contact (number + 1) of its shaft, named ``<a>-<b>``.

    Contacts with no successor on their shaft (the deepest one, or one whose successor was removed) produce no
    derived channel and are listed as dropped unless they serve as another pair's second contact.
    """
    position = contacts(labels)
    columns: list[np.ndarray] = []
    kept: list[str] = []
    used: set[int] = set()
    for index, label in enumerate(labels):
        shaft, contact = split_label(label)
        if position.get((shaft, contact)) != index or (shaft, contact + 1) not in position:
            continue
        partner = position[(shaft, contact + 1)]
        column = np.zeros(len(labels), dtype=np.float32)
        column[index], column[partner] = 1.0, -1.0
        columns.append(column)
        kept.append(f"{label}-{labels[partner]}")
        used.update((index, partner))
    dropped = {
        label: "bipolar: no same-shaft partner"
        if split_label(label)[1] < 0 or split_label(label) in position
        else "bipolar: its contact is named by more than one channel"
        for i, label in enumerate(labels)
        if i not in used
    }
    return Montage(_stack(columns, len(labels)), kept, dropped)


def common_average(labels: list[str]) -> Montage:
    """Each channel minus the mean over all recorded channels."""
    n = len(labels)
    weights = (np.eye(n) - np.full((n, n), 1.0 / n)).astype(np.float32)
    return Montage(weights, list(labels), {})


def identity(labels: list[str]) -> Montage:
    """No re-referencing."""
    return Montage(np.eye(len(labels), dtype=np.float32), list(labels), {})


def montage(labels: list[str], reference: str, neighbours: str = "both") -> Montage:
    """The montage named by ``preprocess.reference`` (laplacian, car, bipolar or none)."""
    if reference == "laplacian":
        return laplacian(labels, neighbours)
    if reference == "car":
        return common_average(labels)
    if reference == "bipolar":
        return bipolar(labels)
    if reference == "none":
        return identity(labels)
    raise ValueError(f"preprocess.reference: {reference!r} is not one of {REFERENCES}")


def _stack(columns: list[np.ndarray], n: int) -> np.ndarray:
    return np.stack(columns, axis=1) if columns else np.zeros((n, 0), dtype=np.float32)
