"""One module per store of the workflow: each owns its store's layout, and holds the writer and reader together.

Nothing outside a store's module names the store's keys.  The generic machinery every store shares (atomic writes,
provenance, hashes) is :mod:`vlencode.store`.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def strings(array: Any) -> np.ndarray:
    """A stored array of labels as a flat object array of ``str`` (zarr returns several string dtypes)."""
    return np.asarray([str(v) for v in np.asarray(array).ravel()], dtype=object)
