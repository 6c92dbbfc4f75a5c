"""RTSP client against our simulator (facts, auth, session limit, faults) and GStreamer's."""

from __future__ import annotations

import threading

import pytest

from classcert.device_drivers.errors import (
    DeviceAuthError,
    DeviceDisconnected,
    DeviceError,
    DeviceProtocolError,
    DeviceTimeout,
    DeviceUnreachable,
)
from classcert.device_drivers.rtsp import (
    RtspBandwidthError,
    RtspClient,
    RtspStatusError,
    open_rtsp,
    parse_address,
)
from classcert.rigs.simulators.gst_rtsp_server import GstRtspServer, gst_available
from classcert.rigs.simulators.rtsp_sim import RtspSimulator

pytestmark = pytest.mark.skipif(
    __import__("shutil").which("ffmpeg") is None, reason="ffmpeg needed to prepare clips")


def _bilingual(err: DeviceError) -> None:
    assert " / " in str(err) and any("\u4e00" <= ch <= "\u9fff" for ch in err.message_zh)


def test_parse_address_forms():
    assert parse_address("rtsp://cam@192.0.2.5:8554/live/main") == (
        "192.0.2.5", 8554, "rtsp://192.0.2.5:8554/live/main", "cam", None)
    assert parse_address("recorder.lan/ch1")[:3] == ("recorder.lan", 554, "rtsp://recorder.lan/ch1")
    assert parse_address("rtsp://u:p%40ss@[::1]:10554/")[1:] == (
        10554, "rtsp://[::1]:10554/", "u", "p@ss")
    for bad in ("http://host/x", "rtsp://host:99999/x", "rtsp:///x"):
        with pytest.raises(ValueError):
            parse_address(bad)


@pytest.mark.parametrize("variant,size,sar,interlaced", [
    ("small", (320, 240), (1, 1), False),
    ("anamorphic_1440", (1440, 1080), (4, 3), False),
    ("interlaced_1080i", (1920, 1080), (1, 1), True),
])
def test_describe_facts_from_sps(variant, size, sar, interlaced):
    with RtspSimulator(variant=variant, clip_seconds=1.0) as sim, \
            RtspClient(sim.url, timeout=3) as client:
        assert "DESCRIBE" in client.options()
        claim = client.describe()
        assert claim.codec == "H264" and (claim.width, claim.height) == size
        assert (claim.sar, claim.interlaced, claim.fps) == (sar, interlaced, 25.0)
        assert claim.profile and claim.level and claim.clock_rate == 90000
        assert "sprop-parameter-sets=" in claim.raw_sdp
        assert claim.control_url == sim.url + "/trackID=0"


def test_receive_counts_packets_and_frames():
    before = threading.active_count()
    with RtspSimulator(variant="small") as sim:
        with RtspClient(sim.url, timeout=3) as client:
            stats = client.receive(0.6)
            assert sim.active_sessions == 0  # torn down
        assert stats.packets >= stats.frames >= 10 and stats.bytes > 1000
        assert stats.seq_gaps == 0 and stats.out_of_order == 0
        assert 0.3 <= stats.media_seconds <= 0.8
        assert all(b - a == 3600 for a, b in zip(stats.timestamps, stats.timestamps[1:],
                                                  strict=False))
        assert sim.requests[-1].startswith("TEARDOWN")
    assert threading.active_count() <= before


def test_lost_packets_and_dropped_frames_are_visible():
    with RtspSimulator(variant="small", loss_every=7, drop_every=5) as sim, \
            RtspClient(sim.url, timeout=3) as client:
        stats = client.receive(0.8)
    assert stats.seq_gaps > 0
    steps = {b - a for a, b in zip(stats.timestamps, stats.timestamps[1:], strict=False)}
    assert 7200 in steps  # one frame period skipped after every four frames


def test_digest_auth_ok_missing_and_wrong():
    with RtspSimulator(variant="small", require_auth=True, user="admin",
                       password="s3cret") as sim:
        with RtspClient(f"rtsp://admin@{sim.address}/stream", "s3cret", timeout=3) as client:
            assert client.describe().width == 320
            assert client.receive(0.2).packets > 0
        with RtspClient(sim.url, timeout=3) as anonymous, \
                pytest.raises(DeviceAuthError) as missing:
            anonymous.describe()
        _bilingual(missing.value)
        with open_rtsp(sim.url, "nope", 3, {"user": "admin"}) as wrong_client, \
                pytest.raises(DeviceAuthError) as wrong:
            wrong_client.describe()
        assert "401" in str(wrong.value)


