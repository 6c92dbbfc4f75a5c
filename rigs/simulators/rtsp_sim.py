"""An RTSP/1.0 recorder or camera simulator serving real H.264 over real TCP on loopback.

The H.264 elementary stream comes from a clip (Annex-B ``.h264``/``.264`` file, or any
container ffmpeg can read, e.g. ``.mp4``), or from a named variant generated once with ffmpeg
into a cache directory (see :data:`~classcert.rigs.simulators.rtsp_clips.VARIANTS`, where
clips are made, loaded and packetized). Access units are sent paced at the clip's frame rate,
packetized per RFC 6184 (single NAL unit and FU-A, packetization-mode=1), over TCP
interleaved channels or UDP unicast to a loopback client port. The SDP carries
``profile-level-id`` and ``sprop-parameter-sets`` from the clip's own SPS/PPS.

Knobs: ``max_sessions`` (SETUP beyond K simultaneous sessions -> 453 Not Enough Bandwidth),
``require_auth`` (Digest, user ``user`` / ``password``), ``reply_delay_s``, ``drop_after``
(close the connection after N answers; 0 = at the first request), ``garbage`` (non-RTSP
answers), ``drop_every`` (skip one frame period after every N-1 frames: a device dropping
frames), ``loss_every`` (lose every Nth RTP packet), ``lose_first`` (lose a session's first N
RTP packets: a stream that starts damaged), ``path`` (None = any path).
Run standalone: ``python -m classcert.rigs.simulators.rtsp_sim --port 8554 --variant small``.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import re
import socket
import threading
import time
from pathlib import Path

from classcert.device_drivers import rtsp_codec as codec
from classcert.rigs.simulators.rtsp_clips import (
    CLOCK,
    MTU,
    VARIANTS,
    Clip,
    group_access_units,
    load_clip,
    make_clip,
    packetize_h264,
    split_annexb,
)

__all__ = [
    "CLOCK", "MTU", "VARIANTS", "Clip", "RtspSimulator", "group_access_units", "load_clip",
    "main", "make_clip", "packetize_h264", "split_annexb",
]

_POLL_S = 0.05
_REPLY_WAIT_S = 10.0  # a PLAY whose answer never went out streams nothing
_MAX_REQUESTS = 10_000


class _Session:
    def __init__(self, sid: str, send, owner: socket.socket,
                 udp: socket.socket | None = None) -> None:
        self.sid, self.send, self.owner, self.udp = sid, send, owner, udp
        self.stop = threading.Event()
        self.replied = threading.Event()  # the PLAY answer is on the wire: RTP may follow
        self.thread: threading.Thread | None = None

    def close(self) -> None:
        self.stop.set()
        self.replied.set()  # wakes a stream still waiting for its PLAY answer: it ends
        if self.udp is not None:
            self.udp.close()


class RtspSimulator:
    """Thread-based RTSP server on loopback; ``address`` is ``host:port``, ``url`` the stream."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, password: str | None = None, *,
                 user: str = "admin", clip: str | Path | None = None, variant: str = "small",
                 clip_seconds: float = 2.0, fps: float | None = None,
                 max_sessions: int | None = None, require_auth: bool = False,
                 reply_delay_s: float = 0.0, drop_after: int | None = None,
                 garbage: bool = False, drop_every: int | None = None,
                 loss_every: int | None = None, lose_first: int = 0, path: str | None = None,
                 realm: str = "classcert", seed: int | None = None) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"unknown clip variant {variant!r}; known: {', '.join(VARIANTS)}")
        self.host, self.port, self.user, self.password = host, port, user, password
        self.clip_path = Path(clip) if clip else None
        self.variant, self.clip_seconds, self.fps = variant, clip_seconds, fps
        self.max_sessions, self.require_auth = max_sessions, require_auth
        self.reply_delay_s, self.drop_after, self.garbage = reply_delay_s, drop_after, garbage
        self.drop_every = drop_every if drop_every is not None else VARIANTS[variant][3].get(
            "drop_every")
        self.loss_every, self.path, self.realm = loss_every, path, realm
        self.lose_first = lose_first
        self.clip: Clip | None = None
        self.requests: list[str] = []  # "METHOD uri" of every request received
        self.refused_setups = 0
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._threads: set[threading.Thread] = set()
        self._clients: set[socket.socket] = set()
        self._sessions: dict[str, _Session] = {}

    # --------------------------------------------------------------- lifecycle ---------
    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"rtsp://{self.address}{self.path or '/stream'}"

    @property
    def active_sessions(self) -> int:
        with self._lock:
            return len(self._sessions)

    def start(self) -> RtspSimulator:
        if self.clip is None:
            self.clip = load_clip(self.clip_path or make_clip(self.variant, self.clip_seconds),
                                  self.fps)
        self._stop.clear()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(16)
        listener.settimeout(_POLL_S)
        self._listener, self.port = listener, listener.getsockname()[1]
        self._spawn(self._accept_loop, "rtsp-sim-accept")
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
            clients = list(self._clients)
        for session in sessions:
            session.close()
        for conn in clients:
            _shutdown(conn)
        for thread in list(self._threads):
            if thread is not threading.current_thread():
                thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def __enter__(self) -> RtspSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, target, name: str, *args) -> threading.Thread:
        def run() -> None:
            try:
                target(*args)
            finally:
                with self._lock:
                    self._threads.discard(threading.current_thread())
        thread = threading.Thread(target=run, name=name, daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()
        return thread

    def _accept_loop(self) -> None:
        while not self._stop.is_set() and self._listener is not None:
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            conn.settimeout(_POLL_S)
            with self._lock:
                self._clients.add(conn)
            self._spawn(self._serve, "rtsp-sim-conn", conn)

    # -------------------------------------------------------------- connection ---------
    def _serve(self, conn: socket.socket) -> None:
        parser, answered, write_lock = codec.RtspStreamParser(), 0, threading.Lock()
        try:
            for _ in range(_MAX_REQUESTS * 100):
                if self._stop.is_set():
                    return
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                try:
                    messages = parser.feed(data)
                except codec.RtspDecodeError:
                    self._send(conn, write_lock, codec.encode_response(
                        codec.RtspResponse(400, "Bad Request")))
                    return
                for msg in messages:
                    if not isinstance(msg, codec.RtspRequest):
                        continue  # RTCP receiver reports from the client
                    self.requests.append(f"{msg.method} {msg.uri}")
                    if self.drop_after is not None and answered >= self.drop_after:
                        return
                    if self.reply_delay_s > 0 and self._stop.wait(self.reply_delay_s):
                        return
                    if self.garbage:
                        self._send(conn, write_lock, b"HTTP/1.1 400 Bad Request\r\n\r\n\xff\x00")
                        continue
                    resp = self._answer(msg, conn, write_lock)
                    self._send(conn, write_lock, codec.encode_response(resp))
                    answered += 1
                    if msg.method == "PLAY":
                        self._release_streams(conn)
        finally:
            with self._lock:
                self._clients.discard(conn)
                mine = [s for s in self._sessions.values() if s.owner is conn]
                for s in mine:
                    self._sessions.pop(s.sid, None)
            for s in mine:
                s.close()
            _shutdown(conn)

    def _release_streams(self, conn: socket.socket) -> None:
        """Let this connection's streams send: like a real server, RTP follows the PLAY reply."""
        with self._lock:
            for session in self._sessions.values():
                if session.owner is conn:
                    session.replied.set()

    @staticmethod
    def _send(conn: socket.socket, lock: threading.Lock, data: bytes) -> bool:
        with lock:
            try:
                conn.settimeout(2.0)
                conn.sendall(data)
                return True
            except OSError:
                return False
            finally:
                try:
                    conn.settimeout(_POLL_S)
                except OSError:
                    pass

    def _answer(self, req: codec.RtspRequest, conn: socket.socket,
                lock: threading.Lock) -> codec.RtspResponse:
        base = [("CSeq", req.header("CSeq") or "0"), ("Server", "classcert-rtsp-sim")]
        if self.path and not _path(req.uri).startswith(self.path) and req.method != "OPTIONS":
            return codec.RtspResponse(404, "Not Found", tuple(base))
        if self.require_auth and req.method != "OPTIONS" and not self._authorized(req):
            nonce = hashlib.md5(f"{self._rng.random()}".encode()).hexdigest()
            challenge = f'Digest realm="{self.realm}", nonce="{nonce}"'
            return codec.RtspResponse(401, "Unauthorized",
                                      (*base, ("WWW-Authenticate", challenge)))
        handler = getattr(self, f"_do_{req.method.lower()}", None)
        if handler is None:
            return codec.RtspResponse(501, "Not Implemented", tuple(base))
        status, reason, headers, body = handler(req, conn, lock)
        return codec.RtspResponse(status, reason, (*base, *headers), body)

    def _authorized(self, req: codec.RtspRequest) -> bool:
        value = req.header("Authorization") or ""
        scheme, params = codec.parse_challenge(value)
        if scheme != "digest" or params.get("username") != self.user or self.password is None:
            return False
        expected = codec.digest_response(
            self.user, self.password, self.realm, params.get("nonce", ""), req.method,
            params.get("uri", ""), params.get("qop") or None, params.get("nc", ""),
            params.get("cnonce", ""))
        return params.get("response") == expected and params.get("realm") == self.realm

    # ------------------------------------------------------------------ methods --------
    def _do_options(self, req, conn, lock):
        return 200, "OK", [("Public", "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, "
                                      "GET_PARAMETER")], b""

    def _do_get_parameter(self, req, conn, lock):
        return 200, "OK", [], b""

    def _do_describe(self, req, conn, lock):
        body = self.sdp().encode("utf-8")
        base = req.uri.rstrip("/") + "/"
        return 200, "OK", [("Content-Type", "application/sdp"), ("Content-Base", base)], body

    def sdp(self) -> str:
        assert self.clip is not None
        info = self.clip.info
        pli = f"{info.profile_idc:02X}{info.constraint_flags:02X}{info.level_idc:02X}"
        lines = ["v=0", f"o=- {self._rng.randrange(1 << 31)} 1 IN IP4 {self.host}",
                 "s=classcert RTSP simulator", f"c=IN IP4 {self.host}", "t=0 0",
                 "a=control:*", "a=range:npt=0-", "m=video 0 RTP/AVP 96",
                 "a=rtpmap:96 H264/90000",
                 f"a=fmtp:96 packetization-mode=1;profile-level-id={pli};"
                 f"sprop-parameter-sets={self.clip.sprop()}",
                 f"a=framerate:{self.clip.fps:g}", f"a=x-dimensions:{info.width},{info.height}",
                 "a=control:trackID=0"]
        return "\r\n".join(lines) + "\r\n"

    def _do_setup(self, req, conn, lock):
        transport = codec.parse_transport(req.header("Transport") or "")
        with self._lock:
            if self.max_sessions is not None and len(self._sessions) >= self.max_sessions:
                self.refused_setups += 1
                return 453, "Not Enough Bandwidth", [], b""
            sid = f"{self._rng.randrange(1 << 40):010X}"
        udp: socket.socket | None = None
        if transport["profile"].upper().endswith("/TCP"):
            channel = codec.parse_range(transport.get("interleaved", "0-1"))[0]

            def send(packet: bytes) -> bool:
                return self._send(conn, lock, codec.encode_interleaved(channel, packet))
            reply = f"RTP/AVP/TCP;unicast;interleaved={channel}-{channel + 1}"
        elif "client_port" in transport:
            rtp_port = codec.parse_range(transport["client_port"])[0]
            peer = conn.getpeername()[0]
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind((self.host, 0))
            server_port = udp.getsockname()[1]

            def send(packet: bytes) -> bool:
                try:
                    udp.sendto(packet, (peer, rtp_port))
                    return True
                except OSError:
                    return False
            reply = (f"RTP/AVP;unicast;client_port={transport['client_port']};"
                     f"server_port={server_port}-{server_port + 1}")
        else:
            return 461, "Unsupported Transport", [], b""
        with self._lock:
            self._sessions[sid] = _Session(sid, send, conn, udp)
        return 200, "OK", [("Transport", reply), ("Session", f"{sid};timeout=60")], b""

    def _session_of(self, req) -> _Session | None:
        sid = codec.parse_session(req.header("Session") or "")[0]
        with self._lock:
            return self._sessions.get(sid)

    def _do_play(self, req, conn, lock):
        session = self._session_of(req)
        if session is None:
            return 454, "Session Not Found", [], b""
        if session.thread is None or not session.thread.is_alive():
            session.stop.clear()
            session.replied.clear()
            session.thread = self._spawn(self._stream_after_answer, "rtsp-sim-rtp", session)
        return 200, "OK", [("Session", session.sid), ("Range", "npt=0.000-"),
                           ("RTP-Info", f"url={req.uri.rstrip('/')}/trackID=0")], b""

    def _do_pause(self, req, conn, lock):
        session = self._session_of(req)
        if session is None:
            return 454, "Session Not Found", [], b""
        session.stop.set()
        return 200, "OK", [("Session", session.sid)], b""

    def _do_teardown(self, req, conn, lock):
        session = self._session_of(req)
        if session is None:
            return 454, "Session Not Found", [], b""
        with self._lock:
            self._sessions.pop(session.sid, None)
        session.close()
        return 200, "OK", [("Session", session.sid)], b""

    # --------------------------------------------------------------- streaming ---------
    def _stream_after_answer(self, session: _Session) -> None:
        """Run :meth:`_stream` (of any subclass) once the PLAY answer is sent, as real servers
        do: RTP that overtakes the answer is dropped by clients and damages the first picture."""
        if session.replied.wait(_REPLY_WAIT_S) and not session.stop.is_set():
            self._stream(session)

    def _stream(self, session: _Session) -> None:
        clip = self.clip
        assert clip is not None
        ssrc, seq = self._rng.randrange(1 << 32), self._rng.randrange(1 << 16)
        ts0, sent, start = self._rng.randrange(1 << 32), 0, time.monotonic()
        period, slot = 1.0 / clip.fps, 0
        for index in range(10**9):
            unit = clip.access_units[index % len(clip.access_units)]
            if self.drop_every and self.drop_every > 1 and index \
                    and index % (self.drop_every - 1) == 0:
                slot += 1  # a frame period with no frame: the device dropped it
            if session.stop.wait(max(0.0, start + slot * period - time.monotonic())) \
                    or self._stop.is_set():
                return
            timestamp = (ts0 + round(slot * CLOCK / clip.fps)) & 0xFFFFFFFF
            payloads = [p for nal in unit for p in packetize_h264(nal)]
            for i, payload in enumerate(payloads):
                sent += 1
                pkt = codec.RtpPacket(96, seq, timestamp, ssrc, i == len(payloads) - 1,
                                      payload)
                seq = (seq + 1) & 0xFFFF
                if sent <= self.lose_first or (self.loss_every and sent % self.loss_every == 0):
                    continue
                if not session.send(codec.encode_rtp(pkt)):
                    return
            slot += 1


def _path(uri: str) -> str:
    m = re.match(r"^[a-zA-Z]+://[^/]*(/.*)?$", uri)
    return (m.group(1) or "/") if m else uri


def _shutdown(conn: socket.socket) -> None:
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    conn.close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="RTSP H.264 simulator on loopback")
    ap.add_argument("--port", type=int, default=8554)
    ap.add_argument("--variant", default="small", choices=sorted(VARIANTS))
    ap.add_argument("--clip", default=None)
    ap.add_argument("--password", default=None)
    ap.add_argument("--max-sessions", type=int, default=None)
    args = ap.parse_args(argv)
    sim = RtspSimulator(port=args.port, clip=args.clip, variant=args.variant,
                        password=args.password, require_auth=args.password is not None,
                        max_sessions=args.max_sessions).start()
    print(f"serving {sim.url}", flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        sim.stop()


if __name__ == "__main__":
    main()
