"""Byte codec of vendor command tables: hex patterns, checksums and captured reply fields.

Patterns are written as in the manuals - hex bytes, ``??`` wildcard bytes, at most one ``*`` run
and quoted ASCII text (format: docs/command-tables.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import reduce
from typing import Any

CHECKSUM_WIDTH = {"none": 0, "sum8": 1, "xor8": 1, "crc16-modbus": 2}
FIELD_FORMATS = ("uint", "uint-le", "bcd", "ascii", "ascii-int")
STAR = "*"
_TOKEN = re.compile(r'"([^"]*)"|([^\s,"]+)|(")')


class HexError(ValueError):
    """A hex string of a table cannot be read; the message says which token and why."""


# -- byte patterns ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Pattern:
    """Bytes with ``None`` for a ``??`` wildcard; ``star`` = a ``*`` run between head and tail."""

    text: str
    head: tuple[int | None, ...]
    tail: tuple[int | None, ...] = ()
    star: bool = False

    @property
    def min_length(self) -> int:
        return len(self.head) + len(self.tail)

    @property
    def literal(self) -> bytes | None:
        """The exact bytes when the pattern has no wildcard at all."""
        return None if self.star or None in self.head else bytes(self.head)  # type: ignore[arg-type]

    def positions(self) -> list[int | None | str]:
        """Head, one ``"*"`` placeholder for the run, tail: for slicing checks."""
        return [*self.head, *([STAR] if self.star else []), *self.tail]

    def matches(self, data: bytes) -> bool:
        if len(data) < self.min_length or (not self.star and len(data) != len(self.head)):
            return False
        return _fits(self.head, data[: len(self.head)]) and _fits(
            self.tail, data[len(data) - len(self.tail):])

    def may_grow_into(self, data: bytes) -> bool:
        """True when more bytes after ``data`` could still complete a match."""
        n = min(len(data), len(self.head))
        return _fits(self.head[:n], data[:n]) and (self.star or len(data) < len(self.head))


def _fits(tokens: tuple[int | None, ...], data: bytes) -> bool:
    return all(t is None or t == b for t, b in zip(tokens, data, strict=True))


def parse_pattern(text: str) -> Pattern:
    """Read ``"AA 0x01 ?? * "OK" 0D"``: hex bytes, ``??``, one ``*``, quoted ASCII text."""
    head: list[int | None] = []
    tail: list[int | None] = []
    star = False
    for m in _TOKEN.finditer(text):
        out = tail if star else head
        quoted, word = m.group(1), m.group(2)
        if m.group(3):
            raise HexError(f"unclosed quote at character {m.start() + 1}")
        if quoted is not None:
            if not quoted or not all(" " <= c <= "~" for c in quoted):
                raise HexError(f'"{quoted}" must be non-empty printable ASCII text')
            out.extend(quoted.encode("ascii"))
        elif word == "??":
            out.append(None)
        elif word == STAR:
            if star:
                raise HexError("only one * (run of any bytes) is allowed")
            star = True
        else:
            digits = word[2:] if word[:2].lower() == "0x" else word
            if not digits or len(digits) % 2 or not re.fullmatch(r"[0-9A-Fa-f]+", digits):
                raise HexError(
                    f"'{word}' is not a byte: write two hex digits per byte (0-9, A-F) such as "
                    f"0D, ?? for any byte, * for any run of bytes, or \"text\" for ASCII")
            out.extend(bytes.fromhex(digits))
    if not head and not tail:
        raise HexError("no bytes given")
    return Pattern(text, tuple(head), tuple(tail), star)


def format_hex(data: bytes) -> str:
    """b"\\xaa\\x01" -> "AA 01"."""
    return " ".join(f"{b:02X}" for b in data)


# -- checksums -------------------------------------------------------------------------------
def _crc16_modbus(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


@dataclass(frozen=True)
class Checksum:
    """``kind`` over bytes ``first`` .. before the checksum, which starts at index ``at``."""

    kind: str = "none"
    first: int = 0
    at: int = -1  # negative: counted from the end of the frame (terminator included)
    byte_order: str = "little"  # crc16 only; Modbus sends the low byte first

    @property
    def width(self) -> int:
        return CHECKSUM_WIDTH[self.kind]

    def compute(self, data: bytes) -> bytes:
        if self.kind == "sum8":
            return bytes([sum(data) & 0xFF])
        if self.kind == "xor8":
            return bytes([reduce(lambda a, b: a ^ b, data, 0)])
        if self.kind == "crc16-modbus":
            return _crc16_modbus(data).to_bytes(2, self.byte_order)  # type: ignore[arg-type]
        return b""

    def slot(self, length: int) -> int | None:
        """Index where the checksum starts in a frame of ``length`` bytes; None if it cannot."""
        start = self.at if self.at >= 0 else length + self.at
        return start if self.first <= start and start + self.width <= length else None

    def fill(self, frame: bytes) -> bytes:
        start = self.slot(len(frame)) if self.width else None
        if start is None:
            return frame
        return frame[:start] + self.compute(frame[self.first:start]) + frame[start + self.width:]

    def wrong(self, frame: bytes) -> tuple[bytes, bytes] | None:
        """(found, computed) when the frame's checksum is wrong, else None."""
        start = self.slot(len(frame)) if self.width else None
        if start is None:
            return None
        found, computed = frame[start:start + self.width], self.compute(frame[self.first:start])
        return None if found == computed else (found, computed)


