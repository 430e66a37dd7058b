"""Channel quality: a streaming scan for NaN runs, flat and saturated channels; NaN-gap filling; running moments.

The scan reads the raw recording once, chunk by chunk, and keeps a few numbers per channel, so its memory does not
depend on the recording's length.  Its verdicts decide which channels enter re-referencing, which must be known
before any derived channel is computed (a Laplacian needs its neighbours for the whole recording).
"""

from __future__ import annotations

import numpy as np


class RunningMoments:
    """Per-column count, mean and sum of squared deviations, merged chunk by chunk (Chan et al.) in float64.

    Exact for any chunking up to float64 rounding, and free of the cancellation of a raw sum of squares (a flat
    channel at a large offset still reports a zero standard deviation).
    """

    def __init__(self, n_columns: int):
        self.count = np.zeros(n_columns)
        self.mean = np.zeros(n_columns)
        self.m2 = np.zeros(n_columns)

    def update(self, block: np.ndarray) -> bool:
        """Add the finite values of a ``[time, column]`` block; return whether every value was finite."""
        column_sum = block.sum(axis=0, dtype=np.float64)
        all_finite = bool(np.isfinite(column_sum).all())  # a NaN or an infinity makes its column's sum non-finite
        if all_finite:
            count = np.full(block.shape[1], float(len(block)))
            mean = column_sum / max(len(block), 1)
            m2 = np.square(block - mean.astype(block.dtype)).sum(axis=0, dtype=np.float64)
        else:
            finite = np.isfinite(block)
            count = finite.sum(axis=0).astype(np.float64)
            values = np.where(finite, block, 0).astype(np.float64)
            mean = values.sum(axis=0) / np.maximum(count, 1)
            m2 = (np.where(finite, values - mean, 0.0) ** 2).sum(axis=0)
        total = self.count + count
        delta = mean - self.mean
        weight = np.divide(count, total, out=np.zeros_like(total), where=total > 0)
        self.mean = self.mean + delta * weight
        self.m2 = self.m2 + m2 + delta**2 * self.count * weight
        self.count = total
        return all_finite

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation per column (0 for an empty column)."""
        return np.sqrt(np.divide(self.m2, self.count, out=np.zeros_like(self.m2), where=self.count > 0))


class ChannelScan:
    """Streaming per-channel statistics of a raw recording, for :meth:`verdicts`.

    Parameters
    ----------
    labels : list of str
        The recording's channels, in column order.
    """

    def __init__(self, labels: list[str]):
        n = len(labels)
        self.labels = list(labels)
        self.samples = 0
        self.moments = RunningMoments(n)
        self.nan_count = np.zeros(n, dtype=np.int64)
        self.longest_nan_run = np.zeros(n, dtype=np.int64)
        self._open_nan_run = np.zeros(n, dtype=np.int64)
        self.maximum = np.full(n, -np.inf)
        self.minimum = np.full(n, np.inf)
        self.at_maximum = np.zeros(n, dtype=np.int64)
        self.at_minimum = np.zeros(n, dtype=np.int64)

    def update(self, block: np.ndarray) -> None:
        """Add the next consecutive ``[time, channel]`` block of the recording."""
        self.samples += len(block)
        if self.moments.update(block):
            self._update_extremes(block, block.max(axis=0), block.min(axis=0))
            self._open_nan_run[:] = 0
            return
        missing = ~np.isfinite(block)
        holes = np.flatnonzero(missing.any(axis=0))
        self.nan_count[holes] += missing[:, holes].sum(axis=0)
        trailing = np.zeros(len(self.labels), dtype=np.int64)
        for column in holes:
            gap = missing[:, column]
            runs = _run_lengths(gap)
            if gap[0]:
                runs[0] += self._open_nan_run[column]
            self.longest_nan_run[column] = max(self.longest_nan_run[column], runs.max())
            trailing[column] = runs[-1] if gap[-1] else 0
        # A run still open at the block's end continues into the next block.
        self._open_nan_run = np.where(missing[-1], trailing, 0)
        self._update_extremes(
            block, np.where(missing, -np.inf, block).max(axis=0), np.where(missing, np.inf, block).min(axis=0)
        )

    def _update_extremes(self, block: np.ndarray, high: np.ndarray, low: np.ndarray) -> None:
        """Track each channel's extreme values and how many samples sit exactly at them.

        A new extreme restarts its count; an equal one adds to it.
        """
        self.at_maximum = np.where(high > self.maximum, 0, self.at_maximum)
        self.at_maximum += (block == np.maximum(high, self.maximum)).sum(axis=0)
        self.at_minimum = np.where(low < self.minimum, 0, self.at_minimum)
        self.at_minimum += (block == np.minimum(low, self.minimum)).sum(axis=0)
        self.maximum = np.maximum(self.maximum, high)
        self.minimum = np.minimum(self.minimum, low)

    def verdicts(
        self, rate_hz: float, max_nan_gap_s: float, flat_tolerance_uv: float, saturation_fraction: float
    ) -> dict[str, str]:
        """Channels to exclude, each with a one-line reason.

        A channel is excluded when it has a NaN run longer than ``max_nan_gap_s`` (shorter runs are filled by linear
        interpolation, :func:`fill_nan_runs`), when its standard deviation is below ``flat_tolerance_uv``, or when at
        least ``saturation_fraction`` of its samples (and at least 10) sit exactly at its maximum or its minimum, the
        signature of an amplifier clipping at its range.
        """
        out = {}
        std = self.moments.std
        limit = max(10, int(np.ceil(saturation_fraction * self.samples)))
        for i, label in enumerate(self.labels):
            if self.nan_count[i] == self.samples:
                out[label] = "no finite sample"
            elif self.longest_nan_run[i] > max_nan_gap_s * rate_hz:
                out[label] = f"NaN run of {self.longest_nan_run[i] / rate_hz:.3f} s (> max_nan_gap_s {max_nan_gap_s})"
            elif std[i] < flat_tolerance_uv:
                out[label] = f"flat: std {std[i]:.3g} uV < flat_tolerance_uv {flat_tolerance_uv}"
            elif max(self.at_maximum[i], self.at_minimum[i]) >= limit:
                value = self.maximum[i] if self.at_maximum[i] >= self.at_minimum[i] else self.minimum[i]
                count = max(self.at_maximum[i], self.at_minimum[i])
                out[label] = f"saturated: {count} samples at {value:.6g} uV"
        return out


#: A sample beyond this many uV (a million volts) is no measurement in any unit a header could have mistaken (volts
#: declared as microvolts make a 100 uV channel 1e8 uV): the file's bytes are damaged.  Random bytes read as float32
#: reach 1e38, whose filtering overflows float32 and spreads NaN to every electrode a re-reference mixes it into.
DAMAGED_UV = 1e12


def damaged_channels(scan: ChannelScan) -> str | None:
    """The channels of a scanned recording holding a sample beyond :data:`DAMAGED_UV`, with their largest value, as
    one line (None when there is none)."""
    largest = np.maximum(np.abs(scan.maximum), np.abs(scan.minimum))
    largest = np.where(np.isfinite(largest), largest, 0.0)  # a channel without a finite sample has +-inf extremes
    damaged = np.flatnonzero(largest > DAMAGED_UV)
    if not len(damaged):
        return None
    named = ", ".join(f"{scan.labels[i]} ({largest[i]:.2g} uV)" for i in damaged[:5])
    more = f" and {len(damaged) - 5} more" if len(damaged) > 5 else ""
    return f"{len(damaged)} channel(s) with samples beyond {DAMAGED_UV:g} uV: {named}{more}"


#: Plausible median standard deviation of a raw intracranial channel, in uV.  Scalp EEG is 10-100 uV and intracranial
#: EEG up to about ten times larger (Lachaux, Rudrauf & Kahane 2003, J Physiol Paris 97:613; MNE displays sEEG, ECoG
#: and DBS at 100 uV per division), so channels typically vary by 10 uV to 1 mV; the range allows a decade either side.
PLAUSIBLE_STD_UV = (1.0, 1e4)
_TYPICAL_STD_UV = 100.0
_RANGE_SOURCE = "scalp EEG 10-100 uV, intracranial up to ten times more; Lachaux et al. 2003"
#: The unit mix-up that scales microvolts by 10**exponent.
_UNIT_MISTAKES = {
    3: "mV declared for data in uV",
    6: "V declared for data in uV",
    -3: "uV declared for data in mV",
    -6: "uV declared for data in V",
}


def amplitude_problem(std_uv: np.ndarray, labels: list[str], flat_tolerance_uv: float = 0.0) -> str | None:
    """A one-line description of channel amplitudes implausible for an intracranial recording, else None.

    Parameters
    ----------
    std_uv : np.ndarray
        Standard deviation of each raw channel in microvolts (``[channel]``; zero or non-finite entries, empty or
        constant channels, are ignored).
    labels : list of str
        The channels' names, for the message.
    flat_tolerance_uv : float
        Channels below it are flat (excluded elsewhere) and not named as too small here.

    The median over channels is compared with :data:`PLAUSIBLE_STD_UV`: outside it, the whole file is off, and the
    nearest power of 1000 away from a typical 100 uV names the suspected unit or resolution error of its header.
    With a plausible median, the channels outside the range are named (a per-channel unit in the header, as
    BrainVision and EDF have, can be wrong for a few channels; re-referencing would spread them to their neighbours).
    """
    std = np.asarray(std_uv, dtype=np.float64)
    present = np.isfinite(std) & (std > 0)
    if not present.any():
        return None
    median = float(np.median(std[present]))
    low, high = PLAUSIBLE_STD_UV
    where = f"{low:g} uV to {high:g} uV, the range of intracranial recordings ({_RANGE_SOURCE})"
    if low <= median <= high:
        outside = np.flatnonzero(present & (std > flat_tolerance_uv) & ((std < low) | (std > high)))
        if not len(outside):
            return None
        named = ", ".join(f"{labels[i]} ({std[i]:.2g} uV)" for i in outside[:5])
        more = f" and {len(outside) - 5} more" if len(outside) > 5 else ""
        return (
            f"{len(outside)} channel(s) with a standard deviation outside {where}, while the median channel has "
            f"{median:.2g} uV: {named}{more}; check those channels' unit and resolution in the file's header"
        )
    exponent = 3 * round(np.log10(median / _TYPICAL_STD_UV) / 3) or (3 if median > high else -3)
    mistake = _UNIT_MISTAKES.get(exponent, f"a resolution off by 1e{exponent:+d}")
    return (
        f"median channel standard deviation {median:.2g} uV lies outside {where}; values look about "
        f"{10.0 ** abs(exponent):.0e} times too {'large' if exponent > 0 else 'small'}: check the unit and resolution "
        f"the file's header declares (e.g. {mistake})"
    )


def fill_nan_runs(block: np.ndarray) -> np.ndarray:
    """Fill non-finite samples of each row of a ``[channel, time]`` block by linear interpolation.

    Runs touching the block's edge take the nearest finite value; rows without any finite sample are zeroed.
    Returns ``block`` itself when nothing is missing.
    """
    missing = ~np.isfinite(block)
    rows = np.flatnonzero(missing.any(axis=-1))
    if len(rows) == 0:
        return block
    block = block.copy()
    index = np.arange(block.shape[-1])
    for row in rows:
        gap = missing[row]
        if gap.all():
            block[row] = 0
            continue
        block[row, gap] = np.interp(index[gap], index[~gap], block[row, ~gap])
    return block


def robust_limits(sample: np.ndarray, threshold_mad: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-column ``median -/+ threshold_mad * 1.4826 * MAD`` (1.4826 MAD estimates a Gaussian's std)."""
    median = np.median(sample, axis=0)
    spread = 1.4826 * np.median(np.abs(sample - median), axis=0)
    return median - threshold_mad * spread, median + threshold_mad * spread


def _run_lengths(mask: np.ndarray) -> np.ndarray:
    """Lengths of the runs of True in a 1-D mask, in order (the mask has at least one True)."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
