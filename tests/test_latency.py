"""Glass-to-glass latency: counter stamping, wrap-aware arithmetic, and the live simulator."""

from __future__ import annotations

import socket

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classcert.latency import (
    MS_WRAP,
    LatencyError,
    LatencyResult,
    latency_ms,
    measure_latency,
    percentile,
    stamp_counter,
)
from classcert.rigs.simulators.live_pattern_sim import LivePatternSimulator
from classcert.video_pattern import VideoPattern, decode_counter


@settings(max_examples=60, deadline=None)
@given(st.integers(0, (1 << 24) - 1), st.integers(0, MS_WRAP - 1),
       st.sampled_from([(320, 180), (640, 360), (1280, 720)]))
def test_stamp_counter_reads_back(index, ms, size):
    w, h = size
    luma = VideoPattern(w, h).luma(7)
    stamp_counter(luma, index, ms)
    assert decode_counter(luma) == (index, ms)


def test_stamp_counter_rejects_tiny_frames():
    with pytest.raises(ValueError):
        stamp_counter(np.zeros((20, 40), np.uint8), 1, 2)


@settings(max_examples=200)
@given(st.integers(0, MS_WRAP - 1), st.integers(-10**6, 10**6))
def test_latency_is_wrap_aware(stamp, delta):
    now = (stamp + delta) % MS_WRAP
    assert latency_ms(now, stamp) == delta


@settings(max_examples=100)
@given(st.lists(st.floats(-1e4, 1e4), min_size=1, max_size=60), st.floats(0, 100))
def test_percentile_matches_numpy(values, q):
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), abs=1e-6)


def test_percentile_empty_and_out_of_range():
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_result_counts_unreadable_and_implausible_frames():
    r = LatencyResult("x")
    luma = VideoPattern(640, 360).luma(0)
    stamp_counter(luma, 3, 1_000)
    assert r.add(1_120.0, luma) == pytest.approx(120.0)
    assert r.add(1_000.0, np.full((360, 640), 128, np.uint8)) is None
    assert r.add(1_000_000.0, luma) is None  # 999 s late: a misread, not a sample
    assert (r.frames, r.unreadable, r.implausible, r.samples) == (3, 1, 1, [120.0])
    assert r.summary()["median_ms"] == 120.0


@pytest.mark.parametrize("delay_ms", [80, 400])
def test_live_latency_follows_the_delay(delay_ms):
    with LivePatternSimulator(delay_ms=delay_ms, fps=50) as sim:
        r = measure_latency(sim.url, samples=100, max_seconds=10, warmup_s=0.5)
    assert len(r.samples) >= 100
    assert r.unreadable == 0
    assert delay_ms <= r.median <= delay_ms + 100
    assert r.median <= r.p95 <= delay_ms + 150


def test_live_latency_counts_unreadable_frames():
    with LivePatternSimulator(delay_ms=0, fps=50, garble_every=4) as sim:
        r = measure_latency(sim.url, samples=60, max_seconds=10, warmup_s=0.3)
    share = r.unreadable / r.frames
    assert 0.15 <= share <= 0.35
    assert r.frames == len(r.samples) + r.unreadable + r.implausible


def test_refused_port_is_a_latency_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(LatencyError) as info:
        measure_latency(f"rtsp://127.0.0.1:{port}/x", samples=10, max_seconds=2, timeout_s=2)
    assert "127.0.0.1" in info.value.en and info.value.zh
