"""The Wi-Fi suite over an emulated classroom in network namespaces: verdicts from the catalog.

Each room's crowd runs in its own namespaces (clients behind a bridge "access point", tbf
limits); the harness's crowd server listens inside the wired namespace. One room has room for
every client; one gives each client 3 Mbps; one has an access point whose total is short of
N x 4 Mbps. Skips with the probe's reason where namespaces cannot be made.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from classcert.rigs.simulators.netns_probe import netns_support

from helpers import REPO, rig_text

SUPPORTED, REASON = netns_support()
pytestmark = pytest.mark.skipif(not SUPPORTED, reason=f"no emulated classroom: {REASON}")


def _room(room_id: str, shaping: str) -> str:
    # 4 seats -> N = ceil(4.8) = 5 devices
    return f"""
        [[rooms]]
        id = "{room_id}"
        name = "Room {room_id}"
        seats = 4
        claims = ["smart"]

        [[rooms.devices]]
        role = "wifi"
        driver = "none"
        address = "wifi"
        options = {{ crowd_window_s = 3.0, crowd_lead_s = 1.0 }}
        simulator = {{ kind = "crowd", devices = 5, poll_s = 0.2, network = "netns", {shaping} }}
    """


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, dict]]:
    base = tmp_path_factory.mktemp("netns-campaign")
    rig = base / "rig.toml"
    rig.write_text(rig_text(_room("ROOMY", "client_mbps = 8.0")
                            + _room("THIN", "client_mbps = 3.0")
                            + _room("SHORT_AP", "client_mbps = 8.0, ap_down_mbps = 12.0, "
                                                "ap_up_mbps = 12.0")), encoding="utf-8")
    out = base / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "test_suites" / "test_wifi_crowd.py"),
         "--rig", str(rig), "--out", str(out), "--no-prompt", "-p", "no:cacheprovider", "-q"],
        cwd=REPO, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode in (0, 1), proc.stdout[-4000:] + proc.stderr[-2000:]
    found = {}
    for room in ("ROOMY", "THIN", "SHORT_AP"):
        cert = json.loads((out / "rooms" / room / "certificate.json").read_text("utf-8"))
        found[room] = {e["key"]: e for e in cert["requirements"]}
    found["_out"] = {"dir": str(out)}
    return found


def test_a_classroom_with_room_for_everyone_passes(certificates):
    room = certificates["ROOMY"]
    assert room["wifi.capacity"]["verdict"] == "PASS", room["wifi.capacity"]["reason"]
    assert room["wifi.per_client"]["verdict"] == "PASS", room["wifi.per_client"]["reason"]
    assert room["wifi.capacity"]["value"] == 5


def test_clients_shaped_below_the_floor_fail_per_client(certificates):
    entry = certificates["THIN"]["wifi.per_client"]
    assert entry["verdict"] == "FAIL", entry["reason"]
    assert 2.0 <= entry["value"] < 3.1  # what tbf lets through, never more
    assert "JJ010101.P5" in entry["reason"]["en"]


def test_an_access_point_short_of_n_times_4_mbps_fails(certificates):
    entry = certificates["SHORT_AP"]["wifi.per_client"]
    assert entry["verdict"] == "FAIL", entry["reason"]
    assert entry["value"] < 12.0 / 5 * 1.05  # 5 devices share 12 Mbps


def test_the_evidence_describes_the_emulated_network(certificates):
    entry = certificates["SHORT_AP"]["wifi.per_client"]
    (path,) = [e["path"] for e in entry["evidence"] if e["path"].endswith("wifi-crowd.json")]
    doc = json.loads((Path(certificates["_out"]["dir"]) / path).read_text("utf-8"))
    described = json.dumps(doc["emulated_network"])
    assert doc["load_generators"] == ["emulated"]
    assert "tbf" in described and "12" in described  # the AP's 12 Mbps cap is on record
