"""An emulated crowd for the Wi-Fi crowd test: N devices speaking the crowd page's protocol.

Each device is a Python thread on loopback that does what ``crowd_page.html`` does in a
browser: load the page, join, poll until the start, read the paced downlink, send paced
uplink chunks, report. ``rate_cap_mbps`` caps every device (token bucket, both directions) to
model an access point that gives each client too little. Nothing listens: the crowd only
connects to the harness's own server, and only on loopback.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

MAX_DEVICES = 300
PAGE_MARKER = b'<meta name="classcert-page" content="crowd-test/1">'
DEFAULT_UA_MIX = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 16_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.6 Mobile/15E148 Safari/604.1",
)
READ = 16 * 1024
MAX_POLLS = 3000


class _Bucket:
    """Token bucket: ``take(n)`` sleeps until n bytes fit the cap (no cap: never sleeps)."""

    def __init__(self, rate_mbps: float | None, stop: threading.Event) -> None:
        self.rate = None if rate_mbps is None else rate_mbps * 1e6 / 8
        self.stop = stop
        self.start = time.monotonic()
        self.used = 0

    def take(self, n: int) -> None:
        if self.rate is not None:
            wait = self.start + (self.used + n - READ) / self.rate - time.monotonic()
            if wait > 0:
                self.stop.wait(min(wait, 5.0))
        self.used += n


@dataclass
class EmulatedDevice:
    """What one emulated device did (for tests and logs)."""

    index: int
    user_agent: str
    device: str = ""
    os: str = ""
    down_bytes: int = 0
    up_chunks: int = 0
    error: str = ""
    done: bool = False
    log: list[str] = field(default_factory=list)


class CrowdSim:
    """N emulated devices. ``join(url)`` starts them; ``wait()`` and ``stop()`` end them."""

    def __init__(self, devices: int = 5, rate_cap_mbps: float | None = None,
                 ua_mix: Sequence[str] = DEFAULT_UA_MIX, band: str | None = None,
                 poll_s: float = 0.2, join_timeout_s: float = 600.0,
                 host: str = "127.0.0.1", port: int = 0, password: str | None = None) -> None:
        if not 1 <= int(devices) <= MAX_DEVICES:
            raise ValueError(f"devices must be in [1, {MAX_DEVICES}]")
        if rate_cap_mbps is not None and not 0 < float(rate_cap_mbps) <= 1000:
            raise ValueError("rate_cap_mbps must be in (0, 1000]")
        if not ua_mix:
            raise ValueError("ua_mix must list at least one user agent")
        self.count = int(devices)
        self.rate_cap_mbps = None if rate_cap_mbps is None else float(rate_cap_mbps)
        self.ua_mix = tuple(ua_mix)
        self.band = band
        self.poll_s = max(0.05, float(poll_s))
        self.join_timeout_s = float(join_timeout_s)
        self.address = f"{host}:{port}"  # nothing listens; kept for the simulator interface
        self.devices: list[EmulatedDevice] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> CrowdSim:
        return self

    def join(self, url: str) -> None:
        """Every device opens ``url`` (a crowd session on loopback) and takes part."""
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError(f"the emulated crowd only joins loopback http URLs, got {url!r}")
        if self._threads:
            raise RuntimeError("this crowd already joined a session")
        self._stop.clear()
        self.devices = []
        for i in range(self.count):
            dev = EmulatedDevice(i, self.ua_mix[i % len(self.ua_mix)])
            self.devices.append(dev)
            thread = threading.Thread(target=self._run, args=(dev, parts), daemon=True,
                                      name=f"crowd-sim-{i}")
            self._threads.append(thread)
            thread.start()

    def wait(self, timeout_s: float) -> bool:
        """Wait until every device finished; False on timeout."""
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []

    def __enter__(self) -> CrowdSim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ one device

    def _conn(self, parts: Any, timeout: float = 10.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)

    def _call(self, parts: Any, method: str, path: str, body: Any = None,
              headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        conn = self._conn(parts)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read(1024 * 1024)
        finally:
            conn.close()

    def _run(self, dev: EmulatedDevice, parts: Any) -> None:
        try:
            self._take_part(dev, parts)
            dev.done = True
        except Exception as exc:  # noqa: BLE001 - a device that fails just drops out
            dev.error = f"{type(exc).__name__}: {exc}"

    def _take_part(self, dev: EmulatedDevice, parts: Any) -> None:
        base = parts.path.rstrip("/")
        ua = {"User-Agent": dev.user_agent}
        status, page = self._call(parts, "GET", base, headers=ua)
        if status != 200 or PAGE_MARKER not in page:
            raise RuntimeError(f"page load answered {status}")
        join = {"agent": "emulated", "hints": {}, "max_touch_points": 5}
        if self.band:
            join["band"] = self.band
        status, body = self._call(parts, "POST", base + "/join", json.dumps(join),
                                  {**ua, "Content-Type": "application/json"})
        if status != 200:
            raise RuntimeError(f"join answered {status}: {body[:200]!r}")
        doc = json.loads(body)
        dev.device, dev.os = doc["device"], doc["os"]
        deadline = time.monotonic() + self.join_timeout_s
        for _ in range(MAX_POLLS):
            if self._stop.is_set() or time.monotonic() > deadline:
                return
            t0 = time.monotonic()
            status, body = self._call(parts, "GET", f"{base}/status/{dev.device}", headers=ua)
            sched = json.loads(body) if status == 200 else {}
            if sched.get("state") == "running":
                ref = (t0 + time.monotonic()) / 2
                report = self._downlink(dev, parts, base, sched, ref)
                self._uplink(dev, parts, base, sched, ref)
                self._call(parts, "POST", f"{base}/report/{dev.device}", json.dumps(report),
                           {**ua, "Content-Type": "application/json"})
                return
            if sched.get("state") in ("closed", "done"):
                return
            self._stop.wait(self.poll_s)

    def _downlink(self, dev: EmulatedDevice, parts: Any, base: str, sched: dict[str, Any],
                  ref: float) -> dict[str, Any]:
        window = sched["window_ms"] / 1000
        stop_at = ref + sched["down_in_ms"] / 1000 + window + 0.5
        conn = self._conn(parts, timeout=max(1.0, stop_at - time.monotonic()))
        bucket = _Bucket(self.rate_cap_mbps, self._stop)
        first = None
        try:
            conn.request("GET", f"{base}/down/{dev.device}",
                         headers={"User-Agent": dev.user_agent})
            resp = conn.getresponse()
            while resp.status == 200 and time.monotonic() < stop_at and not self._stop.is_set():
                piece = resp.read1(READ)
                if not piece:
                    break
                now = time.monotonic()
                if first is None:
                    first = now
                    bucket.start = now
                if now - first <= window + 0.5:
                    dev.down_bytes += len(piece)
                bucket.take(len(piece))
        except OSError:
            pass  # dropped: report what came
        finally:
            conn.close()
        elapsed = 0.0 if first is None else time.monotonic() - first
        report: dict[str, Any] = {"down_bytes": dev.down_bytes,
                                  "down_ms": round(min(elapsed, window + 30) * 1000)}
        if self.band:
            report["band"] = self.band
        return report

    def _uplink(self, dev: EmulatedDevice, parts: Any, base: str, sched: dict[str, Any],
                ref: float) -> None:
        size, step = sched["chunk_bytes"], sched["chunk_ms"] / 1000
        start = ref + sched["up_in_ms"] / 1000 + 0.02
        end = ref + (sched["up_in_ms"] + sched["window_ms"]) / 1000
        payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
        bucket = _Bucket(self.rate_cap_mbps, self._stop)
        self._stop.wait(max(0.0, start - time.monotonic()))
        bucket.start = time.monotonic()
        for n in range(int(sched["window_ms"] / sched["chunk_ms"]) + 2):
            due = start + n * step
            if due >= end or self._stop.is_set():
                return
            self._stop.wait(max(0.0, due - time.monotonic()))

            def paced() -> Any:
                for i in range(0, size, READ):
                    bucket.take(min(READ, size - i))
                    yield payload[i:i + READ]

            status, _ = self._call(parts, "POST", f"{base}/up/{dev.device}", paced(), {
                "User-Agent": dev.user_agent, "Content-Type": "application/octet-stream",
                "Content-Length": str(size)})
            dev.up_chunks += status == 200
