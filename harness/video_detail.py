"""Effective resolution: how much picture detail a frame really carries, whatever its header says.

A 720-line source scaled up to 1080 lines has 1080 rows but (almost) no luma energy between
720/1080 = 0.667 and 1.0 of the frame's Nyquist frequency; a 540-line source none above 0.5.
This module measures the luma power spectrum of each direction (Welch average of Hann-windowed
256-sample segments over every column, respectively every row) and, for each candidate source
class from the top down, compares the mean spectral density of a narrow probe band just above
that class's Nyquist limit (``cut * (1 + GUARD)``, ``PROBE_WIDTH`` wide) with the mean density
of the coarse detail (``REF_LOW`` .. ``REF_HIGH``). The first populated probe means the source
is of the class above it; that is done per direction and the lower of the two wins.
Thresholds come from ``benchmarks/effective_resolution_figures.py``
(see docs/effective-resolution.md): H.264 round trips of the calibration pattern through the
bilinear, bicubic and Lanczos scalers.

Only detail that is present can be seen: on the test pattern (zone plate reaching 0.95 Nyquist)
the result is the source class; on arbitrary content it is a lower bound.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

LINE_CLASSES: tuple[int, ...] = (2160, 1440, 1080, 900, 720, 576, 540, 480)
WIDTH_CLASSES: tuple[int, ...] = (3840, 2560, 1920, 1600, 1440, 1280, 1024, 960, 854, 720, 640)
SEGMENT = 256  # Welch segment length (samples); frequency resolution 2/SEGMENT of Nyquist
REF_LOW = 0.10  # reference band (fraction of Nyquist): coarse detail every source carries
REF_HIGH = 0.30
BAND_TOP = 0.95  # no probe reaches above this: the frame's own scaler/codec roll-off
GUARD = 0.08  # a probe starts this fraction above a class's Nyquist (scaler transition)
PROBE_WIDTH = 0.05  # probe band width, fraction of Nyquist
# Thresholds (dB re reference density), from benchmarks/effective_resolution_figures.py:
# the top probe decides "genuine full resolution": worst genuine 1080p -1.5 dB, best
# upscaled (900p bicubic) -10.2 dB; the lower probes separate the lower classes, where
# adjacent classes overlap by up to 2.4 dB depending on the scaler (see the doc).
FULL_DB = -6.0
LOWER_DB = -12.0
CONFIDENT_MARGIN_DB = 2.0  # a decision this far from its threshold is "high" confidence
DETAIL_FLOOR = 1e-6  # reference-band RMS below this fraction of full scale: no detail


@dataclass(frozen=True)
class DetailMetrics:
    """Averaged luma power spectra of one frame (or an average of frames).

    ``vertical[k]`` is the power at ``k / (len(vertical) - 1)`` of the vertical Nyquist
    frequency (detail across rows), ``horizontal`` likewise across columns.
    """

    height: int
    width: int
    vertical: np.ndarray
    horizontal: np.ndarray
    detail_rms: float  # RMS of the reference band, relative to the frame's full scale
    frames: int = 1

    def spectrum(self, direction: str) -> np.ndarray:
        if direction not in ("vertical", "horizontal"):
            raise ValueError(f"direction must be 'vertical' or 'horizontal', got {direction!r}")
        return self.vertical if direction == "vertical" else self.horizontal

    def band_energy(self, direction: str, low: float, high: float) -> float:
        """Summed power in ``low .. high`` (fractions of Nyquist) of one direction."""
        spec = self.spectrum(direction)
        return float(spec[_band_slice(len(spec), low, high)].sum())

    def band_density_db(self, direction: str, cut: float) -> float:
        """Density of the probe just above ``cut`` re the coarse-detail density, in dB."""
        spec = self.spectrum(direction)
        low = cut * (1.0 + GUARD)
        probe = spec[_band_slice(len(spec), low, min(BAND_TOP, low + PROBE_WIDTH))]
        ref = spec[_band_slice(len(spec), REF_LOW, min(REF_HIGH, cut))]
        if probe.size == 0 or ref.size == 0:
            return float("nan")
        floor = 1e-12 * float(spec.sum()) + 1e-30
        return 10.0 * math.log10(max(float(probe.mean()), floor) / max(float(ref.mean()), floor))


def _band_slice(bins: int, low: float, high: float) -> slice:
    scale = bins - 1
    return slice(int(math.ceil(low * scale)), int(math.floor(high * scale)) + 1)


def _welch_along_axis0(x: np.ndarray) -> np.ndarray:
    """Mean Hann-windowed power spectrum of every column of ``x``, 50 % overlapped segments."""
    n = x.shape[0]
    seg = min(SEGMENT, n - n % 2)
    step = seg // 2
    starts = list(range(0, n - seg + 1, step))
    if starts[-1] != n - seg:
        starts.append(n - seg)  # cover the far edge too
    window = np.hanning(seg + 2)[1:-1].astype(np.float32)[:, None]
    total = np.zeros(seg // 2 + 1)
    for s in starts:
        block = x[s : s + seg]
        block = (block - block.mean(axis=0, keepdims=True)) * window
        total += (np.abs(np.fft.rfft(block, axis=0)) ** 2).mean(axis=1)
    return total / len(starts)


def _luma(gray: np.ndarray) -> tuple[np.ndarray, float]:
    arr = np.asarray(gray)
    if arr.ndim != 2:
        raise ValueError(
            f"expected one luma plane (2-D array), got shape {arr.shape}; pass frame[..., 0] "
            "of a YUV frame or convert RGB to grey first"
        )
    if min(arr.shape) < 32:
        raise ValueError(f"frame {arr.shape[1]}x{arr.shape[0]} is too small to measure detail")
    if np.issubdtype(arr.dtype, np.integer):
        full_scale = float(np.iinfo(arr.dtype).max)
    else:
        full_scale = float(np.max(np.abs(arr))) or 1.0
    return arr.astype(np.float32), full_scale


def detail_metrics(gray: np.ndarray) -> DetailMetrics:
    """Vertical and horizontal luma spectra of one frame (2-D array, any numeric dtype)."""
    luma, full_scale = _luma(gray)
    vertical = _welch_along_axis0(luma)
    horizontal = _welch_along_axis0(luma.T)
    seg_v = (len(vertical) - 1) * 2
    ref = vertical[_band_slice(len(vertical), REF_LOW, BAND_TOP)]
    # Hann power gain is 3/8 per sample; rfft power of one bin ~ amplitude^2 * seg^2 / 16.
    detail_rms = math.sqrt(max(float(ref.sum()), 0.0) * 2.0 / (seg_v * seg_v * 0.375))
    return DetailMetrics(
        height=luma.shape[0],
        width=luma.shape[1],
        vertical=vertical,
        horizontal=horizontal,
        detail_rms=detail_rms / full_scale,
    )


def average_metrics(metrics: Sequence[DetailMetrics]) -> DetailMetrics:
    """One metrics object whose spectra are the mean of the frames' normalised spectra."""
    if not metrics:
        raise ValueError("no frames to average")
    acc = _Accumulator()
    for m in metrics:
        acc.add(m)
    return acc.result()


