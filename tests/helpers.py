"""Helpers shared by the project's tests (importable: tests/ is on pythonpath)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def rig_text(rooms: str, profile: str = "cq-jj", level: str = "basic", total: int = 10) -> str:
    head = f"""
        [school]
        name = "Test school 测试学校"
        level = "{level}"
        teachers = 10
        students = 100
        classrooms_total = {total}
        profile = "{profile}"
    """
    return textwrap.dedent(head) + textwrap.dedent(rooms)


def pjlink_room(room_id: str, sim: str = "", seats: int = 40, claims: str = '["multimedia"]',
                extra: str = "") -> str:
    """A [[rooms]] entry with one simulated PJLink display; ``sim`` adds simulator knobs."""
    knobs = f", {sim}" if sim else ""
    return f"""
        [[rooms]]
        id = "{room_id}"
        name = "Room {room_id}"
        seats = {seats}
        claims = {claims}

        [[rooms.devices]]
        role = "display"
        driver = "pjlink"
        address = "127.0.0.1:0"
        options = {{ power_timeout_s = 2 }}
        simulator = {{ kind = "pjlink"{knobs} }}
        {extra}
    """


def run_cli(*args: str, timeout: float = 120, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "classcert.cli", *args], capture_output=True, text=True,
        timeout=timeout, env=full_env, cwd=cwd or REPO,
    )
