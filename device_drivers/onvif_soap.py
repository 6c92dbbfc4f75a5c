"""ONVIF SOAP 1.2 codec: request envelopes, WS-Security UsernameToken, response parsing.

Pure functions, no I/O. Requests are built as text; responses (and, for simulators, requests)
are parsed with :mod:`xml.etree.ElementTree` after a defensive pre-check: documents larger
than :data:`MAX_DOCUMENT_BYTES`, not UTF-8, or carrying a DOCTYPE/ENTITY declaration are
rejected. Every parsing problem is a :class:`SoapDecodeError`; a SOAP Fault is a
:class:`SoapFault` carrying the fault code, subcodes and reason.
"""

from __future__ import annotations

import base64
import hashlib
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.sax.saxutils import escape

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tr2": "http://www.onvif.org/ver20/media/wsdl",
    "tt": "http://www.onvif.org/ver10/schema",
    "ter": "http://www.onvif.org/ver10/error",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
}
PASSWORD_DIGEST = ("http://docs.oasis-open.org/wss/2004/01/"
                   "oasis-200401-wss-username-token-profile-1.0#PasswordDigest")
BASE64_BINARY = ("http://docs.oasis-open.org/wss/2004/01/"
                 "oasis-200401-wss-soap-message-security-1.0#Base64Binary")
MAX_DOCUMENT_BYTES = 1_048_576
MAX_ELEMENTS = 20_000
_FORBIDDEN = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class SoapDecodeError(ValueError):
    """The bytes are not a well-formed, acceptable SOAP 1.2 message of the expected shape."""


class SoapFault(Exception):  # noqa: N818 - the protocol's own name for it
    """A SOAP 1.2 Fault: ``code`` (e.g. "s:Sender"), ``subcodes`` (e.g. ["ter:NotAuthorized"])."""

    def __init__(self, code: str, subcodes: list[str], reason: str) -> None:
        self.code, self.subcodes, self.reason = code, list(subcodes), reason
        super().__init__(f"{code} {'/'.join(subcodes)}: {reason}".strip())

    @property
    def not_authorized(self) -> bool:
        names = [c.rsplit(":", 1)[-1].lower() for c in self.subcodes]
        return any(n in ("notauthorized", "failedauthentication", "invalidsecuritytoken")
                   for n in names)


@dataclass(frozen=True)
class UsernameToken:
    username: str
    password: str  # the digest (base64) when ``digest`` is True, else the clear password
    nonce: bytes
    created: str
    digest: bool = True


@dataclass(frozen=True)
class SoapRequest:
    """A parsed request (simulator side): body operation and optional UsernameToken."""

    operation: str  # Clark name of the body element, e.g. "{ns}GetProfiles"
    body: ET.Element
    token: UsernameToken | None


# ------------------------------------------------------------------ security -----------------
def password_digest(nonce: bytes, created: str, password: str) -> str:
    """WS-Security PasswordDigest = Base64(SHA-1(nonce + created + password))."""
    raw = nonce + created.encode("utf-8") + password.encode("utf-8")
    return base64.b64encode(hashlib.sha1(raw).digest()).decode("ascii")


def security_header(user: str, password: str, nonce: bytes, created: str) -> str:
    """The ``wsse:Security`` header block with a digest UsernameToken."""
    return (
        f'<wsse:Security s:mustUnderstand="1" xmlns:wsse="{NS["wsse"]}" xmlns:wsu="{NS["wsu"]}">'
        f"<wsse:UsernameToken><wsse:Username>{escape(user)}</wsse:Username>"
        f'<wsse:Password Type="{PASSWORD_DIGEST}">'
        f"{password_digest(nonce, created, password)}</wsse:Password>"
        f'<wsse:Nonce EncodingType="{BASE64_BINARY}">'
        f"{base64.b64encode(nonce).decode('ascii')}</wsse:Nonce>"
        f"<wsu:Created>{escape(created)}</wsu:Created></wsse:UsernameToken></wsse:Security>"
    )


def envelope(body: str, header: str = "") -> bytes:
    """A SOAP 1.2 envelope around ``body`` (and ``header``), declaring the ONVIF prefixes."""
    decls = " ".join(f'xmlns:{p}="{u}"' for p, u in NS.items() if p not in ("wsse", "wsu"))
    head = f"<s:Header>{header}</s:Header>" if header else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<s:Envelope {decls}>{head}'
            f"<s:Body>{body}</s:Body></s:Envelope>").encode()


