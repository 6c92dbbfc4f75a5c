"""Small SNMPv1/v2c manager over UDP: GET, GETNEXT, GETBULK and bounded WALK of a subtree.

SNMPv3 (USM authentication/privacy) is not implemented: asking for it raises ``ValueError``
with the way out (configure a read-only v2c community restricted to the harness host).
"""

from __future__ import annotations

import itertools
import random
import socket
import time
from collections.abc import Iterable

from classcert.device_drivers import snmp_codec as codec
from classcert.device_drivers.errors import DeviceError, DeviceTimeout, DeviceUnreachable

ERROR_NAMES = {1: "tooBig", 2: "noSuchName", 3: "badValue", 4: "readOnly", 5: "genErr",
               6: "noAccess", 16: "authorizationError"}
_VERSIONS = {"1": codec.VERSION_1, "v1": codec.VERSION_1, "2c": codec.VERSION_2C,
             "v2c": codec.VERSION_2C, "2": codec.VERSION_2C}


class SnmpProtocolError(DeviceError):
    """The agent answered, but with an error status, a REPORT or undecodable bytes."""


def parse_version(version: str | int) -> int:
    text = str(version).strip().lower()
    if text in ("3", "v3"):
        raise ValueError("SNMPv3 is not supported yet: configure a read-only SNMPv2c community "
                         "for the harness host / 暂不支持 SNMPv3：请为测试主机配置只读 v2c 团体名")
    if text not in _VERSIONS:
        raise ValueError(f"unknown SNMP version {version!r}: use '1' or '2c'")
    return _VERSIONS[text]


def split_address(address: str, default_port: int = 161) -> tuple[str, int]:
    host, sep, port = address.strip().rpartition(":")
    if not sep:
        return address.strip(), default_port
    if not port.isdigit() or not host:
        raise ValueError(f"bad SNMP address {address!r}: expected host or host:port")
    return host.strip("[]"), int(port)


