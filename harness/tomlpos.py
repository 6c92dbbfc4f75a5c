"""Line numbers for TOML key paths.

`tomllib` returns plain values without source positions. This module scans the
same text and records, for every key path such as ``("rooms", 2, "devices", 0,
"address")``, the line on which that key (or array element, or table header)
starts. It understands standard tables, arrays of tables (also nested),
inline tables, arrays (also multi-line), dotted and quoted keys, comments and
all four string forms, so that text inside strings is never mistaken for keys.

The scanner does not validate TOML; run `tomllib` for that. On input it does not
understand it skips to the next line and carries on, so a lookup degrades to
the nearest enclosing table header instead of failing.
"""

from __future__ import annotations

import bisect
import json
import re
import tomllib

KeyPath = tuple[str | int, ...]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_INLINE_WS = " \t"
_SCALAR_END = ",]}#\r\n"
_ERROR_POS = re.compile(r"\s*\(at line (\d+), column (\d+)\)$|\s*\(at end of document\)$")
_MAX_DEPTH = 200  # nesting bound: deeper input is skipped, not followed


class _ScanError(Exception):
    """The scanner met something it does not understand at this position."""


class KeyLines:
    """Maps key paths of one TOML document to 1-based line numbers."""

    def __init__(self, text: str) -> None:
        self._lines: dict[KeyPath, int] = _Scanner(text).run()

    def exact(self, path: KeyPath) -> int | None:
        """Line where `path` itself is written, or None if it is not in the text."""
        return self._lines.get(tuple(path))

    def nearest(self, path: KeyPath) -> int:
        """Line of `path`, else of its closest written ancestor (its table header), else 1."""
        p = tuple(path)
        while p:
            if p in self._lines:
                return self._lines[p]
            p = p[:-1]
        return 1

    def paths(self) -> dict[KeyPath, int]:
        """A copy of every recorded path and its line."""
        return dict(self._lines)


def key_line(text: str, path: KeyPath) -> int:
    """Line of `path` in `text`, falling back to the nearest enclosing header."""
    return KeyLines(text).nearest(path)


def error_position(exc: tomllib.TOMLDecodeError, text: str) -> tuple[int, int, str]:
    """(line, column, reason) of a tomllib error; column 0 if unknown.

    Python 3.11 only writes the position into the message; newer versions also set
    lineno/colno/msg attributes, which are preferred when present.
    """
    raw = str(exc.args[0]) if exc.args else str(exc)
    m = _ERROR_POS.search(raw)
    line = getattr(exc, "lineno", None) or (int(m.group(1)) if m and m.group(1) else 0)
    col = getattr(exc, "colno", None) or (int(m.group(2)) if m and m.group(2) else 0)
    reason = getattr(exc, "msg", None) or (raw[: m.start()] if m else raw)
    return line or text.count("\n") + 1, col, reason  # no line: "at end of document"


