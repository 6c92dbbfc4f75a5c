"""One emulated crowd device: what ``crowd_page.html`` does in a browser, as an asyncio task.

Load the page, join, poll the status until the start, read the paced downlink, send the
uplink chunks, report. HTTP/1.0 over real TCP, one connection per request like the page's
fetches to the harness's server. Sockets come from the crowd (``DeviceContext.new_socket``):
created in the device's network namespace, or bound to its own loopback source address.
Every wait is bounded; a stop event ends a device at its next step.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from classcert.crowd_arrival import lowat

PAGE_MARKER = b'<meta name="classcert-page" content="crowd-test/1">'
READ = 16 * 1024  # token bucket burst
DOWN_READ = 256 * 1024  # one downlink read
BATCH_S = 0.2  # the downlink reader wakes per this many seconds of the offered rate
MAX_POLLS = 3000
MAX_BODY = 1024 * 1024
HEAD_LIMIT = 16 * 1024
CALL_TIMEOUT_S = 10.0


@dataclass
class EmulatedDevice:
    """What one emulated device did (for tests and logs)."""

    index: int
    user_agent: str
    device: str = ""
    os: str = ""
    down_bytes: int = 0
    up_chunks: int = 0
    error: str = ""
    done: bool = False
    log: list[str] = field(default_factory=list)
    source: str = ""  # the IP address it connects from


@dataclass
class DeviceContext:
    """What every device of one crowd shares."""

    host: str
    port: int
    base: str  # the session's path, /c/<token>
    new_socket: Callable[[EmulatedDevice], socket.socket]
    stop: asyncio.Event
    band: str | None = None
    poll_s: float = 0.2
    join_timeout_s: float = 600.0
    rate_cap_mbps: float | None = None
    payloads: dict[int, bytes] = field(default_factory=dict)

    def payload(self, size: int) -> bytes:
        if size not in self.payloads:  # one shared buffer per chunk size
            self.payloads[size] = bytes(range(256)) * (size // 256) + bytes(size % 256)
        return self.payloads[size]


class Bucket:
    """Token bucket: ``take(n)`` waits until n bytes fit the cap (no cap: never waits)."""

    def __init__(self, rate_mbps: float | None) -> None:
        self.rate = None if rate_mbps is None else rate_mbps * 1e6 / 8
        self.start = time.monotonic()
        self.used = 0

    async def take(self, n: int) -> None:
        self.used += n  # reserved first: concurrent senders share the cap
        if self.rate is not None:
            wait = self.start + (self.used - READ) / self.rate - time.monotonic()
            if wait > 0:
                await asyncio.sleep(min(wait, 5.0))


async def nap(ctx: DeviceContext, seconds: float) -> None:
    """Sleep up to ``seconds``; return early when the crowd stops."""
    if seconds > 0 and not ctx.stop.is_set():
        try:
            async with asyncio.timeout(seconds):
                await ctx.stop.wait()
        except TimeoutError:
            pass


async def _open(ctx: DeviceContext, dev: EmulatedDevice, send_buffer: int = 0
                ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, socket.socket]:
    sock = ctx.new_socket(dev)
    try:
        sock.setblocking(False)
        if send_buffer:  # a whole uplink chunk fits: the kernel drains it alone
            for opt in (getattr(socket, "SO_SNDBUFFORCE", 32), socket.SO_SNDBUF):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, opt, send_buffer)
                    break
                except OSError:
                    continue  # SO_SNDBUFFORCE needs CAP_NET_ADMIN
        await asyncio.get_running_loop().sock_connect(sock, (ctx.host, ctx.port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=HEAD_LIMIT * 4)
    except BaseException:
        sock.close()
        raise
    return reader, writer, sock


def _request(method: str, path: str, headers: dict[str, str], length: int | None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Connection: close", "Accept: */*",
             *(f"{k}: {v}" for k, v in headers.items())]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _head(reader: asyncio.StreamReader) -> tuple[int, int | None]:
    """(status, Content-Length or None) of a response."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP response: {lines[0][:80]!r}")
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length" and value.strip().isdigit():
            length = int(value.strip())
    return int(parts[1]), length


async def call(ctx: DeviceContext, dev: EmulatedDevice, method: str, path: str,
               body: bytes | None = None, headers: dict[str, str] | None = None,
               timeout_s: float = CALL_TIMEOUT_S, send_buffer: int = 0,
               bucket: Bucket | None = None) -> tuple[int, bytes]:
    """One request on a new connection; (status, body of at most MAX_BODY bytes)."""
    async with asyncio.timeout(timeout_s):
        reader, writer, _ = await _open(ctx, dev, send_buffer)
        try:
            writer.write(_request(method, path, headers or {},
                                  None if body is None else len(body)))
            if body is not None and (bucket is None or bucket.rate is None):
                writer.write(body)
            elif body is not None:  # the access point's cap, piece by piece
                for i in range(0, len(body), READ):
                    await bucket.take(min(READ, len(body) - i))
                    writer.write(body[i:i + READ])
                    await writer.drain()
            await writer.drain()
            status, length = await _head(reader)
            want = MAX_BODY if length is None else min(length, MAX_BODY)
            data = await reader.read(want)
            while len(data) < want:
                more = await reader.read(want - len(data))
                if not more:
                    break
                data += more
            return status, data
        finally:
            writer.close()


