"""Real Brain Treebank metadata shipped in the MIT-licensed ``neuroprobe`` wheel, read as plain files.

The package itself is never imported (it pulls torchvision, which does not import beside this torch build); its
data files are located through :mod:`importlib.util` and its ``config.py`` is parsed with :mod:`ast`.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pandas as pd

from vlencode.datasets._wheels import package_dir
from vlencode.datasets.base import DatasetError

_MOVIE_MAP_NAME = "BRAINTREEBANK_SUBJECT_TRIAL_MOVIE_NAME_MAPPING"


def neuroprobe_dir() -> Path:
    """The installed ``neuroprobe`` package directory (its data files sit beside its modules)."""
    return package_dir("neuroprobe", "neuroprobe==0.1.8")


@functools.cache
def trial_movie_map() -> dict[tuple[str, str], str]:
    """``{(subject, trial): movie}`` from ``BRAINTREEBANK_SUBJECT_TRIAL_MOVIE_NAME_MAPPING`` in neuroprobe's config."""
    path = neuroprobe_dir() / "config.py"
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == _MOVIE_MAP_NAME for t in node.targets):
            mapping = ast.literal_eval(node.value)
            break
    else:
        raise DatasetError(f"{path}: no {_MOVIE_MAP_NAME}; reinstall neuroprobe==0.1.8")
    out = {}
    for key, movie in mapping.items():
        subject, trial = key.removeprefix("btbank").split("_")
        out[(subject, trial)] = movie
    return out


def words_table(subject: str, trial: str) -> pd.DataFrame:
    """Neuroprobe's word table of one trial: ``original_index, est_idx, start, end, context, full_word, ...``."""
    path = neuroprobe_dir() / "braintreebank_features_time_alignment" / f"subject{subject}_trial{trial}_words_df.csv"
    if not path.exists():
        raise DatasetError(f"{path}: neuroprobe has no word table for subject {subject} trial {trial}; pick another")
    return pd.read_csv(path)


def mni_path(subject: str) -> Path:
    """Where neuroprobe keeps the MNI coordinates of one subject's electrodes (may not exist)."""
    return neuroprobe_dir() / "mni_coords" / f"btbank{subject}_mni_coords.csv"


def mni_coords(subject: str) -> pd.DataFrame:
    """One row per electrode: ``electrode_label, name (shaft), num (contact), hem, mni152_x/y/z, ras_scanner_x/y/z``."""
    path = mni_path(subject)
    if not path.exists():
        raise DatasetError(f"{path}: neuroprobe has no coordinates for subject {subject}; pick another subject")
    return pd.read_csv(path)
