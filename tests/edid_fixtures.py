"""Builds valid EDID 1.3/1.4 base blocks (and optional CTA-861 extensions) from parameters.

Written straight from the VESA E-EDID and CTA-861 byte layouts, independently of the parser
under test, so that the two can check each other. Also holds hypothesis strategies shared by
the EDID test files.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field

from hypothesis import strategies as st

HEADER = bytes((0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00))


@dataclass(frozen=True)
class Timing:
    """One video timing, as a detailed timing descriptor stores it."""

    pixel_clock_khz: int  # multiple of 10
    h_active: int
    h_blank: int
    h_front: int
    h_sync: int
    v_active: int
    v_blank: int
    v_front: int
    v_sync: int
    interlaced: bool = False
    hsync_positive: bool = True
    vsync_positive: bool = True


T_1080P60 = Timing(148_500, 1920, 280, 88, 44, 1080, 45, 4, 5)
T_720P60 = Timing(74_250, 1280, 370, 110, 40, 720, 30, 5, 5)
T_2160P30 = Timing(297_000, 3840, 560, 176, 88, 2160, 90, 8, 10)
T_2160P60 = Timing(594_000, 3840, 560, 176, 88, 2160, 90, 8, 10)
T_XGA60 = Timing(65_000, 1024, 320, 24, 136, 768, 38, 3, 6, False, False, False)


@dataclass(frozen=True)
class Cta:
    """Content of one CTA-861 extension block."""

    vics: tuple[int, ...] = ()
    native_vics: tuple[int, ...] = ()  # subset of vics (1..64) flagged native
    dtds: tuple[tuple[Timing, int, int], ...] = ()  # (timing, h_mm, v_mm)
    revision: int = 3
    underscan: bool = True
    basic_audio: bool = True
    bad_checksum: bool = False


@dataclass(frozen=True)
class EdidSpec:
    """Everything the generator can vary; defaults make a plausible 1080p panel."""

    manufacturer: str = "CCT"
    product_code: int = 0x1234
    serial: int = 0
    week: int = 10
    year: int = 2021
    version: int = 4  # EDID 1.<version>: 3 or 4
    digital: bool = True
    size_bytes: tuple[int, int] = (0, 0)  # bytes 21-22 exactly as stored
    preferred: Timing | None = T_1080P60
    dtd_mm: tuple[int, int] = (0, 0)
    extra_dtds: tuple[tuple[Timing, int, int], ...] = ()
    name: str = ""
    serial_string: str = ""
    range_limits: tuple[int, int, int, int, int] | None = None  # vmin,vmax,hmin,hmax,MHz
    extensions: tuple[Cta, ...] = field(default_factory=tuple)
    bad_checksum: bool = False


def pnp_id(code: str) -> bytes:
    """Three letters A-Z as the 2-byte big-endian compressed ASCII of bytes 8-9."""
    if len(code) != 3 or not all("A" <= c <= "Z" for c in code):
        raise ValueError(f"manufacturer id must be 3 letters A-Z, got {code!r}")
    a, b, c = (ord(ch) - ord("A") + 1 for ch in code)
    return ((a << 10) | (b << 5) | c).to_bytes(2, "big")


def seal(block: bytearray, *, bad: bool = False) -> bytes:
    """Set byte 127 so the block sums to 0 mod 256 (or deliberately to 1 when ``bad``)."""
    block[127] = (-sum(block[:127]) + (1 if bad else 0)) % 256
    return bytes(block)


def dtd(t: Timing, h_mm: int, v_mm: int) -> bytes:
    """An 18-byte detailed timing descriptor."""
    clock = t.pixel_clock_khz // 10
    if not 1 <= clock <= 0xFFFF:
        raise ValueError("pixel clock out of range")
    flags = 0x18 | (0x04 if t.vsync_positive else 0) | (0x02 if t.hsync_positive else 0)
    flags |= 0x80 if t.interlaced else 0
    return bytes((
        clock & 0xFF, clock >> 8,
        t.h_active & 0xFF, t.h_blank & 0xFF, ((t.h_active >> 8) << 4) | (t.h_blank >> 8),
        t.v_active & 0xFF, t.v_blank & 0xFF, ((t.v_active >> 8) << 4) | (t.v_blank >> 8),
        t.h_front & 0xFF, t.h_sync & 0xFF, ((t.v_front & 0xF) << 4) | (t.v_sync & 0xF),
        ((t.h_front >> 8) << 6) | ((t.h_sync >> 8) << 4)
        | ((t.v_front >> 4) << 2) | (t.v_sync >> 4),
        h_mm & 0xFF, v_mm & 0xFF, ((h_mm >> 8) << 4) | (v_mm >> 8),
        0, 0, flags,
    ))


def text_descriptor(tag: int, text: str) -> bytes:
    """A display descriptor with up to 13 ASCII characters (0xFC name, 0xFF serial)."""
    raw = text.encode("ascii")
    if len(raw) > 13:
        raise ValueError("descriptor text is at most 13 characters")
    if len(raw) < 13:
        raw += b"\n" + b" " * (12 - len(raw))
    return bytes((0, 0, 0, tag, 0)) + raw


def range_descriptor(v_min: int, v_max: int, h_min: int, h_max: int, clock_mhz: int) -> bytes:
    """A 0xFD range-limits descriptor (default GTF), no rate offsets."""
    return bytes((0, 0, 0, 0xFD, 0, v_min, v_max, h_min, h_max, clock_mhz // 10, 0x00,
                  0x0A, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20))


def dummy_descriptor() -> bytes:
    return bytes((0, 0, 0, 0x10)) + bytes(14)


def _chromaticity() -> bytes:
    """sRGB primaries and D65 white, 10-bit encoded (bytes 25-34)."""
    pts = [(0.640, 0.330), (0.300, 0.600), (0.150, 0.060), (0.3127, 0.3290)]
    v = [round(c * 1024) for p in pts for c in p]
    lo_rg = sum((v[i] & 3) << (6 - 2 * i) for i in range(4))
    lo_bw = sum((v[4 + i] & 3) << (6 - 2 * i) for i in range(4))
    return bytes([lo_rg, lo_bw] + [x >> 2 for x in v])


def base_block(spec: EdidSpec) -> bytes:
    b = bytearray(128)
    b[0:8] = HEADER
    b[8:10] = pnp_id(spec.manufacturer)
    b[10:12] = spec.product_code.to_bytes(2, "little")
    b[12:16] = spec.serial.to_bytes(4, "little")
    b[16] = spec.week
    b[17] = spec.year - 1990
    b[18], b[19] = 1, spec.version
    if spec.digital:
        b[20] = 0xA2 if spec.version >= 4 else 0x80  # 1.4: 8 bits per colour, HDMI-a
    else:
        b[20] = 0x0E  # analog 0.700/0.300 V, separate + composite sync
    b[21], b[22] = spec.size_bytes
    b[23] = 120  # gamma 2.20
    b[24] = 0x0A  # RGB 4:4:4 + YCbCr 4:4:4, first DTD is preferred/native
    b[25:35] = _chromaticity()
    b[35:38] = bytes((0x21, 0x08, 0x00))  # 640x480@60, 800x600@60, 1024x768@60
    b[38:54] = bytes((0x01, 0x01)) * 8
    slots: list[bytes] = []
    if spec.preferred is not None:
        slots.append(dtd(spec.preferred, *spec.dtd_mm))
    slots += [dtd(t, h, v) for t, h, v in spec.extra_dtds]
    if spec.name:
        slots.append(text_descriptor(0xFC, spec.name))
    if spec.serial_string:
        slots.append(text_descriptor(0xFF, spec.serial_string))
    if spec.range_limits is not None:
        slots.append(range_descriptor(*spec.range_limits))
    if len(slots) > 4:
        raise ValueError("at most 4 descriptors fit in the base block")
    slots += [dummy_descriptor()] * (4 - len(slots))
    b[54:126] = b"".join(slots)
    b[126] = len(spec.extensions)
    return seal(b, bad=spec.bad_checksum)


def cta_block(cta: Cta) -> bytes:
    b = bytearray(128)
    b[0], b[1] = 0x02, cta.revision
    blocks = b""
    if cta.vics:
        svds = bytes(v | 0x80 if v in cta.native_vics and v <= 64 else v for v in cta.vics)
        if len(svds) > 31:
            raise ValueError("a video data block holds at most 31 SVDs")
        blocks = bytes(((2 << 5) | len(svds),)) + svds
    offset = 4 + len(blocks)
    b[2] = offset
    b[3] = (0x80 if cta.underscan else 0) | (0x40 if cta.basic_audio else 0) | len(cta.dtds)
    b[4:offset] = blocks
    for i, (t, h, v) in enumerate(cta.dtds):
        start = offset + 18 * i
        if start + 18 > 127:
            raise ValueError("too many DTDs for the CTA block")
        b[start:start + 18] = dtd(t, h, v)
    return seal(b, bad=cta.bad_checksum)


def build_edid(spec: EdidSpec | None = None, **changes: object) -> bytes:
    """The EDID bytes of ``spec`` (default spec when None) with ``changes`` applied."""
    spec = spec or EdidSpec()
    if changes:
        spec = EdidSpec(**{**spec.__dict__, **changes})
    return base_block(spec) + b"".join(cta_block(c) for c in spec.extensions)


# ---- hand-written samples: what classroom equipment really sends, good and bad -----------

PANEL_86 = EdidSpec(
    manufacturer="CCT", product_code=0x8601, serial=860001, week=12, year=2022,
    size_bytes=(190, 107), preferred=T_2160P60, dtd_mm=(1904, 1071),
    name="CC86 Panel", serial_string="86A0001", range_limits=(24, 75, 30, 135, 600),
    extensions=(Cta(vics=(97, 96, 95, 16, 31, 4, 19, 1), native_vics=(16,),
                    dtds=((T_1080P60, 1904, 1071),)),),
)
PANEL_65 = EdidSpec(
    manufacturer="CCT", product_code=0x6501, serial=650001, week=40, year=2020,
    size_bytes=(144, 81), preferred=T_2160P30, dtd_mm=(1439, 809), name="CC65",
)
PROJECTOR = EdidSpec(
    manufacturer="PRJ", product_code=0x0201, version=3, size_bytes=(0, 0), preferred=T_XGA60,
    dtd_mm=(0, 0), name="XGA Projector",
)
ASPECT_AS_SIZE = EdidSpec(manufacturer="ASP", size_bytes=(16, 9), dtd_mm=(0, 0), version=3)
MM_1600X900 = EdidSpec(manufacturer="TVX", size_bytes=(160, 90), dtd_mm=(1600, 900),
                       name="TV 1600x900")
BAD_CHECKSUM = EdidSpec(**{**PANEL_65.__dict__, "bad_checksum": True})
PANEL_120 = EdidSpec(manufacturer="BIG", size_bytes=(255, 149), preferred=T_2160P60,
                     dtd_mm=(2656, 1494), name="CC120")
ASPECT_14 = EdidSpec(manufacturer="ARX", size_bytes=(79, 0), dtd_mm=(0, 0))
PIXEL_COPY = EdidSpec(manufacturer="PXC", size_bytes=(192, 108), dtd_mm=(1920, 1080))
SAMPLES: dict[str, EdidSpec] = {
    "panel-86": PANEL_86, "panel-65": PANEL_65, "projector-0x0": PROJECTOR,
    "aspect-16x9-cm": ASPECT_AS_SIZE, "mm-1600x900": MM_1600X900, "bad-checksum": BAD_CHECKSUM,
    "panel-120-saturated": PANEL_120, "aspect-1.4-encoding": ASPECT_14,
    "mm-pixel-copy": PIXEL_COPY,
}


# ---- hypothesis strategies shared by the EDID tests ---------------------------------------

letters = st.text(string.ascii_uppercase, min_size=3, max_size=3)
desc_text = st.text(string.ascii_letters + string.digits + "-_. ", min_size=1, max_size=13).map(
    str.strip).filter(bool)


@st.composite
def timings(draw: st.DrawFn, min_clock_khz: int = 10) -> Timing:
    """Any progressive timing the DTD fields can hold (edid-decode wants >= 10 MHz)."""
    h_active = draw(st.integers(64, 4095))
    v_active = draw(st.integers(64, 4095))
    h_front = draw(st.integers(1, 1023))
    h_sync = draw(st.integers(1, 1023))
    h_blank = draw(st.integers(h_front + h_sync, 4095))
    v_front = draw(st.integers(1, 63))
    v_sync = draw(st.integers(1, 63))
    v_blank = draw(st.integers(v_front + v_sync, 4095))
    clock = draw(st.integers(min_clock_khz // 10, 0xFFFF)) * 10
    return Timing(clock, h_active, h_blank, h_front, h_sync, v_active, v_blank, v_front, v_sync,
                  False, draw(st.booleans()), draw(st.booleans()))


mm_sizes = st.tuples(st.integers(0, 4095), st.integers(0, 4095))


@st.composite
def edid_specs(draw: st.DrawFn, with_cta: bool = True, min_clock_khz: int = 10) -> EdidSpec:
    """A random but well-formed EDID description (base block, maybe one CTA block)."""
    timing = timings(min_clock_khz)
    extra = draw(st.lists(st.tuples(timing, st.integers(0, 4095), st.integers(0, 4095)),
                          max_size=1))
    name = draw(st.none() | desc_text) or ""
    serial_string = draw(st.none() | desc_text) or ""
    used = 1 + len(extra) + bool(name) + bool(serial_string)
    limits = draw(st.none() | st.just((24, 75, 30, 135, 600))) if used < 4 else None
    exts: tuple[Cta, ...] = ()
    if with_cta and draw(st.booleans()):
        vics = tuple(draw(st.lists(st.integers(1, 64) | st.integers(65, 127)
                                   | st.integers(193, 219), max_size=12, unique=True)))
        native = tuple(v for v in vics if v <= 64 and draw(st.booleans()))
        cta_dtds = tuple(draw(st.lists(st.tuples(timing, st.integers(0, 4095),
                                                 st.integers(0, 4095)), max_size=3)))
        exts = (Cta(vics=vics, native_vics=native, dtds=cta_dtds),)
    return EdidSpec(
        manufacturer=draw(letters),
        product_code=draw(st.integers(0, 0xFFFF)),
        serial=draw(st.integers(0, 0xFFFF_FFFF)),
        week=draw(st.integers(1, 53)),
        year=draw(st.integers(2006, 2035)),
        version=draw(st.sampled_from([3, 4])),
        digital=draw(st.booleans()),
        size_bytes=draw(st.tuples(st.integers(1, 255), st.integers(1, 255))),
        preferred=draw(timing),
        dtd_mm=draw(mm_sizes),
        extra_dtds=tuple(extra),
        name=name,
        serial_string=serial_string,
        range_limits=limits,
        extensions=exts,
        bad_checksum=draw(st.booleans()),
    )
