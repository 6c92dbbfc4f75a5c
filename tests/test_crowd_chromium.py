"""The real crowd page in headless Chromium: several tabs posing as phones join one session.

Chromium runs with its own throw-away profile, talks only to loopback, and is always killed
(its whole process group) when the module's tests end.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from chromium import NEEDS_CHROMIUM, Cdp, devtools_json, headless_chromium

from classcert.crowd_server import CrowdServer

websocket = pytest.importorskip("websocket", reason="websocket-client is not installed")
pytestmark = NEEDS_CHROMIUM

IOS_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")
ANDROID_UA = ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/126.0.0.0 Mobile Safari/537.36")
ANDROID_META = {
    "brands": [{"brand": "Chromium", "version": "126"}], "platform": "Android",
    "platformVersion": "14.0.0", "architecture": "", "model": "Pixel 8", "mobile": True,
}


@pytest.fixture(scope="module")
def devtools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with headless_chromium(tmp_path_factory.mktemp("chromium-profile")) as port:
        yield port


def open_tab(port: int, user_agent: str, metadata: dict[str, Any] | None) -> Cdp:
    """A page in its own window: each "phone" is in the foreground, as on a real device."""
    browser = Cdp(devtools_json(port, "/json/version")["webSocketDebuggerUrl"])
    try:
        target_id = browser.call("Target.createTarget", url="about:blank",
                                 newWindow=True)["targetId"]
    finally:
        browser.close()
    (target,) = [t for t in devtools_json(port, "/json/list") if t.get("id") == target_id]
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
