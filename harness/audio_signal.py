"""Deterministic test signals for acoustic checks, and the timeline of one measurement take.

Levels are in dBFS as RMS re full scale 1.0: a full-scale square wave is 0 dBFS and a
full-scale sine is -3.01 dBFS. Every generator is deterministic (same arguments, same
samples), so a simulator can prepare exactly what the harness will play.

A *take* (:class:`TakePlan`) is one continuous full-duplex recording: ``ambient_s`` of
silence on the output (the room's ambient noise is recorded), then ``signal_s`` of test
signal, then ``tail_s`` of silence so that the end of the signal is still recorded after
the system's latency. The analysis windows leave out ``guard_s`` at the edges (stream start,
fades, latency of the playback chain up to ``guard_s``).
"""

from __future__ import annotations

import io
import math
import wave
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

DEFAULT_SAMPLE_RATE = 48_000
DEFAULT_AMBIENT_S = 3.0
DEFAULT_SIGNAL_S = 4.0
DEFAULT_TAIL_S = 0.5
DEFAULT_GUARD_S = 0.25
DEFAULT_LEVEL_DBFS = -20.0
DEFAULT_SEED = 1
DEFAULT_KIND = "pink"
SIGNAL_KINDS = ("pink", "sweep")
FADE_S = 0.05
MAX_TAKE_S = 60.0
MIN_WINDOW_S = 0.5
MAX_LEVEL_DBFS = -10.0  # leaves room for the crest factor of noise (peaks ~4x RMS)
SAMPLE_RATES = (16_000, 22_050, 32_000, 44_100, 48_000, 88_200, 96_000)


def db_to_gain(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def apply_fades(x: np.ndarray, sample_rate: int, fade_s: float = FADE_S) -> np.ndarray:
    """Raised-cosine fade-in and fade-out (no click in the loudspeakers)."""
    y = np.array(x, dtype=np.float64)
    n = min(int(round(fade_s * sample_rate)), len(y) // 2)
    if n > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)
        y[:n] *= ramp
        y[len(y) - n:] *= ramp[::-1]
    return y


def pink_noise(
    n: int, sample_rate: int, seed: int = DEFAULT_SEED, *, level_dbfs: float = DEFAULT_LEVEL_DBFS,
    f_low: float = 40.0, f_high: float = 16_000.0,
) -> np.ndarray:
    """``n`` samples of band-limited pink noise (equal power per octave) at ``level_dbfs`` RMS.

    Shaped in the frequency domain: Gaussian white noise from ``numpy.random.default_rng(seed)``,
    amplitude scaled by 1/sqrt(f) between ``f_low`` and ``f_high`` (clipped to Nyquist).
    """
    if n <= 0:
        raise ValueError(f"pink_noise needs n > 0, got {n}")
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, d=1.0 / sample_rate)
    band = (freqs >= f_low) & (freqs <= min(f_high, sample_rate / 2.0))
    shape = np.zeros_like(freqs)
    shape[band] = 1.0 / np.sqrt(freqs[band])
    y = np.fft.irfft(spectrum * shape, n=n)
    power = float(np.mean(y * y))
    if power <= 0.0:  # n too short to hold any bin of the band
        raise ValueError(f"{n} samples at {sample_rate} Hz are too short for pink noise")
    return y * (db_to_gain(level_dbfs) / math.sqrt(power))


def exponential_sweep(
    n: int, sample_rate: int, *, level_dbfs: float = DEFAULT_LEVEL_DBFS,
    f_start: float = 50.0, f_end: float = 16_000.0,
) -> np.ndarray:
    """Exponential (log) sine sweep from ``f_start`` to ``f_end`` over ``n`` samples.

    Its steady-state RMS is ``level_dbfs`` (amplitude sqrt(2) times the RMS gain).
    """
    if n <= 1:
        raise ValueError(f"exponential_sweep needs n > 1, got {n}")
    f_end = min(f_end, 0.45 * sample_rate)
    if not 0 < f_start < f_end:
        raise ValueError(f"sweep needs 0 < f_start < f_end, got {f_start}, {f_end}")
    duration = n / sample_rate
    rate = math.log(f_end / f_start)
    t = np.arange(n) / sample_rate
    phase = 2.0 * np.pi * f_start * duration / rate * (np.exp(t * rate / duration) - 1.0)
    return math.sqrt(2.0) * db_to_gain(level_dbfs) * np.sin(phase)


def encode_wav(samples: np.ndarray, sample_rate: int) -> bytes:
    """A mono 16-bit PCM WAV file of ``samples`` (full scale 1.0; clipped)."""
    pcm = np.clip(np.round(np.asarray(samples, dtype=np.float64) * 32768.0), -32768, 32767)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(pcm.astype("<i2").tobytes())
    return buf.getvalue()


