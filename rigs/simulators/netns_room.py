"""An emulated Wi-Fi classroom in network namespaces: a wired harness, an access point, clients.

Topology (every namespace named ``<prefix>-...``, prefix ``cc<pid>-<n>`` by default)::

    wired ns (w0, .0.1) =veth= air ns: bridge "ap" (up0, c0..cN-1) =veth= client ns i (eth0)

Shaping uses tbf only (this project also runs where netem and mac80211_hwsim do not exist):
each client's downlink on its bridge port's egress (``c<i>`` in the air ns), its uplink on its
own ``eth0`` egress, and the access point's aggregate caps on the wired<->air link (``w0``
egress = downlink, ``up0`` egress = uplink). tbf counts whole Ethernet frames: the payload a
TCP flow can carry is ``payload_ceiling_mbps(rate)`` (1448 of every 1514 bytes at MTU 1500).

The namespaces are isolated from the machine's own network: nothing here touches the root
namespace's interfaces, and traffic stays between the namespaces. Neighbour entries are
static (no ARP storms, no global neighbour-table overflow at 1000 clients). ``teardown()``
deletes everything; an ``atexit`` hook and ``sweep_stale()`` (dead ``cc<pid>`` prefixes, run
at every build) clean up after crashes.
"""

from __future__ import annotations

import atexit
import ipaddress
import itertools
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from classcert.rigs.simulators.netns_probe import (
    delete_netns,
    enter_netns,
    list_netns,
    netns_extras,
    netns_support,
    run_cmd,
    run_in_netns,
    sweep_stale,
)

MAX_CLIENTS = 1200
MAX_RATE_MBPS = 10_000.0
MTU = 1500
TCP_PAYLOAD = MTU - 20 - 20 - 12  # IPv4 + TCP + timestamp option
FRAME = MTU + 14  # what tbf counts per full-size frame (Ethernet header, no FCS)
QUEUE_S = 0.1  # tbf queue: this long at the shaped rate ...
QUEUE_MIN_BYTES = 32 * 1024  # ... but at least this many bytes
SERVER_MAC = "02:cc:ff:00:00:01"
WIRED = "wired"
AIR = "air"
LOAD_GENERATOR = "emulated (network namespaces)"
PARALLEL = 8  # concurrent per-client ip/tc processes while building
Progress = Callable[[str, int, int], None]

_counter = itertools.count(1)
_live: set[NetnsClassroom] = set()
_live_lock = threading.Lock()


def station_mac(index: int) -> str:
    """Locally administered MAC of emulated station ``index`` (0-based): 02:cc:00:00:hh:ll."""
    n = index + 1
    return f"02:cc:00:{(n >> 16) & 255:02x}:{(n >> 8) & 255:02x}:{n & 255:02x}"


def payload_ceiling_mbps(rate_mbps: float, mtu: int = MTU) -> float:
    """TCP payload a tbf rate (L2 frames) can carry with full-size frames."""
    return rate_mbps * (mtu - 52) / (mtu + 14)


def tbf_spec(rate_mbps: float) -> str:
    """tbf arguments: rate in kbit, a burst of >= 4 frames or 10 ms, and a queue of 100 ms or
    at least 32 KiB beyond the burst (an unpaced TCP sender bursts whole GSO segments of up
    to 64 KiB: a queue of a few frames drops most of each burst)."""
    per_s = rate_mbps * 1e6 / 8
    burst = max(4 * FRAME, int(per_s * 0.010))
    limit = burst + max(QUEUE_MIN_BYTES, int(per_s * QUEUE_S))
    return f"rate {round(rate_mbps * 1000)}kbit burst {burst} limit {limit}"


