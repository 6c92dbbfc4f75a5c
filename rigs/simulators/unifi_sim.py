"""A UniFi Network controller on loopback: login, clients (stat/sta) and APs (stat/device).

Both generations are served, chosen by the ``unifi_os`` knob:

- classic controller: ``GET /`` redirects to ``/manage``; ``POST /api/login``; API under
  ``/api/s/<site>/...``; session cookie ``unifises`` plus a ``csrf_token`` cookie;
- UniFi OS console: ``GET /`` answers 200; ``POST /api/auth/login`` sets a ``TOKEN`` cookie and
  an ``X-CSRF-Token`` header; API under ``/proxy/network/api/s/<site>/...``.

Also ``GET .../api/self/sites`` and ``.../api/s/<site>/stat/sysinfo``. Replies use the
controller envelope ``{"meta": {"rc": "ok"}, "data": [...]}``. TLS (self-signed) is on by
default, as on real controllers (``tls=False`` for plain HTTP).

Population: ``clients`` (a count, or a list of tables with any of mac, ip, hostname, ssid, ap,
band, rssi_dbm, tx_rate_mbps, rx_rate_mbps, os), ``ssid``, ``aps`` (a count or list of names),
``band``, ``tx_rate_mbps``, ``rx_rate_mbps``. Faults: ``require_auth`` (False: API open),
``bad_password`` (every login rejected), ``reply_delay_s``, ``drop_after`` (from the N+1-th
request on, connections close without a reply), ``garbage`` (API replies are not JSON),
``report_only=K`` (the controller reports only K of the associated clients),
``require_csrf`` (API calls without the session's CSRF token are refused).
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import secrets
import shutil
import socket
import ssl
import tempfile
import threading
from dataclasses import dataclass
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# -- shared by the Wi-Fi controller simulators (omada_sim imports these) -----------------
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


class _Server(ThreadingHTTPServer):
    """Tracks open connections so stop() closes kept-alive ones; TLS handshake per thread."""

    daemon_threads = True

    def __init__(self, addr: tuple[str, int], handler: type, tls: ssl.SSLContext | None) -> None:
        self.tls = tls
        self.open_sockets: set[socket.socket] = set()
        self.handlers: list[threading.Thread] = []
        self._guard = threading.Lock()
        super().__init__(addr, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._guard:
            self.open_sockets.add(request)
            self.handlers = [t for t in self.handlers if t.is_alive()]
            t = threading.Thread(target=self.process_request_thread,
                                 args=(request, client_address), daemon=True,
                                 name="wifi-controller-sim-conn")
            self.handlers.append(t)
        t.start()

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is not None:
            request.settimeout(5.0)
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                return  # a client that does not speak TLS (or gives up) is just dropped
            with self._guard:
                self.open_sockets.add(request)
            try:
                super().finish_request(request, client_address)
            finally:  # the wrapped socket owns the descriptor now: close it here
                self.shutdown_request(request)
            return
        super().finish_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._guard:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def close_all(self) -> None:
        with self._guard:
            socks, threads = list(self.open_sockets), list(self.handlers)
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in threads:
            t.join(timeout=5)


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
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

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
        self._httpd = _Server((self.host, self.port), handler, ctx)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name=self.name)
        self._thread.start()
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
            self._httpd.shutdown()
            self._httpd.close_all()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Population:
    aps: list[dict[str, str]]
    clients: list[dict[str, Any]]


_CLIENT_KEYS = {"mac", "ip", "hostname", "ssid", "ap", "band", "rssi_dbm", "tx_rate_mbps",
                "rx_rate_mbps", "os"}
_OSES = ("Windows", "Android", "iOS", "ChromeOS")


def make_population(clients: int | list[dict[str, Any]], aps: int | list[str], *, ssid: str,
                    band: str, tx_rate_mbps: float, rx_rate_mbps: float) -> Population:
    """APs and associated clients (generated for a count; a list overrides field by field)."""
    names = [f"AP-{i + 1}" for i in range(aps)] if isinstance(aps, int) else list(aps)
    if not names or len(names) > 250:
        raise ValueError("aps must be 1..250 access points")
    ap_rows = [{"name": n, "mac": f"02:a0:00:00:00:{i + 1:02x}"} for i, n in enumerate(names)]
    given = [{}] * clients if isinstance(clients, int) else list(clients)
    if not 0 <= len(given) <= 4000:
        raise ValueError("clients must be 0..4000")
    rows = []
    for i, extra in enumerate(given):
        unknown = set(extra) - _CLIENT_KEYS
        if unknown:
            raise ValueError(f"unknown client keys {sorted(unknown)}; known {sorted(_CLIENT_KEYS)}")
        ap = ap_rows[i % len(ap_rows)]
        if "ap" in extra:
            ap = next((a for a in ap_rows if a["name"] == extra["ap"]), None)
            if ap is None:
                raise ValueError(f"client {i}: no AP named {extra['ap']!r}; aps are {names}")
        row = {"mac": f"02:c1:00:00:{(i + 1) >> 8:02x}:{(i + 1) & 0xFF:02x}",
               "ip": f"10.20.{(i + 10) // 250}.{(i + 10) % 250 + 1}",
               "hostname": f"student-{i + 1:03d}", "ssid": ssid, "band": band,
               "rssi_dbm": -45 - (i % 25), "tx_rate_mbps": tx_rate_mbps,
               "rx_rate_mbps": rx_rate_mbps, "os": _OSES[i % len(_OSES)]}
        row.update({k: v for k, v in extra.items() if k != "ap"})
        if row["band"] not in ("2.4", "5", "6"):
            raise ValueError(f"client {i}: band must be '2.4', '5' or '6'")
        row["ap_mac"], row["ap_name"] = ap["mac"], ap["name"]
        rows.append(row)
    return Population(ap_rows, rows)


class UnifiSim(JsonSimBase):
    """Thread-based simulator; ``start()`` returns self, ``address`` is ``127.0.0.1:PORT``."""

    name = "unifi-sim"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, password: str | None = None, *,
                 user: str = "admin", unifi_os: bool = False, site: str = "default",
                 clients: int | list[dict[str, Any]] = 10, ssid: str = "Classroom",
                 aps: int | list[str] = 2, band: str = "5", tx_rate_mbps: float = 866.7,
                 rx_rate_mbps: float = 780.0, require_auth: bool = True,
                 bad_password: bool = False, reply_delay_s: float = 0.0,
                 drop_after: int | None = None, garbage: bool = False,
                 report_only: int | None = None, require_csrf: bool = False, tls: bool = True,
                 version: str = "8.0.26") -> None:
        super().__init__(host, port, tls=tls, reply_delay_s=reply_delay_s,
                         drop_after=drop_after, garbage=garbage)
        if require_auth and not password:
            password = "ubnt"  # a controller always has an admin password
        self.user, self.password, self.unifi_os, self.site = user, password, unifi_os, site
        self.require_auth, self.bad_password = require_auth, bad_password
        self.require_csrf, self.version = require_csrf, version
        self.population = make_population(clients, aps, ssid=ssid, band=band,
                                          tx_rate_mbps=tx_rate_mbps, rx_rate_mbps=rx_rate_mbps)
        if report_only is not None and not 0 <= report_only:
            raise ValueError("report_only must be >= 0")
        self.report_only = report_only
        self.sessions: dict[str, str] = {}  # session cookie -> CSRF token
        self.logins = 0

    # -- controller behaviour ----------------------------------------------------------
    @property
    def prefix(self) -> str:
        return "/proxy/network" if self.unifi_os else ""

    @property
    def cookie_name(self) -> str:
        return "TOKEN" if self.unifi_os else "unifises"

    def expire_sessions(self) -> None:
        """Forget every session, as a controller restart or timeout does."""
        with self.lock:
            self.sessions.clear()

    def reported_clients(self) -> list[dict[str, Any]]:
        people = self.population.clients
        return people if self.report_only is None else people[: self.report_only]

    def sta_rows(self) -> list[dict[str, Any]]:
        rows = []
        for c in self.reported_clients():
            radio = {"2.4": "ng", "5": "na", "6": "6e"}[c["band"]]
            channel = {"2.4": 6, "5": 36, "6": 37}[c["band"]]
            rows.append({
                "_id": c["mac"].replace(":", "")[:24], "mac": c["mac"], "ip": c["ip"],
                "hostname": c["hostname"], "essid": c["ssid"], "ap_mac": c["ap_mac"],
                "radio": radio, "channel": channel, "radio_proto": "ax", "is_wired": False,
                "is_guest": False, "signal": c["rssi_dbm"], "rssi": c["rssi_dbm"] + 95,
                "noise": -95, "tx_rate": int(round(c["tx_rate_mbps"] * 1000)),
                "rx_rate": int(round(c["rx_rate_mbps"] * 1000)), "oui": c["os"],
                "site_id": "5f0000000000000000000001", "uptime": 600, "authorized": True,
            })
        return rows

    def device_rows(self) -> list[dict[str, Any]]:
        counts: dict[str, int] = {}
        for c in self.reported_clients():
            counts[c["ap_mac"]] = counts.get(c["ap_mac"], 0) + 1
        rows = []
        for i, ap in enumerate(self.population.aps):
            n = counts.get(ap["mac"], 0)
            rows.append({
                "_id": f"ap{i:022d}", "mac": ap["mac"], "name": ap["name"], "model": "U6PRO",
                "type": "uap", "state": 1, "adopted": True, "version": "6.6.77",
                "ip": f"10.0.0.{10 + i}", "num_sta": n, "user-num_sta": n, "guest-num_sta": 0,
                "device_id": f"ap{i:022d}", "considered_lost_at": 0,
                "radio_table": [{"name": "wifi0", "radio": "ng", "channel": 6},
                                {"name": "wifi1", "radio": "na", "channel": 36}],
            })
        return rows

    # -- HTTP ----------------------------------------------------------------------------
    def handle(self, h: SimHandler, method: str, path: str, body: bytes) -> None:
        if path == "/" and method == "GET":
            if self.unifi_os:
                h.reply(200, b"<html><title>UniFi OS</title></html>", "text/html")
            else:
                h.reply(302, b"", "text/html", {"Location": "/manage"})
            return
        login = "/api/auth/login" if self.unifi_os else "/api/login"
        if path == login and method == "POST":
            self._login(h, body)
            return
        if path in ("/api/login", "/api/auth/login"):  # the other generation's login
            h.reply(404, b"Not Found", "text/plain")
            return
        if not path.startswith(self.prefix + "/api/"):
            h.reply(404, b"Not Found", "text/plain")
            return
        api = path[len(self.prefix):]
        if self.require_auth and not self._session_ok(h):
            if self.unifi_os:
                h.reply(401, b'{"error":{"code":401,"message":"Unauthorized"}}',
                        "application/json")
            else:
                h.json(401, _envelope([], error="api.err.LoginRequired"))
            return
        if api == "/api/self/sites":
            h.json(200, _envelope([{"_id": "5f0000000000000000000001", "name": self.site,
                                    "desc": "Default", "role": "admin"}]))
            return
        site_path = f"/api/s/{self.site}/"
        if not api.startswith(site_path):
            if api.startswith("/api/s/"):
                h.json(400, _envelope([], error="api.err.NoSiteContext"))
            else:
                h.reply(404, b"Not Found", "text/plain")
            return
        table = {
            "stat/sta": self.sta_rows,
            "stat/device": self.device_rows,
            "stat/sysinfo": lambda: [{"version": self.version, "name": "Network",
                                      "hostname": "unifi-sim", "timezone": "Asia/Shanghai"}],
        }
        rows = table.get(api[len(site_path):])
        if rows is None:
            h.json(404, _envelope([], error="api.err.NotFound"))
            return
        h.json(200, _envelope(rows()))

    def _login(self, h: SimHandler, body: bytes) -> None:
        try:
            doc = json.loads(body or b"{}")
        except ValueError:
            doc = {}
        ok = (isinstance(doc, dict) and not self.bad_password and doc.get("username") == self.user
              and doc.get("password") == self.password)
        if not ok:
            if self.unifi_os:
                h.json(401, {"code": "AUTHENTICATION_FAILED_INVALID_CREDENTIALS",
                             "message": "Invalid username or password"})
            else:
                h.json(400, _envelope([], error="api.err.Invalid"))
            return
        session, csrf = secrets.token_hex(16), secrets.token_hex(16)
        with self.lock:
            self.sessions[session] = csrf
            self.logins += 1
        headers = [("Set-Cookie", f"{self.cookie_name}={session}; Path=/; HttpOnly"),
                   ("X-CSRF-Token", csrf)]
        if not self.unifi_os:
            headers.append(("Set-Cookie", f"csrf_token={csrf}; Path=/"))
        payload = ({"username": self.user, "isOwner": True} if self.unifi_os
                   else _envelope([]))
        h.json(200, payload, headers)

    def _session_ok(self, h: SimHandler) -> bool:
        jar = SimpleCookie()
        try:
            jar.load(h.headers.get("Cookie", ""))
        except Exception:  # noqa: BLE001 - a malformed cookie is just no session
            return False
        morsel = jar.get(self.cookie_name)
        with self.lock:
            csrf = self.sessions.get(morsel.value) if morsel else None
        if csrf is None:
            return False
        return not self.require_csrf or h.headers.get("X-CSRF-Token") == csrf


def _envelope(data: list[dict[str, Any]], error: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"rc": "error", "msg": error} if error else {"rc": "ok"}
    return {"meta": meta, "data": data}
