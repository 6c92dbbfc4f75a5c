"""Stream a video source frame by frame and measure what the picture really is.

Files, HTTP(S) MP4/HLS and RTSP URLs are opened with PyAV (FFmpeg decodes on all cores); a
finite HTTP file is downloaded first (``video_fetch``).
Frames are analysed one at a time on a downscaled luma grid; no frame is kept after the next
one arrives, except the few sampled for detail measurement and evidence (written to disk as
they are chosen). Figures come from the decoded pictures and their timestamps, never from the
container's declared rates.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from classcert.video_detail_sampling import DetailSampler
from classcert.video_expectations import DetailHook
from classcert.video_fetch import FetchError, fetch_if_file, is_http
from classcert.video_pattern import decode_counter

GRID_WIDTH = 160  # samples per row of the analysis grid
INTERLACED_SHARE = 0.05  # share of frames flagged interlaced that makes a stream interlaced
COMBING_LIMIT = 0.3  # median combing_score above which the picture is interlaced
COMBING_EVERY = 10  # frames between combing measurements
COMBING_MAX = 400  # measurements kept (for the median)
CUT_SHARE = 0.3  # more of the grid changing than this is a cut, not motion
MAX_EVIDENCE = 6
BLACK_MEAN = 24  # mean luma below this (limited range black is 16) is a black picture
FREEZE_MEAN_DIFF = 0.25  # mean |difference| of the grid, luma levels
FREEZE_CHANGED = 0.0005  # share of grid samples changing by more than FREEZE_LEVEL
FREEZE_LEVEL = 20


def is_black(grid: np.ndarray) -> bool:
    return float(grid.mean()) < BLACK_MEAN


def frames_differ(a: np.ndarray, b: np.ndarray) -> bool:
    """True when two luma grids show a different picture (beyond coding noise)."""
    diff = np.abs(a - b)
    if float(diff.mean()) >= FREEZE_MEAN_DIFF:
        return True
    return int(np.count_nonzero(diff > FREEZE_LEVEL)) > FREEZE_CHANGED * diff.size


def median_interval(intervals: Counter[int]) -> float | None:
    """Median frame interval in seconds from a histogram of intervals in microseconds."""
    total = sum(intervals.values())
    if not total:
        return None
    seen = 0
    for us in sorted(intervals):
        seen += intervals[us]
        if seen * 2 >= total:
            return us / 1e6
    return None  # pragma: no cover - unreachable


def dropped_from_intervals(intervals: Counter[int], nominal: float) -> int:
    """Frames missing from gaps longer than 1.5 x the nominal interval."""
    missing = 0
    for us, count in intervals.items():
        gap = us / 1e6
        if gap > 1.5 * nominal:
            missing += count * (int(round(gap / nominal)) - 1)
    return missing


def combing_score(luma: np.ndarray, prev_grid: np.ndarray, grid: np.ndarray,
                  step: int) -> float | None:
    """Share of vertical edges in moving areas where a line stands out from both neighbours.

    Progressive motion gives monotonic edges (near 0); woven fields give teeth (near 1).

    Only grid cells that changed since the previous frame count, so fine static detail (a
    zone plate near vertical Nyquist) is not mistaken for interlace. None when it cannot tell.
    """
    moving = np.abs(grid - prev_grid) > FREEZE_LEVEL
    ys, xs = np.nonzero(moving)
    if len(ys) < 4 or len(ys) > CUT_SHARE * moving.size:
        return None  # nothing moved, or a cut / fade: no field motion to judge
    half = max(1, step // 2)
    rows = np.clip(ys[:, None] * step + np.arange(-half, half)[None, :], 1, luma.shape[0] - 2)
    cols = np.clip(xs * step + step // 2, 0, luma.shape[1] - 1)
    b = luma[rows, cols[:, None]].astype(np.int32)
    a = luma[rows - 1, cols[:, None]].astype(np.int32)
    c = luma[rows + 1, cols[:, None]].astype(np.int32)
    active = np.abs(b - a) > 15  # lines that differ from the line above
    if int(np.count_nonzero(active)) < 16:
        return 0.0
    comb = active & ((b - a) * (b - c) > 15 * 15)  # ... and from the line below, same way
    return float(np.count_nonzero(comb) / np.count_nonzero(active))


class BitrateMeter:
    """Bytes per 1 s window of packet timestamps; keeps only the running figures."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.window = 0
        self.window_bytes = 0
        self.total = 0
        self.last = 0.0
        self.min_kbps: float | None = None

    def add(self, t: float, size: int) -> None:
        if self.first is None:
            self.first = t
        w = int(math.floor(t - self.first + 1e-6))
        if w > self.window:
            self._close(self.window_bytes)
            for _ in range(min(w - self.window - 1, 3600)):
                self._close(0)  # whole seconds without a packet
            self.window, self.window_bytes = w, 0
        self.window_bytes += size
        self.total += size
        self.last = max(self.last, t)

    def _close(self, nbytes: int) -> None:
        kbps = nbytes * 8 / 1000
        self.min_kbps = kbps if self.min_kbps is None else min(self.min_kbps, kbps)

    def kbps(self, duration: float) -> tuple[float | None, float | None]:
        """(mean over ``duration``, min over complete 1 s windows; the mean if none)."""
        if self.first is None or duration <= 0:
            return None, None
        if duration >= self.window + 1 - 1e-3:  # the last window is complete too
            self._close(self.window_bytes)
            self.window_bytes = 0
        mean = round(self.total * 8 / 1000 / duration, 1)
        low = self.min_kbps if self.min_kbps is not None else mean
        return mean, round(low, 1)


