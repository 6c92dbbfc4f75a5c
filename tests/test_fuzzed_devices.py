"""Every display protocol, answering garbage: the campaign finishes, verdicts are ERROR.

A device that sends nonsense never crashes the harness and never makes it say FAIL.
"""

from __future__ import annotations

import json
import subprocess
import sys

from helpers import REPO, rig_text

DRIVERS = {
    "PJ": ("pjlink", "pjlink", ""),
    "MDC": ("samsung-mdc", "samsung-mdc", ""),
    "LG": ("lg", "lg", ""),
    "NEC": ("nec", "nec", ""),
    "TBL": ("table:generic-rs232-panel", "table", ""),
}


def _room(room_id: str, driver: str, kind: str) -> str:
    return f"""
        [[rooms]]
        id = "{room_id}"
        name = "Fuzz {room_id}"
        seats = 40
        claims = ["multimedia"]

        [[rooms.devices]]
        role = "display"
        driver = "{driver}"
        address = "127.0.0.1:0"
        options = {{ power_timeout_s = 1, timeout_s = 0.5, retries = 0 }}
        simulator = {{ kind = "{kind}", garbage = true }}
    """


def test_garbage_from_every_protocol_is_error(tmp_path):
    rig = tmp_path / "rig.toml"
    rig.write_text(rig_text("".join(_room(r, d, k) for r, (d, k, _) in DRIVERS.items())),
                   encoding="utf-8")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "test_suites" / "test_display_control.py"),
         str(REPO / "test_suites" / "test_display_resolution.py"), "--rig", str(rig),
         "--out", str(out), "--no-prompt", "-p", "no:cacheprovider", "-q"],
        cwd=REPO, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "INTERNALERROR" not in proc.stdout + proc.stderr
    for room_id in DRIVERS:
        cert = json.loads((out / "rooms" / room_id / "certificate.json").read_text("utf-8"))
        rc = next(e for e in cert["requirements"] if e["key"] == "display.remote_control")
        assert rc["verdict"] == "ERROR", (room_id, rc)
        assert "harness fault" not in rc["reason"]["en"], (room_id, rc["reason"]["en"])
        assert rc["reason"]["zh"], room_id
        assert not [e for e in cert["requirements"] if e["verdict"] == "FAIL"], room_id
