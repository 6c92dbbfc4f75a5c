"""An emulated crowd for the Wi-Fi crowd test: N devices speaking the crowd page's protocol.

Each device does what ``crowd_page.html`` does in a browser (see :mod:`.crowd_device`): load
the page, join, poll until the start, read the paced downlink, send the uplink chunks,
report. The devices are asyncio tasks on one event loop in a background thread (a thousand
devices cost one thread, not a thousand). Every device is a station with a fixed identity
(``stations()``: MAC, IP, hostname, band, OS).

Two networks:

* ``network="loopback"``: devices connect from distinct loopback sources 127.0.1.x,
  127.0.2.x, ... (all of 127/8 is loopback on Linux) so the server sees distinct clients;
  ``rate_cap_mbps`` caps every device (token bucket, both directions) to model an access point
  that gives each client too little.
* ``network="netns"``: ``start()`` builds a :class:`NetnsClassroom` (one network namespace per
  device behind an emulated access point, tbf rate limits per client and for the AP); each
  device's sockets are created inside its own namespace, so its traffic crosses the shaped
  links. The crowd server must listen in the classroom's wired namespace: start it with
  ``run_in_network(lambda: CrowdServer(sim.bind_host).start())``.

Nothing listens: the crowd only connects to the harness's own server.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from classcert.client_os import detect_os
from classcert.rigs.simulators.crowd_device import (
    MAX_POLLS,
    PAGE_MARKER,
    READ,
    DeviceContext,
    EmulatedDevice,
    take_part,
)
from classcert.rigs.simulators.netns_probe import enter_netns, netns_support
from classcert.rigs.simulators.netns_room import NetnsClassroom, Progress, station_mac

__all__ = ["DEFAULT_UA_MIX", "MAX_DEVICES", "MAX_POLLS", "PAGE_MARKER", "READ", "CrowdSim",
           "EmulatedDevice", "loopback_source"]

MAX_DEVICES = 1200
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
NETWORKS = ("loopback", "netns")
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
JOIN_STAGGER_S = 0.002  # device i opens the page i x 2 ms after the first (no SYN storm)
STOP_WAIT_S = 10.0


def loopback_source(index: int) -> str:
    """Source address of device ``index`` on loopback: 127.0.1.1, ... 127.0.1.254, 127.0.2.1."""
    return f"127.0.{1 + index // 254}.{1 + index % 254}"


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
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._astop: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
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
        if self._thread is not None:
            raise RuntimeError("this crowd already joined a session")
        host = "127.0.0.1" if parts.hostname == "localhost" else str(parts.hostname)
        self.devices = [EmulatedDevice(i, self.ua_mix[i % len(self.ua_mix)])
                        for i in range(self.count)]
        for dev in self.devices:
            if self.classroom is not None:
                dev.source = self.station_ip(dev.index)
            elif ":" not in host:
                dev.source = loopback_source(dev.index)
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, args=(host, parts.port or 80,
                                                                parts.path.rstrip("/")),
                                        name="crowd-sim", daemon=True)
        self._thread.start()
        self._ready.wait(STOP_WAIT_S)

    def wait(self, timeout_s: float) -> bool:
        """Wait until every device finished; False on timeout."""
        if self._thread is None:
            return True
        self._thread.join(max(0.0, timeout_s))
        return not self._thread.is_alive()

    def stop(self) -> None:
        loop, stop = self._loop, self._astop
        if loop is not None and stop is not None and self._thread is not None:
            try:
                loop.call_soon_threadsafe(self._cancel, stop)
            except RuntimeError:
                pass  # the loop already ended
        if self._thread is not None:
            self._thread.join(STOP_WAIT_S)
            self._thread = None
        if self.classroom is not None and self._owns_classroom:
            self.classroom.teardown()

    def __enter__(self) -> CrowdSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ the event loop

    def _run(self, host: str, port: int, base: str) -> None:
        asyncio.run(self._main(host, port, base))

    async def _main(self, host: str, port: int, base: str) -> None:
        self._loop = asyncio.get_running_loop()
        self._astop = asyncio.Event()
        ctx = DeviceContext(host, port, base, self._new_socket, self._astop, self.band,
                            self.poll_s, self.join_timeout_s, self.rate_cap_mbps)
        self._tasks = [asyncio.create_task(self._device(ctx, dev)) for dev in self.devices]
        self._ready.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _cancel(self, stop: asyncio.Event) -> None:
        stop.set()
        for task in self._tasks:
            task.cancel()

    async def _device(self, ctx: DeviceContext, dev: EmulatedDevice) -> None:
        try:
            await asyncio.sleep(dev.index * JOIN_STAGGER_S)
            await take_part(ctx, dev)
            dev.done = True
        except asyncio.CancelledError:
            dev.error = dev.error or "stopped"
        except Exception as exc:  # noqa: BLE001 - a device that fails just drops out
            dev.error = f"{type(exc).__name__}: {exc}"

    def _new_socket(self, dev: EmulatedDevice) -> socket.socket:
        """A socket of device ``dev``: in its namespace (netns), or bound to its source."""
        if self.classroom is not None:
            # the loop's own thread hops namespaces: a socket stays in the one it was made in
            enter_netns(self.classroom.ns_name(self.first_client + dev.index))
            return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        family = socket.AF_INET6 if not dev.source else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        if dev.source:
            try:
                sock.bind((dev.source, 0))
            except OSError:  # only 127.0.0.1 is local here (not Linux): one shared source
                sock.close()
                sock = socket.socket(family, socket.SOCK_STREAM)
        return sock