def request(body: str, user: str | None = None, password: str | None = None,
            nonce: bytes | None = None, created: str | None = None) -> bytes:
    """Envelope for ``body`` with a UsernameToken when ``user`` is given."""
    if user is None:
        return envelope(body)
    if nonce is None or created is None:
        raise ValueError("nonce and created are required with a user")
    return envelope(body, security_header(user, password or "", nonce, created))


# ------------------------------------------------------------------ request bodies -----------
def get_system_date_and_time() -> str:
    return "<tds:GetSystemDateAndTime/>"


def get_device_information() -> str:
    return "<tds:GetDeviceInformation/>"


def get_capabilities(category: str = "All") -> str:
    return (f"<tds:GetCapabilities><tds:Category>{escape(category)}</tds:Category>"
            "</tds:GetCapabilities>")


def get_services(include_capability: bool = False) -> str:
    flag = "true" if include_capability else "false"
    return (f"<tds:GetServices><tds:IncludeCapability>{flag}</tds:IncludeCapability>"
            "</tds:GetServices>")


def get_profiles(media2: bool = False) -> str:
    if media2:
        return "<tr2:GetProfiles><tr2:Type>All</tr2:Type></tr2:GetProfiles>"
    return "<trt:GetProfiles/>"


def get_stream_uri(profile_token: str, media2: bool = False, protocol: str = "RTSP") -> str:
    """RTSP stream URI; Media1 asks RTP-Unicast over RTSP (TCP), Media2 ``protocol``."""
    tok = escape(profile_token)
    if media2:
        return (f"<tr2:GetStreamUri><tr2:Protocol>{escape(protocol)}</tr2:Protocol>"
                f"<tr2:ProfileToken>{tok}</tr2:ProfileToken></tr2:GetStreamUri>")
    return ("<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream>"
            "<tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup>"
            f"<trt:ProfileToken>{tok}</trt:ProfileToken></trt:GetStreamUri>")


def get_video_encoder_configuration(token: str) -> str:
    return (f"<trt:GetVideoEncoderConfiguration><trt:ConfigurationToken>{escape(token)}"
            "</trt:ConfigurationToken></trt:GetVideoEncoderConfiguration>")


def get_video_encoder_configurations(media2: bool = False,
                                     profile_token: str | None = None) -> str:
    if not media2:
        return "<trt:GetVideoEncoderConfigurations/>"
    inner = f"<tr2:ProfileToken>{escape(profile_token)}</tr2:ProfileToken>" if profile_token else ""
    return f"<tr2:GetVideoEncoderConfigurations>{inner}</tr2:GetVideoEncoderConfigurations>"


# ------------------------------------------------------------------ parsing ------------------
def q(prefix: str, local: str) -> str:
    """Clark name, e.g. ``q("tds", "Model")`` -> ``"{http://...}Model"``."""
    return f"{{{NS[prefix]}}}{local}"


def parse_xml(data: bytes) -> ET.Element:
    """Parse a document defensively (size, encoding, no DOCTYPE/ENTITY, element count)."""
    if not isinstance(data, bytes | bytearray):
        raise SoapDecodeError("SOAP message must be bytes")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise SoapDecodeError(f"SOAP message too large ({len(data)} bytes > {MAX_DOCUMENT_BYTES})")
    try:
        text = bytes(data).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SoapDecodeError(f"SOAP message is not UTF-8: {exc}") from None
    if _FORBIDDEN.search(text):
        raise SoapDecodeError("DOCTYPE/ENTITY declarations are not allowed in SOAP messages")
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text, count=1)
    try:
        root = ET.fromstring(text)
    except (ET.ParseError, ValueError) as exc:
        raise SoapDecodeError(f"malformed XML: {exc}") from None
    count = 0
    for _ in root.iter():
        count += 1
        if count > MAX_ELEMENTS:
            raise SoapDecodeError(f"SOAP message has more than {MAX_ELEMENTS} elements")
    return root


def _split_envelope(data: bytes) -> tuple[ET.Element | None, ET.Element]:
    root = parse_xml(data)
    if root.tag != q("s", "Envelope"):
        raise SoapDecodeError(f"not a SOAP 1.2 envelope (root element {root.tag!r})")
    body = root.find("s:Body", NS)
    if body is None:
        raise SoapDecodeError("SOAP envelope has no Body")
    return root.find("s:Header", NS), body


