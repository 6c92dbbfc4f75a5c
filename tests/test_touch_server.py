"""Touch-test server, its report schema, the QR helper, the simulated panel and the suite logic."""

from __future__ import annotations

import copy
import http.client
import json
import socket
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classcert import lan
from classcert import touch_server as ts
from classcert.fixtures.devices import NotTested, Unmeasurable
from classcert.model import Device, Room
from classcert.qr import QUIET_ZONE, qr_matrix, qr_svg, qr_text
from classcert.rigs.simulators.touch_panel_sim import TouchPanelSim, panel_report, report_path
from classcert.test_suites import test_multitouch as suite
from classcert.touch_server import (
    MAX_BODY,
    MAX_POINTS,
    MAX_REPORTS_PER_SESSION,
    MAX_REQUESTS_PER_SESSION,
    PAGE_MARKER,
    ReportError,
    TouchServer,
    parse_report,
)


def request(url: str, method: str = "GET", body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        conn.request(method, parts.path or "/", body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def post_json(url: str, doc: Any) -> tuple[int, bytes]:
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    status, _h, data = request(url + "/report", "POST", body, {"Content-Type": "application/json"})
    return status, data


@pytest.fixture
def server():
    with TouchServer("127.0.0.1", 0, client_timeout_s=0.5) as srv:
        yield srv


# ------------------------------------------------------------------ page and routing --------
def test_page_is_served_with_safety_headers(server):
    session = server.new_session("r1")
    status, headers, body = request(session.url)
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert PAGE_MARKER.encode() in body
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"
    assert "python" not in headers["Server"].lower()
    assert b"http://" not in body and b"https://" not in body  # no external resources
    assert "用尽可能多的手指同时触摸屏幕".encode() in body
    assert b"Touch the screen with as many fingers as you can at once" in body


def test_specified_points_are_shown_on_the_page(server):
    plain, spec = server.new_session("r1"), server.new_session("r1", expected_points=10)
    assert b'name="classcert-expected" content=""' in request(plain.url)[2]
    page = request(spec.url)[2]
    assert b'name="classcert-expected" content="10"' in page
    assert b"{{" not in page
    with pytest.raises(ValueError):
        server.new_session("r1", expected_points=MAX_POINTS + 1)


def test_session_urls_carry_distinct_unguessable_tokens(server):
    tokens = {server.new_session("r").token for _ in range(20)}
    assert len(tokens) == 20
    assert all(len(t) >= 22 for t in tokens)
    assert server.new_session("r").url.startswith(f"http://127.0.0.1:{server.port}/t/")


def test_anything_without_a_valid_token_is_the_same_404(server):
    session = server.new_session("r1")
    closed = server.new_session("r1")
    closed.close()
    base, tok = server.base_url, session.token
    paths = ["/", "/t", "/t/", "/t/wrong", f"/t/{tok}x", f"/t/{tok}/", f"/t/{tok}/report/x",
             f"/T/{tok}", f"/t/{tok[:-1]}", f"/t/{closed.token}", f"/t/{closed.token}/report",
             "/favicon.ico", f"/x/t/{tok}", "/t/../t/" + tok]
    for path in paths:
        for method in ("GET", "POST", "PUT", "DELETE", "HEAD"):
            body = b"{}" if method in ("POST", "PUT") else None
            status, _h, data = request(base + path, method, body,
                                       {"Content-Type": "application/json"})
            assert status == 404, (method, path)
            assert data == (b"" if method == "HEAD" else b"not found\n")
    assert session.reports == [] and session.requests == 0


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789_-/.%", max_size=60))
def test_random_paths_never_reach_a_session(server, path):
    session = server.new_session("r1")
    status, _h, data = request(server.base_url + "/" + path)
    assert status == 404 and data == b"not found\n"
    assert session.requests == 0
    session.close()


def test_wrong_method_on_a_valid_path_is_405(server):
    session = server.new_session("r1")
    assert request(session.url, "POST", b"{}")[0] == 405
    status, headers, _ = request(session.url + "/report")
    assert status == 405 and headers["Allow"] == "POST"


# ------------------------------------------------------------------ reports ----------------
def test_valid_report_is_received_once(server):
    session = server.new_session("r1")
    report = panel_report(7)
    assert post_json(session.url, report) == (200, b'{"ok": true, "max_points": 7}')
    got = session.wait_report(1)
    assert got is not None
    assert (got.max_points, got.distinct_ids, got.touch_api) == (7, 7, "touch")
    assert got.client == "127.0.0.1" and got.raw == report
    assert got.as_evidence()["report"]["samples"][-1]["n"] == 7
    assert len(got.raw["peak_xy"]) == 7


INVALID: dict[str, Any] = {
    "not json": b"{max_points: 3}",
    "not an object": [1, 2],
    "truncated": b'{"max_points": 3, "distinct_ids": [1',
    "NaN": b'{"max_points": NaN}',
    "deep nesting": b"[" * 20000,
    "bad utf-8": b'{"user_agent": "\xff"}',
}


def _mutated(change) -> dict[str, Any]:
    doc = copy.deepcopy(panel_report(5))
    change(doc)
    return doc


MUTATIONS = {
    "missing field": lambda d: d.pop("screen"),
    "unknown field": lambda d: d.update(extra=1),
    "bool as int": lambda d: d.update(max_points=True),
    "negative": lambda d: d.update(max_points=-1),
    "too many points": lambda d: d.update(max_points=MAX_POINTS + 1),
    "float points": lambda d: d.update(max_points=5.0),
    "fewer ids than points": lambda d: d.update(distinct_ids=4),
    "unknown api": lambda d: d.update(touch_api="mouse"),
    "none api with points": lambda d: d.update(touch_api="none"),
    "peak missing": lambda d: d["samples"].pop(),
    "sample over max": lambda d: d["samples"].append({"t": 1, "n": 6}),
    "sample keys": lambda d: d["samples"][-1].update(xy=[]),
    "sample time": lambda d: d["samples"][-1].update(t=-1),
    "peak count": lambda d: d["peak_xy"].pop(),
    "peak pair": lambda d: d["peak_xy"][0].append(3),
    "coordinate": lambda d: d["peak_xy"][0].__setitem__(0, 10**9),
    "too many samples": lambda d: d.update(samples=d["samples"] * 60),
    "long agent": lambda d: d.update(user_agent="x" * 513),
    "screen keys": lambda d: d["screen"].pop("dpr"),
    "dpr": lambda d: d["screen"].update(dpr=0),
    "finish": lambda d: d.update(finish="maybe"),
}


@pytest.mark.parametrize("name", list(INVALID) + list(MUTATIONS))
def test_invalid_reports_are_rejected(server, name):
    session = server.new_session("r1")
    doc = INVALID[name] if name in INVALID else _mutated(MUTATIONS[name])
    status, body = post_json(session.url, doc)
    assert status == 400
    assert json.loads(body)["error"]
    assert session.wait_report(0) is None and session.rejected == 1


def test_content_type_and_length_are_required(server):
    session = server.new_session("r1")
    body = json.dumps(panel_report(3)).encode()
    assert request(session.url + "/report", "POST", body, {"Content-Type": "text/plain"})[0] == 415
    host, port = server.bind_host, server.port
    for extra in (b"", b"Transfer-Encoding: chunked\r\n"):
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.sendall(b"POST " + urlsplit(session.url).path.encode() + b"/report HTTP/1.1\r\n"
                         b"Host: x\r\nContent-Type: application/json\r\n" + extra + b"\r\n")
            answer = b"".join(iter(lambda: sock.recv(4096), b""))
            assert answer.startswith(b"HTTP/1.0 411") and b"Content-Length" in answer
    assert session.reports == []


def test_oversized_reports_are_refused_unread(server):
    session = server.new_session("r1")
    status, body = post_json(session.url, b" " * (MAX_BODY + 1))
    assert status == 413 and b"larger" in body
    with socket.create_connection((server.bind_host, server.port), timeout=5) as sock:
        sock.sendall(b"POST " + urlsplit(session.url).path.encode() + b"/report HTTP/1.1\r\n"
                     b"Host: x\r\nContent-Type: application/json\r\nContent-Length: 999999999"
                     b"\r\n\r\n{")
        start = time.monotonic()
        assert sock.recv(64).startswith(b"HTTP/1.0 413")
        assert time.monotonic() - start < 0.4  # answered at once, not after reading 1 GB
    assert session.reports == []


def test_reports_and_requests_per_session_are_bounded(server):
    session = server.new_session("r1")
    statuses = [post_json(session.url, panel_report(n))[0] for n in (2, 3, 4, 5, 6)]
    assert statuses == [200] * MAX_REPORTS_PER_SESSION + [429] * (5 - MAX_REPORTS_PER_SESSION)
    assert session.wait_report(0).max_points == 2  # the first report is the measurement
    other = server.new_session("r2")
    statuses = [request(other.url)[0] for _ in range(MAX_REQUESTS_PER_SESSION + 2)]
    assert statuses.count(200) == MAX_REQUESTS_PER_SESSION and statuses[-1] == 429
    assert post_json(other.url, panel_report(3))[0] == 429 and other.reports == []


def test_wait_report_times_out_and_wakes_on_close(server):
    session = server.new_session("r1")
    start = time.monotonic()
    assert session.wait_report(0.2) is None
    assert 0.15 < time.monotonic() - start < 2
    threading.Timer(0.1, session.close).start()
    start = time.monotonic()
    assert session.wait_report(30) is None
    assert time.monotonic() - start < 2
    assert request(session.url)[0] == 404


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "localhost", "panel.example"])
def test_server_binds_only_a_given_ip(host):
    with pytest.raises(ValueError, match="bind|IP address"):
        TouchServer(host)


