"""Pure codecs for RTSP streaming: RTSP/1.0 messages, RTP headers, SDP and H.264 SPS.

- RTSP/1.0 (RFC 2326): requests, responses, headers, ``Content-Length`` bodies and
  ``$``-framed interleaved RTP/RTCP, decoded incrementally by :class:`RtspStreamParser`;
  Basic and Digest authentication (RFC 2617) helpers.
- RTP fixed header (RFC 3550).
- SDP (RFC 4566): media lines, ``rtpmap``, ``fmtp``, ``control``, ``framerate``,
  ``x-dimensions``.
- H.264 sequence parameter set (ITU-T H.264 7.3.2.1, E.1.1) from ``sprop-parameter-sets``.

Nothing here does I/O. Malformed input raises :class:`RtspDecodeError` (a ``ValueError``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass, field

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024
VERSION = "RTSP/1.0"
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_METHOD_START = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32}( |$)")
_STATUS_LINE = re.compile(r"^(RTSP/\d\.\d) (\d{3})(?: (.*))?$")


class RtspDecodeError(ValueError):
    """Bytes or text that are not valid RTSP, RTP, SDP or H.264 SPS."""


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


# ------------------------------------------------------------------------ SDP ----------
@dataclass
class SdpMedia:
    kind: str  # video, audio, application
    port: int
    proto: str
    formats: list[str]
    control: str | None = None
    rtpmap: dict[int, tuple[str, int, str]] = field(default_factory=dict)  # pt->(enc,clock,p)
    fmtp: dict[int, dict[str, str]] = field(default_factory=dict)
    framerate: float | None = None
    dimensions: tuple[int, int] | None = None
    attributes: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Sdp:
    session_name: str = ""
    origin: str = ""
    control: str | None = None
    attributes: list[tuple[str, str]] = field(default_factory=list)
    media: list[SdpMedia] = field(default_factory=list)

    def first(self, kind: str) -> SdpMedia | None:
        return next((m for m in self.media if m.kind == kind), None)


def parse_sdp(text: str) -> Sdp:
    """Parse an SDP description; unknown lines are kept as attributes or ignored."""
    sdp = Sdp()
    media: SdpMedia | None = None
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if not line:
            continue
        if len(line) < 2 or line[1] != "=":
            raise RtspDecodeError(f"SDP line is not <type>=<value>: {line[:80]!r}")
        kind, value = line[0], line[2:]
        if kind == "m":
            parts = value.split()
            if len(parts) < 3 or not parts[1].split("/")[0].isdigit():
                raise RtspDecodeError(f"bad SDP media line {line[:80]!r}")
            media = SdpMedia(parts[0], int(parts[1].split("/")[0]), parts[2], parts[3:])
            sdp.media.append(media)
        elif kind == "s" and media is None:
            sdp.session_name = value
        elif kind == "o" and media is None:
            sdp.origin = value
        elif kind == "a":
            name, _, attr = value.partition(":")
            if media is None:
                sdp.attributes.append((name, attr))
                if name == "control":
                    sdp.control = attr.strip()
            else:
                _media_attribute(media, name, attr.strip())
    return sdp


def _media_attribute(media: SdpMedia, name: str, value: str) -> None:
    media.attributes.append((name, value))
    try:
        if name == "control":
            media.control = value
        elif name == "rtpmap":
            pt, _, enc = value.partition(" ")
            parts = enc.strip().split("/")
            media.rtpmap[int(pt)] = (parts[0], int(parts[1]) if len(parts) > 1 else 0,
                                     "/".join(parts[2:]))
        elif name == "fmtp":
            pt, _, params = value.partition(" ")
            media.fmtp[int(pt)] = {k: v for k, v in (
                (p.strip().partition("=")[0].lower(), p.strip().partition("=")[2].strip())
                for p in params.split(";")) if k}
        elif name == "framerate":
            media.framerate = float(value)
        elif name == "x-dimensions":
            w, h = value.split(",")
            media.dimensions = (int(w), int(h))
    except ValueError:
        raise RtspDecodeError(f"bad SDP attribute a={name}:{value[:80]}") from None


def resolve_control(base: str, control: str | None) -> str:
    """Absolute URL of a ``control`` attribute relative to the content base (RFC 2326 C.1.1)."""
    if not control or control == "*":
        return base
    if "://" in control:
        return control
    return base.rstrip("/") + "/" + control.lstrip("/")


# -------------------------------------------------------------------- H.264 SPS --------
_SAR = {1: (1, 1), 2: (12, 11), 3: (10, 11), 4: (16, 11), 5: (40, 33), 6: (24, 11), 7: (20, 11),
        8: (32, 11), 9: (80, 33), 10: (18, 11), 11: (15, 11), 12: (64, 33), 13: (160, 99),
        14: (4, 3), 15: (3, 2), 16: (2, 1)}
_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}
PROFILE_NAMES = {66: "Baseline", 77: "Main", 88: "Extended", 100: "High", 110: "High 10",
                 122: "High 4:2:2", 244: "High 4:4:4 Predictive", 44: "CAVLC 4:4:4 Intra"}


@dataclass(frozen=True)
class SpsInfo:
    profile_idc: int
    constraint_flags: int
    level_idc: int
    sps_id: int
    chroma_format_idc: int
    width: int
    height: int
    frame_mbs_only: bool
    sar: tuple[int, int] | None  # None when the SPS has no aspect_ratio_info
    fps: float | None  # None when the SPS has no timing_info
    crop: tuple[int, int, int, int] = (0, 0, 0, 0)  # left, right, top, bottom in pixels

    @property
    def interlaced(self) -> bool:
        return not self.frame_mbs_only


class BitReader:
    """MSB-first bit reader with Exp-Golomb codes; reading past the end raises."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def u(self, n: int) -> int:
        if self.pos + n > len(self.data) * 8:
            raise RtspDecodeError("H.264 SPS truncated")
        value = 0
        for _ in range(n):
            value = (value << 1) | ((self.data[self.pos >> 3] >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return value

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise RtspDecodeError("H.264 Exp-Golomb code longer than 32 bits")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


def unescape_rbsp(data: bytes) -> bytes:
    """Remove emulation-prevention bytes (00 00 03 -> 00 00)."""
    return re.sub(b"\x00\x00\x03", b"\x00\x00", data)


def parse_sprop(value: str) -> list[bytes]:
    """``sprop-parameter-sets`` (comma-separated base64 NAL units) -> NAL units."""
    out = []
    for part in value.split(","):
        part = part.strip()
        if part:
            try:
                out.append(base64.b64decode(part + "=" * (-len(part) % 4), validate=True))
            except (binascii.Error, ValueError):
                raise RtspDecodeError(
                    f"sprop-parameter-sets is not base64: {part[:40]!r}") from None
    return out


def parse_profile_level_id(value: str) -> tuple[int, int, int]:
    """fmtp ``profile-level-id`` (6 hex digits) -> (profile_idc, constraint flags, level_idc)."""
    if not re.fullmatch(r"[0-9A-Fa-f]{6}", value.strip()):
        raise RtspDecodeError(f"profile-level-id must be 6 hex digits, got {value!r}")
    raw = bytes.fromhex(value.strip())
    return raw[0], raw[1], raw[2]


def parse_sps(nal: bytes) -> SpsInfo:
    """Decode an SPS NAL unit (with its 1-byte header): size, cropping, interlace, SAR, fps."""
    if not nal or nal[0] & 0x1F != 7:
        raise RtspDecodeError("not an H.264 SPS NAL unit (type 7)")
    r = BitReader(unescape_rbsp(nal[1:]))
    profile, flags, level, sps_id = r.u(8), r.u(8), r.u(8), r.ue()
    chroma, separate = 1, 0
    if profile in _HIGH_PROFILES:
        chroma = r.ue()
        if chroma > 3:
            raise RtspDecodeError(f"H.264 chroma_format_idc {chroma} out of range")
        if chroma == 3:
            separate = r.u(1)
        r.ue(), r.ue(), r.u(1)  # bit depths, qpprime_y_zero_transform_bypass
        if r.u(1):  # seq_scaling_matrix_present
            for i in range(8 if chroma != 3 else 12):
                if r.u(1):
                    _skip_scaling_list(r, 16 if i < 6 else 64)
    r.ue()  # log2_max_frame_num_minus4
    poc_type = r.ue()
    if poc_type == 0:
        r.ue()
    elif poc_type == 1:
        r.u(1), r.se(), r.se()
        cycle = r.ue()
        if cycle > 255:
            raise RtspDecodeError("H.264 num_ref_frames_in_pic_order_cnt_cycle > 255")
        for _ in range(cycle):
            r.se()
    elif poc_type != 2:
        raise RtspDecodeError(f"H.264 pic_order_cnt_type {poc_type} out of range")
    r.ue(), r.u(1)  # max_num_ref_frames, gaps_in_frame_num_allowed
    mbs_w, map_h = r.ue() + 1, r.ue() + 1
    frame_mbs_only = r.u(1)
    if not frame_mbs_only:
        r.u(1)  # mb_adaptive_frame_field
    r.u(1)  # direct_8x8_inference
    crop = (0, 0, 0, 0)
    if r.u(1):
        crop = (r.ue(), r.ue(), r.ue(), r.ue())
    array_type = 0 if separate else chroma
    unit_x = 1 if array_type == 0 else (1 if chroma == 3 else 2)
    unit_y = (1 if array_type == 0 else (2 if chroma == 1 else 1)) * (2 - frame_mbs_only)
    width = mbs_w * 16 - unit_x * (crop[0] + crop[1])
    height = (2 - frame_mbs_only) * map_h * 16 - unit_y * (crop[2] + crop[3])
    if width <= 0 or height <= 0:
        raise RtspDecodeError(f"H.264 SPS cropping leaves {width}x{height}")
    sar, fps = _parse_vui(r) if r.u(1) else (None, None)
    px_crop = (crop[0] * unit_x, crop[1] * unit_x, crop[2] * unit_y, crop[3] * unit_y)
    return SpsInfo(profile, flags, level, sps_id, chroma, width, height, bool(frame_mbs_only),
                   sar, fps, px_crop)


def _skip_scaling_list(r: BitReader, size: int) -> None:
    last = nxt = 8
    for _ in range(size):
        if nxt:
            nxt = (last + r.se() + 256) % 256
        last = nxt or last


def _parse_vui(r: BitReader) -> tuple[tuple[int, int] | None, float | None]:
    sar = None
    if r.u(1):  # aspect_ratio_info_present
        idc = r.u(8)
        if idc == 255:
            sar = (r.u(16), r.u(16))
        else:
            sar = _SAR.get(idc)
    if r.u(1):  # overscan_info_present
        r.u(1)
    if r.u(1):  # video_signal_type_present
        r.u(3), r.u(1)
        if r.u(1):
            r.u(8), r.u(8), r.u(8)
    if r.u(1):  # chroma_loc_info_present
        r.ue(), r.ue()
    fps = None
    if r.u(1):  # timing_info_present
        units, scale = r.u(32), r.u(32)
        r.u(1)  # fixed_frame_rate
        if units and scale:
            fps = scale / (2 * units)
    return sar, fps
