"""SNMPv1/v2c agent on UDP 127.0.0.1 serving a generated station table for one vendor map.

Knobs: ``vendor`` (map name or path), ``clients`` (rows), ``ssids``, ``aps``, ``seed``,
``report_only`` (answer everything with a REPORT PDU, like an agent that only speaks SNMPv3),
``garbage`` (answer with undecodable bytes), ``reply_delay_s`` (wait before answering).
Requests with another community are dropped silently, as real agents do.

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
                     "classcert-teach", "classcert-guest"), aps: int = 4, seed: int = 1,
                 report_only: bool = False, garbage: bool = False, reply_delay_s: float = 0.0,
                 **_ignored: Any) -> None:
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError("the SNMP simulator listens on loopback only")
        self.vendor_map = load_vendor_map(vendor)
        self.community = (password or "public").encode()
        self.rows = generate_rows(self.vendor_map, int(clients), tuple(ssids), aps, seed)
        self.mib = build_mib(self.vendor_map, self.rows)
        self._oids = sorted(self.mib)
        self.report_only, self.garbage = report_only, garbage
        self.reply_delay_s = float(reply_delay_s)
        self.requests = 0
        self._host, self._port = "127.0.0.1", port
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

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
