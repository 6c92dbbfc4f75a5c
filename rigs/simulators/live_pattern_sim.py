"""A live RTSP source: the harness pattern encoded in real time, stamped with the host clock.

Stands in for "the source classroom's display, filmed and sent to the far end": every frame
is drawn from :class:`classcert.video_pattern.VideoPattern`, its counter block carries the
host clock (``time.time()`` in ms, modulo 2^32) at the moment the frame is made, and it is
encoded at once with libx264 (ultrafast, zerolatency, no B-frames). All sessions receive the
same live pictures (like viewers of one live channel); each access unit is held back until
``delay_ms`` after its capture, so the glass-to-glass latency seen by a receiver is
``delay_ms`` plus encode, transport and decode time.

Knobs: ``delay_ms`` (default 80), ``fps`` (25), ``width``/``height`` (640x360), ``gop``
(frames between IDR pictures; a new viewer starts at the next one), ``scene`` (0 = the plain
pattern; k > 0 adds a coarse, scene-specific tile overlay below the counter, standing in for
a different camera angle or channel), ``garble_every`` (blank the counter block on every Nth
frame: unreadable timestamps), plus :class:`RtspSimulator`'s ``max_sessions``,
``require_auth``, ``path`` and the other session knobs. Loopback only, thread-based.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from fractions import Fraction
from typing import Any

import numpy as np

from classcert.device_drivers import rtsp_codec as codec
from classcert.latency import stamp_counter
from classcert.rigs.simulators.rtsp_sim import (
    CLOCK,
    Clip,
    RtspSimulator,
    packetize_h264,
    split_annexb,
)
from classcert.video_pattern import GREY, PatternGeometry, VideoPattern

_QUEUE_FRAMES = 256  # access units buffered per session (10 s at 25 fps)
_FIRST_IDR_S = 10.0  # the encoder must give SPS/PPS within this time


def scene_overlay(width: int, height: int, scene: int) -> np.ndarray | None:
    """Coarse luma tiles (int16 offsets) unique to ``scene``; None for scene 0.

    Rows above the detail band (the counter block) are left untouched so the timestamp
    stays readable.
    """
    if scene <= 0:
        return None
    rng = random.Random(scene)
    geo = PatternGeometry(width, height)
    top = geo.detail_rows[0]
    tiles_x, tiles_y = 8, 4
    offsets = np.array([[rng.choice((-70, -40, 40, 70)) for _ in range(tiles_x)]
                        for _ in range(tiles_y)], dtype=np.int16)
    ys = np.minimum((np.arange(height - top) * tiles_y) // max(1, height - top), tiles_y - 1)
    xs = np.minimum((np.arange(width) * tiles_x) // width, tiles_x - 1)
    out = np.zeros((height, width), dtype=np.int16)
    out[top:] = offsets[ys[:, None], xs[None, :]]
    return out


class _Unit:
    __slots__ = ("captured", "nals", "idr")

    def __init__(self, captured: float, nals: list[bytes], idr: bool) -> None:
        self.captured, self.nals, self.idr = captured, nals, idr


class LivePatternSimulator(RtspSimulator):
    """RTSP server streaming the live, host-clock-stamped pattern (see module docstring)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, password: str | None = None, *,
                 delay_ms: float = 80.0, fps: float = 25.0, width: int = 640, height: int = 360,
                 gop: int = 10, scene: int = 0, garble_every: int | None = None,
                 **knobs: Any) -> None:
        for name in ("clip", "variant", "clip_seconds", "drop_every"):
            if name in knobs:
                raise TypeError(f"live pattern simulator takes no {name!r} knob")
        if not 0 <= delay_ms <= 10_000:
            raise ValueError(f"delay_ms must be 0..10000, got {delay_ms}")
        if not 1 <= fps <= 60:
            raise ValueError(f"fps must be 1..60, got {fps}")
        super().__init__(host, port, password, fps=fps, **knobs)
        self.delay_s = delay_ms / 1000.0
        self.live_fps, self.gop, self.scene = float(fps), max(1, int(gop)), int(scene)
        self.garble_every = garble_every
        self.pattern = VideoPattern(width, height, fps)
        self._overlay = scene_overlay(width, height, self.scene)
        self._subscribers: set[queue.Queue[_Unit]] = set()
        self._params = threading.Event()
        self.frames_encoded = 0

    # --------------------------------------------------------------- lifecycle ---------
    def start(self) -> LivePatternSimulator:
        self._stop.clear()
        self._params.clear()
        self._spawn(self._encode_loop, "live-pattern-encoder")
        if not self._params.wait(_FIRST_IDR_S) or self.clip is None:
            self.stop()
            raise RuntimeError("the live encoder gave no SPS/PPS: is PyAV built with libx264? "
                               "/ 实时编码器未输出 SPS/PPS：PyAV 是否包含 libx264？")
        super().start()
        return self

    def __enter__(self) -> LivePatternSimulator:
        return self.start()

    # ---------------------------------------------------------------- encoding ---------
    def frame_luma(self, index: int, now_ms: int) -> np.ndarray:
        """The YUV 4:2:0 frame ``index`` with ``now_ms`` in its counter block."""
        yuv = self.pattern.yuv420p(index)
        h = self.pattern.height
        luma = yuv[:h]
        if self._overlay is not None:
            luma[:] = np.clip(luma.astype(np.int16) + self._overlay, 16, 235).astype(np.uint8)
        stamp_counter(luma, index % (1 << 24), now_ms % (1 << 32))
        if self.garble_every and self.garble_every > 0 and index % self.garble_every == 0:
            geo = self.pattern.geometry
            x0, y0 = geo.counter_origin
            luma[y0:y0 + 2 * geo.cell, x0:x0 + 34 * geo.cell] = GREY
        return yuv

    def _encoder(self) -> Any:
        import av

        ctx = av.CodecContext.create("libx264", "w")
        ctx.width, ctx.height, ctx.pix_fmt = self.pattern.width, self.pattern.height, "yuv420p"
        rate = Fraction(self.live_fps).limit_denominator(1001)
        ctx.time_base, ctx.framerate = 1 / rate, rate
        ctx.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(self.gop),
                       "bf": "0", "crf": "20", "repeat-headers": "1"}
        ctx.open()
        return ctx

    def _encode_loop(self) -> None:
        import av

        ctx = self._encoder()
        period, start = 1.0 / self.live_fps, time.monotonic()
        for index in range(10**9):
            if self._stop.wait(max(0.0, start + index * period - time.monotonic())):
                return
            captured = time.monotonic()
            now_ms = int(time.time() * 1000)
            frame = av.VideoFrame.from_ndarray(self.frame_luma(index, now_ms), format="yuv420p")
            frame.pts = index
            for packet in ctx.encode(frame):
                self._publish(captured, split_annexb(bytes(packet)))
            self.frames_encoded = index + 1

    def _publish(self, captured: float, nals: list[bytes]) -> None:
        kinds = {n[0] & 0x1F for n in nals}
        if self.clip is None and 7 in kinds and 8 in kinds:
            sps = next(n for n in nals if n[0] & 0x1F == 7)
            pps = next(n for n in nals if n[0] & 0x1F == 8)
            self.clip = Clip([], sps, pps, self.live_fps)
            self._params.set()
        unit = _Unit(captured, [n for n in nals if n[0] & 0x1F != 9], 5 in kinds)
        with self._lock:
            subscribers = list(self._subscribers)
        for q in subscribers:
            try:
                q.put_nowait(unit)
            except queue.Full:
                pass  # a stalled session loses pictures, as a real server would

    # --------------------------------------------------------------- streaming ---------
    def _stream(self, session: Any) -> None:
        q: queue.Queue[_Unit] = queue.Queue(_QUEUE_FRAMES)
        with self._lock:
            self._subscribers.add(q)
        try:
            self._send_live(session, q)
        finally:
            with self._lock:
                self._subscribers.discard(q)

    def _send_live(self, session: Any, q: queue.Queue[_Unit]) -> None:
        ssrc, seq = self._rng.randrange(1 << 32), self._rng.randrange(1 << 16)
        ts0, first = self._rng.randrange(1 << 32), None
        started = False
        for _ in range(10**9):
            if session.stop.is_set() or self._stop.is_set():
                return
            try:
                unit = q.get(timeout=0.05)
            except queue.Empty:
                continue
            started = started or unit.idr
            if not started:
                continue  # a new viewer starts at an IDR picture
            if session.stop.wait(max(0.0, unit.captured + self.delay_s - time.monotonic())):
                return
            first = unit.captured if first is None else first
            timestamp = (ts0 + round((unit.captured - first) * CLOCK)) & 0xFFFFFFFF
            payloads = [p for nal in unit.nals for p in packetize_h264(nal)]
            for i, payload in enumerate(payloads):
                pkt = codec.RtpPacket(96, seq, timestamp, ssrc, i == len(payloads) - 1, payload)
                seq = (seq + 1) & 0xFFFF
                if not session.send(codec.encode_rtp(pkt)):
                    return
