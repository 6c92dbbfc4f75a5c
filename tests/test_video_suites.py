"""Video suites end to end: RTSP and ONVIF sources serving the harness's own test pattern."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers import REPO, rig_text

pytest.importorskip("av")


def _run(tmp_path, rooms: str, *suites: str):
    rig = tmp_path / "rig.toml"
    rig.write_text(rig_text(rooms), encoding="utf-8")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *(str(REPO / "test_suites" / s) for s in suites),
         "--rig", str(rig), "--out", str(out), "--no-prompt", "-p", "no:cacheprovider", "-q"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode in (0, 1), proc.stdout[-4000:] + proc.stderr[-2000:]
    return out


def _entries(out, room):
    cert = json.loads((out / "rooms" / room / "certificate.json").read_text("utf-8"))
    return {e["key"]: e for e in cert["requirements"]}


def _recorder_room(room_id: str, variant: str) -> str:
    return f"""
        [[rooms]]
        id = "{room_id}"
        name = "{variant}"
        seats = 40
        claims = ["smart"]

        [[rooms.devices]]
        role = "recorder"
        driver = "rtsp"
        address = "127.0.0.1:0"
        options = {{ seconds = 4, path = "/live" }}
        simulator = {{ kind = "rtsp", pattern = "{variant}", pattern_seconds = 4 }}
    """


@pytest.mark.parametrize(("variant", "key", "verdict", "words"), [
    ("genuine_1080p", "video.recording", "PASS", "full 1920x1080"),
    ("anamorphic_1440", "video.recording", "FAIL", "1440x"),
    ("freezing", "video.recording.freezes", "FAIL", ""),
    ("dropping", "video.recording.dropped", "FAIL", "pictures missing"),
])
def test_recorder_variants(tmp_path, variant, key, verdict, words):
    out = _run(tmp_path, _recorder_room("R", variant), "test_video_recording.py")
    entry = _entries(out, "R")[key]
    assert entry["verdict"] == verdict, (entry["value"], entry["reason"]["en"])
    assert words in entry["reason"]["en"]
    assert entry["evidence"], "stream JSON and frames are evidence"


def test_onvif_camera_claim_is_cross_checked(tmp_path):
    from classcert.rigs.simulators.onvif_sim import OnvifSimulator
    from classcert.rigs.simulators.pattern_clips import pattern_clip
    from classcert.rigs.simulators.rtsp_sim import RtspSimulator

    clip = pattern_clip("upscaled_720p", 4)
    with RtspSimulator(clip=str(clip)) as rtsp:
        profiles = [{"token": "main", "name": "main", "encoding": "H264", "width": 1920,
                     "height": 1080, "fps": 25, "bitrate_kbps": 4096}]
        with OnvifSimulator(profiles=profiles, stream_uri=f"rtsp://{rtsp.address}/stream",
                            require_auth=False) as cam:
            room = f"""
                [[rooms]]
                id = "CAM"
                name = "camera"
                seats = 1
                claims = ["cctv"]

                [[rooms.devices]]
                role = "camera"
                driver = "onvif"
                address = "{cam.address}"
                options = {{ seconds = 3 }}
            """
            out = _run(tmp_path, room, "test_video_cctv.py")
    entry = _entries(out, "CAM")["cctv.resolution"]
    assert entry["verdict"] == "FAIL", entry  # claims 1920x1080, detail of 720p
    assert "720" in entry["reason"]["en"]


def test_video_check_cli_on_rtsp(tmp_path):
    """`classcert video check rtsp://...` on the simulator: 720p upscaled is not 1080P."""
    from classcert.rigs.simulators.pattern_clips import pattern_clip
    from classcert.rigs.simulators.rtsp_sim import RtspSimulator

    from helpers import run_cli

    with RtspSimulator(clip=str(pattern_clip("upscaled_720p", 4))) as sim:
        res = run_cli("video", "check", f"rtsp://{sim.address}/x", "--duration", "3", "--json")
    assert res.returncode == 1, res.stdout + res.stderr
    data = json.loads(res.stdout)
    assert (data["width"], data["height"]) == (1920, 1080)
    assert data["verdict"] == "not conforming"
    assert any("720p source upscaled" in r["en"] for r in data["reasons"])
