"""WS-Discovery (2005/04, as used by ONVIF) Probe / ProbeMatches over SOAP-over-UDP.

:func:`probe` sends one Probe to an explicit ``host:port`` (unicast) and collects the
ProbeMatches that answer it for a bounded time. The multicast group 239.255.255.250:3702 is
used only when the caller passes ``multicast=True`` and no target. The codec functions are
pure; simulators use :func:`parse_probe` and :func:`build_probe_matches` to answer.
"""

from __future__ import annotations

import re
import socket
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

from classcert.device_drivers.onvif_soap import SoapDecodeError, parse_xml

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "d": "http://schemas.xmlsoap.org/ws/2005/04/discovery",
    "dn": "http://www.onvif.org/ver10/network/wsdl",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
}
PORT = 3702
MULTICAST_GROUP = "239.255.255.250"
DISCOVERY_TO = "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
ACTION_PROBE = "http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe"
ACTION_MATCHES = "http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches"
NVT = f"{{{NS['dn']}}}NetworkVideoTransmitter"
DEVICE = f"{{{NS['tds']}}}Device"
MAX_DATAGRAM = 65_507
MAX_WAIT_S = 30.0
_XMLNS = re.compile(r"""xmlns:([A-Za-z_][\w.-]*)\s*=\s*["']([^"']*)["']""")


@dataclass(frozen=True)
class ProbeMatch:
    """One device's answer: endpoint reference, types (Clark names), scopes, XAddrs."""

    address: str  # EndpointReference Address, usually urn:uuid:...
    types: tuple[str, ...]
    scopes: tuple[str, ...]
    xaddrs: tuple[str, ...]
    metadata_version: int = 0


@dataclass(frozen=True)
class Probe:
    message_id: str
    types: tuple[str, ...]  # Clark names
    scopes: tuple[str, ...]


def _qnames(names: Iterable[str], decls: dict[str, str]) -> str:
    """Clark names -> space separated prefixed QNames, adding ``xmlns`` declarations."""
    out = []
    for name in names:
        if name.startswith("{"):
            uri, local = name[1:].split("}", 1)
            prefix = next((p for p, u in decls.items() if u == uri), f"ns{len(decls)}")
            decls[prefix] = uri
            out.append(f"{prefix}:{local}")
        else:
            out.append(name)
    return " ".join(out)


def _envelope(header: str, body: str, decls: dict[str, str]) -> bytes:
    attrs = " ".join(f'xmlns:{p}="{escape(u)}"' for p, u in decls.items())
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<s:Envelope {attrs}><s:Header>{header}'
            f"</s:Header><s:Body>{body}</s:Body></s:Envelope>").encode()


def new_message_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def build_probe(message_id: str, types: Sequence[str] = (NVT,),
                scopes: Sequence[str] = ()) -> bytes:
    """A Probe for ``types`` (Clark names or prefixed names declared in :data:`NS`)."""
    decls = dict(NS)
    body = "<d:Probe>"
    if types:
        body += f"<d:Types>{_qnames(types, decls)}</d:Types>"
    if scopes:
        body += f"<d:Scopes>{escape(' '.join(scopes))}</d:Scopes>"
    body += "</d:Probe>"
    header = (f'<a:Action s:mustUnderstand="1">{ACTION_PROBE}</a:Action>'
              f"<a:MessageID>{escape(message_id)}</a:MessageID>"
              f"<a:ReplyTo><a:Address>{ANONYMOUS}</a:Address></a:ReplyTo>"
              f'<a:To s:mustUnderstand="1">{DISCOVERY_TO}</a:To>')
    return _envelope(header, body, decls)


def build_probe_matches(relates_to: str, matches: Sequence[ProbeMatch],
                        message_id: str | None = None, message_number: int = 1) -> bytes:
    decls = dict(NS)
    items = []
    for m in matches:
        items.append(
            f"<d:ProbeMatch><a:EndpointReference><a:Address>{escape(m.address)}</a:Address>"
            f"</a:EndpointReference><d:Types>{_qnames(m.types, decls)}</d:Types>"
            f"<d:Scopes>{escape(' '.join(m.scopes))}</d:Scopes>"
            f"<d:XAddrs>{escape(' '.join(m.xaddrs))}</d:XAddrs>"
            f"<d:MetadataVersion>{int(m.metadata_version)}</d:MetadataVersion></d:ProbeMatch>")
    header = (f"<a:Action>{ACTION_MATCHES}</a:Action>"
              f"<a:MessageID>{escape(message_id or new_message_id())}</a:MessageID>"
              f"<a:RelatesTo>{escape(relates_to)}</a:RelatesTo><a:To>{ANONYMOUS}</a:To>"
              f'<d:AppSequence InstanceId="1" MessageNumber="{int(message_number)}"/>')
    return _envelope(header, f"<d:ProbeMatches>{''.join(items)}</d:ProbeMatches>", decls)


