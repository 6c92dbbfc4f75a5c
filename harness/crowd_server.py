"""The Wi-Fi crowd test's web server: devices join a session, then all move data at once.

Protocol (every path carries the session token; anything else answers 404 and stores nothing):

* ``GET  /c/<token>``                 the page (``crowd_page.html``)
* ``POST /c/<token>/join``            JSON ``{agent, hints, max_touch_points, band}``
* ``GET  /c/<token>/status/<device>`` short poll: joined/target, and once started the schedule
  (``down_in_ms``, ``up_in_ms``, ``window_ms``, ``rate_bps``, ``chunk_bytes``)
* ``GET  /c/<token>/down/<device>``   held until the downlink window opens, then bytes paced at
  the offered rate (token bucket), at most rate x window in total
* ``POST /c/<token>/up/<device>``     one paced uplink chunk (Content-Length <= ``MAX_CHUNK``);
  the server counts the bytes that arrive inside the uplink window
* ``POST /c/<token>/report/<device>`` JSON ``{down_bytes, down_ms}``: bytes the page received

Server-side numbers win where the server can know them (uplink; downlink is capped by what
the server sent). Bounded everywhere: devices, requests, body sizes, rates and durations.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
import socket
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from classcert.client_os import ClientOS, detect_os
from classcert.crowd import (
    EMULATED,
    REAL_DEVICES,
    CrowdResult,
    DeviceResult,
    DeviceTransfer,
    Window,
    bytes_for,
)

MAX_DEVICES = 300
MAX_WINDOW_S = 120.0
MAX_LEAD_S = 30.0
MAX_RATE_MBPS = 50.0
MAX_CHUNK = 1024 * 1024  # bytes of one uplink POST
MAX_JSON = 8 * 1024
MAX_UA = 512
MAX_HINT = 128
MAX_SESSIONS = 16
MAX_PAGE_REQUESTS = 4 * MAX_DEVICES  # page loads and joins of one session
MAX_DEVICE_REQUESTS = 3000  # polls, chunks and reports of one device
CHUNK_S = 0.25  # each uplink chunk carries this many seconds of the offered rate
GAP_S = 1.0  # between the downlink and the uplink window
GRACE_S = 1.0  # late uplink bytes still counted after the window closes
PIECE = 16 * 1024  # downlink write size; also the token bucket's burst
BANDS = ("2.4", "5", "6")
PAGE_MARKER = '<meta name="classcert-page" content="crowd-test/1">'
_PATH = re.compile(r"/c/([A-Za-z0-9_-]{16,64})(?:/(join)|/(status|down|up|report)/([a-f0-9]{32}))?")
MAX_CONNECTIONS = MAX_DEVICES + 64
_FILL = os.urandom(PIECE)  # incompressible payload
_NOT_FOUND = b"not found\n"
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class CrowdError(ValueError):
    """A request body does not match the protocol (the message says why)."""


def _json_object(body: bytes) -> dict[str, Any]:
    if len(body) > MAX_JSON:
        raise CrowdError(f"body larger than {MAX_JSON} bytes")
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_reject)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CrowdError(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CrowdError("body must be a JSON object")
    return data


def _reject(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def parse_join(body: bytes) -> dict[str, Any]:
    """Validate a join body; returns {agent, hints, max_touch_points, band}."""
    data = _json_object(body)
    extra = set(data) - {"agent", "hints", "max_touch_points", "band"}
    if extra:
        raise CrowdError(f"unknown join fields {sorted(extra)}")
    agent = data.get("agent", "browser")
    if agent not in ("browser", "emulated"):
        raise CrowdError("agent must be 'browser' or 'emulated'")
    hints = data.get("hints") or {}
    if not isinstance(hints, dict) or len(hints) > 8 or not all(
        isinstance(k, str) and len(k) <= 32 and isinstance(v, (str, bool))
        and len(str(v)) <= MAX_HINT for k, v in hints.items()
    ):
        raise CrowdError("hints must be an object of at most 8 short strings or booleans")
    mtp = data.get("max_touch_points")
    if mtp is not None and (isinstance(mtp, bool) or not isinstance(mtp, int)
                            or not 0 <= mtp <= 100):
        raise CrowdError("max_touch_points must be an integer in [0, 100]")
    band = data.get("band")
    if band is not None and band not in BANDS:
        raise CrowdError(f"band must be one of {BANDS} or absent")
    return {"agent": agent, "hints": hints, "max_touch_points": mtp, "band": band}


def parse_report(body: bytes, window_s: float) -> tuple[int, float, str | None]:
    """Validate a page's downlink report; returns (bytes received, milliseconds, band)."""
    data = _json_object(body)
    if not {"down_bytes", "down_ms"} <= set(data) <= {"down_bytes", "down_ms", "band"}:
        raise CrowdError("report must have down_bytes, down_ms and optionally band")
    band = data.get("band")
    if band is not None and band not in BANDS:
        raise CrowdError(f"band must be one of {BANDS} or absent")
    got, ms = data["down_bytes"], data["down_ms"]
    if isinstance(got, bool) or not isinstance(got, int) or not 0 <= got <= 10**10:
        raise CrowdError("down_bytes must be an integer in [0, 1e10]")
    if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not 0 <= ms <= (
            window_s + MAX_LEAD_S) * 1000:
        raise CrowdError("down_ms must be a number of milliseconds within the window")
    return got, float(ms), band


