"""Associated Wi-Fi clients read from a wireless controller over SNMP, vendor MIBs as data.

Each vendor map (``wireless_mibs/<vendor>.toml``) names the column OIDs of the controller's
station table and how to read them (mac, ip, string, int, enum). Every column is walked, and
cells are joined on the row index, which is the station MAC (6 sub-identifiers) for all maps
shipped. Knows nothing of standards or verdicts.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from classcert.device_drivers import snmp_codec as codec
from classcert.device_drivers.snmp_client import SnmpClient

try:  # the shared record, when the controller module is present
    from classcert.device_drivers.wifi_controller import WirelessClient
except ImportError:  # pragma: no cover - depends on the tree
    @dataclass(frozen=True)
    class WirelessClient:  # type: ignore[no-redef]
        """One associated station (same fields as wifi_controller.WirelessClient)."""

        mac: str
        ip: str | None = None
        hostname: str | None = None
        ap_mac: str | None = None
        ap_name: str | None = None
        ssid: str | None = None
        band: str | None = None  # "2.4" | "5" | "6"
        rssi_dbm: int | None = None
        tx_rate_mbps: float | None = None
        rx_rate_mbps: float | None = None
        os_hint: str | None = None

FIELDS = ("mac", "ip", "hostname", "ap_mac", "ap_name", "ssid", "band", "rssi_dbm",
          "tx_rate_mbps", "rx_rate_mbps")
COLUMN_TYPES = ("mac", "ip", "string", "int", "enum")
MAPS_PACKAGE = "classcert.device_drivers"
MAPS_DIR = "wireless_mibs"


@dataclass(frozen=True)
class Column:
    field: str
    oid: tuple[int, ...]
    type: str
    values: Mapping[int, str]


@dataclass(frozen=True)
class VendorMap:
    vendor: str
    title: str
    mib: str
    table: str
    index: str
    columns: tuple[Column, ...]
    source: str = ""


def parse_vendor_map(data: Mapping[str, Any], source: str = "") -> VendorMap:
    """Validate a vendor map read from TOML; ValueError names the file and the fix."""
    where = source or "vendor map"
    for key in ("vendor", "mib", "table", "columns"):
        if key not in data:
            raise ValueError(f"{where}: missing '{key}'")
    if data.get("index", "mac") != "mac":
        raise ValueError(f"{where}: index must be 'mac' (the only row index supported)")
    columns = []
    for field, spec in data["columns"].items():
        if field not in FIELDS:
            raise ValueError(f"{where}: unknown column '{field}', use one of {', '.join(FIELDS)}")
        kind = spec.get("type", "")
        if kind not in COLUMN_TYPES:
            raise ValueError(f"{where}: column '{field}' type {kind!r} not in {COLUMN_TYPES}")
        values = {int(k): str(v) for k, v in spec.get("values", {}).items()}
        columns.append(Column(field, codec.parse_oid(spec["oid"]), kind, values))
    if not columns:
        raise ValueError(f"{where}: no columns")
    return VendorMap(str(data["vendor"]), str(data.get("title", data["vendor"])),
                     str(data["mib"]), str(data["table"]), "mac", tuple(columns), source)


def available_vendors() -> list[str]:
    folder = resources.files(MAPS_PACKAGE).joinpath(MAPS_DIR)
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_vendor_map(vendor: str) -> VendorMap:
    """A shipped map by name ("huawei", "h3c", "cisco-aireos") or a path to a TOML file."""
    if vendor.endswith(".toml") or os.sep in vendor:
        path = Path(vendor)
        if not path.is_file():
            raise ValueError(f"vendor map file not found: {path}")
        return parse_vendor_map(tomllib.loads(path.read_text("utf-8")), str(path))
    entry = resources.files(MAPS_PACKAGE).joinpath(MAPS_DIR, f"{vendor}.toml")
    if not entry.is_file():
        raise ValueError(f"unknown wireless controller vendor {vendor!r}: use one of "
                         f"{', '.join(available_vendors())} or a path to a map file")
    return parse_vendor_map(tomllib.loads(entry.read_text("utf-8")), f"{MAPS_DIR}/{vendor}.toml")


# ---------------------------------------------------------------- cell decoding

def format_mac(raw: bytes | tuple[int, ...]) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def decode_cell(column: Column, vb: codec.VarBind) -> Any:
    """Python value of one cell, or None when the agent's value does not fit the column."""
    value = vb.value
    if vb.is_exception or value is None:
        return None
    if column.type == "mac":
        return format_mac(value) if isinstance(value, bytes) and len(value) == 6 else None
    if column.type == "ip":
        if isinstance(value, bytes) and len(value) == 4:
            return ".".join(str(b) for b in value)
        return None
    if column.type == "string":
        if not isinstance(value, bytes):
            return None
        return value.rstrip(b"\x00").decode("utf-8", errors="replace").strip() or None
    if not isinstance(value, int):
        return None
    if column.type == "enum":
        return column.values.get(value, str(value))
    return value


def rows_to_clients(vendor_map: VendorMap,
                    cells: Mapping[str, list[codec.VarBind]]) -> list[WirelessClient]:
    """Join walked columns (field -> varbinds) on the MAC row index."""
    rows: dict[tuple[int, ...], dict[str, Any]] = {}
    for column in vendor_map.columns:
        for vb in cells.get(column.field, []):
            index = vb.oid[len(column.oid):]
            if len(index) != 6 or max(index) > 255:
                continue  # not a MAC-indexed row: ignore rather than guess
            value = decode_cell(column, vb)
            if value is not None:
                rows.setdefault(index, {})[column.field] = value
    clients = []
    for index in sorted(rows):
        fields = rows[index]
        fields["mac"] = fields.get("mac") or format_mac(index)
        for rate in ("tx_rate_mbps", "rx_rate_mbps"):
            if rate in fields:
                fields[rate] = float(fields[rate])
        record = dict.fromkeys(FIELDS + ("os_hint",)) | fields
        clients.append(WirelessClient(**record))
    return clients


class SnmpWirelessController:
    """Reads the associated clients of one controller."""

    def __init__(self, address: str, vendor_map: VendorMap, community: str = "public",
                 version: str = "2c", timeout: float = 2.0, retries: int = 1,
                 max_clients: int = 5000) -> None:
        self.vendor_map = vendor_map
        self.max_clients = max_clients
        self.client = SnmpClient(address, community, version, timeout, retries)
        self.address = address

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> SnmpWirelessController:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def walk_columns(self, time_budget_s: float = 60.0) -> dict[str, list[codec.VarBind]]:
        return {c.field: self.client.walk(c.oid, max_rows=self.max_clients,
                                          time_budget_s=time_budget_s)
                for c in self.vendor_map.columns}

    def clients(self, time_budget_s: float = 60.0) -> list[WirelessClient]:
        return rows_to_clients(self.vendor_map, self.walk_columns(time_budget_s))


def open_snmp_wireless(address: str, password: str | None, timeout: float,
                       options: Mapping[str, Any]) -> SnmpWirelessController:
    """Rig factory. options: vendor (required), version ("2c"), community (when no
    password_env), retries, max_clients. The community comes from ``password`` when set."""
    vendor = options.get("vendor")
    if not vendor:
        raise ValueError("wireless controller needs options.vendor, one of "
                         f"{', '.join(available_vendors())} / 需要在 options.vendor 中指定厂商")
    community = password or str(options.get("community", "public"))
    return SnmpWirelessController(address, load_vendor_map(str(vendor)), community,
                                  str(options.get("version", "2c")), timeout,
                                  int(options.get("retries", 1)),
                                  int(options.get("max_clients", 5000)))
