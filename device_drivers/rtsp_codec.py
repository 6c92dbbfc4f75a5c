"""Pure codecs for RTSP streaming: RTSP/1.0 messages, RTP headers, SDP and H.264 SPS.

- RTSP/1.0 (RFC 2326): requests, responses, headers, ``Content-Length`` bodies and
  ``$``-framed interleaved RTP/RTCP, decoded incrementally by :class:`RtspStreamParser`;
  Basic and Digest authentication (RFC 2617) helpers.
- RTP fixed header (RFC 3550).
- SDP (RFC 4566) is parsed in :mod:`~classcert.device_drivers.sdp` and the H.264 sequence
  parameter set in :mod:`~classcert.device_drivers.h264_sps`; their names are re-exported here.

Nothing here does I/O. Malformed input raises :class:`RtspDecodeError` (a ``ValueError``).
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from dataclasses import dataclass

from classcert.device_drivers.h264_sps import (
    _SAR,
    PROFILE_NAMES,
    BitReader,
    SpsInfo,
    parse_profile_level_id,
    parse_sprop,
    parse_sps,
    unescape_rbsp,
)
from classcert.device_drivers.rtsp_errors import RtspDecodeError
from classcert.device_drivers.sdp import Sdp, SdpMedia, parse_sdp, resolve_control

__all__ = [
    "MAX_BODY_BYTES", "MAX_HEADER_BYTES", "PROFILE_NAMES", "VERSION", "BitReader",
    "InterleavedFrame", "RtpPacket", "RtspDecodeError", "RtspMessage", "RtspRequest",
    "RtspResponse", "RtspStreamParser", "Sdp", "SdpMedia", "SpsInfo", "_SAR",
    "basic_authorization", "digest_authorization", "digest_response", "encode_interleaved",
    "encode_request", "encode_response", "encode_rtp", "parse_challenge", "parse_message",
    "parse_params", "parse_profile_level_id", "parse_range", "parse_rtp", "parse_session",
    "parse_sdp", "parse_sprop", "parse_sps", "resolve_control", "unescape_rbsp",
]

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024
VERSION = "RTSP/1.0"
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_METHOD_START = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32}( |$)")
_STATUS_LINE = re.compile(r"^(RTSP/\d\.\d) (\d{3})(?: (.*))?$")

# ------------------------------------------------------------------ RTSP messages ------
@dataclass(frozen=True)
class RtspRequest:
    method: str
    uri: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    version: str = VERSION

    def header(self, name: str, default: str | None = None) -> str | None:
        return _find_header(self.headers, name, default)

    @property
    def cseq(self) -> int | None:
        return _cseq(self.headers)


@dataclass(frozen=True)
class RtspResponse:
    status: int
    reason: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    version: str = VERSION

    def header(self, name: str, default: str | None = None) -> str | None:
        return _find_header(self.headers, name, default)

    @property
    def cseq(self) -> int | None:
        return _cseq(self.headers)


@dataclass(frozen=True)
class InterleavedFrame:
    """One ``$``-framed binary packet on the RTSP connection (RFC 2326 10.12)."""

    channel: int
    payload: bytes


RtspMessage = RtspRequest | RtspResponse | InterleavedFrame


def _find_header(headers: tuple[tuple[str, str], ...], name: str,
                 default: str | None) -> str | None:
    low = name.lower()
    for key, value in headers:
        if key.lower() == low:
            return value
    return default


def _cseq(headers: tuple[tuple[str, str], ...]) -> int | None:
    value = _find_header(headers, "CSeq", None)
    return int(value) if value is not None and value.strip().isdigit() else None


def _encode_head(first: str, headers: tuple[tuple[str, str], ...], body: bytes) -> bytes:
    lines = [first]
    for key, value in headers:
        if not _TOKEN.match(key) or "\r" in value or "\n" in value:
            raise ValueError(f"invalid RTSP header {key!r}: {value!r}")
        if key.lower() != "content-length":
            lines.append(f"{key}: {value}")
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


def encode_request(req: RtspRequest) -> bytes:
    """Serialize a request; ``Content-Length`` is always computed from the body."""
    if not _TOKEN.match(req.method) or not req.uri or any(c in req.uri for c in " \r\n"):
        raise ValueError(f"invalid RTSP request line: {req.method!r} {req.uri!r}")
    return _encode_head(f"{req.method} {req.uri} {req.version}", req.headers, req.body)


def encode_response(resp: RtspResponse) -> bytes:
    if not 100 <= resp.status <= 999 or "\r" in resp.reason or "\n" in resp.reason:
        raise ValueError(f"invalid RTSP status {resp.status!r} {resp.reason!r}")
    return _encode_head(f"{resp.version} {resp.status} {resp.reason}", resp.headers, resp.body)


def encode_interleaved(channel: int, payload: bytes) -> bytes:
    if not 0 <= channel <= 255 or len(payload) > 0xFFFF:
        raise ValueError("interleaved channel must be 0..255 and payload at most 65535 bytes")
    return struct.pack("!cBH", b"$", channel, len(payload)) + payload


def parse_message(data: bytes) -> tuple[RtspMessage, int] | None:
    """Decode one message from the start of ``data``: ``(message, bytes used)``, or None
    when more bytes are needed. Raises :class:`RtspDecodeError` on invalid bytes."""
    if not data:
        return None
    if data[0] in b"\r\n":  # stray line ends between messages
        skip = len(data) - len(data.lstrip(b"\r\n"))
        got = parse_message(data[skip:])
        return None if got is None else (got[0], got[1] + skip)
    if data[0] == 0x24:  # '$'
        if len(data) < 4:
            return None
        channel, size = data[1], struct.unpack("!H", data[2:4])[0]
        if len(data) < 4 + size:
            return None
        return InterleavedFrame(channel, bytes(data[4:4 + size])), 4 + size
    end = data.find(b"\r\n\r\n")
    sep = 4
    lf_end = data.find(b"\n\n")
    if lf_end >= 0 and (end < 0 or lf_end < end):
        end, sep = lf_end, 2
    if end < 0:
        if len(data) > MAX_HEADER_BYTES:
            raise RtspDecodeError(f"RTSP header longer than {MAX_HEADER_BYTES} bytes")
        _check_start(data)
        return None
    try:
        text = data[:end].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RtspDecodeError(f"RTSP header is not UTF-8: {exc}") from None
    lines = text.replace("\r\n", "\n").split("\n")
    headers = _parse_headers(lines[1:])
    length_text = _find_header(headers, "Content-Length", "0") or "0"
    if not length_text.strip().isdigit() or int(length_text) > MAX_BODY_BYTES:
        raise RtspDecodeError(f"bad Content-Length {length_text!r}")
    start, length = end + sep, int(length_text)
    if len(data) < start + length:
        return None
    body = bytes(data[start:start + length])
    first = lines[0]
    status = _STATUS_LINE.match(first)
    if status:
        msg: RtspMessage = RtspResponse(int(status.group(2)), status.group(3) or "", headers,
                                        body, status.group(1))
    else:
        parts = first.split(" ")
        if len(parts) != 3 or not _TOKEN.match(parts[0]) or not parts[1] \
                or not re.match(r"^RTSP/\d\.\d$", parts[2]):
            raise RtspDecodeError(f"not an RTSP request or status line: {first[:80]!r}")
        msg = RtspRequest(parts[0], parts[1], headers, body, parts[2])
    return msg, start + length


def _check_start(data: bytes) -> None:
    """Reject early what can never become an RTSP line (binary garbage, other protocols)."""
    head = bytes(data[:34])
    if not (b"RTSP/"[:len(head)] == head[:5] or _METHOD_START.match(head)):
        raise RtspDecodeError(f"not RTSP: {bytes(data[:40])!r}")


def _parse_headers(lines: list[str]) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in (" ", "\t") and out:  # folded continuation
            out[-1] = (out[-1][0], out[-1][1] + " " + line.strip())
            continue
        key, colon, value = line.partition(":")
        if not colon or not _TOKEN.match(key.strip()):
            raise RtspDecodeError(f"malformed RTSP header line {line[:80]!r}")
        out.append((key.strip(), value.strip()))
    return tuple(out)


class RtspStreamParser:
    """Incremental decoder for one RTSP connection (text messages and ``$`` frames)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[RtspMessage]:
        self._buf += data
        out: list[RtspMessage] = []
        while True:
            got = parse_message(bytes(self._buf))
            if got is None:
                return out
            msg, used = got
            del self._buf[:used]
            out.append(msg)

    @property
    def pending(self) -> int:
        return len(self._buf)


