"""vlencode.neural: montages, filters, channel checks and the streaming driver on small synthetic recordings."""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
import logging
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import yaml
import zarr
from schema_defaults import schema_defaults

from vlencode import store
from vlencode.datasets import DatasetError
from vlencode.datasets.base import Recording, split_label
from vlencode.neural import (
    PreprocessConfig,
    filters,
    make_plan,
    montage,
    preprocess_recording,
    stream,
    write_neural_store,
)
from vlencode.neural.quality import ChannelScan, RunningMoments, fill_nan_runs

ROOT = Path(__file__).resolve().parents[1]
#: Chunked and whole-array outputs agree to float32 FFT rounding: this fraction of the signal's largest magnitude.
CHUNK_TOLERANCE = 1e-5


class ArrayRecording(Recording):
    """An in-memory recording (60 Hz mains, as :func:`noise_recording`); ``fail_after`` reads raise mid-way."""

    line_freq_hz = 60.0
    line_freq_source = "the test's synthetic mains"

    def __init__(self, data: np.ndarray, rate_hz: float, labels: list[str], fail_after: int | None = None):
        self.path = Path("memory/sub_9_trial000.h5")
        self.data = np.asarray(data, dtype=np.float32)
        self.rate_hz = rate_hz
        self.n_samples = len(self.data)
        self.labels = list(labels)
        self.reads = 0
        self.fail_after = fail_after

    def read(self, start: int, stop: int) -> np.ndarray:
        self.reads += 1
        if self.fail_after is not None and self.reads > self.fail_after:
            raise OSError("simulated read failure")
        return self.data[max(start, 0) : min(stop, self.n_samples)].copy()


SHAFT_LABELS = [f"A{i}" for i in range(1, 7)] + [f"B{i}" for i in range(1, 5)]


def noise_recording(seconds=30.0, rate_hz=512.0, labels=SHAFT_LABELS, seed=0, line_uv=50.0):
    rng = np.random.default_rng(seed)
    n = int(seconds * rate_hz)
    t = np.arange(n) / rate_hz
    data = rng.normal(scale=20.0, size=(n, len(labels))) + line_uv * np.sin(2 * np.pi * 60 * t)[:, None]
    return ArrayRecording(data, rate_hz, labels)


def tones(freqs_amps: dict[float, float], seconds: float, rate_hz: float, channels: int, seed: int = 0) -> np.ndarray:
    """Sines plus a little noise (an exactly periodic signal repeats its extreme value, which reads as clipping)."""
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    clean = np.zeros(len(t)) + sum(a * np.sin(2 * np.pi * f * t) for f, a in freqs_amps.items())
    return clean[:, None] + np.random.default_rng(seed).normal(scale=0.1, size=(len(t), channels))


def run(recording, **cfg) -> zarr.Group:
    group = zarr.open_group(zarr.storage.MemoryStore(), mode="w", zarr_format=3)
    preprocess_recording(recording, schema_defaults("preprocess", cfg), group)
    return group


def amplitude(signal: np.ndarray, freq_hz: float, rate_hz: float) -> np.ndarray:
    """Amplitude of the ``freq_hz`` component of each column (least-squares sine/cosine fit)."""
    t = np.arange(len(signal)) / rate_hz
    basis = np.stack([np.sin(2 * np.pi * freq_hz * t), np.cos(2 * np.pi * freq_hz * t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, signal, rcond=None)
    return np.hypot(coef[0], coef[1])


# --- chunked == whole ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "cfg",
    [
        {},
        {"reference": "car", "despike": {"enabled": False}, "zscore": False},
        {"high_gamma": {"enabled": True, "envelope": True}, "rate_hz": 100},
        {"rate_hz": 512, "reference": "bipolar", "zscore": False, "despike": {"enabled": False}},
        {"rate_hz": 64, "reference": "none"},
    ],
    ids=["default", "car", "high-gamma-envelope", "no-resampling", "integer-decimation"],
)
def test_chunked_equals_whole(cfg):
    recording = noise_recording(seconds=40.0)
    chunked = run(recording, chunk_s=3.0, **cfg)["signal"][:]
    whole = run(recording, chunk_s=1000.0, **cfg)["signal"][:]
    assert chunked.shape == whole.shape
    assert np.isfinite(whole).all()
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=CHUNK_TOLERANCE * np.abs(whole).max())


