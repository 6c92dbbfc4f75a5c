"""Vendor command table data: actions, their reply meanings and the loaded table types."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from classcert.device_drivers.command_bytes import Checksum, Field, Pattern
from classcert.device_drivers.display import ERROR_CATEGORIES

TABLE_FORMAT = 1
FRAMINGS = ("terminator", "fixed")
ERROR_MEANINGS = ("rejected", "busy", "failure")
INPUT_SELECT = "input_select"
SET_ACTIONS = ("power_on", "power_off", "mute_on", "mute_off", "video_mute_on", "video_mute_off")
TEXT_QUERIES = ("make_query", "model_query", "serial_query", "firmware_query", "name_query")
_VALUE = ("value", "none")
MEANINGS: dict[str, tuple[str, ...]] = {
    **{a: ("ok",) for a in SET_ACTIONS},
    "power_query": ("on", "off", "warming", "cooling"),
    "mute_query": ("on", "off"), "video_mute_query": ("on", "off"),
    "input_query": (),  # the input names defined under [commands.input_select]
    **{a: _VALUE for a in TEXT_QUERIES},
    "screen_size_query": _VALUE, "native_resolution_query": _VALUE,
    "input_resolution_query": _VALUE, "lamp_query": ("value", "on", "off", "none"),
    "error_query": ("ok", *(f"{lv}:{c}" for lv in ("warning", "error") for c in ERROR_CATEGORIES)),
}
# action -> field name -> numeric?
FIELDS: dict[str, dict[str, bool]] = {
    **{a: {"text": False} for a in TEXT_QUERIES}, "screen_size_query": {"inches": True},
    "native_resolution_query": {"width": True, "height": True},
    "input_resolution_query": {"width": True, "height": True}, "lamp_query": {"hours": True},
}
ACTIONS = (*MEANINGS, INPUT_SELECT)
INPUT_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
MAX_FRAME = 1024


# -- the table -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reply:
    pattern: Pattern
    meaning: str
    line: int = 0


@dataclass(frozen=True)
class Command:
    """One action: ``send`` bytes (checksum filled in), its own replies, captured fields."""

    action: str
    send: bytes
    replies: tuple[Reply, ...]
    fields: tuple[Field, ...] = ()
    label: str = ""
    line: int = 0


@dataclass(frozen=True)
class CommandTable:
    name: str
    path: Path
    make: str
    model: str
    source: str
    framing: str
    terminator: bytes
    checksum: Checksum
    baudrate: int
    tcp_port: int | None
    min_gap_s: float
    commands: dict[str, Command]
    common: tuple[Reply, ...] = ()

    @property
    def inputs(self) -> list[str]:
        """Input names, in file order (``input_select.<name>``)."""
        prefix = INPUT_SELECT + "."
        return [a[len(prefix):] for a in self.commands if a.startswith(prefix)]

    def command(self, action: str) -> Command | None:
        return self.commands.get(action)

    def candidates(self, action: str) -> tuple[Reply, ...]:
        """Replies ``action`` may receive: its own first, then the table-wide ones."""
        own = self.commands[action].replies if action in self.commands else ()
        return own + self.common

    def match(self, action: str, frame: bytes) -> Reply | None:
        return next((r for r in self.candidates(action) if r.pattern.matches(frame)), None)


# -- errors ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TableProblem:
    """One thing wrong with a table file. ``line`` 0 means the file as a whole."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return ": ".join(x for x in (where, self.field, self.message) if x)


class TableError(ValueError):
    """The table file cannot be used; ``.problems`` lists every reason found."""

    def __init__(self, problems: list[TableProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def fix_message(en: str, fix: str, zh: str) -> str:
    """One message: what is wrong, how to fix it, then the same in zh-CN."""
    return f"{en} — fix: {fix} / {zh}"

