"""The loopback HTTP(S) JSON server shared by the Wi-Fi controller simulators.

:class:`JsonSimBase` gives a simulator its lifecycle (``start``/``stop``/context manager,
``address``, ``url``), optional self-signed TLS as real controllers serve, a request log and
the common faults (``reply_delay_s``, ``drop_after``, ``garbage``). A subclass implements
``handle(h, method, path, body)`` and answers with ``h.json(...)`` or ``h.reply(...)``.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import secrets
import shutil
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from classcert.rigs.simulators.tracked_http import TrackedHttpServer

_MAX_BODY = 1 << 16
_MAX_DELAY_S = 30.0
_CERT_CACHE: dict[str, bytes] = {}


def _self_signed_pem() -> tuple[bytes, bytes]:
    """A throw-away certificate for 127.0.0.1/localhost (made once per process)."""
    if not _CERT_CACHE:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "classcert-wifi-sim")])
        now = datetime.datetime.now(datetime.UTC)
        san = x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                           x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=2))
                .add_extension(san, critical=False)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        _CERT_CACHE["cert"] = cert.public_bytes(serialization.Encoding.PEM)
        _CERT_CACHE["key"] = key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption())
    return _CERT_CACHE["cert"], _CERT_CACHE["key"]


class SimHandler(BaseHTTPRequestHandler):
    """Reads the request, applies the common faults, then calls ``sim.handle``."""

    protocol_version = "HTTP/1.1"
    server_version = "classcert-wifi-sim/1.0"
    timeout = 10  # idle kept-alive connections end by themselves
    sim: JsonSimBase

    def log_message(self, *args: object) -> None:
        pass

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if 0 < length <= _MAX_BODY else b""
        sim = self.sim
        with sim.lock:
            sim.requests.append((self.command, self.path))
            count = len(sim.requests)
        if sim.drop_after is not None and count > sim.drop_after:
            self.close_connection = True
            return  # no reply at all: the client sees the connection close
        if sim.reply_delay_s > 0 and sim.stopping.wait(min(sim.reply_delay_s, _MAX_DELAY_S)):
            self.close_connection = True
            return
        parts = urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        sim.handle(self, self.command, parts.path, body)

    do_GET = do_POST = do_PUT = do_DELETE = _any  # noqa: N815 - http.server API

    def reply(self, status: int, body: bytes, ctype: str,
              headers: dict[str, str] | list[tuple[str, str]] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        items = headers.items() if isinstance(headers, dict) else (headers or [])
        for name, value in items:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def json(self, status: int, doc: Any,
             headers: dict[str, str] | list[tuple[str, str]] | None = None) -> None:
        if self.sim.garbage:
            self.reply(200, b"<html>\x00\xff maintenance" + secrets.token_bytes(8),
                       "application/json", headers)
            return
        self.reply(status, json.dumps(doc).encode(), "application/json", headers)


class JsonSimBase:
    """Lifecycle shared by the controller simulators: loopback HTTP(S), faults, request log."""

    name = "wifi-controller-sim"

    def __init__(self, host: str, port: int, *, tls: bool, reply_delay_s: float,
                 drop_after: int | None, garbage: bool) -> None:
        if reply_delay_s < 0 or (drop_after is not None and drop_after < 0):
            raise ValueError("reply_delay_s and drop_after must be >= 0")
        self.host, self.port, self.tls = host, port, bool(tls)
        self.reply_delay_s, self.drop_after, self.garbage = reply_delay_s, drop_after, garbage
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.cert_path: str | None = None  # PEM of the self-signed certificate (tls only)
        self._dir: str | None = None
        self._httpd: TrackedHttpServer | None = None

    def handle(self, h: SimHandler, method: str, path: str, body: bytes) -> None:
        raise NotImplementedError

    def start(self) -> Any:
        ctx = None
        if self.tls:
            cert, key = _self_signed_pem()
            self._dir = tempfile.mkdtemp(prefix="classcert-wifi-sim-")
            self.cert_path = os.path.join(self._dir, "cert.pem")
            key_path = os.path.join(self._dir, "key.pem")
            with open(self.cert_path, "wb") as f:
                f.write(cert)
            with open(key_path, "wb") as f:
                f.write(key)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.cert_path, key_path)
        handler = type("Handler", (SimHandler,), {"sim": self})
        self._httpd = TrackedHttpServer((self.host, self.port), handler, ctx,
                                        "wifi-controller-sim-conn")
        self.port = self._httpd.server_address[1]
        self._httpd.serve_in_background(self.name)
        return self

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.address}"

    def stop(self) -> None:
        self.stopping.set()
        if self._httpd is not None:
            self._httpd.stop()
            self._httpd = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
