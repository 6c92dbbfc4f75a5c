"""An emulated crowd for the Wi-Fi crowd test: N devices speaking the crowd page's protocol.

Each device is a Python thread that does what ``crowd_page.html`` does in a browser: load the
page, join, poll until the start, read the paced downlink, send paced uplink chunks, report.
Every device is a station with a fixed identity (``stations()``: MAC, IP, hostname, band, OS).

Two networks:

* ``network="loopback"``: devices connect from distinct loopback sources 127.0.1.x,
  127.0.2.x, ... (all of 127/8 is loopback on Linux) so the server sees distinct clients;
  ``rate_cap_mbps`` caps every device (token bucket, both directions) to model an access point
  that gives each client too little.
* ``network="netns"``: ``start()`` builds a :class:`NetnsClassroom` (one network namespace per
  device behind an emulated access point, tbf rate limits per client and for the AP); each
  device's thread enters its own namespace, so its traffic crosses the shaped links. The crowd
  server must listen in the classroom's wired namespace: start it with
  ``run_in_network(lambda: CrowdServer(sim.bind_host).start())``.

Nothing listens: the crowd only connects to the harness's own server.
"""

from __future__ import annotations

import http.client
import json
import math
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from classcert.client_os import detect_os
from classcert.rigs.simulators.netns_probe import enter_netns, netns_support
from classcert.rigs.simulators.netns_room import NetnsClassroom, Progress, station_mac

MAX_DEVICES = 1200
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
READ = 16 * 1024  # token bucket burst
DOWN_READ = 256 * 1024  # one downlink read
BATCH_S = 0.2  # the downlink reader wakes per this many seconds of the offered rate
MAX_POLLS = 3000
NETWORKS = ("loopback", "netns")
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


def loopback_source(index: int) -> str:
    """Source address of device ``index`` on loopback: 127.0.1.1, ... 127.0.1.254, 127.0.2.1."""
    return f"127.0.{1 + index // 254}.{1 + index % 254}"


class _Connection(http.client.HTTPConnection):
    """HTTP connection whose waits happen in the kernel (SO_SNDTIMEO/SO_RCVTIMEO on a
    blocking socket): a chunk sent over a slow link wakes this thread once, not per ACK."""

    send_buffer = 0  # bytes; enough for a whole uplink chunk: the kernel drains it alone

    def connect(self) -> None:
        super().connect()
        if self.send_buffer:
            for opt in (getattr(socket, "SO_SNDBUFFORCE", 32), socket.SO_SNDBUF):
                try:
                    self.sock.setsockopt(socket.SOL_SOCKET, opt, self.send_buffer)
                    break
                except OSError:
                    continue  # SO_SNDBUFFORCE needs CAP_NET_ADMIN
        secs = max(1.0, float(self.timeout or 10.0))
        tv = struct.pack("ll", int(secs), int(secs % 1 * 1e6))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
        self.sock.settimeout(None)


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
    source: str = ""  # the IP address it connects from


