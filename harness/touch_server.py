"""A small HTTP server that proves multi-touch with touches on the panel itself.

The harness opens a :class:`TouchSession`; the operator opens its URL in the panel's own
browser, which loads ``touch_page.html``. The page counts simultaneous touch points and POSTs
one JSON report to ``/t/<token>/report``. The server knows nothing of limits or verdicts.

Safety: every path without a valid session token answers 404 with the same body; request
bodies are capped at :data:`MAX_BODY`; reports are validated against a strict schema with
bounded numbers; each session accepts few requests and few reports; the server binds only
the IP address it is given (never a wildcard).
"""

from __future__ import annotations

import json
import re
import secrets
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from classcert.page_server import PageServer

MAX_BODY = 64 * 1024  # bytes of one report
MAX_DISCARD = 256 * 1024  # bytes of a too-large body read and dropped before answering 413
MAX_POINTS = 100  # more simultaneous touches than any panel has
MAX_DISTINCT_IDS = 100_000
MAX_SAMPLES = 256
MAX_COORD = 100_000  # CSS pixels
MAX_TIME_MS = 86_400_000
MAX_UA = 512
MAX_REPORTS_PER_SESSION = 3
MAX_REQUESTS_PER_SESSION = 100
MAX_SESSIONS = 64
MAX_CONNECTIONS = 32
TOUCH_APIS = ("touch", "pointer", "none")
FINISH_REASONS = ("button", "auto")
PAGE_MARKER = '<meta name="classcert-page" content="touch-test/1">'
_PATH = re.compile(r"/t/([A-Za-z0-9_-]{1,64})(/report)?")
_NOT_FOUND = b"not found\n"
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


class ReportError(ValueError):
    """A posted report does not match the schema (the message says which field)."""


def _int(data: dict[str, Any], key: str, low: int, high: int) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ReportError(f"{key} must be an integer in [{low}, {high}], got {value!r}")
    return value