class ProbeError(Exception):
    """The source could not be tested (unreachable, not video, timeout)."""

    def __init__(self, en: str, zh: str) -> None:
        super().__init__(f"{en} / {zh}")
        self.en, self.zh = en, zh


@dataclass
class ProbeResult:
    """What the decoded picture showed. Times in seconds, rates in frames per second."""

    source: str
    width: int = 0
    height: int = 0
    sample_aspect_ratio: Fraction = Fraction(1)
    progressive: bool = True
    interlaced_frames: int = 0
    combing: float | None = None
    fps_measured: float | None = None
    fps_declared: float | None = None
    frames: int = 0
    dropped_frames: int = 0
    pattern_frames_missing: int | None = None  # None: the harness pattern was not seen
    frozen_seconds: float = 0.0  # longest freeze
    frozen_total_seconds: float = 0.0
    black_seconds: float = 0.0
    bitrate_mean_kbps: float | None = None
    bitrate_min_kbps: float | None = None
    duration: float = 0.0
    effective: dict[str, Any] | None = None  # {"lines", "method", "class_name"}
    evidence: list[str] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)

    @property
    def display_aspect_ratio(self) -> Fraction | None:
        if not self.height:
            return None
        return Fraction(self.width, self.height) * self.sample_aspect_ratio

    @property
    def dropped_share(self) -> float:
        expected = self.frames + self.dropped_frames
        return self.dropped_frames / expected if expected else 0.0


def _open(source: str, timeout_s: float) -> Any:
    import av

    options: dict[str, str] = {}
    if source.lower().startswith(("rtsp://", "rtsps://")):
        options = {"rtsp_transport": "tcp", "timeout": str(int(timeout_s * 1e6))}
    elif "://" in source:
        options = {"rw_timeout": str(int(timeout_s * 1e6)), "reconnect": "0"}
    try:
        return av.open(source, "r", options=options, timeout=(timeout_s, timeout_s))
    except FileNotFoundError as exc:
        raise ProbeError(f"file not found: {source}", f"找不到文件：{source}") from exc
    except ConnectionRefusedError as exc:
        raise ProbeError(f"connection refused: {source} - is the device on and the address "
                         "right?", f"连接被拒绝：{source}，请检查设备电源和地址") from exc
    except TimeoutError as exc:
        raise ProbeError(f"no answer within {timeout_s:g} s: {source}",
                         f"{timeout_s:g} 秒内无响应：{source}") from exc
    except (av.FFmpegError, OSError) as exc:
        raise ProbeError(f"cannot open {source} as video: {exc}",
                         f"无法作为视频打开 {source}：{exc}") from exc


def _luma(frame: Any) -> np.ndarray:
    """Height x width uint8 luma of a decoded frame, without copying when possible."""
    name = frame.format.name
    if name in ("yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12",
                "nv21", "gray"):
        plane = frame.planes[0]
        buf = np.frombuffer(plane, np.uint8)
        return buf.reshape(-1, plane.line_size)[:frame.height, :frame.width]
    return frame.to_ndarray(format="gray")


def write_png(frame: Any, path: Path) -> Path:
    """Write one decoded frame as a PNG (PyAV's own encoder; no imaging library needed)."""
    import av

    rgb = frame.reformat(format="rgb24")
    ctx = av.CodecContext.create("png", "w")
    ctx.width, ctx.height, ctx.pix_fmt = rgb.width, rgb.height, "rgb24"
    ctx.time_base = Fraction(1, 25)
    rgb.pts = 0
    packets = list(ctx.encode(rgb)) + list(ctx.encode(None))
    path.write_bytes(b"".join(bytes(p) for p in packets))
    return path


