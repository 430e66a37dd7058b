"""Simulated SEEG signals, in microvolts at the recording rate: the components and the constants of their scale.

Shared by the embedded replica (:mod:`vlencode.datasets.replica`), which writes them as recordings, and the
validation harness (:mod:`vlencode.validation.harness`), which simulates electrodes of the same noise and effect size.
Each function is pure given its random generator, so a simulation is reproducible from its seed.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.fft import irfft, next_fast_len, rfft, rfftfreq

#: Response categories of a simulated electrode; ``none`` carries no planted response.
CATEGORIES = ("vision", "language", "multimodal", "none")
#: Kinds of bad channel made by :func:`corrupt`.
CORRUPTIONS = ("flat", "saturated", "noisy")
#: Latency ranges (s) per category: vision earliest, multimodal latest.
LATENCY_S = {"vision": (0.08, 0.15), "language": (0.15, 0.30), "multimodal": (0.20, 0.35)}
#: Gain range (µV per unit latent) of the broadband evoked bump; the high-gamma component is a fraction of it.
GAIN_UV = (60.0, 120.0)
HIGH_GAMMA_FRACTION = 0.25
HIGH_GAMMA_BAND_HZ = (70.0, 150.0)
#: RMS of each channel's 1/f background and of the component common to all channels of a recording.
BACKGROUND_RMS_UV = 40.0
COMMON_RMS_UV = 25.0
#: Mains interference: amplitude range, base frequency and highest harmonic; interictal-like spikes.
LINE_UV = (20.0, 60.0)
LINE_HZ, LINE_MAX_HZ = 60.0, 360.0
SPIKES_PER_MINUTE, SPIKE_UV = 1.0, 600.0
#: Evoked-response kernel length (s): long enough for the gamma bump of the latest latency to decay.
KERNEL_S = 1.0


def colored_noise(
    n: int, rate_hz: float, rms_uv: float, rng: np.random.Generator, exponent: float = 1.5, knee_hz: float = 2.0
) -> np.ndarray:
    """Gaussian noise with power ``1 / (1 + (f / knee)^exponent)`` (SEEG-like 1/f background) at ``rms_uv`` RMS."""
    size = next_fast_len(n, real=True)
    spectrum = rfft(rng.standard_normal(size))
    spectrum *= 1.0 / np.sqrt(1.0 + (rfftfreq(size, d=1.0 / rate_hz) / knee_hz) ** exponent)
    spectrum[0] = 0.0
    noise = irfft(spectrum, size)[:n]
    return noise * (rms_uv / max(noise.std(), 1e-12))


def band_noise(n: int, rate_hz: float, band_hz: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS Gaussian noise restricted to ``band_hz`` (the carrier of the high-gamma component)."""
    size = next_fast_len(n, real=True)
    spectrum = rfft(rng.standard_normal(size))
    freqs = rfftfreq(size, d=1.0 / rate_hz)
    spectrum[(freqs < band_hz[0]) | (freqs > band_hz[1])] = 0.0
    noise = irfft(spectrum, size)[:n]
    return noise / max(noise.std(), 1e-12)


def line_noise(
    n: int, rate_hz: float, base_hz: float, amplitude_uv: float, max_hz: float, rng: np.random.Generator
) -> np.ndarray:
    """Mains interference: ``base_hz`` and its harmonics up to ``max_hz``, amplitude falling as 1/k, random phases.

    The sum is periodic with ``rate / gcd(rate, base)`` samples (512 at 2048 Hz and 60 Hz): one period is computed
    and tiled.
    """
    integral = float(rate_hz).is_integer() and float(base_hz).is_integer()
    period = int(rate_hz) // math.gcd(int(rate_hz), int(base_hz)) if integral else n
    t = np.arange(min(period, n)) / rate_hz
    cycle = np.zeros(t.size)
    for k in range(1, int(max_hz // base_hz) + 1):
        cycle += (amplitude_uv / k) * np.sin(2 * np.pi * k * base_hz * t + rng.uniform(0, 2 * np.pi))
    return np.resize(cycle, n)


def spikes(n: int, rate_hz: float, per_minute: float, amplitude_uv: float, rng: np.random.Generator) -> np.ndarray:
    """Occasional sharp biphasic transients (interictal-like), Poisson in time."""
    out = np.zeros(n)
    count = rng.poisson(per_minute * n / rate_hz / 60.0)
    width = max(4, int(0.02 * rate_hz))
    shape = np.sin(np.linspace(0, 2 * np.pi, width)) * np.hanning(width)
    for start in rng.integers(0, max(n - width, 1), count):
        out[start : start + width] += rng.choice([-1, 1]) * amplitude_uv * rng.uniform(0.6, 1.0) * shape
    return out


def gamma_kernel(latency_s: float, rate_hz: float, shape: float = 4.0) -> np.ndarray:
    """Gamma-shaped evoked bump that peaks (at 1) ``latency_s`` after the event: ``(t/L)^k exp(k (1 - t/L))``."""
    t = np.arange(int(KERNEL_S * rate_hz)) / rate_hz
    ratio = t / latency_s
    return ratio**shape * np.exp(shape * (1.0 - ratio))


def evoked(n: int, samples: np.ndarray, amplitudes: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Sum of ``amplitude * kernel`` placed at each event sample (events outside ``0:n`` are ignored)."""
    out = np.zeros(n)
    for sample, amplitude in zip(samples, amplitudes):
        if 0 <= sample < n:
            stop = min(n, sample + kernel.size)
            out[sample:stop] += amplitude * kernel[: stop - sample]
    return out


def corrupt(signal: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """A bad channel: ``flat`` (disconnected, constant), ``saturated`` (amplifier rails) or ``noisy`` (huge noise)."""
    if kind == "flat":
        return np.full_like(signal, rng.uniform(-5, 5))
    if kind == "saturated":
        rail = 3276.7
        return np.clip(signal * 200.0, -rail, rail)
    if kind == "noisy":
        return signal + rng.standard_normal(signal.size) * 5000.0
    raise ValueError(f"unknown corruption {kind!r}")