def test_filter_stage_equals_direct_convolution():
    """With nothing but the notch, the output is the kernel convolved with the reflect-padded input."""
    recording = noise_recording(seconds=20.0)
    out = run(recording, rate_hz=512, reference="none", zscore=False, despike={"enabled": False}, chunk_s=4.0)
    kernel = filters.notch_kernel(512.0, 60.0, 360.0)
    half = len(kernel) // 2
    padded = np.pad(recording.data.astype(np.float64), ((half, half), (0, 0)), mode="reflect")
    expected = np.stack([np.convolve(padded[:, c], kernel, mode="valid") for c in range(padded.shape[1])], axis=1)
    np.testing.assert_allclose(out["signal"][:], expected, rtol=0, atol=1e-4 * np.abs(expected).max())


def test_polyphase_resample_equals_scipy_resample_poly():
    x = np.random.default_rng(1).normal(size=(2, 4000))
    for up, down in [(25, 32), (3, 2), (1, 3)]:
        kernel = filters.polyphase_kernel(up, down)
        reference = scipy.signal.resample_poly(x, up, down, axis=-1, window=kernel / up)
        got = filters.polyphase_resample(x[:, 150:], 150, kernel, up, down, 300, 400)
        np.testing.assert_allclose(got, reference[:, 300:700], atol=1e-12)


@pytest.mark.parametrize("factor", [1, 3, 8])
def test_frequency_domain_decimation_equals_time_domain(factor):
    x = np.random.default_rng(2).normal(size=(3, 5001))
    kernel = filters.antialias_kernel(2048.0, 200.0)
    full = np.stack([np.convolve(row, kernel, mode="valid") for row in x])
    np.testing.assert_allclose(filters.filter_decimate(x, kernel, factor), full[:, ::factor], atol=1e-10)


# --- filters ---------------------------------------------------------------------------------------------------------
def test_notch_removes_line_and_harmonics_and_keeps_other_frequencies():
    rate = 1024.0
    lines = {37.0: 10.0, 60.0: 100.0, 120.0: 50.0, 180.0: 30.0, 97.0: 10.0}
    data = tones(lines, 20.0, rate, 3)
    out = run(
        ArrayRecording(data, rate, ["A1", "A2", "A3"]),
        rate_hz=rate,
        reference="none",
        zscore=False,
        despike={"enabled": False},
        chunk_s=5.0,
    )["signal"][:]
    interior = out[int(2 * rate) : -int(2 * rate)]
    for freq, amp in lines.items():
        measured = amplitude(interior, freq, rate)
        if freq % 60 == 0:
            assert (measured < 0.01 * amp).all(), f"{freq} Hz only attenuated to {measured}"
        else:
            np.testing.assert_allclose(measured, amp, rtol=0.01)


def test_downsampling_attenuates_a_tone_above_the_new_nyquist():
    """2048 -> 200 Hz: a 150 Hz tone would alias to 50 Hz; it must be attenuated, a 20 Hz tone kept."""
    rate = 2048.0
    data = tones({150.0: 100.0, 20.0: 10.0}, 30.0, rate, 2)
    out = run(
        ArrayRecording(data, rate, ["A1", "A2"]),
        rate_hz=200,
        reference="none",
        zscore=False,
        despike={"enabled": False},
        chunk_s=7.0,
    )["signal"][:]
    assert out.shape[0] == int(np.ceil(len(data) * 200 / rate))
    interior = out[400:-400]
    assert (amplitude(interior, 50.0, 200.0) < 0.01 * 100).all()  # >= 40 dB below the aliased tone
    np.testing.assert_allclose(amplitude(interior, 20.0, 200.0), 10.0, rtol=0.01)


def test_high_gamma_envelope_tracks_the_amplitude_modulation():
    rate = 1024.0
    t = np.arange(int(20 * rate)) / rate
    modulation = 1 + 0.5 * np.sin(2 * np.pi * 2 * t)
    data = (40 * modulation * np.sin(2 * np.pi * 100 * t))[:, None] + tones({}, 20.0, rate, 2)
    out = run(
        ArrayRecording(data, rate, ["A1", "A2"]),
        rate_hz=128,
        reference="none",
        zscore=False,
        despike={"enabled": False},
        high_gamma={"enabled": True, "envelope": True},
        chunk_s=5.0,
    )["signal"][:]
    expected = 40 * modulation[::8][: len(out)]
    interior = slice(256, -256)
    assert np.corrcoef(out[interior, 0], expected[interior])[0, 1] > 0.99
    np.testing.assert_allclose(out[interior].mean(axis=0), 40.0, rtol=0.02)


