"""What the touch and crowd page servers share: the bind check, the page, the open sessions.

A :class:`PageServer` serves one HTML page (from the installed package) to devices in the
room, each visit under a session's token. It listens on one address of the room's network
(``classcert.lan``), keeps at most ``max_sessions`` open sessions and runs its HTTP server on a
background thread; subclasses say which HTTP server (``_make_httpd``) and how a page is filled.
"""

from __future__ import annotations

import threading
from importlib import resources
from typing import Any, Generic, Protocol, Self, TypeVar

from classcert import lan


class Session(Protocol):
    token: str

    @property
    def closed(self) -> bool: ...

    def close(self) -> None: ...


class HttpServer(Protocol):
    server_address: Any

    def serve_forever(self, poll_interval: float = ...) -> None: ...

    def shutdown(self) -> None: ...

    def server_close(self) -> None: ...


S = TypeVar("S", bound=Session)


class PageServer(Generic[S]):
    """Base of the page servers. Use as a context manager; ``start()`` creates the listening
    socket in the calling thread's network namespace."""

    kind = "page"  # in thread names and messages: "touch", "crowd"
    page_file = ""  # a file of the classcert package
    page_marker = ""  # a line the page must hold (else the installation is broken)
    reaches = "the room's devices"  # who must reach the bind address (for its error message)
    max_sessions = 64

    def __init__(self, bind_host: str, port: int, client_timeout_s: float) -> None:
        self.bind_host = bind_host
        self._family = lan.check_bind_host(bind_host, self.reaches)
        self.port = port
        self.client_timeout_s = client_timeout_s
        self._sessions: dict[str, S] = {}
        self._lock = threading.Lock()
        self._httpd: HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._page = resources.files("classcert").joinpath(self.page_file).read_text("utf-8")
        if self.page_marker not in self._page:
            raise RuntimeError(f"{self.page_file} lacks its page marker (broken installation)")

    def _make_httpd(self, address: tuple[str, int], family: int) -> HttpServer:
        """A listening HTTP server for ``address``, served by ``serve_forever``."""
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        return lan.base_url(self.bind_host, self.port)

    def start(self) -> Self:
        if self._httpd is not None:
            return self
        self._httpd = self._make_httpd((self.bind_host, self.port), self._family)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"{self.kind}-server:{self.port}", daemon=True)
        self._thread.start()
        return self

    def _open(self, make: type[S], *args: Any) -> S:
        """A new session ``make(base_url, *args)``, after dropping closed ones."""
        if self._httpd is None:
            raise RuntimeError(f"start the {type(self).__name__} before opening sessions")
        with self._lock:
            for token in [t for t, s in self._sessions.items() if s.closed]:
                del self._sessions[token]
            if len(self._sessions) >= self.max_sessions:
                raise RuntimeError(f"more than {self.max_sessions} open {self.kind} sessions")
            session = make(self.base_url, *args)
            self._sessions[session.token] = session
        return session

    def lookup(self, token: str) -> S | None:
        """The open session with ``token``, or None."""
        with self._lock:
            session = self._sessions.get(token)
        return session if session is not None and not session.closed else None

    def stop(self) -> None:
        """Close every session, stop serving and release the port."""
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for session in sessions:
            session.close()
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if httpd is not None:
            httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