class _Analyser:
    """Per-frame measures on a downscaled luma grid; keeps only the previous grid."""

    def __init__(self, result: ProbeResult, evidence_dir: Path | None, detail: DetailHook):
        self.r, self.evidence_dir = result, evidence_dir
        self.detail = DetailSampler(early=detail)
        self.intervals: Counter[int] = Counter()  # microseconds -> count
        self.prev_t: float | None = None
        self.prev_grid: np.ndarray | None = None
        self.prev_black = False
        self.freeze_start: float | None = None
        self.freeze_shot = False
        self.black_shot = False
        self.combs: list[float] = []
        self.last_counter: int | None = None
        self.pattern_seen = 0
        self.missing = 0

    def _evidence(self, frame: Any, label: str) -> None:
        if self.evidence_dir is None or len(self.r.evidence) >= MAX_EVIDENCE:
            return
        name = f"{len(self.r.evidence):02d}-{label}-{self.r.frames:06d}.png"
        self.r.evidence.append(str(write_png(frame, self.evidence_dir / name)))

    def feed(self, frame: Any, t: float) -> None:
        r = self.r
        luma = _luma(frame)
        step = max(1, luma.shape[1] // GRID_WIDTH)
        grid = luma[step // 2::step, step // 2::step].astype(np.int16)
        if r.frames == 0:
            r.width, r.height = frame.width, frame.height
            self._evidence(frame, "first")
        if frame.interlaced_frame:
            r.interlaced_frames += 1
        black = is_black(grid)
        if self.prev_t is not None and self.prev_grid is not None:
            dt = t - self.prev_t
            if dt > 0:
                self.intervals[int(round(dt * 1e6))] += 1
            if self.prev_black:
                r.black_seconds += max(dt, 0.0)
            same = not black and not frames_differ(self.prev_grid, grid)
            self._track_freeze(same, t, frame)
        if (self.prev_grid is not None and r.frames % COMBING_EVERY == 0 and not black
                and len(self.combs) < COMBING_MAX):
            score = combing_score(luma, self.prev_grid, grid, step)
            if score is not None:
                self.combs.append(score)
        if black:
            self.last_counter = None  # pictures hidden by black are counted as black
        else:
            self._track_counter(luma)
        if black and not self.black_shot:
            self.black_shot = True
            self._evidence(frame, "black")
        if self.detail.feed(luma, t, key_frame=bool(frame.key_frame), first=r.frames == 0,
                            black=black):
            self._evidence(frame, "detail")
        self.prev_t, self.prev_grid, self.prev_black = t, grid, black
        r.frames += 1

    def _track_freeze(self, same: bool, t: float, frame: Any) -> None:
        if same:
            if self.freeze_start is None:
                self.freeze_start = self.prev_t
            elif t - self.freeze_start > 1.0 and not self.freeze_shot:
                self.freeze_shot = True
                self._evidence(frame, "frozen")
        elif self.freeze_start is not None:
            self._close_freeze(t)

    def _close_freeze(self, t: float) -> None:
        assert self.freeze_start is not None
        length = t - self.freeze_start
        self.r.frozen_seconds = max(self.r.frozen_seconds, length)
        if length >= 0.5:
            self.r.frozen_total_seconds += length
        self.freeze_start = None
        self.last_counter = None  # a jump right after a freeze belongs to the freeze

    def _track_counter(self, luma: np.ndarray) -> None:
        reading = decode_counter(luma) if luma.shape[0] >= 90 else None
        if reading is None:
            return
        self.pattern_seen += 1
        number = reading[0]
        if self.last_counter is not None and number > self.last_counter + 1:
            self.missing += number - self.last_counter - 1
        self.last_counter = number

    def finish(self, fps_declared: float | None) -> None:
        r = self.r
        interval = median_interval(self.intervals)
        if self.prev_t is not None and self.freeze_start is not None:
            self._close_freeze(self.prev_t + (interval or 0.0))
        if interval:
            r.fps_measured = round(1.0 / interval, 3)
            r.dropped_frames = dropped_from_intervals(self.intervals, interval)
            if self.prev_black:
                r.black_seconds += interval
        r.fps_declared = fps_declared
        r.black_seconds = round(r.black_seconds, 3)
        r.frozen_seconds = round(r.frozen_seconds, 3)
        r.frozen_total_seconds = round(r.frozen_total_seconds, 3)
        if self.pattern_seen >= max(2, r.frames // 2):
            r.pattern_frames_missing = self.missing
        if self.combs:
            r.combing = round(float(np.median(self.combs)), 4)
        flagged = r.interlaced_frames > INTERLACED_SHARE * max(r.frames, 1)
        combed = r.combing is not None and r.combing > COMBING_LIMIT
        r.progressive = not (flagged or combed)
        r.effective, notes = self.detail.result(r.height)
        r.notes.extend(notes)


def probe(source: str | Path, *, max_seconds: float | None = 120.0,
          evidence_dir: str | Path | None = None, timeout_s: float = 10.0,
          wall_limit_s: float | None = None) -> ProbeResult:
    """Decode ``source`` (path or URL) for at most ``max_seconds`` of media and measure it.

    Raises :class:`ProbeError` when nothing could be measured. ``wall_limit_s`` bounds the
    wall-clock time (default: 3 x max_seconds + 30 s).
    """
    src = str(source)
    if wall_limit_s is None:
        wall_limit_s = 3 * (max_seconds or 1200.0) + 30.0
    ev = Path(evidence_dir) if evidence_dir else None
    if ev is not None:
        ev.mkdir(parents=True, exist_ok=True)
    if not is_http(src):
        return _probe_open(src, src, max_seconds, ev, timeout_s, wall_limit_s)
    with tempfile.TemporaryDirectory(prefix="classcert-video-") as tmp:
        started = time.monotonic()
        try:
            local = fetch_if_file(src, Path(tmp), timeout_s, wall_limit_s)
        except FetchError as exc:
            raise ProbeError(exc.en, exc.zh) from exc
        left = max(1.0, wall_limit_s - (time.monotonic() - started))
        return _probe_open(str(local) if local else src, src, max_seconds, ev, timeout_s, left)


def _probe_open(path: str, src: str, max_seconds: float | None, ev: Path | None,
                timeout_s: float, wall_limit_s: float) -> ProbeResult:
    container = _open(path, timeout_s)
    try:
        if not container.streams.video:
            raise ProbeError(f"no video stream in {src}", f"{src} 中没有视频流")
        stream = container.streams.video[0]
        stream.codec_context.thread_type = "AUTO"
        result = ProbeResult(source=src)
        sar = stream.codec_context.sample_aspect_ratio or stream.sample_aspect_ratio
        if sar and sar.numerator > 0 and sar.denominator > 0:
            result.sample_aspect_ratio = Fraction(sar.numerator, sar.denominator)
        rate = stream.guessed_rate or stream.average_rate
        declared = float(rate) if rate else None
        meter = BitrateMeter()
        analyser = _Analyser(result, ev, DetailHook())
        _read(container, stream, meter, analyser, max_seconds, wall_limit_s, timeout_s)
        analyser.finish(declared)
        if result.fps_measured:
            result.duration = round(
                (result.frames + result.dropped_frames) / result.fps_measured, 3)
        result.bitrate_mean_kbps, result.bitrate_min_kbps = meter.kbps(result.duration)
        return result
    finally:
        container.close()


def _read(container: Any, stream: Any, meter: BitrateMeter, analyser: _Analyser,
          max_seconds: float | None, wall_limit_s: float, timeout_s: float) -> None:
    """Demux, decode and analyse frame by frame in this thread.

    FFmpeg's own decoder threads use every core; measured on 2 cores, handing frames to a
    Python worker thread was slower (GIL hand-offs) than analysing them inline.
    """
    result = analyser.r
    deadline = time.monotonic() + wall_limit_s
    start_t: float | None = None
    tb = stream.time_base
    error: Exception | None = None
    try:
        for packet in container.demux(stream):
            stamp = packet.dts if packet.dts is not None else packet.pts
            if packet.size and stamp is not None and tb is not None:
                meter.add(float(stamp * tb), packet.size)
            for frame in packet.decode():
                t_abs = float(frame.time) if frame.time is not None else result.frames / 25.0
                start_t = t_abs if start_t is None else start_t
                if max_seconds is not None and t_abs - start_t >= max_seconds:
                    return
                analyser.feed(frame, t_abs - start_t)
            if time.monotonic() > deadline:
                result.notes.append((f"stopped after {wall_limit_s:g} s of waiting",
                                     f"等待 {wall_limit_s:g} 秒后停止"))
                return
    except Exception as exc:  # noqa: BLE001 - judged below: note or could-not-test
        error = exc
    finally:
        _check_read(error, result, timeout_s)


def _check_read(error: Exception | None, result: ProbeResult, timeout_s: float) -> None:
    if result.frames < 2:
        why = f": {error}" if error else ""
        raise ProbeError(f"no video pictures could be decoded from {result.source}{why}",
                         f"无法从 {result.source} 解码出视频画面")
    if error is not None:
        result.notes.append((f"decoding stopped early: {error}", f"解码提前中止：{error}"))
