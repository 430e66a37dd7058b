"""Epoching: bin means equal a direct computation on known signals, for every window placement."""

import numpy as np
import pandas as pd
import pytest
import zarr
from schema_defaults import schema_defaults

from vlencode.epochs import EpochWindows, epoch_responses, event_samples

RATE_HZ = 100.0
SOURCE_RATE_HZ = 400.0
CFG = schema_defaults("epochs", {"tmin_s": -0.5, "tmax_s": 0.5, "step_s": 0.05, "window_s": 0.2})


def _epoch(signal, events, cfg, **kwargs):
    return epoch_responses(signal, rate_hz=RATE_HZ, source_rate_hz=SOURCE_RATE_HZ, events=events, cfg=cfg, **kwargs)


def _events(raw_samples, alignments=None, valid=None):
    n = len(raw_samples)
    alignments = alignments or ["word"] * n
    return pd.DataFrame(
        {
            "event_id": [f"e{i:03d}" for i in range(n)],
            "alignment": alignments,
            "onset_s": np.asarray(raw_samples, dtype=float) / SOURCE_RATE_HZ,
            "sample": np.asarray(raw_samples, dtype=np.int64),
            "valid": valid if valid is not None else [True] * n,
        }
    )


def _ramp(n_samples, n_electrodes=3):
    """x[n, c] = (c + 1) * n: the mean over [a, a + L) is (c + 1) * (a + (L - 1) / 2)."""
    return (np.arange(n_samples)[:, None] * np.arange(1, n_electrodes + 1)[None, :]).astype(np.float32)


def test_default_grid_is_161_bins_from_minus_two_to_two():
    times = EpochWindows.from_config(schema_defaults("epochs")).bin_time_s()
    assert len(times) == 161
    assert times[0] == -2.0 and times[-1] == 2.0 and times[4] == -1.9


@pytest.mark.parametrize("placement, shift_s", [("start", 0.0), ("center", -0.1), ("end", -0.2)])
def test_bin_means_equal_direct_means_on_a_ramp(placement, shift_s):
    signal = _ramp(3000)
    raw = [4000, 4003, 7002, 9001]  # 1000, 1000.75 -> 1001, 1750.5 -> 1751, 2250.25 -> 2250
    cfg = {**CFG, "window_placement": placement}
    result = _epoch(signal, _events(raw), cfg)["word"]

    bins = EpochWindows.from_config(cfg).bin_time_s()
    length = 20
    expected = np.empty((len(raw), 3, len(bins)))
    for e, anchor in enumerate([1000, 1001, 1751, 2250]):
        for b, t in enumerate(bins):
            start = anchor + int(round((t + shift_s) * RATE_HZ))
            expected[e, :, b] = signal[start : start + length].mean(axis=0)
            assert np.allclose(expected[e, :, b], np.arange(1, 4) * (start + (length - 1) / 2))
    assert result.response.dtype == np.float32
    assert result.response.shape == (4, 3, 21)
    np.testing.assert_allclose(result.response, expected, rtol=1e-6)
    assert list(result.event_id) == ["e000", "e001", "e002", "e003"]
    assert result.n_dropped == 0


@pytest.mark.parametrize("placement, at_onset", [("start", 1.0), ("center", 0.5), ("end", 0.0)])
def test_step_at_the_onset_gives_the_placements_fraction(placement, at_onset):
    signal = np.zeros((1000, 2), dtype=np.float32)
    signal[500:] = 1.0
    result = _epoch(signal, _events([2000]), {**CFG, "window_placement": placement})
    zero_bin = 10
    np.testing.assert_allclose(result["word"].response[0, :, zero_bin], at_onset)
    np.testing.assert_allclose(result["word"].response[0, :, 0], 0.0)
    np.testing.assert_allclose(result["word"].response[0, :, -1], 1.0)


def test_events_whose_window_leaves_the_recording_are_dropped_and_counted():
    signal = _ramp(1000)
    # Needs 50 samples before (-0.5 s) and 50 + 20 after: anchors 49 and 931 fail, 50 and 930 fit.
    raw = [49 * 4, 50 * 4, 930 * 4, 931 * 4]
    result = _epoch(signal, _events(raw), {**CFG, "window_placement": "start"})
    assert list(result["word"].event_id) == ["e001", "e002"]
    assert result["word"].n_dropped == 2


def test_invalid_events_are_skipped_and_alignments_split_in_onset_order():
    signal = _ramp(3000)
    events = _events(
        [8000, 4000, 6000, 5000],
        alignments=["word", "word", "scene", "word"],
        valid=[True, True, True, False],
    )
    result = _epoch(signal, events, CFG)
    assert list(result["word"].event_id) == ["e001", "e000"]
    assert list(result["scene"].event_id) == ["e002"]
    assert result["sentence"].response.shape == (0, 3, 21)
    assert result["word"].n_dropped == 0


def test_small_blocks_give_the_same_values_as_one_block_and_a_zarr_reader_works():
    rng = np.random.default_rng(0)
    signal = rng.standard_normal((5000, 4)).astype(np.float32)
    raw = np.sort(rng.integers(300, 4500 * 4, size=60))
    events = _events(raw)
    whole = _epoch(signal, events, CFG, block_mb=1e3)["word"]
    blocked = _epoch(signal, events, CFG, block_mb=1e-3)["word"]
    np.testing.assert_allclose(blocked.response, whole.response, rtol=1e-5, atol=1e-6)

    array = zarr.create_array(zarr.storage.MemoryStore(), shape=signal.shape, dtype="float32", chunks=(700, 4))
    array[:] = signal
    from_zarr = _epoch(array, events, CFG)["word"]
    np.testing.assert_array_equal(from_zarr.response, whole.response)


def test_event_samples_round_to_the_nearest_neural_sample():
    assert list(event_samples(np.array([0, 1, 2, 3, 4, 6]), 100.0, 400.0)) == [0, 0, 1, 1, 1, 2]


def test_bad_placement_is_a_one_line_error():
    with pytest.raises(ValueError, match="epochs.window_placement"):
        EpochWindows.from_config(schema_defaults("epochs", {"window_placement": "middle"}))
