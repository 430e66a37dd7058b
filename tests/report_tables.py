"""Synthetic tables with exactly the columns of the statistics, validation and QC contracts, for the region, figure
and report tests (the stages that produce them are tested on their own)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vlencode.encoding.scores import SCORE_COLUMNS
from vlencode.qc import ALPHA_EDGE_COLUMNS
from vlencode.store import atomic_zarr
from vlencode.stores.fit import ModelIdentity, SubjectModelFit
from vlencode.validation.recovery import RECOVERY_COLUMNS

SUBJECTS = ("1", "3", "5")
MODELS = {  # model -> (family, init)
    "minilm": ("language", "trained"),
    "minilm-random-s0": ("language", "random"),
    "efficientnet-lite0": ("vision", "trained"),
    "efficientnet-lite0-random-s0": ("vision", "random"),
    "tiny-clip": ("multimodal", "random"),
}
CATEGORIES = ("multimodal", "vision", "language", "none")


def model_meta() -> dict[str, dict]:
    """What the run's model instances say of each model (as the figures rule passes it): entry, family, init, parts."""
    return {
        model: {
            "base": model.removesuffix("-random-s0"),
            "family": family,
            "init": init,
            "components": [],
            "pair": None,
        }
        for model, (family, init) in MODELS.items()
    }


PRIMARY = {"vision": "scene", "language": "word", "multimodal": "word"}
BINS = np.round(np.arange(-2.0, 2.0 + 1e-9, 0.25), 3)
# MNI coordinates inside the DK atlas' cortex (superior temporal, insula, precentral) for the glass brain.
_SPOTS = np.array([[-58.0, -20.0, 5.0], [58.0, -20.0, 5.0], [-38.0, 2.0, 4.0], [40.0, -12.0, 55.0]])


def electrodes(n_per_subject: int = 8) -> pd.DataFrame:
    rows = []
    for s in SUBJECTS:
        for e in range(n_per_subject):
            x, y, z = _SPOTS[e % len(_SPOTS)] + np.array([0.0, e, 0.0])
            region = ["superiortemporal", "superiortemporal", "insula", "precentral"][e % 4]
            hemisphere = "L" if x < 0 else "R"
            dk = f"ctx-{hemisphere.lower()}h-{region}"
            rows.append([s, f"E{e}", hemisphere, x, y, z, dk, "ctx_lh_G_temporal_middle", True, "atlas", 0.0, region])
    return pd.DataFrame(
        rows,
        columns=[
            "subject",
            "electrode",
            "hemisphere",
            "x_mni",
            "y_mni",
            "z_mni",
            "dk",
            "destrieux",
            "gray_matter",
            "label_source",
            "label_distance_mm",
            "region",
        ],
    )