def test_ipv6_loopback():
    try:
        srv = TouchServer("::1").start()
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    try:
        session = srv.new_session("r1")
        assert session.url.startswith("http://[::1]:")
        assert request(session.url)[0] == 200
    finally:
        srv.stop()


def test_stop_is_clean_with_idle_and_excess_connections():
    before = set(threading.enumerate())
    srv = TouchServer("127.0.0.1", client_timeout_s=0.3).start()
    session = srv.new_session("r1")
    idle = [socket.create_connection((srv.bind_host, srv.port)) for _ in range(ts.MAX_CONNECTIONS)]
    try:
        time.sleep(0.1)
        with socket.create_connection((srv.bind_host, srv.port), timeout=2) as extra:
            extra.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert extra.recv(64) == b""  # over the connection cap: dropped
        time.sleep(0.6)  # idle clients time out and free their slots
        assert request(session.url)[0] == 200
        start = time.monotonic()
        srv.stop()
        assert time.monotonic() - start < 2
    finally:
        for sock in idle:
            sock.close()
        srv.stop()
    assert set(threading.enumerate()) <= before
    with pytest.raises(OSError), socket.create_connection((srv.bind_host, srv.port), timeout=1):
        pass


def test_lan_address_of_loopback_is_loopback():
    assert lan.lan_address("127.0.0.1") == "127.0.0.1"
    assert lan.lan_address("::1") == "::1"


