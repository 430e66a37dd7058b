"""The validation harness at small scale, fixed seeds: null data, planted categories, equal skill, fast vs refit."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from vlencode.config import canonical_config
from vlencode.validation import harness

SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"
#: The calibration rule's harness at the schema's defaults.
DEFAULT = harness.HarnessConfig.from_config(canonical_config({"seed": 0}, yaml.safe_load(SCHEMA.read_text())))
SMALL = replace(
    DEFAULT,
    minutes=3.0,
    tmin_s=-0.5,
    tmax_s=1.0,
    n_resamples=60,
    banded_iterations=2,
    noise_dims=16,
    electrodes={"vision": 2, "language": 2, "multimodal": 2, "none": 2},
    seed=3,
)


@pytest.fixture(scope="module")
def table():
    return harness.calibration(SMALL, refit_resamples=20).set_index(
        ["keep_rule", "scenario", "protocol", "alignment", "metric"]
    )["value"]


def test_simulation_is_seeded_and_shaped_like_the_workflow():
    a, b = harness.simulate(SMALL), harness.simulate(SMALL)
    n_bins = len(np.arange(-0.5, 1.0 + 1e-9, 0.025))
    assert a.response["word"].shape == (len(a.onset_s["word"]), 8 * n_bins)
    assert np.array_equal(a.response["scene"], b.response["scene"])
    assert not np.array_equal(a.response["word"], harness.simulate(SMALL, seed=4).response["word"])
    assert list(a.truth["category"]) == ["vision"] * 2 + ["language"] * 2 + ["multimodal"] * 2 + ["none"] * 2
    # the fused space holds the colour x content interaction; the concatenation does not span it linearly
    word = a.features["word"]
    assert word["fused"].shape[1] == word["vision"].shape[1] == SMALL.feature_dim + SMALL.noise_dims


def test_null_data_calibrated_rule_keeps_few_bins_paper_rule_many(table):
    for alignment in ("word", "scene"):
        calibrated = table[("calibrated", "null", "fast", alignment, "fraction_bins_kept")]
        paper = table[("paper", "null", "fast", alignment, "fraction_bins_kept")]
        assert calibrated <= 0.08, alignment
        assert paper > calibrated, alignment


def test_null_data_calibrated_rule_calls_few_silent_electrodes(table):
    # "called": the best vision (scene) / language (word) model keeps >= min_bins bins; 8 silent electrodes, seed 4
    for alignment in ("word", "scene"):
        assert table[("calibrated", "null", "fast", alignment, "silent_called_rate")] <= 1 / 8, alignment
    assert table[("paper", "null", "fast", "word", "silent_called_rate")] >= 0.5


def test_planted_contacts_are_recovered(table):
    assert table[("calibrated", "planted", "fast", "scene", "vision_recall")] == 1.0
    assert table[("calibrated", "planted", "fast", "word", "language_recall")] == 1.0
    assert table[("calibrated", "planted", "fast", "word", "multimodal_recall")] >= 0.5
    assert table[("calibrated", "planted", "fast", "word", "multimodal_precision")] == 1.0


def test_equal_skill_is_rarely_called_and_protocols_agree(table):
    for rule in ("paper", "calibrated"):
        for alignment in ("word", "scene"):
            key = (rule, "planted", "fast", alignment, "equal_skill_false_call_rate")
            assert table.get(key, 0.0) <= 0.25
    assert table[("calibrated", "planted", "fast_vs_refit", "scene", "kappa_vision")] >= 0.5
    assert table[("calibrated", "planted", "fast_vs_refit", "word", "kappa_language")] >= 0.5


def test_equal_skill_pair_differs_only_in_its_noise_dimensions():
    # permuted, sign-flipped columns of one embedding: ridge on standardised columns predicts identically from both
    from vlencode.encoding import contiguous_splits

    config = replace(
        DEFAULT, minutes=1.0, noise_dims=0, tmin_s=0.0, tmax_s=0.5, electrodes={"multimodal": 2, "none": 1}
    )
    sim = harness.simulate(config)
    features, targets = sim.features["word"], sim.response["word"]
    assert not np.allclose(features["fused-random-s1"], features["fused-random-s2"])
    splits = contiguous_splits(np.full(len(targets), "0", dtype=object), config.n_folds)
    settings = config.ridge_settings()
    a, b = (settings.cross_validate(features[name], targets, splits) for name in ("fused-random-s1", "fused-random-s2"))
    np.testing.assert_allclose(a.prediction, b.prediction, atol=1e-3)  # float32 engine
    c = settings.cross_validate(features["fused"], targets, splits)
    assert not np.allclose(a.prediction, c.prediction, atol=1e-2)


def test_multi_layer_networks_leave_the_single_layer_harness_unchanged():
    single, layered = harness.simulate(SMALL), harness.simulate(replace(SMALL, layers=4, planted_layer=1))
    for alignment, features in single.features.items():
        for name, values in features.items():
            np.testing.assert_array_equal(np.asarray(values, dtype=object), layered.features[alignment][name])
        assert [f"vision.{i}" in layered.features[alignment] for i in range(4)] == [True] * 4
    np.testing.assert_array_equal(single.response["word"], layered.response["word"])


def test_screening_finds_the_planted_layer_and_keeps_the_full_searchs_calls():
    from vlencode.encoding import Screening
    from vlencode.validation import layers

    config = replace(SMALL, layers=4, planted_layer=1)
    searches, calls = layers.harness_agreement(config, Screening(features=0, targets=64, z=2.0, growth=4), seeds=[3])
    assert set(searches["planted"]) >= {"vision.1", "fused.1"}
    by_method = searches.groupby("method")
    # At word onsets (hundreds of events) the planted layer is the best, and it is not the last; at this size the few
    # scene cuts leave near ties, which screening settles by fitting the tied layers in full.
    words = searches[(searches["method"] == "validation") & (searches["alignment"] == "word")]
    assert (words["chosen"] == words["planted"]).all()
    summary = layers.same_layer(searches).set_index("method")
    assert summary.loc["screen", "fraction"] == 1.0 and summary.loc["last", "fraction"] < 0.5
    assert by_method["fitted"].mean()["screen"] < by_method["fitted"].mean()["validation"]
    screen = calls[calls["method"] == "screen"]
    assert (screen["value"] == 1.0).all()
    with pytest.raises(ValueError, match="planted_layer"):
        layers.harness_agreement(replace(config, planted_layer=3), Screening(0, 64, 2.0, 4), seeds=[3])
