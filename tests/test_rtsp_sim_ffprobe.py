"""Independent clients against our RTSP simulator: ffprobe (TCP, UDP, Digest) and PyAV."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from classcert.rigs.simulators.rtsp_sim import RtspSimulator

FFPROBE = shutil.which("ffprobe")
pytestmark = pytest.mark.skipif(FFPROBE is None or shutil.which("ffmpeg") is None,
                                reason="ffmpeg/ffprobe not installed (apt-get install ffmpeg)")


def _run_ffprobe(url: str, transport: str = "tcp") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FFPROBE, "-v", "error", "-rtsp_transport", transport, "-timeout", "5000000",
         "-analyzeduration", "500000", "-probesize", "500000", "-select_streams", "v:0",
         "-show_streams", "-of", "json", url],
        capture_output=True, text=True, timeout=30, check=False)


def _ffprobe(url: str, transport: str = "tcp") -> dict:
    proc = _run_ffprobe(url, transport)
    assert proc.returncode == 0, proc.stderr[-500:]
    streams = json.loads(proc.stdout)["streams"]
    assert len(streams) == 1
    return streams[0]


@pytest.mark.parametrize("variant,width,height,sar", [
    ("small", 320, 240, "1:1"),
    ("anamorphic_1440", 1440, 1080, "4:3"),
])
def test_ffprobe_over_tcp_sees_our_stream(variant, width, height, sar):
    with RtspSimulator(variant=variant, clip_seconds=1.0) as sim:
        stream = _ffprobe(sim.url)
        assert any(r.startswith("DESCRIBE") for r in sim.requests)
        assert any(r.startswith("PLAY") for r in sim.requests)
    assert (stream["codec_name"], stream["width"], stream["height"]) == ("h264", width, height)
    assert stream["sample_aspect_ratio"] == sar and stream["r_frame_rate"] == "25/1"


def test_ffprobe_over_udp_on_loopback():
    with RtspSimulator(variant="small") as sim:
        stream = _ffprobe(sim.url, transport="udp")
    assert (stream["width"], stream["height"]) == (320, 240)


def test_ffprobe_passes_our_digest_auth():
    with RtspSimulator(variant="small", require_auth=True, user="admin", password="pw") as sim:
        stream = _ffprobe(f"rtsp://admin:pw@{sim.address}/stream")
        assert stream["codec_name"] == "h264"
        assert any(r.startswith("DESCRIBE") for r in sim.requests)
        refused = _run_ffprobe(f"rtsp://admin:wrong@{sim.address}/stream")
        assert refused.returncode != 0 and "401" in refused.stderr


def test_pyav_decodes_frames_from_our_stream():
    av = pytest.importorskip("av", reason="PyAV not installed in the venv")
    with RtspSimulator(variant="small") as sim:
        container = av.open(sim.url, options={"rtsp_transport": "tcp"},
                            timeout=5.0)
        try:
            frames = []
            for frame in container.decode(video=0):
                frames.append(frame)
                if len(frames) >= 12:
                    break
        finally:
            container.close()
    assert len(frames) == 12
    assert {(f.width, f.height) for f in frames} == {(320, 240)}
    # consecutive decoded pictures differ (the test pattern moves): real frames, not repeats
    first, last = frames[0].to_ndarray(format="gray"), frames[-1].to_ndarray(format="gray")
    assert (first != last).any()
