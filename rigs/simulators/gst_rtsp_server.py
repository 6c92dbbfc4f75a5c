"""GStreamer's own RTSP server on loopback: an independent implementation to test against.

Two uses of this one file:

- as a SCRIPT run with the system Python that has PyGObject (``/usr/bin/python3``)::

      /usr/bin/python3 gst_rtsp_server.py --port 0 --width 640 --height 360 --fps 25

  It serves ``videotestsrc ! x264enc ! rtph264pay`` (or ``--file clip.h264``) at
  ``rtsp://127.0.0.1:PORT/test``, prints ``READY <port>`` on stdout once listening and runs
  until SIGTERM/SIGINT;
- as a module imported from the venv (no ``gi`` needed): :class:`GstRtspServer` launches the
  script as a subprocess, waits for ``READY``, exposes ``url`` and stops it.

Only the standard library is imported at module level so both interpreters can load it.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import subprocess
import sys
import time

SYSTEM_PYTHON = "/usr/bin/python3"
MOUNT = "/test"


def gst_available(python: str = SYSTEM_PYTHON) -> str | None:
    """None when GStreamer's RTSP server can be used, else the reason it cannot."""
    if not os.path.exists(python):
        return f"{python} not found"
    probe = ("import gi; gi.require_version('Gst', '1.0'); "
             "gi.require_version('GstRtspServer', '1.0'); "
             "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
             "import sys; sys.exit(0 if Gst.ElementFactory.find('x264enc') else 3)")
    try:
        proc = subprocess.run([python, "-c", probe], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {python}: {exc}"
    if proc.returncode == 3:
        return "GStreamer x264enc missing (apt-get install gstreamer1.0-plugins-ugly)"
    if proc.returncode != 0:
        return ("PyGObject or GstRtspServer missing (apt-get install python3-gi "
                "gir1.2-gst-rtsp-server-1.0): " + proc.stderr.decode(errors="replace")[-200:])
    return None


class GstRtspServer:
    """Run the GStreamer RTSP server script as a subprocess; context manager."""

    def __init__(self, port: int = 0, width: int = 640, height: int = 360, fps: int = 25,
                 file: str | None = None, python: str = SYSTEM_PYTHON,
                 start_timeout: float = 20.0, max_seconds: int = 900) -> None:
        self.port, self.width, self.height, self.fps = port, width, height, fps
        self.file, self.python, self.start_timeout = file, python, start_timeout
        self.max_seconds = max_seconds
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"rtsp://{self.address}{MOUNT}"

    def start(self) -> GstRtspServer:
        args = [self.python, os.path.abspath(__file__), "--port", str(self.port),
                "--width", str(self.width), "--height", str(self.height), "--fps", str(self.fps),
                "--max-seconds", str(self.max_seconds)]
        if self.file:
            args += ["--file", self.file]
        self._proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self.start_timeout
        line = b""
        while time.monotonic() < deadline and self._proc.poll() is None:
            ready, _, _ = select.select([self._proc.stdout], [], [], 0.1)
            if ready:
                line = self._proc.stdout.readline()  # type: ignore[union-attr]
                if line.startswith(b"READY "):
                    self.port = int(line.split()[1])
                    return self
        err = b""
        if self._proc.poll() is not None and self._proc.stderr is not None:
            err = self._proc.stderr.read()[-500:]
        self.stop()
        raise RuntimeError(f"GStreamer RTSP server did not start within {self.start_timeout} s: "
                           f"{(line + err).decode(errors='replace')}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> GstRtspServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _launch_line(args: argparse.Namespace) -> str:
    if args.file:
        source = f"filesrc location={args.file} ! h264parse"
    else:
        source = (f"videotestsrc is-live=true pattern=ball ! video/x-raw,width={args.width},"
                  f"height={args.height},framerate={args.fps}/1 ! x264enc tune=zerolatency "
                  f"speed-preset=ultrafast key-int-max={args.fps}")
    return f"( {source} ! rtph264pay name=pay0 pt=96 config-interval=1 )"


def serve(argv: list[str] | None = None) -> int:
    """Script entry point (system Python with gi): serve until SIGTERM."""
    ap = argparse.ArgumentParser(description="GStreamer RTSP test server on 127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--file", default=None)
    ap.add_argument("--max-seconds", type=int, default=900, help="exit after this long anyway")
    args = ap.parse_args(argv)
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(_launch_line(args))
    factory.set_shared(True)
    server.get_mount_points().add_factory(MOUNT, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        return 2
    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    GLib.timeout_add_seconds(max(1, args.max_seconds), loop.quit)  # never outlive a lost parent
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(serve())
