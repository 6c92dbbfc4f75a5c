"""A simulated classroom panel's browser for the multi-touch test.

It does over HTTP what ``touch_page.html`` does in a real browser: GET the session URL, check
that the answer is the touch page, then POST the same report JSON to ``<path>/report`` with
``Content-Type: application/json``, as if ``points`` fingers had touched the screen at once.
Traffic goes only to loopback URLs. Knobs: ``points``, ``delay_s`` (time the "fingers" take),
``never_reports`` (loads the page, never sends), ``garbage_report`` (sends broken JSON).
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import threading
from typing import Any
from urllib.parse import urlsplit

from classcert.touch_server import MAX_POINTS, PAGE_MARKER

DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Linux; Android 11; classcert-touch-panel-sim) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
MAX_PAGE_BYTES = 256 * 1024
MAX_RESPONSE_BYTES = 4096
HOLD_MS = 3000  # the page finishes by itself after the count holds this long
_GARBAGE = b'{"max_points": 3, "distinct_ids": [1, 2'


def report_path(page_path: str) -> str:
    """Where the page posts its report (same rule as the page's JavaScript)."""
    return page_path.rstrip("/") + "/report"


def panel_report(points: int, screen: tuple[int, int, float] = (1920, 1080, 1.0),
                 user_agent: str = DEFAULT_USER_AGENT,
                 claimed_points: int | None = None) -> dict[str, Any]:
    """The report the page sends after ``points`` fingers landed one after another."""
    if not 0 <= points <= MAX_POINTS:
        raise ValueError(f"points must be in [0, {MAX_POINTS}], got {points}")
    width, height, dpr = screen
    css_w, css_h = width / dpr, height / dpr
    fingers = [
        [round(css_w * (i + 1) / (points + 1)), round(css_h * (0.4 + 0.2 * (i % 2)))]
        for i in range(points)
    ]
    samples = [{"t": 0 if n == 0 else 500 + 60 * n, "n": n} for n in range(points + 1)]
    return {
        "max_points": points,
        "distinct_ids": points,
        "samples": samples,
        "peak_xy": fingers,
        "user_agent": user_agent[:512],
        "screen": {"w": width, "h": height, "dpr": dpr},
        "touch_api": "touch" if points else "none",
        "finish": "auto" if points >= 2 else "button",
        "claimed_points": points if claimed_points is None else claimed_points,
    }


def _require_loopback(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"the simulated panel opens http:// URLs only, got {url!r}")
    host = parts.hostname
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the simulated panel only visits loopback addresses, got {host!r}")
    return host, parts.port or 80, parts.path or "/"


class TouchPanelSim:
    """A panel browser in a background thread: ``open(url)`` visits one touch-test URL."""

    def __init__(
        self, points: int = 10, delay_s: float = 0.1, user_agent: str = DEFAULT_USER_AGENT,
        *, never_reports: bool = False, garbage_report: bool = False,
        screen: tuple[int, int, float] | list[Any] = (1920, 1080, 1.0),
        claimed_points: int | None = None, timeout_s: float = 5.0,
    ) -> None:
        if not 0 <= int(points) <= MAX_POINTS:
            raise ValueError(f"touch panel points must be in [0, {MAX_POINTS}], got {points}")
        if not 0 <= float(delay_s) <= 60:
            raise ValueError(f"delay_s must be in [0, 60] seconds, got {delay_s}")
        self.points, self.delay_s, self.user_agent = int(points), float(delay_s), user_agent
        self.never_reports, self.garbage_report = never_reports, garbage_report
        width, height, dpr = screen
        self.screen = (int(width), int(height), float(dpr))
        self.claimed_points, self.timeout_s = claimed_points, float(timeout_s)
        self.visits = 0  # pages loaded
        self.page_status: int | None = None
        self.report_status: int | None = None  # HTTP status of the last POST
        self.response: bytes = b""
        self.error: str | None = None
        self.sent: list[bytes] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._done = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> TouchPanelSim:
        """Nothing to listen on (a panel is a client); present for symmetry with servers."""
        return self

    def open(self, url: str) -> None:
        """Visit ``url`` as the panel's browser would, in the background."""
        target = _require_loopback(url)
        self.stop()
        with self._lock:
            self._stop = threading.Event()
            self._done = threading.Event()
            self.error, self.report_status, self.page_status = None, None, None
            self._thread = threading.Thread(
                target=self._visit, args=(target, self._stop, self._done),
                name="touch-panel-sim", daemon=True,
            )
            self._thread.start()

    def wait(self, timeout_s: float) -> bool:
        """True when the last visit has finished (reported, or given up) within ``timeout_s``."""
        return self._done.wait(timeout_s)

    def _request(self, host: str, port: int, method: str, path: str, body: bytes | None,
                 headers: dict[str, str], limit: int) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(host, port, timeout=self.timeout_s)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read(limit)
        finally:
            conn.close()

    def _visit(self, target: tuple[str, int, str], stop: threading.Event,
               done: threading.Event) -> None:
        host, port, path = target
        netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            status, page = self._request(
                host, port, "GET", path, None,
                {"User-Agent": self.user_agent, "Accept": "text/html"}, MAX_PAGE_BYTES,
            )
            self.visits += 1
            self.page_status = status
            if status != 200 or PAGE_MARKER.encode() not in page:
                self.error = f"GET {path} answered {status}, not the touch page"
                return
            if stop.wait(self.delay_s) or self.never_reports:
                return
            if self.garbage_report:
                body = _GARBAGE
            else:
                report = panel_report(self.points, self.screen, self.user_agent,
                                      self.claimed_points)
                body = json.dumps(report, separators=(",", ":")).encode()
            self.sent.append(body)
            self.report_status, self.response = self._request(
                host, port, "POST", report_path(path), body,
                {"User-Agent": self.user_agent, "Content-Type": "application/json",
                 "Origin": f"http://{netloc}"}, MAX_RESPONSE_BYTES,
            )
        except OSError as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            done.set()

    def stop(self) -> None:
        with self._lock:
            self._stop.set()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=self.timeout_s * 2 + 1)

    def __enter__(self) -> TouchPanelSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