@dataclass
class Schedule:
    """When the two common windows open, on the server's monotonic clock."""

    window_s: float
    rate_mbps: float
    down: Window
    up: Window

    @property
    def rate_bps(self) -> int:
        return int(self.rate_mbps * 1e6)

    @property
    def chunk_bytes(self) -> int:
        return max(1, min(MAX_CHUNK, bytes_for(self.rate_mbps, CHUNK_S)))


class CrowdDevice:
    """One joined device and what the server saw of it."""

    def __init__(self, client: str, user_agent: str, join: dict[str, Any]) -> None:
        self.id = secrets.token_hex(16)
        self.client = client
        self.user_agent = user_agent[:MAX_UA]
        self.hints: dict[str, Any] = join["hints"]
        self.os: ClientOS = detect_os(self.user_agent, self.hints, join["max_touch_points"])
        self.band: str | None = join["band"]
        self.agent: str = join["agent"]
        self.joined_at = _now_iso()
        self.requests = 0
        self.down_started = False
        self.down_sent = 0
        self.down_span: list[float] = []  # first and last write
        self.down_report: tuple[int, float] | None = None
        self.up_bytes = 0  # inside the window
        self.up_refused = 0
        self.up_span: list[float] = []

    def result(self, sched: Schedule | None) -> DeviceResult:
        down = up = None
        if sched is not None and self.down_report is not None and self.down_span:
            got = min(self.down_report[0], self.down_sent)
            secs = max(self.down_report[1] / 1000, sched.window_s)
            down = DeviceTransfer(got, got * 8 / secs / 1e6,
                                  Window(self.down_span[0], self.down_span[-1]), "client")
        if sched is not None and self.up_span:
            up = DeviceTransfer(self.up_bytes, self.up_bytes * 8 / sched.window_s / 1e6,
                                Window(self.up_span[0], self.up_span[-1]), "server")
        return DeviceResult(
            device=self.id[:8], os_family=self.os.family, os_version=self.os.version,
            band=self.band, load_generator=EMULATED if self.agent == "emulated" else REAL_DEVICES,
            client=self.client, joined_at=self.joined_at, down=down, up=up,
        )