def decode_wav(data: bytes) -> tuple[np.ndarray, int]:
    """(first channel scaled to full scale 1.0, sample rate) of a 16-bit PCM WAV file."""
    with wave.open(io.BytesIO(data), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError("only 16-bit PCM WAV files are supported")
        channels, rate = w.getnchannels(), w.getframerate()
        raw = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return raw.reshape(-1, channels)[:, 0] / 32768.0, rate


def _number(options: Mapping[str, Any], name: str, default: float) -> float:
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(
            f"audio option {name!r} must be a number, got {value!r} / 音频选项 {name} 必须为数字"
        )
    return float(value)


@dataclass(frozen=True)
class TakePlan:
    """One take: ambient (output silent), test signal, tail; and where to analyse it."""

    sample_rate: int = DEFAULT_SAMPLE_RATE
    ambient_s: float = DEFAULT_AMBIENT_S
    signal_s: float = DEFAULT_SIGNAL_S
    tail_s: float = DEFAULT_TAIL_S
    guard_s: float = DEFAULT_GUARD_S
    level_dbfs: float = DEFAULT_LEVEL_DBFS
    kind: str = DEFAULT_KIND
    seed: int = DEFAULT_SEED

    def __post_init__(self) -> None:
        problems: list[str] = []
        if self.sample_rate not in SAMPLE_RATES:
            problems.append(f"sample_rate must be one of {SAMPLE_RATES}, got {self.sample_rate}")
        if self.kind not in SIGNAL_KINDS:
            problems.append(f"signal kind must be one of {SIGNAL_KINDS}, got {self.kind!r}")
        if not 0.0 <= self.guard_s <= 2.0 or not 0.0 <= self.tail_s <= 10.0:
            problems.append("guard_s must be 0-2 s and tail_s 0-10 s")
        if self.ambient_s - self.guard_s < MIN_WINDOW_S:
            problems.append(f"ambient_s must be at least {MIN_WINDOW_S + self.guard_s} s")
        if self.signal_s - 2 * self.guard_s < MIN_WINDOW_S:
            problems.append(f"signal_s must be at least {MIN_WINDOW_S + 2 * self.guard_s} s")
        if self.total_s > MAX_TAKE_S:
            problems.append(f"the take lasts {self.total_s} s; at most {MAX_TAKE_S} s")
        if not -80.0 <= self.level_dbfs <= MAX_LEVEL_DBFS:
            problems.append(f"signal level must be -80 to {MAX_LEVEL_DBFS} dBFS")
        if problems:
            raise ValueError(
                "invalid audio test settings: " + "; ".join(problems) + " / 音频测试参数无效"
            )

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> TakePlan:
        """From a rig device's options: sample_rate, ambient_s, signal_s, signal_dbfs,
        signal_kind ("pink" or "sweep"), seed, guard_s. Missing keys take the defaults."""
        rate = _number(options, "sample_rate", DEFAULT_SAMPLE_RATE)
        seed = _number(options, "seed", DEFAULT_SEED)
        return cls(
            sample_rate=int(rate) if rate.is_integer() else -1,
            ambient_s=_number(options, "ambient_s", DEFAULT_AMBIENT_S),
            signal_s=_number(options, "signal_s", DEFAULT_SIGNAL_S),
            guard_s=_number(options, "guard_s", DEFAULT_GUARD_S),
            level_dbfs=_number(options, "signal_dbfs", DEFAULT_LEVEL_DBFS),
            kind=str(options.get("signal_kind", DEFAULT_KIND)),
            seed=int(seed),
        )

    def frames(self, seconds: float) -> int:
        return int(round(seconds * self.sample_rate))

    @property
    def total_s(self) -> float:
        return self.ambient_s + self.signal_s + self.tail_s

    @property
    def n_ambient(self) -> int:
        return self.frames(self.ambient_s)

    @property
    def n_signal(self) -> int:
        return self.frames(self.signal_s)

    @property
    def n_total(self) -> int:
        return self.n_ambient + self.n_signal + self.frames(self.tail_s)

    def signal(self) -> np.ndarray:
        """The test signal alone (faded in and out), ``n_signal`` samples."""
        if self.kind == "sweep":
            raw = exponential_sweep(self.n_signal, self.sample_rate, level_dbfs=self.level_dbfs)
        else:
            raw = pink_noise(self.n_signal, self.sample_rate, self.seed,
                             level_dbfs=self.level_dbfs)
        return apply_fades(raw, self.sample_rate)

    def playback(self) -> np.ndarray:
        """What the output plays during the whole take (silence, signal, silence)."""
        out = np.zeros(self.n_total, dtype=np.float64)
        out[self.n_ambient:self.n_ambient + self.n_signal] = self.signal()
        return out

    @property
    def ambient_window(self) -> slice:
        return slice(self.frames(self.guard_s), self.n_ambient)

    @property
    def signal_window(self) -> slice:
        guard = self.frames(self.guard_s)
        return slice(self.n_ambient + guard, self.n_ambient + self.n_signal - guard)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
