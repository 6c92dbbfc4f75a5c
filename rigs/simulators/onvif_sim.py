"""An ONVIF Profile S/T camera or recorder simulator: SOAP 1.2 over real HTTP, plus WS-Discovery.

Answers GetSystemDateAndTime, GetCapabilities, GetServices (pre-auth), GetDeviceInformation,
Media1 (trt) and Media2 (tr2) GetProfiles, GetStreamUri, GetVideoEncoderConfiguration(s).
Checks the WS-Security UsernameToken digest, rejects a reused nonce and a Created time more
than ``max_skew_s`` away from its own clock (``clock_offset_s`` shifts that clock). A UDP
responder on 127.0.0.1 answers WS-Discovery Probes sent to it (unicast only).
"""

from __future__ import annotations

import collections
import socket
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape

from classcert.device_drivers import onvif_soap as soap
from classcert.device_drivers import ws_discovery as wsd

PRE_AUTH = {"GetSystemDateAndTime", "GetCapabilities", "GetServices"}
DEVICE_PATH, MEDIA_PATH, MEDIA2_PATH = ("/onvif/device_service", "/onvif/media_service",
                                        "/onvif/media2_service")
DEFAULT_PROFILES: tuple[dict[str, Any], ...] = (
    {"token": "Profile_1", "name": "mainStream", "encoding": "H264", "width": 1920,
     "height": 1080, "fps": 25, "bitrate_kbps": 4096, "gov_length": 50, "codec_profile": "Main"},
    {"token": "Profile_2", "name": "subStream", "encoding": "H264", "width": 640, "height": 360,
     "fps": 15, "bitrate_kbps": 512, "gov_length": 30, "codec_profile": "Baseline"},
)
_POLL_S = 0.05
_MAX_NONCES = 10_000
_MAX_BODY = soap.MAX_DOCUMENT_BYTES
_FAULTS = {
    "auth": ("s:Sender", "ter:NotAuthorized", "Sender not Authorized"),
    "action": ("s:Receiver", "ter:ActionNotSupported", "Optional Action Not Implemented"),
    "noprofile": ("s:Sender", "ter:InvalidArgVal", "The requested profile token does not exist"),
    "noconfig": ("s:Sender", "ter:InvalidArgVal", "The requested configuration does not exist"),
}


def fault_xml(code: str, subcode: str, reason: str) -> bytes:
    sub = f"<s:Subcode><s:Value>{escape(subcode)}</s:Value></s:Subcode>" if subcode else ""
    return soap.envelope(
        f"<s:Fault><s:Code><s:Value>{escape(code)}</s:Value>{sub}</s:Code><s:Reason>"
        f'<s:Text xml:lang="en">{escape(reason)}</s:Text></s:Reason></s:Fault>')


def _encoder_xml(p: dict[str, Any], tag: str, media2: bool) -> str:
    gov, prof = int(p.get("gov_length", 50)), escape(str(p.get("codec_profile", "Main")))
    extra = f' GovLength="{gov}" Profile="{prof}"' if media2 else ""
    fps = p.get("fps", 25)
    rate = (f"<tt:RateControl ConstantBitRate=\"false\"><tt:FrameRateLimit>{fps}"
            f"</tt:FrameRateLimit><tt:BitrateLimit>{int(p.get('bitrate_kbps', 4096))}"
            "</tt:BitrateLimit></tt:RateControl>" if media2 else
            f"<tt:RateControl><tt:FrameRateLimit>{int(float(fps))}</tt:FrameRateLimit>"
            f"<tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>"
            f"{int(p.get('bitrate_kbps', 4096))}</tt:BitrateLimit></tt:RateControl>")
    enc = escape(str(p.get("encoding", "H264")))
    codec = (f"<tt:H264><tt:GovLength>{gov}</tt:GovLength><tt:H264Profile>{prof}"
             "</tt:H264Profile></tt:H264>" if not media2 and enc == "H264" else "")
    multicast = ("<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type><tt:IPv4Address>0.0.0.0"
                 "</tt:IPv4Address></tt:Address><tt:Port>0</tt:Port><tt:TTL>1</tt:TTL>"
                 "<tt:AutoStart>false</tt:AutoStart></tt:Multicast>")
    token = escape(_enc_token(p))
    return (f'<{tag} token="{token}"{extra}><tt:Name>{escape(str(p.get("name", "")))}</tt:Name>'
            f"<tt:UseCount>1</tt:UseCount><tt:Encoding>{enc}</tt:Encoding><tt:Resolution>"
            f"<tt:Width>{int(p['width'])}</tt:Width><tt:Height>{int(p['height'])}</tt:Height>"
            f"</tt:Resolution><tt:Quality>4</tt:Quality>{rate}{codec}{multicast}"
            + ("" if media2 else "<tt:SessionTimeout>PT60S</tt:SessionTimeout>") + f"</{tag}>")


