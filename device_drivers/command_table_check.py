"""Validation of a parsed command table: every mistake reported with line and field."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from classcert.device_drivers.command_bytes import (
    CHECKSUM_WIDTH,
    FIELD_FORMATS,
    STAR,
    Checksum,
    Field,
    HexError,
    Pattern,
    format_hex,
    parse_pattern,
    patterns_overlap,
)
from classcert.device_drivers.command_table_types import (
    ACTIONS,
    ERROR_MEANINGS,
    FIELDS,
    FRAMINGS,
    INPUT_NAME_RE,
    INPUT_SELECT,
    MAX_FRAME,
    MEANINGS,
    TABLE_FORMAT,
    Command,
    CommandTable,
    Reply,
    TableError,
    TableProblem,
    fix_message,
)
from classcert.tomlpos import KeyLines, KeyPath, field_name

_MISSING = object()
_TOP_KEYS = ("table_format", "model", "checksum", "replies", "commands")
_MODEL_KEYS = ("make", "model", "source", "notes", "framing", "terminator", "baudrate",
               "tcp_port", "min_gap_s")
_CHECKSUM_KEYS = ("kind", "first", "at", "byte_order")
_COMMAND_KEYS = ("send", "replies", "fields", "label", "note")
_FIELD_KEYS = ("from", "to", "format", "scale")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _text(v: Any) -> bool:
    return isinstance(v, str) and v.strip() != ""


def _got(value: Any) -> str:
    if isinstance(value, bool):
        return f"got {str(value).lower()} (a boolean)"
    if isinstance(value, str):
        return f'got "{value if len(value) <= 40 else value[:37] + "..."}" (a string)'
    if isinstance(value, dict | list):
        return "got a table" if isinstance(value, dict) else "got an array"
    return f"got {value}"


class TableChecker:
    """Walks a parsed table, collecting every problem, and builds the CommandTable."""

    def __init__(self, file: str, lines: KeyLines) -> None:
        self.file, self.lines = file, lines
        self.problems: list[TableProblem] = []
        self.framing, self.terminator, self.checksum = "fixed", b"", Checksum()

    def problem(self, path: KeyPath, en: str, fix: str, zh: str) -> None:
        self.problems.append(TableProblem(self.file, self.lines.nearest(path), field_name(path),
                                          fix_message(en, fix, zh)))

    def get(self, t: dict, path: KeyPath, key: str, ok: Any, need: tuple[str, str],
            example: str, default: Any = _MISSING) -> Any:
        """t[key] when ``ok(value)``; else report and return None (default when absent)."""
        value = t.get(key, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                self.problem((*path, key), "is missing", f"add {key} = {example}", f"缺少 {key}")
                return None
            return default
        if not ok(value):
            self.problem((*path, key), f"must be {need[0]}, {_got(value)}",
                         f"write {key} = {example}", f"{key} 必须为{need[1]}")
            return None
        return value

    def table_of(self, t: Any, path: KeyPath, example: str) -> dict | None:
        if isinstance(t, dict):
            return t
        what = "is missing" if t is None else f"must be a table, {_got(t)}"
        self.problem(path, what, f"write {example}", "缺少该表" if t is None else "必须是表")
        return None

    def unknown(self, t: dict, path: KeyPath, known: tuple[str, ...], zh: str = "") -> None:
        for key in t:
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
                fix = f"did you mean '{close[0]}'?" if close else "remove it; known: " + ", ".join(
                    known)
                self.problem((*path, key), f"unknown {zh or 'key'} '{key}'", fix,
                             f"未知字段 '{key}'" + (f"，是否应为 '{close[0]}'？" if close else ""))

    # -- sections -------------------------------------------------------------------------------
    def table(self, doc: dict, path: Path) -> CommandTable:
        self.unknown(doc, (), _TOP_KEYS)
        self.get(doc, (), "table_format", lambda v: v == TABLE_FORMAT, ("1", "1"), "1", 1)
        mt = self.table_of(doc.get("model"), ("model",), "a [model] table with make, model and "
                           "framing")
        m = self.model(mt) if mt is not None else {}
        cs = doc.get("checksum")
        if cs is not None and self.table_of(cs, ("checksum",), "a [checksum] table") is not None:
            self.checksum = self.checksum_spec(cs)
        common = self.replies(doc.get("replies", {}), ("replies",), ("ok", *ERROR_MEANINGS))
        commands = self.commands(doc.get("commands", _MISSING), common)
        if self.problems:
            self.problems.sort(key=lambda p: p.line)
            raise TableError(self.problems)
        return CommandTable(
            path.stem, path, m["make"], m["model"], m["source"] or "", self.framing,
            self.terminator, self.checksum, m["baudrate"], m["tcp_port"], float(m["min_gap_s"]),
            commands, common)

    def model(self, t: dict) -> dict[str, Any]:
        p: KeyPath = ("model",)
        self.unknown(t, p, _MODEL_KEYS)
        text = ("a non-empty text in quotes", "非空字符串")
        out = {k: self.get(t, p, k, _text, text, '"..."', d) for k, d in (
            ("make", _MISSING), ("model", _MISSING), ("source", ""), ("notes", ""))}
        out["baudrate"] = self.get(t, p, "baudrate", lambda v: _is_int(v) and 50 <= v <= 4_000_000,
                                   ("a whole number of bits/s", "波特率整数"), "9600", 9600)
        out["tcp_port"] = self.get(t, p, "tcp_port", lambda v: _is_int(v) and 0 < v < 65536,
                                   ("a port number 1-65535", "端口号 1-65535"), "5000", None)
        out["min_gap_s"] = self.get(t, p, "min_gap_s", lambda v: _is_num(v) and 0 <= v <= 5,
                                    ("seconds from 0 to 5", "0 到 5 秒"), "0.05", 0)
        framing = self.get(t, p, "framing", lambda v: v in FRAMINGS,
                           ("one of: " + " | ".join(FRAMINGS), "terminator 或 fixed"),
                           '"fixed" (replies as long as in this table) or "terminator"')
        # an unusable framing is reported once; check the strings as the terminator suggests
        self.framing = framing or ("terminator" if "terminator" in t else "fixed")
        if self.framing == "terminator":
            term = self.get(t, p, "terminator", lambda v: isinstance(v, str),
                            ("hex bytes in quotes", "十六进制字符串"), '"0D"')
            try:
                if term is None:  # reported as missing
                    raise HexError("")
                literal = parse_pattern(term).literal
                if literal is None or not 0 < len(literal) <= 4:
                    raise HexError("1 to 4 fixed bytes are needed, no ?? or *")
                self.terminator = literal
            except HexError as exc:
                if term is not None:
                    self.problem((*p, "terminator"), f"{term!r}: {exc}",
                                 'write e.g. "0D" or "0D 0A"', "结束符必须是 1-4 个十六进制字节")
                self.framing = "fixed"  # do not also report every string for it
        elif "terminator" in t and framing is not None:
            self.problem((*p, "terminator"), "is only used with framing = \"terminator\"",
                         'remove it, or set framing = "terminator"', "仅 terminator 分帧需要结束符")
        return out

    def checksum_spec(self, t: dict) -> Checksum:
        p: KeyPath = ("checksum",)
        self.unknown(t, p, _CHECKSUM_KEYS)
        kind = self.get(t, p, "kind", lambda v: v in CHECKSUM_WIDTH, (
            "one of: " + " | ".join(CHECKSUM_WIDTH), "校验类型之一"), '"sum8"')
        if kind in (None, "none"):
            return Checksum()
        first = self.get(t, p, "first", lambda v: _is_int(v) and 0 <= v < MAX_FRAME,
                         ("a byte index, 0 or more", "字节序号（从 0 起）"), "1", 0)
        at = self.get(t, p, "at", lambda v: _is_int(v) and -MAX_FRAME < v < MAX_FRAME, (
            "a byte index (negative: from the end)", "字节序号（负数从末尾数）"), "-2",
            -(CHECKSUM_WIDTH[kind] + len(self.terminator)))
        order = self.get(t, p, "byte_order", lambda v: v in ("little", "big"),
                         ("little or big", "little 或 big"), '"little"', "little")
        if "byte_order" in t and kind != "crc16-modbus":
            self.problem((*p, "byte_order"), "only applies to crc16-modbus", "remove it",
                         "仅 crc16-modbus 需要字节序")
        return Checksum(kind, first or 0, at if at is not None else -1, order or "little")

    def pattern(self, text: Any, path: KeyPath, send: bool = False) -> Pattern | None:
        fix = "copy the bytes from the manual, e.g. \"AA 01 ?? 0D\" (see docs/command-tables.md)"
        if not isinstance(text, str):
            self.problem(path, f"must be hex bytes in quotes, {_got(text)}", fix,
                         "必须是十六进制字符串")
            return None
        try:
            pat = parse_pattern(text)
        except HexError as exc:
            self.problem(path, f"{text!r}: {exc}", fix, "十六进制字符串无效")
            return None
        term = self.terminator if self.framing == "terminator" else b""
        ends = pat.tail if pat.star else pat.head
        if pat.star and (send or self.framing == "fixed"):
            why = "a command is sent as written" if send else "framing = \"fixed\" needs lengths"
            self.problem(path, f"'*' is not allowed here: {why}", "write every byte",
                         "此处不能使用 *")
        elif term and tuple(ends[-len(term):]) != tuple(term):
            self.problem(path, f"does not end with the terminator {format_hex(term)}",
                         f"append {format_hex(term)}: write strings exactly as the manual prints"
                         f" them, terminator included", f"末尾缺少结束符 {format_hex(term)}")
        else:
            self.checksum_problem(pat, path)
            slot = self._slot(pat)
            in_slot = range(slot, slot + self.checksum.width) if slot is not None else range(0)
            if send and any(t is None and i not in in_slot for i, t in enumerate(pat.head)):
                self.problem(path, "has ?? in a command to send", "write the exact bytes; ?? "
                             "may only stand for the checksum, which is then computed",
                             "发送指令中只有校验位可以写 ??")
        return pat

    def _slot(self, pat: Pattern) -> int | None:
        return self.checksum.slot(len(pat.positions())) if self.checksum.width else None

    def checksum_problem(self, pat: Pattern, path: KeyPath) -> None:
        cs, pos = self.checksum, pat.positions()
        if not cs.width:
            return
        start = self._slot(pat)
        if start is None or (pat.star and not (cs.first <= len(pat.head) < start)):
            where = f"at byte {cs.at}" if not pat.star else "in the bytes after '*'"
            self.problem(path, f"has no room for the {cs.kind} checksum {where}",
                         "check the string, or [checksum] first/at", "字符串长度与校验位置不符")
            return
        covered, slot = pos[cs.first:start], pos[start:start + cs.width]
        if all(t is None for t in slot):
            return
        if None in slot or None in covered or STAR in covered:
            self.problem(path, "has a fixed checksum over bytes that vary",
                         "write ?? for each checksum byte: it is then checked on every reply",
                         "可变数据的校验位请写 ??")
            return
        found = bytes(int(b) for b in slot)  # type: ignore[arg-type]
        computed = cs.compute(bytes(int(b) for b in covered))  # type: ignore[arg-type]
        if computed != found:
            self.problem(path, f"checksum is {format_hex(found)} but {cs.kind} of bytes "
                         f"{cs.first}..{start - 1} gives {format_hex(computed)}",
                         "correct the typo, or [checksum] first/at; ?? has it computed",
                         f"校验值错误，应为 {format_hex(computed)}")

    def replies(self, t: Any, path: KeyPath, allowed: tuple[str, ...]) -> tuple[Reply, ...]:
        if self.table_of(t, path, 'replies = { "<reply hex>" = "<meaning>" }') is None:
            return ()
        out: list[Reply] = []
        for key, meaning in t.items():
            where = (*path, key)
            pat = self.pattern(key, where)
            if meaning not in allowed:
                close = difflib.get_close_matches(str(meaning), allowed, n=1, cutoff=0.6)
                shown = f'"{meaning}"' if isinstance(meaning, str) else _got(meaning)[4:]
                self.problem(where, f"meaning {shown} is not known here", (
                    f"did you mean '{close[0]}'?" if close else "use one of: " + ", ".join(
                        allowed)), "回复含义无效，可用：" + ", ".join(allowed))
            elif pat is not None:
                out.append(Reply(pat, meaning, self.lines.nearest(where)))
        for i, a in enumerate(out):
            for b in out[i + 1:]:
                if a.meaning != b.meaning and patterns_overlap(a.pattern, b.pattern):
                    self.problem((*path, b.pattern.text), f"can match the same reply as "
                                 f"{a.pattern.text!r} (line {a.line}) but means something else",
                                 "make them differ in a fixed byte", "两个回复模式可能匹配同一回复")
        return tuple(out)

    def commands(self, t: Any, common: tuple[Reply, ...]) -> dict[str, Command]:
        p: KeyPath = ("commands",)
        if t is _MISSING:
            self.problem(p, "no commands are defined", "add [commands.power_on] etc. (see "
                         "docs/command-tables.md)", "未定义任何指令")
            return {}
        if self.table_of(t, p, "[commands.<action>] tables") is None:
            return {}
        self.unknown(t, p, ACTIONS, "action")
        inputs = t.get(INPUT_SELECT, {})
        inputs = self.table_of(inputs, (*p, INPUT_SELECT), "[commands.input_select.hdmi1]") or {}
        for name in inputs:
            if not INPUT_NAME_RE.fullmatch(name) or name in ERROR_MEANINGS:
                self.problem((*p, INPUT_SELECT, name), f"'{name}' is not a usable input name",
                             "use 1-32 letters, digits, . _ - (e.g. hdmi1), not rejected/busy/"
                             "failure", "输入源名称无效，例如 hdmi1")
        out: dict[str, Command] = {}
        for action, body in t.items():
            if action == INPUT_SELECT:
                for name, sub in inputs.items():
                    act = f"{INPUT_SELECT}.{name}"
                    out[act] = self.command(sub, (*p, INPUT_SELECT, name), act, ("ok",), common)
            elif action in MEANINGS:
                allowed = MEANINGS[action] or tuple(inputs)
                out[action] = self.command(body, (*p, action), action, allowed, common)
        return out

    def command(self, t: Any, p: KeyPath, action: str, allowed: tuple[str, ...],
                common: tuple[Reply, ...]) -> Command:
        if self.table_of(t, p, f"[{field_name(p)}] with send and replies") is None:
            return Command(action, b"", ())
        self.unknown(t, p, _COMMAND_KEYS)
        send = self.pattern(t.get("send"), (*p, "send"), send=True) if "send" in t else None
        if "send" not in t:
            self.problem((*p, "send"), "is missing", 'add send = "<hex from the manual>"',
                         "缺少发送指令 send")
        replies = self.replies(t.get("replies", {}), (*p, "replies"), (*allowed, *ERROR_MEANINGS))
        if not any(r.meaning in allowed for r in replies + common):
            self.problem(p, "has no reply meaning " + " / ".join(allowed or ("<input name>",)),
                         f'add replies = {{ "<hex>" = "{(allowed or ("hdmi1",))[0]}" }}',
                         "缺少表示成功或状态的回复")
        fields = self.fields(t.get("fields"), p, action, replies)
        label = self.get(t, p, "label", _text, ("a non-empty text", "非空字符串"), '"HDMI 1"', "")
        raw = bytes(0 if b is None else b for b in send.head) if send else b""
        return Command(action, self.checksum.fill(raw) if self.checksum.width else raw,
                       replies, fields, label or "", self.lines.nearest(p))

    def fields(self, t: Any, p: KeyPath, action: str, replies: tuple[Reply, ...]
               ) -> tuple[Field, ...]:
        spec, fp = FIELDS.get(action), (*p, "fields")
        if spec is None:
            if t is not None:
                self.problem(fp, f"{action} captures no values", "remove fields",
                             "该动作不需要 fields")
            return ()
        example = f"fields = {{ {', '.join(f'{n} = {{ from = 5 }}' for n in spec)} }}"
        if t is None:
            self.problem(fp, "is missing: say where the value is in the reply", f"add {example}",
                         "缺少 fields：请指明数值在回复中的位置")
            return ()
        if self.table_of(t, fp, example) is None:
            return ()
        self.unknown(t, fp, tuple(spec), "field")
        values = [r for r in replies if r.meaning not in (*ERROR_MEANINGS, "none")]
        out = []
        for name, numeric in spec.items():
            if name not in t:
                self.problem((*fp, name), "is missing", f"add {name} = {{ from = 5 }}",
                             f"缺少 {name}")
            elif (f := self.field(t[name], (*fp, name), name, numeric, values)) is not None:
                out.append(f)
        return tuple(out)

    def field(self, t: Any, p: KeyPath, name: str, numeric: bool, values: list[Reply]
              ) -> Field | None:
        if self.table_of(t, p, f"{name} = {{ from = 5, format = \"uint\" }}") is None:
            return None
        before = len(self.problems)
        self.unknown(t, p, _FIELD_KEYS)
        index = ("a byte index (negative: from the end)", "字节序号")
        start = self.get(t, p, "from", lambda v: _is_int(v) and abs(v) < MAX_FRAME, index, "5")
        stop = self.get(t, p, "to", lambda v: _is_int(v) and abs(v) < MAX_FRAME, index, "7",
                        None if start in (-1, None) else start + 1)
        kinds = tuple(f for f in FIELD_FORMATS if (f != "ascii") == numeric)
        fmt = self.get(t, p, "format", lambda v: v in kinds, (" | ".join(kinds), "格式之一"),
                       f'"{kinds[0]}"', kinds[0])
        scale = self.get(t, p, "scale", lambda v: _is_num(v) and v != 0 and numeric,
                         ("a non-zero number (numbers only)", "非零数字"), "0.3937", 1.0)
        if len(self.problems) > before:
            return None
        f = Field(name, start, stop, fmt, float(scale))
        for r in values:
            covered = r.pattern.positions()[start:stop]
            if not covered or any(c not in (None, STAR) for c in covered) or (
                    numeric and (len(covered) > 8 or STAR in covered)):
                what = "1 to 8 '??' bytes" if numeric else "'??' or '*' bytes"
                self.problem(p, f"bytes [{start}:{'' if stop is None else stop}] of reply "
                             f"{r.pattern.text!r} (line {r.line}) are not {what}",
                             "put ?? where the value is in the reply and point from/to at them",
                             "捕获字段必须位于回复中的 ?? 字节")
                return None
        return f
