"""Vendor command tables: the fixed byte strings a panel's manual lists, as a TOML data file.

A table (format: docs/command-tables.md) maps each display action to the bytes to send and to
reply patterns with their meaning. This module finds, reads and loads table files; the byte
codec (hex patterns, checksums, captured fields) is in ``command_bytes``, the table types in
``command_table_types`` and the validation, which reports every mistake with file, line and
field in English and zh-CN, in ``command_table_check``. Their names are re-exported here.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from classcert.device_drivers.command_bytes import (
    CHECKSUM_WIDTH,
    FIELD_FORMATS,
    Checksum,
    Field,
    HexError,
    Pattern,
    format_hex,
    parse_pattern,
    patterns_overlap,
)
from classcert.device_drivers.command_table_check import TableChecker
from classcert.device_drivers.command_table_types import (
    ACTIONS,
    ERROR_MEANINGS,
    FIELDS,
    FRAMINGS,
    INPUT_NAME_RE,
    INPUT_SELECT,
    MAX_FRAME,
    MEANINGS,
    SET_ACTIONS,
    TABLE_FORMAT,
    TEXT_QUERIES,
    Command,
    CommandTable,
    Reply,
    TableError,
    TableProblem,
    fix_message,
)
from classcert.tomlpos import KeyLines, error_position

__all__ = [
    "ACTIONS", "CHECKSUM_WIDTH", "ERROR_MEANINGS", "FIELDS", "FIELD_FORMATS", "FRAMINGS",
    "INPUT_NAME_RE", "INPUT_SELECT", "MAX_FRAME", "MEANINGS", "SET_ACTIONS", "TABLES_DIR",
    "TABLE_FORMAT", "TEXT_QUERIES", "Checksum", "Command", "CommandTable", "Field", "HexError",
    "Pattern", "Reply", "TableError", "TableProblem", "available_tables", "find_table",
    "format_hex", "load_table", "parse_pattern", "parse_table", "patterns_overlap",
]

TABLES_DIR = Path(__file__).resolve().parent / "tables"
_overlap = patterns_overlap  # older name, kept for callers


def available_tables() -> list[str]:
    """Model names (file stems) shipped in device_drivers/tables/."""
    return sorted(p.stem for p in TABLES_DIR.glob("*.toml"))


def find_table(model_or_path: str | Path) -> Path:
    """A model name from device_drivers/tables/ or a path to a table file."""
    text = str(model_or_path).strip()
    is_path = isinstance(model_or_path, Path) or "/" in text or "\\" in text or text.endswith(
        ".toml")
    path = Path(text) if is_path else TABLES_DIR / f"{text}.toml"
    if path.is_file():
        return path
    known = ", ".join(available_tables()) or "none"
    en = (f"command table file {path} not found" if is_path else
          f"no command table named '{text}' in {TABLES_DIR} (available: {known})")
    raise TableError([TableProblem(str(path), 0, "", fix_message(
        en, "check the name after 'table:' in the rig, or set options.table_file to the path of "
        "your table file (see docs/command-tables.md)",
        "找不到指令表文件，请检查 table: 后的型号或 table_file 路径"))])


def load_table(model_or_path: str | Path) -> CommandTable:
    """Find, read and validate a table (UTF-8; a byte-order mark is tolerated)."""
    path = find_table(model_or_path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise TableError([TableProblem(str(path), 0, "", fix_message(
            f"cannot read the table file ({exc})", "check permissions and save it as UTF-8",
            "无法读取指令表文件，请检查权限并另存为 UTF-8"))]) from None
    return parse_table(text, path)


def parse_table(text: str, path: str | Path) -> CommandTable:
    """Validate table TOML ``text``; ``path`` names it in messages and gives the model name."""
    text = text.removeprefix("\ufeff")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, _, reason = error_position(exc, text)
        raise TableError([TableProblem(str(path), line, "", fix_message(
            f"TOML syntax error: {reason}", "check quotes, brackets and '=' on this line",
            "TOML 语法错误，请检查本行的引号、括号和等号"))]) from None
    return TableChecker(str(path), KeyLines(text)).table(doc, Path(path))
