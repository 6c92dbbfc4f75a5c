"""Serving a display simulator's byte session over loopback TCP and serial ports.

:class:`SessionServer` is a base class for simulators whose protocol is handled by one method,
``_session(recv, send, closes)``: it listens on TCP (at most ``max_connections`` sessions at
once, later clients are closed at once), answers on serial ports (a device or pyserial URL,
e.g. one end of a socat pty pair) and runs each session on a daemon thread until ``stop()``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Self

import serial

POLL_S = 0.05  # socket and serial read timeout: how often sessions look at the stop flag

Recv = Callable[[], bytes | None]  # b"" = nothing yet, None = the other end closed
Send = Callable[[bytes], Any]


def shutdown(conn: socket.socket) -> None:
    """Shut down both directions (if still connected) and close the socket."""
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    conn.close()


def serve_for(duration_s: float) -> None:
    """Block for ``duration_s`` seconds (0 or less: until Ctrl-C) while simulators serve."""
    end = time.monotonic() + duration_s if duration_s > 0 else None
    try:
        while end is None or time.monotonic() < end:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass


class SessionServer:
    """TCP listener, serial ports and session threads of a simulator.

    A subclass sets ``host``, ``port``, ``max_connections`` and ``connections`` (accepted so
    far), calls :meth:`_init_serving` in its constructor, names its threads with
    ``thread_prefix`` and implements :meth:`_session`.
    """

    thread_prefix = "sim"
    host: str
    port: int
    max_connections: int
    connections: int

    def _init_serving(self) -> None:
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._threads: set[threading.Thread] = set()
        self._closers: dict[threading.Thread, Callable[[], None]] = {}

    def _session(self, recv: Recv, send: Send, closes: bool) -> None:
        """Answer requests read with ``recv`` until it returns None or the server stops."""
        raise NotImplementedError

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def start(self) -> Self:
        if self._listener is not None:
            return self
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._listener = socket.create_server((self.host, self.port), family=family, backlog=16)
        self._listener.settimeout(POLL_S)
        self.port = self._listener.getsockname()[1]
        self._stop.clear()
        self._spawn(self._accept_loop, lambda: None, f"{self.thread_prefix}-{self.port}")
        return self

    def serve_serial(self, path: str, baudrate: int = 9600) -> Self:
        """Also answer on the serial port ``path`` (a device or pyserial URL) until stop()."""
        port = serial.serial_for_url(path, baudrate=baudrate, timeout=POLL_S, write_timeout=2.0)
        self._stop.clear()

        def recv() -> bytes | None:
            return port.read(max(1, min(port.in_waiting, 4096)))

        def run() -> None:
            try:
                self._session(recv, port.write, closes=False)
            except (serial.SerialException, OSError):
                pass  # the other end of the line went away
            finally:
                port.close()

        self._spawn(run, lambda: None, f"{self.thread_prefix}-serial-{path}")  # reads poll _stop
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            threads, closers = list(self._threads), list(self._closers.values())
        for close in closers:
            close()
        for thread in threads:
            thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, target: Callable[[], None], closer: Callable[[], None], name: str) -> None:
        def run() -> None:
            try:
                target()
            finally:
                with self._lock:
                    self._threads.discard(threading.current_thread())
                    self._closers.pop(threading.current_thread(), None)

        thread = threading.Thread(target=run, name=name, daemon=True)
        with self._lock:
            self._threads.add(thread)
            self._closers[thread] = closer
        thread.start()

    def _accept_loop(self) -> None:
        listener = self._listener
        while listener is not None and not self._stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                busy = len(self._threads) - 1 >= self.max_connections  # minus this thread
                if not busy:
                    self.connections += 1
            if busy:
                conn.close()  # like a display whose LAN sessions are all in use
                continue
            self._spawn(lambda c=conn: self._serve_socket(c), lambda c=conn: shutdown(c),
                        f"{self.thread_prefix}-{self.port}-c{self.connections}")

    def _serve_socket(self, conn: socket.socket) -> None:
        conn.settimeout(POLL_S)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def recv() -> bytes | None:
            try:
                return conn.recv(4096) or None
            except TimeoutError:
                return b""

        try:
            self._session(recv, conn.sendall, closes=True)
        except OSError:
            pass  # client vanished
        finally:
            shutdown(conn)
