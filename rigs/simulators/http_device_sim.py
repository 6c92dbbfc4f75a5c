"""A device that only answers on the network: a web page with a title and a Server header.

Stands in for a cloud terminal's or class sign's management page in the demo school and in
tests of the network probe (``driver = "http"`` or ``"tcp"``).
"""

from __future__ import annotations

import html
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class HttpDeviceSim:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, password: str | None = None,
                 title: str = "Cloud terminal", server: str = "device-agent/1.0") -> None:
        self.host, self.port, self.title, self.server_name = host, port, title, server
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> HttpDeviceSim:
        sim = self

        class Handler(BaseHTTPRequestHandler):
            def version_string(self) -> str:
                return sim.server_name

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                body = (f"<html><head><title>{html.escape(sim.title)}</title></head>"
                        f"<body>{html.escape(sim.title)}</body></html>").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer((self.host, self.port), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True,
                                        name="http-device-sim")
        self._thread.start()
        return self

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
