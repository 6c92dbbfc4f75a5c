"""The real touch page in headless Chromium, touched through the DevTools protocol.

Chromium runs with its own throw-away profile, talks only to loopback, and is always killed
(its whole process group) when the module's tests end.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from chromium import NEEDS_CHROMIUM, Cdp, first_page, headless_chromium

from classcert.rigs.simulators.touch_panel_sim import panel_report
from classcert.touch_server import (
    MAX_BODY,
    MAX_REPORTS_PER_SESSION,
    TouchServer,
    TouchSession,
)

websocket = pytest.importorskip("websocket", reason="websocket-client is not installed")
pytestmark = NEEDS_CHROMIUM


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cdp]:
    with headless_chromium(tmp_path_factory.mktemp("chromium-profile")) as port:
        cdp = Cdp(first_page(port))
        try:
            yield cdp
        finally:
            cdp.close()


@pytest.fixture(scope="module")
def server() -> Iterator[TouchServer]:
    with TouchServer("127.0.0.1") as srv:
        yield srv


def open_page(cdp: Cdp, server: TouchServer, max_touch_points: int = 10) -> TouchSession:
    session = server.new_session("chromium")
    cdp.call("Emulation.setTouchEmulationEnabled", enabled=True, maxTouchPoints=max_touch_points)
    cdp.navigate(session.url)
    cdp.wait_for("document.getElementById('now').textContent === '0'")
    return session


def fingers(n: int) -> list[tuple[int, int]]:
    return [(80 + 110 * i, 320 + 40 * (i % 3)) for i in range(n)]


def click_done(cdp: Cdp) -> None:
    cdp.evaluate("document.getElementById('done').click()")


@pytest.mark.parametrize("n", [1, 2, 5, 10])
def test_page_counts_simultaneous_touches(browser, server, n):
    session = open_page(browser, server)
    points = fingers(n)
    browser.touch("touchStart", points)
    browser.wait_for(f"document.getElementById('max').textContent === '{n}'")
    assert browser.text("now") == str(n)
    browser.touch("touchEnd", [])
    browser.wait_for("document.getElementById('now').textContent === '0'")
    click_done(browser)
    if n < 2:  # fewer than two points: the page asks once more before it sends
        assert session.wait_report(0.3) is None
        assert "Finish anyway" in browser.text("done")
        click_done(browser)
    report = session.wait_report(5)
    assert report is not None
    assert (report.max_points, report.distinct_ids, report.touch_api) == (n, n, "touch")
    assert report.raw["finish"] == "button"
    assert sorted(map(tuple, report.raw["peak_xy"])) == sorted(points)
    assert report.raw["claimed_points"] == 10
    browser.wait_for("document.getElementById('thanks').style.display === 'block'")
    assert browser.text("final") == str(n)


def test_single_touch_panel_reports_one(browser, server):
    session = open_page(browser, server, max_touch_points=1)
    for i, point in enumerate(fingers(3)):  # one finger after another, never two at once
        browser.touch("touchStart", [point], first_id=i)
        browser.touch("touchEnd", [])
    browser.wait_for("document.getElementById('now').textContent === '0'")
    click_done(browser)
    click_done(browser)  # "Finish anyway"
    report = session.wait_report(5)
    assert report is not None
    assert report.max_points == 1 and report.distinct_ids == 3
    assert report.raw["claimed_points"] == 1


def test_holding_still_finishes_by_itself_only_with_two_points(browser, server):
    session = open_page(browser, server)
    points = fingers(3)
    browser.touch("touchStart", points[:1])
    assert session.wait_report(3.4) is None  # one finger held: no automatic finish
    browser.touch("touchStart", points)
    start = time.monotonic()
    report = session.wait_report(8)
    held = time.monotonic() - start
    browser.touch("touchEnd", [])
    assert report is not None and report.max_points == 3
    assert report.raw["finish"] == "auto"
    assert 2.5 < held < 6


def test_pointer_events_are_the_fallback(browser, server):
    session = open_page(browser, server)
    down = ("document.dispatchEvent(new PointerEvent('{kind}', {{pointerId: {pid}, "
            "pointerType: '{ptype}', clientX: {x}, clientY: 300, bubbles: true}}))")
    for i in range(3):
        browser.evaluate(down.format(kind="pointerdown", pid=40 + i, ptype="touch", x=100 * i))
    browser.evaluate(down.format(kind="pointerdown", pid=1, ptype="mouse", x=700))
    assert browser.text("max") == "3"  # the mouse is not a finger
    browser.evaluate(down.format(kind="pointerup", pid=40, ptype="touch", x=0))
    assert browser.text("now") == "2"
    click_done(browser)
    report = session.wait_report(5)
    assert report is not None
    assert (report.max_points, report.touch_api) == (3, "pointer")


def test_wrong_tokens_get_404_and_no_report(browser, server):
    session = open_page(browser, server)
    post = ("fetch({url}, {{method: 'POST', headers: {{'Content-Type': 'application/json'}}, "
            "body: {body}}}).then(r => r.status)")
    body = json.dumps(json.dumps(panel_report(4)))
    for path in ("/t/wrong-token/report", "/t//report", "/report"):
        status = browser.evaluate(post.format(url=json.dumps(path), body=body), True)
        assert status == 404
    for url in (server.base_url + "/t/wrong-token", server.base_url + "/", session.url + "x"):
        browser.navigate(url)
        assert browser.evaluate("document.body.innerText.trim()") == "not found"
    assert session.wait_report(0.2) is None and session.requests == 1  # only its page load


def test_bad_reports_are_rejected_and_reports_bounded(browser, server):
    session = open_page(browser, server)
    post = ("fetch(location.pathname + '/report', {{method: 'POST', headers: "
            "{{'Content-Type': 'application/json'}}, body: {body}}}).then(r => r.status)")
    assert browser.evaluate(post.format(body="'{not json'"), True) == 400
    assert browser.evaluate(post.format(body="JSON.stringify({max_points: 500})"), True) == 400
    assert browser.evaluate(post.format(body=f"'x'.repeat({MAX_BODY + 1})"), True) == 413
    assert session.wait_report(0.2) is None and session.rejected == 2
    valid = json.dumps(json.dumps(panel_report(2)))
    statuses = [browser.evaluate(post.format(body=valid), True)
                for _ in range(MAX_REPORTS_PER_SESSION + 1)]
    assert statuses == [200] * MAX_REPORTS_PER_SESSION + [429]


def test_tapping_done_with_a_finger_sends(browser, server):
    session = open_page(browser, server)
    browser.touch("touchStart", fingers(4))
    browser.touch("touchEnd", [])
    box = browser.evaluate("(function () { var r = document.getElementById('done')"
                           ".getBoundingClientRect(); return [r.left + r.width / 2, "
                           "r.top + r.height / 2]; })()")
    tap = (round(box[0]), round(box[1]))
    browser.touch("touchStart", [tap], first_id=10)
    browser.touch("touchEnd", [])
    report = session.wait_report(5)
    assert report is not None and report.max_points == 4
    assert report.raw["finish"] == "button"
