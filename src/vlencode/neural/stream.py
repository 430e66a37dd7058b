"""Streaming preprocessing of one recording into the neural Zarr store, in memory bounded by the chunk length.

Passes over the data:

1. **Scan** the raw recording chunk by chunk for NaN runs, flat and saturated channels (:class:`ChannelScan`); the
   excluded channels are known before any re-referencing.
2. **Filter** output block by output block.  Each block reads the raw samples it needs plus a margin on both sides
   (edges of the recording are mirrored), fills short NaN gaps, applies one zero-phase FIR at the source rate
   (notch, and the anti-alias low-pass or the high-gamma band), optionally takes the high-gamma amplitude envelope
   and low-passes it, decimates by an integer factor, re-references and resamples polyphase to ``rate_hz``
   (re-referencing is linear, so it commutes with the filters; with the envelope it comes before it).  Every step
   has finite support inside the margin, so the blocks equal a whole-array computation.
3. **Normalise** (optional) the written signal in place: despike by clipping to robust limits, z-score each
   electrode.  The statistics come from the whole output (running moments, a strided subsample for the median/MAD).

Peak memory is a few copies of one block (``chunk_s`` seconds x channels) whatever the recording's length.
"""

from __future__ import annotations

import enum
import logging
import math
import os
import sys
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields, replace
from typing import Any, TypeVar

import numpy as np
import zarr
from tqdm import tqdm

from vlencode import store
from vlencode.config import ConfigError
from vlencode.datasets.base import DOWNLOAD_AGAIN, DatasetError, Recording
from vlencode.neural import filters
from vlencode.neural.montage import Montage, montage, numbered_surface_contacts
from vlencode.neural.quality import (
    ChannelScan,
    RunningMoments,
    amplitude_problem,
    damaged_channels,
    fill_nan_runs,
    robust_limits,
)
from vlencode.stores import neural as neural_store

log = logging.getLogger("vlencode.neural")

T = TypeVar("T")


class _End(enum.Enum):
    """The end of an iterator, as :func:`prefetch` receives it from its thread (an enum, so a type can name it)."""

    END = enum.auto()


_END = _End.END
#: Rows of the output kept for the despike median/MAD: enough for a precise quantile, bounded in memory.
_ROBUST_SAMPLE_ROWS = 100_000


@dataclass(frozen=True)
class PreprocessConfig:
    """The ``preprocess`` config section (keys documented in config/README.md, defaults in the config schema).

    ``line_freq_hz`` is a frequency or ``"auto"`` (the recording's own metadata, :func:`line_frequency`).
    """

    line_freq_hz: float | str
    notch_max_hz: float
    notch_trans_bandwidth_hz: float
    reference: str
    laplacian_neighbours: str
    high_gamma: bool
    high_gamma_band_hz: tuple[float, float]
    envelope: bool
    despike: bool
    despike_threshold_mad: float
    zscore: bool
    rate_hz: float
    chunk_s: float
    source_rate_hz: float | None
    flat_tolerance_uv: float
    max_nan_gap_s: float
    saturation_fraction: float

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> PreprocessConfig:
        """Build from the canonical ``preprocess`` mapping (:func:`vlencode.config.canonical_config`: the schema's
        defaults filled in), flattening ``high_gamma`` and ``despike``; flat field names are accepted too.

        Raises
        ------
        ValueError
            An unknown key, or a missing one (a section that did not go through the schema's defaults).
        """
        flat: dict[str, Any] = {}
        unknown: list[str] = []
        for key, value in section.items():
            if isinstance(value, Mapping):
                for sub, item in value.items():
                    name = _NESTED_KEYS.get((key, sub))
                    if name is None:
                        unknown.append(f"{key}.{sub}")
                    else:
                        flat[name] = item
            else:
                flat[key] = value
        unknown += sorted(set(flat) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"preprocess: unknown key(s) {unknown}; see config/README.md")
        missing = [f.name for f in fields(cls) if f.name not in flat]
        if missing:
            raise ValueError(f"preprocess: missing key(s) {missing}; fill the schema's defaults (canonical_config)")
        flat["high_gamma_band_hz"] = tuple(flat["high_gamma_band_hz"])
        if flat["line_freq_hz"] != "auto":
            flat["line_freq_hz"] = float(flat["line_freq_hz"])
        return cls(**flat)


