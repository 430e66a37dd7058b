"""Block resampling and bounds (vlencode.bootstrap), keep rules, paired comparisons, false-discovery control and sites
(vlencode.stats), recovery (vlencode.validation)."""

import logging

import numpy as np
import pandas as pd
import pytest
from scipy.stats import false_discovery_control

from vlencode.bootstrap import bounds, fast, resampling
from vlencode.stats import compare, keep, sites
from vlencode.stats.compare import ModelScores
from vlencode.validation import recovery

# --- resampling -------------------------------------------------------------------------------------------------------


def _events(n_per_trial=(60, 40), gap=0.5):
    onset = np.concatenate([np.arange(n) * gap for n in n_per_trial])
    trial = np.concatenate([[str(t)] * n for t, n in enumerate(n_per_trial)]).astype(object)
    return onset, trial


def test_block_resamples_are_seeded_runs_within_trials():
    onset, trial = _events()
    a = resampling.draw_block_resamples(onset, trial, 5.0, 30, resampling.resample_seed(0, "1", "word", "block"))
    assert a.shape == (30, 100) and a.dtype == np.int32
    same = resampling.draw_block_resamples(onset, trial, 5.0, 30, resampling.resample_seed(0, "1", "word", "block"))
    assert np.array_equal(a, same)
    other = resampling.draw_block_resamples(onset, trial, 5.0, 30, resampling.resample_seed(1, "1", "word", "block"))
    assert not np.array_equal(a, other)
    length, start, size = resampling.block_members(onset, trial, 5.0)
    assert (length == 10).all()  # 5 s of events 0.5 s apart, circular: every block is full
    assert start[70] == 60 and size[70] == 40
    # Within a drawn block the next event is the next one of the same trial, wrapping to the trial's start.
    steps = np.diff(a, axis=1)
    wrap = (steps == -59) | (steps == -39)
    assert ((steps == 1) | wrap).mean() > 0.85
    for row in a:
        for i in range(len(row) - 1):
            if row[i + 1] - row[i] == 1:
                assert trial[row[i]] == trial[row[i + 1]]


def test_moving_blocks_shrink_at_the_end_of_a_trial():
    onset, trial = _events((30,), gap=1.0)
    length, _, _ = resampling.block_members(onset, trial, 4.0, "moving")
    assert length.tolist()[-5:] == [4, 4, 3, 2, 1]
    circular, _, _ = resampling.block_members(onset, trial, 4.0, "circular")
    assert (circular == 4).all()
    with pytest.raises(ValueError, match="block_kind"):
        resampling.block_members(onset, trial, 4.0, "stationary")
    with pytest.raises(ValueError, match="sorted"):
        resampling.block_members(onset[::-1], trial, 4.0)
    with pytest.raises(ValueError, match="positive"):
        resampling.block_members(onset, trial, 0.0)


def test_blocks_cover_dependent_null_scores_where_single_events_do_not():
    """Slow, shared-in-time noise in predictions and responses: the iid bound excludes 0 far too often."""
    rng = np.random.default_rng(7)
    n, n_targets = 1500, 200
    onset = np.arange(n) * 0.3
    trial = np.full(n, "0", dtype=object)
    kernel = np.exp(-np.arange(40) / 5.0)  # dependence over a few seconds of events

    def smooth(shape):
        white = rng.standard_normal((shape[0] + len(kernel), shape[1]))
        return np.stack([np.convolve(white[:, j], kernel, "valid")[: shape[0]] for j in range(shape[1])], 1)

    prediction, target = smooth((n, n_targets)).astype(np.float32), smooth((n, n_targets)).astype(np.float32)
    counts = {
        "iid": resampling.resample_counts(resampling.draw_resamples(n, 200, 1), n),
        "block": resampling.resample_counts(resampling.draw_block_resamples(onset, trial, 10.0, 200, 1), n),
    }
    false_keep = {
        s: (bounds.percentile_bounds(fast.resampled_pearson(prediction, target, c), 0.95)[0] > 0).mean()
        for s, c in counts.items()
    }
    assert false_keep["iid"] > 0.12  # nominal 0.025; measured 0.20
    assert false_keep["block"] < 0.07  # measured 0.045


# --- keep rules -------------------------------------------------------------------------------------------------------


