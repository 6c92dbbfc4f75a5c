"""The emulated Wi-Fi classroom (network namespaces, veth, bridge, tbf) and the crowd on it.

Tests that build namespaces skip with the probe's reason where the machine cannot (not root,
no ``ip``/``tc``, no veth/bridge/tbf). Traffic stays inside namespaces the tests create.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classcert.crowd_protocol import (
    MAX_CHUNK,
    MAX_PIECE,
    PIECE,
    head_bytes,
    pacing,
    parse_head,
)
from classcert.crowd_server import CrowdServer
from classcert.rigs.simulators import crowd_sim, netns_probe
from classcert.rigs.simulators.crowd_sim import CrowdSim, loopback_source
from classcert.rigs.simulators.netns_probe import (
    enter_netns,
    list_netns,
    netns_extras,
    netns_support,
    sweep_stale,
)
from classcert.rigs.simulators.netns_room import (
    NetnsClassroom,
    payload_ceiling_mbps,
    station_mac,
    tbf_spec,
)

SUPPORTED, REASON = netns_support()
needs_netns = pytest.mark.skipif(not SUPPORTED, reason=f"no emulated classroom: {REASON}")
IOS_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")


def _root_links() -> set[str]:
    return set(os.listdir("/sys/class/net")) if os.path.isdir("/sys/class/net") else set()


# ------------------------------------------------------------------ pure parts


def test_station_identity_and_shaping_arithmetic():
    assert station_mac(0) == "02:cc:00:00:00:01" and station_mac(1199) == "02:cc:00:00:04:b0"
    assert len({station_mac(i) for i in range(1200)}) == 1200
    assert int(station_mac(5).split(":")[0], 16) & 0b10  # locally administered
    assert payload_ceiling_mbps(1.0) == pytest.approx(1448 / 1514)
    spec = tbf_spec(8.0).split()
    assert spec[:2] == ["rate", "8000kbit"] and int(spec[3]) >= 4 * 1514
    assert int(spec[5]) > int(spec[3])  # the queue holds more than the burst


def test_addresses_are_distinct_and_never_the_servers():
    room = NetnsClassroom(1200, 1.0, 1.0)
    ips = [room.client_ip(i) for i in range(1200)]
    assert len(set(ips)) == 1200 and room.server_address not in ips
    assert all(not ip.endswith((".0", ".255")) for ip in ips)
    small = NetnsClassroom(3, None, None, subnet="192.168.50.0/29")
    assert [small.client_ip(i) for i in range(3)] == ["192.168.50.2", "192.168.50.3",
                                                      "192.168.50.4"]
    for bad in ({"clients": 0}, {"clients": 1201}, {"client_down_mbps": -1},
                {"prefix": "Bad Prefix"}, {"subnet": "10.0.0.0/30", "clients": 5}):
        with pytest.raises(ValueError):
            NetnsClassroom(**{"clients": 2, "client_down_mbps": 1, "client_up_mbps": 1, **bad})
    with pytest.raises(IndexError):
        room.client_ip(1200)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 1200), st.floats(0.01, 50), st.floats(0.5, 120))
def test_pacing_stays_within_its_bounds(devices, rate, window):
    chunk_s, piece = pacing(devices, rate, window)
    assert 0 < chunk_s <= max(window / 4, 0.01) + 1e-9
    assert chunk_s * rate * 1e6 / 8 <= MAX_CHUNK + 1
    assert PIECE <= piece <= MAX_PIECE
    bigger_chunk, bigger_piece = pacing(min(1200, devices * 2), rate, window)
    assert bigger_chunk >= chunk_s and bigger_piece >= piece  # more devices, fewer requests


heads = st.tuples(
    st.sampled_from(["GET", "POST", "HEAD", "PUT"]),
    st.text("abcdefghijklmnopqrstuvwxyz0123456789/_-.", min_size=1, max_size=60),
    st.lists(st.tuples(st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}", fullmatch=True),
                       st.text(st.characters(min_codepoint=32, max_codepoint=126),
                               max_size=40).map(str.strip)), max_size=10),
)


@settings(max_examples=200, deadline=None)
@given(heads)
def test_request_heads_round_trip(head):
    method, target, headers = head
    raw = "\r\n".join([f"{method} /{target} HTTP/1.1", *(f"{k}: {v}" for k, v in headers)])
    parsed = parse_head((raw + "\r\n\r\n").encode("latin-1"))
    assert parsed == (method, "/" + target, headers)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_request_head_parser_never_crashes(raw):
    parsed = parse_head(raw)
    assert parsed is None or (parsed[0].isalpha() and len(parsed[2]) <= 64)


def test_response_head_is_http_1_0_with_length():
    head = head_bytes(404, "text/plain", 10, {"Allow": "GET"}).decode("latin-1")
    assert head.startswith("HTTP/1.0 404 Not Found\r\n") and head.endswith("\r\n\r\n")
    assert "Content-Length: 10\r\n" in head and "Allow: GET\r\n" in head


# ------------------------------------------------------------------ loopback crowd


def test_loopback_devices_are_distinct_clients_matching_stations():
    with CrowdServer("127.0.0.1") as server:
        session = server.new_session("L", 4)
        crowd = CrowdSim(devices=4, band="5", poll_s=0.1)
        crowd.join(session.url)
        try:
            assert session.wait_joined(4, 10) == 4
        finally:
            crowd.stop()
        clients = sorted(d.client for d in session.devices.values())
    stations = crowd.stations()
    assert clients == sorted(loopback_source(i) for i in range(4)) == sorted(
        s["ip"] for s in stations)
    assert len(set(clients)) == 4
    assert [s["hostname"] for s in stations] == ["crowd-001", "crowd-002", "crowd-003",
                                                "crowd-004"]
    assert stations[0]["mac"] == station_mac(0) and {s["band"] for s in stations} == {"5"}
    assert stations[0]["os"].startswith("iOS 17") and stations[1]["os"].startswith("Android")


def test_netns_knobs_need_netns_and_a_missing_feature_is_named(monkeypatch):
    with pytest.raises(ValueError):
        CrowdSim(devices=2, client_mbps=5)  # loopback takes rate_cap_mbps only
    monkeypatch.setattr(crowd_sim, "netns_support", lambda: (False, "tbf: not supported"))
    sim = CrowdSim(devices=2, network="netns", client_mbps=5)
    with pytest.raises(RuntimeError, match="tbf: not supported"):
        sim.start()
    assert sim.bind_host == sim.classroom.server_address and not sim.classroom.built


# ------------------------------------------------------------------ namespaces


@needs_netns
def test_probe_reports_support_and_the_missing_extras():
    assert netns_support() == (True, "")
    t0 = time.monotonic()
    assert netns_support() == (True, "")
    assert time.monotonic() - t0 < 0.01  # cached: no namespace built again
    extras = netns_extras()
    assert all("netem" in line or "mac80211_hwsim" in line for line in extras)
    if not os.path.exists("/sys/module/mac80211_hwsim"):
        assert any("mac80211_hwsim" in line for line in extras)


@needs_netns
def test_build_and_teardown_leave_nothing_behind():
    links, before = _root_links(), set(list_netns())
    with NetnsClassroom(3, 5.0, 5.0, ap_down_mbps=50, ap_up_mbps=50) as room:
        names = set(room.namespaces())
        assert names <= set(list_netns())
        doc = room.describe()
        assert doc["load_generator"] == "emulated (network namespaces)"
        assert doc["shaping"]["client_down"]["tbf_mbps"] == 5.0
        assert any("tbf" in line and "rate 5Mbit" in line for line in doc["qdiscs"])
        assert any("rate 50Mbit" in line for line in doc["qdiscs"])
        assert _root_links() == links  # nothing added to this machine's own namespace
    assert not names & set(list_netns()) and set(list_netns()) <= before
    assert _root_links() == links
    room.teardown()  # idempotent


@needs_netns
def test_stale_namespaces_of_dead_runs_are_swept():
    pid = 4_000_000
    while os.path.exists(f"/proc/{pid}"):
        pid += 1
    stale, mine = f"cc{pid}-9-c0", f"cc{os.getpid()}-9999-w"
    netns_probe.run_cmd(["ip", "netns", "add", stale])
    netns_probe.run_cmd(["ip", "netns", "add", mine])
    try:
        assert stale in sweep_stale()
        assert stale not in list_netns() and mine in list_netns()
    finally:
        netns_probe.delete_netns([stale, mine])


@pytest.fixture(scope="module")
def room() -> Iterator[NetnsClassroom]:
    if not SUPPORTED:
        pytest.skip(f"no emulated classroom: {REASON}")
    with NetnsClassroom(2, 8.0, 8.0) as built:
        yield built


def test_a_client_reaches_the_wired_server_and_nothing_else(room):
    listener = room.socket_in("wired")
    listener.bind((room.server_address, 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    outside = socket.socket()
    outside.bind(("127.0.0.1", 0))
    outside.listen(1)  # a service of this machine's own namespace
    try:
        client = room.socket_in(1)
        client.settimeout(3)
        client.connect((room.server_address, port))
        peer, addr = listener.accept()
        assert addr[0] == room.client_ip(1)
        peer.close()
        client.close()
        for target in (("127.0.0.1", outside.getsockname()[1]), ("192.0.2.1", 80)):
            probe = room.socket_in(1)
            probe.settimeout(1)
            with pytest.raises(OSError):
                probe.connect(target)
            probe.close()
    finally:
        listener.close()
        outside.close()


def test_tbf_shapes_one_client_to_its_rate(room):
    listener = room.socket_in("wired")
    listener.bind((room.server_address, 0))
    listener.listen(1)
    port, marks = listener.getsockname()[1], []

    def send() -> None:
        peer, _ = listener.accept()
        end = time.monotonic() + 3.5
        try:
            while time.monotonic() < end:
                peer.send(b"\x55" * 65536)
        except OSError:
            pass
        peer.close()

    def receive() -> None:
        enter_netns(room.ns_name(0))  # this short-lived thread only
        conn = socket.create_connection((room.server_address, port), timeout=5)
        start, got = time.monotonic(), 0
        while time.monotonic() - start < 3.0:
            got += len(conn.recv(65536))
            marks.append((time.monotonic() - start, got))
        conn.close()

    threads = [threading.Thread(target=send), threading.Thread(target=receive)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    listener.close()
    t0, g0 = next((t, g) for t, g in marks if t >= 0.5)  # past slow start and the burst
    t1, g1 = marks[-1]
    mbps = (g1 - g0) * 8 / (t1 - t0) / 1e6
    assert mbps == pytest.approx(payload_ceiling_mbps(8.0), rel=0.05)


def _crowd_run(devices: int, rate: float, **knobs: float) -> dict:
    with CrowdSim(devices=devices, network="netns", poll_s=0.1, **knobs) as sim:
        server = sim.run_in_network(lambda: CrowdServer(sim.bind_host).start())
        try:
            session = server.new_session("N", devices)
            sim.join(session.url)
            assert session.wait_joined(devices, 15) == devices
            session.start(2.0, rate, lead_s=0.5)
            assert session.wait_done(15)
            assert sim.wait(10)
            result = session.result()
        finally:
            server.stop()
        clients = {d.client for d in session.devices.values()}
        assert clients == {s["ip"] for s in sim.stations()}
    return json.loads(json.dumps(result.to_json()))


@needs_netns
def test_crowd_passes_when_each_client_has_room():
    doc = _crowd_run(8, 4.2, client_mbps=6.0)
    assert doc["completed_both_directions"] == 8
    assert doc["per_client_min_mbps"] >= 4.0
    assert doc["downlink"]["min_mbps"] == pytest.approx(4.2, rel=0.03)


@needs_netns
def test_crowd_minimum_falls_below_4_when_the_clients_are_shaped_short():
    doc = _crowd_run(8, 4.2, client_mbps=3.0)
    assert doc["completed_both_directions"] == 8
    assert doc["per_client_min_mbps"] < 4.0
    ceiling = payload_ceiling_mbps(3.0)
    for direction in ("downlink", "uplink"):
        assert doc[direction]["median_mbps"] == pytest.approx(ceiling, rel=0.06), direction


@needs_netns
def test_crowd_minimum_falls_below_4_when_the_access_point_is_short():
    doc = _crowd_run(8, 4.2, client_mbps=6.0, ap_down_mbps=20.0, ap_up_mbps=20.0)
    assert doc["per_client_min_mbps"] < 4.0  # 8 x 4.2 Mbps do not fit in 20 Mbps
    assert doc["downlink"]["median_mbps"] < 4.0 and doc["uplink"]["median_mbps"] < 4.0


def test_server_answers_http_1_0_in_its_namespace(room):
    server = room.run_in_wired(lambda: CrowdServer(room.server_address).start())
    try:
        session = server.new_session("H", 1)
        path = session.url.split(str(server.port), 1)[1]
        out: dict = {}

        def fetch() -> None:
            enter_netns(room.ns_name(0))
            conn = http.client.HTTPConnection(room.server_address, server.port, timeout=5)
            conn.request("POST", path + "/join", b'{"agent": "browser"}',
                         {"User-Agent": IOS_UA, "Content-Type": "application/json"})
            resp = conn.getresponse()
            out.update(status=resp.status, version=resp.version, body=resp.read())
            conn.close()

        thread = threading.Thread(target=fetch)
        thread.start()
        thread.join(10)
        assert out["status"] == 200 and out["version"] == 10
        device = session.devices[json.loads(out["body"])["device"]]
        assert device.client == room.client_ip(0) and device.os.family == "iOS"
    finally:
        server.stop()
