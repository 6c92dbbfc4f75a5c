"""A threaded HTTP(S) server for simulators that can close its kept-alive connections."""

from __future__ import annotations

import socket
import ssl
import threading
from http.server import ThreadingHTTPServer
from typing import Any, Self


class TrackedHttpServer(ThreadingHTTPServer):
    """Tracks open connections so that stop() closes kept-alive ones at once; with ``tls``, the
    TLS handshake runs in each connection's own thread."""

    daemon_threads = True

    def __init__(self, addr: tuple[str, int], handler: type, tls: ssl.SSLContext | None = None,
                 thread_name: str = "sim-http-conn") -> None:
        self.tls = tls
        self.thread_name = thread_name
        self.open_sockets: set[socket.socket] = set()
        self.handlers: list[threading.Thread] = []
        self._guard = threading.Lock()
        self._serving: threading.Thread | None = None
        super().__init__(addr, handler)

    def serve_in_background(self, name: str, poll_interval: float = 0.05) -> Self:
        """Serve on a daemon thread named ``name`` until :meth:`stop`."""
        self._serving = threading.Thread(target=self.serve_forever, name=name, daemon=True,
                                         kwargs={"poll_interval": poll_interval})
        self._serving.start()
        return self

    def stop(self) -> None:
        """Stop serving, close every open connection and the listener, join the threads."""
        self.shutdown()
        self.close_all()
        self.server_close()
        if self._serving is not None:
            self._serving.join(timeout=5)
            self._serving = None

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._guard:
            self.open_sockets.add(request)
            self.handlers = [t for t in self.handlers if t.is_alive()]
            t = threading.Thread(target=self.process_request_thread,
                                 args=(request, client_address), daemon=True,
                                 name=self.thread_name)
            self.handlers.append(t)
        t.start()

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is not None:
            request.settimeout(5.0)
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                return  # a client that does not speak TLS (or gives up) is just dropped
            with self._guard:
                self.open_sockets.add(request)
            try:
                super().finish_request(request, client_address)
            finally:  # the wrapped socket owns the descriptor now: close it here
                self.shutdown_request(request)
            return
        super().finish_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._guard:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def close_all(self) -> None:
        with self._guard:
            socks, threads = list(self.open_sockets), list(self.handlers)
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in threads:
            t.join(timeout=5)
