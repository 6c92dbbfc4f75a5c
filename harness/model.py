"""Core data types shared by every layer: verdicts and the parsed rig.

Drivers do not import this module; the harness, fixtures, suites and
reports do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any


class Verdict(str, Enum):  # noqa: UP042 - str mixin keeps JSON and SQLite values plain
    """Outcome of one requirement for one room."""

    PASS = "PASS"  # measured and within the catalog limit
    FAIL = "FAIL"  # measured and outside the limit: the equipment does not conform
    ERROR = "ERROR"  # the harness could not test (timeout, unreachable, driver fault)
    SKIPPED = "SKIPPED"  # not applicable to this room
    ATTESTED = "ATTESTED"  # a person vouched, with name and note/photo
    NOT_TESTED = "NOT_TESTED"  # no suite measured it (yet)

    @property
    def zh(self) -> str:
        return VERDICT_ZH[self]


VERDICT_ZH: dict[Verdict, str] = {
    Verdict.PASS: "通过",
    Verdict.FAIL: "不通过",
    Verdict.ERROR: "无法测试",
    Verdict.SKIPPED: "不适用",
    Verdict.ATTESTED: "人工确认",
    Verdict.NOT_TESTED: "未测试",
}

SCHOOL_LEVELS = ("basic", "vocational", "higher")


@dataclass(frozen=True)
class Device:
    """One piece of equipment in a room, as the rig file describes it."""

    role: str  # display, recorder, camera, wifi, ups, ...
    driver: str  # e.g. "pjlink"
    address: str  # "host:port" or a pyserial URL (COM3, /dev/ttyUSB0, socket://, rfc2217://)
    name: str = ""
    password_env: str | None = None  # name of the environment variable holding the secret
    options: dict[str, Any] = field(default_factory=dict)  # driver-specific settings
    # Simulator spec ({"kind": "pjlink", ...knobs}) when this device is simulated by the
    # harness itself (demo school, vendor CI). None for real equipment.
    simulator: dict[str, Any] | None = None
    line: int = 0  # line of its [[rooms.devices]] header in the rig file

    @property
    def label(self) -> str:
        return self.name or f"{self.role}:{self.driver}@{self.address}"


@dataclass(frozen=True)
class Room:
    id: str
    name: str
    seats: int
    claims: tuple[str, ...]  # classroom kinds claimed, e.g. ("multimedia", "smart")
    devices: tuple[Device, ...] = ()
    line: int = 0

    def devices_with_role(self, role: str) -> list[Device]:
        return [d for d in self.devices if d.role == role]


@dataclass(frozen=True)
class School:
    name: str
    level: str  # one of SCHOOL_LEVELS
    teachers: int
    students: int
    classrooms_total: int
    profile: str  # catalog profile id, e.g. "cq-jj"


@dataclass(frozen=True)
class Rig:
    path: Path
    school: School
    rooms: tuple[Room, ...]

    def room(self, room_id: str) -> Room:
        for r in self.rooms:
            if r.id == room_id:
                return r
        raise KeyError(room_id)
