"""Zero-phase FIR filters (MNE designs) and polyphase resampling, applied to padded blocks.

Every filter here is a finite, odd-length, linear-phase kernel applied without delay (the output sample is aligned
with the kernel's centre).  Applied with :func:`filter_valid` to a block that carries ``len(kernel) // 2`` extra
samples on each side, an output sample depends only on input samples inside its block, so processing a recording in
overlapping blocks gives the same result as processing it whole (up to float32 rounding of the FFT).
"""

from __future__ import annotations

from fractions import Fraction

import mne
import numpy as np
import scipy.fft
import scipy.signal


def notch_frequencies(
    rate_hz: float, line_freq_hz: float, max_hz: float, trans_bandwidth_hz: float = 1.0
) -> np.ndarray:
    """The harmonics :func:`notch_kernel` removes: ``line_freq_hz * k`` up to ``max_hz`` whose notch band (MNE's
    ``f / 200`` width plus the transition) lies below the Nyquist frequency of ``rate_hz``."""
    freqs = np.arange(line_freq_hz, max_hz + 1e-9, line_freq_hz)
    return freqs[freqs + freqs / 400.0 + trans_bandwidth_hz < rate_hz / 2]


def notch_kernel(rate_hz: float, line_freq_hz: float, max_hz: float, trans_bandwidth_hz: float = 1.0) -> np.ndarray:
    """MNE's FIR notch (as in ``mne.filter.notch_filter(method="fir")``) at the line frequency and its harmonics.

    Parameters
    ----------
    rate_hz : float
        Sampling rate of the signal the kernel is applied to.
    line_freq_hz, max_hz : float
        Notches at ``line_freq_hz * k`` for every ``k >= 1`` up to ``max_hz`` and below the Nyquist band edge
        (:func:`notch_frequencies`).
    trans_bandwidth_hz : float
        MNE's ``trans_bandwidth``; each notch is ``f / 200`` wide (MNE's default) plus this transition.

    Returns
    -------
    np.ndarray
        The odd-length zero-phase kernel, or ``[1.0]`` when no harmonic lies below Nyquist.
    """
    freqs = notch_frequencies(rate_hz, line_freq_hz, max_hz, trans_bandwidth_hz)
    half = trans_bandwidth_hz / 2.0
    widths = freqs / 200.0
    if len(freqs) == 0:
        return np.ones(1)
    return mne.filter.create_filter(
        None,
        rate_hz,
        l_freq=freqs + widths / 2 + half,
        h_freq=freqs - widths / 2 - half,
        l_trans_bandwidth=half,
        h_trans_bandwidth=half,
        method="fir",
        phase="zero",
        fir_design="firwin",
        verbose=False,
    )


def bandpass_kernel(rate_hz: float, band_hz: tuple[float, float]) -> np.ndarray:
    """MNE's default zero-phase FIR band-pass (firwin, Hamming, automatic transition bands)."""
    return mne.filter.create_filter(
        None, rate_hz, band_hz[0], band_hz[1], method="fir", phase="zero", fir_design="firwin", verbose=False
    )


def antialias_kernel(rate_hz: float, target_rate_hz: float) -> np.ndarray:
    """MNE zero-phase FIR low-pass for decimation to ``target_rate_hz``.

    Pass band up to 40 % of the target rate, stop band from its Nyquist frequency (50 %), so nothing above the new
    Nyquist frequency folds back (Hamming stop band, about -53 dB).
    """
    return mne.filter.create_filter(
        None,
        rate_hz,
        None,
        0.4 * target_rate_hz,
        h_trans_bandwidth=0.1 * target_rate_hz,
        method="fir",
        phase="zero",
        fir_design="firwin",
        verbose=False,
    )


def compose(*kernels: np.ndarray) -> np.ndarray:
    """One kernel equal to applying ``kernels`` in turn (their convolution; odd lengths stay odd and centred)."""
    out = np.ones(1)
    for kernel in kernels:
        out = np.convolve(out, kernel)
    return out


