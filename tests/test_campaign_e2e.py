"""A whole campaign through the pytest plugin, against PJLink simulators over real TCP."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from helpers import REPO, pjlink_room, rig_text

SUITES = REPO / "test_suites"


def run_pytest_campaign(tmp_path, rooms: str, *extra: str, env=None):
    rig = tmp_path / "rig.toml"
    rig.write_text(rig_text(rooms), encoding="utf-8")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(SUITES), "--rig", str(rig), "--out", str(out),
         "-p", "no:cacheprovider", "-q", *extra],
        capture_output=True, text=True, timeout=180, cwd=REPO, env=env,
    )
    return proc, out


def verdicts(out, room_id):
    cert = json.loads((out / "rooms" / room_id / "certificate.json").read_text("utf-8"))
    return {e["key"]: e for e in cert["requirements"]}, cert


def test_conforming_and_lying_displays(tmp_path):
    rooms = (
        pjlink_room("GOOD", 'native_resolution = [1920, 1080]')
        + pjlink_room("LIAR", 'ignore_set = true, native_resolution = [1366, 768]')
    )
    proc, out = run_pytest_campaign(tmp_path, rooms)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the liar's FAIL fails its test
    good, cert = verdicts(out, "GOOD")
    assert good["display.remote_control"]["verdict"] == "PASS"
    assert good["display.native_resolution"]["verdict"] == "PASS"
    assert good["display.native_resolution"]["value"] == [1920, 1080]
    assert good["display.remote_control"]["evidence"], "round trip evidence file recorded"
    assert cert["simulated"] is True
    assert cert["devices"][0]["make"], "identity (INF1) recorded"
    liar, cert = verdicts(out, "LIAR")
    assert liar["display.remote_control"]["verdict"] == "FAIL"
    assert "did not change" in liar["display.remote_control"]["reason"]["en"]
    assert liar["display.native_resolution"]["verdict"] == "FAIL"
    assert cert["kinds"]["multimedia"]["status"] == "not certified"
    # requirements without a suite are NOT_TESTED, never PASS
    assert good["display.size"]["verdict"] in ("NOT_TESTED", "SKIPPED")


@pytest.mark.parametrize(
    ("knobs", "extra", "env", "needle"),
    [
        ("garbage = true", "", {}, "could not test"),
        ("reply_delay_s = 3.0", "", {}, "could not test"),
        ("auth_fail = true", 'password_env = "T_PJ_PW"', {"T_PJ_PW": "x"}, "could not test"),
        ("", 'password_env = "T_UNSET_PW"', {}, "T_UNSET_PW"),
        ("drop_after = 0", "", {}, "could not test"),
    ],
    ids=["garbage", "slow", "auth-rejected", "password-unset", "dropped-connection"],
)
def test_misbehaving_devices_are_error_not_fail(tmp_path, monkeypatch, knobs, extra, env, needle):
    import os

    full_env = {k: v for k, v in os.environ.items() if k != "T_UNSET_PW"}
    full_env.update(env)
    room = pjlink_room("BAD", knobs, extra=extra).replace(
        "options = { power_timeout_s = 2 }", "options = { power_timeout_s = 2, timeout_s = 1 }")
    if "T_UNSET_PW" in extra:
        # a real (non-simulated) device: the harness must not invent its password
        room = room.replace('simulator = { kind = "pjlink" }', "").replace(
            "127.0.0.1:0", "127.0.0.1:9")
    proc, out = run_pytest_campaign(tmp_path, room, env=full_env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    got, cert = verdicts(out, "BAD")
    rc = got["display.remote_control"]
    assert rc["verdict"] == "ERROR", rc
    assert needle in rc["reason"]["en"]
    assert rc["reason"]["zh"].startswith("无法测试")
    assert all(e["verdict"] != "FAIL" for e in cert["requirements"])


def test_store_matches_certificate(tmp_path):
    proc, out = run_pytest_campaign(tmp_path, pjlink_room("R1"))
    assert proc.returncode in (0, 1), proc.stderr
    db = sqlite3.connect(out / "campaign.sqlite")
    rows = db.execute("SELECT requirement_key, verdict FROM measurement").fetchall()
    got, _ = verdicts(out, "R1")
    for key, verdict in rows:
        assert got[key]["verdict"] == verdict
    junit = (out / "junit.xml")
    assert not junit.exists()  # plain pytest writes JUnit only when asked


def test_display_reporting_its_own_failure_is_fail(tmp_path):
    """ERR4: the display itself is broken; that is the equipment, not the harness."""
    proc, out = run_pytest_campaign(tmp_path, pjlink_room("BROKEN", "failure = true"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    got, _ = verdicts(out, "BROKEN")
    rc = got["display.remote_control"]
    assert rc["verdict"] == "FAIL", rc
    assert "reports a failure of its own" in rc["reason"]["en"]