_NESTED_KEYS = {
    ("high_gamma", "enabled"): "high_gamma",
    ("high_gamma", "band_hz"): "high_gamma_band_hz",
    ("high_gamma", "envelope"): "envelope",
    ("despike", "enabled"): "despike",
    ("despike", "threshold_mad"): "despike_threshold_mad",
}


@dataclass(frozen=True)
class Plan:
    """The filter chain and block geometry for one source rate (see the module docstring for the order).

    Attributes
    ----------
    kernel : np.ndarray
        Zero-phase FIR at the source rate; complex (analytic) when the high-gamma envelope is taken.
    envelope_kernel : np.ndarray or None
        Anti-alias low-pass applied to the envelope at the source rate.
    decimation : int
        Integer factor applied after the source-rate filtering.
    up, down : int
        Polyphase ratio from the decimated rate to ``rate_hz`` (1, 1 when decimation alone reaches it).
    resample_kernel : np.ndarray or None
        The polyphase interpolation kernel.
    block : int
        Output samples per block (and per Zarr chunk).
    notch_hz : tuple of float
        The line frequency and harmonics the notch removes (those below the source Nyquist frequency).
    """

    source_rate_hz: float
    rate_hz: float
    notch_hz: tuple[float, ...]
    kernel: np.ndarray
    envelope_kernel: np.ndarray | None
    decimation: int
    up: int
    down: int
    resample_kernel: np.ndarray | None
    block: int
    nan_margin: int

    def output_length(self, n_samples: int) -> int:
        """Output samples for ``n_samples`` source samples (``ceil(n * rate / source_rate)``, as resample_poly)."""
        return -(-n_samples * self.up // (self.down * self.decimation))

    @property
    def resample_margin(self) -> int:
        """Decimated samples needed on each side of a block by the polyphase stage."""
        if self.resample_kernel is None:
            return 0
        return -(-(len(self.resample_kernel) // 2) // self.up) + 1

    @property
    def support(self) -> int:
        """Source samples one output sample depends on: the length of the whole chain's combined kernel."""
        envelope = 0 if self.envelope_kernel is None else len(self.envelope_kernel) // 2
        resample = 0 if self.resample_kernel is None else len(self.resample_kernel) // 2 // self.up * self.decimation
        return 2 * (len(self.kernel) // 2 + envelope + resample) + 1

    @property
    def filter_margin(self) -> int:
        """Source samples needed on each side by the source-rate FIR stages and the NaN filling."""
        envelope = 0 if self.envelope_kernel is None else len(self.envelope_kernel) // 2
        return len(self.kernel) // 2 + envelope + self.nan_margin

    def source_span(self, first: int, stop: int) -> tuple[int, int, int]:
        """For output samples ``first:stop``: the raw sample range to read and the decimated index it starts at."""
        margin = self.resample_margin
        low = first * self.down // self.up - margin
        high = -(-stop * self.down // self.up) + margin
        return low * self.decimation - self.filter_margin, high * self.decimation + self.filter_margin, low

    def process(
        self, raw: np.ndarray, derived: Montage, decimated_base: int, first: int, count: int, workers: int = 1
    ) -> np.ndarray:
        """Output samples ``first : first + count`` (``[electrode, time]``) from the padded raw block
        (``[channel, time]``, NaN gaps filled) of :meth:`source_span`.

        Re-referencing is linear and the same filter is applied to every channel, so the two commute: without the
        (non-linear) envelope the montage is applied after decimation, where it costs ``decimation`` times less.
        """
        if self.envelope_kernel is None:
            decimated = derived.apply(filters.filter_decimate(raw, self.kernel, self.decimation, workers))
        else:
            analytic = filters.filter_valid(derived.apply(raw), self.kernel, workers)
            envelope = np.abs(analytic).astype(np.float32)
            decimated = filters.filter_decimate(envelope, self.envelope_kernel, self.decimation, workers)
        if self.resample_kernel is None:
            return decimated[:, first - decimated_base : first - decimated_base + count]
        return filters.polyphase_resample(
            decimated, decimated_base, self.resample_kernel, self.up, self.down, first, count
        )


def check_preprocess_config(preprocess: Mapping[str, Any], source: str = "config") -> None:
    """Refuse at start-up, from the canonical config's ``preprocess`` section, an output rate above a configured
    ``source_rate_hz``, which :func:`make_plan` would refuse only in every preprocess job.

    Raises
    ------
    ConfigError
        One line naming the keys and the fix, prefixed by ``source`` (the config file).
    """
    cfg = PreprocessConfig.from_config(preprocess)
    if cfg.source_rate_hz is not None and cfg.rate_hz > cfg.source_rate_hz:
        raise ConfigError(
            f"{source}: preprocess.rate_hz {cfg.rate_hz:g} exceeds preprocess.source_rate_hz {cfg.source_rate_hz:g}; "
            "lower rate_hz (the recordings cannot be upsampled)"
        )


def line_frequency(configured: float | str, recording: Recording) -> tuple[float, str]:
    """The mains frequency to notch out of ``recording`` and where it comes from.

    ``"auto"`` takes the recording's own metadata (BIDS ``PowerLineFrequency``, the Brain Treebank's US mains); a
    number overrides it, with a warning when the metadata disagrees.

    Raises
    ------
    DatasetError
        ``"auto"`` for a recording whose format carries no line frequency.
    """
    known = recording.line_freq_hz
    if configured == "auto":
        if known is None:
            raise DatasetError(
                f"{recording.path}: no line frequency in the recording's metadata ({recording.line_freq_source}); "
                "set preprocess.line_freq_hz to the mains frequency where it was recorded (50 or 60)"
            )
        log.info("%s: line frequency %g Hz from %s", recording.path, known, recording.line_freq_source)
        return float(known), recording.line_freq_source
    value = float(configured)
    if known is not None and not math.isclose(value, known):
        log.warning(
            "%s: preprocess.line_freq_hz %g Hz overrides the %g Hz of %s; %g Hz and its harmonics are notched",
            recording.path,
            value,
            known,
            recording.line_freq_source,
            value,
        )
    return value, "preprocess.line_freq_hz"


def make_plan(cfg: PreprocessConfig, source_rate_hz: float, path: os.PathLike | str = "recording") -> Plan:
    """Design the filter chain of ``cfg`` for a recording at ``source_rate_hz``; bad rates are one-line errors.

    ``cfg.line_freq_hz`` must be a frequency here (resolve ``"auto"`` with :func:`line_frequency` first).
    """
    line_freq_hz = cfg.line_freq_hz
    if isinstance(line_freq_hz, str):
        raise ValueError(f"make_plan: resolve preprocess.line_freq_hz {line_freq_hz!r} with line_frequency() first")
    if cfg.source_rate_hz is not None and not math.isclose(source_rate_hz, cfg.source_rate_hz):
        raise DatasetError(
            f"{path}: recorded at {source_rate_hz:g} Hz but preprocess.source_rate_hz is {cfg.source_rate_hz:g}; "
            "set preprocess.source_rate_hz to the recording's rate (or null to accept any)"
        )
    if cfg.rate_hz > source_rate_hz:
        raise DatasetError(
            f"{path}: preprocess.rate_hz {cfg.rate_hz:g} exceeds the recording's {source_rate_hz:g} Hz; lower rate_hz"
        )
    up, down = filters.rational_ratio(cfg.rate_hz, source_rate_hz)
    resampled = (up, down) != (1, 1)
    if cfg.high_gamma and not cfg.envelope and resampled and cfg.high_gamma_band_hz[1] >= 0.4 * cfg.rate_hz:
        raise ValueError(
            f"preprocess.high_gamma.band_hz reaches {cfg.high_gamma_band_hz[1]:g} Hz, above what rate_hz "
            f"{cfg.rate_hz:g} can hold; set high_gamma.envelope: true or raise rate_hz"
        )
    notch_args = (source_rate_hz, line_freq_hz, cfg.notch_max_hz, cfg.notch_trans_bandwidth_hz)
    notch = filters.notch_kernel(*notch_args)
    antialias = filters.antialias_kernel(source_rate_hz, cfg.rate_hz) if resampled else np.ones(1)
    envelope_kernel = None
    if cfg.high_gamma and cfg.envelope:
        kernel = filters.analytic_kernel(
            filters.compose(notch, filters.bandpass_kernel(source_rate_hz, cfg.high_gamma_band_hz))
        )
        envelope_kernel = antialias.astype(np.float32)
    elif cfg.high_gamma:
        kernel = filters.compose(notch, filters.bandpass_kernel(source_rate_hz, cfg.high_gamma_band_hz), antialias)
    else:
        kernel = filters.compose(notch, antialias)
    # Decimate by the largest divisor of `down` that keeps the intermediate rate at or above rate_hz: the anti-alias
    # low-pass already removed everything above the final Nyquist frequency, so only a short polyphase stage remains.
    decimation = max(d for d in range(1, down + 1) if down % d == 0 and source_rate_hz / d >= cfg.rate_hz)
    down //= decimation
    resample_kernel = filters.polyphase_kernel(up, down) if (up, down) != (1, 1) else None
    block = max(up, round(cfg.chunk_s * cfg.rate_hz) // up * up)
    return Plan(
        source_rate_hz=source_rate_hz,
        rate_hz=cfg.rate_hz,
        notch_hz=tuple(float(f) for f in filters.notch_frequencies(*notch_args)),
        kernel=kernel if np.iscomplexobj(kernel) else kernel.astype(np.float32),
        envelope_kernel=envelope_kernel,
        decimation=decimation,
        up=up,
        down=down,
        resample_kernel=resample_kernel,
        block=block,
        nan_margin=2 * math.ceil(cfg.max_nan_gap_s * source_rate_hz) + 2,
    )


def read_mirrored(recording: Recording, start: int, stop: int, columns: np.ndarray) -> np.ndarray:
    """Raw samples ``start:stop`` of ``columns`` as ``[channel, time]``; indices outside the recording are mirrored
    back into it (MNE's reflect padding), so blocks at the edges see the same padding as a whole-array computation."""
    n = recording.n_samples
    index = np.abs(np.arange(start, stop))
    index = np.clip(np.where(index >= n, 2 * (n - 1) - index, index), 0, n - 1)
    low, high = int(index.min()), int(index.max()) + 1
    block = recording.read(low, high).T
    if len(columns) < block.shape[0]:
        block = block[columns]
    if start < 0 or stop > n:
        block = block[:, index - low]
    return np.ascontiguousarray(block, dtype=np.float32)


def check_length(recording: Recording, plan: Plan) -> None:
    """Refuse a recording shorter than the filter chain: each of its output samples would depend on padding.

    MNE warns on the same condition (``filter_length ... is longer than the signal``); here the output would be a
    finite store that differs from the same seconds filtered inside a longer recording, so it is an error.
    """
    if recording.n_samples >= plan.support:
        return
    rate = recording.rate_hz
    raise DatasetError(
        f"{recording.path}: {recording.n_samples / rate:.3f} s ({recording.n_samples} samples) is shorter than the "
        f"preprocessing filter, {plan.support / rate:.3f} s ({plan.support} samples) of notch, band and resampling "
        "kernels combined, so every output sample would depend on edge padding; leave the recording out of "
        "dataset.recordings or widen preprocess.notch_trans_bandwidth_hz (the notch is the longest kernel)"
    )


def scan_channels(recording: Recording, cfg: PreprocessConfig, progress: bool = False) -> dict[str, str]:
    """Pass 1: the channels to exclude, with reasons (see :meth:`ChannelScan.verdicts`)."""
    scan = ChannelScan(recording.labels)
    chunk = max(1, round(cfg.chunk_s * recording.rate_hz))
    for _, block in tqdm(
        prefetch(recording.chunks(chunk)),
        total=-(-recording.n_samples // chunk),
        desc="scan",
        file=sys.stderr,
        disable=not progress,
    ):
        scan.update(block)
    damaged = damaged_channels(scan)
    if damaged:
        raise DatasetError(
            f"{recording.path}: {damaged}, which no recording holds in any unit; the file is damaged, {DOWNLOAD_AGAIN}"
        )
    problem = amplitude_problem(scan.moments.std, recording.labels, cfg.flat_tolerance_uv)
    if problem:
        log.warning("%s: %s", recording.path, problem)
    return scan.verdicts(recording.rate_hz, cfg.max_nan_gap_s, cfg.flat_tolerance_uv, cfg.saturation_fraction)


def preprocess_recording(
    recording: Recording,
    cfg: PreprocessConfig | Mapping[str, Any],
    group: zarr.Group,
    *,
    workers: int = 1,
    progress: bool = False,
) -> dict[str, Any]:
    """Preprocess ``recording`` into ``group`` (the neural store contract) and return a summary for the log.

    Writes ``signal[time, electrode]`` float32 at ``rate_hz``, ``electrode[electrode]`` labels and the group
    attributes ``rate_hz``, ``source_rate_hz`` (signal index ``i`` is raw sample ``i * source_rate_hz / rate_hz``),
    ``line_freq_hz`` (the mains frequency removed), ``line_freq_source`` (where it came from), ``notch_hz`` (the
    harmonics notched), ``dropped_channels`` (label -> reason) and ``clipped_fraction`` (per electrode, from
    despiking).  A channel amplitude outside what intracranial recordings show is logged as a warning
    (:func:`~vlencode.neural.quality.amplitude_problem`).

    Parameters
    ----------
    recording : Recording
        Read lazily, never whole.
    cfg : PreprocessConfig or mapping
        The ``preprocess`` config section.
    group : zarr.Group
        A fresh group, normally from :func:`vlencode.store.atomic_zarr`.
    workers : int
        FFT threads; results do not depend on it.

    Raises
    ------
    DatasetError
        A recording shorter than the filter chain (:func:`check_length`), ``line_freq_hz: auto`` without metadata,
        a rate other than ``source_rate_hz``, samples no recording holds (damaged bytes,
        :func:`~vlencode.neural.quality.damaged_channels`), or no electrode left.
    """
    if not isinstance(cfg, PreprocessConfig):
        cfg = PreprocessConfig.from_config(cfg)
    line_freq_hz, line_freq_source = line_frequency(cfg.line_freq_hz, recording)
    plan = make_plan(replace(cfg, line_freq_hz=line_freq_hz), recording.rate_hz, recording.path)
    check_length(recording, plan)
    excluded = scan_channels(recording, cfg, progress)
    kept = np.array([i for i, label in enumerate(recording.labels) if label not in excluded], dtype=np.int64)
    derived = montage([recording.labels[i] for i in kept], cfg.reference, cfg.laplacian_neighbours)
    surface = numbered_surface_contacts([recording.labels[i] for i in kept], recording.types, cfg.reference)
    if surface:
        log.warning(
            "%s: %d ECOG contacts (%s) are re-referenced by %s with their neighbours by contact number, which are "
            "neighbours along a strip but not across a grid's rows; for grids set preprocess.reference: car",
            recording.path,
            len(surface),
            ", ".join(surface[:5]) + (", ..." if len(surface) > 5 else ""),
            cfg.reference,
        )
    for label, reason in {**excluded, **derived.dropped}.items():
        log.info("%s: dropped %s (%s)", recording.path, label, reason)
    # The reader's exclusions (logged by the reader) join the store's record, so QC lists every channel left out.
    dropped = {**recording.excluded, **excluded, **derived.dropped}
    if not derived.labels:
        raise DatasetError(
            f"{recording.path}: no electrode left after quality checks and {cfg.reference!r} re-referencing; "
            "inspect the dropped channels in the log or choose another preprocess.reference"
        )
    n_out = plan.output_length(recording.n_samples)
    width = len(derived.labels)
    signal = neural_store.create_signal(group, n_out, width, plan.block)
    moments, robust_rows = _filter_pass(recording, plan, kept, derived, signal, workers, progress)
    clipped = np.zeros(width)
    if cfg.despike:
        low, high = robust_limits(np.concatenate(robust_rows), cfg.despike_threshold_mad)
        moments, clipped = _clip_statistics(signal, plan.block, low, high)
    else:
        low, high = np.full(width, -np.inf), np.full(width, np.inf)
    if cfg.despike or cfg.zscore:
        _normalise(signal, plan.block, low, high, moments if cfg.zscore else None)
    neural_store.write_metadata(
        group,
        electrodes=derived.labels,
        rate_hz=cfg.rate_hz,
        source_rate_hz=recording.rate_hz,
        line_freq_hz=line_freq_hz,
        line_freq_source=line_freq_source,
        notch_hz=plan.notch_hz,
        dropped_channels=dropped,
        clipped_fraction=dict(zip(derived.labels, clipped.round(8).tolist(), strict=True)),
    )
    summary = {
        "source_channels": len(recording.labels),
        "electrodes": width,
        "dropped": len(dropped),
        "samples": n_out,
        "clipped_fraction": float(clipped.mean()),
    }
    log.info("%s: %s", recording.path, summary)
    return summary


def write_neural_store(
    recording: Recording,
    cfg: Mapping[str, Any],
    path: str | os.PathLike,
    *,
    params: Mapping[str, Any] | None = None,
    inputs: Mapping[str, str] | None = None,
    workers: int = 1,
    progress: bool = False,
) -> dict[str, Any]:
    """:func:`preprocess_recording` into a new store at ``path``, written atomically (nothing left on failure)."""
    with store.atomic_zarr(path, params, inputs) as group:
        return preprocess_recording(recording, cfg, group, workers=workers, progress=progress)


def _filter_pass(
    recording: Recording,
    plan: Plan,
    kept: np.ndarray,
    derived: Montage,
    signal: zarr.Array,
    workers: int,
    progress: bool,
) -> tuple[RunningMoments, list[np.ndarray]]:
    """Pass 2: write every output block; return the output's moments and the strided rows for robust limits."""
    n_out = signal.shape[0]
    stride = max(1, -(-n_out // _ROBUST_SAMPLE_ROWS))
    moments, robust_rows = RunningMoments(signal.shape[1]), []

    def padded_blocks():
        for first in range(0, n_out, plan.block):
            stop = min(first + plan.block, n_out)
            low, high, decimated_base = plan.source_span(first, stop)
            raw = fill_nan_runs(read_mirrored(recording, low, high, kept))
            yield first, stop, decimated_base, raw[:, plan.nan_margin : high - low - plan.nan_margin]

    blocks = prefetch(padded_blocks())
    for first, stop, decimated_base, raw in tqdm(
        blocks, total=-(-n_out // plan.block), desc="filter", file=sys.stderr, disable=not progress
    ):
        block = plan.process(raw, derived, decimated_base, first, stop - first, workers).T.astype(np.float32)
        signal[first:stop] = block
        moments.update(block)
        robust_rows.append(block[(-first) % stride :: stride].copy())  # a view would keep the whole block alive
    return moments, robust_rows


def prefetch(items: Iterator[T]) -> Iterator[T]:
    """Yield ``items`` while a background thread already produces the next one.

    Reading a block (HDF5, mostly holding the GIL) then overlaps with filtering the previous one (NumPy and the FFT
    release it), so two cores are both busy; memory holds at most one extra block.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(next, items, _END)
        while True:
            item = pending.result()
            if item is _END:
                return
            pending = pool.submit(next, items, _END)
            yield item


def _clip_statistics(
    signal: zarr.Array, block: int, low: np.ndarray, high: np.ndarray
) -> tuple[RunningMoments, np.ndarray]:
    """Moments of the clipped signal and the fraction of samples clipped, per electrode (read-only pass)."""
    moments, clipped = RunningMoments(signal.shape[1]), np.zeros(signal.shape[1])
    for first in range(0, signal.shape[0], block):
        values = signal[first : first + block]
        clipped += ((values < low) | (values > high)).sum(axis=0)
        moments.update(np.clip(values, low, high))
    return moments, clipped / max(signal.shape[0], 1)


def _normalise(
    signal: zarr.Array, block: int, low: np.ndarray, high: np.ndarray, moments: RunningMoments | None
) -> None:
    """Clip to ``[low, high]`` and, with ``moments``, z-score each electrode, rewriting the array in place."""
    if moments is not None:
        mean = moments.mean.astype(np.float32)
        # A constant derived channel stays constant (0) rather than becoming NaN.
        scale = np.where(moments.std > 0, moments.std, 1.0).astype(np.float32)
    for first in range(0, signal.shape[0], block):
        values = np.clip(signal[first : first + block], low.astype(np.float32), high.astype(np.float32))
        if moments is not None:
            values = (values - mean) / scale
        signal[first : first + block] = values.astype(np.float32)
