"""SNMPv1/v2c agent on UDP 127.0.0.1 serving a generated station table for one vendor map.

Knobs: ``vendor`` (map name or path), ``clients`` (rows), ``ssids``, ``aps`` (a count or a
list of names), ``seed``, ``report_only`` (``true``: answer everything with a REPORT PDU, like
an agent that only speaks SNMPv3; a whole number K: list only K of the room's stations, like
the other controller simulators), ``foreign=K`` (K more stations on another SSID and AP),
``garbage`` (answer with undecodable bytes), ``reply_delay_s`` (wait before answering).
Requests with another community are dropped silently, as real agents do.
``follow(provider)`` makes the table list an emulated crowd's stations (on the first SSID and
the simulator's APs) instead of the generated ones; the table is rebuilt when they change.

Standalone: ``python -m classcert.rigs.simulators.snmp_wireless_sim --vendor huawei --port 1161``.
"""

from __future__ import annotations

import argparse
import bisect
import random
import socket
import threading
import time
from typing import Any

from classcert.device_drivers import snmp_codec as codec
from classcert.device_drivers.snmp_wireless import Column, VendorMap, load_vendor_map
from classcert.rigs.simulators.wifi_population import (
    StationProvider,
    foreign_rows,
    station_rows,
)

MAX_BULK = 200
BAND_PREFERENCE = ("5", "2.4", "6")
# snmpUnknownSecurityModels.0, what a v3-only engine reports.
REPORT_OID = (1, 3, 6, 1, 6, 3, 11, 2, 1, 1, 0)


def station_mac(i: int) -> tuple[int, ...]:
    return (0x02, 0xC1, 0xA5, (i >> 16) & 0xFF, (i >> 8) & 0xFF, i & 0xFF)


def generate_rows(vendor_map: VendorMap, clients: int, ssids: tuple[str, ...] = (
        "classcert-teach", "classcert-guest"), aps: int = 4, seed: int = 1
        ) -> dict[tuple[int, ...], dict[str, Any]]:
    """Per station MAC index: field -> Python value (what the client should decode)."""
    rng = random.Random(seed)
    rows = {}
    for i in range(clients):
        ap = i % max(1, aps)
        rows[station_mac(i)] = {
            "mac": ":".join(f"{b:02x}" for b in station_mac(i)),
            "ip": f"10.20.{(i >> 8) & 0xFF}.{(i & 0xFF) or 1}",
            "hostname": f"pad-{i:03d}",
            "ap_mac": f"02:0a:00:00:00:{ap:02x}",
            "ap_name": f"AP-{101 + ap}",
            "ssid": ssids[i % len(ssids)],
            "band": BAND_PREFERENCE[i % 2],
            "rssi_dbm": -rng.randint(35, 82),
            "tx_rate_mbps": float(rng.choice((72, 144, 300, 433, 866))),
            "rx_rate_mbps": float(rng.choice((54, 72, 144, 300, 433))),
        }
    return rows


def ap_list(aps: int | list[str]) -> list[dict[str, str]]:
    """The agent's APs: the names ``generate_rows`` uses for a count, or the given names."""
    names = ([f"AP-{101 + i}" for i in range(max(1, aps))] if isinstance(aps, int)
             else [str(n) for n in aps])
    if not names or len(names) > 250:
        raise ValueError("aps must be 1..250 access points")
    return [{"name": n, "mac": f"02:0a:00:00:00:{i:02x}"} for i, n in enumerate(names)]


def indexed(rows: list[dict[str, Any]]) -> dict[tuple[int, ...], dict[str, Any]]:
    """Client tables (wifi_population form) keyed by their MAC, as the station table is."""
    keep = ("mac", "ip", "hostname", "ap_mac", "ap_name", "ssid", "band", "rssi_dbm",
            "tx_rate_mbps", "rx_rate_mbps")
    out = {}
    for row in rows:
        index = tuple(int(b, 16) for b in row["mac"].split(":"))
        out[index] = {k: row.get(k) for k in keep}
    return out