class OnvifSimulator:
    """Background-thread ONVIF device. Use as a context manager; ``address`` is host:port.

    Knobs: ``make``/``model``/``serial``/``firmware``, ``profiles`` (dicts: token, name,
    encoding, width, height, fps, bitrate_kbps, gov_length, codec_profile), ``stream_uri``
    (``{token}`` is replaced), ``user``/``password``, ``require_auth``, ``media2``,
    ``fault_on`` (operation -> "action"/"auth"/(code, subcode, reason)), ``reply_delay_s``,
    ``garbage`` (HTML instead of SOAP), ``clock_offset_s``, ``max_skew_s``, ``discovery``,
    ``discovery_port``, ``scopes``.
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, password: str | None = None, *,
        user: str = "admin", make: str = "Classcert", model: str = "SIM-IPC-1080",
        serial: str = "SIMCAM0001", firmware: str = "V5.7.3 build 240101",
        hardware_id: str = "IPC-HW1", profiles: Sequence[dict[str, Any]] = DEFAULT_PROFILES,
        stream_uri: str | None = None, require_auth: bool | None = None, media2: bool = True,
        fault_on: dict[str, Any] | None = None, reply_delay_s: float = 0.0,
        garbage: bool = False, clock_offset_s: float = 0.0, max_skew_s: float = 300.0,
        discovery: bool = True, discovery_port: int = 0, scopes: Sequence[str] = (
            "onvif://www.onvif.org/type/video_encoder", "onvif://www.onvif.org/Profile/Streaming",
            "onvif://www.onvif.org/Profile/T", "onvif://www.onvif.org/location/classroom"),
        endpoint: str = "urn:uuid:6d1c0a52-0b57-4a6e-9c1e-5e0d1c1a5e01",
    ) -> None:
        self.host, self.port, self.user, self.password = host, port, user, password
        self.make, self.model, self.serial, self.firmware = make, model, serial, firmware
        self.hardware_id = hardware_id
        self.profiles = [dict(p) for p in profiles]
        for p in self.profiles:
            if "token" not in p or "width" not in p or "height" not in p:
                raise ValueError(f"each profile needs token, width and height, got {p!r}")
        self.stream_uri = stream_uri
        self.require_auth = (password is not None) if require_auth is None else require_auth
        self.media2, self.fault_on = media2, dict(fault_on or {})
        self.reply_delay_s, self.garbage = reply_delay_s, garbage
        self.clock_offset_s, self.max_skew_s = clock_offset_s, max_skew_s
        self.discovery, self.discovery_port = discovery, discovery_port
        self.scopes, self.endpoint = tuple(scopes), endpoint
        self.auth_failures = 0
        self.probes_answered = 0
        self._log: list[str] = []
        self._nonces: collections.deque[bytes] = collections.deque(maxlen=_MAX_NONCES)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._udp: socket.socket | None = None
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------ lifecycle ------------
    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def discovery_address(self) -> str:
        return f"{self.host}:{self.discovery_port}"

    @property
    def device_url(self) -> str:
        return f"http://{self.address}{DEVICE_PATH}"

    @property
    def request_log(self) -> list[str]:
        """Operation names received so far, e.g. ``["GetSystemDateAndTime", ...]``."""
        with self._lock:
            return list(self._log)

    def start(self) -> OnvifSimulator:
        if self._httpd is not None:
            return self
        self._stop.clear()
        self._httpd = ThreadingHTTPServer((self.host, self.port), self._handler_class())
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._threads = [threading.Thread(target=self._httpd.serve_forever, args=(_POLL_S,),
                                          daemon=True, name=f"onvif-sim-{self.port}")]
        if self.discovery:
            self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._udp.bind((self.host, self.discovery_port))
            self._udp.settimeout(_POLL_S)
            self.discovery_port = self._udp.getsockname()[1]
            self._threads.append(threading.Thread(target=self._discovery_loop, daemon=True,
                                                  name=f"onvif-wsd-{self.discovery_port}"))
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        for t in self._threads:
            t.join(timeout=5)
        self._threads = []
        if self._udp is not None:
            self._udp.close()
            self._udp = None

    def __enter__(self) -> OnvifSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------ discovery ------------
    def _discovery_loop(self) -> None:
        udp = self._udp
        while udp is not None and not self._stop.is_set():
            try:
                data, peer = udp.recvfrom(wsd.MAX_DATAGRAM)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                probe = wsd.parse_probe(data)
            except soap.SoapDecodeError:
                continue
            match = wsd.ProbeMatch(self.endpoint, (wsd.NVT, wsd.DEVICE), self.scopes,
                                   (self.device_url,), 1)
            if not wsd.matches_probe(probe, match.types, match.scopes):
                continue
            with self._lock:
                self.probes_answered += 1
                number = self.probes_answered
            try:
                udp.sendto(wsd.build_probe_matches(probe.message_id, [match],
                                                   message_number=number), peer)
            except OSError:
                continue

    # ------------------------------------------------------------ SOAP -----------------
    def now(self) -> float:
        """The device's clock (epoch seconds), shifted by ``clock_offset_s``."""
        return time.time() + self.clock_offset_s

    def _check_auth(self, token: soap.UsernameToken | None) -> str | None:
        """None when accepted, else the reason for refusing."""
        if token is None:
            return "no UsernameToken"
        if token.username != self.user or not token.digest:
            return "unknown user or not a digest"
        if soap.password_digest(token.nonce, token.created, self.password or "") != token.password:
            return "wrong digest"
        try:
            created = datetime.fromisoformat(token.created.replace("Z", "+00:00"))
            skew = abs(created.timestamp() - self.now())
        except (ValueError, OverflowError):
            return "bad Created"
        if skew > self.max_skew_s:
            return f"clock skew {skew:.0f} s"
        with self._lock:
            if token.nonce in self._nonces:
                return "nonce replayed"
            self._nonces.append(token.nonce)
        return None

    def handle(self, path: str, data: bytes) -> tuple[int, bytes]:
        """(HTTP status, SOAP reply) for one POSTed request."""
        try:
            req = soap.parse_request(data)
        except soap.SoapDecodeError as exc:
            return 400, fault_xml("s:Sender", "ter:WellFormed", f"Malformed request: {exc}")
        op = req.operation.rsplit("}", 1)[-1]
        with self._lock:
            self._log.append(op)
        if self.require_auth and op not in PRE_AUTH:
            refused = self._check_auth(req.token)
            if refused is not None:
                with self._lock:
                    self.auth_failures += 1
                return 400, fault_xml(*_FAULTS["auth"])
        if op in self.fault_on:
            spec = self.fault_on[op]
            code = spec if isinstance(spec, list | tuple) else _FAULTS.get(str(spec),
                                                                            _FAULTS["action"])
            return (400 if code[0].endswith("Sender") else 500), fault_xml(*code)
        ns = req.operation[1:].split("}", 1)[0]
        media2 = ns == soap.NS["tr2"]
        if media2 and not self.media2:
            return 400, fault_xml(*_FAULTS["action"])
        reply = self._reply(op, req.body, media2)
        if reply is None:
            return 400, fault_xml(*_FAULTS["action"])
        if isinstance(reply, tuple):
            return 400, fault_xml(*reply)
        return 200, soap.envelope(reply)

    def _profile(self, token: str) -> dict[str, Any] | None:
        return next((p for p in self.profiles if str(p["token"]) == token), None)

    def _reply(self, op: str, body: Any, media2: bool) -> str | tuple[str, str, str] | None:
        """Body XML of the answer; a fault triple; None for an unknown operation."""
        pre = "tr2" if media2 else "trt"
        if op == "GetSystemDateAndTime":
            t = datetime.fromtimestamp(self.now(), UTC)
            return ("<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
                    "<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false"
                    "</tt:DaylightSavings><tt:TimeZone><tt:TZ>CST-8</tt:TZ></tt:TimeZone>"
                    f"<tt:UTCDateTime><tt:Time><tt:Hour>{t.hour}</tt:Hour><tt:Minute>{t.minute}"
                    f"</tt:Minute><tt:Second>{t.second}</tt:Second></tt:Time><tt:Date><tt:Year>"
                    f"{t.year}</tt:Year><tt:Month>{t.month}</tt:Month><tt:Day>{t.day}</tt:Day>"
                    "</tt:Date></tt:UTCDateTime></tds:SystemDateAndTime>"
                    "</tds:GetSystemDateAndTimeResponse>")
        if op == "GetDeviceInformation":
            return ("<tds:GetDeviceInformationResponse>"
                    f"<tds:Manufacturer>{escape(self.make)}</tds:Manufacturer>"
                    f"<tds:Model>{escape(self.model)}</tds:Model>"
                    f"<tds:FirmwareVersion>{escape(self.firmware)}</tds:FirmwareVersion>"
                    f"<tds:SerialNumber>{escape(self.serial)}</tds:SerialNumber>"
                    f"<tds:HardwareId>{escape(self.hardware_id)}</tds:HardwareId>"
                    "</tds:GetDeviceInformationResponse>")
        base = f"http://{self.address}"
        if op == "GetCapabilities":
            return ("<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Device>"
                    f"<tt:XAddr>{base}{DEVICE_PATH}</tt:XAddr></tt:Device><tt:Media>"
                    f"<tt:XAddr>{base}{MEDIA_PATH}</tt:XAddr><tt:StreamingCapabilities>"
                    "<tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP>"
                    "<tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities>"
                    "</tt:Media></tds:Capabilities></tds:GetCapabilitiesResponse>")
        if op == "GetServices":
            services = [(soap.NS["tds"], DEVICE_PATH, 2, 60), (soap.NS["trt"], MEDIA_PATH, 2, 60)]
            if self.media2:
                services.append((soap.NS["tr2"], MEDIA2_PATH, 2, 60))
            return "<tds:GetServicesResponse>" + "".join(
                f"<tds:Service><tds:Namespace>{ns}</tds:Namespace><tds:XAddr>{base}{path}"
                f"</tds:XAddr><tds:Version><tt:Major>{major}</tt:Major><tt:Minor>{minor}"
                "</tt:Minor></tds:Version></tds:Service>"
                for ns, path, major, minor in services) + "</tds:GetServicesResponse>"
        if op == "GetProfiles":
            items = "".join(self._profile_xml(p, media2) for p in self.profiles)
            return f"<{pre}:GetProfilesResponse>{items}</{pre}:GetProfilesResponse>"
        if op == "GetStreamUri":
            token = soap.child_text(body, f"{pre}:ProfileToken")
            if self._profile(token) is None:
                return _FAULTS["noprofile"]
            uri = escape((self.stream_uri or f"rtsp://{self.host}:554/{{token}}").replace(
                "{token}", token))
            if media2:
                return (f"<tr2:GetStreamUriResponse><tr2:Uri>{uri}</tr2:Uri>"
                        "</tr2:GetStreamUriResponse>")
            return ("<trt:GetStreamUriResponse><trt:MediaUri>"
                    f"<tt:Uri>{uri}</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>"
                    "<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S"
                    "</tt:Timeout></trt:MediaUri></trt:GetStreamUriResponse>")
        if op in ("GetVideoEncoderConfiguration", "GetVideoEncoderConfigurations"):
            wanted = soap.child_text(body, f"{pre}:ConfigurationToken")
            prof = soap.child_text(body, "tr2:ProfileToken") if media2 else ""
            chosen = [p for p in self.profiles if (not wanted or _enc_token(p) == wanted)
                      and (not prof or p["token"] == prof)]
            if not chosen and (wanted or prof):
                return _FAULTS["noconfig"]
            tag = f"{pre}:Configuration" + ("" if op.endswith("Configuration") else "s")
            return f"<{pre}:{op}Response>" + "".join(
                _encoder_xml(p, tag, media2) for p in chosen) + f"</{pre}:{op}Response>"
        return None

    def _profile_xml(self, p: dict[str, Any], media2: bool) -> str:
        token, name = escape(str(p["token"])), escape(str(p.get("name", p["token"])))
        source = ('<tt:VideoSourceConfiguration token="VideoSource_1"><tt:Name>VideoSource_1'
                  "</tt:Name><tt:UseCount>2</tt:UseCount><tt:SourceToken>VideoSourceToken"
                  '</tt:SourceToken><tt:Bounds x="0" y="0" width="1920" height="1080"/>'
                  "</tt:VideoSourceConfiguration>")
        if media2:
            src = source.replace("tt:VideoSourceConfiguration", "tr2:VideoSource")
            return (f'<tr2:Profiles token="{token}" fixed="true"><tr2:Name>{name}</tr2:Name>'
                    f"<tr2:Configurations>{src}"
                    f"{_encoder_xml(p, 'tr2:VideoEncoder', True)}</tr2:Configurations>"
                    "</tr2:Profiles>")
        return (f'<trt:Profiles token="{token}" fixed="true"><tt:Name>{name}</tt:Name>{source}'
                f"{_encoder_xml(p, 'tt:VideoEncoderConfiguration', False)}</trt:Profiles>")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        sim = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 5.0  # a client that stalls mid-request is dropped

            def version_string(self) -> str:
                return "gSOAP/2.8"

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                length = int(self.headers.get("Content-Length") or 0)
                if length <= 0 or length > _MAX_BODY:
                    self._send(413 if length > 0 else 411, b"", "text/plain")
                    return
                data = self.rfile.read(length)
                if sim.reply_delay_s > 0 and sim._stop.wait(sim.reply_delay_s):
                    return
                if self.path.split("?")[0] not in (DEVICE_PATH, MEDIA_PATH, MEDIA2_PATH):
                    self._send(404, b"Not Found", "text/plain")
                    return
                if sim.garbage:
                    self._send(200, b"<html><body>Web service unavailable</body></html>",
                               "text/html")
                    return
                status, reply = sim.handle(self.path, data)
                self._send(status, reply, "application/soap+xml; charset=utf-8")

            def _send(self, status: int, body: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler


def _enc_token(p: dict[str, Any]) -> str:
    return str(p.get("encoder_token", f"VideoEncoder_{p['token']}"))
