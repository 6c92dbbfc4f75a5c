"""Glass-to-glass latency: host clock at decode minus the timestamp read from the picture.

The source classroom's display shows the harness pattern whose counter block carries the
host clock in milliseconds (:func:`stamp_counter`); the far end's stream is decoded here on
the same host, and for every decoded frame ``latency = clock now - timestamp in the picture``.
Frames whose counter cannot be read (covered, blurred, cut) are counted, never guessed. The
result is the median and the 95th percentile over the readable samples.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from classcert.video_pattern import (
    BLACK,
    CELLS_PER_ROW,
    WHITE,
    PatternGeometry,
    decode_counter,
    encode_counter,
)

MIN_SAMPLES = 100
MS_WRAP = 1 << 32  # the counter's millisecond field wraps every ~49.7 days
MAX_PLAUSIBLE_MS = 60_000  # a reading further than this from the clock is a misread


def stamp_counter(luma: np.ndarray, frame_index: int, timestamp_ms: int) -> np.ndarray:
    """Write ``frame_index`` and ``timestamp_ms`` into the counter block of a pattern frame.

    ``luma`` is modified in place (and returned); it must be large enough for the block.
    """
    geo = PatternGeometry(luma.shape[1], luma.shape[0])
    c = geo.cell
    x0, y0 = geo.counter_origin
    if luma.shape[0] < y0 + 2 * c or luma.shape[1] < x0 + (2 + CELLS_PER_ROW) * c:
        raise ValueError(f"frame {luma.shape[1]}x{luma.shape[0]} too small for the counter")
    luma[y0:y0 + c, x0:x0 + c] = WHITE
    luma[y0 + c:y0 + 2 * c, x0:x0 + c] = BLACK
    for k, bit in enumerate(encode_counter(frame_index, timestamp_ms % MS_WRAP)):
        row, col = divmod(k, CELLS_PER_ROW)
        ya, xa = y0 + row * c, x0 + (2 + col) * c
        luma[ya:ya + c, xa:xa + c] = WHITE if bit else BLACK
    return luma


def latency_ms(now_ms: float, stamp_ms: int) -> float:
    """``now_ms - stamp_ms`` on the 32-bit millisecond counter (wrap-aware, signed)."""
    diff = (now_ms - stamp_ms) % MS_WRAP
    return diff - MS_WRAP if diff >= MS_WRAP / 2 else diff


def percentile(samples: Iterable[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100, linear interpolation); None without samples."""
    values = sorted(samples)
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} outside 0..100")
    pos = (len(values) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


@dataclass
class LatencyResult:
    """Latency samples of one stream, in milliseconds."""

    source: str
    samples: list[float] = field(default_factory=list)
    frames: int = 0  # decoded frames looked at (after warm-up)
    unreadable: int = 0  # frames whose counter could not be read
    implausible: int = 0  # counters read but further than MAX_PLAUSIBLE_MS from the clock
    warmup_frames: int = 0
    elapsed_s: float = 0.0
    notes: list[tuple[str, str]] = field(default_factory=list)

    @property
    def median(self) -> float | None:
        return percentile(self.samples, 50)

    @property
    def p95(self) -> float | None:
        return percentile(self.samples, 95)

    def add(self, now_ms: float, luma: np.ndarray) -> float | None:
        """Read one decoded frame; returns its latency, or None when unreadable."""
        self.frames += 1
        reading = decode_counter(luma) if luma.ndim == 2 else None
        if reading is None:
            self.unreadable += 1
            return None
        value = latency_ms(now_ms, reading[1])
        if abs(value) > MAX_PLAUSIBLE_MS:
            self.implausible += 1
            return None
        self.samples.append(value)
        return value

    def summary(self) -> dict[str, Any]:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 1)
        return {"source": self.source, "median_ms": r(self.median), "p95_ms": r(self.p95),
                "min_ms": r(min(self.samples, default=None)),
                "max_ms": r(max(self.samples, default=None)), "samples": len(self.samples),
                "frames": self.frames, "unreadable": self.unreadable,
                "implausible": self.implausible, "warmup_frames": self.warmup_frames,
                "elapsed_s": round(self.elapsed_s, 2), "notes": self.notes}


class LatencyError(Exception):
    """The stream could not be opened or gave no pictures (could not test)."""

    def __init__(self, en: str, zh: str) -> None:
        super().__init__(f"{en} / {zh}")
        self.en, self.zh = en, zh


def open_low_delay(url: str, timeout_s: float) -> Any:
    """Open ``url`` with PyAV, with FFmpeg's input buffering turned down for live latency."""
    import av

    options = {"fflags": "nobuffer", "flags": "low_delay", "probesize": "32768",
               "analyzeduration": "0"}
    if url.lower().startswith(("rtsp://", "rtsps://")):
        options |= {"rtsp_transport": "tcp", "timeout": str(int(timeout_s * 1e6))}
    try:
        return av.open(url, "r", options=options, timeout=(timeout_s, timeout_s))
    except ConnectionRefusedError as exc:
        raise LatencyError(f"connection refused: {url} - is the device on and the address "
                           "right?", f"连接被拒绝：{url}，请检查设备电源和地址") from exc
    except (av.FFmpegError, OSError) as exc:
        raise LatencyError(f"cannot open {url} as video: {exc}",
                           f"无法作为视频打开 {url}：{exc}") from exc


def luma_of(frame: Any) -> np.ndarray:
    """Height x width uint8 luma plane of a decoded PyAV frame."""
    if frame.format.name in ("yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p",
                             "yuvj444p", "nv12", "nv21", "gray"):
        plane = frame.planes[0]
        buf = np.frombuffer(plane, np.uint8)
        return buf.reshape(-1, plane.line_size)[:frame.height, :frame.width]
    return frame.to_ndarray(format="gray")


def measure_latency(url: str, *, samples: int = 150, max_seconds: float = 30.0,
                    warmup_s: float = 1.0, timeout_s: float = 10.0,
                    clock: Callable[[], float] = time.time) -> LatencyResult:
    """Decode ``url`` until ``samples`` readable frames or ``max_seconds`` of wall clock.

    Frames decoded in the first ``warmup_s`` are read but not counted: FFmpeg hands over
    what it buffered while opening the stream, which says nothing of the link. ``clock``
    must be the clock that stamps the pattern (seconds, like :func:`time.time`).
    Raises :class:`LatencyError` when the stream cannot be opened or decoded.
    """
    result = LatencyResult(source=url)
    container = open_low_delay(url, timeout_s)
    start = time.monotonic()
    error: Exception | None = None
    try:
        if not container.streams.video:
            raise LatencyError(f"no video stream in {url}", f"{url} 中没有视频流")
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            for frame in packet.decode():
                now_ms = clock() * 1000.0
                if time.monotonic() - start < warmup_s:
                    result.warmup_frames += 1
                    continue
                result.add(now_ms, luma_of(frame))
            if len(result.samples) >= samples or time.monotonic() - start > max_seconds:
                break
    except LatencyError:
        raise
    except Exception as exc:  # noqa: BLE001 - judged below: note or could-not-test
        error = exc
    finally:
        result.elapsed_s = time.monotonic() - start
        container.close()
    if result.frames + result.warmup_frames == 0:
        why = f": {error}" if error else ""
        raise LatencyError(f"no pictures could be decoded from {url}{why}",
                           f"无法从 {url} 解码出画面")
    if error is not None:
        result.notes.append((f"decoding stopped early: {error}", f"解码提前中止：{error}"))
    return result