# --- montages --------------------------------------------------------------------------------------------------------
def btbank1_labels() -> list[str]:
    root = Path(importlib.util.find_spec("neuroprobe").submodule_search_locations[0])
    with open(root / "mni_coords" / "btbank1_mni_coords.csv") as handle:
        return [row["electrode_label"] for row in csv.DictReader(handle)]


def test_laplacian_on_the_real_btbank1_montage():
    labels = btbank1_labels()
    derived = montage(labels, "laplacian")
    column = derived.weights[:, derived.labels.index("T2aA5")]
    expected = {"T2aA5": 1.0, "T2aA4": -0.5, "T2aA6": -0.5}
    assert {labels[i]: column[i] for i in np.flatnonzero(column)} == expected
    for end in ("T2aA12", "T2aA1", "F3bIaOFb16", "F3bIaOFb1", "T2d6", "T2d1"):
        assert end not in derived.labels and "neighbour" in derived.dropped[end]
    shafts = {label.rstrip("0123456789") for label in labels}
    assert len(derived.labels) == len(labels) - 2 * len(shafts)
    np.testing.assert_allclose(derived.weights.sum(axis=0), 0.0, atol=1e-6)


def test_laplacian_without_a_removed_neighbour_and_the_any_option():
    labels = [label for label in btbank1_labels() if label != "T2aA6"]
    both = montage(labels, "laplacian", "both")
    assert "T2aA5" not in both.labels and "T2aA7" not in both.labels and "T2aA4" in both.labels
    anyone = montage(labels, "laplacian", "any")
    column = anyone.weights[:, anyone.labels.index("T2aA5")]
    assert column[labels.index("T2aA4")] == -1.0 and "T2aA12" in anyone.labels


def test_bipolar_and_common_average():
    labels = ["A1", "A2", "A3", "B1", "EKG"]
    pairs = montage(labels, "bipolar")
    assert pairs.labels == ["A1-A2", "A2-A3"]
    assert set(pairs.dropped) == {"B1", "EKG"}
    block = np.arange(10, dtype=np.float32).reshape(5, 2)  # [channel, time]
    np.testing.assert_allclose(montage(labels, "car").apply(block), block - block.mean(axis=0), atol=1e-5)


@pytest.mark.parametrize(
    "labels",
    [
        ["LT1", "LT2", "LT2", "LT3", "LT4"],  # one label twice (two raw labels that clean to one)
        ["LT1", "LT2", "LT02", "LT3", "LT4"],  # two spellings of contact 2
        ["LT1", "LT02", "LT2", "LT002", "LT3", "LT4"],  # three
    ],
)
def test_a_contact_named_by_two_channels_is_nobodys_neighbour(labels):
    """Which column is contact LT2 is unknown: no derived channel may use either (LT3 once subtracted the wrong one)."""
    shared = [i for i, label in enumerate(labels) if split_label(label) == ("LT", 2)]
    for reference, neighbours in (("laplacian", "both"), ("laplacian", "any"), ("bipolar", "both")):
        derived = montage(labels, reference, neighbours)
        assert not derived.weights[shared].any(), (reference, neighbours)
        for i in shared:
            assert "named by more than one channel" in derived.dropped[labels[i]]
    anyone = montage(labels, "laplacian", "any")
    assert anyone.labels == ["LT3", "LT4"]
    column = anyone.weights[:, 0]
    assert {labels[i]: column[i] for i in np.flatnonzero(column)} == {"LT3": 1.0, "LT4": -1.0}
    assert montage(labels, "bipolar").labels == ["LT3-LT4"]
    assert "LT1" in montage(labels, "laplacian", "both").dropped