def _fault(fault: ET.Element) -> SoapFault:
    code = _text(fault.find("s:Code/s:Value", NS)) or "s:Receiver"
    subcodes: list[str] = []
    node = fault.find("s:Code/s:Subcode", NS)
    while node is not None and len(subcodes) < 8:
        subcodes.append(_text(node.find("s:Value", NS)))
        node = node.find("s:Subcode", NS)
    reason = _text(fault.find("s:Reason/s:Text", NS))
    return SoapFault(code, subcodes, reason)


def parse_response(data: bytes, expected: str | None = None) -> ET.Element:
    """The first Body child of a response; raises :class:`SoapFault` for a Fault.

    ``expected`` (a Clark name) is checked against the element's tag when given.
    """
    _, body = _split_envelope(data)
    children = list(body)
    if not children:
        raise SoapDecodeError("SOAP Body is empty")
    first = children[0]
    if first.tag == q("s", "Fault"):
        raise _fault(first)
    if expected is not None and first.tag != expected:
        raise SoapDecodeError(f"expected {expected} in the SOAP Body, got {first.tag}")
    return first


def parse_request(data: bytes) -> SoapRequest:
    """Parse a request envelope: body operation and UsernameToken (if any)."""
    header, body = _split_envelope(data)
    children = list(body)
    if not children:
        raise SoapDecodeError("SOAP Body is empty")
    token = None
    ut = header.find("wsse:Security/wsse:UsernameToken", NS) if header is not None else None
    if ut is not None:
        pw = ut.find("wsse:Password", NS)
        nonce_text = _text(ut.find("wsse:Nonce", NS))
        try:
            nonce = base64.b64decode(nonce_text, validate=True)
        except (ValueError, TypeError):
            raise SoapDecodeError("UsernameToken Nonce is not valid base64") from None
        kind = pw.get("Type", PASSWORD_DIGEST) if pw is not None else PASSWORD_DIGEST
        token = UsernameToken(_text(ut.find("wsse:Username", NS)), _text(pw), nonce,
                              _text(ut.find("wsu:Created", NS)), kind == PASSWORD_DIGEST)
    return SoapRequest(children[0].tag, children[0], token)


def _text(node: ET.Element | None) -> str:
    return (node.text or "").strip() if node is not None else ""


def child_text(node: ET.Element, path: str) -> str:
    """Stripped text at ``path`` (prefixes from :data:`NS`), "" when absent."""
    return _text(node.find(path, NS))


def child_int(node: ET.Element, path: str) -> int | None:
    """Integer at ``path``; None when absent; :class:`SoapDecodeError` when not a number."""
    text = child_text(node, path)
    return to_int(text, path)


def to_int(text: str | None, what: str) -> int | None:
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise SoapDecodeError(f"{what}: {text[:40]!r} is not a number") from None
    if value != value or abs(value) > 1e12:
        raise SoapDecodeError(f"{what}: {text[:40]!r} is out of range")
    return int(value)


def to_float(text: str | None, what: str) -> float | None:
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise SoapDecodeError(f"{what}: {text[:40]!r} is not a number") from None
    if value != value or abs(value) > 1e12:
        raise SoapDecodeError(f"{what}: {text[:40]!r} is out of range")
    return value


# ------------------------------------------------------------------ response models ----------
@dataclass(frozen=True)
class DeviceInfo:
    make: str
    model: str
    firmware: str
    serial: str
    hardware_id: str = ""


@dataclass(frozen=True)
class EncoderClaim:
    """What the device claims its video encoder produces (evidence, not a measurement).

    ``profile`` is the token of the media profile the encoder belongs to ("" when read
    without a profile), ``codec_profile`` the codec profile (e.g. "Main", "High").
    """

    encoding: str  # "H264", "H265", "JPEG", "MPEG4"
    width: int | None
    height: int | None
    fps_limit: float | None
    bitrate_kbps: int | None
    gov_length: int | None
    profile: str = ""
    codec_profile: str = ""
    token: str = ""
    name: str = ""
    media: str = "media1"  # "media1" (trt) or "media2" (tr2)


@dataclass(frozen=True)
class MediaProfile:
    token: str
    name: str
    encoder: EncoderClaim | None
    media: str = "media1"


def parse_device_information(body: ET.Element) -> DeviceInfo:
    return DeviceInfo(
        make=child_text(body, "tds:Manufacturer"), model=child_text(body, "tds:Model"),
        firmware=child_text(body, "tds:FirmwareVersion"),
        serial=child_text(body, "tds:SerialNumber"), hardware_id=child_text(body, "tds:HardwareId"))


