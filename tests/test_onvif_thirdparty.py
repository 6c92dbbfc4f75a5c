"""Independent implementations against ours: onvif-zeep (zeep + the ONVIF WSDLs it ships)
talks to the ONVIF simulator; WSDiscovery's message codec talks to our discovery code.

Only loopback unicast: WSDiscovery's own network threads (which join the multicast group)
are never started; its message serializers are used over a plain UDP socket.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid

import pytest

from classcert.device_drivers import ws_discovery as wsd
from classcert.rigs.simulators.onvif_sim import OnvifSimulator

onvif = pytest.importorskip("onvif", reason="pip install onvif-zeep")
zeep = pytest.importorskip("zeep")
wsdiscovery = pytest.importorskip("wsdiscovery", reason="pip install WSDiscovery")

from wsdiscovery import QName  # noqa: E402
from wsdiscovery.actions.probe import constructProbe  # noqa: E402
from wsdiscovery.actions.probematch import constructProbeMatch  # noqa: E402
from wsdiscovery.message import createSOAPMessage, parseSOAPMessage  # noqa: E402
from wsdiscovery.service import Service  # noqa: E402

WSDL_DIR = os.path.join(os.path.dirname(os.path.dirname(onvif.__file__)), "wsdl")
PROFILES = [{"token": "cam_main", "name": "Main", "encoding": "H264", "width": 1920,
             "height": 1080, "fps": 25, "bitrate_kbps": 4096, "gov_length": 50,
             "codec_profile": "High"}]


@pytest.fixture()
def sim():
    if not os.path.isfile(os.path.join(WSDL_DIR, "devicemgmt.wsdl")):
        pytest.skip(f"onvif-zeep WSDL files not found in {WSDL_DIR}")
    with OnvifSimulator(password="pw!", profiles=PROFILES, model="IPC-T1",
                        stream_uri="rtsp://127.0.0.1:8554/{token}") as s:
        yield s


def _camera(sim: OnvifSimulator, password: str = "pw!", **kw):
    return onvif.ONVIFCamera("127.0.0.1", sim.port, "admin", password, WSDL_DIR,
                             no_cache=True, **kw)


def test_zeep_client_reads_device_information_and_profiles(sim: OnvifSimulator) -> None:
    cam = _camera(sim)
    info = cam.devicemgmt.GetDeviceInformation()
    assert (info.Manufacturer, info.Model, info.SerialNumber) == ("Classcert", "IPC-T1",
                                                                  "SIMCAM0001")
    media = cam.create_media_service()
    profiles = media.GetProfiles()
    assert [p.token for p in profiles] == ["cam_main"]
    enc = profiles[0].VideoEncoderConfiguration
    assert (enc.Encoding, enc.Resolution.Width, enc.Resolution.Height) == ("H264", 1920, 1080)
    assert (enc.RateControl.FrameRateLimit, enc.RateControl.BitrateLimit) == (25, 4096)
    assert (enc.H264.GovLength, enc.H264.H264Profile) == (50, "High")
    uri = media.GetStreamUri({"StreamSetup": {"Stream": "RTP-Unicast",
                                              "Transport": {"Protocol": "RTSP"}},
                              "ProfileToken": "cam_main"})
    assert uri.Uri == "rtsp://127.0.0.1:8554/cam_main"
    # zeep's own WS-Security PasswordDigest was accepted by our verifier
    assert sim.auth_failures == 0 and "GetDeviceInformation" in sim.request_log


def test_zeep_client_wrong_password_gets_a_soap_fault(sim: OnvifSimulator) -> None:
    cam = _camera(sim, password="nope")
    with pytest.raises(Exception, match="(?i)not authorized|notauthorized") as err:
        cam.devicemgmt.GetDeviceInformation()
    assert "Fault" in type(err.value).__name__ or "ONVIFError" in type(err.value).__name__
    assert sim.auth_failures == 1


def test_zeep_client_with_time_adjustment_against_skewed_device() -> None:
    if not os.path.isfile(os.path.join(WSDL_DIR, "devicemgmt.wsdl")):
        pytest.skip("onvif-zeep WSDL files not found")
    with OnvifSimulator(password="pw!", clock_offset_s=1800, discovery=False) as s:
        cam = onvif.ONVIFCamera("127.0.0.1", s.port, "admin", "pw!", WSDL_DIR,
                                no_cache=True, adjust_time=True)
        assert cam.devicemgmt.GetDeviceInformation().Model == "SIM-IPC-1080"


def test_wsdiscovery_probe_answered_by_our_responder(sim: OnvifSimulator) -> None:
    env = constructProbe([QName(wsd.NS["dn"], "NetworkVideoTransmitter", "dn")], [])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2.0)
        sock.sendto(createSOAPMessage(env).encode(), ("127.0.0.1", sim.discovery_port))
        data, _ = sock.recvfrom(wsd.MAX_DATAGRAM)
    reply = parseSOAPMessage(data.decode(), "127.0.0.1")
    assert reply is not None and reply.getRelatesTo() == env.getMessageId()
    (match,) = reply.getProbeResolveMatches()
    assert match.getXAddrs() == [sim.device_url] and match.getEPR() == sim.endpoint
    names = {(t.getNamespace(), t.getLocalname()) for t in match.getTypes()}
    assert (wsd.NS["dn"], "NetworkVideoTransmitter") in names


def test_our_probe_understands_a_wsdiscovery_responder() -> None:
    service = Service([QName(wsd.NS["dn"], "NetworkVideoTransmitter", "dn")], [],
                      ["http://127.0.0.1:8080/onvif/device_service"],
                      f"urn:uuid:{uuid.uuid4()}", 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as responder:
        responder.bind(("127.0.0.1", 0))
        responder.settimeout(3.0)

        def answer_once() -> None:
            try:
                data, peer = responder.recvfrom(wsd.MAX_DATAGRAM)
            except OSError:
                return
            probe = parseSOAPMessage(data.decode(), peer[0])
            if probe is not None:
                reply = constructProbeMatch([service], probe.getMessageId())
                responder.sendto(createSOAPMessage(reply).encode(), peer)

        thread = threading.Thread(target=answer_once, daemon=True)
        thread.start()
        found = wsd.probe(f"127.0.0.1:{responder.getsockname()[1]}", timeout=2.0, max_matches=1)
        thread.join(timeout=5)
    assert len(found) == 1
    assert found[0].xaddrs == ("http://127.0.0.1:8080/onvif/device_service",)
    assert found[0].types == (wsd.NVT,) and found[0].address == service.getEPR()
