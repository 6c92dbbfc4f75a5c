"""Recording system at 1080P (录播系统 1080P).

The stream is decoded for a set time (rig option ``seconds``, default 10) while the
source shows the classcert test pattern (``classcert video pattern``); each part of
"1080P HD quality" is one catalog requirement: effective resolution of the picture
detail, progressive scan, measured frame rate, freezes and dropped pictures.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from classcert.fixtures.devices import device_password
from classcert.test_suites.video_steps import (
    decode,
    keys_for,
    measure_parts,
    onvif_claim,
    stream_claim,
    stream_device,
    stream_url,
)

BASE = "video.recording"
ROLE = "recorder"


@pytest.mark.requirement(*keys_for(BASE))
def test_video_recording(classcert_campaign, room, operator, measure):
    device = stream_device(room, ROLE)
    url = stream_url(classcert_campaign, room, device)
    operator.notify(
        f"{room.id}: make sure the {ROLE} source shows the classcert test pattern "
        f"(classcert video pattern); decoding {url}",
        f"{room.id}：请让{ROLE}信号源播放 classcert 测试图样；正在解码视频流",
    )
    claim = stream_claim(url, device, device_password(device)) or onvif_claim(
        classcert_campaign, room, device)
    result = decode(url, float(device.options.get("seconds", 10)), measure.evidence_dir)
    record = {"url": url, "claim": claim, "decoded": {
        "width": result.width, "height": result.height,
        "sample_aspect_ratio": str(result.sample_aspect_ratio),
        "progressive": result.progressive, "fps_measured": result.fps_measured,
        "frames": result.frames, "dropped_frames": result.dropped_frames,
        "pattern_frames_missing": result.pattern_frames_missing,
        "frozen_seconds": result.frozen_seconds, "black_seconds": result.black_seconds,
        "bitrate_kbps": [result.bitrate_mean_kbps, result.bitrate_min_kbps],
        "effective": result.effective, "notes": result.notes}, "frames": result.evidence}
    evidence = [measure.write_evidence(f"{ROLE}-stream.json", record),
                *(Path(p) for p in result.evidence)]
    measure_parts(measure, BASE, result, claim, evidence)
