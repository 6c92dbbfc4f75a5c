"""The harness's own video test pattern: deterministic frames that prove 1080p on the picture.

Each frame carries (luma only, chroma neutral):

* a circular zone plate whose local frequency rises to 0.45 cycles/pixel at its rim;
* multi-burst rows: vertical stripes (horizontal detail) and horizontal stripes (vertical
  detail) at 0.05 ... 0.45 cycles/pixel, i.e. up to 90 % of the Nyquist limit;
* a binary block with the frame number, the timestamp in milliseconds and a CRC-8,
  readable back from a decoded or captured picture with :func:`decode_counter`;
* a moving bar strip that scrolls every frame, so a frozen picture is never the pattern.

The same pattern is shown on a classroom display or fed into a recorder input; the probe then
checks that what comes out still has the detail, the motion and every frame number.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

BLACK = 16  # limited-range ("TV") luma levels
WHITE = 235
GREY = 128
AMPLITUDE = 80  # detail swings GREY +/- AMPLITUDE: never clipped
BURST_FREQS = (0.05, 0.1, 0.2, 0.3, 0.35, 0.4, 0.45)  # cycles per pixel
ZONE_PLATE_FMAX = 0.45
COUNTER_BITS = 64  # 24 frame number + 32 milliseconds + 8 CRC
CELLS_PER_ROW = 32


@dataclass(frozen=True)
class PatternGeometry:
    """Where each element sits in a frame of ``width`` x ``height`` pixels."""

    width: int
    height: int

    @property
    def cell(self) -> int:  # side of one counter cell in pixels
        return max(4, self.height // 45)

    @property
    def counter_origin(self) -> tuple[int, int]:  # (x, y) of the reference cells
        return (self.cell, self.cell)

    @property
    def strip_rows(self) -> tuple[int, int]:  # moving strip: first row, end row
        top = self.height - self.height // 8
        return top, top + self.height // 11

    @property
    def strip_period(self) -> int:  # pixels per bar pair
        return max(8, self.height // 6 // 8 * 8)

    @property
    def strip_speed(self) -> int:  # pixels the strip moves per frame
        return self.strip_period // 8

    @property
    def detail_rows(self) -> tuple[int, int]:
        return self.height // 8, self.height - self.height // 6


def crc8(data: bytes) -> int:
    """CRC-8 (polynomial 0x07, initial 0): guards the counter block against misreads."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def encode_counter(frame_index: int, timestamp_ms: int) -> list[int]:
    """The 64 bits of the counter block, most significant first."""
    if not 0 <= frame_index < 1 << 24:
        raise ValueError(f"frame index {frame_index} outside 0..2^24-1")
    if not 0 <= timestamp_ms < 1 << 32:
        raise ValueError(f"timestamp {timestamp_ms} ms outside 0..2^32-1")
    payload = frame_index.to_bytes(3, "big") + timestamp_ms.to_bytes(4, "big")
    word = int.from_bytes(payload + bytes([crc8(payload)]), "big")
    return [(word >> (COUNTER_BITS - 1 - i)) & 1 for i in range(COUNTER_BITS)]


def decode_bits(bits: list[int]) -> tuple[int, int] | None:
    """(frame_index, timestamp_ms) from 64 bits, or None when the CRC does not match."""
    if len(bits) != COUNTER_BITS or any(b not in (0, 1) for b in bits):
        return None
    word = 0
    for b in bits:
        word = (word << 1) | b
    raw = word.to_bytes(8, "big")
    if crc8(raw[:7]) != raw[7]:
        return None
    return int.from_bytes(raw[:3], "big"), int.from_bytes(raw[3:7], "big")


