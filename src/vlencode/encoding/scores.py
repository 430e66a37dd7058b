"""The tidy scores table: one row per (subject, alignment, model, electrode, bin) of every fit's chosen layer.

Each row says which model instance it scores as the fit store records it: ``model, family, init``, the registry
entry it comes from (``base``) and whether it is that entry or one of its random-init twins (``twin``), so that no
reader recovers the entry from the instance's name.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from vlencode.encoding.inputs import PathLike
from vlencode.stores.fit import FitStore

#: Columns of the scores table.
SCORE_COLUMNS = [
    "subject",
    "alignment",
    "model",
    "family",
    "init",
    "layer",
    "electrode",
    "bin_time_s",
    "val_r",
    "test_r",
    "alpha",
    "val_lo",
    "val_hi",
    "kept",
    "base",
    "twin",
]


def scores_table(fit_paths: Sequence[PathLike]) -> pd.DataFrame:
    """The tidy scores of every fit store's chosen layer: one row per (subject, alignment, model, electrode, bin).

    ``base`` is the instance's registry entry and ``twin`` (bool) whether it is a random-init twin of that entry
    rather than the entry.  ``kept`` is ``val_lo > 0``, the paper's keep rule (docs/method.md §8).  Columns
    :data:`SCORE_COLUMNS`; rows in the order of ``fit_paths``, then alignment, electrode and bin.  A subject's fits
    must share one set of bootstrap resamples (their confidence intervals are compared): a fit store bootstrapped on
    other resamples is a one-line
    ValueError.
    """
    frames = []
    first_of: dict[str, FitStore] = {}
    for path in fit_paths:
        fit = FitStore(path)
        first = first_of.setdefault(fit.subject, fit)
        if fit.resamples_sha256 != first.resamples_sha256:
            raise ValueError(
                f"{path}: bootstrapped on other resamples than {first.path} (the same subject); rerun fit for both"
            )
        electrode, bins = fit.electrode, fit.bin_time_s
        for alignment, layer in fit.chosen_layer.items():
            scores = {key: values.ravel() for key, values in fit.scores(alignment).items()}
            val_lo, val_hi = (bound.ravel() for bound in fit.bounds(alignment))
            frames.append(
                pd.DataFrame(
                    {
                        "subject": fit.subject,
                        "alignment": alignment,
                        "model": str(fit.model["model"]),
                        "family": str(fit.model["family"]),
                        "init": str(fit.model["init"]),
                        "base": fit.identity.base,
                        "twin": fit.identity.twin,
                        "layer": layer,
                        "electrode": np.repeat(electrode, len(bins)).astype(str),
                        "bin_time_s": np.tile(bins, len(electrode)),
                        **scores,
                        "val_lo": val_lo,
                        "val_hi": val_hi,
                        "kept": val_lo > 0,
                    }
                )
            )
    if not frames:
        return pd.DataFrame({column: [] for column in SCORE_COLUMNS})
    return pd.concat(frames, ignore_index=True)[SCORE_COLUMNS]
