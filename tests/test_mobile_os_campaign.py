"""The iOS/Android teaching-software suite (mobile.os) in whole campaigns: records, casting
receivers found over mDNS, and the crowd test's OS labels."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from helpers import REPO, rig_text

# ---------------------------------------------------------------- one campaign, many rooms

def _wifi(options: str = "", sim: str = "") -> str:
    return f"""
        [[rooms.devices]]
        role = "wifi"
        driver = "unifi"
        address = "127.0.0.1:9"
        options = {{ {options} }}
        {f"simulator = {{ {sim} }}" if sim else ""}
    """


def _smart(room_id: str, wifi: str, seats: int = 20) -> str:
    return f"""
        [[rooms]]
        id = "{room_id}"
        name = "Room {room_id}"
        seats = {seats}
        claims = ["smart"]
        {wifi}
    """


def _rec(room: str, slot: str, os_version: str, completed: bool = True, extra: str = "") -> str:
    device = "iPhone 15" if slot == "ios" else "Pixel 8"
    return (f'[[attestations]]\nroom = "{room}"\nkey = "mobile.os#{slot}"\noperator = "Zhang"\n'
            f'value = {{ device = "{device}", os_version = "{os_version}", app = "ClassApp 3.4", '
            f'completed = {str(completed).lower()} }}\n{extra}\n')


def _advertise():
    """Loopback-only AirPlay and Lebo receivers of room BOTH, and one of another room."""
    zeroconf = pytest.importorskip("zeroconf")
    zc = zeroconf.Zeroconf(interfaces=["127.0.0.1"], ip_version=zeroconf.IPVersion.V4Only)
    infos = [zeroconf.ServiceInfo(t, f"{name}.{t}", addresses=[socket.inet_aton("127.0.0.1")],
                                  port=port, properties={"model": "Panel"},
                                  server=f"{host}.local.")
             for t, name, port, host in [("_airplay._tcp.local.", "BOTH panel", 7000, "both1"),
                                         ("_leboremote._tcp.local.", "BOTH 乐播", 52244, "both2"),
                                         ("_airplay._tcp.local.", "OTHER panel", 7001, "oth")]]
    for info in infos:
        zc.register_service(info, ttl=60, cooperating_responders=True)
    return zc, infos


def _mdns_loops_back(zc) -> bool:
    """Whether this host delivers loopback multicast at all (else the casting test skips)."""
    from classcert.device_drivers.casting import discover_casting_receivers

    return bool(discover_casting_receivers(2.0, ["_airplay._tcp.local."], ["127.0.0.1"],
                                           zeroconf=zc))


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mobile")
    (tmp / "ipad.jpg").write_bytes(b"\xff\xd8ipad")
    (tmp / "pixel.png").write_bytes(b"\x89PNGpixel")
    quick = "casting = { discover_s = 0 }"
    rooms = (
        _smart("BOTH", _wifi('casting = { discover_s = 2.0, match = "BOTH" }'))
        + _smart("MISSING", _wifi(quick)) + _smart("NOTDONE", _wifi(quick))
        + _smart("WRONG", _wifi(quick))
        + _smart("HARMONY", _wifi(f"{quick}, harmonyos_as_android = true"))
        + _smart("CROWD", _wifi(f"{quick}, crowd_window_s = 0.5, crowd_lead_s = 1.0",
                                'kind = "crowd", devices = 3, poll_s = 0.2'), seats=2))
    (tmp / "rig.toml").write_text(rig_text(rooms), encoding="utf-8")
    (tmp / "att.toml").write_text(
        _rec("BOTH", "ios", "iPadOS 17.5", extra='photo = "ipad.jpg"')
        + _rec("BOTH", "android", "Android 14", extra='photo = "pixel.png"')
        + _rec("MISSING", "ios", "iOS 17.5")
        + '[[attestations]]\nroom = "MISSING"\nkey = "mobile.os"\nvalue = true\n'
          'operator = "Zhang"\n\n'
        + _rec("NOTDONE", "ios", "iOS 17.5") + _rec("NOTDONE", "android", "Android 13", False)
        + _rec("WRONG", "ios", "Android 14") + _rec("WRONG", "android", "Android 14")
        + _rec("HARMONY", "ios", "iOS 18.1") + _rec("HARMONY", "android", "HarmonyOS 4.2")
        + _rec("CROWD", "ios", "iOS 17.5") + _rec("CROWD", "android", "Android 14"),
        encoding="utf-8")
    zc, infos = _advertise()
    t0 = time.monotonic()
    try:
        suites = REPO / "test_suites"
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", str(suites / "test_attested.py"),
             str(suites / "test_wifi_crowd.py"), str(suites / "test_wifi_mobile_os.py"),
             "--rig", str(tmp / "rig.toml"), "--out", str(tmp / "out"), "--attest",
             str(tmp / "att.toml"), "--no-prompt", "-p", "no:cacheprovider", "-q"],
            cwd=REPO, capture_output=True, text=True, timeout=120)
        took = time.monotonic() - t0
        found = '"BOTH panel"' in "".join(
            p.read_text("utf-8") for p in (tmp / "out" / "evidence").glob("BOTH/*mobile-os.json"))
        mdns = found or _mdns_loops_back(zc)
    finally:
        for info in infos:
            zc.unregister_service(info)
        zc.close()
    return SimpleNamespace(proc=proc, out=tmp / "out", mdns=mdns, took=took)


def _entry(campaign, room: str) -> dict:
    cert = json.loads((campaign.out / "rooms" / room / "certificate.json").read_text("utf-8"))
    return next(e for e in cert["requirements"] if e["key"] == "mobile.os")


def _evidence(campaign, entry: dict) -> dict:
    path = next(e["path"] for e in entry["evidence"] if e["path"].endswith("mobile-os.json"))
    return json.loads((campaign.out / path).read_text("utf-8"))


def test_both_records_completed_is_attested(campaign):
    assert campaign.proc.returncode == 1, campaign.proc.stdout + campaign.proc.stderr
    assert campaign.took < 30, "the campaign's waits are all bounded and short"
    both = _entry(campaign, "BOTH")
    assert both["verdict"] == "ATTESTED", both
    assert "Zhang" in both["reason"]["en"] and "HarmonyOS counts as Android: no" in \
        both["reason"]["en"]
    paths = [e["path"] for e in both["evidence"]]
    assert any(p.endswith("photo-mobile.os-ios.jpg") for p in paths)
    assert any(p.endswith("photo-mobile.os-android.png") for p in paths)
    doc = _evidence(campaign, both)
    assert doc["records"]["ios"]["os_check"]["parsed"] == "iPadOS 17.5"
    assert doc["records"]["android"]["app_parsed"] == {"name": "ClassApp", "version": "3.4"}
    assert doc["crowd_test"]["ran"] is False and doc["casting"]["discovery"]["ran"] is True
    assert doc["casting"]["discovery"]["interface"] == "127.0.0.1"


def test_casting_receivers_recorded_per_room(campaign):
    if not campaign.mdns:
        pytest.skip("multicast is not looped back on the loopback interface here")
    both = _entry(campaign, "BOTH")
    doc = _evidence(campaign, both)
    names = {(r["protocol"], r["name"]) for r in doc["casting"]["discovery"]["receivers"]}
    assert {("airplay", "BOTH panel"), ("lebo", "BOTH 乐播")} <= names
    assert doc["casting"]["required_found"] == {
        "ios": {"methods": ["airplay"], "found": ["BOTH panel"]},
        "android": {"methods": ["lebo"], "found": ["BOTH 乐播"]}}
    assert "airplay receiver for iOS/iPadOS: BOTH panel" in both["reason"]["en"]


def test_missing_record_is_not_tested_with_how_to_answer(campaign):
    missing = _entry(campaign, "MISSING")
    assert missing["verdict"] == "NOT_TESTED"
    assert "mobile.os#android" in missing["reason"]["en"]
    assert "--attest" in missing["reason"]["en"]
    assert "plain yes/no answer" in missing["reason"]["en"]


def test_not_completed_is_fail(campaign):
    entry = _entry(campaign, "NOTDONE")
    assert entry["verdict"] == "FAIL" and entry["value"] is False
    assert "Android 13, ClassApp 3.4 - NOT completed" in entry["reason"]["en"]
    assert "not searched: switched off" in entry["reason"]["en"]


def test_record_of_the_wrong_family_is_error(campaign):
    entry = _entry(campaign, "WRONG")
    assert entry["verdict"] == "ERROR"
    assert "mobile.os#ios" in entry["reason"]["en"]
    assert "is Android, not iOS/iPadOS" in entry["reason"]["en"]
    assert entry["reason"]["zh"].startswith("无法测试")


def test_harmonyos_counts_as_android_only_when_the_rig_says_so(campaign):
    entry = _entry(campaign, "HARMONY")
    assert entry["verdict"] == "ATTESTED"
    assert "HarmonyOS counts as Android: yes (rig: options.harmonyos_as_android" in \
        entry["reason"]["en"]
    assert _evidence(campaign, entry)["records"]["android"]["os_check"]["counted_as_android"]


def test_crowd_test_os_labels_support_the_records(campaign):
    entry = _entry(campaign, "CROWD")
    assert entry["verdict"] == "ATTESTED", entry
    assert "stated iOS 17.5: seen on the classroom Wi-Fi" in entry["reason"]["en"]
    doc = _evidence(campaign, entry)
    assert doc["crowd_test"]["ran"] is True
    assert doc["crowd_cross_check"]["android"]["same_version_seen"] >= 1


def test_generic_yes_no_is_not_asked_for_mobile_os(campaign):
    db = sqlite3.connect(campaign.out / "campaign.sqlite")
    rows = db.execute("SELECT a.test_key, m.requirement_key, m.verdict FROM measurement m "
                      "JOIN attempt a ON a.id = m.attempt_id").fetchall()
    db.close()
    attested = [r for r in rows if r[0].startswith("test_attested.py")]
    assert attested, "the generic suite ran"
    assert not [r for r in attested if r[1] == "mobile.os"]
    assert {r[2] for r in rows if r[1] == "mobile.os"} == {
        "ATTESTED", "NOT_TESTED", "FAIL", "ERROR"}
