"""Atlas labels of electrodes, the hierarchical bootstrap and the region summaries."""

import numpy as np
import pandas as pd
import pytest
import report_tables as rt

from vlencode import regions
from vlencode.datasets._atlas import atlas_volume


def _voxel_mni(atlas, name):
    """The MNI coordinate (mm) of one voxel carrying the label ``name`` (the one nearest the label's centroid)."""
    volume, affine, names = atlas_volume(atlas)
    index = next(i for i, n in names.items() if n == name)
    voxels = np.argwhere(volume == index)
    centre = voxels[np.argmin(np.linalg.norm(voxels - voxels.mean(axis=0), axis=1))]
    return affine[:3, :3] @ centre + affine[:3, 3]


@pytest.mark.parametrize(
    "label, region",
    [
        ("ctx-lh-superiortemporal", "superiortemporal"),
        ("ctx_rh_G_temporal_middle", "G_temporal_middle"),
        ("Left-Amygdala", "Amygdala"),
        ("Right-Cerebral-White-Matter", "Cerebral-White-Matter"),
    ],
)
def test_region_names_drop_the_hemisphere(label, region):
    assert regions.region_name(label) == region


@pytest.mark.parametrize(
    "label, gray",
    [
        ("ctx-lh-insula", True),
        ("ctx_lh_S_front_middle", True),
        ("Right-Hippocampus", True),
        ("ctx-lh-unknown", False),
        ("Left-Cerebral-White-Matter", False),
        ("Left-Lateral-Ventricle", False),
        ("CSF", False),
        ("Unknown", False),
    ],
)
def test_gray_matter_labels(label, gray):
    assert regions.is_gray_matter(label) is gray


def test_atlas_lookup_inside_near_and_outside_gray_matter():
    inside = _voxel_mni("dk", "ctx-lh-superiortemporal")
    white = _voxel_mni("dk", "Left-Cerebral-White-Matter")
    found = regions.atlas_lookup(np.stack([inside, white, [0.0, 0.0, 200.0], [np.nan, 0.0, 0.0]]), "dk", 5.0)
    assert found.loc[0].tolist() == ["ctx-lh-superiortemporal", True, 0.0]
    # The centre of the white matter lies far from cortex: nothing within 5 mm, but within a wide radius.
    assert found.loc[1, "label"] == "Unknown" and not found.loc[1, "gray_matter"]
    wide = regions.atlas_lookup(white[None], "dk", 40.0).loc[0]
    assert regions.is_gray_matter(wide["label"]) and 5.0 < wide["distance_mm"] <= 40.0
    assert found.loc[2:, "label"].tolist() == ["Unknown", "Unknown"]
    assert found.loc[2:, "distance_mm"].isna().all()


def test_dataset_labels_are_kept_and_missing_ones_come_from_the_atlas():
    inside = _voxel_mni("dk", "ctx-rh-insula")
    electrodes = pd.DataFrame(
        {
            "electrode": ["A1", "A2", "A3"],
            "shaft": ["A"] * 3,
            "contact": [1, 2, 3],
            "hemisphere": ["R", "R", "R"],
            "x_mni": [inside[0], inside[0], np.nan],
            "y_mni": [inside[1]] * 3,
            "z_mni": [inside[2]] * 3,
            "dk": ["ctx-rh-fusiform", "Unknown", "Unknown"],
            "destrieux": ["ctx_rh_G_oc-temp_lat-fusifor", "Unknown", "Unknown"],
        }
    )
    table = regions.label_electrodes(electrodes, "7", "dk", 5.0)
    assert table.columns.tolist() == regions.ELECTRODE_TABLE_COLUMNS
    assert table["label_source"].tolist() == ["dataset", "atlas", "none"]
    assert table["dk"].tolist() == ["ctx-rh-fusiform", "ctx-rh-insula", "Unknown"]
    assert table["destrieux"][1].startswith("ctx_rh_")
    assert table["region"].tolist() == ["fusiform", "insula", "Unknown"]
    assert table["gray_matter"].tolist() == [True, True, False]
    assert np.isnan(table["label_distance_mm"][0]) and table["label_distance_mm"][1] == 0.0
    assert (table["subject"] == "7").all()


def test_electrode_table_of_the_replica_montage():
    from vlencode.datasets import _neuroprobe

    montage = _neuroprobe.mni_coords("1")
    electrodes = pd.DataFrame(
        {
            "electrode": montage["electrode_label"],
            "shaft": "",
            "contact": 0,
            "hemisphere": "",
            "x_mni": montage["mni152_x"],
            "y_mni": montage["mni152_y"],
            "z_mni": montage["mni152_z"],
            "dk": "Unknown",
            "destrieux": "Unknown",
        }
    )
    table = regions.label_electrodes(electrodes, "1", "destrieux", 5.0)
    labelled = table[table["label_source"] == "atlas"]
    assert len(labelled) > 0.9 * len(table)
    assert (labelled["label_distance_mm"] <= 5.0).all()
    assert labelled["destrieux"].str.startswith(("ctx_", "Left-", "Right-")).all()


