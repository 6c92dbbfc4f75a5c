"""The `classcert` command line: demo, verify, run exit codes, requirements, rig check."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classcert.signing import verify_file

from helpers import REPO, VENDOR_CATALOG, pjlink_room, rig_text, run_cli


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    res = run_cli("demo", "--out", str(out), timeout=240)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "demo ran as designed" in res.stdout
    return out, res


def test_demo_rooms_come_out_as_designed(demo_out):
    out, res = demo_out
    certs = {r: json.loads((out / "rooms" / r / "certificate.json").read_text("utf-8"))
             for r in ("A101", "A102", "A103")}
    by_key = {r: {e["key"]: e for e in c["requirements"]} for r, c in certs.items()}
    assert by_key["A101"]["display.remote_control"]["verdict"] == "PASS"
    assert by_key["A102"]["display.remote_control"]["verdict"] == "FAIL"
    assert by_key["A103"]["display.remote_control"]["verdict"] == "ERROR"
    assert not [e for e in certs["A103"]["requirements"] if e["verdict"] == "FAIL"]
    for cert in certs.values():
        assert cert["simulated"] is True
        for e in cert["requirements"]:
            assert e["clause"]["text_zh"] and e["clause"]["ref_zh"], e["id"]
            assert e["reason"]["en"] or e["verdict"] == "PASS"
    a102 = certs["A102"]["kinds"]["multimedia"]
    assert a102["status"] == "not certified"
    assert any("JJ010301.F3" in r["en"] and "FAIL" in r["en"] for r in a102["reasons"])
    junit = ET.parse(out / "junit.xml").getroot()
    failures = [tc.get("name") for tc in junit.iter("testcase") if tc.find("failure") is not None]
    assert "test_remote_control[A102]" in failures
    assert "Summary / 汇总" in res.stdout


def test_verify_accepts_demo_certificates(demo_out):
    out, _ = demo_out
    paths = [str(p) for p in sorted((out / "rooms").glob("*/certificate.json"))]
    res = run_cli("verify", *paths)
    assert res.returncode == 0, res.stdout
    from classcert.demo import DESIGNED

    assert res.stdout.count("OK ") == len(paths) == len(DESIGNED)


def test_verify_cli_rejects_a_changed_byte(demo_out, tmp_path):
    out, _ = demo_out
    data = bytearray((out / "rooms" / "A101" / "certificate.json").read_bytes())
    i = data.index(b'"PASS"') + 1
    data[i] = ord("F")
    bad = tmp_path / "certificate.json"
    bad.write_bytes(bytes(data))
    res = run_cli("verify", str(bad))
    assert res.returncode == 1 and "BAD" in res.stdout


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_one_byte_change_is_rejected(demo_out, tmp_path, data):
    out, _ = demo_out
    original = (out / "rooms" / "A102" / "certificate.json").read_bytes()
    pos = data.draw(st.integers(0, len(original) - 1), label="position")
    new = data.draw(st.integers(0, 255).filter(lambda b: b != original[pos]), label="byte")
    changed = bytearray(original)
    changed[pos] = new
    path = tmp_path / "c.json"
    path.write_bytes(bytes(changed))
    assert not verify_file(path).ok


def _vendor_run(tmp_path, rooms: str):
    (tmp_path / "vendor.toml").write_text(VENDOR_CATALOG, encoding="utf-8")
    rig = tmp_path / "rig.toml"
    rig.write_text(rig_text(rooms), encoding="utf-8")
    return run_cli("run", "--rig", str(rig), "--out", str(tmp_path / "out"),
                   "--profile", str(tmp_path / "vendor.toml"))


def test_run_exit_0_when_every_room_is_certified(tmp_path):
    res = _vendor_run(tmp_path, pjlink_room("OK1") + pjlink_room("OK2"))
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count("certified 达标") == 2


def test_run_exit_1_when_a_room_is_not_certified(tmp_path):
    res = _vendor_run(tmp_path, pjlink_room("OK1") + pjlink_room("BAD", "ignore_set = true"))
    assert res.returncode == 1, res.stdout + res.stderr
    assert "not certified 未达标" in res.stdout


def test_run_exit_2_on_a_malformed_rig(tmp_path):
    rig = tmp_path / "rig.toml"
    rig.write_text(rig_text(pjlink_room("R1", seats=-3)), encoding="utf-8")
    res = run_cli("run", "--rig", str(rig), "--out", str(tmp_path / "out"))
    assert res.returncode == 2
    line = next(n for n, t in enumerate(rig.read_text().splitlines(), 1) if "seats" in t)
    assert f"{rig}:{line}:" in res.stderr and "seats" in res.stderr


def test_run_exit_2_on_unknown_claim(tmp_path):
    rig = tmp_path / "rig.toml"
    rig.write_text(rig_text(pjlink_room("R1", claims='["holodeck"]')), encoding="utf-8")
    res = run_cli("run", "--rig", str(rig), "--out", str(tmp_path / "out"))
    assert res.returncode == 2
    assert "holodeck" in res.stderr + res.stdout


def test_rig_check_reports_file_line_field(tmp_path):
    rig = tmp_path / "rig.toml"
    rig.write_text(rig_text(pjlink_room("R1")).replace('driver = "pjlink"', 'drivr = "pjlink"'),
                   encoding="utf-8")
    res = run_cli("rig", "check", str(rig))
    assert res.returncode == 2
    assert "drivr" in res.stderr and "driver" in res.stderr and str(rig) in res.stderr
    assert run_cli("rig", "check", str(REPO / "rigs" / "demo-school.toml")).returncode == 0


@pytest.mark.parametrize(("lang", "needle"), [("en", "Remote intelligent control"),
                                              ("zh", "远程智能管控")])
def test_requirements_listing(lang, needle):
    res = run_cli("requirements", "--profile", "cq-jj", "--lang", lang)
    assert res.returncode == 0
    assert "JJ010301.F3" in res.stdout and needle in res.stdout
    assert "JJ010302.P3" in res.stdout  # Wi-Fi capacity


def test_requirements_unknown_profile():
    res = run_cli("requirements", "--profile", "nowhere")
    assert res.returncode == 2 and "cq-jj" in res.stderr


def test_plain_pytest_on_the_demo_rig(tmp_path):
    """`pytest test_suites --rig rigs/demo-school.toml` works as well as `classcert run`."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "test_suites", "--rig", "rigs/demo-school.toml",
         "--attest", "rigs/demo-attestations.toml", "--no-prompt",
         "--out", str(tmp_path / "out"), "-p", "no:cacheprovider", "-q"],
        cwd=REPO, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr  # A102 fails by design
    assert "FAIL JJ010301.F3" in proc.stdout
    for room in ("A101", "A102", "A103", "A110"):
        assert verify_file(tmp_path / "out" / "rooms" / room / "certificate.json").ok
    shutil.rmtree(tmp_path / "out")


def test_huzhou_demo_school(tmp_path):
    """`classcert demo --school hz3`: live-stream points, including a 3-stream recorder."""
    res = run_cli("demo", "--school", "hz3", "--out", str(tmp_path / "hz3"), timeout=240)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    cert = json.loads((tmp_path / "hz3" / "rooms" / "R302" / "certificate.json")
                      .read_text("utf-8"))
    entry = next(e for e in cert["requirements"] if e["key"] == "recording.live_points")
    assert entry["verdict"] == "FAIL" and entry["value"] == 3