def test_base_url_brackets_ipv6():
    assert lan.base_url("10.0.0.2", 80) == "http://10.0.0.2:80"
    assert lan.base_url("fe80::1", 8080) == "http://[fe80::1]:8080"
    assert lan.check_bind_host("::1", "the panel") == socket.AF_INET6
    with pytest.raises(ValueError, match="reaches the panel"):
        lan.check_bind_host("::", "the panel")


# ------------------------------------------------------------------ report schema ----------
@st.composite
def reports(draw) -> dict[str, Any]:
    points = draw(st.integers(0, MAX_POINTS))
    coord = st.integers(-ts.MAX_COORD, ts.MAX_COORD) | st.floats(-1e5, 1e5, allow_nan=False)
    counts = draw(st.lists(st.integers(0, points), max_size=30))
    counts.insert(draw(st.integers(0, len(counts))), points)
    times = st.integers(0, ts.MAX_TIME_MS) | st.floats(0, ts.MAX_TIME_MS)
    doc = {
        "max_points": points,
        "distinct_ids": draw(st.integers(points, ts.MAX_DISTINCT_IDS)),
        "samples": [{"t": draw(times), "n": n} for n in counts],
        "peak_xy": draw(st.lists(st.lists(coord, min_size=2, max_size=2), min_size=points,
                                 max_size=points)),
        "user_agent": draw(st.text(max_size=ts.MAX_UA)),
        "screen": {"w": draw(st.integers(0, 10000)), "h": draw(st.integers(0, 10000)),
                   "dpr": draw(st.floats(0.05, 16))},
        "touch_api": draw(st.sampled_from(["touch", "pointer"])) if points else "none",
    }
    if draw(st.booleans()):
        doc["finish"] = draw(st.sampled_from(["button", "auto"]))
    if draw(st.booleans()):
        doc["claimed_points"] = draw(st.integers(0, 1000))
    return doc


