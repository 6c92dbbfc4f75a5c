"""Headless Chromium for page tests: a throw-away profile, loopback only, a minimal CDP client.

Chromium is always killed with its whole process group when its context ends.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
NEEDS_CHROMIUM = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason=f"Chromium not found ({CHROMIUM}); apt install chromium"
)
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-proxy-server", "--disable-dev-shm-usage", "--window-size=1280,800",
    "--remote-debugging-port=0",
]
START_TIMEOUT_S = 20.0
CALL_TIMEOUT_S = 10.0


class Cdp:
    """A minimal DevTools client for one target."""

    def __init__(self, ws_url: str) -> None:
        import websocket  # the calling test module skips when websocket-client is missing

        self.ws = websocket.create_connection(ws_url, timeout=CALL_TIMEOUT_S,
                                              suppress_origin=True)
        self.last_id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.last_id += 1
        self.ws.send(json.dumps({"id": self.last_id, "method": method, "params": params}))
        deadline = time.monotonic() + CALL_TIMEOUT_S
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.last_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
        raise TimeoutError(f"{method}: no answer within {CALL_TIMEOUT_S} s")

    def evaluate(self, expression: str, await_promise: bool = False) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=await_promise)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.02)
        raise TimeoutError(f"still false after {timeout_s} s: {expression}")

    def navigate(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        self.wait_for(f"location.href === {json.dumps(url)} && document.readyState === 'complete'")

    def touch(self, kind: str, points: list[tuple[int, int]], first_id: int = 0) -> None:
        self.call("Input.dispatchTouchEvent", type=kind, touchPoints=[
            {"x": x, "y": y, "id": first_id + i} for i, (x, y) in enumerate(points)
        ])

    def text(self, element_id: str) -> str:
        return self.evaluate(f"document.getElementById({json.dumps(element_id)}).textContent")

    def close(self) -> None:
        self.ws.close()


def devtools_json(port: int, path: str) -> Any:
    """GET one of Chromium's DevTools HTTP endpoints (``/json/list``, ``/json/version``)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def first_page(port: int) -> str:
    """The DevTools URL of the browser's first page target, once it shows one."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        pages = [t for t in devtools_json(port, "/json/list") if t.get("type") == "page"]
        if pages:
            return pages[0]["webSocketDebuggerUrl"]
        time.sleep(0.1)
    raise TimeoutError("Chromium shows no page target")


def _devtools_port(profile: Path, proc: subprocess.Popen[bytes]) -> int:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Chromium exited at start with code {proc.returncode}")
        lines = marker.read_text().split() if marker.exists() else []
        if len(lines) >= 2:
            return int(lines[0])
        time.sleep(0.05)
    raise TimeoutError(f"Chromium wrote no {marker} within {START_TIMEOUT_S} s")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop Chromium and every process it started (its own process group)."""
    for sig, wait_s in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=5)


@contextmanager
def headless_chromium(profile: Path) -> Iterator[int]:
    """Run Chromium on ``profile`` (an empty folder); yields its DevTools port."""
    proc = subprocess.Popen(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield _devtools_port(profile, proc)
    finally:
        _kill_group(proc)
