"""Who a simulated Wi-Fi controller says is associated.

A controller simulator reports either its own generated population or, once it *follows*
an emulated crowd (``follow(provider)``), the crowd's stations: every station the provider
lists is associated to the simulator's SSID and access points. Then the two faults apply:
``report_only=K`` (the controller lists only K of the room's clients) and ``foreign=K`` (K
more clients on another SSID and another AP, which a room filter must drop).

A provider is any callable returning station tables with keys ``mac``, ``ip``, ``hostname``,
``band`` and ``os`` (``CrowdSim.stations``); missing keys get generated values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

StationProvider = Callable[[], list[dict[str, Any]]]

BANDS = ("2.4", "5", "6")
MAX_CLIENTS = 4000
MAX_FOREIGN = 1000
FOREIGN_AP = {"name": "corridor-AP", "mac": "02:a0:00:00:00:fe"}
_CLIENT_KEYS = {"mac", "ip", "hostname", "ssid", "ap", "band", "rssi_dbm", "tx_rate_mbps",
                "rx_rate_mbps", "os"}
_OSES = ("Windows", "Android", "iOS", "ChromeOS")


@dataclass
class Population:
    aps: list[dict[str, str]]
    clients: list[dict[str, Any]]


def ap_rows(aps: int | list[str]) -> list[dict[str, str]]:
    """Access points: ``AP-1``.. for a count, or the given names; MACs 02:a0:00:00:00:NN."""
    names = [f"AP-{i + 1}" for i in range(aps)] if isinstance(aps, int) else list(aps)
    if not names or len(names) > 250:
        raise ValueError("aps must be 1..250 access points")
    return [{"name": str(n), "mac": f"02:a0:00:00:00:{i + 1:02x}"} for i, n in enumerate(names)]


def make_population(clients: int | list[dict[str, Any]], aps: int | list[str], *, ssid: str,
                    band: str, tx_rate_mbps: float, rx_rate_mbps: float) -> Population:
    """APs and associated clients (generated for a count; a list overrides field by field)."""
    rows_ap = ap_rows(aps)
    names = [a["name"] for a in rows_ap]
    given = [{}] * clients if isinstance(clients, int) else list(clients)
    if not 0 <= len(given) <= MAX_CLIENTS:
        raise ValueError(f"clients must be 0..{MAX_CLIENTS}")
    rows = []
    for i, extra in enumerate(given):
        unknown = set(extra) - _CLIENT_KEYS
        if unknown:
            raise ValueError(f"unknown client keys {sorted(unknown)}; known {sorted(_CLIENT_KEYS)}")
        ap = rows_ap[i % len(rows_ap)]
        if "ap" in extra:
            ap = next((a for a in rows_ap if a["name"] == extra["ap"]), None)
            if ap is None:
                raise ValueError(f"client {i}: no AP named {extra['ap']!r}; aps are {names}")
        row = {"mac": f"02:c1:00:00:{(i + 1) >> 8:02x}:{(i + 1) & 0xFF:02x}",
               "ip": f"10.20.{(i + 10) // 250}.{(i + 10) % 250 + 1}",
               "hostname": f"student-{i + 1:03d}", "ssid": ssid, "band": band,
               "rssi_dbm": -45 - (i % 25), "tx_rate_mbps": tx_rate_mbps,
               "rx_rate_mbps": rx_rate_mbps, "os": _OSES[i % len(_OSES)]}
        row.update({k: v for k, v in extra.items() if k != "ap"})
        if row["band"] not in BANDS:
            raise ValueError(f"client {i}: band must be '2.4', '5' or '6'")
        row["ap_mac"], row["ap_name"] = ap["mac"], ap["name"]
        rows.append(row)
    return Population(rows_ap, rows)


def _mac_text(value: Any, i: int) -> str:
    text = str(value or "").strip().lower().replace("-", ":")
    parts = text.split(":")
    if len(parts) == 6 and all(len(p) == 2 and all(c in "0123456789abcdef" for c in p)
                               for p in parts):
        return text
    return f"02:cc:00:00:{(i + 1) >> 8:02x}:{(i + 1) & 0xFF:02x}"


def station_rows(stations: list[dict[str, Any]], aps: list[dict[str, str]], *, ssid: str,
                 band: str, tx_rate_mbps: float, rx_rate_mbps: float) -> list[dict[str, Any]]:
    """A crowd's stations as associated clients of ``ssid``, spread over ``aps`` in turn."""
    rows = []
    for i, st in enumerate(stations[:MAX_CLIENTS]):
        ap = aps[i % len(aps)]
        st_band = st.get("band")
        ip = st.get("ip")
        rows.append({
            "mac": _mac_text(st.get("mac"), i), "ip": str(ip) if ip else None,
            "hostname": str(st.get("hostname") or f"station-{i + 1:03d}"), "ssid": ssid,
            "band": st_band if st_band in BANDS else band, "rssi_dbm": -45 - (i % 25),
            "tx_rate_mbps": tx_rate_mbps, "rx_rate_mbps": rx_rate_mbps,
            "os": str(st.get("os") or ""), "ap_mac": ap["mac"], "ap_name": ap["name"],
        })
    return rows


