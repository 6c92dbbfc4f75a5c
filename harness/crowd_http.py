"""The Wi-Fi crowd test's HTTP side: request bodies, the request handler and the HTTP server.

Sessions, devices and schedules live in :mod:`classcert.crowd_server`; this module parses what
devices send and moves the bytes. It never logs request lines (they carry session tokens).

Scale: one pooled thread per connection. The downlink writes pieces whose size grows with the crowd
(``Schedule.piece_bytes``) so that 1000 devices cost a bounded number of wakeups per second;
uplink reads ask the kernel to wake the reader per batch of bytes (``SO_RCVLOWAT``), not per
packet.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import select
import socket
import struct
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import TYPE_CHECKING, Any

from classcert.crowd import bytes_for

if TYPE_CHECKING:
    from classcert.crowd_server import CrowdDevice, CrowdServer, CrowdSession

MAX_WINDOW_S = 120.0
MAX_LEAD_S = 30.0
MAX_CHUNK = 1024 * 1024  # bytes of one uplink POST
MAX_JSON = 8 * 1024
MAX_UA = 512
MAX_HINT = 128
MAX_PIECE = 256 * 1024  # largest downlink write
BANDS = ("2.4", "5", "6")
MAX_BATCH = 256 * 1024  # an uplink reader wakes once per chunk (at most this many bytes) ...
UP_EXACT_S = 0.25  # ... except in the last moments of the window: then per packet
_FILL = os.urandom(MAX_PIECE)  # incompressible payload
_NOT_FOUND = b"not found\n"
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


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


def check_bind_host(host: str) -> int:
    """The address family of ``host`` (an IP of this host; never the wildcard)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"bind_host must be an IP address of this host, got {host!r}") from None
    if ip.is_unspecified:
        raise ValueError(f"refusing to listen on every interface ({host}); bind to the address "
                         f"of the classroom network (see touch_server.lan_address())")
    return socket.AF_INET6 if ip.version == 6 else socket.AF_INET


class HttpServer(HTTPServer):
    """Connections served by a pool of reused threads, at most ``max_connections`` at once
    (later ones are closed). The accept loop takes every waiting connection per wakeup: a
    whole crowd may connect in the same instant, and starting a thread per connection would
    make the accept loop the bottleneck at a few hundred devices."""

    request_queue_size = 1024
    accept_burst = 64

    def __init__(self, owner: CrowdServer, address: tuple[str, int], family: int,
                 max_connections: int) -> None:
        self.owner = owner
        self.address_family = family
        self._slots = threading.BoundedSemaphore(max_connections)
        self._pool = ThreadPoolExecutor(max_connections, thread_name_prefix="crowd-http")
        super().__init__(address, _Handler)
        self.socket.setblocking(False)

    def _handle_request_noblock(self) -> None:
        for _ in range(self.accept_burst):
            try:
                request, client_address = self.get_request()
            except OSError:  # nobody waiting (or the connection is already gone)
                return
            if not self._slots.acquire(blocking=False):
                self.shutdown_request(request)  # too many open connections: drop this one
                continue
            try:
                self._pool.submit(self._serve, request, client_address)
            except BaseException:
                self._slots.release()
                self.shutdown_request(request)
                raise

    def _serve(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - reported like socketserver does
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            self._slots.release()

    def server_close(self) -> None:
        super().server_close()
        self._pool.shutdown(wait=True)  # handlers end within their timeouts

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # a client gone mid-answer is normal
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: HttpServer
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
        device = session.new_device(str(self.client_address[0]),
                                    self.headers.get("User-Agent", ""), {**join, "hints": hints})
        if device is None:
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
        self.wfile.flush()
        rate = sched.rate_mbps * 1e6 / 8
        size = sched.piece_bytes
        self._kernel_waits()
        start = time.monotonic()
        sent = 0
        while sent < total and not session.closed:
            now = time.monotonic()
            if now > sched.down.end + sched.grace_s:
                break
            allowed = (now - start) * rate + size - sent  # token bucket, burst of one piece
            if allowed < size and sent + allowed < total:
                time.sleep(min(0.05, (size - allowed) / rate))
                continue
            sent += self.connection.send(memoryview(_FILL)[: min(size, total - sent)])
            dev.down_sent = sent
            dev.down_span[1:] = [time.monotonic()]
            if len(dev.down_span) == 1:
                dev.down_span.insert(0, now)

    def _kernel_waits(self) -> None:
        """Blocking socket with a kernel send timeout: a write that must wait for the link
        waits inside the kernel, not in a poll loop that wakes this thread per ACK."""
        secs = max(1.0, float(self.server.owner.client_timeout_s))
        self.connection.settimeout(None)
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO,
                                   struct.pack("ll", int(secs), int(secs % 1 * 1e6)))

    def _lowat(self, size: int) -> None:
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, max(1, size))

    def _wait_readable(self, timeout_s: float) -> bool:
        poller = select.poll()
        poller.register(self.connection, select.POLLIN)
        return bool(poller.poll(max(0, math.ceil(timeout_s * 1000))))

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
        exact_from = sched.up.end - UP_EXACT_S
        timeout_s = self.server.owner.client_timeout_s
        self._unread = False
        left, counted, batched = length, 0, False
        for _ in range(length // 1024 + 4):  # bytes count when they arrive inside the window
            if left <= 0:
                break
            if batched:  # the kernel wakes this thread once the chunk's rest arrived ...
                to_exact = exact_from - time.monotonic()
                self._lowat(min(left, MAX_BATCH))
                if not self._wait_readable(min(timeout_s, max(0.0, to_exact))):
                    if to_exact >= timeout_s:
                        break  # the client stalled
                    self._lowat(1)  # ... or, near the window's end, per packet
                    batched = False
                    continue
            piece = self.rfile.read1(min(left, MAX_BATCH))
            if not piece:
                break
            left -= len(piece)
            now = time.monotonic()
            # the buffered reader is empty after its first read: the kernel can batch from here
            batched = now < exact_from
            if not batched:
                self._lowat(1)
            with session._cond:  # concurrent chunks of one device add up exactly
                if not sched.up.start <= now <= sched.up.end or dev.up_bytes + len(piece) > cap:
                    continue
                dev.up_bytes += len(piece)
                counted += len(piece)
                if not dev.up_span:
                    dev.up_span.append(max(began, sched.up.start))
                # a paced client sends one chunk per chunk_s: the chunk stands for that slot
                dev.up_span[1:] = [min(max(now, began + sched.chunk_s), sched.up.end)]
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