def analytic_kernel(kernel: np.ndarray) -> np.ndarray:
    """Complex kernel ``h + i * Hilbert(h)``: filtering with it yields the analytic signal of the band-passed input.

    The Hilbert transform of a band-pass kernel (no gain at 0 Hz or Nyquist) is as compact as the kernel itself; it is
    computed on an 8x zero-padded copy and cut back to the kernel's support, so the envelope ``|x * h_a|`` is a plain
    FIR operation and needs no special edge handling between chunks.
    """
    n = len(kernel)
    padded = np.zeros(8 * n)
    padded[3 * n + n // 2 : 4 * n + n // 2] = kernel
    return scipy.signal.hilbert(padded)[3 * n + n // 2 : 4 * n + n // 2]


def filter_valid(block: np.ndarray, kernel: np.ndarray, workers: int = 1) -> np.ndarray:
    """Zero-phase FIR filtering of a ``[channel, time]`` block by FFT, keeping only fully supported samples.

    Output sample ``i`` is centred on input sample ``i + len(kernel) // 2``; the output has
    ``block.shape[-1] - len(kernel) + 1`` samples.  A complex kernel gives a complex output.  Computation is in the
    block's precision (float32 blocks stay float32).
    """
    return filter_decimate(block, kernel, 1, workers)


def filter_decimate(block: np.ndarray, kernel: np.ndarray, factor: int, workers: int = 1) -> np.ndarray:
    """:func:`filter_valid` followed by keeping every ``factor``-th sample, from the first one.

    The decimation is done in the frequency domain: sampling every ``factor``-th point of a length-``n`` signal
    equals the inverse FFT, of length ``n / factor``, of its spectrum folded ``factor`` times (an exact DFT
    identity), so the inverse transform is ``factor`` times shorter.  The kernel's spectrum carries a phase ramp that
    moves the first fully supported sample to position 0.
    """
    n, width = block.shape[-1], len(kernel)
    if n < width:
        raise ValueError(f"block of {n} samples is shorter than the {width}-tap kernel")
    valid = n - width + 1
    folded = 2 * scipy.fft.next_fast_len(-(-n // (2 * factor)), real=True)  # even, so both spectra end at Nyquist
    size = folded * factor
    spectrum = scipy.fft.rfft(block, size, axis=-1, workers=workers)
    ramp = np.exp(2j * np.pi * np.arange(size // 2 + 1) * (width - 1) / size)
    keep = -(-valid // factor)

    def convolve(taps: np.ndarray) -> np.ndarray:
        response = (scipy.fft.rfft(taps, size) * ramp).astype(spectrum.dtype)
        # The spectrum is needed twice only for a complex kernel; otherwise multiply in place to spare a copy.
        product = spectrum * response if np.iscomplexobj(kernel) else np.multiply(spectrum, response, out=spectrum)
        if factor > 1:
            product = _fold(product, size, factor)
        return scipy.fft.irfft(product, folded, axis=-1, workers=workers)[..., :keep]

    if np.iscomplexobj(kernel):
        return convolve(kernel.real) + 1j * convolve(kernel.imag)
    return convolve(kernel)


def _fold(half_spectrum: np.ndarray, size: int, factor: int) -> np.ndarray:
    """The half spectrum of ``x[::factor]`` from the half spectrum (``rfft``, length ``size``) of ``x``.

    Bin ``k`` of the short spectrum is the mean of bins ``k + j * size / factor`` of the full one; bins past
    ``size / 2`` are the conjugates of their mirror images.  Each term is one or two contiguous slices.
    """
    short, middle = size // factor, size // 2
    out = np.zeros(half_spectrum.shape[:-1] + (short // 2 + 1,), dtype=half_spectrum.dtype)
    for j in range(factor):
        low, high = j * short, j * short + short // 2
        direct = min(high, middle)
        if low <= direct:
            out[..., : direct - low + 1] += half_spectrum[..., low : direct + 1]
        mirrored = max(low, middle + 1)
        if mirrored <= high:
            out[..., mirrored - low :] += np.conj(half_spectrum[..., size - high : size - mirrored + 1][..., ::-1])
    out /= factor
    return out


def rational_ratio(rate_hz: float, source_rate_hz: float) -> tuple[int, int]:
    """``(up, down)`` in lowest terms with ``rate_hz / source_rate_hz = up / down``."""
    ratio = Fraction(str(float(rate_hz))) / Fraction(str(float(source_rate_hz)))
    if ratio.denominator > 100_000:
        raise ValueError(f"rate ratio {rate_hz}/{source_rate_hz} Hz is not a small rational; choose a rate_hz that is")
    return ratio.numerator, ratio.denominator


def polyphase_kernel(up: int, down: int) -> np.ndarray:
    """The interpolation kernel of ``scipy.signal.resample_poly`` (Kaiser, beta 5, 10 zero crossings), gain ``up``."""
    rate = max(up, down)
    return scipy.signal.firwin(2 * 10 * rate + 1, 1.0 / rate, window=("kaiser", 5.0)) * up


def polyphase_resample(
    block: np.ndarray, base: int, kernel: np.ndarray, up: int, down: int, first: int, count: int
) -> np.ndarray:
    """Output samples ``first : first + count`` of a rational resampling, from a block of input samples.

    Output sample ``j`` sits at input position ``j * down / up`` and equals
    ``sum_m x[m] * kernel[j * down - m * up + len(kernel) // 2]`` (zero phase; as ``scipy.signal.resample_poly``
    with ``window=kernel / up``).  ``block`` is ``[channel, time]`` and holds input samples
    ``base : base + block.shape[-1]``; it must cover every ``m`` with a non-zero weight.

    Outputs ``j, j + up, j + 2 up, ...`` share one phase of the kernel and advance ``down`` input samples each, so
    each of the ``up`` phases is one matrix product over a strided window view.
    """
    centre = len(kernel) // 2
    width = -(-len(kernel) // up)
    phases = np.zeros(width * up)
    phases[: len(kernel)] = kernel
    out = np.empty(block.shape[:-1] + (count,), dtype=block.dtype)
    windows = np.lib.stride_tricks.sliding_window_view(block, width, axis=-1)
    for offset in range(min(up, count)):
        position = (first + offset) * down + centre
        newest = position // up - base
        n = len(range(offset, count, up))
        oldest = newest - (width - 1)
        if oldest < 0 or oldest + (n - 1) * down + width > block.shape[-1]:
            raise ValueError("polyphase_resample: the block does not cover the requested output samples")
        taps = phases[position % up :: up][::-1].astype(block.dtype)
        out[..., offset::up] = windows[..., oldest : oldest + (n - 1) * down + 1 : down, :] @ taps
    return out