def scores(electrode_table: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for subject, electrode in electrode_table[["subject", "electrode"]].itertuples(index=False):
        for alignment in ("word", "scene"):
            for model, (family, init) in MODELS.items():
                signal = 0.1 if init == "trained" else 0.0
                test_r = signal * np.exp(-((BINS - 0.3) ** 2) / 0.1) + rng.normal(0, 0.02, len(BINS))
                val_r = test_r + rng.normal(0.02, 0.02, len(BINS))
                alpha = 10.0 ** rng.choice([-1, 1, 3, 5], size=len(BINS))
                for b, t, v, a in zip(BINS, test_r, val_r, alpha, strict=True):
                    rows.append(
                        [
                            subject,
                            alignment,
                            model,
                            family,
                            init,
                            "last",
                            electrode,
                            b,
                            v,
                            t,
                            a,
                            v - 0.05,
                            v + 0.05,
                            v > 0.05,
                            model.removesuffix("-random-s0"),
                            model.endswith("-random-s0"),
                        ]
                    )
    return pd.DataFrame(
        rows,
        columns=SCORE_COLUMNS,
    )


def grid_fit_stores(scores_table: pd.DataFrame, root, alpha_grid: np.ndarray) -> list:
    """A fit store per (subject, model) of a scores table holding only what the QC tables read (its alpha grid)."""
    paths = []
    for (subject, model, family, init, base, twin), _ in scores_table.groupby(
        ["subject", "model", "family", "init", "base", "twin"], sort=True
    ):
        path = root / f"sub-{subject}" / f"model-{model}.zarr"
        fit = SubjectModelFit(
            subject=subject,
            model={"model": model, "family": family, "init": init, "seed": None},
            identity=ModelIdentity(base=base, twin=bool(twin), pair=None, components=()),
            electrode=np.array(["E0"]),
            bin_time_s=np.zeros(1),
            alpha_grid=alpha_grid,
            alignments={},
            protocol="fast",
            resamples_sha256="",
        )
        with atomic_zarr(path) as group:
            fit.write(group)
        paths.append(path)
    return paths


def sites(electrode_table: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed + 1)
    rows = []
    for subject, electrode in electrode_table[["subject", "electrode"]].itertuples(index=False):
        for keep_rule in ("paper", "calibrated"):
            for alignment in ("word", "scene", "both"):
                category = CATEGORIES[rng.integers(len(CATEGORIES))]
                tests = [category == "multimodal"] * 3
                best = "tiny-clip" if category == "multimodal" else ""
                pair = category == "multimodal" and alignment != "scene"  # no draw: the tables' draws stay put
                rows.append([subject, electrode, alignment, keep_rule, category, best, *tests, pair])
    return pd.DataFrame(
        rows,
        columns=[
            "subject",
            "electrode",
            "alignment",
            "keep_rule",
            "category",
            "best_multimodal_model",
            "beats_best_vision",
            "beats_best_language",
            "beats_concat",
            "beats_pair",
        ],
    )


def recovery() -> pd.DataFrame:
    """Columns of vlencode.validation.recovery.RECOVERY_COLUMNS."""
    rows = []
    for keep_rule in ("paper", "calibrated"):
        for alignment in ("scene", "word"):
            for category in ("vision", "language", "multimodal"):
                primary = PRIMARY[category] == alignment
                rows.append([keep_rule, alignment, category, primary, 6, 5, 4, 0.8, 0.67, 0.04, 2, 0, 4, 1])
    return pd.DataFrame(
        rows,
        columns=RECOVERY_COLUMNS,
    )


def calibration() -> pd.DataFrame:
    """Columns of vlencode.validation.harness.calibration."""
    rows = []
    for keep_rule, rate in (("paper", 0.7), ("calibrated", 0.04)):
        for protocol in ("fast", "refit"):
            for alignment in ("word", "scene"):
                rows.append([keep_rule, "null", protocol, alignment, "fraction_bins_kept", rate])
                rows.append([keep_rule, "null", protocol, alignment, "silent_called_rate", rate / 2])
                rows.append([keep_rule, "planted", protocol, alignment, "multimodal_precision", 0.95])
                rows.append([keep_rule, "planted", protocol, alignment, "multimodal_recall", 0.85])
    return pd.DataFrame(rows, columns=["keep_rule", "scenario", "protocol", "alignment", "metric", "value"])


def qc_tables() -> dict[str, pd.DataFrame]:
    """QC tables as the qc rule writes them (columns of vlencode.qc)."""
    channels = pd.DataFrame(
        [[s, "0", f"E{e}", "kept", "", ""] for s in SUBJECTS for e in range(6)]
        + [
            ["1", "0", "X1", "dropped", "flat", "flat: std 1e-05 uV < flat_tolerance_uv 0.001"],
            ["3", "0", "Y9", "dropped", "laplacian", "laplacian: lacks a same-shaft neighbour"],
        ],
        columns=["subject", "trial", "electrode", "status", "reason_kind", "reason"],
    )
    clock = pd.DataFrame(
        [[s, "0", 2048.0, 0.4, 0.4 / 2.048, 12] for s in SUBJECTS],
        columns=["subject", "trial", "rate_hz", "max_residual_samples", "max_residual_ms", "n_triggers"],
    )
    events = pd.DataFrame(
        [
            [s, "0", a, r, n]
            for s in SUBJECTS
            for a in ("word", "scene")
            for r, n in (("valid", 300), ("after_last_trigger", 4))
        ],
        columns=["subject", "trial", "alignment", "reason", "n_events"],
    )
    alpha_edge = pd.DataFrame(
        [
            [s, a, m, f, i, 100, 5, 30, 0.35]
            for s in SUBJECTS
            for a in ("word", "scene")
            for m, (f, i) in MODELS.items()
        ],
        columns=ALPHA_EDGE_COLUMNS,
    )
    return {"qc_channels": channels, "qc_clock": clock, "qc_events": events, "qc_alpha_edge": alpha_edge}
