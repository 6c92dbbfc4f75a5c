"""Byte transport: TCP, pyserial loop:// and socket:// URLs, deadlines, error mapping."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classcert.device_drivers import transport as tr
from classcert.device_drivers.errors import (
    DeviceDisconnected,
    DeviceProtocolError,
    DeviceTimeout,
    DeviceUnreachable,
)


class EchoServer:
    """Loopback TCP server echoing what it receives; closes a client on b"BYE"."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.05)
        self.port = self.server.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(0.05)
                while not self.stop.is_set():
                    try:
                        data = conn.recv(4096)
                    except TimeoutError:
                        continue
                    if not data or data.startswith(b"BYE"):
                        break
                    for i in range(0, len(data), 3):  # dribble: replies arrive in pieces
                        conn.sendall(data[i:i + 3])

    def __enter__(self) -> EchoServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=2)
        self.server.close()


@pytest.fixture
def echo():
    with EchoServer() as server:
        yield server


def test_tcp_read_until_and_exact(echo):
    with tr.open_transport(f"127.0.0.1:{echo.port}", timeout=1) as t:
        assert isinstance(t, tr.TcpTransport) and t.is_open
        t.write(b"%1POWR=1\r%1INPT=31\rtail")
        assert t.read_until(b"\r") == b"%1POWR=1\r"
        assert t.read_until(b"\r") == b"%1INPT=31\r"
        assert t.read_exact(4) == b"tail"
        t.write(b"one\ntwo\r")
        assert t.read_until(b"\r\n") == b"one\n"  # any byte of the set terminates
        assert t.read_until(b"\r\n") == b"two\r"
    assert not t.is_open


def test_tcp_default_port(echo):
    with tr.open_transport("127.0.0.1", timeout=1, default_port=echo.port) as t:
        t.write(b"x\r")
        assert t.read_until() == b"x\r"


def test_tcp_ipv6_loopback():
    try:
        server = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    with server:
        with tr.open_transport(f"[::1]:{server.getsockname()[1]}", timeout=1) as t:
            conn, _ = server.accept()
            with conn:
                conn.sendall(b"PJLINK 0\r")
                assert t.read_until() == b"PJLINK 0\r"


def test_tcp_timeout_is_bounded(echo):
    with tr.open_transport(f"127.0.0.1:{echo.port}", timeout=0.2) as t:
        t.write(b"no terminator")
        start = time.monotonic()
        with pytest.raises(DeviceTimeout, match="within 0.2 s"):
            t.read_until(b"\r")
        with pytest.raises(DeviceTimeout):
            t.read_exact(100, timeout=0.1)
        assert time.monotonic() - start < 1.0


def test_tcp_line_too_long(echo):
    with tr.open_transport(f"127.0.0.1:{echo.port}", timeout=1) as t:
        t.write(b"A" * 64)
        with pytest.raises(DeviceProtocolError, match="longer than 32"):
            t.read_until(b"\r", max_bytes=32)


def test_tcp_peer_close_detected(echo):
    with tr.open_transport(f"127.0.0.1:{echo.port}", timeout=1) as t:
        t.write(b"BYE")
        with pytest.raises(DeviceDisconnected, match="closed"):
            t.read_until(b"\r")
        deadline = time.monotonic() + 1
        while t.is_open and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not t.is_open


def test_tcp_refused():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    try:
        with pytest.raises(DeviceUnreachable, match="connection refused") as err:
            tr.open_transport(f"127.0.0.1:{holder.getsockname()[1]}", timeout=1)
    finally:
        holder.close()
    assert "连接被拒绝" in str(err.value)


def test_dns_failure_is_unreachable(monkeypatch):
    def fail(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(tr.socket, "create_connection", fail)
    with pytest.raises(DeviceUnreachable, match="cannot resolve host name"):
        tr.open_transport("display-101.invalid:4352", timeout=1)


def test_serial_loop_url():
    with tr.open_transport("loop://", timeout=0.5) as t:
        assert isinstance(t, tr.SerialTransport) and t.is_open
        t.write(b"\xaa\x11\x01\x00\x12%1POWR=0\r")
        assert t.read_exact(5) == b"\xaa\x11\x01\x00\x12"
        assert t.read_until(b"\r") == b"%1POWR=0\r"
        start = time.monotonic()
        with pytest.raises(DeviceTimeout):
            t.read_exact(1, timeout=0.2)
        assert time.monotonic() - start < 0.8
    assert not t.is_open


def test_serial_socket_url(echo):
    with tr.open_transport(f"socket://127.0.0.1:{echo.port}", timeout=1) as t:
        assert isinstance(t, tr.SerialTransport)
        t.write(b"%2IRES=1920x1080\r")
        assert t.read_until(b"\r") == b"%2IRES=1920x1080\r"


def test_serial_socket_url_refused():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    try:
        with pytest.raises(DeviceUnreachable, match="cannot open serial port"):
            tr.open_transport(f"socket://127.0.0.1:{holder.getsockname()[1]}", timeout=1)
    finally:
        holder.close()


def test_bad_addresses():
    for bad in ("", ":4352", "host:0", "host:99999", "host:http", "[::1", "[::1]x", "nowhere"):
        with pytest.raises(ValueError, match="invalid device address"):
            tr.parse_tcp_address(bad)
    with pytest.raises(ValueError, match="invalid device address"):
        tr.open_transport("bogus-scheme://x", timeout=1)
    with pytest.raises(ValueError):
        tr.open_transport("127.0.0.1:1", timeout=0)


@pytest.mark.parametrize(("address", "serial"), [
    ("COM3", True), ("com12", True), ("/dev/ttyUSB0", True), ("socket://h:1", True),
    ("rfc2217://h:2", True), ("loop://", True), ("192.0.2.1:4352", False), ("[::1]:4352", False),
    ("display-101:4352", False)])
def test_address_kind(address, serial):
    assert tr.is_serial_address(address) is serial


hostname_st = st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,10}){0,3}", fullmatch=True)
ipv6_st = st.ip_addresses(v=6).map(str)


@settings(max_examples=200)
@given(st.one_of(hostname_st, st.ip_addresses(v=4).map(str)), st.integers(1, 65535))
def test_parse_host_port_round_trip(host, port):
    assert tr.parse_tcp_address(f"{host}:{port}") == (host, port)
    assert tr.parse_tcp_address(host, default_port=port) == (host, port)


@settings(max_examples=100)
@given(ipv6_st, st.integers(1, 65535))
def test_parse_ipv6_round_trip(host, port):
    assert tr.parse_tcp_address(f"[{host}]:{port}") == (host, port)
    assert tr.parse_tcp_address(host, default_port=port) == (host, port)


@settings(max_examples=300)
@given(st.text(max_size=40))
def test_parse_arbitrary_text_only_raises_value_error(text):
    try:
        host, port = tr.parse_tcp_address(text, default_port=4352)
    except ValueError:
        return
    assert host and 0 < port < 65536
