"""Uplink bytes count by their arrival time: the split at the window's edges."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from classcert.crowd_arrival import share_inside
from classcert.crowd_protocol import UP_RAMP_S
from classcert.crowd_server import CrowdServer

times = st.floats(-100, 100, allow_nan=False)
sizes = st.integers(0, 10_000_000)


@given(sizes, times, times, times, times)
def test_share_is_bounded_and_exact_at_the_extremes(size, a, b, c, d):
    first, last = sorted((a, b))
    start, end = sorted((c, d))
    share = share_inside(size, first, last, start, end)
    assert 0 <= share <= size
    if start <= first and last <= end:
        assert share == size  # arrived wholly inside
    if last < start or first > end:
        assert share == 0  # wholly outside


@given(sizes, times, st.floats(0.01, 100), st.floats(0, 1), st.floats(0, 1))
def test_shares_of_adjacent_windows_add_up(size, first, length, p, q):
    last = first + length
    lo, hi = sorted((p, q))
    mid_a, mid_b = first + lo * length, first + hi * length
    whole = share_inside(size, first, last, first, last)
    parts = (share_inside(size, first, last, first - 1, mid_a)
             + share_inside(size, first, last, mid_a, mid_b)
             + share_inside(size, first, last, mid_b, last + 1))
    assert whole == size
    assert size - 3 <= parts <= size


@pytest.fixture
def server() -> Iterator[CrowdServer]:
    with CrowdServer("127.0.0.1") as srv:
        yield srv


def test_a_chunk_sent_across_the_opening_counts_from_the_opening(server):
    session = server.new_session("r1", 1)
    path = session.url.split(str(server.port), 1)[1]
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("POST", path + "/join", b"{}", {"Content-Type": "application/json"})
    dev = json.loads(conn.getresponse().read())["device"]
    conn.close()
    sched = session.start(1.0, 4.0, lead_s=0)
    status = session.status_for(session.devices[dev])
    assert status["ramp_ms"] == round(UP_RAMP_S * 1000) and status["up_in_ms"] > status["ramp_ms"]
    pieces, gap = 20, 0.05  # 1 s of sending from 0.5 s before the window opens
    size = sched.chunk_bytes // pieces * pieces
    time.sleep(max(0.0, sched.up.start - 0.5 - time.monotonic()))
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.sendall(f"POST {path}/up/{dev} HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n"
                 .encode())
    began = time.monotonic()
    for n in range(pieces):
        time.sleep(max(0.0, began + n * gap - time.monotonic()))
        sock.sendall(b"u" * (size // pieces))
    answer = sock.recv(4096)
    sock.close()
    assert answer.split(b" ", 2)[1] == b"200"
    device = session.devices[dev]
    inside = (began + (pieces - 1) * gap - sched.up.start) / ((pieces - 1) * gap)
    assert device.up_bytes == pytest.approx(inside * size, abs=2 * size // pieces)
    assert device.up_bytes + device.up_refused == size
    assert device.up_span[0] == pytest.approx(sched.up.start)