class _Accumulator:
    """Running mean of spectra, each frame normalised to its own reference band energy."""

    def __init__(self) -> None:
        self.vertical: np.ndarray | None = None
        self.horizontal: np.ndarray | None = None
        self.first: DetailMetrics | None = None
        self.count = 0
        self.rms = 0.0

    def add(self, m: DetailMetrics) -> None:
        if self.first is None:
            self.first = m
            self.vertical = np.zeros_like(m.vertical)
            self.horizontal = np.zeros_like(m.horizontal)
        elif (m.height, m.width) != (self.first.height, self.first.width):
            raise ValueError(
                f"frame size changed from {self.first.width}x{self.first.height} "
                f"to {m.width}x{m.height}; measure each stream separately"
            )
        assert self.vertical is not None and self.horizontal is not None
        rv = m.band_energy("vertical", REF_LOW, REF_HIGH)
        rh = m.band_energy("horizontal", REF_LOW, REF_HIGH)
        self.vertical += m.vertical / rv if rv > 0 else m.vertical
        self.horizontal += m.horizontal / rh if rh > 0 else m.horizontal
        self.rms = max(self.rms, m.detail_rms)
        self.count += m.frames

    def result(self) -> DetailMetrics:
        assert self.first is not None and self.vertical is not None
        assert self.horizontal is not None
        return DetailMetrics(
            self.first.height,
            self.first.width,
            self.vertical / max(self.count, 1),
            self.horizontal / max(self.count, 1),
            self.rms,
            self.count,
        )