def test_max_sessions_gives_453_until_a_stream_ends():
    with RtspSimulator(variant="small", max_sessions=1) as sim:
        first = RtspClient(sim.url, timeout=3).connect()
        second = RtspClient(sim.url, timeout=3).connect()
        try:
            first.setup()
            with pytest.raises(RtspBandwidthError) as refused:
                second.setup()
            assert refused.value.code == "453" and refused.value.busy is True
            _bilingual(refused.value)
            first.teardown()
            assert second.setup()
            assert sim.refused_setups == 1
        finally:
            first.close()
            second.close()


@pytest.mark.parametrize("knobs,error", [
    ({"reply_delay_s": 1.5}, DeviceTimeout),
    ({"drop_after": 0}, DeviceDisconnected),
    ({"garbage": True}, DeviceProtocolError),
    ({"path": "/other"}, RtspStatusError),
])
def test_faults_map_to_driver_errors(knobs, error):
    with RtspSimulator(variant="small", **knobs) as sim, \
            RtspClient(f"rtsp://{sim.address}/stream", timeout=0.8) as client:
        with pytest.raises(error) as caught:
            client.describe()
    _bilingual(caught.value)


def test_refused_connection_is_unreachable():
    with RtspSimulator(variant="small") as sim:
        address = sim.address
    with pytest.raises(DeviceUnreachable) as caught, RtspClient(address, timeout=1) as client:
        client.describe()
    assert "连接被拒绝" in str(caught.value)


def test_sdp_without_video_is_a_protocol_error(monkeypatch):
    with RtspSimulator(variant="small") as sim:
        monkeypatch.setattr(sim, "sdp", lambda: "v=0\r\ns=x\r\nm=audio 0 RTP/AVP 0\r\n")
        with RtspClient(sim.url, timeout=2) as client, pytest.raises(DeviceProtocolError):
            client.describe()


GST_MISSING = gst_available()


@pytest.mark.skipif(GST_MISSING is not None, reason=f"GStreamer RTSP server: {GST_MISSING}")
def test_client_against_gstreamer_rtsp_server():
    with GstRtspServer(width=352, height=288, fps=25) as server, \
            RtspClient(server.url, timeout=5) as client:
        claim = client.describe()
        assert (claim.codec, claim.width, claim.height, claim.fps) == ("H264", 352, 288, 25.0)
        assert claim.interlaced is False and "GStreamer" in claim.raw_sdp
        stats = client.receive(0.8)
        assert stats.packets > 5 and stats.frames >= 5 and stats.seq_gaps == 0
        assert stats.media_seconds is not None and stats.media_seconds > 0.2


class _SlowPlayAnswer(RtspSimulator):
    """Holds the PLAY answer back before writing it, as a busy server thread would."""

    def _send(self, conn, lock, data):  # type: ignore[override]
        if data.startswith(b"RTSP/1.0 200") and b"RTP-Info" in data:
            threading.Event().wait(0.3)
        return RtspSimulator._send(conn, lock, data)


def test_rtp_never_precedes_the_play_answer():
    """A stream must not start before its PLAY answer: clients drop what arrives first and
    the first picture decodes damaged (which once made a genuine 1080p recorder look 900p)."""
    import socket

    from classcert.device_drivers import rtsp_codec as codec

    with _SlowPlayAnswer(variant="small") as sim:
        conn = socket.create_connection((sim.host, sim.port), timeout=5)
        parser = codec.RtspStreamParser()

        def ask(cseq: int, method: str, uri: str, *headers: tuple[str, str]) -> list:
            conn.sendall(codec.encode_request(codec.RtspRequest(
                method, uri, (("CSeq", str(cseq)), *headers))))
            got: list = []
            while not any(isinstance(m, codec.RtspResponse) for m in got):
                data = conn.recv(65536)
                assert data, "the simulator closed the connection"
                got += parser.feed(data)
            return got

        try:
            setup = ask(1, "SETUP", f"{sim.url}/trackID=0",
                        ("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1"))
            sid = setup[-1].header("Session").split(";")[0]
            play = ask(2, "PLAY", sim.url, ("Session", sid))
            assert isinstance(play[0], codec.RtspResponse) and play[0].status == 200, play[:3]
            more = []
            while not more:
                more = parser.feed(conn.recv(65536))
            assert isinstance(more[0], codec.InterleavedFrame)  # and then the stream flows
        finally:
            conn.close()
