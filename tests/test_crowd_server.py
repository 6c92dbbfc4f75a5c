"""The Wi-Fi crowd test: pure evaluation, the server's protocol, safety, bounds and pacing."""

from __future__ import annotations

import http.client
import json
import math
import socket
import time
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classcert import crowd_server
from classcert.crowd import (
    EMULATED,
    CrowdResult,
    DeviceResult,
    DeviceTransfer,
    Window,
    bytes_for,
    covers,
    goodput_mbps,
    same_window,
    target_devices,
)
from classcert.crowd_server import (
    MAX_CHUNK,
    MAX_JSON,
    CrowdError,
    CrowdServer,
    CrowdSession,
    parse_join,
    parse_report,
)
from classcert.rigs.simulators.crowd_sim import CrowdSim

IOS_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")

# ------------------------------------------------------------------ pure evaluation


@given(st.integers(0, 10_000))
def test_target_is_ceil_of_120_percent(seats):
    assert target_devices(seats) == math.ceil(seats * 12 / 10)
    assert target_devices(seats) * 10 >= 12 * seats > (target_devices(seats) - 1) * 10


@given(st.integers(0, 10**9), st.floats(0.001, 1e4))
def test_goodput_round_trips_bytes_for(size, seconds):
    rate = goodput_mbps(size, seconds)
    assert rate >= 0
    assert abs(bytes_for(rate, seconds) - size) <= 1


def test_goodput_rejects_nonsense():
    for size, secs in ((-1, 1.0), (1, 0.0), (1, -2.0), (1, math.inf), (1, math.nan)):
        with pytest.raises(ValueError):
            goodput_mbps(size, secs)
    assert goodput_mbps(500_000, 1.0) == pytest.approx(4.0)


windows = st.tuples(st.floats(-100, 100), st.floats(0, 100)).map(lambda p: Window(p[0],
                                                                                 p[0] + p[1]))


@given(windows, windows)
def test_overlap_is_symmetric_and_bounded(a, b):
    assert a.overlap(b) == pytest.approx(b.overlap(a))
    assert 0 <= a.overlap(b) <= min(a.length, b.length) + 1e-9


@given(windows, st.floats(0.0, 1.0))
def test_a_window_covers_itself_and_late_starters_do_not(common, coverage):
    assert covers(common, common, coverage)
    if common.length > 1:
        late = Window(common.start + 0.5 * common.length, common.end + 10)
        assert not covers(late, common, 0.9)
        assert not same_window([common, late], common, 0.9)
    assert not same_window([], common)
    assert not covers(None, common)


def _device(name: str, down: tuple[float, float, float] | None,
            up: tuple[float, float, float] | None) -> DeviceResult:
    def tr(t: tuple[float, float, float] | None) -> DeviceTransfer | None:
        return None if t is None else DeviceTransfer(0, t[2], Window(t[0], t[1]), "server")
    return DeviceResult(name, "iOS", "17", None, EMULATED, "127.0.0.1", "now", tr(down), tr(up))


def test_result_counts_devices_that_did_both_directions_in_the_window():
    devices = (
        _device("a", (0, 10, 4.1), (11, 21, 4.5)),
        _device("b", (0, 10, 5.0), (11, 21, 3.9)),
        _device("late", (6, 16, 1.0), (11, 21, 9.0)),  # downlink missed most of the window
        _device("down-only", (0, 10, 0.5), None),
    )
    result = CrowdResult("r", 4, 4.2, 10, Window(0, 10), Window(11, 21), devices)
    assert result.capacity == 2
    assert result.per_client_min_mbps == pytest.approx(3.9)
    doc = json.loads(json.dumps(result.to_json()))
    assert doc["downlink"]["min_mbps"] == pytest.approx(4.1)
    assert doc["uplink"]["min_mbps"] == pytest.approx(3.9)
    assert [d["completed"] for d in doc["devices"]] == [True, True, False, False]
    assert doc["load_generators"] == [EMULATED] and doc["bands"] == {"unknown": 4}


# ------------------------------------------------------------------ parsers

@settings(max_examples=150)
@given(st.binary(max_size=300))
def test_parsers_never_crash_on_bytes(body):
    for parse in (parse_join, lambda b: parse_report(b, 20)):
        try:
            parse(body)
        except CrowdError:
            pass


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                           lambda c: st.lists(c, max_size=3)
                           | st.dictionaries(st.text(max_size=10), c, max_size=3), max_leaves=8)


@settings(max_examples=150)
@given(st.dictionaries(st.sampled_from(["agent", "hints", "max_touch_points", "band", "x"]),
                       json_values))
