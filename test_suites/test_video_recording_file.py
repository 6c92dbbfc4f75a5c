"""Recording system at 1080P, judged on a recording the recorder itself made (录播文件 1080P).

For recorders driven over HTTP (rig ``driver = "http-recorder"``, role ``recorder``): while
the source shows the classcert test pattern, the recorder is told to record for ``record_s``
seconds (rig option, default 10); the newest recording is then fetched (MP4: downloaded
with a size bound, ``max_bytes``; HLS: streamed) and decoded. Each part of "1080P HD
quality" is one catalog requirement, measured as for the live stream.

Rooms whose recorder is tested over its live stream (``driver = "rtsp"``) are measured by
test_video_recording.py (STREAM_DRIVERS of video_steps), not here: this suite raises
NotForThisRoom for them, which records nothing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from classcert.device_drivers.http_recorder import HttpRecorder, open_http_recorder
from classcert.fixtures.devices import NotForThisRoom, Unmeasurable, device_password
from classcert.model import Device, Room
from classcert.test_suites.video_steps import STREAM_DRIVERS, decode, keys_for, measure_parts

BASE = "video.recording"
ROLE = "recorder"
DRIVER = "http-recorder"
DEFAULT_RECORD_S = 10.0
MAX_RECORD_S = 600.0
DEFAULT_MAX_BYTES = 1 << 30


def recorder_device(room: Room) -> Device:
    """The room's HTTP-driven recorder; NotForThisRoom when a live-stream suite measures it."""
    devices = room.devices_with_role(ROLE)
    for device in devices:
        if device.driver == DRIVER:
            return device
    if any(d.driver in STREAM_DRIVERS for d in devices):
        raise NotForThisRoom(f"{ROLE} is tested on its live stream (test_video_recording.py)")
    raise Unmeasurable(
        f"room {room.id} has no recorder classcert can drive: add a [[rooms.devices]] entry "
        f'with role = "{ROLE}" and driver = "{DRIVER}" (HTTP API) or driver = "rtsp" '
        "(live stream)",
        f"教室 {room.id} 的场地文件中没有可测的录播设备（{DRIVER} 或 rtsp）",
    )


def _record(rec: HttpRecorder, seconds: float) -> dict[str, Any]:
    """Start, wait ``seconds``, stop (also when waiting is interrupted); the API replies."""
    replies: dict[str, Any] = {"before": rec.latest_recording_url()}
    replies["start"] = rec.start()
    started = time.monotonic()
    try:
        time.sleep(seconds)
    finally:
        replies["stop"] = rec.stop()
        replies["recorded_s"] = round(time.monotonic() - started, 2)
    return replies


def _public(url: str) -> str:
    """``url`` without credentials, for evidence."""
    parts = urlsplit(url)
    return url.replace(f"{parts.username}:{parts.password}@", "") if parts.password else url


@pytest.mark.requirement(*keys_for(BASE))
def test_video_recording_file(classcert_campaign, room, operator, measure):
    device = recorder_device(room)
    options = dict(device.options)
    record_s = float(options.get("record_s", DEFAULT_RECORD_S))
    if not 0 < record_s <= MAX_RECORD_S:
        raise Unmeasurable(f"rig option record_s = {record_s:g} must be > 0 and <= "
                           f"{MAX_RECORD_S:g} seconds", f"场地文件中 record_s 应在 0 到 "
                           f"{MAX_RECORD_S:g} 秒之间")
    max_bytes = int(options.get("max_bytes", DEFAULT_MAX_BYTES))
    address = classcert_campaign.device_address(room, device)
    rec = open_http_recorder(address, device_password(device),
                             float(options.get("timeout_s", 5)), options)
    with rec:
        operator.notify(
            f"{room.id}: make sure the recorder's source shows the classcert test pattern "
            f"(classcert video pattern); recording {record_s:g} s on {rec.base}",
            f"{room.id}：请让录播信号源播放 classcert 测试图样；正在录制 {record_s:g} 秒",
        )
        replies = _record(rec, record_s)
        url = rec.wait_for_new_recording(replies["before"])
        if urlsplit(url).path.lower().endswith(".m3u8"):
            source, fetched = rec.stream_url(url), "streamed (HLS)"
        else:
            dest = measure.evidence_dir / f"{room.id}-recording.mp4"
            source = str(rec.download(url, dest, max_bytes))
            fetched = f"downloaded ({Path(source).stat().st_size} bytes)"
    result = decode(source, record_s + 30.0, measure.evidence_dir)
    doc = {"recorder": rec.base, "recording_url": _public(url), "fetched": fetched,
           "api_replies": replies, "decoded": {
               "width": result.width, "height": result.height,
               "sample_aspect_ratio": str(result.sample_aspect_ratio),
               "progressive": result.progressive, "fps_measured": result.fps_measured,
               "frames": result.frames, "duration": result.duration,
               "dropped_frames": result.dropped_frames,
               "pattern_frames_missing": result.pattern_frames_missing,
               "frozen_seconds": result.frozen_seconds, "black_seconds": result.black_seconds,
               "effective": result.effective, "notes": result.notes},
           "frames": result.evidence}
    evidence = [measure.write_evidence(f"{ROLE}-recording.json", doc),
                *(Path(p) for p in result.evidence)]
    if not fetched.startswith("streamed"):
        evidence.append(Path(source))
    measure_parts(measure, BASE, result, {}, evidence)
