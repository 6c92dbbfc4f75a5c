"""The Wi-Fi crowd test's web server: devices join a session, then all move data at once.

Protocol (every path carries the session token; anything else answers 404 and stores nothing):

* ``GET  /c/<token>``                 the page (``crowd_page.html``)
* ``POST /c/<token>/join``            JSON ``{agent, hints, max_touch_points, band}``
* ``GET  /c/<token>/status/<device>`` short poll: joined/target, and once started the schedule
  (``down_in_ms``, ``up_in_ms``, ``window_ms``, ``rate_bps``, ``chunk_bytes``, ``chunk_ms``,
  ``chunks_in_flight``, ``ramp_ms``: start the uplink this early so the link is full when the
  window opens)
* ``GET  /c/<token>/down/<device>``   held until the downlink window opens, then bytes paced at
  the offered rate (token bucket), at most rate x window in total
* ``POST /c/<token>/up/<device>``     one paced uplink chunk (Content-Length <= ``MAX_CHUNK``),
  at most ``chunks_in_flight`` of one device at once (more answer 429); the server counts the
  bytes that arrive inside the uplink window (by the kernel's arrival times)
* ``POST /c/<token>/report/<device>`` JSON ``{down_bytes, down_ms}``: bytes the page received

Server-side numbers win where the server can know them (uplink; downlink is capped by what
the server sent). Bounded everywhere: devices, requests, body sizes, rates and durations.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
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
from classcert.crowd_http import HttpServer
from classcert.crowd_protocol import (
    BANDS,
    CHUNK_S,
    MAX_CHUNK,
    MAX_HINT,
    MAX_JSON,
    MAX_LEAD_S,
    MAX_UA,
    MAX_WINDOW_S,
    PIECE,
    UP_IN_FLIGHT,
    UP_RAMP_S,
    CrowdError,
    pacing,
    parse_join,
    parse_report,
)
from classcert.page_server import PageServer

__all__ = [
    "BANDS", "MAX_CHUNK", "MAX_DEVICES", "MAX_HINT", "MAX_JSON", "MAX_LEAD_S", "MAX_RATE_MBPS",
    "MAX_UA", "MAX_WINDOW_S", "PAGE_MARKER", "CrowdDevice", "CrowdError", "CrowdServer",
    "CrowdSession", "Schedule", "parse_join", "parse_report",
]

MAX_DEVICES = 1200
MAX_RATE_MBPS = 50.0
MAX_SESSIONS = 16
MAX_PAGE_REQUESTS = 4 * MAX_DEVICES  # page loads and joins of one session
MAX_DEVICE_REQUESTS = 3000  # polls, chunks and reports of one device
MAX_CONNECTIONS = UP_IN_FLIGHT * MAX_DEVICES + 64  # every device's uplink chunks at once
GAP_S = 1.5  # between the downlink and the uplink window (longer than UP_RAMP_S)
GRACE_S = 1.0  # the downlink may run this long past its window when the link is slow
PAGE_MARKER = '<meta name="classcert-page" content="crowd-test/1">'
_PATH = re.compile(r"/c/([A-Za-z0-9_-]{16,64})(?:/(join)|/(status|down|up|report)/([a-f0-9]{32}))?")


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class Schedule:
    """When the two common windows open, on the server's monotonic clock."""

    window_s: float
    rate_mbps: float
    down: Window
    up: Window
    chunk_s: float = CHUNK_S  # uplink: one chunk per this many seconds
    piece_bytes: int = PIECE  # downlink: bytes per write
    grace_s: float = GRACE_S

    @property
    def rate_bps(self) -> int:
        return int(self.rate_mbps * 1e6)

    @property
    def chunk_bytes(self) -> int:
        return max(1, min(MAX_CHUNK, bytes_for(self.rate_mbps, self.chunk_s)))


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
        self.up_open = 0  # uplink chunks being received now
        self.up_busy = 0  # chunks refused (429): chunks_in_flight already open
        self.up_broken = 0  # chunks that ended before their Content-Length
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

    def new_device(self, client: str, user_agent: str,
                   join: dict[str, Any]) -> CrowdDevice | None:
        """Record a parsed join; None when the session is full, started or closed."""
        dev = CrowdDevice(client, user_agent, join)
        return dev if self.add_device(dev) else None

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
            chunk_s, piece = pacing(len(self.devices), rate_mbps, window_s)
            self.schedule = Schedule(float(window_s), float(rate_mbps), down, up, chunk_s, piece)
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
                chunk_bytes=sched.chunk_bytes, chunk_ms=round(sched.chunk_s * 1000),
                chunks_in_flight=UP_IN_FLIGHT, ramp_ms=round(UP_RAMP_S * 1000),
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


class CrowdServer(PageServer[CrowdSession]):
    """The crowd-test web server (an asyncio loop on a background thread). Use as a context
    manager. ``start()`` creates the listening socket in the calling thread's network
    namespace."""

    kind, page_file, page_marker = "crowd", "crowd_page.html", PAGE_MARKER
    reaches, max_sessions = "the classroom's devices", MAX_SESSIONS

    def __init__(self, bind_host: str = "127.0.0.1", port: int = 0,
                 client_timeout_s: float = 10.0) -> None:
        super().__init__(bind_host, port, client_timeout_s)

    def _make_httpd(self, address: tuple[str, int], family: int) -> HttpServer:
        return HttpServer(self, address, family, MAX_CONNECTIONS)

    @property
    def dropped_connections(self) -> int:
        """Connections closed unanswered because MAX_CONNECTIONS were already open."""
        httpd = self._httpd
        return httpd.dropped if isinstance(httpd, HttpServer) else 0

    def new_session(self, room_id: str, target: int) -> CrowdSession:
        return self._open(CrowdSession, room_id, target)

    def route(self, path: str) -> tuple[CrowdSession, str, str] | None:
        """(session, action, device id) of a request path, or None (-> 404)."""
        match = _PATH.fullmatch(urlsplit(path).path)
        if match is None:
            return None
        session = self.lookup(match.group(1))
        if session is None:
            return None
        action = match.group(2) or match.group(3) or "page"
        return session, action, match.group(4) or ""

    def page(self, session: CrowdSession) -> bytes:
        return self._page.replace("{{TARGET}}", str(session.target)).encode("utf-8")