# -- captured fields -------------------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    """Bytes ``frame[start:stop]`` of a reply read as a number (times ``scale``) or text."""

    name: str
    start: int
    stop: int | None
    format: str = "uint"
    scale: float = 1.0

    def take(self, frame: bytes) -> bytes:
        return frame[self.start:self.stop]

    def decode(self, frame: bytes) -> int | float | str:
        """Raises ValueError when the bytes do not hold a value of this format."""
        raw = self.take(frame)
        if not raw:
            raise ValueError(f"field {self.name} is empty in this reply")
        if self.format == "ascii":
            return raw.decode("ascii").strip(" \x00")
        if self.format == "ascii-int":
            number = int(raw.decode("ascii").strip(" \x00"))
        elif self.format == "bcd":
            digits = raw.hex()
            if not digits.isdigit():
                raise ValueError(f"field {self.name} is not BCD: {format_hex(raw)}")
            number = int(digits)
        else:
            number = int.from_bytes(raw, "little" if self.format == "uint-le" else "big")
        return number if self.scale == 1 else number * self.scale

    def encode(self, value: Any, length: int) -> bytes:
        """The ``length`` bytes that decode to ``value`` (used by the simulator)."""
        if self.format == "ascii":
            return str(value).encode("ascii")[:length].ljust(length, b" ")
        number = round(float(value) / self.scale)
        if self.format == "ascii-int":
            return str(number).rjust(length, "0")[-length:].encode("ascii")
        if self.format == "bcd":
            return bytes.fromhex(str(number).rjust(2 * length, "0")[-2 * length:])
        order = "little" if self.format == "uint-le" else "big"
        return (number % (1 << (8 * length))).to_bytes(length, order)


# -- overlapping patterns ---------------------------------------------------------------------
def patterns_overlap(a: Pattern, b: Pattern) -> bool:
    """Can one frame match both? Exact unless both have a '*' (then: ends compatible)."""
    if a.star and b.star:
        n, m = min(len(a.head), len(b.head)), min(len(a.tail), len(b.tail))
        return _compatible(a.head[:n], b.head[:n]) and _compatible(a.tail[len(a.tail) - m:],
                                                                   b.tail[len(b.tail) - m:])
    if a.star:
        a, b = b, a
    if b.star:  # a fixed-length frame against head * tail
        size = len(a.head)
        return size >= b.min_length and _compatible(a.head[: len(b.head)], b.head) and \
            _compatible(a.head[size - len(b.tail):], b.tail)
    return len(a.head) == len(b.head) and _compatible(a.head, b.head)


def _compatible(a: tuple[int | None, ...], b: tuple[int | None, ...]) -> bool:
    return all(x is None or y is None or x == y for x, y in zip(a, b, strict=True))