def test_hierarchical_bootstrap_is_seeded_and_resamples_subjects():
    groups = [np.zeros(50), np.ones(50)]
    a = regions.hierarchical_bootstrap(groups, 2000, 3)
    assert np.array_equal(a, regions.hierarchical_bootstrap(groups, 2000, 3))
    # Drawing two of two subjects: both zeros a quarter of the time, both ones a quarter, one of each half.
    assert np.mean(a[:, 0] == 0) == pytest.approx(0.25, abs=0.03)
    assert np.mean(a[:, 0] == 1) == pytest.approx(0.25, abs=0.03)
    # Electrodes within a constant subject add no spread; the pooled mean of a one-subject table is exact.
    assert np.allclose(regions.hierarchical_bootstrap([np.full(9, 0.3)], 50, 0), 0.3)


def test_hierarchical_interval_is_wider_than_an_electrode_bootstrap_when_subjects_differ():
    rng = np.random.default_rng(0)
    groups = [(rng.random(40) < p).astype(float) for p in (0.05, 0.5, 0.2, 0.8)]
    hierarchical = regions.hierarchical_bootstrap(groups, 2000, 1)[:, 0]
    pooled = np.concatenate(groups)
    flat = pooled[rng.integers(len(pooled), size=(2000, len(pooled)))].mean(axis=1)
    assert hierarchical.std() > 2 * flat.std()
    assert hierarchical.mean() == pytest.approx(pooled.mean(), abs=0.02)


def test_site_summary_counts_fractions_and_whole_brain_rows():
    electrodes = rt.electrodes()
    sites = rt.sites(electrodes)
    summary = regions.site_summary(sites, electrodes, n_resamples=200, ci=0.95, seed=0)
    assert summary.columns.tolist() == regions.SUMMARY_COLUMNS
    brain = summary[(summary["region"] == "all") & (summary["alignment"] == "word") & (summary["keep_rule"] == "paper")]
    expected = sites[(sites["alignment"] == "word") & (sites["keep_rule"] == "paper")]["category"].value_counts()
    assert dict(zip(brain["category"], brain["n_sites"])) == {c: int(expected.get(c, 0)) for c in rt.CATEGORIES}
    assert (brain["n_electrodes"] == len(electrodes)).all() and (brain["n_subjects"] == 3).all()
    sums = summary.groupby(["region", "hemisphere", "alignment", "keep_rule"])["fraction"].sum()
    assert np.allclose(sums, 1.0)
    assert (
        (summary["fraction_lo"] <= summary["fraction"] + 1e-12)
        & (summary["fraction"] <= summary["fraction_hi"] + 1e-12)
    ).all()
    again = regions.site_summary(sites, electrodes, n_resamples=200, ci=0.95, seed=0)
    pd.testing.assert_frame_equal(summary, again)
    other = regions.site_summary(sites, electrodes, n_resamples=200, ci=0.95, seed=1)
    assert not np.allclose(summary["fraction_lo"], other["fraction_lo"])


def test_family_scores_and_subject_counts():
    electrodes = rt.electrodes()
    scores = rt.scores(electrodes)
    table = regions.family_scores(scores, electrodes, n_resamples=200, ci=0.95, seed=0)
    whole = table[(table["region"] == "all") & (table["alignment"] == "word")].set_index(["family", "init"])
    assert whole.loc[("vision", "trained"), "mean_test_r"] > whole.loc[("vision", "random"), "mean_test_r"]
    expected = scores[(scores["alignment"] == "word") & (scores["family"] == "vision") & (scores["init"] == "trained")][
        "test_r"
    ].mean()
    assert whole.loc[("vision", "trained"), "mean_test_r"] == pytest.approx(expected)
    counts = regions.subject_sites(rt.sites(electrodes))
    per = counts.groupby(["subject", "alignment", "keep_rule"])
    assert (per["n_sites"].sum() == per["n_electrodes"].first()).all()


def test_an_electrode_missing_from_the_table_is_a_one_line_error():
    electrodes = rt.electrodes()
    sites = rt.sites(electrodes)
    with pytest.raises(ValueError, match="no row for sub-1 electrode E0"):
        regions.site_summary(sites, electrodes.iloc[1:], n_resamples=10, ci=0.95, seed=0)


def test_bipolar_channels_get_the_midpoint_of_their_contacts():
    inside = _voxel_mni("dk", "ctx-lh-superiortemporal")
    contacts = pd.DataFrame(
        {
            "electrode": ["A1", "A2", "A3"],
            "shaft": ["A"] * 3,
            "contact": [1, 2, 3],
            "hemisphere": ["L"] * 3,
            "x_mni": [inside[0] - 1, inside[0] + 1, inside[0] + 3],
            "y_mni": [inside[1]] * 3,
            "z_mni": [inside[2]] * 3,
            "dk": ["ctx-lh-superiortemporal", "ctx-lh-superiortemporal", "ctx-lh-insula"],
            "destrieux": ["x", "y", "y"],
        }
    )
    pairs = regions.with_bipolar_pairs(contacts, ["A1-A2", "A2-A3", "A3-A9", "A1"])
    assert pairs["electrode"].tolist() == ["A1", "A2", "A3", "A1-A2", "A2-A3"]
    assert pairs.loc[3, "x_mni"] == pytest.approx(inside[0])
    assert pairs.loc[3, "dk"] == "ctx-lh-superiortemporal" and pairs.loc[3, "destrieux"] == "Unknown"
    table = regions.label_electrodes(pairs, "2", "dk", 5.0)
    assert table.loc[4, "label_source"] == "atlas" and table.loc[4, "region"] != "Unknown"