@dataclass(frozen=True)
class DirectionResult:
    """Effective samples along one direction and the band figures that decided it."""

    direction: str  # "vertical" (lines) or "horizontal" (samples per line)
    samples: int  # frame samples in this direction (e.g. 1080)
    effective: int  # effective source samples (e.g. 720); the frame size when full
    band_db: dict[int, float]  # candidate class -> band density re detail below (dB)
    margin_db: float  # distance of the deciding figure from the threshold (dB)


@dataclass(frozen=True)
class EffectiveResolution:
    """Outcome of the effective-resolution measurement."""

    lines: int  # highest line class with detail in both directions; 0 = no detail seen
    class_name: str  # e.g. "1080p", "720p", "none"
    method: str
    confidence: str  # "high", "low" (close to a threshold) or "none" (no detail)
    reason: str  # plain words, English
    reason_zh: str
    vertical: DirectionResult | None = None
    horizontal: DirectionResult | None = None
    frames: int = 0
    notes: tuple[str, ...] = field(default=())

    def meets(self, required_lines: int) -> bool:
        return self.lines >= required_lines


METHOD = (
    "luma spectral band density above each candidate source's Nyquist limit "
    f"(Welch, Hann {SEGMENT}); thresholds {FULL_DB:g} dB (full) / {LOWER_DB:g} dB (lower)"
)


def _candidates(samples: int, classes: Sequence[int]) -> list[int]:
    return [c for c in classes if c / samples * (1.0 + GUARD) + PROBE_WIDTH <= BAND_TOP + 1e-9]


def _direction(m: DetailMetrics, direction: str, classes: Sequence[int]) -> DirectionResult:
    samples = m.height if direction == "vertical" else m.width
    band_db: dict[int, float] = {}
    effective = 0
    margin = float("inf")
    previous = samples  # class just above the one being tested
    for i, cls in enumerate(sorted(_candidates(samples, classes), reverse=True)):
        db = m.band_density_db(direction, cls / samples)
        band_db[cls] = db
        threshold = FULL_DB if i == 0 else LOWER_DB
        margin = min(margin, abs(db - threshold))
        if db >= threshold:
            effective = previous
            break
        previous = cls
    if effective == 0:
        effective = previous  # nothing above even the lowest class: at most that class
    return DirectionResult(direction, samples, effective, band_db, margin)


def _label(samples: int, frame: int) -> str:
    return "full" if samples >= frame else str(samples)


