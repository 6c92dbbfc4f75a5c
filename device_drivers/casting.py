"""Screen-casting receivers in a room, discovered over mDNS / DNS-SD (``zeroconf``).

Browses AirPlay, Google Cast, Lebo (乐播投屏) and Wi-Fi Display / Miracast-over-IP service types
for a bounded time, then resolves each instance (addresses, port, TXT properties). Knows
nothing of standards or verdicts: the suite decides what the list means.

Pass ``interfaces=["127.0.0.1"]`` to keep all multicast on the loopback interface (tests, demo).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import ip_address

from zeroconf import InterfaceChoice, IPVersion, ServiceBrowser, ServiceStateChange, Zeroconf

SERVICE_TYPES: dict[str, str] = {
    "_airplay._tcp.local.": "airplay",
    "_googlecast._tcp.local.": "googlecast",
    "_leboremote._tcp.local.": "lebo",
    "_display._tcp.local.": "miracast",
}
MAX_RECEIVERS = 256
MAX_DURATION_S = 60.0


@dataclass(frozen=True)
class CastingReceiver:
    """One advertised receiver. ``properties`` are the decoded TXT key/values."""

    protocol: str  # airplay | googlecast | lebo | miracast
    service_type: str  # "_airplay._tcp.local."
    name: str  # instance name, e.g. "Panel 101"
    server: str = ""  # host name, e.g. "panel101.local."
    addresses: tuple[str, ...] = ()
    port: int = 0
    properties: Mapping[str, str] = field(default_factory=dict)

    @property
    def model(self) -> str:
        """Model from TXT: "model" (AirPlay, Lebo) or "md" (Google Cast)."""
        return self.properties.get("model") or self.properties.get("md", "")

    @property
    def device_id(self) -> str:
        """Device identifier from TXT: "deviceid" (AirPlay) or "id" (Google Cast)."""
        return self.properties.get("deviceid") or self.properties.get("id", "")

    @property
    def friendly_name(self) -> str:
        return self.properties.get("fn") or self.name


def _decode_txt(raw: Mapping[bytes | str, bytes | str | None] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (raw or {}).items():
        k = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
        if isinstance(value, bytes):
            v = value.decode("utf-8", "replace")
        else:
            v = "" if value is None else str(value)
        out[k.lower()] = v
    return out


def instance_name(full_name: str, service_type: str) -> str:
    """"Panel 101._airplay._tcp.local." -> "Panel 101"."""
    suffix = "." + service_type
    return full_name[: -len(suffix)] if full_name.endswith(suffix) else full_name


def discover_casting_receivers(duration_s: float = 3.0,
                               service_types: Iterable[str] = tuple(SERVICE_TYPES),
                               interfaces: Sequence[str] | None = None,
                               zeroconf: Zeroconf | None = None,
                               resolve_timeout_s: float = 1.5,
                               max_receivers: int = MAX_RECEIVERS) -> list[CastingReceiver]:
    """Browse for ``duration_s`` seconds, resolve what was seen, return sorted records.

    ``interfaces``: IP addresses of the interfaces to use (None = all). ``zeroconf``: an
    existing instance to reuse (it is left open). Bounded in time and number of receivers.
    """
    duration_s = max(0.1, min(float(duration_s), MAX_DURATION_S))
    types = list(service_types)
    unknown = [t for t in types if not t.endswith(("._tcp.local.", "._udp.local."))]
    if unknown:
        raise ValueError(f"service types must look like '_airplay._tcp.local.': {unknown}")
    own = zeroconf is None
    zc = zeroconf or Zeroconf(interfaces=list(interfaces) if interfaces else InterfaceChoice.All,
                              ip_version=IPVersion.V4Only if interfaces and all(
                                  ip_address(i).version == 4 for i in interfaces) else None)
    seen: dict[tuple[str, str], None] = {}
    lock = threading.Lock()

    def on_change(zeroconf: Zeroconf, service_type: str, name: str,
                  state_change: ServiceStateChange) -> None:
        if state_change is ServiceStateChange.Removed:
            return
        with lock:
            if len(seen) < max_receivers:
                seen[(service_type, name)] = None

    browser = ServiceBrowser(zc, types, handlers=[on_change])
    try:
        time.sleep(duration_s)
    finally:
        browser.cancel()
    try:
        return _resolve(zc, list(seen), resolve_timeout_s, deadline=time.monotonic() + max(
            resolve_timeout_s, duration_s))
    finally:
        if own:
            zc.close()


def _resolve(zc: Zeroconf, found: list[tuple[str, str]], timeout_s: float,
             deadline: float) -> list[CastingReceiver]:
    receivers = []
    for service_type, name in found:
        left = deadline - time.monotonic()
        info = zc.get_service_info(service_type, name,
                                   timeout=int(max(50, min(timeout_s, left) * 1000)))
        protocol = SERVICE_TYPES.get(service_type, service_type.split(".")[0].lstrip("_"))
        if info is None:  # seen but not resolvable in time: keep the name, no address
            receivers.append(CastingReceiver(protocol, service_type,
                                             instance_name(name, service_type)))
            continue
        receivers.append(CastingReceiver(
            protocol=protocol, service_type=service_type,
            name=instance_name(name, service_type), server=info.server or "",
            addresses=tuple(sorted(info.parsed_addresses())), port=info.port or 0,
            properties=_decode_txt(info.properties)))
    return sorted(receivers, key=lambda r: (r.protocol, r.name))