class SnmpClient:
    """One agent. ``timeout`` is per attempt; ``retries`` extra attempts follow a timeout."""

    def __init__(self, address: str, community: str | bytes = "public", version: str | int = "2c",
                 timeout: float = 2.0, retries: int = 1) -> None:
        self.address = address
        self.host, self.port = split_address(address)
        self.community = community.encode() if isinstance(community, str) else community
        self.version = parse_version(version)
        self.timeout = timeout
        self.retries = max(0, retries)
        self._ids = itertools.count(random.randint(1, 1 << 30))
        try:
            info = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)[0]
        except socket.gaierror as exc:
            raise DeviceUnreachable(address, f"unknown host: {exc}", f"未知主机：{exc}") from exc
        self._sock = socket.socket(info[0], socket.SOCK_DGRAM)
        self._target = info[4]

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> SnmpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ requests

    def request(self, tag: int, oids: Iterable[tuple[int, ...]], a: int = 0, b: int = 0
                ) -> codec.Pdu:
        """Send one PDU and return the matching RESPONSE (raises on errors and timeouts)."""
        request_id = next(self._ids) & 0x7FFFFFFF
        pdu = codec.Pdu(tag, request_id, a, b, tuple(codec.VarBind(o) for o in oids))
        wire = codec.encode_message(codec.Message(self.version, self.community, pdu))
        for _attempt in range(self.retries + 1):
            try:
                self._sock.sendto(wire, self._target)
            except OSError as exc:
                raise DeviceUnreachable(self.address, f"cannot send: {exc}",
                                        f"无法发送：{exc}") from exc
            reply = self._await(request_id)
            if reply is not None:
                return self._check(reply)
        raise DeviceTimeout(
            self.address,
            f"no SNMP reply within {self.timeout:g} s x {self.retries + 1}: check the address, "
            "that SNMP is enabled, the community string and the version",
            f"{self.timeout:g} 秒内无 SNMP 应答：请检查地址、SNMP 是否开启、团体名及版本")

    def _await(self, request_id: int) -> codec.Pdu | None:
        deadline = time.monotonic() + self.timeout
        for _ in range(64):  # stray or stale datagrams are skipped, boundedly
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._sock.settimeout(left)
            try:
                data, _peer = self._sock.recvfrom(codec.MAX_MESSAGE)
            except TimeoutError:
                return None
            except ConnectionRefusedError as exc:  # ICMP port unreachable
                raise DeviceUnreachable(self.address, "port unreachable: no SNMP agent there",
                                        "端口不可达：该地址没有 SNMP 代理") from exc
            try:
                msg = codec.decode_message(data)
            except codec.SnmpDecodeError as exc:
                raise SnmpProtocolError(self.address, f"undecodable reply: {exc}",
                                        f"应答无法解析：{exc}") from exc
            if msg.pdu.request_id == request_id:
                return msg.pdu
        return None

    def _check(self, pdu: codec.Pdu) -> codec.Pdu:
        if pdu.tag == codec.REPORT:
            oid = codec.format_oid(pdu.varbinds[0].oid) if pdu.varbinds else "?"
            raise SnmpProtocolError(
                self.address, f"agent answered with a REPORT ({oid}): it expects another SNMP "
                "version or credentials", f"代理返回 REPORT（{oid}）：SNMP 版本或凭据不匹配")
        if pdu.tag != codec.RESPONSE:
            raise SnmpProtocolError(self.address, f"unexpected PDU 0x{pdu.tag:02x}",
                                    f"意外的 PDU 0x{pdu.tag:02x}")
        if pdu.error_status:
            name = ERROR_NAMES.get(pdu.error_status, str(pdu.error_status))
            err = SnmpProtocolError(self.address, f"agent error {name} at #{pdu.error_index}",
                                    f"代理错误 {name}（第 {pdu.error_index} 项）")
            err.error_status = pdu.error_status
            raise err
        return pdu

    def get(self, *oids: tuple[int, ...]) -> list[codec.VarBind]:
        return list(self.request(codec.GET, oids).varbinds)

    def get_next(self, *oids: tuple[int, ...]) -> list[codec.VarBind]:
        return list(self.request(codec.GET_NEXT, oids).varbinds)

    def get_bulk(self, oid: tuple[int, ...], max_repetitions: int = 20) -> list[codec.VarBind]:
        if self.version == codec.VERSION_1:
            raise ValueError("GETBULK needs SNMPv2c")
        return list(self.request(codec.GET_BULK, [oid], 0, max_repetitions).varbinds)

    def walk(self, root: tuple[int, ...], max_rows: int = 10000, time_budget_s: float = 30.0,
             max_repetitions: int = 20) -> list[codec.VarBind]:
        """Every varbind under ``root`` in OID order, bounded in rows and wall time."""
        out: list[codec.VarBind] = []
        cursor = root
        deadline = time.monotonic() + time_budget_s
        while len(out) < max_rows:
            if time.monotonic() > deadline:
                raise DeviceTimeout(self.address, f"walk of {codec.format_oid(root)} exceeded "
                                    f"{time_budget_s:g} s", f"遍历超过 {time_budget_s:g} 秒")
            try:
                batch = (self.get_bulk(cursor, max_repetitions)
                         if self.version != codec.VERSION_1 else self.get_next(cursor))
            except SnmpProtocolError as exc:
                if getattr(exc, "error_status", 0) == 2 and self.version == codec.VERSION_1:
                    return out  # SNMPv1 signals the end of the MIB with noSuchName
                raise
            if not batch:
                return out
            for vb in batch:
                if vb.is_exception or vb.oid[:len(root)] != root or len(out) >= max_rows:
                    return out
                if vb.oid <= cursor:
                    raise SnmpProtocolError(self.address, "agent returned OIDs out of order",
                                            "代理返回的 OID 顺序错误")
                out.append(vb)
                cursor = vb.oid
        return out
