"""The Wi-Fi crowd test's HTTP server: one asyncio event loop on a background thread.

Sessions live in :mod:`classcert.crowd_server`, the wire format in :mod:`classcert.crowd_protocol`;
this module answers requests (HTTP/1.0, one per connection; request lines carry session tokens
and are never logged) and moves the bytes. A thousand devices are a thousand connections on
one loop. The downlink writes token-bucket-paced pieces (larger for larger crowds) and the
kernel spaces their packets (TCP pacing); uplink reads wake once per chunk (SO_RCVLOWAT) and
once at the window's end, and bytes read late count by the kernel's arrival time (TCP_INFO).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any

from classcert.crowd import bytes_for
from classcert.crowd_arrival import lowat, pace, share_inside, since_last_data
from classcert.crowd_protocol import (
    MAX_CHUNK,
    MAX_HINT,
    MAX_JSON,
    MAX_PIECE,
    UP_IN_FLIGHT,
    CrowdError,
    head_bytes,
    parse_head,
    parse_join,
    parse_report,
)

if TYPE_CHECKING:
    from classcert.crowd_server import CrowdDevice, CrowdServer, CrowdSession, Schedule

BACKLOG = 1024  # a whole crowd may connect in the same instant
READ_LIMIT = 512 * 1024  # bytes a connection may buffer before reading pauses
MAX_BATCH = 256 * 1024  # an uplink read wakes once per chunk (at most this many bytes)
PACING_HEADROOM = 1.1  # the kernel paces the downlink at 1.1 x the offered rate
_FILL = os.urandom(MAX_PIECE)  # incompressible payload
_NOT_FOUND = b"not found\n"
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
_QUIET = (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
          TimeoutError)  # a client that goes away or stalls is normal


class _Request:
    """One parsed request and its connection."""

    def __init__(self, method: str, target: str, headers: list[tuple[str, str]],
                 reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.method = method
        self.path = target
        self.headers = headers
        self.fields = {name.lower(): value for name, value in headers}
        self.reader = reader
        self.writer = writer
        self.unread = True  # the body (if any) was not consumed yet
        self.accepted = time.monotonic()  # set again by the connection (the earliest we know)

    def length(self) -> int:
        try:
            return int(self.fields.get("content-length", ""))
        except ValueError:
            return -1


class HttpServer:
    """Serves :class:`CrowdServer`'s sessions; at most ``max_connections`` at once."""

    def __init__(self, owner: CrowdServer, address: tuple[str, int], family: int,
                 max_connections: int) -> None:
        self.owner = owner
        self.max_connections = max_connections
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(BACKLOG)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.socket = sock
        self.server_address = sock.getsockname()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.dropped = 0  # connections closed unanswered: more than max_connections open

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Run the event loop in the calling thread until :meth:`shutdown` (which wakes it at
        once: ``poll_interval`` is there for the shape of ``socketserver``)."""
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._connection, sock=self.socket,
                                            backlog=BACKLOG, limit=READ_LIMIT)
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            server.close()
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.wait(list(self._tasks), timeout=5)

    def shutdown(self) -> None:
        """Stop serving (from any thread); open connections are cancelled."""
        if self._ready.wait(5) and self._loop is not None and self._stopping is not None:
            try:
                self._loop.call_soon_threadsafe(self._stopping.set)
            except RuntimeError:
                pass  # the loop already ended

    def server_close(self) -> None:
        self.socket.close()

    # ------------------------------------------------------------------ connections

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if len(self._tasks) <= self.max_connections:
                await self._serve(reader, writer)
            else:  # too many: drop this one
                self.dropped += 1
        except _QUIET:
            pass
        except Exception:  # noqa: BLE001 - a bug, not a client: show it, keep serving
            traceback.print_exc()
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted = time.monotonic()
        timeout = self.owner.client_timeout_s
        try:
            async with asyncio.timeout(timeout):
                head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            head = b""
        parsed = parse_head(head)
        if parsed is None:
            writer.write(head_bytes(400, "text/plain; charset=utf-8", 12) + b"bad request\n")
            return
        req = _Request(*parsed, reader, writer)
        req.accepted = accepted
        await self._route(req)
        async with asyncio.timeout(timeout):
            await writer.drain()

    # ------------------------------------------------------------------ responses

    async def _discard(self, req: _Request) -> None:
        """Read an unread body (up to MAX_CHUNK): closing on it would reset the answer."""
        left, req.unread = (req.length() if req.unread else 0), False
        if 0 < left <= MAX_CHUNK:
            async with asyncio.timeout(self.owner.client_timeout_s):
                await req.reader.readexactly(left)

    async def _send(self, req: _Request, status: int, body: bytes,
                    ctype: str = "text/plain; charset=utf-8",
                    headers: dict[str, str] | None = None) -> None:
        await self._discard(req)
        req.writer.write(head_bytes(status, ctype, len(body), headers))
        if req.method != "HEAD":
            req.writer.write(body)

    async def _json(self, req: _Request, status: int, doc: dict[str, Any]) -> None:
        await self._send(req, status, json.dumps(doc).encode(), "application/json")

    async def _checked_length(self, req: _Request, limit: int) -> int | None:
        length = req.length()
        if length < 0 or "transfer-encoding" in req.fields:
            await self._json(req, 411, {"error": "send a valid Content-Length"})
            return None
        if length > limit:
            await self._json(req, 413, {"error": f"body larger than {limit} bytes"})
            return None
        return length

    async def _body(self, req: _Request, limit: int) -> bytes | None:
        length = await self._checked_length(req, limit)
        if length is None:
            return None
        req.unread = False
        async with asyncio.timeout(self.owner.client_timeout_s):
            return await req.reader.readexactly(length)

    # ------------------------------------------------------------------ the protocol

    async def _route(self, req: _Request) -> None:
        routed = self.owner.route(req.path)
        if routed is None:
            await self._send(req, 404, _NOT_FOUND)
            return
        session, action, dev_id = routed
        dev = None
        if action in ("page", "join"):
            if not session.count_page_request():
                await self._json(req, 429, {"error": "too many requests for this session"})
                return
        else:
            dev = session.device(dev_id)
            if dev is None:
                await self._send(req, 404, _NOT_FOUND)
                return
        method = "GET" if action in ("page", "status", "down") else "POST"
        if req.method != method:
            await self._send(req, 405, b"method not allowed\n", headers={"Allow": method})
            return
        await getattr(self, f"_do_{action}")(req, session, dev)

    async def _do_page(self, req: _Request, session: CrowdSession, dev: None) -> None:
        await self._send(req, 200, self.owner.page(session), "text/html; charset=utf-8",
                         _PAGE_HEADERS)

    async def _do_join(self, req: _Request, session: CrowdSession, dev: None) -> None:
        body = await self._body(req, MAX_JSON)
        if body is None:
            return
        try:
            join = parse_join(body)
        except CrowdError as exc:
            session.rejected += 1
            await self._json(req, 400, {"error": str(exc)})
            return
        hints = {**join["hints"], **{k: v for k, v in req.headers
                                     if k.lower().startswith("sec-ch-ua") and len(v) <= MAX_HINT}}
        peer = req.writer.get_extra_info("peername") or ("",)
        device = session.new_device(str(peer[0]), req.fields.get("user-agent", ""),
                                    {**join, "hints": hints})
        if device is None:
            await self._json(req, 409, {"error": "the session is full, started or closed"})
            return
        await self._json(req, 200, {"device": device.id, "os": device.os.label,
                                    "target": session.target})

    async def _do_status(self, req: _Request, session: CrowdSession, dev: CrowdDevice) -> None:
        await self._json(req, 200, session.status_for(dev))

    async def _do_down(self, req: _Request, session: CrowdSession, dev: CrowdDevice) -> None:
        sched = session.schedule
        now = time.monotonic()
        with session._cond:  # one downlink per device
            refused = sched is None or now >= sched.down.end or dev.down_started
            dev.down_started = True
        if refused or sched is None:
            await self._json(req, 409, {"error": "no downlink window open for this device"})
            return
        await self._discard(req)
        await asyncio.sleep(max(0.0, sched.down.start - now))  # bounded by MAX_LEAD_S
        total = bytes_for(sched.rate_mbps, sched.window_s)
        writer = req.writer
        writer.transport.set_write_buffer_limits(high=0)  # drain() = "the kernel took it all"
        pace(writer.get_extra_info("socket"), sched.rate_mbps * 1e6 / 8 * PACING_HEADROOM)
        writer.write(head_bytes(200, "application/octet-stream", total))
        rate = sched.rate_mbps * 1e6 / 8
        size = sched.piece_bytes
        start = time.monotonic()
        sent = 0
        while sent < total and not session.closed and not writer.is_closing():
            now = time.monotonic()
            if now > sched.down.end + sched.grace_s:
                break
            allowed = (now - start) * rate + size - sent  # token bucket, burst of one piece
            if allowed < size and sent + allowed < total:
                await asyncio.sleep(min(0.05, (size - allowed) / rate))
                continue
            n = min(size, total - sent)
            writer.write(memoryview(_FILL)[:n])
            sent += n
            dev.down_sent = sent
            dev.down_span[1:] = [time.monotonic()]
            if len(dev.down_span) == 1:
                dev.down_span.insert(0, now)
            # a link slower than the offer holds the rest here (no pile-up in memory)
            async with asyncio.timeout(self.owner.client_timeout_s):
                await writer.drain()

    async def _do_up(self, req: _Request, session: CrowdSession, dev: CrowdDevice) -> None:
        sched = session.schedule
        if sched is None:
            await self._json(req, 409, {"error": "the test has not started"})
            return
        if dev.up_open >= UP_IN_FLIGHT:  # one device cannot hold the crowd's connections
            dev.up_busy += 1
            await self._json(req, 429, {"error": f"at most {UP_IN_FLIGHT} uplink chunks at once"})
            return
        dev.up_open += 1
        try:
            await self._receive_chunk(req, session, dev, sched)
        finally:
            dev.up_open -= 1

    async def _receive_chunk(self, req: _Request, session: CrowdSession, dev: CrowdDevice,
                             sched: Schedule) -> None:
        began = req.accepted  # the device connected then, however busy this server was
        length = await self._checked_length(req, min(MAX_CHUNK, 2 * sched.chunk_bytes))
        if length is None:
            return
        cap = bytes_for(sched.rate_mbps, sched.window_s) * 5 // 4 + MAX_CHUNK
        timeout_s = self.owner.client_timeout_s
        sock = req.writer.get_extra_info("socket")
        req.unread = False
        start, end = sched.up.start, sched.up.end
        left, counted, prev, drain = length, 0, began, False
        for _ in range(length // 1024 + 4):  # bytes count when they arrive inside the window
            if left <= 0:
                break
            now = time.monotonic()
            if now > end + timeout_s:
                break  # bytes this late never count: a chunk cannot hold its lane for ever
            edge = start if now < start else end  # wake at the window's opening and closing
            early = now < edge
            whole = early and not drain  # wait for the rest of the chunk, at most to the edge
            lowat(sock, min(left, MAX_BATCH) if whole else 1)
            try:
                async with asyncio.timeout(min(timeout_s, edge - now) if early else timeout_s):
                    piece = await req.reader.read(min(left, MAX_BATCH))
            except TimeoutError:
                if whole or (early and edge - now < timeout_s):
                    # at the edge, or a chunk slower than timeout_s on a shared link: next,
                    # one read of what has arrived so far
                    drain = True
                    continue
                break  # the client stalled: nothing arrived for timeout_s
            drain = False
            if not piece:
                break
            left -= len(piece)
            # the piece arrived between the last one and the kernel's time of its last segment
            # (a busy loop may read it late); bytes count in proportion inside the window
            newest = max(prev, time.monotonic() - since_last_data(sock))
            inside = share_inside(len(piece), prev, newest, start, end)
            prev = newest
            with session._cond:  # concurrent chunks of one device add up exactly
                inside = min(inside, cap - dev.up_bytes)
                if inside <= 0:
                    continue
                dev.up_bytes += inside
                counted += inside
                # a paced client sends one chunk per chunk_s: the chunk stands for that slot;
                # chunks in flight together widen the device's span, never narrow it
                first = max(began, start)
                last = min(max(newest, began + sched.chunk_s), end)
                dev.up_span[:] = [min(first, dev.up_span[0]), max(last, dev.up_span[-1])] \
                    if dev.up_span else [first, last]
        dev.up_refused += length - left - counted
        if left:
            dev.up_broken += 1
            return  # a broken chunk: close without an answer
        await self._json(req, 200 if counted else 409, {
            "counted": counted, "error": "" if counted else "outside the uplink window"})

    async def _do_report(self, req: _Request, session: CrowdSession, dev: CrowdDevice) -> None:
        body = await self._body(req, MAX_JSON)
        if body is None:
            return
        sched = session.schedule
        try:
            if sched is None:
                raise CrowdError("the test has not started")
            report = parse_report(body, sched.window_s)
        except CrowdError as exc:
            session.rejected += 1
            await self._json(req, 400, {"error": str(exc)})
            return
        if dev.down_report is not None:
            await self._json(req, 409, {"error": "this device already reported"})
            return
        dev.down_report = report[:2]
        dev.band = report[2] or dev.band
        await self._json(req, 200, {"ok": True})

