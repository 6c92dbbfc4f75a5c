"""Minimal BER codec for SNMPv1/v2c messages (RFC 1157, RFC 3416), no MIB knowledge.

Covers what a table reader and a small agent need: GET, GETNEXT, GETBULK, RESPONSE and REPORT
PDUs, and the SMIv2 value types. Decoding is strict about lengths and raises
:class:`SnmpDecodeError` (a ``ValueError``) on anything malformed, so garbage from the network
never turns into data.
"""

from __future__ import annotations

from dataclasses import dataclass

# Universal and application tags.
INTEGER, OCTET_STRING, NULL, OID, SEQUENCE = 0x02, 0x04, 0x05, 0x06, 0x30
IP_ADDRESS, COUNTER32, GAUGE32, TIMETICKS, OPAQUE, COUNTER64 = 0x40, 0x41, 0x42, 0x43, 0x44, 0x46
NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW = 0x80, 0x81, 0x82
# PDU tags.
GET, GET_NEXT, RESPONSE, SET, GET_BULK, REPORT = 0xA0, 0xA1, 0xA2, 0xA3, 0xA5, 0xA8
PDU_TAGS = frozenset({GET, GET_NEXT, RESPONSE, SET, GET_BULK, 0xA6, 0xA7, REPORT})
UNSIGNED_TAGS = frozenset({COUNTER32, GAUGE32, TIMETICKS, COUNTER64})
BYTES_TAGS = frozenset({OCTET_STRING, IP_ADDRESS, OPAQUE})
EXCEPTION_TAGS = frozenset({NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW})
VERSION_1, VERSION_2C = 0, 1
MAX_MESSAGE = 65507  # largest UDP payload

Value = int | bytes | tuple[int, ...] | None


class SnmpDecodeError(ValueError):
    """The bytes are not a well-formed SNMP message."""


@dataclass(frozen=True)
class VarBind:
    oid: tuple[int, ...]
    tag: int = NULL
    value: Value = None

    @property
    def is_exception(self) -> bool:
        return self.tag in EXCEPTION_TAGS


@dataclass(frozen=True)
class Pdu:
    """A PDU. For GETBULK ``error_status``/``error_index`` carry non-repeaters/max-repetitions."""

    tag: int
    request_id: int
    error_status: int = 0
    error_index: int = 0
    varbinds: tuple[VarBind, ...] = ()


@dataclass(frozen=True)
class Message:
    version: int
    community: bytes
    pdu: Pdu


# ---------------------------------------------------------------- primitives

def encode_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + encode_length(len(content)) + content


