"""A killed campaign resumes with every measurement kept and none taken twice."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

from helpers import REPO, pjlink_room, rig_text, run_cli

ROOMS = ["R1", "R2", "R3", "R4", "R5"]
CONCLUSIVE = {"PASS", "FAIL", "ATTESTED", "SKIPPED"}


def _rows(db_path):
    if not db_path.exists():
        return []
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    except sqlite3.OperationalError:
        return []
    try:
        return db.execute(
            "SELECT id, campaign_id, room_id, requirement_id, value_json, verdict, taken_at "
            "FROM measurement ORDER BY id"
        ).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()


def test_kill_midway_then_resume(tmp_path):
    rig = tmp_path / "rig.toml"
    rig.write_text(rig_text("".join(pjlink_room(r, "reply_delay_s = 0.05") for r in ROOMS)),
                   encoding="utf-8")
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "classcert.cli", "run", "--rig", str(rig), "--out", str(out)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while (len([r for r in _rows(out / "campaign.sqlite") if r[5] == "PASS"]) < 2
               and time.monotonic() < deadline):
            assert proc.poll() is None, "campaign finished before it could be killed"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
    before = _rows(out / "campaign.sqlite")
    conclusive_before = [r for r in before if r[5] in CONCLUSIVE]
    assert len(conclusive_before) >= 2
    assert len(conclusive_before) < 3 * len(ROOMS), "killed too late to test resuming"
    assert not (out / "rooms").exists() or not any((out / "rooms").iterdir())

    again = run_cli("run", "--rig", str(rig), "--out", str(out), "--resume", timeout=180)
    # rooms are not certified: most of their requirements are NOT_TESTED
    assert again.returncode == 1, again.stdout + again.stderr
    assert "already measured" in again.stdout
    after = _rows(out / "campaign.sqlite")
    assert after[: len(before)] == before, "a measurement taken before the kill was changed"
    assert {r[1] for r in after} == {before[0][1]}, "resume must continue the same campaign"
    # ERROR and NOT_TESTED are tried again on resume; a measurement is never taken twice
    pairs = [(r[2], r[3]) for r in after if r[5] in CONCLUSIVE]
    assert len(pairs) == len(set(pairs)), "a measurement was taken twice"
    assert len(pairs) == 3 * len(ROOMS)
    for room in ROOMS:
        assert (out / "rooms" / room / "certificate.json").exists()
    assert run_cli("verify", *(str(out / "rooms" / r / "certificate.json") for r in ROOMS)
                   ).returncode == 0


def test_new_run_into_used_out_dir_is_refused(tmp_path):
    rig = tmp_path / "rig.toml"
    rig.write_text(rig_text(pjlink_room("R1")), encoding="utf-8")
    out = tmp_path / "out"
    first = run_cli("run", "--rig", str(rig), "--out", str(out))
    assert first.returncode == 1, first.stdout + first.stderr
    second = run_cli("run", "--rig", str(rig), "--out", str(out))
    assert second.returncode == 2
    assert "--resume" in second.stderr


def test_resume_refuses_a_changed_rig(tmp_path):
    rig = tmp_path / "rig.toml"
    rig.write_text(rig_text(pjlink_room("R1")), encoding="utf-8")
    out = tmp_path / "out"
    assert run_cli("run", "--rig", str(rig), "--out", str(out)).returncode == 1
    rig.write_text(rig_text(pjlink_room("R1", seats=41)), encoding="utf-8")
    res = run_cli("run", "--rig", str(rig), "--out", str(out), "--resume")
    assert res.returncode == 2
    assert "changed" in res.stderr + res.stdout