def _rate(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    rate = float(value)
    if not 0 < rate <= MAX_RATE_MBPS:
        raise ValueError(f"{name} must be in (0, {MAX_RATE_MBPS:g}] Mbps or None, got {value}")
    return rate


class NetnsClassroom:
    """A classroom of ``clients`` emulated stations behind one emulated access point."""

    def __init__(self, clients: int, client_down_mbps: float | None,
                 client_up_mbps: float | None, ap_down_mbps: float | None = None,
                 ap_up_mbps: float | None = None, subnet: str = "10.77.0.0/16",
                 prefix: str | None = None, progress: Progress | None = None) -> None:
        if not 1 <= int(clients) <= MAX_CLIENTS:
            raise ValueError(f"clients must be in [1, {MAX_CLIENTS}]")
        self.clients = int(clients)
        self.client_down_mbps = _rate("client_down_mbps", client_down_mbps)
        self.client_up_mbps = _rate("client_up_mbps", client_up_mbps)
        self.ap_down_mbps = _rate("ap_down_mbps", ap_down_mbps)
        self.ap_up_mbps = _rate("ap_up_mbps", ap_up_mbps)
        net = ipaddress.ip_network(subnet)
        if net.version != 4:
            raise ValueError("subnet must be IPv4")
        self.subnet = net
        self._ips = self._addresses(net, self.clients)
        self.prefix = prefix or f"cc{os.getpid()}-{next(_counter)}"
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,39}", self.prefix):
            raise ValueError("prefix must be 1-40 characters of a-z, 0-9 and '-'")
        self.progress = progress
        self.build_s: float | None = None
        self._owner_pid: int | None = None  # the process that built it tears it down

    # ------------------------------------------------------------------ names and addresses

    @staticmethod
    def _addresses(net: ipaddress.IPv4Network, count: int) -> list[str]:
        """[wired, client 0, client 1, ...]; clients start at x.x.1.1 when there is room."""
        first = 256 if net.num_addresses >= 512 + 2 * count else 2
        out = [str(net.network_address + 1)]
        for n in range(first, net.num_addresses - 1):
            ip = net.network_address + n
            if int(ip) & 255 not in (0, 255):
                out.append(str(ip))
                if len(out) > count:
                    return out
        raise ValueError(f"subnet {net} is too small for {count} clients")

    @property
    def server_address(self) -> str:
        """The wired (harness) side's IP address."""
        return self._ips[0]

    def client_ip(self, index: int) -> str:
        return self._ips[1 + self._index(index)]

    def client_mac(self, index: int) -> str:
        return station_mac(self._index(index))

    def _index(self, index: int) -> int:
        if not 0 <= index < self.clients:
            raise IndexError(f"client index {index} not in [0, {self.clients})")
        return index

    def ns_name(self, which: int | str) -> str:
        """Namespace of client ``which`` (an int), or of ``"wired"`` / ``"air"``."""
        if which == WIRED:
            return f"{self.prefix}-w"
        if which == AIR:
            return f"{self.prefix}-a"
        if isinstance(which, int) and not isinstance(which, bool):
            return f"{self.prefix}-c{self._index(which)}"
        raise ValueError(f"unknown namespace {which!r}: a client index, 'wired' or 'air'")

    def namespaces(self) -> list[str]:
        return [self.ns_name(WIRED), self.ns_name(AIR)] + [self.ns_name(i)
                                                           for i in range(self.clients)]

    @property
    def built(self) -> bool:
        return self._owner_pid is not None

    # ------------------------------------------------------------------ build and teardown

    def _say(self, stage: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(stage, done, total)

    def build(self) -> NetnsClassroom:
        """Create every namespace, link, address and qdisc (tears down again on failure)."""
        if self.built:
            return self
        ok, reason = netns_support()
        if not ok:
            raise RuntimeError(f"cannot emulate a classroom in network namespaces: {reason}")
        sweep_stale()
        names = self.namespaces()
        clash = set(names) & set(list_netns())
        if clash:
            raise RuntimeError(f"network namespaces already exist: {sorted(clash)[:3]}")
        t0 = time.monotonic()
        self._owner_pid = os.getpid()
        with _live_lock:
            _live.add(self)
        try:
            self._say("namespaces", 0, len(names))
            run_cmd(["ip", "-batch", "-"], "".join(f"netns add {n}\n" for n in names))
            self._quiet_ipv6(names)
            self._say("namespaces", len(names), len(names))
            self._build_air()
            self._build_wired()
            self._build_clients()
            self._shape_air()
        except BaseException:
            self.teardown()
            raise
        self.build_s = time.monotonic() - t0
        return self

    def _quiet_ipv6(self, names: list[str]) -> None:
        """No IPv6 on the emulated links (no router solicitations flooding the bridge)."""
        def hop() -> None:
            for name in names:
                enter_netns(name)
                for conf in ("all", "default"):
                    with open(f"/proc/sys/net/ipv6/conf/{conf}/disable_ipv6", "w") as fh:
                        fh.write("1")
        thread = threading.Thread(target=hop, name="netns-ipv6-off", daemon=True)
        thread.start()
        thread.join(60)

    def _build_air(self) -> None:
        lines = ["link add ap type bridge stp_state 0", "link set ap up",
                 f"link add up0 type veth peer name w0 address {SERVER_MAC} "
                 f"netns {self.ns_name(WIRED)}",
                 "link set up0 master ap", "link set up0 up"]
        for i in range(self.clients):
            lines += [f"link add c{i} type veth peer name eth0 address {self.client_mac(i)} "
                      f"netns {self.ns_name(i)}",
                      f"link set c{i} master ap", f"link set c{i} up"]
        self._say("access point", 0, self.clients)
        run_cmd(["ip", "-n", self.ns_name(AIR), "-batch", "-"], "\n".join(lines) + "\n")
        self._say("access point", self.clients, self.clients)

    def _build_wired(self) -> None:
        bits = self.subnet.prefixlen
        lines = ["link set lo up", f"addr add {self.server_address}/{bits} dev w0",
                 "link set w0 up"]
        lines += [f"neigh add {self.client_ip(i)} lladdr {self.client_mac(i)} dev w0 "
                  f"nud permanent" for i in range(self.clients)]
        run_cmd(["ip", "-n", self.ns_name(WIRED), "-batch", "-"], "\n".join(lines) + "\n")
        if self.ap_down_mbps is not None:
            run_cmd(["tc", "-n", self.ns_name(WIRED), "qdisc", "add", "dev", "w0", "root",
                     "tbf", *tbf_spec(self.ap_down_mbps).split()])

    def _client_cmds(self, i: int) -> None:
        name = self.ns_name(i)
        lines = ["link set lo up",
                 f"addr add {self.client_ip(i)}/{self.subnet.prefixlen} dev eth0",
                 "link set eth0 up",
                 f"neigh add {self.server_address} lladdr {SERVER_MAC} dev eth0 nud permanent"]
        run_cmd(["ip", "-n", name, "-batch", "-"], "\n".join(lines) + "\n")
        if self.client_up_mbps is not None:
            run_cmd(["tc", "-n", name, "qdisc", "add", "dev", "eth0", "root", "tbf",
                     *tbf_spec(self.client_up_mbps).split()])

    def _build_clients(self) -> None:
        self._say("clients", 0, self.clients)
        with ThreadPoolExecutor(PARALLEL, thread_name_prefix="netns-build") as pool:
            futures = [pool.submit(self._client_cmds, i) for i in range(self.clients)]
            for done, fut in enumerate(futures, 1):
                fut.result()
                if done % 50 == 0 or done == self.clients:
                    self._say("clients", done, self.clients)

    def _shape_air(self) -> None:
        lines = []
        if self.client_down_mbps is not None:
            spec = tbf_spec(self.client_down_mbps)
            lines += [f"qdisc add dev c{i} root tbf {spec}" for i in range(self.clients)]
        if self.ap_up_mbps is not None:
            lines.append(f"qdisc add dev up0 root tbf {tbf_spec(self.ap_up_mbps)}")
        if lines:
            self._say("shaping", 0, len(lines))
            run_cmd(["tc", "-n", self.ns_name(AIR), "-batch", "-"], "\n".join(lines) + "\n")
            self._say("shaping", len(lines), len(lines))

    def teardown(self) -> None:
        """Delete every namespace of this classroom (their links go with them). Idempotent."""
        if self._owner_pid != os.getpid():
            return  # built by another process (or never): not ours to delete
        present = set(list_netns())
        delete_netns([n for n in self.namespaces() if n in present])
        self._owner_pid = None
        with _live_lock:
            _live.discard(self)

    def __enter__(self) -> NetnsClassroom:
        return self.build()

    def __exit__(self, *exc: object) -> None:
        self.teardown()

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "progress": None}  # picklable for a crowd in a child process

    # ------------------------------------------------------------------ using it

    def socket_in(self, which: int | str, family: int = socket.AF_INET,
                  type: int = socket.SOCK_STREAM) -> socket.socket:  # noqa: A002
        """A new socket that lives in namespace ``which`` (client index, "wired" or "air")."""
        name = self.ns_name(which)
        self._require_built()
        return run_in_netns(name, lambda: socket.socket(family, type))

    def run_in_wired(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on a short-lived thread inside the wired namespace; return its result.

        Use it to start servers: their sockets and the threads they start stay in that ns.
        """
        self._require_built()
        return run_in_netns(self.ns_name(WIRED), fn)

    def _require_built(self) -> None:
        if self.ns_name(WIRED) not in list_netns():
            raise RuntimeError("the emulated classroom is not built (call build())")

    def qdisc_lines(self, sample: int = 2) -> list[str]:
        """``tc qdisc show`` of the shaped links (first ``sample`` clients)."""
        out = []
        picks = [(WIRED, "w0"), (AIR, "up0")]
        picks += [(AIR, f"c{i}") for i in range(min(sample, self.clients))]
        picks += [(i, "eth0") for i in range(min(sample, self.clients))]
        for which, dev in picks:
            ns = self.ns_name(which)
            try:
                text = run_cmd(["tc", "-n", ns, "qdisc", "show", "dev", dev]).stdout
            except RuntimeError as exc:
                text = f"({exc})"
            out += [f"{ns} {line.strip()}" for line in text.splitlines() if line.strip()]
        return out

    def describe(self) -> dict[str, Any]:
        """Topology and shaping, for evidence."""
        def rate(r: float | None) -> dict[str, Any] | None:
            return None if r is None else {
                "tbf_mbps": r, "payload_ceiling_mbps": round(payload_ceiling_mbps(r), 4),
                "tbf": tbf_spec(r)}

        return {
            "load_generator": LOAD_GENERATOR,
            "clients": self.clients,
            "prefix": self.prefix,
            "subnet": str(self.subnet),
            "server_address": self.server_address,
            "server_mac": SERVER_MAC,
            "client_ips": [self.client_ip(0), self.client_ip(self.clients - 1)],
            "client_macs": [self.client_mac(0), self.client_mac(self.clients - 1)],
            "topology": "wired ns (w0) = veth = air ns bridge 'ap' (up0, c<i>) = veth = "
                        "client ns <i> (eth0)",
            "shaping": {
                "client_down": rate(self.client_down_mbps),
                "client_up": rate(self.client_up_mbps),
                "ap_down": rate(self.ap_down_mbps),
                "ap_up": rate(self.ap_up_mbps),
                "counts": "tbf rates count Ethernet frames (L2, no FCS/preamble); payload "
                          f"ceiling = rate x {TCP_PAYLOAD}/{FRAME} at MTU {MTU}",
            },
            "qdiscs": self.qdisc_lines() if self.built else [],
            "missing": netns_extras(),
            "build_s": None if self.build_s is None else round(self.build_s, 2),
        }


@atexit.register
def _teardown_all() -> None:
    with _live_lock:
        rooms = list(_live)
    for room in rooms:
        try:
            room.teardown()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
