"""The real crowd page in headless Chromium: several tabs posing as phones join one session.

Chromium runs with its own throw-away profile, talks only to loopback, and is always killed
(its whole process group) when the module's tests end.
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
from pathlib import Path
from typing import Any

import pytest

from classcert.crowd_server import CrowdServer

websocket = pytest.importorskip("websocket", reason="websocket-client is not installed")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
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
IOS_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")
ANDROID_UA = ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/126.0.0.0 Mobile Safari/537.36")
ANDROID_META = {
    "brands": [{"brand": "Chromium", "version": "126"}], "platform": "Android",
    "platformVersion": "14.0.0", "architecture": "", "model": "Pixel 8", "mobile": True,
}


class Cdp:
    """A minimal DevTools client for one page target."""

    def __init__(self, ws_url: str) -> None:
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

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.05)
        raise TimeoutError(f"still false after {timeout_s} s: {expression}")

    def close(self) -> None:
        self.ws.close()


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


def _http(port: int, method: str, path: str) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path)
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


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


@pytest.fixture(scope="module")
def devtools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    profile = tmp_path_factory.mktemp("chromium-profile")
    proc = subprocess.Popen(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield _devtools_port(profile, proc)
    finally:
        _kill_group(proc)


def open_tab(port: int, user_agent: str, metadata: dict[str, Any] | None) -> Cdp:
    """A page in its own window: each "phone" is in the foreground, as on a real device."""
    browser = Cdp(_http(port, "GET", "/json/version")["webSocketDebuggerUrl"])
    try:
        target_id = browser.call("Target.createTarget", url="about:blank",
                                 newWindow=True)["targetId"]
    finally:
        browser.close()
    (target,) = [t for t in _http(port, "GET", "/json/list") if t.get("id") == target_id]
    cdp = Cdp(target["webSocketDebuggerUrl"])
    params: dict[str, Any] = {"userAgent": user_agent}
    if metadata:
        params["userAgentMetadata"] = metadata
    cdp.call("Emulation.setUserAgentOverride", **params)
    return cdp


def test_tabs_join_and_run_both_directions(devtools):
    tabs: list[Cdp] = []
    with CrowdServer("127.0.0.1") as server:
        session = server.new_session("chromium", 3)
        try:
            for ua, meta in ((IOS_UA, None), (ANDROID_UA, ANDROID_META), (IOS_UA, None)):
                tab = open_tab(devtools, ua, meta)
                tabs.append(tab)
                tab.call("Page.navigate", url=session.url)
            assert session.wait_joined(3, 15) == 3
            for tab in tabs:
                tab.wait_for("document.getElementById('joined').textContent === '3'", 5)
            sched = session.start(3.0, 2.0, lead_s=2.5)
            assert session.wait_done(15), session.progress()
            for tab in tabs:
                tab.wait_for("document.getElementById('state').textContent.includes('done')", 5)
        finally:
            for tab in tabs:
                tab.close()
        result = session.result()
    assert sched.rate_mbps == 2.0
    families = sorted(d.os_family for d in result.devices)
    assert families == ["Android", "iOS", "iOS"]
    android = next(d for d in result.devices if d.os_family == "Android")
    assert android.os_version.startswith("14")  # from client hints, not the frozen "10; K"
    assert result.capacity == 3, json.dumps(result.to_json()["devices"])
    for direction in ("down", "up"):
        stats = result.stats(direction)
        assert stats.devices == 3
        assert stats.min_mbps == pytest.approx(2.0, rel=0.1), direction
    assert result.to_json()["load_generators"] == ["real devices"]


def test_wrong_token_page_is_not_found(devtools):
    with CrowdServer("127.0.0.1") as server:
        session = server.new_session("chromium", 1)
        tab = open_tab(devtools, IOS_UA, None)
        try:
            for url in (server.base_url + "/c/" + "x" * 32, session.url + "x"):
                tab.call("Page.navigate", url=url)
                tab.wait_for("document.readyState === 'complete' && "
                             "document.body.innerText.trim() === 'not found'", 5)
        finally:
            tab.close()
        assert session.page_requests == 0 and not session.devices
