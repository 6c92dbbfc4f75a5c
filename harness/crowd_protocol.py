"""The Wi-Fi crowd test's wire format: limits, pacing, and parsers of what devices send.

Pure functions and constants shared by :mod:`classcert.crowd_server` (sessions) and
:mod:`classcert.crowd_http` (the HTTP server). No sockets touched.
"""

from __future__ import annotations

import json
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

from classcert.crowd import bytes_for

MAX_WINDOW_S = 120.0
MAX_LEAD_S = 30.0
MAX_CHUNK = 1024 * 1024  # bytes of one uplink POST
MAX_JSON = 8 * 1024
MAX_UA = 512
MAX_HINT = 128
MAX_PIECE = 256 * 1024  # largest downlink write
BANDS = ("2.4", "5", "6")
HEAD_LIMIT = 16 * 1024  # request line and headers
MAX_HEADERS = 64
CHUNK_S = 0.25  # an uplink chunk carries at least this many seconds of the offered rate
PIECE = 16 * 1024  # smallest downlink write; also the token bucket's burst
MIN_CHUNK = 64 * 1024  # bytes an uplink chunk should carry at least
# Bounds on the server's own work for large crowds:
UP_REQUESTS_PER_S = 250  # uplink chunks per second over the whole crowd (longer chunks if more)
MAX_CHUNK_S = 4.0
UP_IN_FLIGHT = 2  # uplink chunks one device may send at once (the link never idles)
UP_RAMP_S = 1.0  # devices start the uplink this early, so their links are full when it opens
DOWN_WRITES_PER_S = 2000  # downlink writes per second over the whole crowd (larger pieces)
MAX_PIECE_S = 0.5


class CrowdError(ValueError):
    """A request body does not match the protocol (the message says why)."""


def _json_object(body: bytes) -> dict[str, Any]:
    if len(body) > MAX_JSON:
        raise CrowdError(f"body larger than {MAX_JSON} bytes")
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_reject)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CrowdError(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CrowdError("body must be a JSON object")
    return data


def _reject(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def parse_join(body: bytes) -> dict[str, Any]:
    """Validate a join body; returns {agent, hints, max_touch_points, band}."""
    data = _json_object(body)
    extra = set(data) - {"agent", "hints", "max_touch_points", "band"}
    if extra:
        raise CrowdError(f"unknown join fields {sorted(extra)}")
    agent = data.get("agent", "browser")
    if agent not in ("browser", "emulated"):
        raise CrowdError("agent must be 'browser' or 'emulated'")
    hints = data.get("hints") or {}
    if not isinstance(hints, dict) or len(hints) > 8 or not all(
        isinstance(k, str) and len(k) <= 32 and isinstance(v, (str, bool))
        and len(str(v)) <= MAX_HINT for k, v in hints.items()
    ):
        raise CrowdError("hints must be an object of at most 8 short strings or booleans")
    mtp = data.get("max_touch_points")
    if mtp is not None and (isinstance(mtp, bool) or not isinstance(mtp, int)
                            or not 0 <= mtp <= 100):
        raise CrowdError("max_touch_points must be an integer in [0, 100]")
    band = data.get("band")
    if band is not None and band not in BANDS:
        raise CrowdError(f"band must be one of {BANDS} or absent")
    return {"agent": agent, "hints": hints, "max_touch_points": mtp, "band": band}


def parse_report(body: bytes, window_s: float) -> tuple[int, float, str | None]:
    """Validate a page's downlink report; returns (bytes received, milliseconds, band)."""
    data = _json_object(body)
    if not {"down_bytes", "down_ms"} <= set(data) <= {"down_bytes", "down_ms", "band"}:
        raise CrowdError("report must have down_bytes, down_ms and optionally band")
    band = data.get("band")
    if band is not None and band not in BANDS:
        raise CrowdError(f"band must be one of {BANDS} or absent")
    got, ms = data["down_bytes"], data["down_ms"]
    if isinstance(got, bool) or not isinstance(got, int) or not 0 <= got <= 10**10:
        raise CrowdError("down_bytes must be an integer in [0, 1e10]")
    if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not 0 <= ms <= (
            window_s + MAX_LEAD_S) * 1000:
        raise CrowdError("down_ms must be a number of milliseconds within the window")
    return got, float(ms), band


def pacing(devices: int, rate_mbps: float, window_s: float) -> tuple[float, int]:
    """(uplink chunk seconds, downlink write bytes) for a crowd of ``devices``.

    Small crowds get 0.25 s chunks and 16 KiB writes; large ones longer chunks and larger
    writes, so that the server's request and wakeup rates stay bounded. A chunk carries at
    least MIN_CHUNK bytes when it can (each chunk costs a connection and headers: on a slow
    link small chunks would measure the protocol, not the link), never more than MAX_CHUNK,
    and lasts at most a quarter of the window; a write never exceeds MAX_PIECE bytes.
    """
    rate_bytes = rate_mbps * 1e6 / 8
    chunk_s = max(CHUNK_S, devices / UP_REQUESTS_PER_S, MIN_CHUNK / rate_bytes)
    chunk_s = min(chunk_s, MAX_CHUNK_S, max(window_s / 4, 0.01), MAX_CHUNK / rate_bytes)
    piece_s = min(MAX_PIECE_S, max(0.02, devices / DOWN_WRITES_PER_S))
    piece = max(PIECE, min(MAX_PIECE, bytes_for(rate_mbps, piece_s)))
    return chunk_s, piece


def parse_head(head: bytes) -> tuple[str, str, list[tuple[str, str]]] | None:
    """(method, target, headers) of a request head, or None when it is not HTTP/1.x."""
    if not head or len(head) > HEAD_LIMIT:
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[0].isalpha():
        return None
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip() or len(headers) >= MAX_HEADERS:
            return None
        headers.append((name, value.strip()))
    return parts[0], parts[1], headers


def head_bytes(status: int, ctype: str, length: int,
               headers: dict[str, str] | None = None) -> bytes:
    """An HTTP/1.0 response head (the connection closes after the body)."""
    lines = [f"HTTP/1.0 {status} {HTTPStatus(status).phrase}", "Server: classcert-crowd",
             f"Date: {formatdate(usegmt=True)}", f"Content-Type: {ctype}",
             f"Content-Length: {length}", "Cache-Control: no-store",
             *(f"{name}: {value}" for name, value in (headers or {}).items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
