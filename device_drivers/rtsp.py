"""RTSP/1.0 client for recorders and cameras: what a stream claims, and whether it flows.

``describe()`` returns the :class:`StreamClaim` of the first H.264 (or other) video track:
codec and ``profile-level-id`` from the SDP, width/height/SAR/fps/interlace from the SPS in
``sprop-parameter-sets`` (falling back to ``x-dimensions``/``framerate``). ``receive(seconds)``
sets up RTP over the RTSP connection (TCP interleaved), plays, counts packets, sequence gaps
and timestamps for a bounded time, without decoding, and tears down.

Address: ``rtsp://[user@]host[:port]/path`` (``host:port/path`` is accepted too); the password
comes from the caller (``password_env`` of the rig). Basic and Digest authentication.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit, urlunsplit

from classcert.device_drivers import rtsp_codec as codec
from classcert.device_drivers.errors import (
    DeviceAuthError,
    DeviceCommandError,
    DeviceDisconnected,
    DeviceProtocolError,
    DeviceTimeout,
    DeviceUnreachable,
)

DEFAULT_PORT = 554
USER_AGENT = "classcert-rtsp/0.1"
MAX_RECEIVE_S = 600.0
_MAX_TIMESTAMPS = 10_000


class RtspStatusError(DeviceCommandError):
    """The server answered a request with a non-2xx status; ``code`` is the status number."""


class RtspBandwidthError(RtspStatusError):
    """453 Not Enough Bandwidth: the device refuses one more simultaneous stream."""


@dataclass(frozen=True)
class StreamClaim:
    """What the device says about its video stream (SDP + SPS), before any decoding."""

    codec: str  # rtpmap encoding name, e.g. "H264"
    width: int | None
    height: int | None
    sar: tuple[int, int] | None
    fps: float | None
    interlaced: bool | None
    profile: str | None  # e.g. "High" (from SPS, else from profile-level-id)
    level: float | None  # e.g. 4.0
    raw_sdp: str
    control_url: str = ""
    payload_type: int | None = None
    clock_rate: int | None = None


@dataclass
class ReceiveStats:
    """RTP packets counted during ``receive``; ``seq_gaps`` = packets missing by sequence."""

    packets: int = 0
    bytes: int = 0
    seq_gaps: int = 0
    out_of_order: int = 0
    frames: int = 0  # RTP packets with the marker bit: end of an access unit
    rtcp_packets: int = 0
    ssrc: int | None = None
    first_timestamp: int | None = None
    last_timestamp: int | None = None
    timestamps: list[int] = field(default_factory=list)  # distinct RTP timestamps (bounded)
    elapsed_s: float = 0.0
    clock_rate: int | None = None

    @property
    def media_seconds(self) -> float | None:
        """Stream time covered, from the RTP timestamps and the clock rate."""
        if self.first_timestamp is None or self.last_timestamp is None or not self.clock_rate:
            return None
        return ((self.last_timestamp - self.first_timestamp) & 0xFFFFFFFF) / self.clock_rate


def parse_address(address: str) -> tuple[str, int, str, str | None, str | None]:
    """-> (host, port, url without credentials, user, password-in-url)."""
    text = address.strip()
    if "://" not in text:
        text = "rtsp://" + text
    parts = urlsplit(text)
    if parts.scheme.lower() != "rtsp" or not parts.hostname:
        raise ValueError(f"invalid RTSP address {address!r}: expected rtsp://[user@]host[:port]"
                         f"/path / RTSP 地址无效")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise ValueError(f"invalid port in RTSP address {address!r} / RTSP 端口无效") from None
    host = parts.hostname
    netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    url = urlunsplit(("rtsp", netloc, parts.path or "/", parts.query, ""))
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return host, port, url, user, password


def _level(level_idc: int) -> float:
    return 1.1 if level_idc == 9 else level_idc / 10  # level 1b (9) reported as 1.1-ish


class RtspClient:
    """One RTSP connection. Context manager; every wait is bounded by ``timeout``."""

    def __init__(self, address: str, password: str | None = None, timeout: float = 5.0,
                 user: str | None = None) -> None:
        self.host, self.port, self.url, url_user, url_password = parse_address(address)
        self.user = user or url_user
        self.password = password if password is not None else url_password
        self.timeout = timeout
        self.device = f"rtsp://{self.host}:{self.port}"
        self._sock: socket.socket | None = None
        self._parser = codec.RtspStreamParser()
        self._cseq = 0
        self._auth: tuple[str, dict[str, str]] | None = None
        self._nc = 0
        self._session: str | None = None
        self._frames: list[codec.InterleavedFrame] = []
        self.claim: StreamClaim | None = None
        self.log: list[str] = []  # request lines and status lines, for evidence

    # --------------------------------------------------------------- connection --------
    def connect(self) -> RtspClient:
        if self._sock is None:
            try:
                self._sock = socket.create_connection((self.host, self.port), self.timeout)
            except TimeoutError:
                raise DeviceTimeout(self.device, f"no answer to connect within {self.timeout} s",
                                    f"连接在 {self.timeout} 秒内无应答") from None
            except ConnectionRefusedError:
                raise DeviceUnreachable(self.device, "connection refused: is the RTSP service "
                                        "on and the port right?", "连接被拒绝：请检查 RTSP 服务"
                                        "是否开启、端口是否正确") from None
            except OSError as exc:
                raise DeviceUnreachable(self.device, f"cannot connect: {exc}",
                                        f"无法连接：{exc}") from None
            self._parser = codec.RtspStreamParser()
        return self

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
                self._session = None

    def __enter__(self) -> RtspClient:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- requests --------
    def request(self, method: str, url: str | None = None,
                headers: dict[str, str] | None = None) -> codec.RtspResponse:
        """Send one request (answering a 401 challenge once) and return a 2xx response."""
        url = url or self.url
        resp = self._exchange(method, url, headers or {})
        if resp.status == 401:
            self._take_challenge(resp)
            resp = self._exchange(method, url, headers or {})
            if resp.status == 401:
                raise DeviceAuthError(self.device, f"{method}: user {self.user!r} or password "
                                      "rejected (401)", f"{method}：用户名或密码错误（401）")
        if not 200 <= resp.status < 300:
            cls = RtspBandwidthError if resp.status == 453 else RtspStatusError
            busy = resp.status in (453, 503)
            raise cls(self.device, f"{method} refused: {resp.status} {resp.reason}",
                      f"{method} 被拒绝：{resp.status} {resp.reason}", code=str(resp.status),
                      command=method, busy=busy)
        return resp

    def _take_challenge(self, resp: codec.RtspResponse) -> None:
        if not self.user or self.password is None:
            raise DeviceAuthError(self.device, "authentication required: give the user in the "
                                  "address (rtsp://user@host/...) and the password via "
                                  "password_env", "需要认证：请在地址中填写用户名，并通过 "
                                  "password_env 提供密码")
        challenges = [v for k, v in resp.headers if k.lower() == "www-authenticate"]
        parsed = [codec.parse_challenge(v) for v in challenges]
        digest = [p for p in parsed if p[0] == "digest"]
        basic = [p for p in parsed if p[0] == "basic"]
        if not digest and not basic:
            raise DeviceProtocolError(self.device, f"401 without a usable challenge: "
                                      f"{challenges!r}", "401 应答缺少可用的认证方式")
        self._auth = (digest or basic)[0]
        self._nc = 0

    def _authorization(self, method: str, url: str) -> str | None:
        if self._auth is None or not self.user or self.password is None:
            return None
        scheme, params = self._auth
        if scheme == "basic":
            return codec.basic_authorization(self.user, self.password)
        self._nc += 1
        return codec.digest_authorization(self.user, self.password, params, method, url,
                                          cnonce=os.urandom(8).hex(), nc=self._nc)

    def _exchange(self, method: str, url: str, extra: dict[str, str]) -> codec.RtspResponse:
        self.connect()
        self._cseq += 1
        headers = [("CSeq", str(self._cseq)), ("User-Agent", USER_AGENT)]
        auth = self._authorization(method, url)
        if auth:
            headers.append(("Authorization", auth))
        if self._session and "Session" not in extra:
            headers.append(("Session", self._session))
        headers += list(extra.items())
        data = codec.encode_request(codec.RtspRequest(method, url, tuple(headers)))
        self.log.append(f"> {method} {url}")
        self._send(data)
        deadline = time.monotonic() + self.timeout
        answer: codec.RtspResponse | None = None
        while answer is None:
            for msg in self._read(deadline, f"reply to {method}", f"{method} 的应答"):
                if isinstance(msg, codec.InterleavedFrame):
                    self._frames.append(msg)  # RTP arriving around the answer is kept
                    del self._frames[:-4096]
                elif isinstance(msg, codec.RtspResponse) and msg.cseq in (self._cseq, None):
                    self.log.append(f"< {msg.status} {msg.reason}")
                    answer = answer or msg
        return answer

    def _send(self, data: bytes) -> None:
        assert self._sock is not None
        try:
            self._sock.sendall(data)
        except OSError as exc:
            self.close()
            raise DeviceDisconnected(self.device, f"connection lost while sending: {exc}",
                                     f"发送时连接中断：{exc}") from None

    def _read(self, deadline: float, what_en: str, what_zh: str) -> list[codec.RtspMessage]:
        """Wait for at least one complete message (or frame) before ``deadline``."""
        sock = self._sock
        assert sock is not None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DeviceTimeout(self.device, f"no {what_en} within {self.timeout} s",
                                f"{self.timeout} 秒内未收到{what_zh}")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            raise DeviceTimeout(self.device, f"no {what_en} within {self.timeout} s",
                                f"{self.timeout} 秒内未收到{what_zh}") from None
        except OSError as exc:
            self.close()
            raise DeviceDisconnected(self.device, f"connection lost: {exc}",
                                     f"连接中断：{exc}") from None
        if not chunk:
            self.close()
            raise DeviceDisconnected(self.device, f"the device closed the connection before "
                                     f"the {what_en}", f"设备在{what_zh}之前关闭了连接")
        try:
            return self._parser.feed(chunk)
        except codec.RtspDecodeError as exc:
            self.close()
            raise DeviceProtocolError(self.device, f"not an RTSP answer ({exc}): is this an "
                                      "RTSP port?", f"应答不是 RTSP 协议（{exc}）：请确认端口"
                                      ) from None

    # ---------------------------------------------------------------- operations -------
    def options(self) -> list[str]:
        resp = self.request("OPTIONS")
        return [m.strip() for m in (resp.header("Public") or "").split(",") if m.strip()]

    def describe(self) -> StreamClaim:
        resp = self.request("DESCRIBE", headers={"Accept": "application/sdp"})
        text = resp.body.decode("utf-8", "replace")
        try:
            sdp = codec.parse_sdp(text)
        except codec.RtspDecodeError as exc:
            raise DeviceProtocolError(self.device, f"DESCRIBE returned invalid SDP: {exc}",
                                      f"DESCRIBE 返回的 SDP 无效：{exc}") from None
        base = resp.header("Content-Base") or resp.header("Content-Location") or self.url
        self.claim = self._claim(sdp, text, base)
        return self.claim

    def _claim(self, sdp: codec.Sdp, text: str, base: str) -> StreamClaim:
        video = sdp.first("video")
        if video is None or not video.formats:
            raise DeviceProtocolError(self.device, "the SDP has no video track",
                                      "SDP 中没有视频轨道")
        pt = int(video.formats[0]) if video.formats[0].isdigit() else None
        enc, clock, _ = video.rtpmap.get(pt, ("", 0, "")) if pt is not None else ("", 0, "")
        fmtp = video.fmtp.get(pt, {}) if pt is not None else {}
        width = height = None
        sar = fps = interlaced = level = None
        profile = None
        if video.dimensions:
            width, height = video.dimensions
        fps = video.framerate
        try:
            if "profile-level-id" in fmtp:
                p_idc, _, l_idc = codec.parse_profile_level_id(fmtp["profile-level-id"])
                profile, level = codec.PROFILE_NAMES.get(p_idc, str(p_idc)), _level(l_idc)
            sps = [n for n in codec.parse_sprop(fmtp.get("sprop-parameter-sets", ""))
                   if n and n[0] & 0x1F == 7]
            if sps:
                info = codec.parse_sps(sps[0])
                width, height, sar, interlaced = info.width, info.height, info.sar, info.interlaced
                fps = info.fps or fps
                profile = codec.PROFILE_NAMES.get(info.profile_idc, str(info.profile_idc))
                level = _level(info.level_idc)
        except codec.RtspDecodeError as exc:
            raise DeviceProtocolError(self.device, f"invalid H.264 parameters in the SDP: {exc}",
                                      f"SDP 中的 H.264 参数无效：{exc}") from None
        base_url = codec.resolve_control(base, sdp.control)
        return StreamClaim(enc.upper() or "unknown", width, height, sar, fps, interlaced,
                           profile, level, text, codec.resolve_control(base_url, video.control),
                           pt, clock or None)

    def setup(self) -> str:
        """SETUP the video track over TCP interleaved channels 0-1; returns the session id."""
        claim = self.claim or self.describe()
        resp = self.request("SETUP", claim.control_url or self.url,
                            {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"})
        session = resp.header("Session")
        if not session:
            raise DeviceProtocolError(self.device, "SETUP answer has no Session header",
                                      "SETUP 应答缺少 Session 头")
        self._session = codec.parse_session(session)[0]
        return self._session

    def play(self) -> None:
        self.request("PLAY", headers={"Range": "npt=0.000-"})

    def teardown(self) -> None:
        if self._session and self._sock is not None:
            try:
                self.request("TEARDOWN")
            finally:
                self._session = None

    def receive(self, seconds: float, max_packets: int = 1_000_000) -> ReceiveStats:
        """SETUP + PLAY, count RTP for ``seconds`` (bounded), then TEARDOWN."""
        seconds = min(max(seconds, 0.0), MAX_RECEIVE_S)
        if self._session is None:
            self.setup()
        claim = self.claim
        stats = ReceiveStats(clock_rate=claim.clock_rate if claim else None)
        self.play()
        start = time.monotonic()
        end = start + seconds
        pending, self._frames = self._frames, []
        expected: int | None = None
        while stats.packets < max_packets:
            for frame in pending:
                expected = self._count(frame, stats, expected)
            now = time.monotonic()
            if now >= end:
                break
            deadline = min(end, now + self.timeout)
            try:
                pending = self._read(deadline, "RTP data", "RTP 数据")
            except DeviceTimeout:
                if deadline < end:
                    raise  # silence for a whole timeout: the stream does not flow
                break
        stats.elapsed_s = time.monotonic() - start
        self.teardown()
        return stats

    def _count(self, frame: codec.RtspMessage, stats: ReceiveStats,
               expected: int | None) -> int | None:
        if not isinstance(frame, codec.InterleavedFrame):
            return expected
        if frame.channel % 2:
            stats.rtcp_packets += 1
            return expected
        try:
            pkt = codec.parse_rtp(frame.payload)
        except codec.RtspDecodeError as exc:
            raise DeviceProtocolError(self.device, f"invalid RTP packet: {exc}",
                                      f"RTP 包无效：{exc}") from None
        stats.packets += 1
        stats.bytes += len(frame.payload)
        stats.ssrc = pkt.ssrc if stats.ssrc is None else stats.ssrc
        if expected is not None and pkt.seq != expected:
            delta = (pkt.seq - expected) & 0xFFFF
            if delta < 0x8000:
                stats.seq_gaps += delta
            else:
                stats.out_of_order += 1
                return expected
        if stats.first_timestamp is None:
            stats.first_timestamp = pkt.timestamp
        stats.last_timestamp = pkt.timestamp
        if pkt.marker:
            stats.frames += 1
        if (not stats.timestamps or stats.timestamps[-1] != pkt.timestamp) \
                and len(stats.timestamps) < _MAX_TIMESTAMPS:
            stats.timestamps.append(pkt.timestamp)
        return (pkt.seq + 1) & 0xFFFF


def open_rtsp(address: str, password: str | None, timeout: float,
              options: dict | None = None) -> RtspClient:
    """Registry factory: a connected :class:`RtspClient` (``options["user"]`` optional)."""
    user = (options or {}).get("user")
    return RtspClient(address, password, timeout, user=user).connect()
