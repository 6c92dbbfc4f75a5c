"""ONVIF client against the ONVIF simulator over real HTTP/UDP on loopback."""

from __future__ import annotations

import http.client
import os
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classcert.device_drivers import onvif_soap as soap
from classcert.device_drivers import ws_discovery as wsd
from classcert.device_drivers.errors import (
    DeviceAuthError,
    DeviceCommandError,
    DeviceProtocolError,
    DeviceTimeout,
    DeviceUnreachable,
)
from classcert.device_drivers.onvif import OnvifDevice, open_onvif
from classcert.rigs.simulators.onvif_sim import OnvifSimulator

CAMERA = [{"token": "main", "name": "Main", "encoding": "H265", "width": 2560, "height": 1440,
           "fps": 30, "bitrate_kbps": 6144, "gov_length": 60, "codec_profile": "Main"},
          {"token": "sub", "name": "Sub", "encoding": "H264", "width": 704, "height": 576,
           "fps": 12, "bitrate_kbps": 768, "gov_length": 24, "codec_profile": "High"}]


@pytest.fixture()
def sim():
    with OnvifSimulator(password="s3cret", make="Hik-like", model="DS-2CD", serial="SN42",
                        firmware="V5.7.3", profiles=CAMERA,
                        stream_uri="rtsp://127.0.0.1:8554/live/{token}") as s:
        yield s


def _device(sim: OnvifSimulator, **kw) -> OnvifDevice:
    kw.setdefault("timeout", 2.0)
    return OnvifDevice(sim.address, kw.pop("user", "admin"), kw.pop("password", "s3cret"), **kw)


