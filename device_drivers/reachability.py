"""Does a device answer on the network, and what does it say it is?

For equipment classcert cannot drive but can at least reach: a cloud terminal's remote
desktop or management port (``driver = "tcp"``), or its web page (``driver = "http"``).
The answer is evidence that the device is there and alive, recorded next to a person's
attestation; it proves nothing about the device's functions.
"""

from __future__ import annotations

import re
import socket
import time
from dataclasses import asdict, dataclass
from typing import Any

import requests

from classcert.device_drivers.errors import DeviceTimeout, DeviceUnreachable
from classcert.device_drivers.transport import parse_tcp_address

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.I | re.S)
MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class ProbeResult:
    address: str
    kind: str  # tcp | http
    seconds: float
    status: int | None = None  # HTTP status
    server: str = ""  # HTTP Server header
    title: str = ""  # HTML <title>

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        if self.kind == "tcp":
            return f"{self.address} accepted a TCP connection in {self.seconds:.2f} s"
        who = ", ".join(x for x in (self.server, self.title) if x) or "no identification"
        return f"{self.address} answered HTTP {self.status} ({who})"


def probe_tcp(address: str, timeout: float = 5.0) -> ProbeResult:
    host, port = parse_tcp_address(address)
    start = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except TimeoutError as exc:
        raise DeviceTimeout(address, f"no answer within {timeout:g} s",
                            f"{timeout:g} 秒内无响应") from exc
    except OSError as exc:
        raise DeviceUnreachable(address, f"cannot connect: {exc.strerror or exc}",
                                "无法连接：请检查设备是否开机、地址和端口是否正确") from exc
    return ProbeResult(address, "tcp", round(time.monotonic() - start, 3))


def probe_http(url: str, timeout: float = 5.0) -> ProbeResult:
    if "://" not in url:
        url = f"http://{url}"
    start = time.monotonic()
    try:
        with requests.get(url, timeout=timeout, stream=True, allow_redirects=False) as resp:
            body = resp.raw.read(MAX_BODY, decode_content=True) or b""
            status, server = resp.status_code, resp.headers.get("Server", "")
    except requests.Timeout as exc:
        raise DeviceTimeout(url, f"no answer within {timeout:g} s",
                            f"{timeout:g} 秒内无响应") from exc
    except requests.RequestException as exc:
        raise DeviceUnreachable(url, f"cannot fetch the page: {exc.__class__.__name__}",
                                "无法访问设备网页：请检查设备是否开机、地址是否正确") from exc
    match = _TITLE.search(body)
    title = match.group(1).decode("utf-8", "replace").strip()[:120] if match else ""
    return ProbeResult(url, "http", round(time.monotonic() - start, 3), status,
                       server[:120], title)


def probe(driver: str, address: str, timeout: float = 5.0) -> ProbeResult:
    """Probe by the rig's driver name: ``tcp`` or ``http``."""
    if driver == "tcp":
        return probe_tcp(address, timeout)
    if driver == "http":
        return probe_http(address, timeout)
    raise ValueError(f"no network probe for driver {driver!r} (use tcp or http)")