# ------------------------------------------------------------- header values -----------
def parse_params(text: str) -> dict[str, str]:
    """``a=1;b;c="x y"`` or ``a=1, b="x"`` -> dict; quotes removed, keys lower-cased."""
    out: dict[str, str] = {}
    for item in re.findall(r'(?:[^;,"]|"[^"]*")+', text):
        key, _, value = item.strip().partition("=")
        if key:
            out[key.strip().lower()] = value.strip().strip('"')
    return out


def parse_transport(value: str) -> dict[str, str]:
    """First transport spec of a ``Transport`` header: ``{"profile": "RTP/AVP/TCP", ...}``."""
    spec = value.split(",")[0].strip()
    profile, _, rest = spec.partition(";")
    params = parse_params(rest)
    params["profile"] = profile.strip()
    return params


def parse_range(value: str) -> tuple[int, int]:
    """``"0-1"`` -> (0, 1); a single number n -> (n, n + 1)."""
    low, _, high = value.partition("-")
    try:
        return int(low), int(high) if high else int(low) + 1
    except ValueError:
        raise RtspDecodeError(f"bad channel/port range {value!r}") from None


def parse_session(value: str) -> tuple[str, int | None]:
    """``"ABC123;timeout=60"`` -> ("ABC123", 60)."""
    sid, _, rest = value.partition(";")
    timeout = parse_params(rest).get("timeout")
    return sid.strip(), int(timeout) if timeout and timeout.isdigit() else None


