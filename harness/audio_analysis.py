"""Level analysis of recorded audio: RMS, dBFS, level above ambient, octave-band levels.

Pure functions on numpy arrays of samples scaled to full scale 1.0. Levels are dBFS as RMS
re 1.0 (a full-scale square wave is 0 dBFS, a full-scale sine -3.01 dBFS); a signal with
no energy at all is reported at ``FLOOR_DB`` rather than minus infinity, so results stay
valid JSON.

Octave bands follow the base-2 nominal centres 125 Hz - 8 kHz with edges at centre/sqrt(2)
and centre*sqrt(2). Band levels sum the bins of an averaged, overlapped Hann spectrum whose
power over all bins equals the mean square of the signal (see :func:`power_spectrum`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

OCTAVE_CENTRES_HZ: tuple[int, ...] = (125, 250, 500, 1000, 2000, 4000, 8000)
FLOOR_DB = -200.0
CLIP_THRESHOLD = 0.999
EDGE_TAPER_S = 0.1


def _samples(x: Any) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"expected mono samples (1-D), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError("no samples to analyse")
    return arr


def power_to_db(power: float) -> float:
    """10*log10(power), never below ``FLOOR_DB``."""
    return FLOOR_DB if power <= 10.0 ** (FLOOR_DB / 10.0) else 10.0 * math.log10(power)


def rms(x: Any) -> float:
    arr = _samples(x)
    return math.sqrt(float(np.mean(arr * arr)))


def level_dbfs(x: Any) -> float:
    """RMS level in dBFS."""
    arr = _samples(x)
    return power_to_db(float(np.mean(arr * arr)))


def level_above_ambient_db(signal: Any, ambient: Any) -> float:
    """How far the recording with the signal stands above the ambient recording, in dB."""
    return level_dbfs(signal) - level_dbfs(ambient)


def octave_band_edges(centre_hz: float) -> tuple[float, float]:
    return centre_hz / math.sqrt(2.0), centre_hz * math.sqrt(2.0)


def segment_length(n: int, sample_rate: float) -> int:
    """FFT length: a power of two of about a third of a second, shorter for short signals."""
    longest = 2 ** math.ceil(math.log2(max(sample_rate / 3.0, 4.0)))
    shortest_fit = 2 ** math.floor(math.log2(max(n, 4)))
    return max(4, min(longest, shortest_fit))


def edge_taper(n: int, sample_rate: float) -> np.ndarray:
    """Weights 1.0 but for raised-cosine ramps of ``EDGE_TAPER_S`` (at most n/10) at each end."""
    weights = np.ones(n)
    m = min(int(EDGE_TAPER_S * sample_rate), n // 10)
    if m > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(m) + 0.5) / m)
        weights[:m] = ramp
        weights[n - m:] = ramp[::-1]
    return weights


def power_spectrum(x: Any, sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies, power per rfft bin) summing to the mean square of the tapered signal.

    The recording is cut out of a longer one: its ends are faded (:func:`edge_taper`) so the
    cut does not splatter energy across bands, and the power is divided by the taper's
    energy. Periodic Hann segments overlap by 75 %, where their squares add up to a constant,
    over the signal padded with zeros: every sample inside the ramps weighs the same, so a
    sweep or any other non-stationary signal is measured evenly, and Parseval holds exactly.
    """
    arr = _samples(x)
    taper = edge_taper(arr.size, sample_rate)
    arr = arr * taper
    seg = segment_length(arr.size, sample_rate)
    hop = seg // 4
    pad_right = seg + (-(arr.size + seg) % hop)
    padded = np.concatenate([np.zeros(seg), arr, np.zeros(pad_right)])
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(seg) / seg)
    frames = np.lib.stride_tricks.sliding_window_view(padded, seg)[::hop]
    power = np.zeros(seg // 2 + 1)
    for start in range(0, len(frames), 64):  # bounded memory for long takes
        spectrum = np.fft.rfft(frames[start:start + 64] * window, axis=1)
        power += np.sum(spectrum.real ** 2 + spectrum.imag ** 2, axis=0)
    power[1:-1] *= 2.0  # one-sided: every bin but DC and Nyquist stands for two
    overlap_gain = float(np.sum(window * window)) / hop  # sum of squared windows per sample
    energy = seg * overlap_gain * float(np.sum(taper * taper))
    return np.fft.rfftfreq(seg, d=1.0 / sample_rate), power / energy


def band_levels_dbfs(
    x: Any, sample_rate: float, centres: Sequence[float] = OCTAVE_CENTRES_HZ
) -> dict[float, float]:
    """Level (dBFS) in each octave band; bands starting at or above Nyquist are left out."""
    freqs, power = power_spectrum(x, sample_rate)
    nyquist = sample_rate / 2.0
    levels: dict[float, float] = {}
    for centre in centres:
        low, high = octave_band_edges(centre)
        if low >= nyquist:
            continue
        in_band = (freqs >= low) & (freqs < high)
        levels[centre] = power_to_db(float(np.sum(power[in_band])))
    return levels


def clipped_fraction(x: Any, threshold: float = CLIP_THRESHOLD) -> float:
    """Share of samples at or beyond ``threshold`` of full scale (an overloaded input)."""
    arr = _samples(x)
    return float(np.count_nonzero(np.abs(arr) >= threshold)) / arr.size


def is_digital_silence(x: Any) -> bool:
    """True when every sample is exactly zero (a muted or disconnected digital input)."""
    return not np.any(_samples(x))


def compare_to_ambient(
    signal: Any, ambient: Any, sample_rate: float,
    centres: Sequence[float] = OCTAVE_CENTRES_HZ,
) -> dict[str, Any]:
    """Everything the evidence needs: broadband and per-octave levels of both recordings."""
    sig_bands = band_levels_dbfs(signal, sample_rate, centres)
    amb_bands = band_levels_dbfs(ambient, sample_rate, centres)
    signal_db, ambient_db = level_dbfs(signal), level_dbfs(ambient)
    return {
        "signal_dbfs": round(signal_db, 3),
        "ambient_dbfs": round(ambient_db, 3),
        "level_above_ambient_db": round(signal_db - ambient_db, 3),
        "signal_clipped_fraction": clipped_fraction(signal),
        "ambient_clipped_fraction": clipped_fraction(ambient),
        "bands": [
            {
                "centre_hz": centre,
                "signal_dbfs": round(sig_bands[centre], 3),
                "ambient_dbfs": round(amb_bands[centre], 3),
                "above_ambient_db": round(sig_bands[centre] - amb_bands[centre], 3),
            }
            for centre in sig_bands
        ],
    }
