"""Fetch a finite HTTP(S) video file to disk before it is decoded.

FFmpeg reads an MP4 whose index (``moov``) sits at the end by seeking over HTTP ranges; over
such reads PyAV lost the first group of pictures (75 of 100 frames of a 4 s clip), which would
count as dropped pictures, and a server without range support ends the read with an I/O error.
A recording is a finite file, so it is downloaded first (bounded in size and time) and decoded
from disk. Live or unbounded HTTP streams (no Content-Length) and HLS playlists are still read
directly by the decoder.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

MAX_BYTES = 4 * 1024**3
CHUNK = 1 << 20
_PLAYLIST_TYPES = ("mpegurl", "dash+xml")
_PLAYLIST_SUFFIXES = (".m3u8", ".m3u", ".mpd")


class FetchError(Exception):
    """The file could not be fetched; ``en``/``zh`` say why."""

    def __init__(self, en: str, zh: str) -> None:
        super().__init__(en, zh)
        self.en, self.zh = en, zh


def is_http(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


def _split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    from urllib.parse import unquote

    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    bare = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return bare, (unquote(parts.username), unquote(parts.password or ""))


def _is_playlist(url: str, content_type: str) -> bool:
    path = urlsplit(url).path.lower()
    return path.endswith(_PLAYLIST_SUFFIXES) or any(t in content_type for t in _PLAYLIST_TYPES)


def fetch_if_file(url: str, dest_dir: Path, timeout_s: float, wall_limit_s: float,
                  max_bytes: int = MAX_BYTES) -> Path | None:
    """Download ``url`` into ``dest_dir`` when it is a finite file; None for a stream.

    A finite file is an answer with a Content-Length that is not a playlist. Raises
    :class:`FetchError` on HTTP errors, on a file over ``max_bytes`` or a download slower
    than ``wall_limit_s``, and when fewer bytes arrive than announced.
    """
    if urlsplit(url).path.lower().endswith(_PLAYLIST_SUFFIXES):
        return None
    bare, auth = _split_credentials(url)
    session = requests.Session()
    try:
        try:
            resp = session.get(bare, stream=True, timeout=(timeout_s, timeout_s), auth=auth)
        except requests.RequestException as exc:
            raise FetchError(f"cannot fetch {bare}: {exc}", f"无法获取 {bare}：{exc}") from exc
        if resp.status_code == 401 and auth is not None:  # the server wants Digest
            resp.close()
            resp = session.get(bare, stream=True, timeout=(timeout_s, timeout_s),
                               auth=requests.auth.HTTPDigestAuth(*auth))
        with resp:
            if resp.status_code != 200:
                raise FetchError(f"{bare} answered HTTP {resp.status_code}",
                                 f"{bare} 返回 HTTP {resp.status_code}")
            length = resp.headers.get("Content-Length", "")
            ctype = resp.headers.get("Content-Type", "").lower()
            if not length.isdigit() or _is_playlist(bare, ctype):
                return None
            if int(length) > max_bytes:
                raise FetchError(f"{bare} is {int(length)} bytes, over the {max_bytes} limit",
                                 f"{bare} 大小超过 {max_bytes} 字节上限")
            return _save(resp, bare, dest_dir, int(length), wall_limit_s)
    except requests.RequestException as exc:
        raise FetchError(f"download of {bare} interrupted: {exc}",
                         f"{bare} 下载中断：{exc}") from exc
    finally:
        session.close()


def _save(resp: requests.Response, url: str, dest_dir: Path, length: int,
          wall_limit_s: float) -> Path:
    deadline = time.monotonic() + wall_limit_s
    suffix = Path(urlsplit(url).path).suffix[:8] or ".bin"
    fd, name = tempfile.mkstemp(prefix="fetched-", suffix=suffix, dir=dest_dir)
    done = 0
    try:
        with open(fd, "wb") as fh:
            for chunk in resp.iter_content(CHUNK):
                done += len(chunk)
                if done > length:
                    raise FetchError(f"{url} sent more bytes than announced ({length})",
                                     f"{url} 发送的数据多于声明的长度")
                fh.write(chunk)
                if time.monotonic() > deadline:
                    raise FetchError(f"download of {url} took longer than {wall_limit_s:g} s",
                                     f"{url} 下载超过 {wall_limit_s:g} 秒，已中止")
        if done != length:
            raise FetchError(f"download of {url} ended after {done} of {length} bytes",
                             f"{url} 下载不完整：{length} 字节中只收到 {done}")
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)
