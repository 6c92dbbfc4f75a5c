"""Network probes of devices classcert cannot drive (cloud terminals, class signs)."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from classcert.device_drivers.errors import DeviceUnreachable
from classcert.device_drivers.reachability import probe


class _Page(BaseHTTPRequestHandler):
    def version_string(self) -> str:
        return "ct-agent/2.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        body = b"<html><head><title>Cloud Terminal CT-200</title></head></html>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_probe_identifies(http_server):
    res = probe("http", http_server, timeout=2)
    assert res.status == 200 and res.server == "ct-agent/2.1"
    assert res.title == "Cloud Terminal CT-200"
    assert "CT-200" in res.describe()


def test_tcp_probe_and_refusal(http_server):
    assert probe("tcp", http_server, timeout=2).kind == "tcp"
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: refused
    try:
        with pytest.raises(DeviceUnreachable, match="cannot connect"):
            probe("tcp", f"127.0.0.1:{closed.getsockname()[1]}", timeout=2)
    finally:
        closed.close()


def test_unknown_probe_driver():
    with pytest.raises(ValueError, match="tcp or http"):
        probe("snmp", "127.0.0.1:161")
