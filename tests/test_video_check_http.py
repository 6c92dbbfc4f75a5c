"""`classcert video check` on recordings fetched from the HTTP recorder simulator (MP4 and HLS).

Each pattern variant is recorded by the simulator, found through the driver's ``latest``
recipe and checked by URL: genuine 1080p conforms (exit 0), every spoiled variant does not
(exit 1) and says why.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator

import pytest

from classcert.device_drivers.http_recorder import HttpRecorder
from classcert.rigs.simulators.http_recorder_sim import HttpRecorderSim
from classcert.video_cli import main

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")

SPOILED = {
    "upscaled_720p": "upscaled to 1080 lines",
    "anamorphic_1440": "pixels are not square (1440x1080 stretched to 16:9",
    "interlaced_1080i": "interlaced (1080i)",
    "freezing": "picture froze for",
    "dropping": "% of pictures were dropped",
}


def recording_url(variant: str, hls: bool, password: str | None = None) -> Iterator[str]:
    """Start a simulator, record once, yield the URL of the recording (credentials in it)."""
    auth = "basic" if password else False
    with HttpRecorderSim(variant=variant, hls=hls, min_seconds=4, password=password,
                         require_auth=auth) as sim, \
            HttpRecorder(sim.address, password, 5.0, {"poll_s": 0.05, "finalise_s": 60}) as rec:
        rec.start()
        rec.stop()
        url = rec.wait_for_new_recording(None)
        assert url.endswith(".m3u8" if hls else ".mp4")
        yield rec.stream_url(url)


def check(capsys: pytest.CaptureFixture[str], url: str) -> tuple[int, dict]:
    code = main(["check", url, "--json", "--duration", "10", "--timeout", "5"])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("hls", [False, True], ids=["mp4", "hls"])
def test_genuine_recording_conforms(hls: bool, capsys: pytest.CaptureFixture[str]) -> None:
    for url in recording_url("genuine_1080p", hls):
        code, doc = check(capsys, url)
        assert (code, doc["verdict"], doc["reasons"]) == (0, "conforming", [])
        assert (doc["width"], doc["height"], doc["progressive"]) == (1920, 1080, True)
        # every picture counts: a moov-at-end MP4 is fetched whole before it is decoded
        assert doc["frames"] == 100 and doc["dropped_frames"] == 0
        assert doc["fps_measured"] == 25.0


@pytest.mark.parametrize("hls", [False, True], ids=["mp4", "hls"])
@pytest.mark.parametrize("variant", sorted(SPOILED))
def test_spoiled_recording_is_not_conforming(variant: str, hls: bool,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    for url in recording_url(variant, hls):
        code, doc = check(capsys, url)
        assert (code, doc["verdict"]) == (1, "not conforming")
        texts = " ".join(r["en"] for r in doc["reasons"])
        assert SPOILED[variant] in texts
        assert all(r["zh"] for r in doc["reasons"])


def test_recording_behind_basic_auth(capsys: pytest.CaptureFixture[str]) -> None:
    for url in recording_url("genuine_1080p", False, password="pw"):
        assert "admin:pw@" in url
        assert check(capsys, url)[0] == 0
        code, doc = check(capsys, url.replace("admin:pw@", ""))
        assert (code, doc["verdict"]) == (2, "could not test")