def _rate(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    rate = float(value)
    if not 0 < rate <= 1000:
        raise ValueError(f"{name} must be in (0, 1000] Mbps")
    return rate


class CrowdSim:
    """N emulated devices. ``start()``, then ``join(url)`` starts them; ``wait()``/``stop()``."""

    def __init__(self, devices: int = 5, rate_cap_mbps: float | None = None,
                 ua_mix: Sequence[str] = DEFAULT_UA_MIX, band: str | None = None,
                 poll_s: float = 0.2, join_timeout_s: float = 600.0,
                 host: str = "127.0.0.1", port: int = 0, password: str | None = None,
                 network: str = "loopback", client_mbps: float | None = None,
                 client_down_mbps: float | None = None, client_up_mbps: float | None = None,
                 ap_down_mbps: float | None = None, ap_up_mbps: float | None = None,
                 classroom: NetnsClassroom | None = None, first_client: int = 0,
                 progress: Progress | None = None) -> None:
        if not 1 <= int(devices) <= MAX_DEVICES:
            raise ValueError(f"devices must be in [1, {MAX_DEVICES}]")
        if rate_cap_mbps is not None and not 0 < float(rate_cap_mbps) <= 1000:
            raise ValueError("rate_cap_mbps must be in (0, 1000]")
        if not ua_mix:
            raise ValueError("ua_mix must list at least one user agent")
        if network not in NETWORKS:
            raise ValueError(f"network must be one of {NETWORKS}, got {network!r}")
        self.count = int(devices)
        self.rate_cap_mbps = None if rate_cap_mbps is None else float(rate_cap_mbps)
        self.ua_mix = tuple(ua_mix)
        self.band = band
        self.poll_s = max(0.05, float(poll_s))
        self.join_timeout_s = float(join_timeout_s)
        self.address = f"{host}:{port}"  # nothing listens; kept for the simulator interface
        self.network = network
        self.devices: list[EmulatedDevice] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._payloads: dict[int, bytes] = {}
        self._owns_classroom = False
        self.classroom: NetnsClassroom | None = None
        self.first_client = 0  # device i is the classroom's client first_client + i
        if network == "netns":
            down = _rate("client_down_mbps", client_down_mbps if client_down_mbps is not None
                         else client_mbps)
            up = _rate("client_up_mbps", client_up_mbps if client_up_mbps is not None
                       else client_mbps)
            if classroom is None:
                self.classroom = NetnsClassroom(self.count, down, up, _rate("ap_down_mbps",
                                                ap_down_mbps),
                                                _rate("ap_up_mbps", ap_up_mbps),
                                                progress=progress)
                self._owns_classroom = True
            elif not 0 <= int(first_client) <= classroom.clients - self.count:
                raise ValueError(f"devices {first_client}..{first_client + self.count - 1} are "
                                 f"not all clients of the classroom ({classroom.clients})")
            else:  # built elsewhere (e.g. by the process that runs the server): not ours
                self.classroom = classroom
                self.first_client = int(first_client)
        elif first_client or any(v is not None for v in (
                client_mbps, client_down_mbps, client_up_mbps, ap_down_mbps, ap_up_mbps,
                classroom)):
            raise ValueError("client_*_mbps, ap_*_mbps, classroom and first_client need "
                             "network='netns' "
                             "(on loopback use rate_cap_mbps)")

    # ------------------------------------------------------------------ network and identity

    @property
    def bind_host(self) -> str:
        """The address the crowd server must listen on to be reached by this crowd."""
        return "127.0.0.1" if self.classroom is None else self.classroom.server_address

    def run_in_network(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` where the crowd server must live (the wired namespace) and return it."""
        if self.classroom is None:
            return fn()
        if not self.classroom.built and self._owns_classroom:
            self.start()
        return self.classroom.run_in_wired(fn)

    def station_ip(self, index: int) -> str:
        if self.classroom is not None:
            return self.classroom.client_ip(self.first_client + index)
        return loopback_source(index)

    def stations(self) -> list[dict[str, Any]]:
        """Every emulated station: mac, ip, hostname, band and OS label (from its UA)."""
        labels: dict[str, str] = {}
        rows = []
        for i in range(self.count):
            ua = self.ua_mix[i % len(self.ua_mix)]
            if ua not in labels:
                labels[ua] = detect_os(ua, None, 5).label
            rows.append({"mac": station_mac(self.first_client + i), "ip": self.station_ip(i),
                         "hostname": f"crowd-{i + 1:03d}", "band": self.band,
                         "os": labels[ua]})
        return rows

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> CrowdSim:
        """Loopback: nothing to do. Netns: build the emulated classroom (RuntimeError if the
        machine cannot, naming what is missing)."""
        if self.classroom is not None and self._owns_classroom and not self.classroom.built:
            ok, reason = netns_support()
            if not ok:
                raise RuntimeError(f"the netns crowd needs network namespaces: {reason}")
            self.classroom.build()
        return self

    def join(self, url: str) -> None:
        """Every device opens ``url`` (a crowd session on the crowd's network) and takes part."""
        parts = urlsplit(url)
        allowed = LOOPBACK_HOSTS if self.classroom is None else (self.classroom.server_address,)
        if parts.scheme != "http" or parts.hostname not in allowed:
            where = "loopback" if self.classroom is None else "the emulated classroom's server"
            raise ValueError(f"the emulated crowd only joins http URLs on {where}, got {url!r}")
        if self.classroom is not None and not self.classroom.built:
            raise RuntimeError("start() the netns crowd before joining")
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
        if self.classroom is not None and self._owns_classroom:
            self.classroom.teardown()

    def __enter__(self) -> CrowdSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ one device

    def _conn(self, dev: EmulatedDevice, parts: Any,
              timeout: float = 10.0) -> _Connection:
        host = "127.0.0.1" if parts.hostname == "localhost" else parts.hostname
        source = (dev.source, 0) if dev.source and self.classroom is None else None
        return _Connection(host, parts.port, timeout=timeout, source_address=source)

    def _call(self, dev: EmulatedDevice, parts: Any, method: str, path: str, body: Any = None,
              headers: dict[str, str] | None = None, send_buffer: int = 0) -> tuple[int, bytes]:
        conn = self._conn(dev, parts)
        conn.send_buffer = send_buffer
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read(1024 * 1024)
        finally:
            conn.close()

    def _run(self, dev: EmulatedDevice, parts: Any) -> None:
        try:
            if self.classroom is not None:
                # this thread only, until it ends
                enter_netns(self.classroom.ns_name(self.first_client + dev.index))
                dev.source = self.station_ip(dev.index)
            elif parts.hostname != "::1":
                dev.source = loopback_source(dev.index)
            self._take_part(dev, parts)
            dev.done = True
        except Exception as exc:  # noqa: BLE001 - a device that fails just drops out
            dev.error = f"{type(exc).__name__}: {exc}"

    def _take_part(self, dev: EmulatedDevice, parts: Any) -> None:
        base = parts.path.rstrip("/")
        ua = {"User-Agent": dev.user_agent}
        status, page = self._call(dev, parts, "GET", base, headers=ua)
        if status != 200 or PAGE_MARKER not in page:
            raise RuntimeError(f"page load answered {status}")
        join = {"agent": "emulated", "hints": {}, "max_touch_points": 5}
        if self.band:
            join["band"] = self.band
        status, body = self._call(dev, parts, "POST", base + "/join", json.dumps(join),
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
            status, body = self._call(dev, parts, "GET", f"{base}/status/{dev.device}",
                                      headers=ua)
            sched = json.loads(body) if status == 200 else {}
            if sched.get("state") == "running":
                ref = (t0 + time.monotonic()) / 2
                report = self._downlink(dev, parts, base, sched, ref)
                self._uplink(dev, parts, base, sched, ref)
                self._call(dev, parts, "POST", f"{base}/report/{dev.device}",
                           json.dumps(report), {**ua, "Content-Type": "application/json"})
                return
            if sched.get("state") in ("closed", "done"):
                return
            self._stop.wait(self.poll_s)

    def _downlink(self, dev: EmulatedDevice, parts: Any, base: str, sched: dict[str, Any],
                  ref: float) -> dict[str, Any]:
        window = sched["window_ms"] / 1000
        stop_at = ref + sched["down_in_ms"] / 1000 + window + 0.5
        conn = self._conn(dev, parts, timeout=max(1.0, stop_at - time.monotonic()))
        bucket = _Bucket(self.rate_cap_mbps, self._stop)
        first = last = cutoff = None
        batch = 1
        try:
            conn.request("GET", f"{base}/down/{dev.device}",
                         headers={"User-Agent": dev.user_agent})
            sock = conn.sock  # getresponse() hands it to the response (HTTP/1.0)
            resp = conn.getresponse()
            if bucket.rate is None and sock is not None:  # wake per batch, not per packet
                batch = max(1, min(DOWN_READ // 2, int(sched["rate_bps"] / 8 * BATCH_S)))
            while resp.status == 200 and time.monotonic() < stop_at and not self._stop.is_set():
                if cutoff is not None:
                    now = time.monotonic()
                    if now >= cutoff:
                        break  # the last read came at or after the cutoff
                    if batch > 1 and not self._readable(sock, cutoff - now):
                        batch = self._lowat(sock, 1)  # the cutoff: one read of what is there
                        if not self._readable(sock, 0):
                            last = time.monotonic()
                            break
                piece = resp.read1(DOWN_READ if bucket.rate is None else READ)
                if not piece:
                    break
                last = time.monotonic()
                if first is None:
                    first, bucket.start = last, last
                    cutoff = first + window + 0.5
                    self._lowat(sock, batch)
                dev.down_bytes += len(piece)
                bucket.take(len(piece))
        except OSError:
            pass  # dropped: report what came
        finally:
            conn.close()
        # every counted byte arrived by the last read: report the time they took
        elapsed = 0.0 if first is None or last is None else last - first
        report: dict[str, Any] = {"down_bytes": dev.down_bytes,
                                  "down_ms": round(min(elapsed, window + 30) * 1000)}
        if self.band:
            report["band"] = self.band
        return report

    @staticmethod
    def _lowat(sock: Any, size: int) -> int:
        """SO_RCVLOWAT: the kernel wakes the reader once ``size`` bytes (or the end) arrived."""
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, max(1, size))
        return size

    @staticmethod
    def _readable(sock: Any, timeout_s: float) -> bool:
        poller = select.poll()  # not select(): a 1000-device crowd has fds above 1024
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(max(0, math.ceil(timeout_s * 1000))))

    def _payload(self, size: int) -> bytes:
        payload = self._payloads.get(size)
        if payload is None:  # one shared buffer per chunk size (1000 devices, one copy)
            payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
            self._payloads[size] = payload
        return payload

    def _uplink(self, dev: EmulatedDevice, parts: Any, base: str, sched: dict[str, Any],
                ref: float) -> None:
        size, step = sched["chunk_bytes"], sched["chunk_ms"] / 1000
        start = ref + sched["up_in_ms"] / 1000 + 0.02
        end = ref + (sched["up_in_ms"] + sched["window_ms"]) / 1000
        payload = self._payload(size)
        bucket = _Bucket(self.rate_cap_mbps, self._stop)
        self._stop.wait(max(0.0, start - time.monotonic()))
        bucket.start = time.monotonic()
        headers = {"User-Agent": dev.user_agent, "Content-Type": "application/octet-stream",
                   "Content-Length": str(size)}
        for n in range(int(sched["window_ms"] / sched["chunk_ms"]) + 2):
            due = start + n * step
            if due >= end or time.monotonic() >= end or self._stop.is_set():
                return
            self._stop.wait(max(0.0, due - time.monotonic()))

            def paced() -> Any:
                for i in range(0, size, READ):
                    bucket.take(min(READ, size - i))
                    yield payload[i:i + READ]

            body = payload if bucket.rate is None else paced()
            try:
                status, _ = self._call(dev, parts, "POST", f"{base}/up/{dev.device}", body,
                                       headers, send_buffer=2 * size + 65536)
            except (OSError, http.client.HTTPException) as exc:  # like the page: next chunk
                dev.log.append(f"chunk {n}: {type(exc).__name__}: {exc}"[:200])
                continue
            dev.up_chunks += status == 200