@settings(max_examples=80, deadline=None)
@given(doc=reports())
def test_schema_accepts_every_page_shaped_report(doc):
    assert parse_report(json.dumps(doc, ensure_ascii=False).encode()) == doc


@settings(max_examples=60, deadline=None)
@given(doc=reports(), field=st.sampled_from(["max_points", "distinct_ids"]),
       bad=st.one_of(st.integers(max_value=-1), st.integers(min_value=ts.MAX_DISTINCT_IDS + 1),
                     st.booleans(), st.text(max_size=3), st.none()))
def test_schema_rejects_out_of_range_counts(doc, field, bad):
    doc[field] = bad
    with pytest.raises(ReportError):
        parse_report(json.dumps(doc).encode())


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=400) | st.text(max_size=200).map(str.encode))
def test_schema_never_fails_otherwise_on_arbitrary_bytes(body):
    try:
        doc = parse_report(body)
    except ReportError:
        return
    assert isinstance(doc, dict) and 0 <= doc["max_points"] <= MAX_POINTS


# ------------------------------------------------------------------ QR --------------------
def _read_back(text: str, dark_background: bool) -> list[list[bool]]:
    halves = {" ": (False, False), "\u2580": (True, False), "\u2584": (False, True),
              "\u2588": (True, True)}
    rows: list[list[bool]] = []
    for line in text.split("\n"):
        pairs = [halves[c] for c in line]
        rows.append([top != dark_background for top, _b in pairs])
        rows.append([bottom != dark_background for _t, bottom in pairs])
    return rows


@settings(max_examples=40, deadline=None)
@given(data=st.text(min_size=1, max_size=150), dark_background=st.booleans())
def test_qr_text_renders_every_module(data, dark_background):
    matrix = qr_matrix(data)
    rows = _read_back(qr_text(data, dark_background=dark_background), dark_background)
    assert rows[: len(matrix)] == matrix
    assert len(rows) - len(matrix) in (0, 1)  # an odd count is padded with one light row
    assert not any(m for row in rows[len(matrix):] for m in row)
    assert not any(matrix[0]) and not any(row[0] for row in matrix)  # quiet zone is light


def test_qr_svg_is_a_standalone_document():
    url = "http://192.168.1.20:8080/t/abcdefghijklmnopqrstuv"
    svg = qr_svg(url, scale=8)
    root = ET.fromstring(svg.encode())
    assert root.tag.endswith("svg")
    size = len(qr_matrix(url, border=0)) + 2 * QUIET_ZONE
    assert float(root.get("width")) == size * 8 == float(root.get("height"))
    assert url in svg  # the description names what the code says
    with pytest.raises(ValueError):
        qr_text("")