def test_join_accepts_only_its_schema(doc):
    try:
        out = parse_join(json.dumps(doc).encode())
    except CrowdError:
        return
    assert set(doc) <= {"agent", "hints", "max_touch_points", "band"}
    assert out["agent"] in ("browser", "emulated") and out["band"] in (None, "2.4", "5", "6")


@given(st.integers(0, 10**10), st.floats(0, 20_000), st.sampled_from([None, "2.4", "5", "6"]))
def test_report_round_trips(size, ms, band):
    doc = {"down_bytes": size, "down_ms": ms, **({"band": band} if band else {})}
    assert parse_report(json.dumps(doc).encode(), 20) == (size, ms, band)


# ------------------------------------------------------------------ server

@pytest.fixture
def server() -> Iterator[CrowdServer]:
    with CrowdServer("127.0.0.1") as srv:
        yield srv


def call(server: CrowdServer, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def join(server: CrowdServer, session: CrowdSession, ua: str = IOS_UA) -> str:
    path = session.url.split(str(server.port), 1)[1]
    status, body = call(server, "POST", path + "/join", b'{"agent": "browser"}',
                        {"Content-Type": "application/json", "User-Agent": ua})
    assert status == 200, body
    return json.loads(body)["device"]


def test_refuses_wildcard_and_names():
    for host in ("0.0.0.0", "::", "localhost"):
        with pytest.raises(ValueError):
            CrowdServer(host)


def test_no_token_no_entry(server):
    session = server.new_session("r1", 3)
    path = session.url.split(str(server.port), 1)[1]
    dev = join(server, session)
    before = (session.page_requests, len(session.devices))
    bad = ["/", "/c/", "/c/" + "A" * 32, path + "x", path + "/join/extra",
           "/c/wrong-token-wrong-token/join", path + "/status/" + "0" * 32,
           path + "/down/" + dev.upper(), path.upper() + "/status/" + dev]
    for p in bad:
        for method in ("GET", "POST"):
            status, body = call(server, method, p, b"{}", {"Content-Type": "application/json"})
            assert (status, body) == (404, b"not found\n"), p
    assert (session.page_requests, len(session.devices)) == before
    session.close()
    assert call(server, "GET", path)[0] == 404


def test_page_join_and_status(server):
    session = server.new_session("r1", 7)
    path = session.url.split(str(server.port), 1)[1]
    status, page = call(server, "GET", path)
    assert status == 200 and crowd_server.PAGE_MARKER.encode() in page
    assert b'id="target">7<' in page
    dev = join(server, session)
    assert session.devices[dev].os.family == "iOS"
    status, body = call(server, "GET", f"{path}/status/{dev}")
    doc = json.loads(body)
    assert (status, doc["joined"], doc["target"], doc["state"]) == (200, 1, 7, "waiting")
    assert call(server, "POST", f"{path}/status/{dev}")[0] == 405


def test_bounds(server, monkeypatch):
    session = server.new_session("r1", 3)
    path = session.url.split(str(server.port), 1)[1]
    big = b"{" + b" " * MAX_JSON + b"}"
    assert call(server, "POST", path + "/join", big, {"Content-Type": "application/json"})[0] \
        == 413
    assert call(server, "POST", path + "/join", b'{"band": "9"}')[0] == 400
    assert not session.devices and session.rejected == 1
    monkeypatch.setattr(crowd_server, "MAX_DEVICES", 2)
    join(server, session)
    dev = join(server, session)
    assert call(server, "POST", path + "/join", b"{}")[0] == 409
    for args in ((0, 4), (121, 4), (5, 0), (5, 51), (5, 4, 31)):
        with pytest.raises(ValueError):
            session.start(*args)
    status, _ = call(server, "POST", f"{path}/up/{dev}", b"x" * 10)
    assert status == 409  # not started
    sched = session.start(1, 4, lead_s=0)
    assert call(server, "POST", path + "/join", b"{}")[0] == 409  # no joins once started
    with pytest.raises(RuntimeError):
        session.start(1, 4)
    too_big = b"x" * (min(MAX_CHUNK, 2 * sched.chunk_bytes) + 1)
    assert call(server, "POST", f"{path}/up/{dev}", too_big)[0] == 413
    assert session.devices[dev].up_bytes == 0


def test_downlink_is_paced_at_the_offered_rate(server):
    session = server.new_session("r1", 1)
    path = session.url.split(str(server.port), 1)[1]
    dev = join(server, session)
    rate, window = 8.0, 2.0
    session.start(window, rate, lead_s=0.3)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", f"{path}/down/{dev}")
    resp = conn.getresponse()
    got, first, marks = 0, None, []
    for _ in range(100_000):
        piece = resp.read1(65536)
        if not piece:
            break
        now = time.monotonic()
        first = first or now
        got += len(piece)
        marks.append((now - first, got))
    conn.close()
    assert got == bytes_for(rate, window)
    elapsed = marks[-1][0]
    assert goodput_mbps(got, elapsed) == pytest.approx(rate, rel=0.05)
    half = [g for t, g in marks if t <= 1.0][-1]  # steady, not bursty
    assert goodput_mbps(half, 1.0) == pytest.approx(rate, rel=0.05)
    # one downlink per device
    assert call(server, "GET", f"{path}/down/{dev}")[0] == 409


def test_uplink_counts_only_what_arrives_in_the_window(server):
    session = server.new_session("r1", 1)
    path = session.url.split(str(server.port), 1)[1]
    dev = join(server, session)
    sched = session.start(1.0, 4.0, lead_s=0)
    chunk = b"u" * sched.chunk_bytes
    assert call(server, "POST", f"{path}/up/{dev}", chunk)[0] == 409  # during the downlink
    time.sleep(max(0.0, sched.up.start - time.monotonic()) + 0.01)
    for n in range(4):
        time.sleep(max(0.0, sched.up.start + n * 0.25 - time.monotonic()))
        assert json.loads(call(server, "POST", f"{path}/up/{dev}", chunk)[1])["counted"] > 0
    time.sleep(max(0.0, sched.up.end - time.monotonic()) + 0.05)
    assert call(server, "POST", f"{path}/up/{dev}", chunk)[0] == 409
    device = session.devices[dev]
    assert device.up_bytes == 4 * len(chunk) and device.up_refused == 2 * len(chunk)
    status, _ = call(server, "POST", f"{path}/report/{dev}",
                     b'{"down_bytes": 0, "down_ms": 0}', {"Content-Type": "application/json"})
    assert status == 200
    result = session.result().devices[0]
    assert result.up is not None and result.up.mbps == pytest.approx(4.0, rel=0.01)
    assert result.down is None  # it never opened the downlink


def _open_chunk(server: CrowdServer, path: str, length: int, first: bytes) -> socket.socket:
    """An uplink chunk whose head and first bytes are sent, the rest held back."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n"
                 .encode() + first)
    return sock


def _answer(sock: socket.socket) -> tuple[int, dict]:
    raw = b""
    while b"\r\n\r\n" not in raw or not raw.rstrip().endswith(b"}"):
        piece = sock.recv(4096)
        if not piece:
            break
        raw += piece
    sock.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_two_chunks_in_flight_add_up_and_a_third_is_refused(server):
    session = server.new_session("r1", 1)
    path = session.url.split(str(server.port), 1)[1]
    dev = join(server, session)
    sched = session.start(1.0, 4.0, lead_s=0)
    status, body = call(server, "GET", f"{path}/status/{dev}")
    assert json.loads(body)["chunks_in_flight"] == crowd_server.UP_IN_FLIGHT == 2
    time.sleep(max(0.0, sched.up.start - time.monotonic()) + 0.05)
    half = sched.chunk_bytes // 2
    lanes = [_open_chunk(server, f"{path}/up/{dev}", 2 * half, b"a" * half) for _ in range(2)]
    device = session.devices[dev]
    for _ in range(200):  # both chunks are being received
        if device.up_open == 2 and device.up_bytes == 2 * half:
            break
        time.sleep(0.01)
    assert (device.up_open, device.up_bytes) == (2, 2 * half)
    status, body = call(server, "POST", f"{path}/up/{dev}", b"b" * half)
    assert status == 429 and b"at most 2" in body
    for sock in lanes:
        sock.sendall(b"a" * half)
    answers = [_answer(sock) for sock in lanes]
    assert answers == [(200, {"counted": 2 * half, "error": ""})] * 2
    for _ in range(200):  # a lane frees once its answer is written
        if device.up_open == 0:
            break
        time.sleep(0.01)
    assert device.up_bytes == 4 * half and device.up_refused == 0 and device.up_open == 0
    first, last = device.up_span
    assert sched.up.start <= first < last <= sched.up.end
    assert last - first >= sched.chunk_s - 0.01  # the union of both chunks' slots
    assert call(server, "POST", f"{path}/up/{dev}", b"c" * half)[0] == 200  # a lane is free


def test_a_chunk_slower_than_the_client_timeout_still_counts_whole():
    """On a shared link a chunk may take longer than client_timeout_s to arrive; as long as
    bytes keep coming it is not a stalled client (its bytes were once left unread)."""
    with CrowdServer("127.0.0.1", client_timeout_s=0.4) as server:
        session = server.new_session("r1", 1)
        path = session.url.split(str(server.port), 1)[1]
        dev = join(server, session)
        sched = session.start(2.0, 4.0, lead_s=0)
        time.sleep(max(0.0, sched.up.start - time.monotonic()) + 0.05)
        size = sched.chunk_bytes
        sock = _open_chunk(server, f"{path}/up/{dev}", size, b"")
        for i in range(6):  # over 1.2 s, three times the client timeout, 0.2 s apart
            time.sleep(0.2)
            sock.sendall(b"s" * (size // 6 if i < 5 else size - 5 * (size // 6)))
        assert _answer(sock) == (200, {"counted": size, "error": ""})
        device = session.devices[dev]
        assert (device.up_bytes, device.up_broken) == (size, 0)
        silent = _open_chunk(server, f"{path}/up/{dev}", size, b"s" * 10)
        time.sleep(0.9)  # nothing more for twice the client timeout: a stalled client
        assert silent.recv(100) == b""
        silent.close()
        assert device.up_broken == 1


def test_emulated_crowd_same_window_and_a_silent_device(server):
    session = server.new_session("r1", 4)
    crowd = CrowdSim(devices=3, band="5")
    crowd.join(session.url)
    try:
        assert session.wait_joined(3, 5) == 3
        join(server, session)  # joins, then never moves a byte
        session.start(1.0, 4.2, lead_s=0.3)
        assert not session.wait_done(3.6)  # the silent device never reports
        assert crowd.wait(5)
    finally:
        crowd.stop()
    result = session.result()
    assert len(result.devices) == 4 and result.capacity == 3
    assert result.per_client_min_mbps == pytest.approx(4.2, rel=0.05)
    assert result.bands == {"5": 3, "unknown": 1}
    families = sorted(d.os_family for d in result.devices)
    assert families == ["Windows", "iOS", "iOS", "iPadOS"] or "Android" in families


# ------------------------------------------------------------------ the suite, end to end

def _wifi_room(room_id: str, seats: int, sim: str | None, options: str) -> str:
    simulator = f"simulator = {{ kind = \"crowd\", {sim} }}" if sim else ""
    return f"""
        [[rooms]]
        id = "{room_id}"
        name = "Room {room_id}"
        seats = {seats}
        claims = ["smart"]

        [[rooms.devices]]
        role = "wifi"
        driver = "snmp"
        address = "127.0.0.1:161"
        options = {{ {options} }}
        {simulator}
    """


def test_suite_measures_capacity_and_per_client(tmp_path):
    import subprocess
    import sys

    from helpers import REPO, rig_text

    fast = "crowd_window_s = 1.0, crowd_lead_s = 1.0"
    rooms = (_wifi_room("OK", 3, "devices = 4, poll_s = 0.1", fast)  # target ceil(3.6) = 4
             + _wifi_room("CAP", 3, "devices = 4, poll_s = 0.1, rate_cap_mbps = 2.0", fast)
             + _wifi_room("NOBODY", 3, None, fast))
    rig = tmp_path / "rig.toml"
    rig.write_text(rig_text(rooms), encoding="utf-8")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "test_suites" / "test_wifi_crowd.py"),
         "--rig", str(rig), "--out", str(out), "--no-prompt",
         "-p", "no:cacheprovider", "-q"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode in (0, 1), proc.stdout[-4000:] + proc.stderr[-2000:]

    def entries(room: str) -> dict[str, dict]:
        cert = json.loads((out / "rooms" / room / "certificate.json").read_text("utf-8"))
        return {e["key"]: e for e in cert["requirements"]}

    ok, cap, nobody = entries("OK"), entries("CAP"), entries("NOBODY")
    assert ok["wifi.capacity"]["verdict"] == "PASS", ok["wifi.capacity"]
    assert ok["wifi.per_client"]["verdict"] == "PASS", ok["wifi.per_client"]
    assert cap["wifi.per_client"]["verdict"] == "FAIL", cap["wifi.per_client"]
    assert cap["wifi.per_client"]["value"] == pytest.approx(2.0, rel=0.12)  # the AP's cap
    assert cap["wifi.capacity"]["verdict"] == "PASS"  # slow, but all four took part
    assert nobody["wifi.capacity"]["verdict"] == "NOT_TESTED"
    (path,) = (out / "evidence" / "OK").glob("*wifi-crowd.json")
    evidence = json.loads(path.read_text("utf-8"))
    assert evidence["load_generators"] == ["emulated"] and evidence["joined"] == 4
    assert evidence["downlink"]["devices"] == evidence["uplink"]["devices"] == 4