def _cell_box(geo: PatternGeometry, row: int, col: int) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) of a counter cell; columns 0 and 1 are the white/black references."""
    x0, y0 = geo.counter_origin
    c = geo.cell
    return y0 + row * c, y0 + (row + 1) * c, x0 + col * c, x0 + (col + 1) * c


def decode_counter(gray: np.ndarray) -> tuple[int, int] | None:
    """Read (frame_index, timestamp_ms) back from a decoded luma frame of the pattern.

    Returns None when the block is unreadable (not the pattern, wrong scale, damaged).
    """
    if gray.ndim != 2:
        return None
    geo = PatternGeometry(gray.shape[1], gray.shape[0])
    c, q = geo.cell, max(1, geo.cell // 4)
    x0, y0 = geo.counter_origin
    ncols = 2 + CELLS_PER_ROW
    if gray.shape[0] < y0 + 2 * c or gray.shape[1] < x0 + ncols * c:
        return None
    # four points around each cell centre, half a cell apart: cheap and robust to coding noise
    ys = y0 + c // 2 + np.array([0, c])[:, None] + np.array([-q, q])[None, :]  # (2 rows, 2)
    xs = x0 + c // 2 + c * np.arange(ncols)[:, None] + np.array([-q, q])[None, :]  # (ncols, 2)
    pts = gray[ys.reshape(2, 1, 2, 1), xs.reshape(1, ncols, 1, 2)].astype(np.float32)
    levels = pts.mean(axis=(2, 3))  # (2 rows, ncols)
    white, black = float(levels[0, 0]), float(levels[1, 0])
    if white - black < 40:
        return None
    bits = (levels[:, 2:] > (white + black) / 2).astype(int).ravel().tolist()
    return decode_bits(bits)


class VideoPattern:
    """Deterministic pattern frames: frame ``i`` is always the same picture."""

    def __init__(self, width: int = 1920, height: int = 1080, fps: float = 25.0) -> None:
        if width < 160 or height < 90 or width % 2 or height % 2:
            raise ValueError(f"pattern size {width}x{height}: need even sizes >= 160x90")
        if not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self.geometry = PatternGeometry(width, height)
        self.fps = fps
        self._static = self._draw_static()
        self._strip_base = self._draw_strip_base()

    @property
    def width(self) -> int:
        return self.geometry.width

    @property
    def height(self) -> int:
        return self.geometry.height

    def _draw_static(self) -> np.ndarray:
        geo = self.geometry
        w, h = geo.width, geo.height
        img = np.full((h, w), GREY, dtype=np.float32)
        top, bottom = geo.detail_rows
        band = bottom - top
        # zone plate: square on the left of the detail band
        radius = band // 2
        cy, cx = top + radius, radius + geo.cell
        yy, xx = np.mgrid[-radius:radius, -radius:radius].astype(np.float32)
        r2 = yy * yy + xx * xx
        zone = GREY + AMPLITUDE * np.cos(np.pi * ZONE_PLATE_FMAX * r2 / radius)
        zone = np.where(r2 <= radius * radius, zone, GREY)
        img[cy - radius:cy + radius, cx - radius:cx + radius] = zone
        # multi-burst: horizontal detail in the upper half, vertical detail in the lower half
        x0 = cx + radius + geo.cell
        x1 = w - geo.cell
        n = len(BURST_FREQS)
        seg = (x1 - x0) // n
        half = band // 2
        for i, f in enumerate(BURST_FREQS):
            xs = np.arange(seg - 4, dtype=np.float32)
            img[top:top + half - 4, x0 + i * seg:x0 + i * seg + seg - 4] = (
                GREY + AMPLITUDE * np.cos(2 * np.pi * f * xs))[None, :]
            ys = np.arange(half - 4, dtype=np.float32)
            img[top + half:top + 2 * half - 4, x0 + i * seg:x0 + i * seg + seg - 4] = (
                GREY + AMPLITUDE * np.cos(2 * np.pi * f * ys))[:, None]
        # counter reference cells (white above black) stay fixed
        for row, value in ((0, WHITE), (1, BLACK)):
            y0, y1, xa, xb = _cell_box(geo, row, 0)
            img[y0:y1, xa:xb] = value
        return np.clip(np.rint(img), 0, 255).astype(np.uint8)

    def _draw_strip_base(self) -> np.ndarray:
        """One row of the moving strip, long enough for any offset within a period."""
        geo = self.geometry
        period = geo.strip_period
        xs = np.arange(geo.width + period)
        return np.where((xs % period) < period // 2, WHITE, BLACK).astype(np.uint8)

    def luma(self, index: int) -> np.ndarray:
        """The luma plane of frame ``index`` (a new array, height x width, uint8)."""
        img = self._static.copy()
        self._draw_dynamic(img, index)
        return img

    def _draw_dynamic(self, img: np.ndarray, index: int) -> None:
        geo = self.geometry
        s0, s1 = geo.strip_rows
        off = (index * geo.strip_speed) % geo.strip_period
        img[s0:s1, :] = self._strip_base[off:off + geo.width][None, :]
        ms = int(round(index * 1000 / self.fps))
        bits = encode_counter(index % (1 << 24), ms % (1 << 32))
        for k, bit in enumerate(bits):
            y0, y1, x0, x1 = _cell_box(geo, k // CELLS_PER_ROW, 2 + k % CELLS_PER_ROW)
            img[y0:y1, x0:x1] = WHITE if bit else BLACK

    def yuv420p(self, index: int) -> np.ndarray:
        """Frame ``index`` as a planar YUV 4:2:0 array of shape (height * 3 / 2, width)."""
        w, h = self.width, self.height
        out = np.full((h * 3 // 2, w), GREY, dtype=np.uint8)
        out[:h] = self._static
        self._draw_dynamic(out[:h], index)
        return out

    def frames(self, count: int) -> Iterator[np.ndarray]:
        """Frames 0 .. count-1 in YUV 4:2:0, one at a time."""
        for i in range(count):
            yield self.yuv420p(i)


def write_pattern_clip(path: str | Path, duration_s: float, fps: float = 25.0,
                       width: int = 1920, height: int = 1080, *, crf: int = 20,
                       preset: str = "veryfast", gop: int | None = None,
                       frame_indices: Iterable[int] | None = None) -> Path:
    """Encode the pattern as progressive H.264 (yuv420p, square pixels) into ``path``.

    The container follows the file name (.mp4, .mkv, .ts ...). ``frame_indices`` picks which
    pattern frame each output frame shows (repeat = frozen picture, skip = lost pictures with
    regular timestamps), for fault variants; the default is 0, 1, 2 ... Returns the path.
    """
    import av

    if not duration_s > 0:
        raise ValueError(f"duration must be > 0 s, got {duration_s}")
    path = Path(path)
    pattern = VideoPattern(width, height, fps)
    count = max(1, int(round(duration_s * fps)))
    indices = list(frame_indices)[:count] if frame_indices is not None else range(count)
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        opts = {"crf": str(crf), "preset": preset}
        if gop:
            opts["g"] = str(gop)
        stream.options = opts
        stream.codec_context.time_base = 1 / rate
        for i, index in enumerate(indices):
            frame = av.VideoFrame.from_ndarray(pattern.yuv420p(index), format="yuv420p")
            frame.pts = i
            frame.time_base = stream.codec_context.time_base
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path