def effective_lines(metrics_list: Sequence[DetailMetrics], height: int) -> EffectiveResolution:
    """Effective line class from the spectra of frames of ``height`` lines."""
    metrics = [m for m in metrics_list if m.detail_rms >= DETAIL_FLOOR]
    if metrics and any(m.height != height for m in metrics):
        raise ValueError(f"frames are {metrics[0].height} lines high, expected {height}")
    if not metrics:
        return EffectiveResolution(
            0, "none", METHOD, "none",
            "no picture detail to measure: show the detail test pattern (zone plate) and retry",
            "画面无可测细节：请显示细节测试图（波带板）后重试",
            frames=len(metrics_list),
        )  # fmt: skip
    m = average_metrics(metrics)
    vert = _direction(m, "vertical", LINE_CLASSES)
    horiz = _direction(m, "horizontal", WIDTH_CLASSES)
    h_equiv = horiz.effective * height / m.width  # horizontal detail expressed in lines
    tops = [height] + [c for c in LINE_CLASSES if c < height]
    lines = next(
        (c for c in tops if c <= vert.effective and c <= h_equiv + 0.5), tops[-1]
    )
    class_name = f"{lines}p"
    notes: list[str] = []
    if lines == tops[-1] and (vert.effective < lines or h_equiv + 0.5 < lines):
        notes.append(f"detail is at most that of a {lines}-line source")
    lowest = min(vert.band_db.values(), default=float("nan"))
    if lines == height:
        reason = f"picture detail is that of a genuine {height}-line source"
        reason_zh = f"画面细节与真实{height}线信号源一致"
    else:
        reason = (
            f"picture detail equals a {_src(vert, horiz, m)} source upscaled to "
            f"{m.width}x{height}"
        )
        reason_zh = f"画面细节相当于{_src(vert, horiz, m)}信号源放大到{m.width}x{height}"
    if horiz.effective < m.width and vert.effective >= height:
        notes.append(
            f"horizontal detail of only {horiz.effective} samples stretched to {m.width} "
            "(e.g. anamorphic 1440x1080)"
        )
    if not math.isnan(lowest):
        notes.append(
            "on content other than the test pattern this is a lower bound: "
            "soft content looks like a lower class"
        )
    confidence = "high" if min(vert.margin_db, horiz.margin_db) >= CONFIDENT_MARGIN_DB else "low"
    return EffectiveResolution(
        lines, class_name, METHOD, confidence, reason, reason_zh,
        vert, horiz, m.frames, tuple(notes),
    )  # fmt: skip


def _src(vert: DirectionResult, horiz: DirectionResult, m: DetailMetrics) -> str:
    return f"{_label(horiz.effective, m.width) if horiz.effective < m.width else m.width}x" + (
        f"{vert.effective}"
    )


def effective_resolution(frames: Iterable[np.ndarray], height: int) -> EffectiveResolution:
    """Measure a stream of luma frames one at a time (memory does not grow with length)."""
    acc = _Accumulator()
    seen = 0
    for frame in frames:
        seen += 1
        m = detail_metrics(frame)
        if m.height != height:
            raise ValueError(f"frame is {m.height} lines high, expected {height}")
        if m.detail_rms >= DETAIL_FLOOR:
            acc.add(m)
    if acc.count == 0:
        result = effective_lines([], height)
        return EffectiveResolution(**{**result.__dict__, "frames": seen})
    return effective_lines([acc.result()], height)


def calibration_pattern(width: int = 1920, height: int = 1080, frame: int = 0) -> np.ndarray:
    """The deterministic detail pattern the thresholds were calibrated on (uint8 luma).

    An inverse zone plate: the local frequency of each direction rises linearly from 0 at the
    frame edges to 0.95 of Nyquist on the centre lines, so every spatial frequency up to
    0.95 Nyquist is present, and the finest detail lies in the middle of the picture rather
    than at the edges where an analysis window tapers. Luma 16..235; ``frame`` advances the
    phase so that an encoder cannot code later frames as copies of the first.
    """
    return np.round(125.5 + 109.5 * np.cos(_sweep(height)[:, None] + _sweep(width)[None, :]
                                           + frame * 0.7)).astype(np.uint8)  # fmt: skip


def _sweep(n: int) -> np.ndarray:
    """Phase (radians) whose local frequency runs 0 -> BAND_TOP Nyquist -> 0 across n samples."""
    pos = np.arange(n, dtype=np.float64)
    half = n / 2.0
    # local frequency in cycles/sample: 0.5 * BAND_TOP * (1 - |pos - half| / half)
    dist = np.abs(pos - half)
    phase = np.pi * BAND_TOP * (half - dist) ** 2 / half / 2.0
    ramp = np.pi * BAND_TOP * half / 2.0
    return np.where(pos < half, phase, 2.0 * ramp - phase)
