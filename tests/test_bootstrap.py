"""The fast bootstrap: seeded resamples, resampled Pearson r by one product, percentile bounds, protocol agreement."""

import numpy as np
import pytest

from vlencode.bootstrap import bounds, fast, inflation, resampling
from vlencode.validation import agreement


def _scores(n_events=60, n_targets=7, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.standard_normal((n_events, n_targets)).astype(np.float32)
    prediction = (0.6 * y + rng.standard_normal((n_events, n_targets))).astype(np.float32)
    return prediction, y


def _looped_pearson(prediction, y, indices, groups):
    """The definition: for each resample and group, np.corrcoef on the resampled rows; mean over groups."""
    out = np.zeros((len(indices), y.shape[1]))
    for r, drawn in enumerate(indices):
        for rows in groups:
            picked = drawn[np.isin(drawn, rows)]
            for t in range(y.shape[1]):
                out[r, t] += np.corrcoef(prediction[picked, t], y[picked, t])[0, 1] / len(groups)
    return out


def test_seed_depends_on_every_key_and_is_stable():
    a = resampling.draw_resamples(50, 4, resampling.resample_seed(0, "1", "word"))
    assert np.array_equal(a, resampling.draw_resamples(50, 4, resampling.resample_seed(0, "1", "word")))
    assert a.dtype == np.int32 and a.shape == (4, 50)
    assert 0 <= a.min() and a.max() < 50
    for other in [(1, "1", "word"), (0, "2", "word"), (0, "1", "scene")]:
        assert not np.array_equal(a, resampling.draw_resamples(50, 4, resampling.resample_seed(*other)))
    # SHA-256 of the names, not Python's salted hash(): a fixed value across processes and sessions.
    assert resampling.resample_seed(0, "1", "word").entropy == [0, 16283948624427255403, 8391953132307595672]


def test_counts_match_indices():
    indices = np.array([[0, 0, 2], [1, 2, 2]])
    assert resampling.resample_counts(indices, 4).tolist() == [[2, 0, 1, 0], [0, 1, 2, 0]]
    with pytest.raises(ValueError, match="outside"):
        resampling.resample_counts(indices, 2)


def test_fast_bootstrap_equals_direct_loop():
    prediction, y = _scores()
    indices = resampling.draw_resamples(60, 5, resampling.resample_seed(3, "s", "a"))
    counts = resampling.resample_counts(indices, 60)
    whole = fast.resampled_pearson(prediction, y, counts)
    np.testing.assert_allclose(whole, _looped_pearson(prediction, y, indices, [np.arange(60)]), atol=2e-5)
    groups = [np.arange(0, 20), np.arange(30, 60)]
    grouped = fast.resampled_pearson(prediction, y, counts, groups, targets_batch=3)
    np.testing.assert_allclose(grouped, _looped_pearson(prediction, y, indices, groups), atol=2e-5)


def test_a_cpu_takes_cache_sized_batches_with_the_same_scores(monkeypatch):
    prediction, y = _scores(n_targets=23)
    indices = resampling.draw_resamples(60, 5, resampling.resample_seed(3, "s", "a"))
    splits = [(None, np.arange(0, 10), np.arange(10, 20)), (None, np.arange(20, 40), np.arange(40, 60))]
    whole = fast.fast_bootstrap(prediction, y, splits, indices, targets_batch=23)  # one product
    batches = []
    product = fast.weighted_pearson_from_sums

    def counted(weight, *sums):
        batches.append(sums[0].shape[1])
        return product(weight, *sums)

    monkeypatch.setattr(fast, "weighted_pearson_from_sums", counted)
    monkeypatch.setattr(fast, "CPU_TARGETS_BATCH", 5)
    batched = fast.fast_bootstrap(prediction, y, splits, indices)
    assert max(batches) == 5 and sum(batches) == 23 * 2 * 2  # validation and test, two folds each
    batches.clear()
    fast.fast_bootstrap(prediction, y, splits, indices, targets_batch=4)  # a given batch is taken as given
    assert max(batches) == 4 and sum(batches) == 23 * 2 * 2
    for bad in (0, -1):  # -1 once returned the uninitialised output
        with pytest.raises(ValueError, match="targets_batch must be a positive"):
            fast.fast_bootstrap(prediction, y, splits, indices, targets_batch=bad)
    # The same sums in other product shapes: equal up to float32 rounding.
    np.testing.assert_allclose(batched[0], whole[0], atol=1e-6)
    np.testing.assert_allclose(batched[1], whole[1], atol=1e-6)


def test_fast_bootstrap_survives_a_large_offset_in_float32():
    prediction, y = _scores()
    indices = resampling.draw_resamples(60, 3, 0)
    counts = resampling.resample_counts(indices, 60)
    # The offsets are exact in float64 inputs; the sums are float32 and must not cancel the covariance away.
    shifted = fast.resampled_pearson(prediction.astype(np.float64) + 1e6, y * np.float64(0.01) - 500, counts)
    np.testing.assert_allclose(shifted, fast.resampled_pearson(prediction, y, counts), atol=1e-4)


def test_rows_outside_groups_are_ignored_and_constant_targets_score_zero():
    prediction, y = _scores()
    y[:, 0] = 3.0
    y[:, 1] = 0.1  # its float64 mean is not exactly 0.1: rounding must not turn into a score
    prediction[40:] = np.nan
    counts = resampling.resample_counts(resampling.draw_resamples(60, 4, 1), 60)
    r = fast.resampled_pearson(prediction, y, counts, [np.arange(40)])
    assert np.isfinite(r).all()
    assert (r[:, :2] == 0).all()


def test_same_inputs_give_identical_outputs():
    prediction, y = _scores()
    counts = resampling.resample_counts(resampling.draw_resamples(60, 6, 2), 60)
    first = fast.resampled_pearson(prediction, y, counts, [np.arange(30), np.arange(30, 60)])
    assert np.array_equal(first, fast.resampled_pearson(prediction, y, counts, [np.arange(30), np.arange(30, 60)]))


def test_shape_errors_are_one_line():
    prediction, y = _scores()
    with pytest.raises(ValueError, match="counts"):
        fast.resampled_pearson(prediction, y, np.ones((3, 59)))
    with pytest.raises(ValueError, match="equal 2-D shapes"):
        fast.resampled_pearson(prediction[:, :3], y, np.ones((3, 60)))


def test_percentile_bounds():
    boot = np.arange(201, dtype=np.float32)[:, None].repeat(2, axis=1)
    lo, hi = bounds.percentile_bounds(boot, 0.95)
    assert lo.tolist() == [5.0, 5.0] and hi.tolist() == [195.0, 195.0]
    with pytest.raises(ValueError, match="ci"):
        bounds.percentile_bounds(boot, 1.5)


def test_protocol_agreement_reports_bounds_and_decisions():
    rng = np.random.default_rng(0)
    centre = np.linspace(-0.2, 0.4, 30)
    fast = centre + 0.05 * rng.standard_normal((100, 30))
    same = agreement.protocol_agreement(fast, fast, 0.95)
    assert same["lower_bound_r"] == pytest.approx(1.0) and same["kept_agreement"] == 1.0
    assert same["kept_fast"] == same["kept_refit"] == np.sum(bounds.percentile_bounds(fast, 0.95)[0] > 0)
    flipped = agreement.protocol_agreement(fast, -fast, 0.95)
    assert flipped["lower_bound_r"] < 0 and flipped["kept_agreement"] < 1


def test_inflation_factor_matches_the_spread_across_electrodes_and_never_narrows():
    rng = np.random.default_rng(0)
    estimate = 0.08 * rng.standard_normal((200, 5))  # scores spread 0.08 across electrodes, in every bin
    boot = estimate + 0.05 * rng.standard_normal((400, 200, 5))  # a bootstrap of spread 0.05 around each
    assert inflation.inflation_factor(boot, estimate) == pytest.approx(1.6, rel=0.05)
    assert inflation.inflation_factor(boot, estimate / 4) == 1.0  # a bootstrap wider than the spread is kept
    assert inflation.inflation_factor(np.zeros_like(boot), estimate) == 1.0  # no spread: nothing to widen
    with pytest.raises(ValueError, match="n_electrodes >= 2"):
        inflation.inflation_factor(boot[:, :1], estimate[:1])


def test_inflation_factor_sees_through_correlated_electrodes():
    """Null scores sharing a component across electrodes (correlation 0.3) spread by ``sqrt(1 - 0.3)`` of their
    sampling error, and the resamples share it too: the factor still recovers the true 0.08 / 0.05 (the spread
    alone gives about 1.35)."""
    rng = np.random.default_rng(1)
    n_resamples, n_electrodes, n_bins, rho = 400, 40, 60, 0.3

    def correlated(size: tuple[int, ...]) -> np.ndarray:
        common = rng.standard_normal(size[:-2] + (1, size[-1]))
        return np.sqrt(rho) * common + np.sqrt(1 - rho) * rng.standard_normal(size)

    estimate = 0.08 * correlated((n_electrodes, n_bins))
    boot = estimate + 0.05 * correlated((n_resamples, n_electrodes, n_bins))
    assert inflation.inflation_factor(boot, estimate) == pytest.approx(1.6, rel=0.05)


def test_inflation_factor_gives_the_studentised_null_scores_unit_variance():
    """Half the electrodes' bootstraps are half as wide as the others', at the same spread of estimates: the factor
    makes the scores studentised by each electrode's own widened error average unit variance (sqrt(6.4) = 2.53), where
    a ratio of pooled variances (2.02) would leave it at 1.56."""
    rng = np.random.default_rng(2)
    n_resamples, n_electrodes, n_bins = 400, 40, 60
    estimate = 0.08 * rng.standard_normal((n_electrodes, n_bins))
    width = np.where(np.arange(n_electrodes) < n_electrodes // 2, 0.05, 0.025)[:, None]
    boot = estimate + width * rng.standard_normal((n_resamples, n_electrodes, n_bins))
    factor = inflation.inflation_factor(boot, estimate)
    assert factor == pytest.approx(np.sqrt(6.4), rel=0.05)
    widened = inflation.inflate(boot, estimate, factor)
    studentised = (estimate - estimate.mean(axis=0)) / widened.std(axis=0)
    assert (studentised**2).mean() * n_electrodes / (n_electrodes - 1) == pytest.approx(1.0, rel=0.05)


def test_inflation_factor_ignores_targets_constant_up_to_round_off_and_needs_resamples():
    rng = np.random.default_rng(3)
    estimate = 0.08 * rng.standard_normal((20, 10))
    boot = estimate + 0.05 * rng.standard_normal((200, 20, 10))
    boot[:, 0, 0] = 0.1 + 1e-17 * rng.standard_normal(200)  # constant but for float64 round-off
    assert inflation.inflation_factor(boot, estimate) == pytest.approx(1.6, rel=0.1)
    with pytest.raises(ValueError, match=f"n_resamples >= {inflation.MIN_RESAMPLES}"):
        inflation.inflation_factor(boot[: inflation.MIN_RESAMPLES - 1], estimate)


def test_inflate_widens_every_resample_around_the_estimate_within_the_range_of_r():
    boot = np.array([[0.1, 0.5], [0.3, 0.9]], dtype=np.float32)
    estimate = np.array([0.2, 0.7], dtype=np.float32)
    np.testing.assert_allclose(inflation.inflate(boot, estimate, 2.0), [[0.0, 0.3], [0.4, 1.0]], atol=1e-6)
    np.testing.assert_array_equal(inflation.inflate(boot, estimate, 1.0), boot)
    draws = np.random.default_rng(1).normal(0.2, 0.05, (500, 3)).astype(np.float32)
    centre = np.full(3, 0.2, dtype=np.float32)
    lo, hi = bounds.percentile_bounds(inflation.inflate(draws, centre, 1.5), 0.95)
    lo0, hi0 = bounds.percentile_bounds(draws, 0.95)
    np.testing.assert_allclose(lo, 0.2 + 1.5 * (lo0 - 0.2), atol=1e-5)  # bounds widen by the factor
    np.testing.assert_allclose(hi, 0.2 + 1.5 * (hi0 - 0.2), atol=1e-5)


def test_shifted_null_rolls_half_the_events_of_its_electrodes():
    targets = np.arange(36).reshape(6, 6)  # 6 events x (3 electrodes x 2 bins)
    null = inflation.shifted_null(targets, (3, 2), np.array([0, 2]))
    np.testing.assert_array_equal(null, targets[[3, 4, 5, 0, 1, 2]][:, [0, 1, 4, 5]])
    np.testing.assert_array_equal(inflation.null_electrodes(10, 0), np.arange(10))
    drawn = inflation.null_electrodes(150, 3)
    assert len(drawn) == inflation.NULL_ELECTRODES and (np.diff(drawn) > 0).all() and drawn.max() < 150
    np.testing.assert_array_equal(drawn, inflation.null_electrodes(150, 3))  # seeded
    assert not np.array_equal(drawn, inflation.null_electrodes(150, 4))
    with pytest.raises(ValueError, match="at least 2 electrodes"):
        inflation.null_electrodes(1, 0)


def test_shifted_null_measures_the_shortfall_of_truly_silent_electrodes():
    """On silent electrodes (noise independent of the features, so every electrode is a null), the factor measured
    on the shifted responses of a subset (32 of 64) equals the one measured on all the electrodes themselves, within
    the noise of two spreads; both exceed 1 (the folds' shared training events: many features, few events)."""
    from vlencode import encoding

    rng = np.random.default_rng(0)
    n_events, n_electrodes, n_bins = 240, 64, 16
    X = rng.standard_normal((n_events, 60)).astype(np.float32)
    Y = rng.standard_normal((n_events, n_electrodes * n_bins)).astype(np.float32)
    splits = encoding.contiguous_splits(["0"] * n_events, 5)
    grid = {"log10_min": -2, "log10_max": 0, "n": 3}
    settings = encoding.RidgeSettings.from_config(
        {"alphas": grid, "n_folds": 5, "banded": {"n_iter": 1}}, seed=0, device="cpu", memory_gb=None
    )
    resamples = {"iid": resampling.draw_resamples(n_events, 200, resampling.resample_seed(0, "inflation"))}
    result = settings.cross_validate(X, Y, splits)
    _, test = fast.fast_bootstrap(result.prediction, Y, splits, resamples["iid"])
    estimate = encoding.summarize_folds(result, (n_electrodes, n_bins)).test_r
    direct = inflation.inflation_factor(test.reshape(-1, n_electrodes, n_bins), estimate)
    measured = encoding.null_inflation(X, Y, splits, settings, resamples, (n_electrodes, n_bins))["iid_test_r"]
    assert direct > 1.1 and measured > 1.1
    assert measured == pytest.approx(direct, rel=0.1)


def test_shifted_null_shifts_within_each_trial():
    targets = np.arange(12).reshape(6, 2)  # 6 events x (2 electrodes x 1 bin); trials of 4 and 2 events
    null = inflation.shifted_null(targets, (2, 1), np.array([1]), np.array(["a", "a", "a", "a", "b", "b"]))
    np.testing.assert_array_equal(null[:, 0], targets[[2, 3, 0, 1, 5, 4], 1])


def _layers_problem(n_layers: int = 3):
    """Silent targets (2 electrodes too few for a subset: all are shifted) and layers of noise features."""
    from vlencode import encoding

    rng = np.random.default_rng(3)
    n_events, shape = 200, (40, 4)
    designs = {f"l{i}": rng.standard_normal((n_events, 30)).astype(np.float32) for i in range(n_layers)}
    targets = rng.standard_normal((n_events, shape[0] * shape[1])).astype(np.float32)
    trial = np.repeat(["0", "1"], n_events // 2)
    settings = encoding.RidgeSettings.from_config(
        {"alphas": {"log10_min": -1, "log10_max": 3, "n": 5}, "n_folds": 5, "banded": {"n_iter": 2}},
        seed=0,
        device="cpu",
        memory_gb=None,
    )
    return designs, targets, shape, trial, settings, encoding.contiguous_splits(trial, 5)


def test_the_shifted_null_rides_with_a_certain_layer_and_equals_its_own_fit():
    from vlencode import encoding

    designs, targets, shape, trial, settings, splits = _layers_problem()
    riders, null_shape = encoding.null_targets(targets, shape, settings.seed, trial)
    assert null_shape == (32, 4) and riders.shape == (200, 128)
    alone = encoding.search_layers(
        designs.__getitem__, list(designs), targets, splits, settings, shape=shape, layer_selection="last"
    )
    search = encoding.search_layers(
        designs.__getitem__,
        list(designs),
        targets,
        splits,
        settings,
        shape=shape,
        layer_selection="last",
        riders=riders,
    )
    assert list(search.rider_fits) == ["l2"] and alone.rider_fits == {}
    # The targets' own fit is unchanged by the riders beside it ...
    np.testing.assert_allclose(search.layers["l2"].val_r, alone.layers["l2"].val_r, atol=1e-6)
    np.testing.assert_allclose(search.kept_fits["l2"][0], alone.kept_fits["l2"][0], atol=1e-5)
    # ... and the riders' is their own fit's.
    own = settings.cross_validate(designs["l2"], riders, splits)
    rode = search.rider_fits["l2"]
    np.testing.assert_array_equal(rode.best_alpha, own.best_alpha)
    np.testing.assert_allclose(rode.val_r, own.val_r, atol=1e-6)
    np.testing.assert_allclose(rode.prediction, own.prediction, atol=1e-5)
    resamples = {"iid": resampling.draw_resamples(200, 100, resampling.resample_seed(0, "ride"))}
    factors = [
        encoding.null_inflation(designs["l2"], targets, splits, settings, resamples, shape, trial, fitted)
        for fitted in (None, rode)
    ]
    assert factors[0].keys() == factors[1].keys()
    for key, value in factors[0].items():
        assert factors[1][key] == pytest.approx(value, rel=1e-4)
    with pytest.raises(ValueError, match="the null fit given has 127 targets, the shifted null 128"):
        encoding.null_inflation(
            designs["l2"], targets, splits, settings, resamples, shape, trial, own.columns(slice(1, None))
        )


def test_the_null_rides_with_several_wide_layers_where_that_costs_less_and_the_chosen_ones_is_kept():
    from vlencode import encoding, ridge

    designs, targets, shape, trial, settings, splits = _layers_problem()
    rng = np.random.default_rng(4)
    wide = {name: rng.standard_normal((200, 400)).astype(np.float32) for name in designs}  # more columns than events
    riders, _ = encoding.null_targets(targets, shape, settings.seed, trial)
    assert ridge.riders_pay(200, 400, splits, len(settings.alphas), riders.shape[1], 3)
    assert not ridge.riders_pay(200, 30, splits, len(settings.alphas), riders.shape[1], 3)
    search = encoding.search_layers(wide.__getitem__, list(wide), targets, splits, settings, shape=shape, riders=riders)
    assert len(search.layers) == 3 and list(search.rider_fits) == [search.chosen] == list(search.kept_fits)
    own = settings.cross_validate(wide[search.chosen], riders, splits)
    np.testing.assert_array_equal(search.rider_fits[search.chosen].best_alpha, own.best_alpha)
    np.testing.assert_allclose(search.rider_fits[search.chosen].val_r, own.val_r, atol=1e-6)


def test_no_rider_with_several_narrow_layers_and_both_fits_of_a_baseline_carry_one():
    from vlencode import encoding

    designs, targets, shape, trial, settings, splits = _layers_problem()
    riders, _ = encoding.null_targets(targets, shape, settings.seed, trial)
    search = encoding.search_layers(
        designs.__getitem__, list(designs), targets, splits, settings, shape=shape, riders=riders
    )
    assert len(search.layers) == 3 and search.rider_fits == {}
    baseline = {"plain": designs["l0"], "banded": [designs["l0"], designs["l1"]]}
    search = encoding.search_layers(
        baseline.__getitem__, list(baseline), targets, splits, settings, shape=shape, banded=True, riders=riders
    )
    assert list(search.rider_fits) == ["plain", "banded"] == list(search.kept_fits)
    own = settings.cross_validate(baseline["banded"], riders, splits)
    np.testing.assert_allclose(search.rider_fits["banded"].val_r, own.val_r, atol=1e-6)
    np.testing.assert_array_equal(search.rider_fits["banded"].band_weights, own.band_weights)
