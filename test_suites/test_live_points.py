"""Simultaneous network live-stream points of a recording classroom (录播教室网络直播点).

N streams (rig option ``live_points`` of the recorder device, default 5) are opened at once
and decoded for a set time (option ``live_seconds``, default 10). The URLs are the
recorder's address repeated N times, or the list in option ``live_urls`` (one per channel).
The value is the number of streams that delivered pictures for the whole window; under
``live_point_definition = "channels"`` relays of one source count once. Whether the streams
are distinct is recorded either way.
"""

from __future__ import annotations

from typing import Any

import pytest

from classcert.fixtures.devices import Unmeasurable, device_password
from classcert.live_points import DEFINITIONS, watch_live_points, with_credentials
from classcert.test_suites.video_steps import stream_device, stream_url

KEY = "recording.live_points"
ROLE = "recorder"


def live_urls(ctx: Any, room: Any, device: Any) -> list[str]:
    opts = device.options
    listed = opts.get("live_urls")
    if listed is not None:
        if not isinstance(listed, list) or not listed or not all(
                isinstance(u, str) for u in listed):
            raise Unmeasurable(f"{device.label}: option live_urls must be a non-empty list of "
                               "stream URLs", f"{device.label}：live_urls 选项应为视频流地址列表")
        urls = list(listed)
    else:
        n = opts.get("live_points", 5)
        if not isinstance(n, int) or not 1 <= n <= 64:
            raise Unmeasurable(f"{device.label}: option live_points must be 1..64, got {n!r}",
                               f"{device.label}：live_points 选项应为 1 到 64，当前为 {n!r}")
        urls = [stream_url(ctx, room, device)] * n
    password = device_password(device)
    return [with_credentials(u, opts.get("user"), password) for u in urls]


@pytest.mark.requirement(KEY)
def test_live_points(classcert_campaign, room, operator, measure):
    device = stream_device(room, ROLE)
    definition = str(device.options.get("live_point_definition", "viewers"))
    if definition not in DEFINITIONS:
        raise Unmeasurable(f"{device.label}: live_point_definition must be 'viewers' or "
                           f"'channels', got {definition!r}",
                           f"{device.label}：live_point_definition 应为 viewers 或 channels")
    urls = live_urls(classcert_campaign, room, device)
    seconds = float(device.options.get("live_seconds", 10))
    operator.notify(
        f"{room.id}: opening {len(urls)} live streams of the recorder at once for {seconds:g} s",
        f"{room.id}：正在同时打开录播主机的 {len(urls)} 路直播流，持续 {seconds:g} 秒",
    )
    result = watch_live_points(urls, seconds, definition=definition,
                               timeout_s=float(device.options.get("timeout_s", 10)))
    record = result.to_json()
    evidence = [measure.write_evidence("live-points.json", record)]
    if not result.delivering:
        first = next((s.error for s in result.streams if s.error), None)
        en, zh = first or ("no stream delivered pictures", "没有视频流输出画面")
        raise Unmeasurable(f"none of the {len(urls)} live streams delivered pictures: {en}",
                           f"{len(urls)} 路直播流均无画面：{zh}")
    refused = [s for s in result.streams if s.error and s.first_at is None]
    distinct = result.distinct_sources
    measure(
        KEY, result.count, unit="streams", evidence=evidence,
        detail_en=(f"definition: {definition}; {len(result.delivering)} of {len(urls)} streams "
                   f"delivered pictures for {seconds:g} s, {len(refused)} refused or failed; "
                   f"{distinct} distinct source(s) among them"),
        detail_zh=(f"定义：{'同时观看人数' if definition == 'viewers' else '不同频道数'}；"
                   f"{len(urls)} 路中 {len(result.delivering)} 路持续 {seconds:g} 秒有画面，"
                   f"{len(refused)} 路被拒绝或失败；其中不同信号源 {distinct} 个"),
    )