def _raw_post(sim: OnvifSimulator, payload: bytes, path: str = "/onvif/device_service"):
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=2)
    try:
        conn.request("POST", path, payload, {"Content-Type": "application/soap+xml"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


# ------------------------------------------------------------------ every call --------------
def test_device_service_calls(sim: OnvifSimulator) -> None:
    dev = _device(sim)
    info = dev.device_information()
    assert (info.make, info.model, info.serial, info.firmware) == (
        "Hik-like", "DS-2CD", "SN42", "V5.7.3")
    assert dev.capabilities()["Media"].endswith("/onvif/media_service")
    assert dev.services()[soap.NS["tr2"]].endswith("/onvif/media2_service")
    assert abs((dev.system_date_and_time() - datetime.now(UTC)).total_seconds()) < 3
    assert dev.media_path() == "/onvif/media_service"
    assert dev.media2_path() == "/onvif/media2_service"


@pytest.mark.parametrize("media2", [False, True])
def test_media_calls(sim: OnvifSimulator, media2: bool) -> None:
    with _device(sim) as dev:
        profiles = dev.profiles(media2)
        assert [p.token for p in profiles] == ["main", "sub"]
        claims = dev.encoder_claims(media2)
        main = claims[0]
        assert (main.encoding, main.width, main.height, main.fps_limit, main.bitrate_kbps,
                main.gov_length, main.profile) == ("H265", 2560, 1440, 30.0, 6144,
                                                   60 if media2 else None, "main")
        assert claims[1].gov_length == 24 and claims[1].codec_profile == "High"
        assert dev.stream_uri("sub", media2) == "rtsp://127.0.0.1:8554/live/sub"
        configs = dev.video_encoder_configurations(media2=media2)
        assert [(c.width, c.height) for c in configs] == [(2560, 1440), (704, 576)]
    assert sim.request_log.count("GetProfiles") == 2  # profiles() and encoder_claims()


def test_single_encoder_configuration_and_unknown_tokens(sim: OnvifSimulator) -> None:
    dev = _device(sim)
    one = dev.video_encoder_configuration("VideoEncoder_sub")
    assert (one.width, one.height, one.fps_limit, one.token) == (704, 576, 12.0,
                                                                "VideoEncoder_sub")
    with pytest.raises(DeviceCommandError) as err:
        dev.stream_uri("nope")
    assert err.value.code == "ter:InvalidArgVal" and err.value.busy is False
    with pytest.raises(DeviceCommandError):
        dev.video_encoder_configuration("nope")


def test_media2_default_follows_what_the_device_offers() -> None:
    with OnvifSimulator(media2=False, profiles=CAMERA[:1]) as s:
        dev = OnvifDevice(s.address, timeout=2)
        assert dev.media2_path() is None
        assert dev.encoder_claims()[0].media == "media1"
        with pytest.raises(DeviceCommandError, match="Media2"):
            dev.profiles(media2=True)
    with OnvifSimulator(profiles=CAMERA[:1]) as s:
        assert OnvifDevice(s.address, timeout=2).encoder_claims()[0].media == "media2"


def test_get_services_missing_falls_back_to_capabilities() -> None:
    with OnvifSimulator(fault_on={"GetServices": "action"}, profiles=CAMERA) as s:
        dev = OnvifDevice(f"http://{s.address}/onvif/device_service", timeout=2)
        assert dev.media_path() == "/onvif/media_service" and dev.media2_path() is None
        assert len(dev.profiles()) == 2


@settings(max_examples=8, deadline=None)
@given(st.integers(160, 3840), st.integers(120, 2160), st.integers(1, 60),
       st.integers(128, 20000))
def test_claims_report_the_configured_encoder(w: int, h: int, fps: int, kbps: int) -> None:
    prof = {"token": "p", "width": w, "height": h, "fps": fps, "bitrate_kbps": kbps}
    with OnvifSimulator(password="pw", profiles=[prof], discovery=False) as s:
        claim = OnvifDevice(s.address, "admin", "pw", timeout=2).encoder_claims()[0]
    assert (claim.width, claim.height, claim.fps_limit, claim.bitrate_kbps) == (w, h, fps, kbps)


# ------------------------------------------------------------------ authentication ----------
def test_bad_password_and_missing_user_are_auth_errors(sim: OnvifSimulator) -> None:
    with pytest.raises(DeviceAuthError, match="认证失败"):
        _device(sim, password="wrong").device_information()
    with pytest.raises(DeviceAuthError, match="password_env"):
        OnvifDevice(sim.address, timeout=2).profiles()
    assert sim.auth_failures >= 2
    assert OnvifDevice(sim.address, timeout=2).services()  # pre-auth calls need no user


def test_replayed_nonce_is_refused(sim: OnvifSimulator) -> None:
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    payload = soap.request(soap.get_device_information(), "admin", "s3cret", os.urandom(16),
                           created)
    status, data = _raw_post(sim, payload)
    assert status == 200 and soap.parse_device_information(soap.parse_response(data)).serial
    status, data = _raw_post(sim, payload)
    assert status == 400
    with pytest.raises(soap.SoapFault) as fault:
        soap.parse_response(data)
    assert fault.value.not_authorized


@pytest.mark.parametrize("skew_s, accepted", [(-240, True), (-420, False), (420, False)])
def test_created_time_skew_is_limited(sim: OnvifSimulator, skew_s: int, accepted: bool) -> None:
    created = (datetime.now(UTC) + timedelta(seconds=skew_s)).strftime("%Y-%m-%dT%H:%M:%SZ")
    payload = soap.request(soap.get_device_information(), "admin", "s3cret", os.urandom(16),
                           created)
    status, _ = _raw_post(sim, payload)
    assert (status == 200) is accepted


def test_client_syncs_to_a_skewed_device_clock() -> None:
    with OnvifSimulator(password="pw", clock_offset_s=-7200, discovery=False) as s:
        dev = OnvifDevice(s.address, "admin", "pw", timeout=2)
        assert dev.device_information().make == "Classcert"
        assert abs(dev.clock_offset_s + 7200) < 5
        assert s.request_log[:3] == ["GetDeviceInformation", "GetSystemDateAndTime",
                                     "GetDeviceInformation"]
        with pytest.raises(DeviceAuthError):  # a wrong password stays wrong after the sync
            OnvifDevice(s.address, "admin", "bad", timeout=2).device_information()


# ------------------------------------------------------------------ faults and transport ----
def test_configured_fault_is_a_command_error(sim: OnvifSimulator) -> None:
    sim.fault_on["GetProfiles"] = "action"
    with pytest.raises(DeviceCommandError) as err:
        _device(sim).profiles()
    assert err.value.code == "ter:ActionNotSupported" and err.value.busy is False
    assert err.value.command == "GetProfiles" and "设备拒绝" in str(err.value)


def test_timeout_unreachable_and_garbage() -> None:
    with OnvifSimulator(reply_delay_s=1.5, discovery=False) as s:
        started = time.monotonic()
        with pytest.raises(DeviceTimeout):
            OnvifDevice(s.address, timeout=0.3).services()
        assert time.monotonic() - started < 1.2
    with socket.socket() as probe_sock:
        probe_sock.bind(("127.0.0.1", 0))
        free_port = probe_sock.getsockname()[1]
    with pytest.raises(DeviceUnreachable, match="连接被拒绝"):
        OnvifDevice(f"127.0.0.1:{free_port}", timeout=1).services()
    with OnvifSimulator(garbage=True, discovery=False) as s:
        with pytest.raises(DeviceProtocolError, match="not a valid ONVIF reply"):
            OnvifDevice(s.address, timeout=2).services()


def test_factory_and_address_validation(sim: OnvifSimulator) -> None:
    dev = open_onvif(sim.address, "s3cret", 2.0, {"media_path": "/onvif/media_service"})
    assert dev.user == "admin" and dev.media_path() == "/onvif/media_service"
    assert dev.device_information().serial == "SN42"
    assert open_onvif(sim.address, None, 2.0, {}).user is None
    with pytest.raises(ValueError, match="user"):
        open_onvif(sim.address, "x", 2.0, {"user": 5})
    with pytest.raises(ValueError, match="http://"):
        OnvifDevice("https://127.0.0.1:443/onvif/device_service")
    assert OnvifDevice("127.0.0.1").port == 80


def test_simulator_stops_without_leaking_threads() -> None:
    before = threading.active_count()
    with OnvifSimulator(discovery=True) as s:
        OnvifDevice(s.address, timeout=2).services()
        wsd.probe(s.discovery_address, timeout=0.5, max_matches=1)
    time.sleep(0.1)
    assert threading.active_count() <= before


# ------------------------------------------------------------------ discovery ---------------
def test_unicast_discovery_finds_the_device(sim: OnvifSimulator) -> None:
    started = time.monotonic()
    found = wsd.probe(sim.discovery_address, timeout=2.0, max_matches=1)
    assert time.monotonic() - started < 1.5  # returns as soon as max_matches answered
    assert len(found) == 1 and found[0].xaddrs == (sim.device_url,)
    assert wsd.NVT in found[0].types and found[0].address == sim.endpoint
    assert any("Profile/Streaming" in s for s in found[0].scopes)
    # the XAddr leads to a working device service
    assert OnvifDevice(found[0].xaddrs[0], "admin", "s3cret", timeout=2).device_information()


def test_discovery_filters_and_bounds(sim: OnvifSimulator) -> None:
    other = "{http://example.invalid/ns}Printer"
    assert wsd.probe(sim.discovery_address, types=(other,), timeout=0.3) == []
    assert wsd.probe(sim.discovery_address, scopes=("onvif://www.onvif.org/location/lab",),
                     timeout=0.3) == []
    assert len(wsd.probe(sim.discovery_address, types=(), timeout=0.3)) == 1
    assert sim.probes_answered == 1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        started = time.monotonic()
        assert wsd.probe(f"127.0.0.1:{silent.getsockname()[1]}", timeout=0.3) == []
        assert time.monotonic() - started < 1.0
    with pytest.raises(ValueError, match="multicast"):
        wsd.probe()