def _parse(data: bytes, action: str) -> tuple[ET.Element, ET.Element, dict[str, str]]:
    root = parse_xml(data)
    if root.tag != f"{{{NS['s']}}}Envelope":
        raise SoapDecodeError(f"not a SOAP 1.2 envelope (root element {root.tag!r})")
    header, body = root.find("s:Header", NS), root.find("s:Body", NS)
    if header is None or body is None:
        raise SoapDecodeError("WS-Discovery message needs a Header and a Body")
    got = (header.findtext("a:Action", "", NS) or "").strip()
    if got != action:
        raise SoapDecodeError(f"expected action {action}, got {got[:80]!r}")
    decls = {p: u for p, u in _XMLNS.findall(bytes(data).decode("utf-8-sig"))}
    return header, body, decls


def _resolve(text: str, decls: dict[str, str]) -> tuple[str, ...]:
    out = []
    for token in text.split():
        prefix, _, local = token.rpartition(":")
        out.append(f"{{{decls[prefix]}}}{local}" if prefix in decls and local else token)
    return tuple(out)


def parse_probe(data: bytes) -> Probe:
    header, body, decls = _parse(data, ACTION_PROBE)
    node = body.find("d:Probe", NS)
    if node is None:
        raise SoapDecodeError("Probe message has no d:Probe body")
    return Probe((header.findtext("a:MessageID", "", NS) or "").strip(),
                 _resolve(node.findtext("d:Types", "", NS) or "", decls),
                 tuple((node.findtext("d:Scopes", "", NS) or "").split()))


def parse_probe_matches(data: bytes) -> tuple[str, list[ProbeMatch]]:
    """(RelatesTo, matches) of a ProbeMatches message."""
    header, body, decls = _parse(data, ACTION_MATCHES)
    found = []
    for node in body.findall("d:ProbeMatches/d:ProbeMatch", NS):
        version = (node.findtext("d:MetadataVersion", "", NS) or "0").strip()
        found.append(ProbeMatch(
            address=(node.findtext("a:EndpointReference/a:Address", "", NS) or "").strip(),
            types=_resolve(node.findtext("d:Types", "", NS) or "", decls),
            scopes=tuple((node.findtext("d:Scopes", "", NS) or "").split()),
            xaddrs=tuple((node.findtext("d:XAddrs", "", NS) or "").split()),
            metadata_version=int(version) if version.isdigit() and len(version) < 12 else 0))
    return (header.findtext("a:RelatesTo", "", NS) or "").strip(), found


def matches_probe(probe_msg: Probe, types: Sequence[str], scopes: Sequence[str]) -> bool:
    """WS-Discovery matching: every probed type offered; every probed scope a prefix match."""
    if not set(probe_msg.types) <= set(types):
        return False
    return all(any(s == p or s.startswith(p.rstrip("/") + "/") for s in scopes)
               for p in probe_msg.scopes)


def _target(target: str) -> tuple[str, int]:
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        return target.strip("[]"), PORT
    return host.strip("[]"), int(port)


def probe(target: str | None = None, *, types: Sequence[str] = (NVT,),
          scopes: Sequence[str] = (), timeout: float = 2.0, multicast: bool = False,
          max_matches: int = 64) -> list[ProbeMatch]:
    """Send one Probe and collect ProbeMatches answering it for ``timeout`` seconds.

    ``target`` is ``host[:port]`` (unicast). Without a target, ``multicast=True`` must be given
    explicitly to probe the local network's multicast group (TTL 1). Returns matches in the
    order they arrived, one per endpoint address; an empty list when nobody answered.
    """
    if target is None and not multicast:
        raise ValueError("give a target host:port, or multicast=True to probe the local "
                         "network / 请指定目标地址, 或显式启用组播 (multicast=True)")
    dest = _target(target) if target is not None else (MULTICAST_GROUP, PORT)
    timeout = min(max(timeout, 0.0), MAX_WAIT_S)
    message_id = new_message_id()
    family = socket.AF_INET6 if ":" in dest[0] else socket.AF_INET
    found: dict[str, ProbeMatch] = {}
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        if target is None:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        sock.sendto(build_probe(message_id, types, scopes), dest)
        deadline = time.monotonic() + timeout
        for _ in range(max_matches * 16):  # bounded: stray datagrams count too
            left = deadline - time.monotonic()
            if left <= 0 or len(found) >= max_matches:
                break
            sock.settimeout(left)
            try:
                data, _ = sock.recvfrom(MAX_DATAGRAM)
            except (TimeoutError, ConnectionRefusedError):
                break
            try:
                relates_to, matches = parse_probe_matches(data)
            except SoapDecodeError:
                continue
            if relates_to != message_id:
                continue
            for m in matches:
                found.setdefault(m.address or f"#{len(found)}", m)
    return list(found.values())[:max_matches]