def parse_challenge(value: str) -> tuple[str, dict[str, str]]:
    """``WWW-Authenticate`` -> (scheme lower-case, params)."""
    scheme, _, rest = value.strip().partition(" ")
    return scheme.lower(), parse_params(rest)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def digest_response(user: str, password: str, realm: str, nonce: str, method: str, uri: str,
                    qop: str | None = None, nc: str = "00000001", cnonce: str = "") -> str:
    """RFC 2617 MD5 ``response`` value (without qop when the server offered none)."""
    ha1 = _md5(f"{user}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    if qop:
        return _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _md5(f"{ha1}:{nonce}:{ha2}")


def basic_authorization(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def digest_authorization(user: str, password: str, challenge: dict[str, str], method: str,
                         uri: str, cnonce: str = "0a4f113b", nc: int = 1) -> str:
    realm, nonce = challenge.get("realm", ""), challenge.get("nonce", "")
    qops = [q.strip() for q in challenge.get("qop", "").split(",") if q.strip()]
    qop = "auth" if "auth" in qops else None
    nc_text = f"{nc:08x}"
    resp = digest_response(user, password, realm, nonce, method, uri, qop, nc_text, cnonce)
    parts = [f'username="{user}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"',
             f'response="{resp}"']
    if qop:
        parts += [f"qop={qop}", f"nc={nc_text}", f'cnonce="{cnonce}"']
    if "opaque" in challenge:
        parts.append(f'opaque="{challenge["opaque"]}"')
    return "Digest " + ", ".join(parts)


# ------------------------------------------------------------------------ RTP ----------
@dataclass(frozen=True)
class RtpPacket:
    payload_type: int
    seq: int
    timestamp: int
    ssrc: int
    marker: bool = False
    payload: bytes = b""
    csrcs: tuple[int, ...] = ()


def encode_rtp(p: RtpPacket) -> bytes:
    if len(p.csrcs) > 15 or not 0 <= p.payload_type <= 127:
        raise ValueError("RTP: at most 15 CSRCs, payload type 0..127")
    head = struct.pack("!BBHII", 0x80 | len(p.csrcs), (0x80 if p.marker else 0) | p.payload_type,
                       p.seq & 0xFFFF, p.timestamp & 0xFFFFFFFF, p.ssrc & 0xFFFFFFFF)
    return head + b"".join(struct.pack("!I", c) for c in p.csrcs) + p.payload


def parse_rtp(data: bytes) -> RtpPacket:
    if len(data) < 12 or data[0] >> 6 != 2:
        raise RtspDecodeError(f"not an RTP v2 packet ({len(data)} bytes)")
    b0, b1, seq, ts, ssrc = struct.unpack("!BBHII", data[:12])
    pos = 12 + 4 * (b0 & 0x0F)
    csrcs = struct.unpack(f"!{b0 & 0x0F}I", data[12:pos]) if len(data) >= pos else None
    if csrcs is None:
        raise RtspDecodeError("RTP packet shorter than its CSRC list")
    if b0 & 0x10:  # header extension
        if len(data) < pos + 4:
            raise RtspDecodeError("RTP header extension truncated")
        pos += 4 + 4 * struct.unpack("!H", data[pos + 2:pos + 4])[0]
    end = len(data)
    if b0 & 0x20 and end > pos:  # padding
        end -= data[-1]
    if pos > end or end > len(data):
        raise RtspDecodeError("RTP extension or padding longer than the packet")
    return RtpPacket(b1 & 0x7F, seq, ts, ssrc, bool(b1 & 0x80), bytes(data[pos:end]), csrcs)