def decode_tlv(data: bytes, pos: int = 0) -> tuple[int, bytes, int]:
    """(tag, content, next position) of the TLV at ``pos``."""
    if pos + 2 > len(data):
        raise SnmpDecodeError(f"truncated TLV header at byte {pos}")
    tag, first = data[pos], data[pos + 1]
    if tag & 0x1F == 0x1F:
        raise SnmpDecodeError(f"multi-byte tags are not used by SNMP (byte {pos})")
    pos += 2
    if first & 0x80:
        count = first & 0x7F
        if count == 0 or count > 4:
            raise SnmpDecodeError("indefinite or oversized BER length")
        if pos + count > len(data):
            raise SnmpDecodeError("truncated BER length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    else:
        length = first
    if pos + length > len(data):
        raise SnmpDecodeError(f"TLV claims {length} bytes, only {len(data) - pos} left")
    return tag, data[pos:pos + length], pos + length


def encode_integer(n: int, tag: int = INTEGER) -> bytes:
    if tag in UNSIGNED_TAGS:
        if n < 0:
            raise ValueError(f"unsigned SNMP value cannot be negative: {n}")
        body = n.to_bytes(n.bit_length() // 8 + 1, "big")  # leading 0x00 keeps it positive
        if len(body) > 1 and body[0] == 0 and body[1] < 0x80:
            body = body[1:]
    else:
        body = n.to_bytes((n + (n < 0)).bit_length() // 8 + 1, "big", signed=True)
    return tlv(tag, body)


def decode_integer(content: bytes, unsigned: bool = False) -> int:
    if not content or len(content) > 9:
        raise SnmpDecodeError(f"bad INTEGER length {len(content)}")
    return int.from_bytes(content, "big", signed=not unsigned)


def encode_oid(oid: tuple[int, ...]) -> bytes:
    if len(oid) < 2 or oid[0] > 2 or (oid[0] < 2 and oid[1] > 39) or min(oid) < 0:
        raise ValueError(f"invalid OID {oid}")
    body = bytearray()
    for arc in (oid[0] * 40 + oid[1], *oid[2:]):
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return tlv(OID, bytes(body))


def decode_oid(content: bytes) -> tuple[int, ...]:
    if not content or content[-1] & 0x80:
        raise SnmpDecodeError("empty or unterminated OID")
    arcs: list[int] = []
    value = 0
    for i, byte in enumerate(content):
        if value == 0 and byte == 0x80 and (i == 0 or not content[i - 1] & 0x80):
            raise SnmpDecodeError("non-minimal OID sub-identifier")
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = (min(first // 40, 2), first - 40 * min(first // 40, 2))
    return (*head, *arcs[1:])


def parse_oid(text: str) -> tuple[int, ...]:
    """"1.3.6.1" or ".1.3.6.1" -> (1, 3, 6, 1)."""
    parts = text.strip().lstrip(".").split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts):
        raise ValueError(f"not a numeric OID: {text!r}")
    return tuple(int(p) for p in parts)


def format_oid(oid: tuple[int, ...]) -> str:
    return ".".join(str(a) for a in oid)


# ---------------------------------------------------------------- values and messages

def encode_value(tag: int, value: Value) -> bytes:
    if tag == INTEGER or tag in UNSIGNED_TAGS:
        return encode_integer(int(value), tag)  # type: ignore[arg-type]
    if tag in BYTES_TAGS:
        return tlv(tag, bytes(value))  # type: ignore[arg-type]
    if tag == OID:
        return encode_oid(tuple(value))  # type: ignore[arg-type]
    if tag == NULL or tag in EXCEPTION_TAGS:
        return tlv(tag, b"")
    raise ValueError(f"unsupported SNMP value tag 0x{tag:02x}")


def decode_value(tag: int, content: bytes) -> Value:
    if tag == INTEGER or tag in UNSIGNED_TAGS:
        return decode_integer(content, unsigned=tag in UNSIGNED_TAGS)
    if tag in BYTES_TAGS:
        if tag == IP_ADDRESS and len(content) != 4:
            raise SnmpDecodeError("IpAddress must be 4 bytes")
        return bytes(content)
    if tag == OID:
        return decode_oid(content)
    if tag == NULL or tag in EXCEPTION_TAGS:
        if content:
            raise SnmpDecodeError("NULL/exception value with content")
        return None
    raise SnmpDecodeError(f"unsupported value tag 0x{tag:02x}")


def encode_message(msg: Message) -> bytes:
    pdu = msg.pdu
    binds = b"".join(tlv(SEQUENCE, encode_oid(vb.oid) + encode_value(vb.tag, vb.value))
                     for vb in pdu.varbinds)
    body = (encode_integer(pdu.request_id) + encode_integer(pdu.error_status)
            + encode_integer(pdu.error_index) + tlv(SEQUENCE, binds))
    return tlv(SEQUENCE, encode_integer(msg.version) + tlv(OCTET_STRING, msg.community)
               + tlv(pdu.tag, body))


def _expect(data: bytes, pos: int, tag: int | frozenset[int], what: str) -> tuple[int, bytes, int]:
    got, content, nxt = decode_tlv(data, pos)
    if (got not in tag) if isinstance(tag, frozenset) else got != tag:
        raise SnmpDecodeError(f"expected {what}, got tag 0x{got:02x}")
    return got, content, nxt


def decode_message(data: bytes) -> Message:
    """Parse one SNMPv1/v2c message; raises SnmpDecodeError on anything malformed."""
    _, outer, end = _expect(data, 0, SEQUENCE, "message SEQUENCE")
    if end != len(data):
        raise SnmpDecodeError("trailing bytes after message")
    _, raw_version, pos = _expect(outer, 0, INTEGER, "version")
    _, community, pos = _expect(outer, pos, OCTET_STRING, "community")
    pdu_tag, body, pos = _expect(outer, pos, PDU_TAGS, "PDU")
    if pos != len(outer):
        raise SnmpDecodeError("trailing bytes after PDU")
    fields = []
    p = 0
    for name in ("request-id", "error-status", "error-index"):
        _, content, p = _expect(body, p, INTEGER, name)
        fields.append(decode_integer(content))
    _, binds, p = _expect(body, p, SEQUENCE, "varbind list")
    if p != len(body):
        raise SnmpDecodeError("trailing bytes after varbind list")
    varbinds = []
    q = 0
    while q < len(binds):
        _, pair, q = _expect(binds, q, SEQUENCE, "varbind")
        _, oid_raw, r = _expect(pair, 0, OID, "varbind OID")
        vtag, vcontent, r = decode_tlv(pair, r)
        if r != len(pair):
            raise SnmpDecodeError("trailing bytes in varbind")
        varbinds.append(VarBind(decode_oid(oid_raw), vtag, decode_value(vtag, vcontent)))
    return Message(decode_integer(raw_version), bytes(community),
                   Pdu(pdu_tag, fields[0], fields[1], fields[2], tuple(varbinds)))