def parse_capabilities(body: ET.Element) -> dict[str, str]:
    """Service name (e.g. "Media", "Device") -> XAddr, from GetCapabilitiesResponse."""
    caps = body.find("tds:Capabilities", NS)
    if caps is None:
        raise SoapDecodeError("GetCapabilitiesResponse has no Capabilities")
    found: dict[str, str] = {}
    for node in list(caps) + list(caps.findall("tt:Extension/*", NS)):
        xaddr = child_text(node, "tt:XAddr")
        if xaddr:
            found[node.tag.rsplit("}", 1)[-1]] = xaddr
    return found


def parse_services(body: ET.Element) -> dict[str, str]:
    """Service namespace -> XAddr, from GetServicesResponse."""
    return {child_text(s, "tds:Namespace"): child_text(s, "tds:XAddr")
            for s in body.findall("tds:Service", NS) if child_text(s, "tds:Namespace")}


def parse_system_date_and_time(body: ET.Element) -> tuple[int, int, int, int, int, int]:
    """(year, month, day, hour, minute, second) of the device's UTC clock."""
    utc = body.find("tds:SystemDateAndTime/tt:UTCDateTime", NS)
    if utc is None:
        raise SoapDecodeError("GetSystemDateAndTimeResponse has no UTCDateTime")
    parts = [child_int(utc, f"tt:Date/tt:{n}") for n in ("Year", "Month", "Day")]
    parts += [child_int(utc, f"tt:Time/tt:{n}") for n in ("Hour", "Minute", "Second")]
    if any(p is None for p in parts):
        raise SoapDecodeError("UTCDateTime is incomplete")
    return tuple(parts)  # type: ignore[return-value]


def parse_encoder(node: ET.Element, profile: str = "", media: str = "media1") -> EncoderClaim:
    """A Media1 VideoEncoderConfiguration or Media2 VideoEncoder2Configuration element."""
    rate = node.find("tt:RateControl", NS)
    fps = bitrate = None
    if rate is not None:
        fps = to_float(child_text(rate, "tt:FrameRateLimit"), "FrameRateLimit")
        bitrate = child_int(rate, "tt:BitrateLimit")
    gov = to_int(node.get("GovLength"), "GovLength")
    codec_profile = node.get("Profile", "")
    for sub, prof in (("tt:H264", "tt:H264Profile"), ("tt:MPEG4", "tt:Mpeg4Profile")):
        part = node.find(sub, NS)
        if part is not None:
            gov = child_int(part, "tt:GovLength") if gov is None else gov
            codec_profile = codec_profile or child_text(part, prof)
    return EncoderClaim(
        encoding=child_text(node, "tt:Encoding"), width=child_int(node, "tt:Resolution/tt:Width"),
        height=child_int(node, "tt:Resolution/tt:Height"), fps_limit=fps, bitrate_kbps=bitrate,
        gov_length=gov, profile=profile, codec_profile=codec_profile,
        token=node.get("token", ""), name=child_text(node, "tt:Name"), media=media)


def parse_profiles(body: ET.Element) -> list[MediaProfile]:
    """Profiles of a Media1 or Media2 GetProfilesResponse, with their video encoder."""
    media2 = body.tag == q("tr2", "GetProfilesResponse")
    prefix, media = ("tr2", "media2") if media2 else ("trt", "media1")
    found = []
    for node in body.findall(f"{prefix}:Profiles", NS):
        token = node.get("token", "")
        enc = node.find("tr2:Configurations/tr2:VideoEncoder" if media2
                        else "tt:VideoEncoderConfiguration", NS)
        name = child_text(node, "tr2:Name" if media2 else "tt:Name")
        found.append(MediaProfile(token, name, parse_encoder(enc, token, media)
                                  if enc is not None else None, media))
    return found


def parse_stream_uri(body: ET.Element) -> str:
    uri = child_text(body, "tr2:Uri") or child_text(body, "trt:MediaUri/tt:Uri")
    if not uri:
        raise SoapDecodeError("GetStreamUriResponse has no Uri")
    return uri


def parse_encoder_configurations(body: ET.Element) -> list[EncoderClaim]:
    """GetVideoEncoderConfiguration(s)Response of Media1 or Media2."""
    media = "media2" if body.tag.startswith(f"{{{NS['tr2']}}}") else "media1"
    nodes = (body.findall("trt:Configuration", NS) + body.findall("trt:Configurations", NS)
             + body.findall("tr2:Configurations", NS))
    return [parse_encoder(n, media=media) for n in nodes]