def _num(value: Any, what: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ReportError(f"{what} must be a number in [{low}, {high}], got {value!r}")
    return value


def _sample(item: Any, max_points: int) -> int:
    if not isinstance(item, dict) or set(item) != {"t", "n"}:
        raise ReportError("each sample must be an object with exactly t and n")
    _num(item["t"], "sample t", 0, MAX_TIME_MS)
    return _int(item, "n", 0, max_points)


def _points(xy: Any, count: int) -> None:
    if not isinstance(xy, list) or len(xy) != count or not all(
        isinstance(pair, list) and len(pair) == 2 for pair in xy
    ):
        raise ReportError("peak_xy must list one [x, y] pair per touch point of max_points")
    for coord in (c for pair in xy for c in pair):
        _num(coord, "peak_xy coordinate", -MAX_COORD, MAX_COORD)


def parse_report(body: bytes) -> dict[str, Any]:
    """Validate a posted report; returns the decoded JSON object or raises ReportError."""
    if len(body) > MAX_BODY:
        raise ReportError(f"report larger than {MAX_BODY} bytes")
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ReportError(f"report is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ReportError("report must be a JSON object")
    required = {"max_points", "distinct_ids", "samples", "peak_xy", "user_agent", "screen",
                "touch_api"}
    optional = {"finish", "claimed_points"}
    missing, extra = required - set(data), set(data) - required - optional
    if missing or extra:
        raise ReportError(f"report fields: missing {sorted(missing)}, unknown {sorted(extra)}")
    max_points = _int(data, "max_points", 0, MAX_POINTS)
    _int(data, "distinct_ids", max_points, MAX_DISTINCT_IDS)
    if data["touch_api"] not in TOUCH_APIS:
        raise ReportError(f"touch_api must be one of {TOUCH_APIS}")
    if data["touch_api"] == "none" and max_points:
        raise ReportError("touch_api 'none' cannot report touch points")
    if not isinstance(data["user_agent"], str) or len(data["user_agent"]) > MAX_UA:
        raise ReportError(f"user_agent must be a string of at most {MAX_UA} characters")
    screen = data["screen"]
    if not isinstance(screen, dict) or set(screen) != {"w", "h", "dpr"}:
        raise ReportError("screen must be an object with exactly w, h and dpr")
    for name, low, high in (("w", 0, MAX_COORD), ("h", 0, MAX_COORD), ("dpr", 0.05, 16)):
        _num(screen[name], f"screen {name}", low, high)
    samples = data["samples"]
    if not isinstance(samples, list) or len(samples) > MAX_SAMPLES:
        raise ReportError(f"samples must be a list of at most {MAX_SAMPLES} entries")
    peak = max((_sample(s, max_points) for s in samples), default=0)
    if peak != max_points:
        raise ReportError("samples must include the moment of max_points touches")
    _points(data["peak_xy"], max_points)
    if "finish" in data and data["finish"] not in FINISH_REASONS:
        raise ReportError(f"finish must be one of {FINISH_REASONS}")
    if "claimed_points" in data:
        _int(data, "claimed_points", 0, 1000)
    return data


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


@dataclass(frozen=True)
class TouchReport:
    """One validated report as the panel's browser sent it."""

    max_points: int
    distinct_ids: int
    touch_api: str
    user_agent: str
    client: str  # IP address the report came from
    received_at: str  # ISO 8601, UTC
    raw: dict[str, Any] = field(repr=False)

    def as_evidence(self) -> dict[str, Any]:
        return {"client": self.client, "received_at": self.received_at, "report": self.raw}


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class TouchSession:
    """One touch test: a token, its URL, and the reports received for it."""

    def __init__(self, base_url: str, room_id: str, expected_points: int | None) -> None:
        if expected_points is not None and not 1 <= int(expected_points) <= MAX_POINTS:
            raise ValueError(f"expected_points must be in [1, {MAX_POINTS}]")
        self.token = secrets.token_urlsafe(16)
        self.room_id = room_id
        self.expected_points = None if expected_points is None else int(expected_points)
        self.url = f"{base_url}/t/{self.token}"
        self.created_at = _now_iso()
        self.reports: list[TouchReport] = []
        self.rejected = 0  # invalid reports received
        self.requests = 0
        self._cond = threading.Condition()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def _count(self, rejected: bool = False) -> bool:
        """Count one request (and a rejected report); False once over the session's budget."""
        with self._cond:
            self.requests += not rejected
            self.rejected += rejected
            return self.requests <= MAX_REQUESTS_PER_SESSION

    def _add_report(self, report: TouchReport) -> bool:
        with self._cond:
            if self._closed or len(self.reports) >= MAX_REPORTS_PER_SESSION:
                return False
            self.reports.append(report)
            self._cond.notify_all()
            return True

    def wait_report(self, timeout_s: float) -> TouchReport | None:
        """The first valid report, waiting up to ``timeout_s``; None if none came or closed."""
        with self._cond:
            self._cond.wait_for(lambda: self.reports or self._closed, max(0.0, timeout_s))
            return self.reports[0] if self.reports else None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = False  # server_close() joins handler threads (bounded by their timeout)
    request_queue_size = 64
    block_on_close = True

    def __init__(self, owner: TouchServer, address: tuple[str, int], family: int) -> None:
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

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # a client gone mid-answer is normal
            super().handle_error(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    server_version = "classcert-touch"
    sys_version = ""
    protocol_version = "HTTP/1.0"

    def setup(self) -> None:
        self.timeout = self.server.owner.client_timeout_s
        self._unread = True  # the request body, if any, is still in the socket
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # request lines carry session tokens: never log them

    def _send(self, status: int, body: bytes, ctype: str = "text/plain; charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        self._discard()  # an unread request body would turn the close into a reset
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, doc: dict[str, Any]) -> None:
        self._send(status, json.dumps(doc).encode(), "application/json")

    def _route(self) -> None:
        match = _PATH.fullmatch(urlsplit(self.path).path)
        session = self.server.owner.lookup(match.group(1)) if match else None
        if session is None or match is None:
            self._send(404, _NOT_FOUND)
            return
        if not session._count():
            self._json(429, {"error": "too many requests for this session"})
            return
        allowed = "GET" if match.group(2) is None else "POST"
        if self.command != allowed:
            self._send(405, b"method not allowed\n", headers={"Allow": allowed})
        elif allowed == "GET":
            page = self.server.owner.page_for(session)
            self._send(200, page, "text/html; charset=utf-8", _PAGE_HEADERS)
        else:
            self._report(session)

    def _length(self) -> int:
        try:
            return int(self.headers.get("Content-Length", ""))
        except ValueError:
            return -1

    def _discard(self) -> None:
        """Read a refused body of sane size so the client sees the answer, not a reset."""
        left, self._unread = (self._length() if self._unread else 0), False
        left = left if 0 < left <= MAX_DISCARD else 0
        while left > 0:
            chunk = self.rfile.read(min(left, 16384))
            if not chunk:
                break
            left -= len(chunk)

    def _report(self, session: TouchSession) -> None:
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            self._json(415, {"error": "Content-Type must be application/json"})
            return
        length = self._length()
        if length < 0 or self.headers.get("Transfer-Encoding"):
            self._json(411, {"error": "send the report with a valid Content-Length"})
            return
        if length > MAX_BODY:
            self._json(413, {"error": f"report larger than {MAX_BODY} bytes"})
            return
        body, self._unread = self.rfile.read(length), False
        try:
            data = parse_report(body)
        except ReportError as exc:
            session._count(rejected=True)
            self._json(400, {"error": str(exc)})
            return
        report = TouchReport(
            max_points=data["max_points"], distinct_ids=data["distinct_ids"],
            touch_api=data["touch_api"], user_agent=data["user_agent"],
            client=str(self.client_address[0]), received_at=_now_iso(), raw=data,
        )
        if not session._add_report(report):
            self._json(429, {"error": "this session already has its reports"})
            return
        self._json(200, {"ok": True, "max_points": report.max_points})

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _route


class TouchServer(PageServer[TouchSession]):
    """The touch-test web server, served from a background thread. Use as a context manager."""

    kind, page_file, page_marker = "touch", "touch_page.html", PAGE_MARKER
    reaches, max_sessions = "the panel", MAX_SESSIONS

    def __init__(self, bind_host: str = "127.0.0.1", port: int = 0,
                 client_timeout_s: float = 5.0) -> None:
        super().__init__(bind_host, port, client_timeout_s)

    def _make_httpd(self, address: tuple[str, int], family: int) -> _HttpServer:
        return _HttpServer(self, address, family)

    def new_session(self, room_id: str, expected_points: int | None = None) -> TouchSession:
        return self._open(TouchSession, room_id, expected_points)

    def page_for(self, session: TouchSession) -> bytes:
        expected = "" if session.expected_points is None else str(session.expected_points)
        return self._page.replace("{{EXPECTED_POINTS}}", expected).encode("utf-8")
