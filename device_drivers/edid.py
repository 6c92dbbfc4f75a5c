"""EDID parser: VESA E-EDID 1.3/1.4 base block and the CTA-861 extension. Pure, no I/O.

``parse_edid(data)`` raises :class:`EdidError` only when the bytes cannot be an EDID at all
(wrong length, wrong header). Everything else that is wrong (bad checksum, missing extension
blocks, undecodable fields) is flagged on the result and listed in ``Edid.warnings``: a
display with a bad checksum still tells us something, and the caller decides what to trust.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from classcert.device_drivers.errors import DeviceProtocolError

BLOCK_SIZE = 128
HEADER = bytes((0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00))
MM_PER_INCH = 25.4
CTA_TAG = 0x02
SIZE_BYTE_MAX_CM = 255  # bytes 21-22 saturate here: 255 means "at least 255 cm"


class EdidError(DeviceProtocolError):
    """The bytes are not an EDID (too short, not whole 128-byte blocks, wrong header)."""


def diagonal_in_from_mm(h_mm: float, v_mm: float) -> float:
    """Diagonal in inches of an h x v millimetre rectangle."""
    return math.hypot(h_mm, v_mm) / MM_PER_INCH


def diagonal_in_from_cm(h_cm: float, v_cm: float) -> float:
    """Diagonal in inches of an h x v centimetre rectangle."""
    return diagonal_in_from_mm(h_cm * 10.0, v_cm * 10.0)


@dataclass(frozen=True)
class DetailedTiming:
    """One 18-byte detailed timing descriptor (DTD)."""

    pixel_clock_khz: int
    h_active: int
    h_blank: int
    v_active: int  # lines per field when interlaced
    v_blank: int
    h_front_porch: int
    h_sync: int
    v_front_porch: int
    v_sync: int
    h_image_mm: int  # 0 = not given
    v_image_mm: int
    h_border: int
    v_border: int
    interlaced: bool
    flags: int  # byte 17 as stored: stereo mode, sync type, sync polarities

    @property
    def digital_separate_sync(self) -> bool:
        return (self.flags >> 3) & 0b11 == 0b11

    @property
    def hsync_positive(self) -> bool:
        return bool(self.flags & 0x02)

    @property
    def vsync_positive(self) -> bool:
        return bool(self.flags & 0x04)

    @property
    def refresh_hz(self) -> float:
        """Vertical rate (field rate when interlaced)."""
        total = (self.h_active + self.h_blank) * (self.v_active + self.v_blank)
        return self.pixel_clock_khz * 1000.0 / total if total else 0.0

    @property
    def image_mm(self) -> tuple[int, int]:
        return self.h_image_mm, self.v_image_mm

    @property
    def diagonal_in(self) -> float | None:
        """Image diagonal from the mm fields; None when either is 0 (not given)."""
        if self.h_image_mm == 0 or self.v_image_mm == 0:
            return None
        return diagonal_in_from_mm(self.h_image_mm, self.v_image_mm)


@dataclass(frozen=True)
class RangeLimits:
    """Display range limits descriptor (0xFD), offsets of EDID 1.4 applied."""

    min_v_hz: int
    max_v_hz: int
    min_h_khz: int
    max_h_khz: int
    max_pixel_clock_mhz: int  # 0 = not given


@dataclass(frozen=True)
class VicMode:
    """The video format a CTA-861 Video Identification Code stands for."""

    width: int
    height: int  # frame height, also for interlaced formats
    refresh_hz: float  # field rate for interlaced formats
    interlaced: bool


@dataclass(frozen=True)
class Svd:
    """Short video descriptor: a VIC and its native flag."""

    vic: int
    native: bool

    @property
    def mode(self) -> VicMode | None:
        return vic_mode(self.vic)


@dataclass(frozen=True)
class CtaExtension:
    """What we read from one CTA-861 extension block."""

    block_index: int
    revision: int
    underscan: bool
    basic_audio: bool
    ycbcr444: bool
    ycbcr422: bool
    native_dtd_count: int
    svds: tuple[Svd, ...]
    dtds: tuple[DetailedTiming, ...]
    checksum_ok: bool

    @property
    def vics(self) -> tuple[int, ...]:
        return tuple(s.vic for s in self.svds)


@dataclass(frozen=True)
class Edid:
    """A parsed EDID. Text fields are "" and numbers 0 when the EDID does not give them."""

    raw: bytes
    version: tuple[int, int]  # (1, 4) for EDID 1.4
    checksum_ok: bool  # base block
    bad_checksum_blocks: tuple[int, ...]  # indexes of every block whose checksum is wrong
    manufacturer: str  # 3-letter PNP id, '?' for an undecodable letter
    product_code: int
    serial_number: int  # 0 = not given
    week: int  # 0 = not given; meaningless when model_year
    year: int
    model_year: bool  # week byte 0xFF: ``year`` is the model year, not the manufacture year
    digital: bool
    size_bytes: tuple[int, int]  # bytes 21-22 exactly as stored
    screen_cm: tuple[int, int] | None  # None when not a size (0 bytes, or aspect encoding)
    aspect_ratio: float | None  # EDID 1.4 bytes 21-22 aspect encoding (width / height)
    first_dtd_preferred: bool  # feature byte bit 1
    dtds: tuple[DetailedTiming, ...]  # base block only
    name: str  # 0xFC
    serial_string: str  # 0xFF
    texts: tuple[str, ...]  # 0xFE unspecified text
    range_limits: RangeLimits | None
    extension_count: int  # byte 126
    extension_tags: tuple[int, ...]  # first byte of each extension block present
    cta: tuple[CtaExtension, ...]
    truncated: bool  # fewer extension blocks present than byte 126 announces
    warnings: tuple[str, ...]

    @property
    def preferred_timing(self) -> DetailedTiming | None:
        """The first DTD of the base block, else of the first CTA block."""
        return next(iter(self.all_dtds), None)

    @property
    def all_dtds(self) -> tuple[DetailedTiming, ...]:
        return self.dtds + tuple(t for ext in self.cta for t in ext.dtds)

    @property
    def vics(self) -> tuple[int, ...]:
        return tuple(v for ext in self.cta for v in ext.vics)

    @property
    def size_cm_at_least(self) -> bool:
        """True when a size byte is saturated at 255 cm: the real size may be larger."""
        return self.screen_cm is not None and SIZE_BYTE_MAX_CM in self.screen_cm

    @property
    def diagonal_in_from_cm(self) -> float | None:
        return None if self.screen_cm is None else diagonal_in_from_cm(*self.screen_cm)


# ---- CTA-861 VIC table (common formats) -------------------------------------------------
# (vics, width, height, h_total, v_total, pixel clock kHz, interlaced)
_VIC_ROWS: tuple[tuple[tuple[int, ...], int, int, int, int, int, bool], ...] = (
    ((1,), 640, 480, 800, 525, 25_175, False), ((2, 3), 720, 480, 858, 525, 27_000, False),
    ((4,), 1280, 720, 1650, 750, 74_250, False), ((5,), 1920, 1080, 2200, 1125, 74_250, True),
    ((6, 7), 1440, 480, 1716, 525, 27_000, True), ((8, 9), 1440, 240, 1716, 262, 27_000, False),
    ((10, 11), 2880, 480, 3432, 525, 54_000, True), ((12, 13), 2880, 240, 3432, 262, 54_000, False),
    ((14, 15), 1440, 480, 1716, 525, 54_000, False),
    ((16,), 1920, 1080, 2200, 1125, 148_500, False), ((17, 18), 720, 576, 864, 625, 27_000, False),
    ((19,), 1280, 720, 1980, 750, 74_250, False), ((20,), 1920, 1080, 2640, 1125, 74_250, True),
    ((21, 22), 1440, 576, 1728, 625, 27_000, True), ((23, 24), 1440, 288, 1728, 312, 27_000, False),
    ((25, 26), 2880, 576, 3456, 625, 54_000, True), ((27, 28), 2880, 288, 3456, 312, 54_000, False),
    ((29, 30), 1440, 576, 1728, 625, 54_000, False),
    ((31,), 1920, 1080, 2640, 1125, 148_500, False), ((32,), 1920, 1080, 2750, 1125, 74_250, False),
    ((33,), 1920, 1080, 2640, 1125, 74_250, False), ((34,), 1920, 1080, 2200, 1125, 74_250, False),
    ((35, 36), 2880, 480, 3432, 525, 108_000, False),
    ((37, 38), 2880, 576, 3456, 625, 108_000, False), ((39,), 1920, 1080, 2304, 1250, 72_000, True),
    ((40,), 1920, 1080, 2640, 1125, 148_500, True), ((41,), 1280, 720, 1980, 750, 148_500, False),
    ((42, 43), 720, 576, 864, 625, 54_000, False), ((44, 45), 1440, 576, 1728, 625, 54_000, True),
    ((46,), 1920, 1080, 2200, 1125, 148_500, True), ((47,), 1280, 720, 1650, 750, 148_500, False),
    ((48, 49), 720, 480, 858, 525, 54_000, False), ((50, 51), 1440, 480, 1716, 525, 54_000, True),
    ((52, 53), 720, 576, 864, 625, 108_000, False), ((54, 55), 1440, 576, 1728, 625, 108_000, True),
    ((56, 57), 720, 480, 858, 525, 108_000, False), ((58, 59), 1440, 480, 1716, 525, 108_000, True),
    ((60,), 1280, 720, 3300, 750, 59_400, False), ((61,), 1280, 720, 3960, 750, 74_250, False),
    ((62,), 1280, 720, 3300, 750, 74_250, False), ((63,), 1920, 1080, 2200, 1125, 297_000, False),
    ((64,), 1920, 1080, 2640, 1125, 297_000, False),
    ((93, 103), 3840, 2160, 5500, 2250, 297_000, False),
    ((94, 104), 3840, 2160, 5280, 2250, 297_000, False),
    ((95, 105), 3840, 2160, 4400, 2250, 297_000, False),
    ((96, 106), 3840, 2160, 5280, 2250, 594_000, False),
    ((97, 107), 3840, 2160, 4400, 2250, 594_000, False),
    ((98,), 4096, 2160, 5500, 2250, 297_000, False),
    ((99,), 4096, 2160, 5280, 2250, 297_000, False),
    ((100,), 4096, 2160, 4400, 2250, 297_000, False),
    ((101,), 4096, 2160, 5280, 2250, 594_000, False),
    ((102,), 4096, 2160, 4400, 2250, 594_000, False),
)
VIC_MODES: dict[int, VicMode] = {
    vic: VicMode(w, h, clk * 1000.0 / (ht * vt) * (2 if il else 1), il)
    for vics, w, h, ht, vt, clk, il in _VIC_ROWS
    for vic in vics
}


def vic_mode(vic: int) -> VicMode | None:
    """The format of a VIC (e.g. 16 = 1920x1080 progressive 60 Hz); None if not in the table."""
    return VIC_MODES.get(vic)


# ---- decoding helpers ---------------------------------------------------------------------


def _checksum_ok(block: bytes) -> bool:
    return sum(block) % 256 == 0


def _pnp_id(hi: int, lo: int) -> str:
    word = (hi << 8) | lo
    codes = ((word >> 10) & 0x1F, (word >> 5) & 0x1F, word & 0x1F)
    return "".join(chr(ord("A") + c - 1) if 1 <= c <= 26 else "?" for c in codes)


def _text(payload: bytes) -> str:
    """Descriptor text: up to 13 bytes, ended by 0x0A, padded with spaces."""
    text = payload.split(b"\n", 1)[0].decode("ascii", errors="replace")
    return "".join(c if c.isprintable() else "?" for c in text).strip()


def parse_dtd(d: bytes) -> DetailedTiming:
    """Decode one 18-byte detailed timing descriptor (pixel clock must be non-zero)."""
    return DetailedTiming(
        pixel_clock_khz=(d[0] | (d[1] << 8)) * 10,
        h_active=d[2] | ((d[4] >> 4) << 8),
        h_blank=d[3] | ((d[4] & 0xF) << 8),
        v_active=d[5] | ((d[7] >> 4) << 8),
        v_blank=d[6] | ((d[7] & 0xF) << 8),
        h_front_porch=d[8] | ((d[11] >> 6) << 8),
        h_sync=d[9] | (((d[11] >> 4) & 3) << 8),
        v_front_porch=(d[10] >> 4) | (((d[11] >> 2) & 3) << 4),
        v_sync=(d[10] & 0xF) | ((d[11] & 3) << 4),
        h_image_mm=d[12] | ((d[14] >> 4) << 8),
        v_image_mm=d[13] | ((d[14] & 0xF) << 8),
        h_border=d[15],
        v_border=d[16],
        interlaced=bool(d[17] & 0x80),
        flags=d[17],
    )


def _range_limits(d: bytes, edid14: bool) -> RangeLimits:
    off = d[4] if edid14 else 0
    return RangeLimits(
        min_v_hz=d[5] + (255 if off & 0x01 else 0),
        max_v_hz=d[6] + (255 if off & 0x02 else 0),
        min_h_khz=d[7] + (255 if off & 0x04 else 0),
        max_h_khz=d[8] + (255 if off & 0x08 else 0),
        max_pixel_clock_mhz=d[9] * 10,
    )


def _svd(byte: int) -> Svd | None:
    """CTA-861-F short video descriptor; None for the reserved values 0, 128, 254, 255."""
    if 129 <= byte <= 192:
        return Svd(byte & 0x7F, True)
    if byte in (0, 128) or byte >= 254:
        return None
    return Svd(byte, False)


def parse_cta(block: bytes, index: int, warnings: list[str]) -> CtaExtension:
    """Decode a CTA-861 extension block: header flags, video data blocks, DTDs."""
    offset = block[2]
    svds: list[Svd] = []
    if offset and not 4 <= offset <= 127:
        warnings.append(f"block {index}: CTA DTD offset {offset} out of range, ignored")
        offset = 0
    pos = 4
    while offset and pos < offset:  # data block collection, bounded by the DTD offset
        tag, length = block[pos] >> 5, block[pos] & 0x1F
        if pos + 1 + length > offset:
            warnings.append(f"block {index}: CTA data block at byte {pos} overruns, ignored")
            break
        if tag == 2:
            for b in block[pos + 1:pos + 1 + length]:
                svd = _svd(b)
                if svd is None:
                    warnings.append(f"block {index}: reserved SVD value {b} ignored")
                else:
                    svds.append(svd)
        pos += 1 + length
    dtds: list[DetailedTiming] = []
    pos = offset
    while offset and pos + 18 <= 127 and (block[pos] or block[pos + 1]):
        dtds.append(parse_dtd(block[pos:pos + 18]))
        pos += 18
    flags = block[3]
    return CtaExtension(
        block_index=index, revision=block[1], underscan=bool(flags & 0x80),
        basic_audio=bool(flags & 0x40), ycbcr444=bool(flags & 0x20),
        ycbcr422=bool(flags & 0x10), native_dtd_count=flags & 0x0F, svds=tuple(svds),
        dtds=tuple(dtds), checksum_ok=_checksum_ok(block),
    )


def _check_shape(data: bytes, source: str) -> None:
    if len(data) == 0:
        raise EdidError(source, "no EDID: the display sent none (is it connected and on?)",
                        "无 EDID 数据：显示设备未提供（请检查是否已连接并开机）")
    if len(data) < BLOCK_SIZE or len(data) % BLOCK_SIZE:
        raise EdidError(
            source, f"EDID length {len(data)} bytes is not a multiple of 128: file truncated "
            "or not an EDID", f"EDID 长度 {len(data)} 字节不是 128 的整数倍：数据不完整或不是 EDID")
    if data[:8] != HEADER:
        raise EdidError(source, "not an EDID: the first 8 bytes are not 00 FF FF FF FF FF FF 00",
                        "不是 EDID：前 8 个字节不是 00 FF FF FF FF FF FF 00")


def parse_edid(data: bytes, source: str = "") -> Edid:
    """Parse a base block plus any extension blocks; ``source`` names where the bytes came from.

    Raises :class:`EdidError` only for bytes that are not an EDID at all.
    """
    data = bytes(data)
    _check_shape(data, source)
    b = data[:BLOCK_SIZE]
    warnings: list[str] = []
    version = (b[18], b[19])
    if version[0] != 1:
        warnings.append(f"EDID version {version[0]}.{version[1]} is not 1.x; decoded as 1.x")
    edid14 = version >= (1, 4)
    manufacturer = _pnp_id(b[8], b[9])
    if "?" in manufacturer:
        warnings.append("manufacturer id holds a code outside A-Z")
    h, v = b[21], b[22]
    screen_cm: tuple[int, int] | None = None
    aspect: float | None = None
    if h and v:
        screen_cm = (h, v)
    elif edid14 and h:
        aspect = (h + 99) / 100.0  # landscape
    elif edid14 and v:
        aspect = 100.0 / (v + 99)  # portrait
    dtds: list[DetailedTiming] = []
    name = serial_string = ""
    texts: list[str] = []
    limits: RangeLimits | None = None
    for pos in range(54, 126, 18):
        d = b[pos:pos + 18]
        if d[0] or d[1]:
            dtds.append(parse_dtd(d))
        elif d[3] == 0xFC:
            name = _text(d[5:18])
        elif d[3] == 0xFF:
            serial_string = _text(d[5:18])
        elif d[3] == 0xFE:
            texts.append(_text(d[5:18]))
        elif d[3] == 0xFD:
            limits = _range_limits(d, edid14)
    bad_blocks = [] if _checksum_ok(b) else [0]
    ext_count = b[126]
    present = len(data) // BLOCK_SIZE - 1
    if present < ext_count:
        warnings.append(f"EDID announces {ext_count} extension block(s), only {present} present")
    elif present > ext_count:
        warnings.append(f"{present - ext_count} block(s) beyond the announced extensions ignored")
    tags: list[int] = []
    cta: list[CtaExtension] = []
    for i in range(1, min(present, ext_count) + 1):
        block = data[i * BLOCK_SIZE:(i + 1) * BLOCK_SIZE]
        tags.append(block[0])
        if not _checksum_ok(block):
            bad_blocks.append(i)
        if block[0] == CTA_TAG:
            cta.append(parse_cta(block, i, warnings))
    warnings += [f"block {i}: bad checksum" for i in bad_blocks]
    return Edid(
        raw=data[:BLOCK_SIZE * (1 + min(present, ext_count))], version=version,
        checksum_ok=0 not in bad_blocks, bad_checksum_blocks=tuple(bad_blocks),
        manufacturer=manufacturer, product_code=b[10] | (b[11] << 8),
        serial_number=int.from_bytes(b[12:16], "little"), week=b[16], year=1990 + b[17],
        model_year=b[16] == 0xFF, digital=bool(b[20] & 0x80), size_bytes=(h, v),
        screen_cm=screen_cm, aspect_ratio=aspect, first_dtd_preferred=bool(b[24] & 0x02),
        dtds=tuple(dtds), name=name, serial_string=serial_string, texts=tuple(texts),
        range_limits=limits, extension_count=ext_count, extension_tags=tuple(tags),
        cta=tuple(cta), truncated=present < ext_count, warnings=tuple(warnings),
    )
