"""Glass-to-glass latency of video between classrooms (教室间互传视频端到端时延).

The source classroom's display shows the classcert pattern with the harness host's clock in
its counter block; the stream received at the far end (the room's ``video-link`` device) is
decoded on the same host, and each readable frame gives ``clock now - clock in the picture``.
The value is the median over at least 100 samples (rig option ``latency_samples``, default
150); the 95th percentile, the sample count and the unreadable frames are in the detail and
the evidence. Fewer than 100 readable samples: could not test.
"""

from __future__ import annotations

import pytest

from classcert.fixtures.devices import Unmeasurable, device_password
from classcert.latency import MIN_SAMPLES, LatencyError, measure_latency
from classcert.live_points import with_credentials
from classcert.test_suites.video_steps import stream_device, stream_url

KEY = "video.interclass.latency"
ROLE = "video-link"


@pytest.mark.requirement(KEY)
def test_video_latency(classcert_campaign, room, operator, measure):
    device = stream_device(room, ROLE)
    opts = device.options
    url = stream_url(classcert_campaign, room, device)
    wanted = max(MIN_SAMPLES, int(opts.get("latency_samples", 150)))
    operator.notify(
        f"{room.id}: show the live classcert pattern with the harness clock on the source "
        f"classroom's display; measuring latency on {url}",
        f"{room.id}：请在源教室显示屏上播放带本机时钟的 classcert 实时图样；正在测量时延",
    )
    try:
        result = measure_latency(
            with_credentials(url, opts.get("user"), device_password(device)), samples=wanted,
            max_seconds=float(opts.get("latency_max_seconds", 30)),
            timeout_s=float(opts.get("timeout_s", 10)))
    except LatencyError as exc:
        raise Unmeasurable(exc.en, exc.zh) from exc
    result.source = url  # no credentials in the evidence
    summary = result.summary()
    evidence = [measure.write_evidence("interclass-latency.json",
                                       summary | {"samples_ms": [round(s, 1)
                                                                 for s in result.samples]})]
    n, median, p95 = len(result.samples), result.median, result.p95
    if n < MIN_SAMPLES or median is None or p95 is None:
        raise Unmeasurable(
            f"only {n} readable timestamps in {result.frames} frames ({result.unreadable} "
            f"unreadable); need {MIN_SAMPLES}: is the live pattern shown full-screen and is "
            f"the counter block in view?",
            f"{result.frames} 帧中仅 {n} 帧可读出时间戳（{result.unreadable} 帧不可读），"
            f"至少需要 {MIN_SAMPLES} 帧：请全屏播放实时图样并确保计数块在画面内")
    if median < 0:
        raise Unmeasurable(
            f"the pictures are stamped {-median:.0f} ms ahead of this host's clock: the "
            "pattern must be shown by this host (same clock)",
            f"画面时间戳比本机时钟超前 {-median:.0f} 毫秒：图样须由本机播放（同一时钟）")
    measure(
        KEY, round(median, 1), unit="ms", evidence=evidence,
        detail_en=(f"median of {n} samples; p95 {p95:.1f} ms; {result.unreadable} of "
                   f"{result.frames} frames unreadable"),
        detail_zh=(f"{n} 个样本的中位数；95 分位 {p95:.1f} 毫秒；{result.frames} 帧中 "
                   f"{result.unreadable} 帧不可读"),
    )