# ------------------------------------------------------------------ simulated panel -------
def test_simulated_panel_reports_its_points(server):
    session = server.new_session("r1")
    with TouchPanelSim(points=5, delay_s=0.05) as panel:
        panel.open(session.url)
        report = session.wait_report(5)
        assert panel.wait(5)
    assert report is not None and report.max_points == 5 and report.touch_api == "touch"
    assert panel.visits == 1 and panel.page_status == 200 and panel.report_status == 200
    assert json.loads(panel.sent[0]) == report.raw
    assert report.user_agent == panel.user_agent


@pytest.mark.parametrize("knob, status", [("never_reports", None), ("garbage_report", 400)])
def test_simulated_panel_faults_give_no_report(server, knob, status):
    session = server.new_session("r1")
    with TouchPanelSim(points=5, delay_s=0.0, **{knob: True}) as panel:
        panel.open(session.url)
        assert panel.wait(5)
    assert panel.visits == 1 and panel.report_status == status
    assert session.wait_report(0.1) is None
    assert session.rejected == (1 if status else 0)


def test_simulated_panel_only_visits_the_touch_page_on_loopback(server):
    panel = TouchPanelSim(points=3)
    for url in ("http://192.0.2.10:80/t/x", "https://127.0.0.1/t/x", "ftp://127.0.0.1/x"):
        with pytest.raises(ValueError):
            panel.open(url)
    panel.open(server.base_url + "/t/not-a-token")
    assert panel.wait(5)
    assert panel.page_status == 404 and panel.error and panel.sent == []
    with pytest.raises(ValueError):
        TouchPanelSim(points=MAX_POINTS + 1)


def test_simulated_panel_stops_promptly(server):
    session = server.new_session("r1")
    panel = TouchPanelSim(points=4, delay_s=30)
    panel.open(session.url)
    time.sleep(0.2)
    start = time.monotonic()
    panel.stop()
    assert time.monotonic() - start < 1
    assert panel.sent == [] and session.wait_report(0) is None
    assert not [t for t in threading.enumerate() if t.name == "touch-panel-sim"]


@settings(max_examples=60, deadline=None)
@given(points=st.integers(0, MAX_POINTS), w=st.integers(320, 7680), h=st.integers(240, 4320),
       dpr=st.sampled_from([1.0, 1.25, 1.5, 2.0, 3.0]))
def test_simulated_report_is_always_page_shaped(points, w, h, dpr):
    doc = panel_report(points, (w, h, dpr))
    assert parse_report(json.dumps(doc).encode()) == doc
    assert len({tuple(p) for p in doc["peak_xy"]}) == points  # distinct places on the screen


@given(path=st.text(alphabet="abc/", max_size=20))
def test_report_path_follows_the_page_rule(path):
    assert report_path(path).endswith("/report")
    assert report_path(path) == path.rstrip("/") + "/report"
    assert report_path(path + "/") == report_path(path)


# ------------------------------------------------------------------ suite logic ------------
@settings(max_examples=60)
@given(ip=st.ip_addresses(v=4).map(str), port=st.integers(1, 65535))
def test_network_host_of_device_addresses(ip, port):
    assert suite.network_host(f"{ip}:{port}") == ip
    assert suite.network_host(ip) == ip
    assert suite.network_host(f"socket://{ip}:{port}") == ip
    assert suite.network_host(f"rfc2217://{ip}:{port}") == ip


@pytest.mark.parametrize("address, host", [
    ("[::1]:4352", "::1"), ("fe80::1", "fe80::1"), ("panel-101.school.lan:4352",
                                                    "panel-101.school.lan"),
    ("COM3", None), ("com12", None), ("/dev/ttyUSB0", None), ("loop://", None), ("", None),
    ("[]:1", None),
])
def test_network_host_edge_cases(address, host):
    assert suite.network_host(address) == host


def test_bind_host_choice(monkeypatch):
    assert suite.touch_bind_host("127.0.0.1:4352", {}) == "127.0.0.1"
    assert suite.touch_bind_host("COM3", {"touch_bind": "10.1.2.3"}) == "10.1.2.3"
    with pytest.raises(Unmeasurable, match="touch_bind"):
        suite.touch_bind_host("/dev/ttyUSB0", {})

    def no_route(_peer):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(suite, "lan_address", no_route)
    with pytest.raises(Unmeasurable, match="no network route"):
        suite.touch_bind_host("10.9.9.9:4352", {})