def encode_cell(column: Column, value: Any) -> tuple[int, codec.Value]:
    if column.type == "mac":
        return codec.OCTET_STRING, bytes(int(b, 16) for b in value.split(":"))
    if column.type == "ip":
        return codec.IP_ADDRESS, bytes(int(b) for b in value.split("."))
    if column.type == "string":
        return codec.OCTET_STRING, value.encode()
    if column.type == "enum":
        code = next((k for k, v in sorted(column.values.items()) if v == value), 0)
        return codec.INTEGER, code
    return codec.INTEGER, int(value)


def build_mib(vendor_map: VendorMap, rows: dict[tuple[int, ...], dict[str, Any]]
              ) -> dict[tuple[int, ...], tuple[int, codec.Value]]:
    mib = {}
    for column in vendor_map.columns:
        for index, fields in rows.items():
            if fields.get(column.field) is not None:
                mib[column.oid + index] = encode_cell(column, fields[column.field])
    return mib


class SnmpWirelessSim:
    """Thread-based agent; context manager; ``address`` is "127.0.0.1:PORT"."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, password: str | None = None,
                 vendor: str = "huawei", clients: int = 12, ssids: tuple[str, ...] | list[str] = (
                     "classcert-teach", "classcert-guest"), aps: int | list[str] = 4,
                 seed: int = 1, report_only: bool | int = False, foreign: int = 0,
                 garbage: bool = False, reply_delay_s: float = 0.0, **_ignored: Any) -> None:
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError("the SNMP simulator listens on loopback only")
        if not ssids:
            raise ValueError("ssids must name at least one SSID")
        undercount = None if isinstance(report_only, bool) else report_only
        if undercount is not None and (not isinstance(undercount, int) or undercount < 0):
            raise ValueError("report_only must be true/false or a whole number >= 0")
        if isinstance(foreign, bool) or not isinstance(foreign, int) or not 0 <= foreign <= 1000:
            raise ValueError("foreign must be a whole number 0..1000")
        self.vendor_map = load_vendor_map(vendor)
        self.community = (password or "public").encode()
        self.ssids, self.aps = tuple(str(x) for x in ssids), ap_list(aps)
        self.undercount, self.foreign = undercount, foreign
        own = generate_rows(self.vendor_map, int(clients), self.ssids, len(self.aps), seed)
        for fields in own.values():  # named APs replace the generated names
            fields["ap_name"] = self.aps[int(fields["ap_mac"][-2:], 16)]["name"]
        self._own = own
        self._provider: StationProvider | None = None
        self._stamp: tuple[Any, ...] | None = None
        self._set_rows(self._room_rows(own))
        self.report_only, self.garbage = report_only is True, garbage
        self.reply_delay_s = float(reply_delay_s)
        self.requests = 0
        self._host, self._port = "127.0.0.1", port
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # ------------------------------------------------------------ population

    def follow(self, provider: StationProvider | None) -> None:
        """List ``provider()``'s stations (an emulated crowd) as the associated clients."""
        if provider is not None and not callable(provider):
            raise TypeError("follow() needs a callable returning station tables")
        self._provider = provider
        self._refresh()

    def _room_rows(self, room: dict[tuple[int, ...], dict[str, Any]]
                   ) -> dict[tuple[int, ...], dict[str, Any]]:
        keys = sorted(room)
        if self.undercount is not None:
            keys = keys[: self.undercount]
        rows = {k: room[k] for k in keys}
        extra = foreign_rows(self.foreign, ssid=self.ssids[0], band="2.4",
                             tx_rate_mbps=72.0, rx_rate_mbps=54.0)
        rows.update(indexed(extra))
        return rows

    def _set_rows(self, rows: dict[tuple[int, ...], dict[str, Any]]) -> None:
        self.rows = rows
        self.mib = build_mib(self.vendor_map, rows)
        self._oids = sorted(self.mib)

    def _refresh(self) -> None:
        """Rebuild the table when the followed stations changed (cheap when they did not)."""
        provider = self._provider
        if provider is None:
            if self._stamp is not None:
                self._stamp = None
                self._set_rows(self._room_rows(self._own))
            return
        stations = list(provider() or [])
        stamp = tuple((st.get("mac"), st.get("ip"), st.get("band")) for st in stations)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        room = station_rows(stations, self.aps, ssid=self.ssids[0], band="5",
                            tx_rate_mbps=433.0, rx_rate_mbps=300.0)
        self._set_rows(self._room_rows(indexed(room)))

    @property
    def address(self) -> str:
        if self._sock is None:
            raise RuntimeError("simulator not started")
        return f"{self._host}:{self._sock.getsockname()[1]}"

    def start(self) -> SnmpWirelessSim:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((self._host, self._port))
        self._sock.settimeout(0.1)
        self._thread = threading.Thread(target=self._serve, name="snmp-wireless-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        if self._sock is not None:
            self._sock.close()

    def __enter__(self) -> SnmpWirelessSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ agent

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(codec.MAX_MESSAGE)
            except TimeoutError:
                continue
            except OSError:
                return
            reply = self.handle(data)
            if reply is None:
                continue
            if self.reply_delay_s and self._stop.wait(self.reply_delay_s):
                return
            try:
                self._sock.sendto(reply, peer)
            except OSError:
                return

    def handle(self, data: bytes) -> bytes | None:
        """Reply bytes for one request datagram, or None to drop it."""
        try:
            msg = codec.decode_message(data)
        except codec.SnmpDecodeError:
            return None
        if msg.community != self.community or msg.pdu.tag not in (
                codec.GET, codec.GET_NEXT, codec.GET_BULK):
            return None
        self.requests += 1
        self._refresh()
        if self.garbage:
            return bytes([0x30, 0x84]) + random.randbytes(12)
        pdu = msg.pdu
        if self.report_only:
            out = codec.Pdu(codec.REPORT, pdu.request_id, 0, 0,
                            (codec.VarBind(REPORT_OID, codec.COUNTER32, self.requests),))
        elif pdu.tag == codec.GET_BULK and msg.version != codec.VERSION_1:
            out = self._bulk(pdu)
        else:
            out = self._get(pdu, msg.version)
        return codec.encode_message(codec.Message(msg.version, msg.community, out))

    def _next(self, oid: tuple[int, ...]) -> codec.VarBind:
        i = bisect.bisect_right(self._oids, oid)
        if i >= len(self._oids):
            return codec.VarBind(oid, codec.END_OF_MIB_VIEW)
        found = self._oids[i]
        return codec.VarBind(found, *self.mib[found])

    def _get(self, pdu: codec.Pdu, version: int) -> codec.Pdu:
        binds = []
        for k, vb in enumerate(pdu.varbinds, start=1):
            if pdu.tag == codec.GET_NEXT:
                got = self._next(vb.oid)
            elif vb.oid in self.mib:
                got = codec.VarBind(vb.oid, *self.mib[vb.oid])
            else:
                got = codec.VarBind(vb.oid, codec.NO_SUCH_INSTANCE)
            if got.is_exception and version == codec.VERSION_1:
                return codec.Pdu(codec.RESPONSE, pdu.request_id, 2, k, pdu.varbinds)
            binds.append(got)
        return codec.Pdu(codec.RESPONSE, pdu.request_id, 0, 0, tuple(binds))

    def _bulk(self, pdu: codec.Pdu) -> codec.Pdu:
        non_rep = max(0, min(pdu.error_status, len(pdu.varbinds)))
        reps = max(0, min(pdu.error_index, MAX_BULK))
        binds = [self._next(vb.oid) for vb in pdu.varbinds[:non_rep]]
        cursors = [vb.oid for vb in pdu.varbinds[non_rep:]]
        for _ in range(reps if cursors else 0):
            row = [self._next(c) for c in cursors]
            binds.extend(row)
            cursors = [vb.oid for vb in row]
            if all(vb.tag == codec.END_OF_MIB_VIEW for vb in row):
                break
        return codec.Pdu(codec.RESPONSE, pdu.request_id, 0, 0, tuple(binds))


def main() -> None:  # pragma: no cover - manual use
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vendor", default="huawei")
    parser.add_argument("--port", type=int, default=1161)
    parser.add_argument("--clients", type=int, default=12)
    parser.add_argument("--community", default="public")
    args = parser.parse_args()
    with SnmpWirelessSim(port=args.port, vendor=args.vendor, clients=args.clients,
                         password=args.community) as sim:
        print(f"SNMP agent for {args.vendor} on udp:{sim.address}", flush=True)
        for _ in range(360000):
            time.sleep(0.1)


if __name__ == "__main__":  # pragma: no cover
    main()
