"""Casting receiver discovery over mDNS, confined to the loopback interface.

Every Zeroconf instance here is bound to 127.0.0.1 only, so no multicast reaches a real
network. When the kernel does not loop multicast on ``lo`` the tests skip with the reason.
"""

from __future__ import annotations

import socket
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

zeroconf_mod = pytest.importorskip("zeroconf", reason="PyPI package 'zeroconf' not installed")
from zeroconf import IPVersion, ServiceBrowser, ServiceInfo, Zeroconf  # noqa: E402

from classcert.device_drivers import casting  # noqa: E402

LOOPBACK = ["127.0.0.1"]


def _zc() -> Zeroconf:
    return Zeroconf(interfaces=LOOPBACK, ip_version=IPVersion.V4Only)


def _info(service_type: str, name: str, port: int, props: dict, host: str) -> ServiceInfo:
    return ServiceInfo(service_type, f"{name}.{service_type}",
                       addresses=[socket.inet_aton("127.0.0.1")], port=port,
                       properties=props, server=f"{host}.local.")


@pytest.fixture(scope="module")
def advertiser():
    """A loopback-only responder advertising one receiver per protocol."""
    zc = _zc()
    infos = [
        _info("_airplay._tcp.local.", "Panel 101", 7000,
              {"model": "AppleTV5,3", "deviceid": "02:11:22:33:44:55", "features": "0x5A7FFFF7"},
              "panel101"),
        _info("_googlecast._tcp.local.", "Chromecast-abc123", 8009,
              {"id": "abc123", "md": "Chromecast", "fn": "Room 101 TV"}, "cast101"),
        _info("_leboremote._tcp.local.", "乐播投屏-101", 52244, {"model": "LB-M1", "ver": "3.2"},
              "lebo101"),
        _info("_display._tcp.local.", "Miracast 101", 7250, {}, "wfd101"),
    ]
    for info in infos:
        zc.register_service(info, ttl=60, cooperating_responders=True)
    probe = _zc()
    seen: list[str] = []
    browser = ServiceBrowser(probe, "_airplay._tcp.local.",
                             handlers=[lambda zeroconf, service_type, name, state_change:
                                       seen.append(name)])
    deadline = time.monotonic() + 3.0
    while not seen and time.monotonic() < deadline:
        time.sleep(0.05)
    browser.cancel()
    probe.close()
    if not seen:
        for info in infos:
            zc.unregister_service(info)
        zc.close()
        pytest.skip("multicast is not looped back on the loopback interface here "
                    "(mDNS tests need 'lo' to deliver 224.0.0.251 locally)")
    yield infos
    for info in infos:
        zc.unregister_service(info)
    zc.close()


def test_discovers_every_protocol_on_loopback(advertiser):
    found = casting.discover_casting_receivers(duration_s=1.5, interfaces=LOOPBACK)
    by_protocol = {r.protocol: r for r in found}
    assert set(by_protocol) == {"airplay", "googlecast", "lebo", "miracast"}
    airplay = by_protocol["airplay"]
    assert (airplay.name, airplay.port, airplay.addresses) == ("Panel 101", 7000, ("127.0.0.1",))
    assert (airplay.model, airplay.device_id, airplay.server) == (
        "AppleTV5,3", "02:11:22:33:44:55", "panel101.local.")
    cast = by_protocol["googlecast"]
    assert (cast.model, cast.device_id, cast.friendly_name) == ("Chromecast", "abc123",
                                                                "Room 101 TV")
    assert by_protocol["lebo"].name == "乐播投屏-101" and by_protocol["lebo"].model == "LB-M1"
    assert by_protocol["miracast"].port == 7250 and by_protocol["miracast"].properties == {}


def test_only_requested_types_and_reused_instance(advertiser):
    zc = _zc()
    try:
        t0 = time.monotonic()
        found = casting.discover_casting_receivers(
            duration_s=2.0, service_types=["_googlecast._tcp.local."], zeroconf=zc)
        assert time.monotonic() - t0 < 4.0
    finally:
        zc.close()
    assert [r.protocol for r in found] == ["googlecast"]


def test_nothing_advertised_returns_empty_list_in_bounded_time():
    t0 = time.monotonic()
    found = casting.discover_casting_receivers(
        duration_s=0.5, service_types=["_classcertnone._tcp.local."], interfaces=LOOPBACK)
    assert found == [] and time.monotonic() - t0 < 3.0


def test_bad_service_type_is_rejected():
    with pytest.raises(ValueError, match="_airplay._tcp.local."):
        casting.discover_casting_receivers(service_types=["airplay"], interfaces=LOOPBACK)


label_st = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30)


@settings(max_examples=200)
@given(label_st, st.sampled_from(sorted(casting.SERVICE_TYPES)))
def test_instance_name_strips_type(name, service_type):
    assert casting.instance_name(f"{name}.{service_type}", service_type) == name


@settings(max_examples=200)
@given(st.dictionaries(st.text(max_size=10).map(str.encode),
                       st.none() | st.binary(max_size=20), max_size=8))
def test_txt_decoding_never_raises(raw):
    decoded = casting._decode_txt(raw)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in decoded.items())
    assert len(decoded) <= len(raw)
