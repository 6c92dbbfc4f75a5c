"""Streaming video probe: measures from decoded pictures, for files and HTTP sources."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classcert.video_pattern import write_pattern_clip
from classcert.video_probe import (
    BitrateMeter,
    ProbeError,
    dropped_from_intervals,
    frames_differ,
    median_interval,
    probe,
)

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
X264 = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p"]


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=60)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("video")
    write_pattern_clip(d / "small.mp4", 3.0, 25, 480, 272)
    write_pattern_clip(d / "small50.mp4", 2.0, 50, 480, 272)
    return d


# -- pure helpers -------------------------------------------------------------------------

@given(st.lists(st.integers(1, 10_000_000), min_size=1, max_size=200))
def test_median_interval_matches_numpy(values: list[int]) -> None:
    got = median_interval(Counter(values))
    s = sorted(values)
    assert got == s[(len(s) - 1) // 2] / 1e6


@given(st.integers(20_000, 100_000), st.integers(0, 500),
       st.lists(st.integers(2, 30), max_size=20))
def test_dropped_counts_missing_frames_in_gaps(nominal_us: int, regular: int,
                                               gaps: list[int]) -> None:
    hist: Counter[int] = Counter({nominal_us: regular})
    for g in gaps:
        hist[g * nominal_us] += 1
    assert dropped_from_intervals(hist, nominal_us / 1e6) == sum(g - 1 for g in gaps)


@settings(max_examples=50)
@given(st.lists(st.tuples(st.floats(0, 0.999), st.integers(1, 5000)), min_size=1, max_size=60),
       st.integers(1, 30))
def test_bitrate_meter_mean_and_min(packets: list[tuple[float, int]], seconds: int) -> None:
    packets = [(0.0, packets[0][1]), *sorted(packets[1:])]  # windows start at the first packet
    meter = BitrateMeter()
    total = 0
    per_second = []
    for s in range(seconds):
        nbytes = 0
        for frac, size in packets:
            meter.add(s + frac, size)
            nbytes += size
        per_second.append(nbytes)
        total += nbytes
    mean, low = meter.kbps(float(seconds))
    assert mean == pytest.approx(total * 8 / 1000 / seconds, abs=0.06)
    assert low == pytest.approx(min(per_second) * 8 / 1000, abs=0.06)
    assert low <= mean + 0.1


@given(st.integers(0, 255), st.integers(1, 3))
def test_frames_differ_ignores_coding_noise(level: int, noise: int) -> None:
    rng = np.random.default_rng(level)
    a = np.full((135, 240), level, np.int16)
    b = a + rng.integers(-noise, noise + 1, a.shape) * (rng.random(a.shape) < 0.05)
    assert not frames_differ(a, b.astype(np.int16))
    c = a.copy()
    c[:10, :100] = 255 - level if abs(255 - 2 * level) > 40 else (level + 128) % 256
    assert frames_differ(a, c)


# -- whole sources --------------------------------------------------------------------------

def test_genuine_1080p_pattern(tmp_path: Path) -> None:
    clip = write_pattern_clip(tmp_path / "g.mp4", 2.0, 25)
    r = probe(clip, evidence_dir=tmp_path / "ev")
    assert (r.width, r.height, r.sample_aspect_ratio) == (1920, 1080, 1)
    assert r.progressive and r.interlaced_frames == 0
    assert r.fps_measured == pytest.approx(25.0)
    assert r.frames == 50 and r.dropped_frames == 0 and r.pattern_frames_missing == 0
    assert r.frozen_seconds == 0 and r.black_seconds == 0
    assert r.bitrate_mean_kbps and r.bitrate_min_kbps and r.bitrate_min_kbps > 0
    assert r.duration == pytest.approx(2.0)
    assert r.evidence and all(Path(p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in r.evidence)
    try:
        import classcert.video_detail  # noqa: F401
    except ImportError:
        assert r.effective is None
    else:
        assert r.effective is not None and r.effective["lines"] >= 1080


@needs_ffmpeg
def test_interlaced_encode_is_interlaced(clips: Path) -> None:
    out = clips / "il.mp4"
    ffmpeg("-i", str(clips / "small50.mp4"), "-vf", "tinterlace=mode=interleave_top",
           *X264, "-flags", "+ildct+ilme", "-top", "1", str(out))
    r = probe(out)
    assert not r.progressive
    assert r.interlaced_frames == r.frames


@needs_ffmpeg
def test_woven_fields_without_flags_show_combing(clips: Path) -> None:
    out = clips / "weave.mp4"
    ffmpeg("-i", str(clips / "small50.mp4"), "-vf", "tinterlace=mode=interleave_top", *X264,
           str(out))
    r = probe(out)
    assert r.interlaced_frames == 0
    assert r.combing is not None and r.combing > 0.3
    assert not r.progressive
    assert probe(clips / "small.mp4").combing == pytest.approx(0.0, abs=0.1)


@needs_ffmpeg
def test_frozen_segment_measured(clips: Path) -> None:
    out = clips / "frz.mp4"
    ffmpeg("-i", str(clips / "small.mp4"), "-filter_complex",
           "[0:v]split[a][b];[a][b]freezeframes=first=10:last=60:replace=10", *X264, str(out))
    r = probe(out)
    assert r.frozen_seconds == pytest.approx((61 - 10) / 25, abs=0.05)
    assert r.dropped_frames == 0 and r.pattern_frames_missing == 0


def test_repeated_pattern_frames_freeze(tmp_path: Path) -> None:
    indices = list(range(10)) + [10] * 40 + list(range(51, 75))
    clip = write_pattern_clip(tmp_path / "f.mp4", 3.0, 25, 320, 180, frame_indices=indices)
    r = probe(clip)
    assert r.frozen_seconds == pytest.approx(1.6, abs=0.05)


@needs_ffmpeg
def test_dropped_frames_from_timestamp_gaps(clips: Path) -> None:
    out = clips / "drop.mp4"
    ffmpeg("-i", str(clips / "small.mp4"), "-vf", "select='not(between(n\\,30\\,41))'",
           "-fps_mode", "passthrough", *X264, str(out))
    r = probe(out)
    assert r.dropped_frames == 12
    assert r.frames == 63
    assert r.fps_measured == pytest.approx(25.0)


def test_lost_pictures_with_regular_timestamps(tmp_path: Path) -> None:
    indices = list(range(20)) + list(range(30, 60))
    clip = write_pattern_clip(tmp_path / "l.mp4", 2.0, 25, 320, 180, frame_indices=indices)
    r = probe(clip)
    assert r.dropped_frames == 0
    assert r.pattern_frames_missing == 10


@needs_ffmpeg
def test_black_segment_measured(clips: Path) -> None:
    out = clips / "blk.mp4"
    ffmpeg("-i", str(clips / "small.mp4"), "-vf",
           "drawbox=x=0:y=0:w=iw:h=ih:color=black:t=fill:enable='between(t,1,2)'", *X264,
           str(out))
    r = probe(out)
    assert r.black_seconds == pytest.approx(1.04, abs=0.09)
    assert r.frozen_seconds == 0


@needs_ffmpeg
def test_15fps_measured_from_timestamps(clips: Path) -> None:
    out = clips / "f15.mp4"
    ffmpeg("-i", str(clips / "small.mp4"), "-vf", "fps=15", *X264, str(out))
    r = probe(out)
    assert r.fps_measured == pytest.approx(15.0, abs=0.01)
    assert r.dropped_frames == 0


@needs_ffmpeg
def test_non_square_pixels(clips: Path) -> None:
    out = clips / "sar.mp4"
    ffmpeg("-i", str(clips / "small.mp4"), "-t", "1", "-vf", "scale=360:272,setsar=4/3", *X264,
           str(out))
    r = probe(out)
    assert r.sample_aspect_ratio == pytest.approx(4 / 3)
    assert float(r.display_aspect_ratio) == pytest.approx(16 / 9, abs=0.03)


def test_max_seconds_bounds_the_analysis(clips: Path) -> None:
    r = probe(clips / "small.mp4", max_seconds=1.0)
    assert r.frames == 25


def test_garbage_and_missing_sources_cannot_be_tested(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(bytes(range(256)) * 300)
    with pytest.raises(ProbeError) as info:
        probe(junk)
    assert info.value.zh
    with pytest.raises(ProbeError, match="not found"):
        probe(tmp_path / "none.mp4")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def test_http_source_served_locally(clips: Path) -> None:
    handler = functools.partial(_QuietHandler, directory=str(clips))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        r = probe(f"http://127.0.0.1:{server.server_address[1]}/small.mp4", timeout_s=5)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert (r.width, r.height, r.frames) == (480, 272, 75)
    assert r.fps_measured == pytest.approx(25.0)


_RSS_SCRIPT = """
import json, resource, sys
from classcert.video_probe import probe
r = probe(sys.argv[1], max_seconds=None)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"frames": r.frames, "rss_kb": rss}))
"""


def _peak_rss(clip: Path) -> tuple[int, int]:
    out = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, str(clip)], capture_output=True,
                         text=True, check=True, timeout=120)
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    return doc["frames"], doc["rss_kb"]


def test_memory_does_not_grow_with_length(tmp_path: Path) -> None:
    short = write_pattern_clip(tmp_path / "short.mp4", 4.0, 25, 320, 180, preset="ultrafast")
    long = write_pattern_clip(tmp_path / "long.mp4", 60.0, 25, 320, 180, preset="ultrafast")
    frames_short, rss_short = _peak_rss(short)
    frames_long, rss_long = _peak_rss(long)
    assert (frames_short, frames_long) == (100, 1500)
    assert rss_long - rss_short < 15 * 1024, (rss_short, rss_long)


@pytest.mark.slow
def test_two_hour_recording_needs_no_more_memory_than_one_minute(tmp_path: Path) -> None:
    """The issue's own figure: a two-hour recording against a one-minute one (slow)."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    minute = write_pattern_clip(tmp_path / "minute.mp4", 60.0, 25, 160, 96, preset="ultrafast")
    two_hours = tmp_path / "two-hours.mp4"
    # loop the one-minute clip 120 times without re-encoding: a real 2 h H.264 file
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "119", "-i", str(minute),
                    "-c", "copy", str(two_hours)], check=True, timeout=600)
    frames_minute, rss_minute = _peak_rss(minute)
    out = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, str(two_hours)],
                         capture_output=True, text=True, check=True, timeout=3600)
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    assert frames_minute == 1500 and doc["frames"] >= 120 * 1500 - 25
    assert doc["rss_kb"] - rss_minute < 15 * 1024, (rss_minute, doc["rss_kb"])