def test_keep_rules_bound_their_own_score_and_scheme():
    boot = {
        "iid_val_r": np.full((20, 2, 3), 0.2),
        "iid_test_r": np.full((20, 2, 3), -0.2),
        "block_val_r": np.full((20, 2, 3), -0.1),
        "block_test_r": np.full((20, 2, 3), 0.1),
    }
    boot["block_test_r"][:, 1] = np.linspace(-0.1, 0.2, 20)[:, None]
    times = np.array([0.0, 0.025, 0.05])
    assert keep.kept(keep.keep_rule("paper"), boot, 0.95).all()
    assert keep.kept(keep.keep_rule("calibrated"), boot, 0.95, None, times).tolist() == [[True] * 3, [False] * 3]
    with pytest.raises(ValueError, match="pass the bin times"):
        keep.kept(keep.keep_rule("calibrated"), boot, 0.95)
    assert not keep.selected_for_comparison(keep.keep_rule("calibrated"), boot, 0.95).any()
    assert keep.selected_for_comparison(keep.keep_rule("paper"), boot, 0.95).all()
    with pytest.raises(ValueError, match="unknown rule"):
        keep.keep_rule("lenient")


def _correlated_null_boot(seed, n_resamples=200, n_electrodes=40, n_bins=161):
    """Null resampled r with the bins' strong correlation (a random walk over bins, smoothed): true r = 0."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.standard_normal((n_resamples + 1, n_electrodes, n_bins)), axis=-1) / 6
    walk = 0.05 * (walk - walk.mean(axis=-1, keepdims=True))
    estimate = walk[0]  # the original events' r: one more draw of the same null
    return estimate, estimate + walk[1:] - walk[1:].mean(axis=0)


def test_sup_t_band_is_at_least_as_strict_as_per_bin_bounds_and_equal_on_one_bin():
    estimate, boot = _correlated_null_boot(0)
    band = bounds.sup_t_lower_band(boot, 0.95, estimate)
    pointwise = bounds.percentile_bounds(boot, 0.95)[0]
    assert band.shape == estimate.shape
    assert (band <= pointwise + 1e-6).all() and (band < pointwise - 1e-4).any()
    # one bin: the studentised bound centred on the estimate is the percentile bound
    assert np.allclose(bounds.sup_t_lower_band(boot[..., :1], 0.95, estimate[..., :1]), pointwise[..., :1], atol=1e-6)
    # bins constant under resampling leave the maximum and keep their estimate
    boot[:, :, 0] = estimate[:, 0] = 0.3
    band = bounds.sup_t_lower_band(boot, 0.95, estimate)
    assert np.allclose(band[:, 0], 0.3) and np.isfinite(band).all()
    assert np.allclose(bounds.sup_t_lower_band(np.full((10, 2, 3), 0.1), 0.95), 0.1)
    # ... also when the standard errors are averaged over neighbours, which leaves the constant bin out
    band = bounds.sup_t_lower_band(boot, 0.95, estimate, se_span=11)
    assert np.allclose(band[:, 0], 0.3) and np.isfinite(band).all()
    # a bin with a NaN resample has no bound (never kept) and leaves every other bin's band as it was
    holed = boot.copy()
    holed[3, :, 5] = np.nan
    others = np.delete(np.arange(boot.shape[-1]), 5)
    band_holed = bounds.sup_t_lower_band(holed, 0.95, estimate)
    assert np.isnan(band_holed[:, 5]).all()
    assert np.allclose(band_holed[:, others], bounds.sup_t_lower_band(boot[..., others], 0.95, estimate[:, others]))
    band_holed = bounds.sup_t_lower_band(holed, 0.95, estimate, se_span=11)
    assert np.isnan(band_holed[:, 5]).all() and np.isfinite(band_holed[:, others]).all()
    with pytest.raises(ValueError, match="does not match"):
        bounds.sup_t_lower_band(boot, 0.95, estimate[:, :5])
    with pytest.raises(ValueError, match="unknown band 'simultanous'"):
        bounds.lower_bound("simultanous", boot, 0.95, estimate)


def test_running_mean_truncates_at_the_ends_and_skips_invalid_entries():
    values = np.array([[1.0, 2.0, 3.0, 4.0, 100.0]])
    assert np.allclose(bounds.running_mean(values, 3), [[1.5, 2.0, 3.0, 107 / 3, 52.0]])
    valid = np.array([[True, True, True, True, False]])
    assert np.allclose(bounds.running_mean(values, 3, valid), [[1.5, 2.0, 3.0, 3.5, 4.0]])
    assert np.allclose(bounds.running_mean(values, 1), values)
    assert np.allclose(bounds.running_mean(values, 3, np.zeros_like(valid)), 0.0)
    with pytest.raises(ValueError, match="positive odd"):
        bounds.running_mean(values, 4)
    boot = np.random.default_rng(0).standard_normal((20, 2, 5))
    for span in (0, -3, 4, 7.0):
        with pytest.raises(ValueError, match="positive odd"):
            bounds.sup_t_lower_band(boot, 0.95, se_span=span)


def test_keep_rule_span_in_bins_follows_the_bin_step():
    calibrated = keep.keep_rule("calibrated")
    assert calibrated.se_span(np.arange(161) * 0.025 - 2.0) == 7  # 0.15 s at 25 ms bins
    assert calibrated.se_span(np.arange(50) * 0.01) == 15
    assert calibrated.se_span(np.arange(61) * 0.025 - 0.5) == 7  # a median step of 0.025000000000000022
    with pytest.warns(UserWarning, match="wider than"):
        assert calibrated.se_span(np.arange(10) * 0.5) == 1
    assert keep.keep_rule("paper").se_span(None) == 1
    assert calibrated.se_span(np.zeros(1)) == 1  # one bin: nothing to average
    with pytest.raises(ValueError, match="pass the bin times"):
        calibrated.se_span(None)
    with pytest.raises(ValueError, match="10 bin times for 161 bins"):
        calibrated.se_span(np.arange(10) * 0.025, n_bins=161)
    for times in (np.arange(10)[::-1] * 0.025, np.repeat(np.arange(5) * 0.025, 2), np.array([0.0, np.nan, 0.05])):
        with pytest.raises(ValueError, match="finite and increasing"):
            calibrated.se_span(times)
    with pytest.warns(UserWarning, match="in seconds"):
        assert calibrated.se_span(np.arange(161) * 25.0 - 2000.0) == 1  # milliseconds by mistake


def test_band_on_averaged_standard_errors_holds_its_rate_where_per_bin_estimates_inflate_it():
    """Null scores with one true standard error per electrode, whose resamples estimate it per bin with noise (as a
    block bootstrap does): the maximum of r / se over the bins favours the bins whose se came out small, so the band
    on per-bin standard errors passes the gate more often than nominal; averaged over 11 bins it does not."""
    rng = np.random.default_rng(3)
    n_electrodes, n_bins, n_resamples = 600, 81, 200

    def smooth(x, width):
        kernel = np.hanning(width) / np.hanning(width).sum()
        return np.apply_along_axis(lambda row: np.convolve(row, kernel, mode="same"), -1, x) * np.sqrt(width / 2)

    estimate = smooth(rng.standard_normal((n_electrodes, n_bins)), 9)
    estimate /= estimate.std()  # true standard error 1 in every bin
    noise = np.exp(0.15 * smooth(rng.standard_normal((n_electrodes, n_bins)), 5))  # the per-bin estimate's error
    draws = smooth(rng.standard_normal((n_resamples, n_electrodes, n_bins)), 9)
    boot = estimate + noise * (draws - draws.mean(0)) / draws.std(0).mean()

    def gate_rate(span):
        return (bounds.sup_t_lower_band(boot, 0.95, estimate, se_span=span) > 0).any(axis=-1).mean()

    per_bin, averaged = gate_rate(1), gate_rate(11)  # nominal 0.025; measured 0.10 and 0.033
    assert per_bin > 0.05 and averaged < 0.04
    # the calibrated rule gates with the span its se_span_s gives at the bins' step (7 bins at 25 ms)
    rule, times = keep.keep_rule("calibrated"), np.arange(n_bins) * 0.025
    gate = keep.kept(rule, {"block_test_r": boot}, 0.95, {"test_r": estimate}, times).any(axis=-1)
    expected = np.isfinite(bounds.lower_bound("gated", boot, 0.95, estimate, rule.se_span(times))).any(axis=-1)
    per_bin_gate = np.isfinite(bounds.lower_bound("gated", boot, 0.95, estimate, 1)).any(axis=-1)
    assert np.array_equal(gate, expected & gate) and not np.array_equal(expected, per_bin_gate)


def test_calibrated_rule_calls_few_correlated_null_electrodes_where_per_bin_bounds_call_many():
    estimate, boot = _correlated_null_boot(1)
    calibrated = keep.keep_rule("calibrated")
    pointwise = keep.KeepRule("pointwise", scheme="block", score="test")
    boot_map, estimate_map = {"block_test_r": boot}, {"test_r": estimate}
    band_kept = keep.kept(calibrated, boot_map, 0.95, estimate_map, np.arange(boot.shape[-1]) * 0.025)
    bin_kept = keep.kept(pointwise, boot_map, 0.95, estimate_map)
    assert not (band_kept & ~bin_kept).any()
    called_band, called_bin = ((k.sum(axis=-1) >= 10).mean() for k in (band_kept, bin_kept))
    assert called_band <= 0.1 < called_bin


def test_alpha_on_the_grid_edge_is_counted_and_warned(caplog):
    grid = np.logspace(-1, 5, 7)
    alpha = np.array([[0.1, 1.0, 10.0, 1e5], [1e5, 1e5, 100.0, 1.0]], dtype=np.float32)
    assert keep.alpha_on_edge(alpha, grid) == pytest.approx(4 / 8)
    with caplog.at_level(logging.WARNING, logger="vlencode.stats"):
        assert keep.warn_alpha_edge(alpha, grid, 0.6, "quiet") == pytest.approx(0.5)
        assert not caplog.records
        keep.warn_alpha_edge(alpha, grid, 0.25, "sub-1 model-x word")
    assert "sub-1 model-x word: 50% of targets" in caplog.records[0].getMessage()


def test_a_band_on_few_resamples_is_warned(caplog):
    with caplog.at_level(logging.WARNING, logger="vlencode.stats"):
        assert not keep.warn_few_resamples(keep.keep_rule("paper"), 20, "quiet")
        assert not keep.warn_few_resamples(keep.keep_rule("calibrated"), keep.MIN_BAND_RESAMPLES, "quiet")
        assert not caplog.records
        assert keep.warn_few_resamples(keep.keep_rule("calibrated"), 20, "sub-1 scene")
    assert "sub-1 scene: the calibrated rule's simultaneous band rests on 20" in caplog.records[0].getMessage()


# --- paired comparisons -----------------------------------------------------------------------------------------------


def test_paired_comparison_averages_the_common_bins_and_resamples_pairwise():
    rng = np.random.default_rng(0)
    boot_b = rng.normal(0.1, 0.02, (99, 3, 4))
    boot_a = boot_b + np.array([0.05, 0.0, 0.05])[None, :, None]  # a beats b on electrodes 0 and 2
    test_a, test_b = boot_a.mean(0), boot_b.mean(0)
    select_a = np.ones((3, 4), bool)
    select_b = np.ones((3, 4), bool)
    select_b[2] = [True, False, False, False]  # b has too few bins on electrode 2
    result = compare.paired_comparison(test_a, test_b, boot_a, boot_b, select_a, select_b, min_bins=2)
    assert result.eligible.tolist() == [True, True, False]
    assert result.delta[0] == pytest.approx(0.05) and result.p[0] == pytest.approx(1 / 100)
    assert result.p[1] == pytest.approx(1.0)  # identical scores: never beats
    assert np.isnan(result.delta[2]) and np.isnan(result.p[2])
    assert result.n_bins_common.tolist() == [4, 4, 4] and result.n_bins_b.tolist() == [4, 4, 1]


def test_paired_comparison_eligibility_and_window():
    rng = np.random.default_rng(1)
    boot_b = rng.normal(0.0, 0.02, (99, 2, 6))
    boot_a = boot_b + 0.05
    boot_a[:, :, 0] -= 1.0  # a loses badly in bin 0, which the window leaves out
    test_a, test_b = boot_a.mean(0), boot_b.mean(0)
    select_a = np.ones((2, 6), bool)
    select_b = np.zeros((2, 6), bool)
    select_b[0] = True  # b predicts electrode 0 only
    window = np.array([False, True, True, True, True, True])
    both = compare.paired_comparison(test_a, test_b, boot_a, boot_b, select_a, select_b, 5, "both", window)
    assert both.eligible.tolist() == [True, False]
    first = compare.paired_comparison(test_a, test_b, boot_a, boot_b, select_a, select_b, 5, "a", window)
    assert first.eligible.tolist() == [True, True]  # a model that predicts nothing can be beaten
    assert first.n_bins_a.tolist() == [5, 5] and first.n_bins_b.tolist() == [5, 0]
    np.testing.assert_allclose(first.delta, 0.05, atol=1e-6)
    assert (first.p <= 1 / 99).all()
    unwindowed = compare.paired_comparison(test_a, test_b, boot_a, boot_b, select_a, select_b, 5, "a")
    assert (unwindowed.delta < 0).all() and (unwindowed.p == 1).all()
    too_few = compare.paired_comparison(test_a, test_b, boot_a, boot_b, select_a, select_b, 6, "a", window)
    assert not too_few.eligible.any()  # bins outside the window do not count
    # the model claimed to win must predict: b's bins do not make a eligible
    reversed_ = compare.paired_comparison(test_b, test_a, boot_b, boot_a, select_b, select_a, 5, "a", window)
    assert reversed_.eligible.tolist() == [True, False]
    with pytest.raises(ValueError, match="eligibility"):
        compare.paired_comparison(test_a, test_b, boot_a, boot_b, select_a, select_b, 5, "either")


def test_rules_compare_their_own_windows():
    times = np.round(np.arange(-6, 6) * 0.1, 9)  # 6 bins before the onset, 6 from it on
    paper, calibrated = (
        compare.compare_alignment(
            _zoo(),
            keep.keep_rule(rule),
            ci=0.95,
            min_bins=6,
            electrodes=["A1", "A2"],
            bin_time_s=times,
            subject="1",
            alignment="word",
        )[0]
        for rule in ("paper", "calibrated")
    )
    vision = [
        t[(t["comparison"] == "multimodal_vs_best_vision") & (t["electrode"] == "A1")].iloc[0]
        for t in (paper, calibrated)
    ]
    assert vision[0]["n_bins_a"] == 12 and vision[1]["n_bins_a"] == 6
    # a language model that predicts nothing: beaten under `calibrated`, not tested under `paper`
    mute = [
        m if m.family != "language" else _model(m.name, "language", np.zeros((2, 12)), np.zeros((2, 12)))
        for m in _zoo()
    ]
    language = {
        rule: compare.compare_alignment(
            mute,
            keep.keep_rule(rule),
            ci=0.95,
            min_bins=6,
            electrodes=["A1", "A2"],
            bin_time_s=times,
            subject="1",
            alignment="word",
        )[0].set_index(["comparison", "electrode"])
        for rule in ("paper", "calibrated")
    }
    assert not language["paper"].loc[("multimodal_vs_best_language", "A1"), "eligible"]
    assert language["calibrated"].loc[("multimodal_vs_best_language", "A1"), "p"] < 0.05
    with pytest.raises(ValueError, match="bin times"):
        compare.compare_alignment(
            _zoo(),
            keep.keep_rule("paper"),
            ci=0.95,
            min_bins=6,
            electrodes=["A1", "A2"],
            bin_time_s=times[:5],
            subject="1",
            alignment="word",
        )


def test_a_site_needs_its_multimodal_network_kept():
    table, selection = compare.compare_alignment(
        _zoo(),
        keep.keep_rule("calibrated"),
        ci=0.95,
        min_bins=10,
        electrodes=["A1", "A2"],
        bin_time_s=TIMES,
        subject="1",
        alignment="word",
    )
    tested = sites.with_fdr(table, 0.05)
    multimodal = sites.sites_table(tested, selection, sites.DEFAULT_TESTS, 10).set_index("electrode")["multimodal"]
    assert multimodal.loc["A1"].all()
    unkept = selection.copy()
    unkept.loc[unkept["selection"] == "best_multimodal", "n_kept"] = 9  # every test still passed
    table_sites = sites.sites_table(tested, unkept, sites.DEFAULT_TESTS, 10).set_index("electrode")
    assert table_sites.loc["A1", "beats_best_vision"].all() and not table_sites.loc["A1", "multimodal"].any()
    unkept.loc[unkept["selection"] == "best_multimodal", "n_kept"] = 10  # exactly min_bins is enough
    assert (
        sites.sites_table(tested, unkept, sites.DEFAULT_TESTS, 10).set_index("electrode").loc["A1", "multimodal"].all()
    )


def _model(name, family, val, test, *, base=None, init="trained", baseline=False, layer="last", pair=None, n=40):
    """A fit whose every resample equals the point scores plus small noise, so its bounds follow the scores."""
    rng = np.random.default_rng(abs(hash((name, layer))) % 2**32)
    val = np.asarray(val, float)
    test = np.asarray(test, float)
    boot = {}
    for scheme in ("iid", "block"):
        boot[f"{scheme}_val_r"] = (val + rng.normal(0, 0.01, (n, *val.shape))).astype(np.float32)
        boot[f"{scheme}_test_r"] = (test + rng.normal(0, 0.01, (n, *test.shape))).astype(np.float32)
    return ModelScores(
        name, base or name, family, init, layer, val.astype(np.float32), test.astype(np.float32), boot, baseline, pair
    )


#: Bin times of :func:`_zoo`'s 12 bins, all from the onset on.
TIMES = np.round(np.arange(12) * 0.05, 9)


def _zoo():
    """Two electrodes x 12 bins: electrode 0 prefers multimodal 'mm', electrode 1 is silent."""

    def scores(e0, e1=0.0):
        return np.array([[e0] * 12, [e1] * 12])

    return [
        _model("vis", "vision", scores(0.2), scores(0.2)),
        _model("vis-random-s0", "vision", scores(0.1), scores(0.1), base="vis", init="random"),
        _model("lang", "language", scores(0.2), scores(0.2)),
        # chosen on validation: 'lang2' has the better test score but the worse validation score
        _model("lang2", "language", scores(0.15), scores(0.3)),
        _model("mm", "multimodal", scores(0.4), scores(0.4), pair="vis"),
        _model("mm-random-s0", "multimodal", scores(0.1), scores(0.1), base="mm", init="random"),
        _model("tiny", "multimodal", scores(0.05), scores(0.05), init="random"),
        _model("tiny-random-s0", "multimodal", scores(0.05), scores(0.05), base="tiny", init="random"),
        # a baseline with the best validation score is still never the best multimodal model
        _model("cat", "multimodal", scores(0.5), scores(0.25), baseline=True, layer="concat"),
        _model("cat", "multimodal", scores(0.5), scores(0.25), baseline=True, layer="concat-banded"),
    ]


def test_compare_alignment_names_each_comparison_and_chooses_best_models_on_validation():
    table, selection = compare.compare_alignment(
        _zoo(),
        keep.keep_rule("calibrated"),
        ci=0.95,
        min_bins=10,
        electrodes=["A1", "A2"],
        bin_time_s=TIMES,
        subject="1",
        alignment="word",
    )
    assert list(table.columns) == compare.COMPARISON_COLUMNS
    assert list(selection.columns) == compare.SELECTION_COLUMNS
    best = _best(selection)
    assert best.loc["A1", "best_language"] == "lang" and best.loc["A1", "best_multimodal"] == "mm"
    assert not table["comparison"].isin(["kept", "best_vision", "best_language", "best_multimodal"]).any()
    rows = table.set_index(["comparison", "electrode"])
    for name in (
        "multimodal_vs_best_vision",
        "multimodal_vs_best_language",
        "multimodal_vs_concat",
        "multimodal_vs_concat_banded",
    ):
        assert rows.loc[(name, "A1"), "p"] < 0.05, name
        assert np.isnan(rows.loc[(name, "A2"), "p"])  # silent: not eligible
    assert rows.loc[("multimodal_vs_concat", "A1"), "model_b"] == "cat:concat"
    trained = table[table["comparison"] == "trained_vs_random"].set_index(["model_a", "electrode"])
    assert trained.loc[("vis", "A1"), "p"] < 0.05 and trained.loc[("mm", "A1"), "model_b"] == "mm-random-s0"
    assert trained.loc[("tiny", "A1"), "note"].startswith("exists only as a random init")
    assert set(table.loc[table["comparison"] == "equal_skill", "model_a"]) == {"tiny"}
    assert set(table.loc[table["comparison"] == "pair", "model_b"]) == {"vis"}
    kept = selection[(selection["selection"] == "kept") & (selection["electrode"] == "A2")]
    assert len(kept) == 10 and (kept["n_kept"] == 0).all()
    assert set(kept["model"]) >= {"cat:concat", "cat:concat-banded", "vis-random-s0"}


def _best(selection):
    """The best model of each family per electrode, from the rows ``best_<family>`` of a selection table."""
    rows = selection[selection["selection"].str.startswith("best_")]
    return rows.pivot(index="electrode", columns="selection", values="model")


def test_one_model_has_no_comparison_but_its_selection():
    table, selection = compare.compare_alignment(
        _zoo()[:1],
        keep.keep_rule("paper"),
        ci=0.95,
        min_bins=10,
        electrodes=["A1", "A2"],
        bin_time_s=TIMES,
        subject="1",
        alignment="word",
    )
    assert table.empty and list(table.columns) == compare.COMPARISON_COLUMNS
    assert table[table["eligible"]].empty  # typed like a table with rows: it filters as the compare rule does
    assert selection["selection"].tolist() == ["best_vision", "best_vision", "kept", "kept"]
    assert selection["n_kept"].tolist() == [12, 0, 12, 0]


def test_an_untrained_entry_stands_for_its_family_only_where_the_family_has_no_trained_network():
    def scores(e0):
        return np.array([[e0] * 12, [0.0] * 12])

    untrained = _model("tiny-simclr", "vision", scores(0.6), scores(0.6), init="random")
    zoo = _zoo() + [untrained, _model("tiny-only", "language", scores(0.9), scores(0.9), init="random")]
    _, selection = compare.compare_alignment(
        zoo,
        keep.keep_rule("calibrated"),
        ci=0.95,
        min_bins=10,
        electrodes=["A1", "A2"],
        bin_time_s=TIMES,
        subject="1",
        alignment="word",
    )
    # The untrained vision network validates better, but the trained 'vis' is the family's best.
    best = _best(selection)
    assert best.loc["A1", "best_vision"] == "vis" and best.loc["A1", "best_language"] == "lang"
    alone = [m for m in zoo if m.family != "vision" or m.name == "tiny-simclr"]
    _, selection = compare.compare_alignment(
        alone,
        keep.keep_rule("calibrated"),
        ci=0.95,
        min_bins=10,
        electrodes=["A1", "A2"],
        bin_time_s=TIMES,
        subject="1",
        alignment="word",
    )
    assert (
        _best(selection).loc["A1", "best_vision"] == "tiny-simclr"
    )  # no trained vision network: the untrained one stands


def test_fdr_within_each_comparison_alignment_and_rule_then_sites():
    table, selection = compare.compare_alignment(
        _zoo(),
        keep.keep_rule("calibrated"),
        ci=0.95,
        min_bins=10,
        electrodes=["A1", "A2"],
        bin_time_s=TIMES,
        subject="1",
        alignment="word",
    )
    scene = table.assign(alignment="scene")
    other = table.assign(subject="2")
    both = sites.with_fdr(pd.concat([table, scene, other], ignore_index=True), 0.05)
    chosen = pd.concat([selection, selection.assign(alignment="scene"), selection.assign(subject="2")])
    group = both[(both["comparison"] == "multimodal_vs_concat") & (both["alignment"] == "word")]
    tested = group["p"].notna()
    np.testing.assert_allclose(group.loc[tested, "p_fdr"], false_discovery_control(group.loc[tested, "p"]))
    table_sites = sites.sites_table(both, chosen, sites.DEFAULT_TESTS, 10)
    word = table_sites[(table_sites["alignment"] == "word") & (table_sites["subject"] == "1")].set_index("electrode")
    assert word.loc["A1", "category"] == "multimodal" and word.loc["A1", "beats_pair"]
    assert word.loc["A2", "category"] == "none" and not word.loc["A2", "multimodal"]
    assert word.loc["A1", "best_multimodal_model"] == "mm"
    summary = table_sites[table_sites["alignment"] == "both"].set_index(["subject", "electrode"])
    assert summary.loc[("1", "A1"), "category"] == "multimodal"
    assert summary.loc[("2", "A1"), "category"] == "none"  # subject 2 has one alignment only
    counts = sites.site_counts(table_sites)
    assert counts.loc[(counts["subject"] == "1") & (counts["alignment"] == "word"), "multimodal"].item() == 1
    with pytest.raises(ValueError, match="multimodal_tests"):
        sites.sites_table(both, chosen, ["best_colour"], 10)
    with pytest.raises(ValueError, match="no \\['multimodal_vs_concat'\\] comparisons"):
        sites.sites_table(both[both["comparison"] != "multimodal_vs_concat"], chosen, sites.DEFAULT_TESTS, 10)


# --- recovery ---------------------------------------------------------------------------------------------------------


def test_recovery_counts_neighbours_apart():
    truth = pd.DataFrame(
        {
            "subject": "1",
            "electrode": ["LA1", "LA2", "LA3", "LA4", "LB1", "LB2"],
            "category": ["vision", "none", "none", "language", "multimodal", "none"],
            "corrupted": [False, False, False, False, False, True],
        }
    )
    assert recovery.planted_neighbours(truth).tolist() == [False, True, True, False, False, True]
    sites_rows = pd.DataFrame(
        {
            "subject": "1",
            "electrode": ["LA1", "LA2", "LA3", "LA4", "LB1"],
            "alignment": "scene",
            "keep_rule": "paper",
            "category": ["vision", "vision", "none", "none", "none"],
            "n_kept_best_vision": [30, 12, 0, 11, 0],
            "n_kept_best_language": 0,
        }
    )
    table = recovery.recovery_table(sites_rows, truth, min_bins=10)
    vision = table[table["category"] == "vision"].iloc[0]
    assert vision["primary"] and vision["n_planted"] == 1 and vision["recall"] == 1.0
    assert vision["n_called"] == 2 and vision["precision"] == 0.5  # LA4 (language) is a false call; LA2 apart
    assert vision["n_neighbours"] == 2 and vision["n_called_neighbours"] == 1
    assert vision["n_silent"] == 0 and np.isnan(vision["false_positive_rate"])


def test_p_floor_warning_matches_what_benjamini_hochberg_can_call(caplog):
    """A lone electrode at the smallest bootstrap p is called exactly when no warning says it cannot be."""
    n_resamples, q = 99, 0.05

    def lone(m):
        p = np.full(m, 0.9)
        p[0] = 1 / (n_resamples + 1)
        return pd.DataFrame(
            {
                "comparison": "multimodal_vs_concat",
                "alignment": "word",
                "keep_rule": "calibrated",
                "electrode": [f"E{i}" for i in range(m)],
                "p": p,
            }
        )

    for m, callable_alone in ((5, True), (6, False)):  # p_fdr = m / 100 against q = 0.05
        caplog.clear()
        with caplog.at_level("WARNING", logger="vlencode.stats"):
            sites.warn_p_floor(lone(m), q, n_resamples)
        assert sites.with_fdr(lone(m), q)["significant"].iloc[0] == callable_alone
        assert bool(caplog.records) != callable_alone
    assert "6 tests, none or >= 2 called, 119 resamples lift it" in caplog.text


def test_p_floor_warning_names_the_multimodal_site_tests_apart(caplog):
    """Beside the largest limited group, the largest group of a multimodal-site test is named with its own counts."""
    rows = [("trained_vs_random", 40), ("multimodal_vs_best_language", 12), ("multimodal_vs_concat", 8)]
    table = pd.concat(
        [
            pd.DataFrame(
                {
                    "comparison": name,
                    "alignment": "word",
                    "keep_rule": "calibrated",
                    "electrode": [f"E{i}" for i in range(m)],
                    "p": 0.5,
                }
            )
            for name, m in rows
        ]
    )
    with caplog.at_level("WARNING", logger="vlencode.stats"):
        sites.warn_p_floor(table, 0.05, 99, tests=["best_language", "concat"])
    assert "in 3 of 3 comparison groups" in caplog.text
    assert "largest trained_vs_random (word, calibrated rule): 40 tests, none or >= 8 called, 799" in caplog.text
    site_group = "multimodal-site tests multimodal_vs_best_language (word, calibrated rule): 12 tests, none or >= 3"
    assert site_group in caplog.text