def field_name(path: KeyPath) -> str:
    """Readable path: ("rooms", 1, "seats") -> rooms[1].seats; unusual keys are quoted."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            key = part if _BARE_KEY.fullmatch(part) else json.dumps(part, ensure_ascii=False)
            out += f".{key}" if out else key
    return out


class _Scanner:
    """Single pass over the text; records the first line of every key path."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.n = len(text)
        self.i = 0
        self.newlines = [m.start() for m in re.finditer("\n", text)]
        self.lines: dict[KeyPath, int] = {}
        self.aot_count: dict[KeyPath, int] = {}  # array-of-tables path -> elements so far
        self.table: KeyPath = ()

    # -- driver -------------------------------------------------------------------------------
    def run(self) -> dict[KeyPath, int]:
        while True:
            self._skip_blank()
            if self.i >= self.n:
                return self.lines
            start = self.i
            try:
                if self.s[self.i] == "[":
                    self._header()
                else:
                    self._keyval(self.table, 0)
                self._end_of_statement()
            except _ScanError:
                self.i = max(self.i, start + 1)
                self._skip_to_eol()

    def _line_at(self, pos: int) -> int:
        return bisect.bisect_left(self.newlines, pos) + 1

    def _record(self, path: KeyPath, pos: int) -> None:
        self.lines.setdefault(path, self._line_at(pos))

    # -- whitespace and comments ---------------------------------------------------------------
    def _skip_inline_ws(self) -> None:
        while self.i < self.n and self.s[self.i] in _INLINE_WS:
            self.i += 1

    def _skip_to_eol(self) -> None:
        end = self.s.find("\n", self.i)
        self.i = self.n if end < 0 else end + 1

    def _skip_blank(self) -> None:
        """Skip whitespace, newlines and comments."""
        while self.i < self.n:
            c = self.s[self.i]
            if c in " \t\r\n":
                self.i += 1
            elif c == "#":
                self._skip_to_eol()
            else:
                return

    def _end_of_statement(self) -> None:
        self._skip_inline_ws()
        if self.i < self.n and self.s[self.i] == "#":
            self._skip_to_eol()
        elif self.i < self.n and self.s[self.i] not in "\r\n":
            raise _ScanError

    # -- headers and keys ----------------------------------------------------------------------
    def _header(self) -> None:
        pos = self.i
        aot = self.s.startswith("[[", self.i)
        self.i += 2 if aot else 1
        self._skip_inline_ws()
        parts = self._key()
        self._skip_inline_ws()
        close = "]]" if aot else "]"
        if not self.s.startswith(close, self.i):
            raise _ScanError
        self.i += len(close)
        path: KeyPath = ()
        for k, part in enumerate(parts):
            path = (*path, part)
            if k == len(parts) - 1 and aot:
                index = self.aot_count.get(path, 0)
                self.aot_count[path] = index + 1
                self._record(path, pos)
                path = (*path, index)
            elif path in self.aot_count:
                path = (*path, self.aot_count[path] - 1)
            self._record(path, pos)
        self.table = path

    def _key(self) -> list[str]:
        parts: list[str] = []
        while True:
            self._skip_inline_ws()
            parts.append(self._simple_key())
            self._skip_inline_ws()
            if self.i < self.n and self.s[self.i] == ".":
                self.i += 1
                continue
            return parts

    def _simple_key(self) -> str:
        if self.i >= self.n:
            raise _ScanError
        c = self.s[self.i]
        if c == '"':
            start = self.i
            self._basic_string()
            return _decode_basic(self.s[start : self.i])
        if c == "'":
            start = self.i
            self._literal_string()
            return self.s[start + 1 : self.i - 1]
        m = _BARE_KEY.match(self.s, self.i)
        if not m:
            raise _ScanError
        self.i = m.end()
        return m.group()

    def _keyval(self, base: KeyPath, depth: int) -> None:
        pos = self.i
        parts = self._key()
        path = base
        for part in parts:
            path = (*path, part)
            self._record(path, pos)
        self._skip_inline_ws()
        if self.i >= self.n or self.s[self.i] != "=":
            raise _ScanError
        self.i += 1
        self._skip_inline_ws()
        self._value(path, depth + 1)

    # -- values --------------------------------------------------------------------------------
    def _value(self, path: KeyPath, depth: int) -> None:
        if self.i >= self.n or depth > _MAX_DEPTH:
            raise _ScanError
        c = self.s[self.i]
        if c == '"':
            self._basic_string()
        elif c == "'":
            self._literal_string()
        elif c == "[":
            self._array(path, depth)
        elif c == "{":
            self._inline_table(path, depth)
        else:
            start = self.i
            while self.i < self.n and self.s[self.i] not in _SCALAR_END:
                self.i += 1
            if self.i == start:
                raise _ScanError

    def _array(self, path: KeyPath, depth: int) -> None:
        self.i += 1
        index = 0
        while True:
            self._skip_blank()
            if self.i >= self.n:
                raise _ScanError
            if self.s[self.i] == "]":
                self.i += 1
                return
            element = (*path, index)
            self._record(element, self.i)
            self._value(element, depth + 1)
            index += 1
            self._skip_blank()
            if self.i < self.n and self.s[self.i] == ",":
                self.i += 1
            elif self.i < self.n and self.s[self.i] == "]":
                self.i += 1
                return
            else:
                raise _ScanError

    def _inline_table(self, path: KeyPath, depth: int) -> None:
        self.i += 1
        while True:
            self._skip_blank()
            if self.i >= self.n:
                raise _ScanError
            if self.s[self.i] == "}":
                self.i += 1
                return
            self._keyval(path, depth)
            self._skip_blank()
            if self.i < self.n and self.s[self.i] == ",":
                self.i += 1
            elif self.i < self.n and self.s[self.i] == "}":
                self.i += 1
                return
            else:
                raise _ScanError

    # -- strings -------------------------------------------------------------------------------
    def _basic_string(self) -> None:
        """Skip a basic string, single- or multi-line, honouring backslash escapes."""
        multi = self.s.startswith('"""', self.i)
        self.i += 3 if multi else 1
        while self.i < self.n:
            c = self.s[self.i]
            if c == "\\":
                self.i += 2
            elif multi and self.s.startswith('"""', self.i):
                self.i += 3
                self._extra_quotes('"')
                return
            elif not multi and c == '"':
                self.i += 1
                return
            elif not multi and c == "\n":
                raise _ScanError
            else:
                self.i += 1
        raise _ScanError

    def _literal_string(self) -> None:
        """Skip a literal string ('...' or '''...'''); no escapes exist inside."""
        if self.s.startswith("'''", self.i):
            end = self.s.find("'''", self.i + 3)
            if end < 0:
                raise _ScanError
            self.i = end + 3
            self._extra_quotes("'")
            return
        end = self.s.find("'", self.i + 1)
        newline = self.s.find("\n", self.i + 1)
        if end < 0 or 0 <= newline < end:
            raise _ScanError
        self.i = end + 1

    def _extra_quotes(self, quote: str) -> None:
        """A multi-line string may end with one or two quotes right before its delimiter."""
        for _ in range(2):
            if self.i < self.n and self.s[self.i] == quote:
                self.i += 1


def _decode_basic(raw: str) -> str:
    """Decode a quoted key such as "a\\u0062" with tomllib itself; fall back to its raw text."""
    try:
        value = tomllib.loads(f"k = {raw}")["k"]
    except tomllib.TOMLDecodeError:
        return raw[1:-1]
    return value if isinstance(value, str) else raw[1:-1]
