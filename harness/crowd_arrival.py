"""Socket-level timing for the crowd server: kernel pacing, arrival times, read thresholds.

Uplink bytes count by when the kernel received them, not when a busy event loop read them:
``since_last_data`` reads TCP_INFO, and ``share_inside`` splits a piece that arrived over an
interval between inside and outside the measurement window.
"""

from __future__ import annotations

import socket
import struct

SO_MAX_PACING_RATE = getattr(socket, "SO_MAX_PACING_RATE", 47)  # Linux
TCP_INFO = getattr(socket, "TCP_INFO", 11)
_LAST_DATA_RECV = 52  # offset of tcpi_last_data_recv (ms) in Linux's struct tcp_info


def pace(sock: socket.socket | None, bytes_per_s: float) -> None:
    """Kernel TCP pacing (SO_MAX_PACING_RATE): packets leave evenly spaced, not in 64 KiB
    line-rate bursts that overflow an access point's queue and stall the flow."""
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_MAX_PACING_RATE, int(bytes_per_s))
        except OSError:
            pass  # not Linux: unpaced, still rate-capped by the token bucket


def since_last_data(sock: socket.socket | None) -> float:
    """Seconds since the kernel received this connection's last data segment (TCP_INFO
    ``tcpi_last_data_recv``); 0.0 when unknown."""
    if sock is None:
        return 0.0
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, 104)
    except OSError:
        return 0.0
    if len(info) < _LAST_DATA_RECV + 4:
        return 0.0
    return struct.unpack_from("I", info, _LAST_DATA_RECV)[0] / 1000


def share_inside(size: int, first: float, last: float, start: float, end: float) -> int:
    """Of ``size`` bytes that arrived evenly over [first, last], those inside [start, end]."""
    if start <= first and last <= end:
        return size
    if last - first < 1e-3:
        return size if start <= last <= end else 0
    overlap = min(last, end) - max(first, start)
    return 0 if overlap <= 0 else min(size, int(size * overlap / (last - first)))


def lowat(sock: socket.socket | None, size: int) -> None:
    """SO_RCVLOWAT: the kernel reports the socket readable once ``size`` bytes are there."""
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, max(1, size))
