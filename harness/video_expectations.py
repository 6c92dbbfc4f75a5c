"""What `classcert video check --expect NAME` asks of a picture, each rule citing its clause.

The numbers are read from the requirement catalog (the 1080P parts of JJ010302.P5), so the
command and the suites judge by the same limits. The effective-resolution measure lives in
``classcert.video_detail`` (optional); this module holds the adapter that calls it and
tolerates its absence.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

CONFORMING = "conforming"
NOT_CONFORMING = "not conforming"
COULD_NOT_TEST = "could not test"
CLAUSES_1080P = ("JJ010302.P4", "JJ010302.P5", "GJ010302.P2", "GJ010302.P4", "JJ010305.P3")


@dataclass(frozen=True)
class Expectation:
    """What a picture must show to count as ``name`` (e.g. 1080P HD quality)."""

    name: str
    width: int
    height: int
    square_pixels: bool
    progressive: bool
    min_fps: float
    max_frozen_s: float
    max_dropped_share: float  # 0.005 = 0.5 %
    min_effective_lines: int
    clauses: tuple[str, ...]


EXPECTATION_NAMES = ("1080p",)
_PROFILE_1080P = "cq-jj"  # its JJ010302.P5 parts hold the 1080P numbers


def _expectation_1080p() -> Expectation:
    from classcert.catalog import load_catalog, parse_expression

    catalog = load_catalog(_PROFILE_1080P)

    def limit(key: str) -> Any:
        return parse_expression(catalog.by_key(key)[0].limit or "").evaluate({})

    width, height = limit("video.recording")
    return Expectation(
        "1080p", int(width), int(height), square_pixels=True,
        progressive=True,  # video.recording.progressive: op "true"
        min_fps=float(limit("video.recording.fps")),
        max_frozen_s=float(limit("video.recording.freezes")),
        max_dropped_share=float(limit("video.recording.dropped")) / 100,
        min_effective_lines=int(height), clauses=CLAUSES_1080P,
    )


def parse_ratio(text: str) -> Fraction:
    """A ratio written "4:3", "4/3", "1.333" or "1" as a positive Fraction."""
    t = text.strip()
    for sep in (":", "/"):
        if sep in t:
            num, _, den = t.partition(sep)
            value = Fraction(int(num), int(den))
            break
    else:
        value = Fraction(t).limit_denominator(10000)
    if value <= 0:
        raise ValueError(f"ratio {text!r} must be > 0")
    return value


def format_ratio(value: Fraction) -> str:
    return f"{value.numerator}:{value.denominator}"


@functools.cache
def get_expectation(name: str) -> Expectation:
    """The expectation called ``name``, built from the catalog on first use."""
    key = name.strip().lower()
    if key not in EXPECTATION_NAMES:
        known = ", ".join(EXPECTATION_NAMES)
        raise KeyError(f"unknown expectation {name!r}; known: {known} / 未知的期望值")
    return _expectation_1080p()


def _reason(en: str, zh: str, clauses: tuple[str, ...]) -> dict[str, str]:
    refs = ", ".join(clauses)
    return {"en": f"{en} ({refs})", "zh": f"{zh}（{refs}）"}


def evaluate(r: Any, exp: Expectation) -> tuple[str, list[dict[str, str]]]:
    """Verdict and plain-language reasons for a ProbeResult ``r`` against ``exp``."""
    c = exp.clauses
    out: list[dict[str, str]] = []
    if (r.width, r.height) != (exp.width, exp.height):
        out.append(_reason(
            f"picture is {r.width}x{r.height}, not {exp.width}x{exp.height}",
            f"画面为 {r.width}x{r.height}，不是 {exp.width}x{exp.height}", c))
    if exp.square_pixels and r.sample_aspect_ratio != 1:
        dar = r.display_aspect_ratio
        shown = f"{float(dar):.3g}:1" if dar is not None else "?"
        if dar is not None and abs(float(dar) - 16 / 9) < 0.02:
            shown = "16:9"
        out.append(_reason(
            f"pixels are not square ({r.width}x{r.height} stretched to {shown}, pixel aspect "
            f"{format_ratio(r.sample_aspect_ratio)})",
            f"像素不是正方形（{r.width}x{r.height} 拉伸为 {shown}）", c))
    if exp.progressive and not r.progressive:
        why = "flagged by the stream" if r.interlaced_frames else "combing seen on moving edges"
        out.append(_reason(f"interlaced ({r.height}i), {why}",
                           f"隔行扫描（{r.height}i），非逐行", c))
    fps_low = r.fps_measured is None or r.fps_measured < exp.min_fps - 0.01
    if fps_low:
        fps = "unknown" if r.fps_measured is None else f"{r.fps_measured:.2f}"
        out.append(_reason(f"frame rate {fps} fps is below {exp.min_fps:g} fps",
                           f"帧率 {fps} fps 低于 {exp.min_fps:g} fps", c))
    if r.frozen_seconds > exp.max_frozen_s:
        out.append(_reason(f"picture froze for {r.frozen_seconds:.1f} s",
                           f"画面冻结 {r.frozen_seconds:.1f} 秒", c))
    # a low frame rate already explains pattern pictures skipped by the source
    missing = max(r.dropped_frames, 0 if fps_low else (r.pattern_frames_missing or 0))
    expected = r.frames + missing
    if expected and missing / expected > exp.max_dropped_share:
        pct = 100 * missing / expected
        out.append(_reason(
            f"{pct:.1f} % of pictures were dropped ({missing} of {expected}; at most "
            f"{100 * exp.max_dropped_share:g} % allowed)",
            f"丢帧 {pct:.1f}%（{expected} 帧中丢失 {missing} 帧）", c))
    eff = r.effective
    if eff is not None and eff.get("lines") is not None and eff["lines"] < exp.min_effective_lines:
        lines = int(eff["lines"])
        out.append(_reason(
            f"picture detail equals a {lines}p source upscaled to {r.height} lines",
            f"画面细节只相当于 {lines}p 信号放大到 {r.height} 行", c))
    return (NOT_CONFORMING if out else CONFORMING), out


class DetailHook:
    """Adapter to ``classcert.video_detail``; collects metrics of sampled frames only.

    When the module is absent or fails, :meth:`result` returns None ("not measured").
    """

    def __init__(self, module: str = "classcert.video_detail", max_frames: int = 8) -> None:
        try:
            self.mod: Any = importlib.import_module(module)
        except ImportError:
            self.mod = None
        self.max_frames = max_frames
        self.metrics: list[Any] = []
        self.frames: list[Any] = []  # only when the module offers no effective_lines()
        self.error: str | None = None

    @property
    def available(self) -> bool:
        return self.mod is not None and self.error is None

    def add(self, gray: Any) -> None:
        if not self.available or len(self.metrics) + len(self.frames) >= self.max_frames:
            return
        try:
            if hasattr(self.mod, "effective_lines"):
                self.metrics.append(self.mod.detail_metrics(gray))
            else:
                self.frames.append(gray.copy())
        except Exception as exc:  # noqa: BLE001 - a failing measure means "not measured"
            self.error = f"{type(exc).__name__}: {exc}"

    def result(self, height: int) -> dict[str, Any] | None:
        if not self.available or not (self.metrics or self.frames):
            return None
        try:
            if self.metrics:
                eff = self.mod.effective_lines(self.metrics, height)
            else:
                eff = self.mod.effective_resolution(iter(self.frames), height)
        except Exception as exc:  # noqa: BLE001
            self.error = f"{type(exc).__name__}: {exc}"
            return None
        finally:
            self.frames.clear()
        get = eff.get if isinstance(eff, dict) else (lambda k, d=None: getattr(eff, k, d))
        lines = get("lines")
        if lines is None:
            return None
        horizontal = get("horizontal")
        return {"lines": int(lines), "method": str(get("method", "") or ""),
                "class_name": str(get("class_name", "") or f"{int(lines)}p"),
                "width": int(getattr(horizontal, "effective", 0) or 0) or None,
                "confidence": str(get("confidence", "") or ""),
                "reason_en": str(get("reason", "") or ""),
                "reason_zh": str(get("reason_zh", "") or "")}