def foreign_rows(count: int, *, ssid: str, band: str, tx_rate_mbps: float,
                 rx_rate_mbps: float) -> list[dict[str, Any]]:
    """``count`` clients of another SSID on another AP (the corridor's), to be filtered out."""
    rows = []
    for i in range(count):
        n = i + 1
        rows.append({
            "mac": f"02:f0:00:00:{n >> 8:02x}:{n & 0xFF:02x}",
            "ip": f"10.99.{n // 250}.{n % 250 + 1}", "hostname": f"visitor-{n:03d}",
            "ssid": f"{ssid}-guest", "band": band, "rssi_dbm": -70,
            "tx_rate_mbps": tx_rate_mbps, "rx_rate_mbps": rx_rate_mbps,
            "os": _OSES[i % len(_OSES)], "ap_mac": FOREIGN_AP["mac"],
            "ap_name": FOREIGN_AP["name"],
        })
    return rows


def crowd_station_provider(crowd: Any) -> StationProvider:
    """What a controller simulator follows: ``crowd.stations``; for a crowd without that
    method, one station per emulated device, all on the loopback address they connect from."""
    stations = getattr(crowd, "stations", None)
    if callable(stations):
        return stations

    def from_devices() -> list[dict[str, Any]]:
        band = getattr(crowd, "band", None)
        rows = []
        for dev in list(getattr(crowd, "devices", [])):
            n = int(dev.index) + 1
            rows.append({"mac": f"02:cc:00:00:{n >> 8:02x}:{n & 0xFF:02x}", "ip": "127.0.0.1",
                         "hostname": f"crowd-{n:03d}", "band": band, "os": dev.os})
        return rows

    return from_devices


def _count_or_none(value: Any, name: str, high: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise ValueError(f"{name} must be a whole number 0..{high}, got {value!r}")
    return value


class Association:
    """The clients one simulated controller reports; thread-safe enough for its readers."""

    def __init__(self, population: Population, *, ssid: str, band: str, tx_rate_mbps: float,
                 rx_rate_mbps: float, report_only: int | None = None, foreign: int = 0) -> None:
        if band not in BANDS:
            raise ValueError(f"band must be one of {BANDS}, got {band!r}")
        self.population = population
        self.ssid, self.band = ssid, band
        self.tx_rate_mbps, self.rx_rate_mbps = float(tx_rate_mbps), float(rx_rate_mbps)
        self.report_only = _count_or_none(report_only, "report_only", 10**6)
        self.foreign = _count_or_none(foreign, "foreign", MAX_FOREIGN) or 0
        self.provider: StationProvider | None = None

    def follow(self, provider: StationProvider | None) -> None:
        """Report ``provider()``'s stations as the room's clients (None: own population)."""
        if provider is not None and not callable(provider):
            raise TypeError("follow() needs a callable returning station tables")
        self.provider = provider

    @property
    def aps(self) -> list[dict[str, str]]:
        extra = [dict(FOREIGN_AP)] if self.foreign else []
        return list(self.population.aps) + extra

    def associated(self) -> list[dict[str, Any]]:
        """The room's associated clients: the followed stations, or the own population."""
        provider = self.provider
        if provider is None:
            return list(self.population.clients)
        return station_rows(list(provider() or []), self.population.aps, ssid=self.ssid,
                            band=self.band, tx_rate_mbps=self.tx_rate_mbps,
                            rx_rate_mbps=self.rx_rate_mbps)

    def reported(self) -> list[dict[str, Any]]:
        """What the controller lists: ``report_only`` of the room's clients, then foreign ones."""
        people = self.associated()
        if self.report_only is not None:
            people = people[: self.report_only]
        return people + foreign_rows(self.foreign, ssid=self.ssid, band=self.band,
                                     tx_rate_mbps=self.tx_rate_mbps,
                                     rx_rate_mbps=self.rx_rate_mbps)
