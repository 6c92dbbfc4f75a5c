"""A lecture-capture recorder with an HTTP API, on loopback.

The API is the default recipe of :mod:`classcert.device_drivers.http_recorder`:

- ``POST /api/record/start`` and ``POST /api/record/stop`` (JSON replies);
- ``GET /api/recordings?limit=N`` -> ``{"items": [{"id", "url", "mp4", "hls", ...}]}``,
  newest first; ``url`` is the HLS playlist when the ``hls`` knob is on, else the MP4;
- ``GET /recordings/<id>.mp4`` (byte ranges supported) and ``/recordings/<id>/<file>`` (HLS).

"Recording" copies a clip of the harness test pattern (``variant``) lasting stop - start
seconds (rounded, bounded by ``min_seconds`` and ``max_seconds``); it appears in the list
only once finalised, a little after the stop. Knobs spoil the device the way real ones fail:
``require_auth`` (True/"basic"/"digest"), ``fail_start``, ``never_finalise``,
``reply_delay_s`` (API replies late), ``garbage`` (API replies are not JSON), ``hls``.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from base64 import b64decode
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from classcert.rigs.simulators.pattern_clips import PATTERN_VARIANTS, pattern_clip
from classcert.rigs.simulators.tracked_http import TrackedHttpServer

REALM = "classcert-recorder"
_SEGMENT_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_MEDIA = re.compile(r"^/recordings/(\d{1,6})(?:\.mp4|/([^/]+))$")
_DIGEST_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]+))')
_FFMPEG_TIMEOUT_S = 120
_CHUNK = 64 * 1024


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - HTTP Digest is MD5


class HttpRecorderSim:
    """Thread-based simulator; ``start()`` returns self, ``address`` is ``127.0.0.1:PORT``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, password: str | None = None, *,
                 user: str = "admin", variant: str = "genuine_1080p",
                 require_auth: bool | str = False, fail_start: bool = False,
                 never_finalise: bool = False, reply_delay_s: float = 0.0, garbage: bool = False,
                 hls: bool = False, finalise_s: float = 0.2, min_seconds: float = 2.0,
                 max_seconds: float = 30.0, clip_cache: str | None = None) -> None:
        if variant not in PATTERN_VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; known: {', '.join(PATTERN_VARIANTS)}")
        auth = {True: "basic", False: "", "basic": "basic", "digest": "digest", "": ""}.get(
            require_auth)  # type: ignore[call-overload]
        if auth is None:
            raise ValueError("require_auth must be true, false, 'basic' or 'digest'")
        if auth and not password:
            raise ValueError("require_auth needs a password")
        if not 0 < min_seconds <= max_seconds <= 600:
            raise ValueError("need 0 < min_seconds <= max_seconds <= 600")
        self.host, self.port, self.password, self.user = host, port, password, user
        self.variant, self.auth, self.fail_start = variant, auth, fail_start
        self.never_finalise, self.garbage = never_finalise, garbage
        self.reply_delay_s = reply_delay_s
        self.hls, self.finalise_s = hls, finalise_s
        self.min_seconds, self.max_seconds, self.clip_cache = min_seconds, max_seconds, clip_cache
        self.nonce = secrets.token_hex(16)
        self.recordings: list[dict[str, Any]] = []  # finalised, oldest first
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request
        self._started_at: float | None = None
        self._next_id = 1
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._workers: list[threading.Thread] = []
        self._dir: Path | None = None
        self._httpd: TrackedHttpServer | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> HttpRecorderSim:
        self._dir = Path(tempfile.mkdtemp(prefix="classcert-recorder-"))
        self._httpd = TrackedHttpServer((self.host, self.port), _handler(self),
                                        thread_name="http-recorder-sim-conn")
        self.port = self._httpd.server_address[1]
        self._httpd.serve_in_background("http-recorder-sim", poll_interval=0.1)
        return self

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def recording(self) -> bool:
        return self._started_at is not None

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.stop()
            self._httpd = None
        for worker in self._workers:
            worker.join(timeout=_FFMPEG_TIMEOUT_S)
        self._workers.clear()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> HttpRecorderSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- recorder behaviour ------------------------------------------------------------
    def begin(self) -> tuple[int, dict[str, Any]]:
        if self.fail_start:
            return 500, {"ok": False, "error": "encoder not ready (simulated fault)"}
        with self._lock:
            if self._started_at is not None:
                return 409, {"ok": False, "error": "already recording"}
            self._started_at = time.monotonic()
            return 200, {"ok": True, "recording": True, "id": self._next_id}

    def end(self) -> tuple[int, dict[str, Any]]:
        with self._lock:
            if self._started_at is None:
                return 409, {"ok": False, "error": "not recording"}
            seconds = time.monotonic() - self._started_at
            self._started_at = None
            rec_id, self._next_id = self._next_id, self._next_id + 1
        seconds = float(min(max(round(seconds), self.min_seconds), self.max_seconds))
        if not self.never_finalise:
            worker = threading.Thread(target=self._finalise, args=(rec_id, seconds),
                                      daemon=True, name=f"http-recorder-finalise-{rec_id}")
            self._workers.append(worker)
            worker.start()
        return 200, {"ok": True, "recording": False, "id": rec_id, "duration_s": seconds}

    def _finalise(self, rec_id: int, seconds: float) -> None:
        folder = self._dir
        if folder is None:
            return
        clip = pattern_clip(self.variant, seconds, self.clip_cache)
        mp4 = folder / f"{rec_id}.mp4"
        shutil.copyfile(clip, mp4)
        item: dict[str, Any] = {"id": rec_id, "duration_s": seconds, "variant": self.variant,
                                "mp4": f"/recordings/{rec_id}.mp4"}
        if self.hls:
            seg_dir = folder / str(rec_id)
            seg_dir.mkdir()
            subprocess.run(
                ["ffmpeg", "-v", "error", "-y", "-i", str(mp4), "-c", "copy", "-f", "hls",
                 "-hls_time", "1", "-hls_list_size", "0", "-hls_playlist_type", "vod",
                 "-hls_segment_filename", str(seg_dir / "seg%03d.ts"), str(seg_dir / "index.m3u8")],
                check=True, timeout=_FFMPEG_TIMEOUT_S, stdin=subprocess.DEVNULL)
            item["hls"] = f"/recordings/{rec_id}/index.m3u8"
        item["url"] = item["hls"] if self.hls else item["mp4"]
        if self._stopping.wait(self.finalise_s):
            return
        with self._lock:
            self.recordings.append(item)

    def listing(self, limit: int) -> dict[str, Any]:
        with self._lock:
            items = list(reversed(self.recordings))[:max(0, limit)]
        return {"items": items, "total": len(self.recordings)}

    def media_path(self, path: str) -> Path | None:
        match = _MEDIA.match(path)
        if match is None or self._dir is None:
            return None
        rec_id, name = match.groups()
        if name is None:
            file = self._dir / f"{rec_id}.mp4"
        elif _SEGMENT_NAME.match(name) and not name.startswith("."):
            file = self._dir / rec_id / name
        else:
            return None
        return file if file.is_file() else None

    # -- authentication ----------------------------------------------------------------
    def authorised(self, method: str, header: str | None) -> bool:
        if not self.auth:
            return True
        if not header:
            return False
        scheme, _, value = header.partition(" ")
        if self.auth == "basic" and scheme.lower() == "basic":
            try:
                given = b64decode(value.strip(), validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                return False
            return secrets.compare_digest(given, f"{self.user}:{self.password}")
        if self.auth == "digest" and scheme.lower() == "digest":
            p = {m[0]: m[1] or m[2] for m in _DIGEST_PARAM.findall(value)}
            if p.get("username") != self.user or p.get("nonce") != self.nonce:
                return False
            ha1 = _md5(f"{self.user}:{REALM}:{self.password}")
            ha2 = _md5(f"{method}:{p.get('uri', '')}")
            if p.get("qop"):
                want = _md5(f"{ha1}:{self.nonce}:{p.get('nc', '')}:{p.get('cnonce', '')}:"
                            f"{p['qop']}:{ha2}")
            else:
                want = _md5(f"{ha1}:{self.nonce}:{ha2}")
            return secrets.compare_digest(p.get("response", ""), want)
        return False

    def challenge(self) -> str:
        if self.auth == "digest":
            return f'Digest realm="{REALM}", qop="auth", nonce="{self.nonce}", algorithm=MD5'
        return f'Basic realm="{REALM}"'


def _handler(sim: HttpRecorderSim) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "classcert-recorder-sim/1.0"
        protocol_version = "HTTP/1.1"
        timeout = 15  # idle kept-alive connections close by themselves

        def log_message(self, *args: object) -> None:
            pass

        def _drain(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if 0 < length <= 1 << 20:
                self.rfile.read(length)

        def _reply(self, status: int, body: bytes, ctype: str,
                   extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, doc: dict[str, Any]) -> None:
            if sim.reply_delay_s > 0 and sim._stopping.wait(sim.reply_delay_s):
                return
            if sim.garbage:
                self._reply(200, b"\x00\xffOK<html>" + secrets.token_bytes(16), "application/json")
                return
            self._reply(status, json.dumps(doc).encode(), "application/json")

        def _gate(self) -> bool:
            sim.requests.append((self.command, self.path))
            self._drain()
            if sim.authorised(self.command, self.headers.get("Authorization")):
                return True
            self._reply(401, b'{"ok": false, "error": "unauthorised"}', "application/json",
                        {"WWW-Authenticate": sim.challenge()})
            return False

        def do_POST(self) -> None:  # noqa: N802 - http.server API
            if not self._gate():
                return
            path = urlsplit(self.path).path
            if path == "/api/record/start":
                self._json(*sim.begin())
            elif path == "/api/record/stop":
                self._json(*sim.end())
            else:
                self._json(404, {"ok": False, "error": f"no such endpoint {path}"})

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            if not self._gate():
                return
            parts = urlsplit(self.path)
            if parts.path == "/api/recordings":
                raw = parse_qs(parts.query).get("limit", ["20"])[0]
                limit = int(raw) if raw.isdigit() else 20
                self._json(200, sim.listing(min(limit, 1000)))
            elif parts.path == "/api/status":
                self._json(200, {"recording": sim.recording})
            else:
                self._media(parts.path)

        def _media(self, path: str) -> None:
            file = sim.media_path(path)
            if file is None:
                self._reply(404, b"not found", "text/plain")
                return
            size = file.stat().st_size
            start, end, status = 0, size - 1, 200
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", "").strip())
            if match:
                start = int(match.group(1))
                end = min(int(match.group(2)) if match.group(2) else size - 1, size - 1)
                if start > end:
                    self._reply(416, b"", "text/plain", {"Content-Range": f"bytes */{size}"})
                    return
                status = 206
            ctype = {".mp4": "video/mp4", ".m3u8": "application/vnd.apple.mpegurl",
                     ".ts": "video/mp2t"}.get(file.suffix, "application/octet-stream")
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(end - start + 1))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.end_headers()
            with file.open("rb") as fh:
                fh.seek(start)
                left = end - start + 1
                while left > 0 and not sim._stopping.is_set():
                    chunk = fh.read(min(_CHUNK, left))
                    if not chunk:
                        break
                    try:
                        self.wfile.write(chunk)
                    except (BrokenPipeError, ConnectionResetError):
                        return
                    left -= len(chunk)

    return Handler
