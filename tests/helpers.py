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


# A one-requirement catalog: a vendor bench that checks remote control only.
VENDOR_CATALOG = """
[profile]
id = "vendor-bench"
version = "1"
title_en = "Vendor bench: remote control only"
title_zh = "厂商测试台：仅远程控制"
levels = ["basic"]

[kinds.multimedia]
name_en = "multimedia classroom"
name_zh = "多媒体教室"
includes = []

[[requirements]]
id = "JJ010301.F3"
key = "display.remote_control"
title_en = "Remote intelligent control of the display"
title_zh = "远程智能管控"
kinds = ["multimedia"]
scope = "room"
mandatory = true
method = "measured"
metric = "remote_control_roundtrip"
unit = "bool"
op = "true"
[requirements.clause]
document = "003_1c2984479393c4c1.txt"
ref_zh = "重庆市智慧校园建设基本指南 3.1.3 JJ010301 多媒体教室 功能要求 3"
ref_en = "Chongqing smart campus basic guide, 3.1.3 JJ010301 multimedia classroom, function 3"
text_zh = "具备远程智能管控功能"
"""
