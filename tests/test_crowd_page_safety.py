"""Nothing a crowd page (or anyone on the classroom network) sends reaches the operator's files.

The devices joining the crowd test are not trusted: their user agents, client hints and reports
end up only as escaped data inside evidence files whose names the harness chooses. These tests
run a campaign whose emulated devices send hostile strings, then look at every file the run
wrote, and at the places a path traversal or template injection would have landed.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO, rig_text

MARK = f"pwn{secrets.token_hex(4)}"
HOSTILE_UAS = (
    f"../../../../../tmp/{MARK}-ua\"><script>alert('{MARK}')</script> {{{{7*7}}}} $(touch /tmp/"
    f"{MARK}-sh) %s%n Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X)",
    f"Mozilla/5.0 (Linux; Android 14; ..\\..\\{MARK}) <img src=x onerror=alert(1)> "
    f"{'A' * 3000}",
)


def _room(room_id: str) -> str:
    uas = json.dumps(list(HOSTILE_UAS))
    return f"""
        [[rooms]]
        id = "{room_id}"
        name = "Room {room_id}"
        seats = 1
        claims = ["smart"]

        [[rooms.devices]]
        role = "wifi"
        driver = "none"
        address = "wifi"
        options = {{ crowd_window_s = 1.0, crowd_lead_s = 1.0 }}
        simulator = {{ kind = "crowd", devices = 2, poll_s = 0.1, ua_mix = {uas} }}
    """


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("hostile")
    rig = base / "rig.toml"
    rig.write_text(rig_text(_room("H1")), encoding="utf-8")
    out, cwd = base / "out", base / "cwd"
    cwd.mkdir()
    env = {**os.environ, "TMPDIR": str(base / "tmp"), "HOME": str(base / "home")}
    (base / "tmp").mkdir()
    (base / "home").mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "test_suites" / "test_wifi_crowd.py"),
         "--rig", str(rig), "--out", str(out), "--no-prompt", "-p", "no:cacheprovider", "-q"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode in (0, 1), proc.stdout[-4000:] + proc.stderr[-2000:]
    return {"base": base, "out": out, "cwd": cwd}


def test_hostile_devices_were_really_measured(hostile_run):
    """The test is only meaningful if the hostile strings did get in as data."""
    (path,) = (hostile_run["out"] / "evidence" / "H1").glob("*wifi-crowd.json")
    doc = json.loads(path.read_text("utf-8"))
    agents = json.dumps(doc)
    assert doc["joined"] == 2
    # the hostile agents were parsed (one iPhone, one Android) and nothing more of them is kept
    assert sorted(d["os_family"] for d in doc["devices"]) == ["Android", "iOS"]
    assert "A" * 600 not in agents and "<script>" not in agents


def test_file_names_come_from_the_harness_only(hostile_run):
    names = [p.relative_to(hostile_run["out"]).as_posix() for p in hostile_run["out"].rglob("*")]
    assert names, "the run wrote nothing"
    for name in names:
        assert MARK not in name and ".." not in name and "<" not in name, name
        assert all(part.isprintable() for part in name.split("/")), name


def test_nothing_lands_outside_the_output_folder(hostile_run):
    assert not list(hostile_run["cwd"].iterdir())  # nothing in the working directory
    strays = [p for p in hostile_run["base"].rglob("*") if MARK in p.name]
    assert not strays, strays
    assert not any(MARK in name for name in os.listdir("/tmp"))


def test_reports_escape_what_devices_said(hostile_run):
    for page in hostile_run["out"].rglob("*.html"):
        text = page.read_text("utf-8", errors="replace")
        assert "<script>alert" not in text and "onerror=alert" not in text, page
        assert "{{7*7}}" not in text or "49" not in text.split("{{7*7}}")[0][-4:], page
    for doc in hostile_run["out"].rglob("*.json"):
        json.loads(doc.read_text("utf-8"))  # every JSON file still parses: nothing broke out


def test_a_page_cannot_name_a_file_or_path(tmp_path):
    """Join/report bodies with path-like and oversized fields are refused or stored as data."""
    import http.client

    from classcert.crowd_server import CrowdServer

    with CrowdServer("127.0.0.1") as server:
        session = server.new_session("R", 1)
        path = "/" + session.url.split("/", 3)[3]

        def join(doc: dict) -> int:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            conn.request("POST", f"{path}/join", json.dumps(doc),
                         {"Content-Type": "application/json", "User-Agent": f"x/{MARK}"})
            reply = conn.getresponse()
            reply.read()
            conn.close()
            return reply.status

        # fields the page may not send, and values outside their schema, are refused
        assert join({"agent": "browser", "file": f"/tmp/{MARK}"}) == 400
        assert join({"agent": f"../{MARK}"}) == 400
        assert join({"agent": "browser", "band": "../../5"}) == 400
        assert session.joined() == 0
        # path-like text where free text is allowed is kept as data, never used as a path
        assert join({"agent": "browser", "hints": {"platform": f"/etc/{MARK}"}}) == 200
        assert session.joined() == 1
        traversal = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        traversal.request("GET", f"{path}/../../../etc/passwd")
        answer = traversal.getresponse()
        assert answer.status == 404 and b"root:" not in answer.read()
        traversal.close()
        session.start(1.0, 1.0, lead_s=1.0)
        result = session.result().to_json()
    assert not list(tmp_path.iterdir())
    assert not any(MARK in name for name in os.listdir("/tmp"))
    assert len(result["devices"]) == 1