def test_nobody_to_touch_is_not_tested():
    quiet, person = SimpleNamespace(interactive=False), SimpleNamespace(interactive=True)
    with pytest.raises(NotTested, match="non-interactive"):
        suite.require_someone_to_touch(quiet, None, {})
    suite.require_someone_to_touch(quiet, None, {"touch_timeout_s": 600})  # waits anyway
    suite.require_someone_to_touch(quiet, TouchPanelSim(), {})  # the simulated panel touches
    suite.require_someone_to_touch(person, None, {})


@pytest.mark.parametrize("raw", ["soon", 0, -5, 10**6, True])
def test_bad_timeout_option_is_explained(raw):
    with pytest.raises(Unmeasurable, match="touch_timeout_s"):
        suite.number_option({"touch_timeout_s": raw}, "touch_timeout_s", 180, 3600)


class FakeMeasure:
    def __init__(self, folder: Path) -> None:
        self.folder, self.calls = folder, []

    def write_evidence(self, name: str, content: Any) -> Path:
        path = self.folder / name
        if isinstance(content, (dict, list)):
            content = json.dumps(content)
        path.write_text(content, encoding="utf-8")
        return path

    def __call__(self, key, value, unit=None, evidence=(), detail_en="", detail_zh=""):
        self.calls.append(SimpleNamespace(key=key, value=value, unit=unit,
                                          evidence=list(evidence), en=detail_en, zh=detail_zh))


def _run_suite(tmp_path: Path, panel: TouchPanelSim | None, **options: Any) -> FakeMeasure:
    device = Device(role="display", driver="pjlink", address="127.0.0.1:4352",
                    options=options, simulator={"kind": "pjlink"})
    room = Room(id="101", name="Room 101", seats=40, claims=("multimedia",), devices=(device,))
    campaign = SimpleNamespace(pool=SimpleNamespace(touch_panel=lambda room_id: panel),
                               device_address=lambda r, d: d.address)
    notes: list[tuple[str, str]] = []
    measure = FakeMeasure(tmp_path)
    operator = SimpleNamespace(notify=lambda en, zh: notes.append((en, zh)))
    with TouchServer("127.0.0.1") as server:
        measure.server = server
        try:
            suite.test_touch_points(campaign, room, device, operator, measure, server)
        finally:
            measure.notes = notes
    return measure


def test_suite_measures_the_points_the_panel_reports(tmp_path):
    with TouchPanelSim(points=4, delay_s=0.0) as panel:
        measure = _run_suite(tmp_path, panel, touch_timeout_s=10)
    (call,) = measure.calls
    assert (call.key, call.value, call.unit) == ("display.touch_points", 4, "points")
    report_file, qr_file = call.evidence
    assert json.loads(report_file.read_text())["report"]["max_points"] == 4
    assert qr_file.read_text().lstrip().startswith("<?xml")
    (en, zh), = measure.notes
    assert "/t/" in en and "\u2588" in en and "/t/" in zh
    assert "4 simultaneous touch points" in call.en and "4 个同时触控点" in call.zh


@pytest.mark.parametrize("panel, reason", [
    (None, "no touch report within 0.3 s"),
    (TouchPanelSim(never_reports=True, delay_s=0), "no touch report"),
    (TouchPanelSim(garbage_report=True, delay_s=0), "no touch report"),
    (TouchPanelSim(points=0, delay_s=0), "registered no touch"),
])
def test_suite_without_a_usable_report_is_unmeasurable(tmp_path, panel, reason):
    try:
        with pytest.raises(Unmeasurable, match=reason) as info:
            _run_suite(tmp_path, panel, touch_timeout_s=0.3)
    finally:
        if panel is not None:
            panel.stop()
    assert info.value.message_zh