async def take_part(ctx: DeviceContext, dev: EmulatedDevice) -> None:
    ua = {"User-Agent": dev.user_agent}
    status, page = await call(ctx, dev, "GET", ctx.base, headers=ua)
    if status != 200 or PAGE_MARKER not in page:
        raise RuntimeError(f"page load answered {status}")
    join: dict[str, Any] = {"agent": "emulated", "hints": {}, "max_touch_points": 5}
    if ctx.band:
        join["band"] = ctx.band
    status, body = await call(ctx, dev, "POST", ctx.base + "/join", json.dumps(join).encode(),
                              {**ua, "Content-Type": "application/json"})
    if status != 200:
        raise RuntimeError(f"join answered {status}: {body[:200]!r}")
    doc = json.loads(body)
    dev.device, dev.os = doc["device"], doc["os"]
    deadline = time.monotonic() + ctx.join_timeout_s
    for _ in range(MAX_POLLS):
        if ctx.stop.is_set() or time.monotonic() > deadline:
            return
        t0 = time.monotonic()
        status, body = await call(ctx, dev, "GET", f"{ctx.base}/status/{dev.device}",
                                  headers=ua)
        sched = json.loads(body) if status == 200 else {}
        if sched.get("state") == "running":
            ref = (t0 + time.monotonic()) / 2
            report = await downlink(ctx, dev, sched, ref)
            await uplink(ctx, dev, sched, ref)
            await call(ctx, dev, "POST", f"{ctx.base}/report/{dev.device}",
                       json.dumps(report).encode(), {**ua, "Content-Type": "application/json"})
            return
        if sched.get("state") in ("closed", "done"):
            return
        await nap(ctx, ctx.poll_s)


async def downlink(ctx: DeviceContext, dev: EmulatedDevice, sched: dict[str, Any],
                   ref: float) -> dict[str, Any]:
    """Read the paced downlink; count what arrived until the window (+0.5 s) after the first
    byte, like the page, and report the time those bytes took."""
    window = sched["window_ms"] / 1000
    stop_at = ref + sched["down_in_ms"] / 1000 + window + 0.5
    bucket = Bucket(ctx.rate_cap_mbps)
    batch = 1 if bucket.rate is not None else max(1, min(
        DOWN_READ // 2, int(sched["rate_bps"] / 8 * BATCH_S)))  # wake per batch, not packet
    first = last = cutoff = None
    writer = None
    try:
        async with asyncio.timeout(max(1.0, stop_at - time.monotonic())):
            reader, writer, sock = await _open(ctx, dev)
            writer.write(_request("GET", f"{ctx.base}/down/{dev.device}",
                                  {"User-Agent": dev.user_agent}, None))
            status, _ = await _head(reader)
        while status == 200 and not ctx.stop.is_set():
            now = time.monotonic()
            until = (cutoff if cutoff is not None else stop_at) - now
            if until <= 0:
                break
            try:
                async with asyncio.timeout(until):
                    piece = await reader.read(DOWN_READ if bucket.rate is None else READ)
            except TimeoutError:
                if cutoff is not None:  # the cutoff: one last read of what is there
                    lowat(sock, 1)
                    try:
                        async with asyncio.timeout(0.02):
                            piece = await reader.read(DOWN_READ)
                    except TimeoutError:
                        piece = b""
                    dev.down_bytes += len(piece)
                    last = time.monotonic() if piece else last
                break
            if not piece:
                break
            last = time.monotonic()
            if first is None:
                first, bucket.start = last, last
                cutoff = first + window + 0.5
                lowat(sock, batch)
            dev.down_bytes += len(piece)
            await bucket.take(len(piece))
    except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError,
            asyncio.LimitOverrunError):
        pass  # dropped: report what came
    finally:
        if writer is not None:
            writer.close()
    elapsed = 0.0 if first is None or last is None else last - first
    report: dict[str, Any] = {"down_bytes": dev.down_bytes,
                              "down_ms": round(min(elapsed, window + 30) * 1000)}
    if ctx.band:
        report["band"] = ctx.band
    return report


async def uplink(ctx: DeviceContext, dev: EmulatedDevice, sched: dict[str, Any],
                 ref: float) -> None:
    """One chunk per chunk_ms from ramp_ms before the uplink window, at most chunks_in_flight
    at once.

    Like the page: each chunk waits for its due time and for a free lane. On a link faster
    than the offer one chunk is in flight at a time; on a slower one the next chunk starts
    while the last is still sending, so no connection set-up or answer leaves the link idle.
    """
    size, step = sched["chunk_bytes"], sched["chunk_ms"] / 1000
    ramp = max(0.0, min(1.0, sched.get("ramp_ms", 0) / 1000))  # the link full at the start
    start = ref + sched["up_in_ms"] / 1000 - ramp
    end = ref + (sched["up_in_ms"] + sched["window_ms"]) / 1000
    payload = ctx.payload(size)
    bucket = Bucket(ctx.rate_cap_mbps)
    headers = {"User-Agent": dev.user_agent, "Content-Type": "application/octet-stream"}
    chunks = iter(range(math.ceil((sched["window_ms"] / 1000 + ramp) / step) + 2))

    async def lane() -> None:
        for n in chunks:  # shared by the lanes: each chunk is sent once
            due = start + n * step  # a late device still sends the chunks due inside the
            if due >= end or ctx.stop.is_set():  # window (their bytes count until it closes)
                return
            await nap(ctx, due - time.monotonic())
            try:
                status, _ = await call(ctx, dev, "POST", f"{ctx.base}/up/{dev.device}",
                                       payload, headers, CALL_TIMEOUT_S + 4 * step,
                                       2 * size + 65536, bucket)
            except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError,
                    asyncio.LimitOverrunError) as exc:  # like the page: on to the next chunk
                dev.log.append(f"chunk {n}: {type(exc).__name__}: {exc}"[:200])
                continue
            dev.up_chunks += status == 200

    await nap(ctx, start - time.monotonic())
    bucket.start = time.monotonic()
    lanes = max(1, min(4, int(sched.get("chunks_in_flight", 1))))  # as the server allows
    await asyncio.gather(*(lane() for _ in range(lanes)))
