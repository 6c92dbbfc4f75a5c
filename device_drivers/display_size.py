"""Choosing the best evidence of a display's diagonal, and refusing the known-bogus kinds.

Order of preference: the display's own size query (vendor protocol) > EDID detailed-timing
image size in mm > EDID bytes 21-22 in cm > an operator's measurement. Sizes that EDIDs are
known to get wrong are refused with a bilingual reason instead of being used: 0 x 0
(projectors, unknown), an aspect ratio stored as a size (16 x 9 cm, 1600 x 900 mm), mm equal to
the pixel counts, cm and mm that contradict each other, and absurd diagonals for a classroom
display. Bytes 21-22 saturate at 255 cm, so 255 is read as "at least". A projector's image size
depends on throw distance and screen: only a measurement on the screen counts.

When several accepted sources disagree with the chosen one by more than 5 % the disagreement
is recorded: a device's claim is evidence, not proof.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

from classcert.device_drivers.edid import (
    SIZE_BYTE_MAX_CM,
    DetailedTiming,
    Edid,
    diagonal_in_from_cm,
    diagonal_in_from_mm,
)

VENDOR, EDID_MM, EDID_CM, OPERATOR = "vendor", "edid-dtd-mm", "edid-cm", "operator"
SOURCES = (VENDOR, EDID_MM, EDID_CM, OPERATOR)
MIN_DIAGONAL_IN = 10.0  # smaller is no classroom display
MAX_DIAGONAL_IN = 250.0  # larger is no single display
DISAGREE_FRACTION = 0.05
CM_MM_TOLERANCE_CM = 2.0  # per axis, or ...
CM_MM_TOLERANCE_FRACTION = 0.05  # ... this fraction of the axis, whichever is larger
ASPECT_RATIOS = ((16, 9), (16, 10), (4, 3), (5, 4), (21, 9), (64, 27), (256, 135))
_ASPECT_CM = {r for a, b in ASPECT_RATIOS for r in ((a, b), (b, a))}
_ASPECT_MM = {(a * k, b * k) for a, b in _ASPECT_CM for k in (1, 10, 100)}


class Refusal(NamedTuple):
    """A source that gave a size which is not accepted as evidence, and why."""

    source: str
    reason_en: str
    reason_zh: str


class Candidate(NamedTuple):
    """An accepted size: ``at_least`` when it is only a lower bound (saturated cm bytes)."""

    source: str
    diagonal_in: float
    at_least: bool
    detail: str  # what it was computed from, e.g. "1904 x 1071 mm"


class Disagreement(NamedTuple):
    """An accepted source whose size differs from the chosen one by more than 5 %."""

    source: str
    diagonal_in: float
    chosen_source: str
    chosen_in: float
    relative: float  # |difference| / chosen size

    @property
    def message_en(self) -> str:
        return (f"{self.source} says {self.diagonal_in:.1f} in but {self.chosen_source} says "
                f"{self.chosen_in:.1f} in ({self.relative:.0%} apart)")

    @property
    def message_zh(self) -> str:
        return (f"{self.source} 报告 {self.diagonal_in:.1f} 英寸，而 {self.chosen_source} 报告 "
                f"{self.chosen_in:.1f} 英寸（相差 {self.relative:.0%}）")


@dataclass
class SizeEvidence:
    """The chosen diagonal (None when no source is trustworthy) and the reasoning behind it."""

    diagonal_in: float | None
    source: str | None
    at_least: bool = False  # diagonal_in is a lower bound
    detail: str = ""
    refused: list[Refusal] = field(default_factory=list)
    disagreements: list[Disagreement] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)  # accepted, best first


def _absurd(source: str, diag: float, detail_en: str, detail_zh: str) -> Refusal | None:
    if not math.isfinite(diag) or diag <= 0:
        return Refusal(source, f"{detail_en} is not a positive size",
                       f"{detail_zh} 不是有效的正数尺寸")
    if diag < MIN_DIAGONAL_IN or diag > MAX_DIAGONAL_IN:
        return Refusal(
            source, f"{detail_en} gives {diag:.1f} in, outside {MIN_DIAGONAL_IN:.0f}-"
            f"{MAX_DIAGONAL_IN:.0f} in: not a plausible classroom display size",
            f"{detail_zh} 对应 {diag:.1f} 英寸，超出 {MIN_DIAGONAL_IN:.0f}-{MAX_DIAGONAL_IN:.0f}"
            " 英寸：不是合理的教室显示尺寸")
    return None


def _reported(source: str, value: float | None, what_en: str,
              what_zh: str) -> Candidate | Refusal | None:
    """A size stated directly in inches (display query or operator)."""
    if value is None:
        return None
    value = float(value)
    return (_absurd(source, value, f"{what_en} {value:g} in", f"{what_zh} {value:g} 英寸")
            or Candidate(source, value, False, f"{value:g} in"))


def _sized_dtd(edid: Edid) -> DetailedTiming | None:
    """The first DTD giving an image size, the preferred one when it does."""
    return next((t for t in edid.all_dtds if t.h_image_mm or t.v_image_mm),
                edid.preferred_timing)


def _pixel_copy(t: DetailedTiming) -> bool:
    """True when the timing's mm size is its pixel count (or a tenth of it): a firmware filler."""
    px, py = t.h_active, t.v_active
    return t.image_mm in ((px, py), (px // 10, py // 10), (round(px / 10), round(py / 10)))


def _filler_mm(t: DetailedTiming | None) -> bool:
    """True when the timing's mm size is a known filler (aspect ratio or pixel count)."""
    return t is not None and t.h_image_mm > 0 and t.v_image_mm > 0 and (
        t.image_mm in _ASPECT_MM or _pixel_copy(t))


def _from_mm(edid: Edid) -> Candidate | Refusal:
    t = _sized_dtd(edid)
    if t is None:
        return Refusal(EDID_MM, "EDID has no detailed timing, so no image size in mm",
                       "EDID 中没有详细时序，因而没有以毫米计的图像尺寸")
    h, v = t.image_mm
    detail = f"{h} x {v} mm"
    if h == 0 or v == 0:
        return Refusal(EDID_MM, f"EDID timing image size is {detail}: not given (typical of "
                       "projectors)", f"EDID 时序中的图像尺寸为 {detail}：未提供（投影机常见）")
    if (h, v) in _ASPECT_MM:
        return Refusal(EDID_MM, f"EDID timing image size {detail} is an aspect ratio stored as "
                       "a size, not a measurement", f"EDID 时序中的图像尺寸 {detail} 是按尺寸存放"
                       "的宽高比，不是实际尺寸")
    if _pixel_copy(t):
        px = f"{t.h_active} x {t.v_active}"
        return Refusal(EDID_MM, f"EDID timing image size {detail} merely copies the pixel "
                       f"count {px}", f"EDID 时序中的图像尺寸 {detail} 只是照抄像素数 {px}")
    diag = diagonal_in_from_mm(h, v)
    return (_absurd(EDID_MM, diag, f"EDID {detail}", f"EDID {h} x {v} 毫米")
            or Candidate(EDID_MM, diag, False, detail))


def _from_cm(edid: Edid) -> Candidate | Refusal:
    if edid.screen_cm is None:
        if edid.aspect_ratio is not None:
            ratio = f"{edid.aspect_ratio:.2f}"
            return Refusal(EDID_CM, f"EDID bytes 21-22 hold the aspect ratio {ratio}, not a size",
                           f"EDID 第 21-22 字节存放的是宽高比 {ratio}，不是尺寸")
        h, v = edid.size_bytes
        return Refusal(EDID_CM, f"EDID screen size is {h} x {v} cm: unknown or variable "
                       "(typical of projectors)", f"EDID 屏幕尺寸为 {h} x {v} 厘米：未知或可变"
                       "（投影机常见）")
    h, v = edid.screen_cm
    detail = f"{h} x {v} cm"
    if (h, v) in _ASPECT_CM:
        return Refusal(EDID_CM, f"EDID screen size {detail} is an aspect ratio stored as a size",
                       f"EDID 屏幕尺寸 {detail} 是按尺寸存放的宽高比")
    at_least = edid.size_cm_at_least
    if at_least:
        detail = f"{detail} (255 cm = at least)"
    diag = diagonal_in_from_cm(h, v)
    return (_absurd(EDID_CM, diag, f"EDID {detail}", f"EDID {h} x {v} 厘米")
            or Candidate(EDID_CM, diag, at_least, detail))


def _axis_agrees(cm: int, mm: int) -> bool:
    tol = max(CM_MM_TOLERANCE_CM, CM_MM_TOLERANCE_FRACTION * cm)
    if cm == SIZE_BYTE_MAX_CM:
        return mm / 10.0 >= cm - tol
    return abs(mm / 10.0 - cm) <= tol


def _cm_mm_conflict(edid: Edid) -> tuple[Refusal, Refusal] | None:
    t = _sized_dtd(edid)
    if t is None or edid.screen_cm is None:
        return None
    (hc, vc), (hm, vm) = edid.screen_cm, t.image_mm
    if _axis_agrees(hc, hm) and _axis_agrees(vc, vm):
        return None
    en = f"EDID contradicts itself: bytes 21-22 say {hc} x {vc} cm, timing says {hm} x {vm} mm"
    zh = f"EDID 自相矛盾：第 21-22 字节为 {hc} x {vc} 厘米，时序为 {hm} x {vm} 毫米"
    return Refusal(EDID_MM, en, zh), Refusal(EDID_CM, en, zh)


def _edid_sizes(edid: Edid) -> list[Candidate | Refusal]:
    """The EDID's mm and cm sizes, each accepted or refused, judged also against each other."""
    mm, cm = _from_mm(edid), _from_cm(edid)
    if not edid.checksum_ok:
        en = "EDID base block checksum is wrong: the bytes may be corrupted; re-read the EDID " \
             "(another cable) or measure the screen"
        zh = "EDID 基本块校验和错误：数据可能已损坏；请重新读取（更换线缆）或实测屏幕"
        return [Refusal(c.source, en, zh) if isinstance(c, Candidate) else c for c in (mm, cm)]
    conflict = _cm_mm_conflict(edid)
    if isinstance(cm, Candidate) and isinstance(mm, Candidate) and conflict:
        mm, cm = conflict
    elif isinstance(cm, Candidate) and _filler_mm(_sized_dtd(edid)) and not conflict:
        cm = Refusal(EDID_CM, f"EDID screen size {cm.detail} only restates the timing's filler "
                     "size (aspect ratio or pixel count)",
                     f"EDID 屏幕尺寸 {cm.detail} 只是重复时序中的占位尺寸（宽高比或像素数）")
    return [mm, cm]


def _relative_gap(other: Candidate, chosen: Candidate) -> float:
    """How far ``other`` is from ``chosen``, relative to ``chosen``; lower bounds respected."""
    a, b = other.diagonal_in, chosen.diagonal_in
    if other.at_least and b >= a or chosen.at_least and a >= b:
        return 0.0
    return abs(a - b) / b


def choose_size(vendor_in: float | None, edid: Edid | None, operator_in: float | None, *,
                projector: bool = False) -> SizeEvidence:
    """Pick the best diagonal evidence; see the module docstring for the rules.

    ``projector`` comes from the rig (role or ``options.kind = "projector"``): then only the
    operator's measurement on the screen is accepted.
    """
    found: list[Candidate | Refusal | None] = [
        _reported(VENDOR, vendor_in, "display reports", "显示设备报告")]
    if edid is not None:
        found += _edid_sizes(edid)
    if projector:
        found = [Refusal(c.source, "a projector's image size depends on throw distance and "
                         "screen: only a measurement on the screen counts",
                         "投影画面尺寸取决于投射距离和幕布：只认可在幕布上的实测值")
                 if isinstance(c, Candidate) else c for c in found]
    found.append(_reported(OPERATOR, operator_in, "operator measured", "人工测量"))
    candidates = [c for c in found if isinstance(c, Candidate)]
    refused = [c for c in found if isinstance(c, Refusal)]
    if not candidates:
        return SizeEvidence(None, None, refused=refused)
    best = candidates[0]
    disagreements = [
        Disagreement(c.source, c.diagonal_in, best.source, best.diagonal_in, gap)
        for c in candidates[1:] if (gap := _relative_gap(c, best)) > DISAGREE_FRACTION]
    return SizeEvidence(best.diagonal_in, best.source, best.at_least, best.detail, refused,
                        disagreements, candidates)