# --- channel quality -------------------------------------------------------------------------------------------------
def test_channel_scan_is_independent_of_chunking_and_names_each_bad_channel():
    rate = 512.0
    recording = noise_recording(seconds=20.0, line_uv=0.0)
    data = recording.data
    data[1000:1010, 0] = np.nan  # short gap: interpolated, kept
    data[3000:3100, 1] = np.nan  # 0.2 s: excluded
    data[:, 2] = 5.0  # flat
    data[::50, 3] = data[:, 3].max() + 100.0  # clipping at one value
    scans = []
    for chunk in (777, len(data)):
        scan = ChannelScan(recording.labels)
        for _, block in recording.chunks(chunk):
            scan.update(block)
        scans.append(scan.verdicts(rate, 0.05, 1e-3, 1e-4))
    assert scans[0] == scans[1]
    assert set(scans[0]) == {"A2", "A3", "A4"}
    assert "NaN run of 0.195" in scans[0]["A2"] and "flat" in scans[0]["A3"] and "saturated" in scans[0]["A4"]


def test_short_nan_gaps_are_interpolated_and_bad_channels_dropped_end_to_end():
    recording = noise_recording(seconds=20.0)
    recording.data[2000:2010, 0] = np.nan
    recording.data[:, 9] = 0.0  # B4 flat
    group = run(recording, chunk_s=3.0, reference="car")
    assert np.isfinite(group["signal"][:]).all()
    assert "B4" not in list(group["electrode"][:])
    assert "flat" in group.attrs["dropped_channels"]["B4"]


def test_channels_the_reader_left_out_are_recorded_with_the_dropped_ones():
    recording = noise_recording(seconds=10.0)
    recording.excluded = {"T1": "listed in corrupted_elec.json", "DC1": "analog input (DC), not neural"}
    group = run(recording, chunk_s=3.0, reference="car")
    dropped = group.attrs["dropped_channels"]
    assert dropped["T1"] == "listed in corrupted_elec.json" and dropped["DC1"] == "analog input (DC), not neural"


def test_fill_nan_runs_is_linear_between_neighbours():
    block = np.array([[0.0, np.nan, np.nan, 3.0, np.nan], [1, 1, 1, 1, 1]], dtype=np.float32)
    np.testing.assert_allclose(fill_nan_runs(block), [[0, 1, 2, 3, 3], [1, 1, 1, 1, 1]])


