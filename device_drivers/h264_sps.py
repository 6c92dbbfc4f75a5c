"""H.264 sequence parameter set (ITU-T H.264 7.3.2.1, E.1.1) from ``sprop-parameter-sets``.

Nothing here does I/O. Malformed input raises :class:`RtspDecodeError` (a ``ValueError``).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from classcert.device_drivers.rtsp_errors import RtspDecodeError

_SAR = {1: (1, 1), 2: (12, 11), 3: (10, 11), 4: (16, 11), 5: (40, 33), 6: (24, 11), 7: (20, 11),
        8: (32, 11), 9: (80, 33), 10: (18, 11), 11: (15, 11), 12: (64, 33), 13: (160, 99),
        14: (4, 3), 15: (3, 2), 16: (2, 1)}
_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}
PROFILE_NAMES = {66: "Baseline", 77: "Main", 88: "Extended", 100: "High", 110: "High 10",
                 122: "High 4:2:2", 244: "High 4:4:4 Predictive", 44: "CAVLC 4:4:4 Intra"}


@dataclass(frozen=True)
class SpsInfo:
    profile_idc: int
    constraint_flags: int
    level_idc: int
    sps_id: int
    chroma_format_idc: int
    width: int
    height: int
    frame_mbs_only: bool
    sar: tuple[int, int] | None  # None when the SPS has no aspect_ratio_info
    fps: float | None  # None when the SPS has no timing_info
    crop: tuple[int, int, int, int] = (0, 0, 0, 0)  # left, right, top, bottom in pixels

    @property
    def interlaced(self) -> bool:
        return not self.frame_mbs_only


class BitReader:
    """MSB-first bit reader with Exp-Golomb codes; reading past the end raises."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def u(self, n: int) -> int:
        if self.pos + n > len(self.data) * 8:
            raise RtspDecodeError("H.264 SPS truncated")
        value = 0
        for _ in range(n):
            value = (value << 1) | ((self.data[self.pos >> 3] >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return value

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise RtspDecodeError("H.264 Exp-Golomb code longer than 32 bits")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


def unescape_rbsp(data: bytes) -> bytes:
    """Remove emulation-prevention bytes (00 00 03 -> 00 00)."""
    return re.sub(b"\x00\x00\x03", b"\x00\x00", data)


def parse_sprop(value: str) -> list[bytes]:
    """``sprop-parameter-sets`` (comma-separated base64 NAL units) -> NAL units."""
    out = []
    for part in value.split(","):
        part = part.strip()
        if part:
            try:
                out.append(base64.b64decode(part + "=" * (-len(part) % 4), validate=True))
            except (binascii.Error, ValueError):
                raise RtspDecodeError(
                    f"sprop-parameter-sets is not base64: {part[:40]!r}") from None
    return out


def parse_profile_level_id(value: str) -> tuple[int, int, int]:
    """fmtp ``profile-level-id`` (6 hex digits) -> (profile_idc, constraint flags, level_idc)."""
    if not re.fullmatch(r"[0-9A-Fa-f]{6}", value.strip()):
        raise RtspDecodeError(f"profile-level-id must be 6 hex digits, got {value!r}")
    raw = bytes.fromhex(value.strip())
    return raw[0], raw[1], raw[2]


def parse_sps(nal: bytes) -> SpsInfo:
    """Decode an SPS NAL unit (with its 1-byte header): size, cropping, interlace, SAR, fps."""
    if not nal or nal[0] & 0x1F != 7:
        raise RtspDecodeError("not an H.264 SPS NAL unit (type 7)")
    r = BitReader(unescape_rbsp(nal[1:]))
    profile, flags, level, sps_id = r.u(8), r.u(8), r.u(8), r.ue()
    chroma, separate = 1, 0
    if profile in _HIGH_PROFILES:
        chroma = r.ue()
        if chroma > 3:
            raise RtspDecodeError(f"H.264 chroma_format_idc {chroma} out of range")
        if chroma == 3:
            separate = r.u(1)
        r.ue(), r.ue(), r.u(1)  # bit depths, qpprime_y_zero_transform_bypass
        if r.u(1):  # seq_scaling_matrix_present
            for i in range(8 if chroma != 3 else 12):
                if r.u(1):
                    _skip_scaling_list(r, 16 if i < 6 else 64)
    r.ue()  # log2_max_frame_num_minus4
    poc_type = r.ue()
    if poc_type == 0:
        r.ue()
    elif poc_type == 1:
        r.u(1), r.se(), r.se()
        cycle = r.ue()
        if cycle > 255:
            raise RtspDecodeError("H.264 num_ref_frames_in_pic_order_cnt_cycle > 255")
        for _ in range(cycle):
            r.se()
    elif poc_type != 2:
        raise RtspDecodeError(f"H.264 pic_order_cnt_type {poc_type} out of range")
    r.ue(), r.u(1)  # max_num_ref_frames, gaps_in_frame_num_allowed
    mbs_w, map_h = r.ue() + 1, r.ue() + 1
    frame_mbs_only = r.u(1)
    if not frame_mbs_only:
        r.u(1)  # mb_adaptive_frame_field
    r.u(1)  # direct_8x8_inference
    crop = (0, 0, 0, 0)
    if r.u(1):
        crop = (r.ue(), r.ue(), r.ue(), r.ue())
    array_type = 0 if separate else chroma
    unit_x = 1 if array_type == 0 else (1 if chroma == 3 else 2)
    unit_y = (1 if array_type == 0 else (2 if chroma == 1 else 1)) * (2 - frame_mbs_only)
    width = mbs_w * 16 - unit_x * (crop[0] + crop[1])
    height = (2 - frame_mbs_only) * map_h * 16 - unit_y * (crop[2] + crop[3])
    if width <= 0 or height <= 0:
        raise RtspDecodeError(f"H.264 SPS cropping leaves {width}x{height}")
    sar, fps = _parse_vui(r) if r.u(1) else (None, None)
    px_crop = (crop[0] * unit_x, crop[1] * unit_x, crop[2] * unit_y, crop[3] * unit_y)
    return SpsInfo(profile, flags, level, sps_id, chroma, width, height, bool(frame_mbs_only),
                   sar, fps, px_crop)


def _skip_scaling_list(r: BitReader, size: int) -> None:
    last = nxt = 8
    for _ in range(size):
        if nxt:
            nxt = (last + r.se() + 256) % 256
        last = nxt or last


def _parse_vui(r: BitReader) -> tuple[tuple[int, int] | None, float | None]:
    sar = None
    if r.u(1):  # aspect_ratio_info_present
        idc = r.u(8)
        if idc == 255:
            sar = (r.u(16), r.u(16))
        else:
            sar = _SAR.get(idc)
    if r.u(1):  # overscan_info_present
        r.u(1)
    if r.u(1):  # video_signal_type_present
        r.u(3), r.u(1)
        if r.u(1):
            r.u(8), r.u(8), r.u(8)
    if r.u(1):  # chroma_loc_info_present
        r.ue(), r.ue()
    fps = None
    if r.u(1):  # timing_info_present
        units, scale = r.u(32), r.u(32)
        r.u(1)  # fixed_frame_rate
        if units and scale:
            fps = scale / (2 * units)
    return sar, fps