class CrowdSession:
    """One crowd test: a token, its URL, the joined devices and the common windows."""

    def __init__(self, base_url: str, room_id: str, target: int) -> None:
        if not 1 <= int(target) <= MAX_DEVICES:
            raise ValueError(f"target must be in [1, {MAX_DEVICES}]")
        self.token = secrets.token_urlsafe(24)
        self.room_id = room_id
        self.target = int(target)
        self.url = f"{base_url}/c/{self.token}"
        self.created_at = _now_iso()
        self.devices: dict[str, CrowdDevice] = {}
        self.page_requests = 0
        self.rejected = 0
        self.schedule: Schedule | None = None
        self._cond = threading.Condition()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def count_page_request(self) -> bool:
        with self._cond:
            self.page_requests += 1
            return self.page_requests <= MAX_PAGE_REQUESTS

    def device(self, device_id: str) -> CrowdDevice | None:
        with self._cond:
            dev = self.devices.get(device_id)
            if dev is not None:
                dev.requests += 1
        return dev if dev is not None and dev.requests <= MAX_DEVICE_REQUESTS else None

    def add_device(self, dev: CrowdDevice) -> bool:
        with self._cond:
            if self._closed or self.schedule is not None or len(self.devices) >= MAX_DEVICES:
                return False
            self.devices[dev.id] = dev
            self._cond.notify_all()
            return True

    def joined(self) -> int:
        with self._cond:
            return len(self.devices)

    def wait_joined(self, count: int, timeout_s: float) -> int:
        """Wait until ``count`` devices joined (or timeout); returns how many did."""
        with self._cond:
            self._cond.wait_for(lambda: len(self.devices) >= count or self._closed,
                                max(0.0, timeout_s))
            return len(self.devices)

    def start(self, window_s: float, rate_mbps: float, lead_s: float = 3.0) -> Schedule:
        """Schedule both windows; devices learn it at their next poll (lead_s >= poll period)."""
        if not 0 < window_s <= MAX_WINDOW_S:
            raise ValueError(f"window_s must be in (0, {MAX_WINDOW_S:g}]")
        if not 0 < rate_mbps <= MAX_RATE_MBPS:
            raise ValueError(f"rate_mbps must be in (0, {MAX_RATE_MBPS:g}]")
        if not 0 <= lead_s <= MAX_LEAD_S:
            raise ValueError(f"lead_s must be in [0, {MAX_LEAD_S:g}]")
        with self._cond:
            if self.schedule is not None:
                raise RuntimeError("this crowd session was already started")
            t0 = time.monotonic() + lead_s
            down = Window(t0, t0 + window_s)
            up = Window(down.end + GAP_S, down.end + GAP_S + window_s)
            self.schedule = Schedule(float(window_s), float(rate_mbps), down, up)
            self._cond.notify_all()
            return self.schedule

    def finished(self) -> bool:
        """Every joined device reported its downlink and the uplink window closed."""
        sched = self.schedule
        if sched is None:
            return False
        over = time.monotonic() >= sched.up.end + GRACE_S
        return over and all(d.down_report is not None for d in self.devices.values())

    def wait_done(self, timeout_s: float) -> bool:
        """Wait for :meth:`finished` (polls, bounded by ``timeout_s``)."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        while not self.finished() and not self._closed:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(0.1, left))
        return self.finished()

    def status_for(self, dev: CrowdDevice) -> dict[str, Any]:
        doc: dict[str, Any] = {"joined": self.joined(), "target": self.target,
                               "state": "waiting"}
        sched, now = self.schedule, time.monotonic()
        if self._closed:
            doc["state"] = "closed"
        elif sched is not None:
            doc.update(
                state="running" if now < sched.up.end + GRACE_S else "done",
                down_in_ms=round((sched.down.start - now) * 1000),
                up_in_ms=round((sched.up.start - now) * 1000),
                window_ms=round(sched.window_s * 1000), rate_bps=sched.rate_bps,
                chunk_bytes=sched.chunk_bytes, chunk_ms=round(CHUNK_S * 1000),
            )
        doc["you"] = {"os": dev.os.label, "down_reported": dev.down_report is not None,
                      "up_mbps": round(dev.up_bytes * 8 / sched.window_s / 1e6, 2)
                      if sched else 0.0}
        return doc

    def progress(self) -> dict[str, Any]:
        """Live view for the operator: joined against target, per-device rates so far."""
        sched = self.schedule
        with self._cond:
            devices = list(self.devices.values())
        return {"joined": len(devices), "target": self.target,
                "started": sched is not None,
                "devices": [{"device": d.id[:8], "os": d.os.label, "band": d.band,
                             "down_sent_mb": round(d.down_sent / 1e6, 2),
                             "up_mb": round(d.up_bytes / 1e6, 2)} for d in devices]}

    def result(self) -> CrowdResult:
        sched = self.schedule
        if sched is None:
            raise RuntimeError("the crowd session was never started")
        with self._cond:
            devices = list(self.devices.values())
        t0 = sched.down.start
        shifted = Schedule(sched.window_s, sched.rate_mbps,
                           Window(0.0, sched.down.length),
                           Window(sched.up.start - t0, sched.up.end - t0))
        results = []
        for dev in devices:
            res = dev.result(sched)
            results.append(DeviceResult(**{**res.__dict__, "down": _shift(res.down, t0),
                                           "up": _shift(res.up, t0)}))
        return CrowdResult(room=self.room_id, target=self.target, rate_mbps=sched.rate_mbps,
                           window_s=sched.window_s, down_window=shifted.down,
                           up_window=shifted.up, devices=tuple(results))

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def _shift(t: DeviceTransfer | None, t0: float) -> DeviceTransfer | None:
    if t is None or t.span is None:
        return t
    span = Window(round(t.span.start - t0, 4), round(t.span.end - t0, 4))
    return DeviceTransfer(t.received_bytes, round(t.mbps, 4), span, t.measured_by)


class CrowdServer:
    """The crowd-test web server on a background thread. Use as a context manager."""

    def __init__(self, bind_host: str = "127.0.0.1", port: int = 0,
                 client_timeout_s: float = 10.0) -> None:
        self.bind_host = bind_host
        self._family = _check_bind_host(bind_host)
        self.port = port
        self.client_timeout_s = client_timeout_s
        self._sessions: dict[str, CrowdSession] = {}
        self._lock = threading.Lock()
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._page = resources.files("classcert").joinpath("crowd_page.html").read_text("utf-8")
        if PAGE_MARKER not in self._page:
            raise RuntimeError("crowd_page.html lacks its page marker (broken installation)")

    @property
    def base_url(self) -> str:
        host = f"[{self.bind_host}]" if ":" in self.bind_host else self.bind_host
        return f"http://{host}:{self.port}"

    def start(self) -> CrowdServer:
        if self._httpd is None:
            self._httpd = _HttpServer(self, (self.bind_host, self.port), self._family)
            self.port = self._httpd.server_address[1]
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                name=f"crowd-server:{self.port}", daemon=True)
            self._thread.start()
        return self

    def new_session(self, room_id: str, target: int) -> CrowdSession:
        if self._httpd is None:
            raise RuntimeError("start the CrowdServer before opening sessions")
        with self._lock:
            for token in [t for t, s in self._sessions.items() if s.closed]:
                del self._sessions[token]
            if len(self._sessions) >= MAX_SESSIONS:
                raise RuntimeError(f"more than {MAX_SESSIONS} open crowd sessions")
            session = CrowdSession(self.base_url, room_id, target)
            self._sessions[session.token] = session
        return session

    def route(self, path: str) -> tuple[CrowdSession, str, str] | None:
        """(session, action, device id) of a request path, or None (-> 404)."""
        match = _PATH.fullmatch(urlsplit(path).path)
        if match is None:
            return None
        with self._lock:
            session = self._sessions.get(match.group(1))
        if session is None or session.closed:
            return None
        action = match.group(2) or match.group(3) or "page"
        return session, action, match.group(4) or ""

    def page(self, session: CrowdSession) -> bytes:
        return self._page.replace("{{TARGET}}", str(session.target)).encode("utf-8")

    def stop(self) -> None:
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for session in sessions:
            session.close()
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> CrowdServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()



def _check_bind_host(host: str) -> int:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"bind_host must be an IP address of this host, got {host!r}") from None
    if ip.is_unspecified:
        raise ValueError(f"refusing to listen on every interface ({host}); bind to the address "
                         f"of the classroom network (see touch_server.lan_address())")
    return socket.AF_INET6 if ip.version == 6 else socket.AF_INET


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins handler threads (bounded by their timeout)
    request_queue_size = 128
    block_on_close = True

    def __init__(self, owner: CrowdServer, address: tuple[str, int], family: int) -> None:
        self.owner = owner
        self.address_family = family
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # too many open connections: drop this one
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # a client gone mid-answer is normal
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    server_version = "classcert-crowd"
    sys_version = ""
    protocol_version = "HTTP/1.0"

    def setup(self) -> None:
        self.timeout = self.server.owner.client_timeout_s
        self._unread = True
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # request lines carry session tokens: never log them

    def _length(self) -> int:
        try:
            return int(self.headers.get("Content-Length", ""))
        except ValueError:
            return -1

    def _discard(self) -> None:
        left, self._unread = (self._length() if self._unread else 0), False
        left = left if 0 < left <= MAX_CHUNK else 0
        while left > 0:
            chunk = self.rfile.read(min(left, 65536))
            if not chunk:
                break
            left -= len(chunk)

    def _head(self, status: int, ctype: str, length: int,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(length))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()

    def _send(self, status: int, body: bytes, ctype: str = "text/plain; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        self._discard()  # an unread request body would turn the close into a reset
        self._head(status, ctype, len(body), headers)
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, doc: dict[str, Any]) -> None:
        self._send(status, json.dumps(doc).encode(), "application/json")

    def _checked_length(self, limit: int) -> int | None:
        length = self._length()
        if length < 0 or self.headers.get("Transfer-Encoding"):
            self._json(411, {"error": "send a valid Content-Length"})
            return None
        if length > limit:
            self._json(413, {"error": f"body larger than {limit} bytes"})
            return None
        return length

    def _body(self, limit: int) -> bytes | None:
        length = self._checked_length(limit)
        if length is None:
            return None
        self._unread = False
        return self.rfile.read(length)

    def _route(self) -> None:
        routed = self.server.owner.route(self.path)
        if routed is None:
            self._send(404, _NOT_FOUND)
            return
        session, action, dev_id = routed
        dev = None
        if action in ("page", "join"):
            if not session.count_page_request():
                self._json(429, {"error": "too many requests for this session"})
                return
        else:
            dev = session.device(dev_id)
            if dev is None:
                self._send(404, _NOT_FOUND)
                return
        method = "GET" if action in ("page", "status", "down") else "POST"
        if self.command != method:
            self._send(405, b"method not allowed\n", headers={"Allow": method})
            return
        getattr(self, f"_do_{action}")(session, dev)

    def _do_page(self, session: CrowdSession, dev: None) -> None:
        self._send(200, self.server.owner.page(session), "text/html; charset=utf-8",
                   _PAGE_HEADERS)

    def _do_join(self, session: CrowdSession, dev: None) -> None:
        body = self._body(MAX_JSON)
        if body is None:
            return
        try:
            join = parse_join(body)
        except CrowdError as exc:
            session.rejected += 1
            self._json(400, {"error": str(exc)})
            return
        hints = {**join["hints"], **{k: v for k, v in self.headers.items()
                                     if k.lower().startswith("sec-ch-ua") and len(v) <= MAX_HINT}}
        device = CrowdDevice(str(self.client_address[0]), self.headers.get("User-Agent", ""),
                             {**join, "hints": hints})
        if not session.add_device(device):
            self._json(409, {"error": "the session is full, started or closed"})
            return
        self._json(200, {"device": device.id, "os": device.os.label, "target": session.target})

    def _do_status(self, session: CrowdSession, dev: CrowdDevice) -> None:
        self._json(200, session.status_for(dev))

    def _do_down(self, session: CrowdSession, dev: CrowdDevice) -> None:
        sched = session.schedule
        now = time.monotonic()
        with session._cond:  # one downlink per device
            refused = sched is None or now >= sched.down.end or dev.down_started
            dev.down_started = True
        if refused or sched is None:
            self._json(409, {"error": "no downlink window open for this device"})
            return
        time.sleep(max(0.0, sched.down.start - now))  # bounded by MAX_LEAD_S
        total = bytes_for(sched.rate_mbps, sched.window_s)
        self._head(200, "application/octet-stream", total)
        rate = sched.rate_mbps * 1e6 / 8
        start = time.monotonic()
        sent = 0
        while sent < total and not session.closed:
            now = time.monotonic()
            if now > sched.down.end + GRACE_S:
                break
            allowed = (now - start) * rate + PIECE - sent  # token bucket, burst of one piece
            if allowed < PIECE and sent + allowed < total:
                time.sleep(min(0.05, (PIECE - allowed) / rate))
                continue
            piece = _FILL[: min(PIECE, total - sent)]
            self.wfile.write(piece)
            sent += len(piece)
            dev.down_sent = sent
            dev.down_span[1:] = [time.monotonic()]
            if len(dev.down_span) == 1:
                dev.down_span.insert(0, now)

    def _do_up(self, session: CrowdSession, dev: CrowdDevice) -> None:
        sched = session.schedule
        if sched is None:
            self._json(409, {"error": "the test has not started"})
            return
        began = time.monotonic()
        length = self._checked_length(min(MAX_CHUNK, 2 * sched.chunk_bytes))
        if length is None:
            return
        cap = bytes_for(sched.rate_mbps, sched.window_s) * 5 // 4 + MAX_CHUNK
        self._unread = False
        left, counted = length, 0
        for _ in range(length // 1024 + 2):  # bytes count when they arrive inside the window
            piece = self.rfile.read1(min(left, 65536)) if left > 0 else b""
            if not piece:
                break
            left -= len(piece)
            now = time.monotonic()
            with session._cond:  # concurrent chunks of one device add up exactly
                if not sched.up.start <= now <= sched.up.end or dev.up_bytes + len(piece) > cap:
                    continue
                dev.up_bytes += len(piece)
                counted += len(piece)
                if not dev.up_span:
                    dev.up_span.append(max(began, sched.up.start))
                # a paced client sends one chunk per CHUNK_S: the chunk stands for that slot
                dev.up_span[1:] = [min(max(now, began + CHUNK_S), sched.up.end)]
        dev.up_refused += length - left - counted
        if left:
            self.close_connection = True
            return
        status = 200 if counted else 409
        self._json(status, {"counted": counted, "error": "" if counted else
                            "outside the uplink window"})

    def _do_report(self, session: CrowdSession, dev: CrowdDevice) -> None:
        body = self._body(MAX_JSON)
        if body is None:
            return
        sched = session.schedule
        try:
            if sched is None:
                raise CrowdError("the test has not started")
            report = parse_report(body, sched.window_s)
        except CrowdError as exc:
            session.rejected += 1
            self._json(400, {"error": str(exc)})
            return
        if dev.down_report is not None:
            self._json(409, {"error": "this device already reported"})
            return
        dev.down_report = report[:2]
        dev.band = report[2] or dev.band
        self._json(200, {"ok": True})

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _route
