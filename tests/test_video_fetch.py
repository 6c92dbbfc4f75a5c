"""Finite HTTP video files are fetched whole before decoding; streams and playlists are not."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classcert.video_fetch import FetchError, _split_credentials, fetch_if_file
from classcert.video_probe import ProbeError, probe

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


class _Files(BaseHTTPRequestHandler):
    """Plain HTTP/1.0 file server: no range support, like many recorder web servers."""

    files: dict[str, tuple[bytes, str]] = {}
    short_by = 0  # announce this many bytes more than are sent
    chunked = False

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        body, ctype = self.files.get(self.path, (b"", ""))
        if not ctype:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        if not self.chunked:
            self.send_header("Content-Length", str(len(body) + self.short_by))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def files_server() -> Iterator[tuple[str, type[_Files]]]:
    handler = type("Files", (_Files,), {"files": {}, "short_by": 0, "chunked": False})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def moov_at_end(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    import subprocess

    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed")
    path = tmp_path_factory.mktemp("clip") / "tail.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=320x240:rate=25", "-t", "2", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(path)], check=True, timeout=60)
    return path.read_bytes()


@needs_ffmpeg
def test_moov_at_end_over_plain_http_keeps_every_picture(files_server, moov_at_end):
    base, handler = files_server
    handler.files["/rec/tail.mp4"] = (moov_at_end, "video/mp4")
    result = probe(f"{base}/rec/tail.mp4", max_seconds=10, timeout_s=5)
    assert (result.frames, result.dropped_frames) == (50, 0)
    assert result.source == f"{base}/rec/tail.mp4"  # the report names the URL, not a temp file


def test_short_download_is_an_error_not_a_measurement(files_server, tmp_path):
    base, handler = files_server
    handler.files["/a.mp4"] = (b"\0" * 5000, "video/mp4")
    handler.short_by = 1000
    with pytest.raises(FetchError, match="interrupted|5000 of 6000"):
        fetch_if_file(f"{base}/a.mp4", tmp_path, 2.0, 10.0)
    assert not list(tmp_path.iterdir())  # the partial file is removed
    with pytest.raises(ProbeError):
        probe(f"{base}/a.mp4", timeout_s=2)


def test_limits_and_http_errors(files_server, tmp_path):
    base, handler = files_server
    handler.files["/big.mp4"] = (b"\0" * 4096, "video/mp4")
    with pytest.raises(FetchError, match="over the 1000 limit"):
        fetch_if_file(f"{base}/big.mp4", tmp_path, 2.0, 10.0, max_bytes=1000)
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch_if_file(f"{base}/missing.mp4", tmp_path, 2.0, 10.0)
    assert not list(tmp_path.iterdir())  # nothing half-written is left behind


def test_streams_and_playlists_are_left_to_the_decoder(files_server, tmp_path):
    base, handler = files_server
    handler.files["/live.ts"] = (b"\x47" * 188, "video/mp2t")
    handler.files["/index"] = (b"#EXTM3U\n", "application/vnd.apple.mpegurl")
    assert fetch_if_file(f"{base}/x.m3u8", tmp_path, 2.0, 10.0) is None  # not even asked
    assert fetch_if_file(f"{base}/index", tmp_path, 2.0, 10.0) is None
    handler.chunked = True  # no Content-Length: a live stream
    assert fetch_if_file(f"{base}/live.ts", tmp_path, 2.0, 10.0) is None
    handler.chunked = False
    got = fetch_if_file(f"{base}/live.ts", tmp_path, 2.0, 10.0)
    assert got is not None and got.read_bytes() == b"\x47" * 188 and got.parent == tmp_path


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@settings(max_examples=200, deadline=None)
@given(user=_TEXT.filter(bool), password=_TEXT, port=st.integers(1, 65535),
       path=st.from_regex(r"/[a-z0-9/._-]{0,20}", fullmatch=True))
def test_credentials_leave_the_url_and_come_back_intact(user, password, port, path):
    url = f"http://{quote(user, safe='')}:{quote(password, safe='')}@10.0.0.5:{port}{path}"
    bare, auth = _split_credentials(url)
    assert bare == f"http://10.0.0.5:{port}{path}"
    assert auth == (user, password)
    assert _split_credentials(bare) == (bare, None)


def test_tempfile_suffix_is_bounded(files_server, tmp_path):
    base, handler = files_server
    handler.files["/clip." + "x" * 40] = (b"1234", "video/mp4")
    got = fetch_if_file(f"{base}/clip.{'x' * 40}", tmp_path, 2.0, 10.0)
    assert got is not None and len(Path(got).suffix) <= 8
