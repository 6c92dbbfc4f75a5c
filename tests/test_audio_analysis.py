"""Level analysis and test signals of the amplification suite (pure numpy, no audio device)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classcert.audio_analysis import (
    FLOOR_DB,
    OCTAVE_CENTRES_HZ,
    band_levels_dbfs,
    clipped_fraction,
    compare_to_ambient,
    edge_taper,
    is_digital_silence,
    level_above_ambient_db,
    level_dbfs,
    octave_band_edges,
    power_spectrum,
    rms,
)
from classcert.audio_signal import (
    TakePlan,
    apply_fades,
    decode_wav,
    encode_wav,
    exponential_sweep,
    pink_noise,
)

SR = 48_000
seeds = st.integers(min_value=0, max_value=2**32 - 1)
scales = st.floats(min_value=1e-4, max_value=50.0, allow_nan=False, allow_infinity=False)


def noise(seed: int, n: int = 4800) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n) * 0.05


@settings(max_examples=60, deadline=None)
@given(seed=seeds, scale=scales)
def test_scaling_shifts_the_level_by_20_log10_of_the_scale(seed, scale):
    x = noise(seed)
    expected = 20.0 * math.log10(scale)
    assert level_dbfs(scale * x) - level_dbfs(x) == pytest.approx(expected, abs=1e-9)
    assert level_above_ambient_db(scale * x, x) == pytest.approx(expected, abs=1e-9)
    assert rms(scale * x) == pytest.approx(scale * rms(x), rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(seed=seeds, scale=scales)
def test_scaling_shifts_every_band_by_the_same_amount(seed, scale):
    x = noise(seed, 9600)
    before, after = band_levels_dbfs(x, SR), band_levels_dbfs(scale * x, SR)
    assert list(before) == list(OCTAVE_CENTRES_HZ)
    for centre in before:
        assert after[centre] - before[centre] == pytest.approx(20 * math.log10(scale), abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    centre=st.sampled_from(OCTAVE_CENTRES_HZ),
    octaves=st.floats(min_value=-0.3, max_value=0.3),
    amplitude=st.floats(min_value=1e-3, max_value=0.99),
    phase=st.floats(min_value=0.0, max_value=2 * math.pi),
    rate=st.sampled_from([44_100, 48_000]),
)
def test_a_pure_tone_peaks_in_its_own_octave_band(centre, octaves, amplitude, phase, rate):
    freq = centre * 2.0 ** octaves
    t = np.arange(rate) / rate
    tone = amplitude * np.sin(2 * np.pi * freq * t + phase)
    levels = band_levels_dbfs(tone, rate)
    tone_db = 20 * math.log10(amplitude / math.sqrt(2))
    assert max(levels, key=levels.get) == centre
    assert levels[centre] == pytest.approx(tone_db, abs=0.1)
    assert all(levels[c] < tone_db - 30 for c in levels if c != centre), levels
    assert level_dbfs(tone) == pytest.approx(tone_db, abs=0.05)


@settings(max_examples=30, deadline=None)
@given(seed=seeds)
def test_spectrum_power_adds_up_to_the_mean_square(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(int(rng.integers(1, 60_000))) * rng.uniform(1e-3, 1.0)
    _freqs, power = power_spectrum(x, SR)
    taper = edge_taper(len(x), SR)
    weighted = float(np.sum((taper * x) ** 2) / np.sum(taper * taper))
    assert float(np.sum(power)) == pytest.approx(weighted, rel=1e-9)
    if len(x) >= SR:  # stationary noise: the taper does not bias the estimate
        assert float(np.sum(power)) == pytest.approx(float(np.mean(x * x)), rel=0.1)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(min_value=1, max_value=5000))
def test_silence_sits_at_the_floor_and_is_detected(n):
    zeros = np.zeros(n)
    assert level_dbfs(zeros) == FLOOR_DB
    assert is_digital_silence(zeros)
    assert all(v == FLOOR_DB for v in band_levels_dbfs(zeros, SR).values())
    one_lsb = zeros.copy()
    one_lsb[n // 2] = 1 / 32768
    assert not is_digital_silence(one_lsb)
    assert level_dbfs(one_lsb) > FLOOR_DB


@settings(max_examples=30, deadline=None)
@given(seed=seeds)
def test_ambient_against_itself_is_zero_db_above_ambient(seed):
    x = noise(seed)
    result = compare_to_ambient(x, x, SR)
    assert result["level_above_ambient_db"] == 0.0
    assert all(b["above_ambient_db"] == 0.0 for b in result["bands"])


def test_bands_above_nyquist_are_left_out_and_edges_are_an_octave_apart():
    levels = band_levels_dbfs(noise(1, 1600), 16_000)
    assert max(levels) == 8000 or 8000 not in levels
    assert 8000 not in band_levels_dbfs(noise(1, 1000), 11_025)  # 8 kHz band starts at 5.66 kHz
    low, high = octave_band_edges(1000)
    assert high / low == pytest.approx(2.0)


@settings(max_examples=30, deadline=None)
@given(seed=seeds, threshold=st.floats(min_value=0.1, max_value=0.999))
def test_clipped_fraction_counts_samples_at_full_scale(seed, threshold):
    x = np.clip(np.random.default_rng(seed).standard_normal(1000) * 0.5, -1, 1)
    expected = np.count_nonzero(np.abs(x) >= threshold) / 1000
    assert clipped_fraction(x, threshold) == expected


@settings(max_examples=20, deadline=None)
@given(seed=seeds, level=st.floats(min_value=-60.0, max_value=-10.0))
def test_pink_noise_is_deterministic_at_its_level_and_equal_per_octave(seed, level):
    x = pink_noise(SR * 2, SR, seed, level_dbfs=level)
    assert np.array_equal(x, pink_noise(SR * 2, SR, seed, level_dbfs=level))
    assert not np.array_equal(x, pink_noise(SR * 2, SR, seed + 1, level_dbfs=level))
    assert level_dbfs(x) == pytest.approx(level, abs=1e-9)
    bands = list(band_levels_dbfs(x, SR).values())
    assert max(bands) - min(bands) < 2.0, bands


@settings(max_examples=20, deadline=None)
@given(level=st.floats(min_value=-60.0, max_value=-10.0), seconds=st.floats(1.0, 3.0))
def test_exponential_sweep_covers_every_octave_at_its_level(level, seconds):
    x = apply_fades(exponential_sweep(int(SR * seconds), SR, level_dbfs=level), SR)
    assert level_dbfs(x) == pytest.approx(level, abs=0.3)
    bands = list(band_levels_dbfs(x, SR).values())
    assert max(bands) - min(bands) < 2.0, bands


@settings(max_examples=30, deadline=None)
@given(
    ambient=st.floats(min_value=0.8, max_value=5.0), signal=st.floats(min_value=1.1, max_value=8),
    guard=st.floats(min_value=0.0, max_value=0.3), kind=st.sampled_from(["pink", "sweep"]),
)
def test_take_plan_windows_lie_inside_their_parts(ambient, signal, guard, kind):
    plan = TakePlan(ambient_s=ambient, signal_s=signal, guard_s=guard, kind=kind,
                    sample_rate=16_000)
    out = plan.playback()
    assert len(out) == plan.n_total
    assert not np.any(out[:plan.n_ambient]) and not np.any(out[plan.n_ambient + plan.n_signal:])
    assert 0 <= plan.ambient_window.start < plan.ambient_window.stop <= plan.n_ambient
    assert plan.n_ambient <= plan.signal_window.start < plan.signal_window.stop
    assert plan.signal_window.stop <= plan.n_ambient + plan.n_signal
    steady = out[plan.signal_window]
    assert level_dbfs(steady) == pytest.approx(plan.level_dbfs, abs=0.5)


@pytest.mark.parametrize(
    "options",
    [{"signal_s": 0.2}, {"ambient_s": True}, {"signal_kind": "chirp"}, {"sample_rate": 12345},
     {"signal_dbfs": 0}, {"signal_s": 80}, {"sample_rate": "fast"}],
)
def test_bad_rig_options_are_explained(options):
    with pytest.raises(ValueError, match="音频"):
        TakePlan.from_options(options)


@settings(max_examples=30, deadline=None)
@given(seed=seeds, rate=st.sampled_from([16_000, 44_100, 48_000]))
def test_wav_round_trip_keeps_16_bit_samples(seed, rate):
    x = np.random.default_rng(seed).uniform(-1.0, 1.0, 500)
    back, back_rate = decode_wav(encode_wav(x, rate))
    assert back_rate == rate and len(back) == len(x)
    assert np.max(np.abs(back - np.clip(x, -1, 32767 / 32768))) <= 0.5 / 32768 + 1e-12