def test_running_moments_match_numpy_for_any_chunking():
    x = np.random.default_rng(3).normal(loc=1e4, scale=0.5, size=(1000, 3))
    moments = RunningMoments(3)
    for start in range(0, 1000, 97):
        moments.update(x[start : start + 97])
    np.testing.assert_allclose(moments.mean, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(moments.std, x.std(axis=0), rtol=1e-9)


# --- the store -------------------------------------------------------------------------------------------------------
def test_store_contract_zscore_and_despike(tmp_path):
    recording = noise_recording(seconds=30.0)
    recording.data[5000:5004, 1] += 5000.0  # a spike on A2
    path = tmp_path / "sub-9_trial-0.zarr"
    write_neural_store(
        recording, schema_defaults("preprocess", {"chunk_s": 4.0}), path, params={"preprocess": {"chunk_s": 4.0}}
    )
    group = store.open_zarr(path)
    signal = group["signal"]
    assert signal.dtype == np.float32 and signal.chunks == (800, signal.shape[1])
    assert group.attrs["rate_hz"] == 200.0 and group.attrs["source_rate_hz"] == 512.0
    assert list(group["electrode"][:]) == ["A2", "A3", "A4", "A5", "B2", "B3"]
    values = signal[:]
    np.testing.assert_allclose(values.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(values.std(axis=0), 1.0, atol=1e-4)
    assert 0 < group.attrs["clipped_fraction"]["A2"] < 0.01
    assert group.attrs["params"] == {"preprocess": {"chunk_s": 4.0}}


def test_same_config_gives_byte_identical_stores(tmp_path):
    recording = noise_recording(seconds=10.0)
    for name in ("a.zarr", "b.zarr"):
        write_neural_store(recording, schema_defaults("preprocess", {"chunk_s": 2.0}), tmp_path / name)
    assert store.content_sha256(tmp_path / "a.zarr") == store.content_sha256(tmp_path / "b.zarr")


# --- bad input -------------------------------------------------------------------------------------------------------
def test_rate_mismatch_is_a_one_line_error_naming_the_file():
    with pytest.raises(DatasetError, match=r"sub_9_trial000\.h5: recorded at 512 Hz but preprocess.source_rate_hz"):
        run(noise_recording(seconds=2.0), source_rate_hz=2048)
    with pytest.raises(DatasetError, match="exceeds the recording"):
        run(noise_recording(seconds=2.0), rate_hz=1000)


def test_no_electrode_left_is_a_one_line_error():
    recording = noise_recording(seconds=10.0, labels=["A1", "B1", "C1"])
    with pytest.raises(DatasetError, match="no electrode left") as error:
        run(recording)
    assert "\n" not in str(error.value)


def test_a_failure_midway_leaves_no_store_behind(tmp_path):
    recording = noise_recording(seconds=20.0)
    recording.fail_after = 12  # the scan reads 7 chunks; fail inside the filter pass
    path = tmp_path / "sub-9_trial-0.zarr"
    with pytest.raises(OSError, match="simulated"):
        write_neural_store(recording, schema_defaults("preprocess", {"chunk_s": 3.0}), path)
    assert list(tmp_path.iterdir()) == []


def test_damaged_samples_stop_preprocessing_with_the_channel_and_the_file_and_write_nothing(tmp_path):
    # Random bytes over part of one channel (a corrupted download) read as float32 up to 1e38: filtering them
    # overflowed and wrote every electrode as NaN, with only an amplitude warning.
    recording = noise_recording(seconds=20.0)
    recording.data[3000:7000, 3] = np.random.default_rng(1).integers(0, 256, 16000, dtype=np.uint8).view(np.float32)
    path = tmp_path / "sub-9_trial-0.zarr"
    with pytest.raises(
        DatasetError, match=r"sub_9_trial000\.h5: 1 channel\(s\) with samples beyond 1e\+12 uV: A4"
    ) as e:
        write_neural_store(recording, schema_defaults("preprocess", {"chunk_s": 3.0}), path)
    assert "\n" not in str(e.value) and "damaged, download it again" in str(e.value)
    assert list(tmp_path.iterdir()) == []
    # Volts declared as microvolts stay a warning (the header's unit), as the amplitude tests check.
    recording.data[3000:7000, 3] = 20.0 * 1e6
    assert np.isfinite(run(recording, chunk_s=3.0)["signal"][:]).all()


def test_config_section_parses_and_unknown_keys_are_rejected():
    section = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["preprocess"]
    cfg = PreprocessConfig.from_config(section)
    assert cfg.reference == section["reference"] and cfg.despike == section["despike"]["enabled"]
    assert make_plan(dataclasses.replace(cfg, line_freq_hz=60.0), 2048.0).decimation == 8
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['despike.window'\]"):
        PreprocessConfig.from_config({"despike": {"window": 3}})


def test_peak_memory_does_not_grow_with_recording_length(tmp_path, monkeypatch):
    """Traced allocations (NumPy reports to tracemalloc) peak at about the same level for a 4x longer recording, far
    below the recording's own size.

    The despike subsample is capped at 100k rows; the cap is lowered so that both lengths here exceed it.  Zarr writes
    asynchronously, so how many encoded chunks are in flight at the peak depends on scheduling (a loaded machine holds
    more): the bound allows that, while memory that grew with the length would be about 4x.
    """
    monkeypatch.setattr(stream, "_ROBUST_SAMPLE_ROWS", 1000)
    peaks = []
    for seconds in (30.0, 30.0, 120.0):  # the first run warms up lazy imports and caches
        recording = noise_recording(seconds=seconds, labels=[f"A{i}" for i in range(1, 33)])
        tracemalloc.start()
        write_neural_store(recording, schema_defaults("preprocess", {"chunk_s": 2.0}), tmp_path / f"{seconds}.zarr")
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[2] < 1.5 * peaks[1], peaks
    recording_bytes = 120.0 * 512 * 32 * 8  # float64 samples of the longer recording
    assert peaks[2] < recording_bytes / 3, (peaks, recording_bytes)


# --- real-world faults: line frequency, amplitudes, short recordings --------------------------------------------------
def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("vlencode")]


def test_line_frequency_auto_uses_the_recording_and_is_stored_with_the_notched_harmonics(caplog):
    recording = noise_recording(seconds=20.0)
    recording.line_freq_hz, recording.line_freq_source = 50.0, "its header"
    with caplog.at_level(logging.INFO, logger="vlencode"):
        group = run(recording, rate_hz=128, chunk_s=4.0)
    assert group.attrs["line_freq_hz"] == 50.0 and group.attrs["line_freq_source"] == "its header"
    assert group.attrs["notch_hz"] == [50.0, 100.0, 150.0, 200.0, 250.0]  # 300 Hz lies above the 256 Hz Nyquist
    assert "line frequency 50 Hz from its header" in caplog.text and not _warnings(caplog)
    explicit = run(recording, rate_hz=128, chunk_s=4.0, line_freq_hz=60, notch_max_hz=120)
    assert explicit.attrs["notch_hz"] == [60.0, 120.0]
    assert explicit.attrs["line_freq_source"] == "preprocess.line_freq_hz"
    assert "preprocess.line_freq_hz 60 Hz overrides the 50 Hz of its header" in _warnings(caplog)[0]


def test_line_frequency_auto_without_metadata_is_a_one_line_error():
    recording = noise_recording(seconds=20.0)
    recording.line_freq_hz = None
    with pytest.raises(DatasetError, match=r"sub_9_trial000\.h5: no line frequency in the recording's metadata"):
        run(recording)
    assert run(recording, line_freq_hz=60, chunk_s=5.0).attrs["line_freq_hz"] == 60.0


@pytest.mark.parametrize(
    ("scale", "verdict"),
    [(1e6, "1e+06 times too large"), (1e3, "1e+03 times too large"), (1e-6, "1e+06 times too small")],
)
def test_implausible_amplitudes_are_warned_with_the_range_and_the_file(scale, verdict, caplog):
    recording = noise_recording(seconds=10.0, line_uv=0.0)
    recording.data *= scale
    with caplog.at_level(logging.INFO, logger="vlencode"):
        try:
            run(recording, chunk_s=5.0)
        except DatasetError as error:  # scaled by 1e-6 every channel is flat: the warning comes first
            assert "no electrode left" in str(error)
    warnings = [m for m in _warnings(caplog) if "median channel standard deviation" in m]
    assert len(warnings) == 1, _warnings(caplog)
    assert warnings[0].startswith("memory/sub_9_trial000.h5: median channel standard deviation")
    assert verdict in warnings[0] and "1 uV to 10000 uV" in warnings[0]


def test_a_few_channels_with_implausible_amplitudes_are_named(caplog):
    recording = noise_recording(seconds=10.0, line_uv=0.0)
    recording.data[:, [2, 7]] *= 1e6  # A3 and B2 recorded in V but declared in uV
    with caplog.at_level(logging.INFO, logger="vlencode"):
        run(recording, chunk_s=5.0)
    warnings = _warnings(caplog)
    assert len(warnings) == 1 and warnings[0].startswith("memory/sub_9_trial000.h5: 2 channel(s) with a standard")
    assert "A3 (2e+07 uV), B2 (2e+07 uV)" in warnings[0] and "median channel has 20 uV" in warnings[0]


def test_plausible_amplitudes_give_no_warning(caplog):
    with caplog.at_level(logging.INFO, logger="vlencode"):
        run(noise_recording(seconds=10.0), chunk_s=5.0)
    assert _warnings(caplog) == []


@pytest.mark.parametrize(
    "cfg", [{}, {"high_gamma": {"enabled": True, "envelope": True}, "rate_hz": 100}], ids=["default", "high-gamma"]
)
def test_a_recording_shorter_than_the_filter_is_a_one_line_error(cfg, tmp_path):
    plan = make_plan(PreprocessConfig.from_config(schema_defaults("preprocess", cfg | {"line_freq_hz": 60})), 2048.0)
    short = noise_recording(seconds=1.0, rate_hz=2048.0)
    path = tmp_path / "short.zarr"
    with pytest.raises(DatasetError, match=r"sub_9_trial000\.h5: 1\.000 s \(2048 samples\) is shorter than") as error:
        write_neural_store(short, schema_defaults("preprocess", cfg), path)
    assert f"{plan.support / 2048.0:.3f} s ({plan.support} samples)" in str(error.value)
    assert "\n" not in str(error.value) and not path.exists()
    just_long_enough = noise_recording(seconds=plan.support / 2048.0 + 0.01, rate_hz=2048.0)
    assert np.isfinite(run(just_long_enough, **cfg)["signal"][:]).all()
