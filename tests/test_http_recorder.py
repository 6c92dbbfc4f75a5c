"""HTTP recorder driver against the recorder simulator: recipes, knobs, auth, MP4 and HLS."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classcert.device_drivers.errors import (
    DeviceAuthError,
    DeviceCommandError,
    DeviceProtocolError,
    DeviceTimeout,
    DeviceUnreachable,
)
from classcert.device_drivers.http_recorder import (
    HttpRecorder,
    RecordingTooLarge,
    base_url,
    dig,
    open_http_recorder,
)
from classcert.rigs.simulators.http_recorder_sim import HttpRecorderSim
from classcert.rigs.simulators.pattern_clips import pattern_clip

FAST = {"poll_s": 0.05, "finalise_s": 20}


def record_once(rec: HttpRecorder) -> str:
    before = rec.latest_recording_url()
    rec.start()
    rec.stop()
    return rec.wait_for_new_recording(before)


def test_mp4_recording_downloads_the_pattern_clip(tmp_path: Path) -> None:
    with HttpRecorderSim(variant="upscaled_720p") as sim, \
            open_http_recorder(sim.address, None, 3.0, dict(FAST)) as rec:
        assert rec.latest_recording_url() is None
        assert rec.start()["recording"] is True and sim.recording
        reply = rec.stop()
        assert reply["duration_s"] == 2.0 and not sim.recording
        url = rec.wait_for_new_recording(None)
        assert url == f"http://{sim.address}/recordings/1.mp4"
        out = rec.download(url, tmp_path / "rec.mp4", max_bytes=50_000_000)
        assert out.read_bytes() == pattern_clip("upscaled_720p", 2.0).read_bytes()
        second = record_once(rec)
        assert second.endswith("/recordings/2.mp4")


def test_hls_recording_is_a_playlist_of_segments(tmp_path: Path) -> None:
    with HttpRecorderSim(hls=True) as sim, HttpRecorder(sim.address, options=FAST) as rec:
        url = record_once(rec)
        assert url.endswith("/recordings/1/index.m3u8")
        text = rec.download(url, tmp_path / "index.m3u8", 100_000).read_text()
        segments = [line for line in text.splitlines() if line and not line.startswith("#")]
        assert text.startswith("#EXTM3U") and "#EXT-X-ENDLIST" in text and len(segments) >= 2
        seg = rec.download(rec.url(url.rsplit("/", 1)[0] + "/" + segments[0]),
                           tmp_path / "s.ts", 10_000_000)
        assert seg.read_bytes()[:1] == b"\x47"  # MPEG-TS sync byte


def test_hls_streams_through_the_decoder_with_digest_credentials() -> None:
    from classcert.video_probe import probe

    opts = {**FAST, "auth": "digest", "user": "op"}
    with HttpRecorderSim(password="s3cret:/@", user="op", require_auth="digest", hls=True) as sim, \
            HttpRecorder(sim.address, "s3cret:/@", 3.0, opts) as rec:
        url = record_once(rec)
        stream = rec.stream_url(url)
        assert stream.startswith("http://op:s3cret%3A%2F%40@127.0.0.1:")
        r = probe(stream, max_seconds=1.0, timeout_s=5)
        assert (r.width, r.height, r.progressive) == (1920, 1080, True) and r.frames >= 20


@pytest.mark.parametrize("kind", ["basic", "digest"])
def test_auth_right_and_wrong_password(kind: str) -> None:
    with HttpRecorderSim(password="pw", require_auth=kind) as sim:
        with HttpRecorder(sim.address, "pw", 3.0, {**FAST, "auth": kind}) as rec:
            assert record_once(rec).endswith("/recordings/1.mp4")
        with HttpRecorder(sim.address, "nope", 3.0, {"auth": kind}) as rec, \
                pytest.raises(DeviceAuthError, match="check the user, password") as err:
            rec.start()
        assert "认证失败" in str(err.value) and not sim.recording
        with HttpRecorder(sim.address) as rec, \
                pytest.raises(DeviceAuthError, match="set password_env"):
            rec.latest_recording_url()


def test_basic_credentials_against_a_digest_recorder_are_refused() -> None:
    with HttpRecorderSim(password="pw", require_auth="digest") as sim, \
            HttpRecorder(sim.address, "pw", 3.0, {"auth": "basic"}) as rec, \
            pytest.raises(DeviceAuthError):
        rec.start()


def test_fail_start_is_a_refusal_not_a_crash() -> None:
    with HttpRecorderSim(fail_start=True) as sim, HttpRecorder(sim.address) as rec:
        with pytest.raises(DeviceCommandError, match="HTTP 500") as err:
            rec.start()
        assert err.value.code == "500" and err.value.busy is False
        assert "录播主机拒绝请求" in str(err.value)


def test_start_twice_is_busy() -> None:
    with HttpRecorderSim() as sim, HttpRecorder(sim.address) as rec:
        rec.start()
        with pytest.raises(DeviceCommandError) as err:
            rec.start()
        assert (err.value.code, err.value.busy) == ("409", True)


def test_never_finalise_times_out_within_the_bound() -> None:
    with HttpRecorderSim(never_finalise=True) as sim, \
            HttpRecorder(sim.address, options={"poll_s": 0.05, "finalise_s": 0.4}) as rec:
        rec.start()
        rec.stop()
        with pytest.raises(DeviceTimeout, match="within 0.4 s after the stop") as err:
            rec.wait_for_new_recording(None)
        assert "finalise_s" in str(err.value)
        polls = [p for m, p in sim.requests if p.startswith("/api/recordings")]
        assert 3 <= len(polls) <= 20


def test_reply_delay_beyond_timeout() -> None:
    with HttpRecorderSim(reply_delay_s=2.0) as sim, HttpRecorder(sim.address, None, 0.3) as rec:
        with pytest.raises(DeviceTimeout, match="no answer within 0.3 s"):
            rec.start()


def test_reply_delay_within_timeout_is_fine() -> None:
    with HttpRecorderSim(reply_delay_s=0.2) as sim, HttpRecorder(sim.address, None, 3) as rec:
        assert rec.start()["ok"] is True


def test_garbage_reply_is_a_protocol_error() -> None:
    with HttpRecorderSim(garbage=True) as sim, HttpRecorder(sim.address) as rec:
        with pytest.raises(DeviceProtocolError, match="not JSON"):
            rec.start()


def test_download_size_bound_leaves_no_file(tmp_path: Path) -> None:
    with HttpRecorderSim() as sim, HttpRecorder(sim.address, options=FAST) as rec:
        url = record_once(rec)
        dest = tmp_path / "big.mp4"
        with pytest.raises(RecordingTooLarge, match="larger than 1000 bytes"):
            rec.download(url, dest, max_bytes=1000)
        assert list(tmp_path.iterdir()) == []


def test_recipes_are_data(tmp_path: Path) -> None:
    opts: dict[str, Any] = {**FAST, "start": {"path": "/api/record/start", "json": {"ch": 2}},
                            "latest": {"path": "/api/recordings?limit=3", "url_field":
                                       "items.0.mp4"}}
    with HttpRecorderSim(hls=True) as sim, HttpRecorder(f"http://{sim.address}/", None, 3,
                                                        opts) as rec:
        assert record_once(rec).endswith("/recordings/1.mp4")  # the mp4 field, not url
        assert ("GET", "/api/recordings?limit=3") in sim.requests
    with HttpRecorderSim() as sim, \
            HttpRecorder(sim.address, options={"latest": {"url_field": "data.file"}}) as rec:
        rec.start()
        rec.stop()
        with pytest.raises(DeviceProtocolError, match="latest.url_field"):
            for _ in range(50):  # the bad field is reported once an item is listed
                rec.latest_recording_url()
                threading.Event().wait(0.1)
    with HttpRecorderSim() as sim, \
            HttpRecorder(sim.address, options={"stop": {"path": "/cgi/stop"}}) as rec:
        with pytest.raises(DeviceCommandError, match="HTTP 404"):
            rec.stop()


def test_duration_is_bounded() -> None:
    with HttpRecorderSim(min_seconds=3, max_seconds=3) as sim, HttpRecorder(sim.address) as rec:
        rec.start()
        assert rec.stop()["duration_s"] == 3.0


def test_refused_port_is_unreachable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        with HttpRecorder(f"127.0.0.1:{port}", None, 2) as rec, \
                pytest.raises(DeviceUnreachable, match="is the recorder on"):
            rec.start()


@pytest.mark.parametrize(("options", "words"), [
    ({"start": {"verb": "POST"}}, "unknown keys"),
    ({"stop": {"method": "FETCH"}}, "use one of"),
    ({"latest": {"path": "api/list"}}, "must start with '/'"),
    ({"auth": "digest"}, "needs a password"),
    ({"auth": "ntlm"}, "use none, basic or digest"),
])
def test_bad_options_say_what_to_fix(options: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        HttpRecorder("127.0.0.1:8080", None, 1, options)


def test_simulator_leaves_no_threads() -> None:
    before = set(threading.enumerate())
    with HttpRecorderSim(hls=True) as sim, HttpRecorder(sim.address, options=FAST) as rec:
        record_once(rec)
    left = [t for t in set(threading.enumerate()) - before if t.is_alive()]
    assert left == []


def test_urls_absolute_and_relative() -> None:
    rec = HttpRecorder("https://rec.lan:8443/vendor/", None, 1, {})
    assert rec.url("/files/a.mp4") == "https://rec.lan:8443/files/a.mp4"
    assert rec.url("files/a.mp4") == "https://rec.lan:8443/vendor/files/a.mp4"
    assert rec.url("http://cdn.lan/x.m3u8") == "http://cdn.lan/x.m3u8"


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8))
json_doc = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.text("abcxyz_", min_size=1, max_size=5), inner, max_size=4)),
    max_leaves=20)


def _paths(doc: Any, prefix: str = "") -> list[tuple[str, Any]]:
    out = [(prefix, doc)] if prefix else []
    items = enumerate(doc) if isinstance(doc, list) else \
        doc.items() if isinstance(doc, dict) else []
    for key, value in items:
        out += _paths(value, f"{prefix}.{key}" if prefix else str(key))
    return out


@settings(max_examples=200, deadline=None)
@given(json_doc)
def test_dig_finds_every_path(doc: Any) -> None:
    for path, value in _paths(doc):
        assert dig(doc, path) == value
    with pytest.raises(KeyError):
        dig({"items": doc}, "items.nope.0" if not isinstance(doc, dict) or "nope" not in doc
            else "items.nope.zz.zz.zz.zz")


@settings(max_examples=100, deadline=None)
@given(st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True), st.integers(1, 65535),
       st.sampled_from(["", "http://", "https://"]), st.sampled_from(["", "/", "/api/"]))
def test_base_url(host: str, port: int, scheme: str, suffix: str) -> None:
    url = base_url(f"{scheme}{host}:{port}{suffix}")
    assert url == f"{scheme or 'http://'}{host}:{port}{suffix.rstrip('/')}"
    assert not url.endswith("/")
