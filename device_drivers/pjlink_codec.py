"""Pure encoding/decoding of PJLink Class 1 (v1.04) and Class 2 (v2.00+) messages. No I/O.

Wire format (ASCII, terminated by CR):
  greeting   ``PJLINK 0`` (no authentication) or ``PJLINK 1 <8 hex chars>`` (authentication)
  command    ``%`` class body SP param, e.g. ``%1POWR ?`` / ``%2INPT 6A``
  response   ``%`` class body ``=`` data, e.g. ``%1POWR=1`` / ``%1INPT=ERR3``
  auth error ``PJLINK ERRA``

Decoders are lenient about quirks seen on real devices (each noted where handled) and raise
only :class:`PjlinkDecodeError` on anything else.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

PJLINK_PORT = 4352
TERMINATOR = b"\r"
MAX_PARAM_LEN = 128
MAX_LINE_LEN = 512  # generous: longest legal line is ~140 bytes, plus a 32-char digest

CLASS1_BODIES = frozenset(
    {"POWR", "INPT", "AVMT", "ERST", "LAMP", "INST", "NAME", "INF1", "INF2", "INFO", "CLSS"}
)
CLASS2_BODIES = frozenset(
    {"SNUM", "SVER", "INNM", "IRES", "RRES", "FILT", "RLMP", "RFIL", "FREZ", "SVOL", "MVOL"}
)
# Class 2 re-defines these class 1 commands with a wider parameter range.
CLASS2_EXTENDED = frozenset({"INPT", "INST"})

ERROR_CODES = ("ERR1", "ERR2", "ERR3", "ERR4")
POWER_CODES = {"0": "off", "1": "on", "2": "cooling", "3": "warming"}
INPUT_TYPES = {"1": "RGB", "2": "VIDEO", "3": "DIGITAL", "4": "STORAGE", "5": "NETWORK",
               "6": "INTERNAL"}
ERROR_CATEGORIES = ("fan", "lamp", "temperature", "cover", "filter", "other")
ERROR_LEVELS = {"0": "ok", "1": "warning", "2": "error"}
ERROR_LEVEL_CODES = {v: k for k, v in ERROR_LEVELS.items()}

_BODY = re.compile(r"^[A-Z0-9]{4}$")
_DIGITS = re.compile(r"^[0-9]{1,6}$")
_DIGEST = re.compile(r"^[0-9a-fA-F]{32}")
_RESOLUTION = re.compile(r"^([0-9]{1,5}) *[xX] *([0-9]{1,5})$")
# Stripped from both ends of every line: spaces, tabs, LF left over from a CRLF terminator,
# and NUL padding (some network modules pad replies to a fixed size with NULs).
_STRIP = " \t\r\n\x00"


class PjlinkDecodeError(ValueError):
    """Bytes that are not a valid PJLink message (of the expected kind)."""


@dataclass(frozen=True)
class Greeting:
    auth: bool
    salt: str | None = None


@dataclass(frozen=True)
class Command:
    pj_class: int
    body: str
    param: str
    digest: str | None = None  # 32 hex chars prefixed on the first command when authenticating

    @property
    def is_query(self) -> bool:
        return self.param.startswith("?")


@dataclass(frozen=True)
class Response:
    pj_class: int
    body: str
    data: str

    @property
    def error(self) -> str | None:
        """``"ERR1"``..``"ERR4"`` if the device refused the command, else None."""
        code = self.data.upper()
        return code if code in ERROR_CODES else None

    @property
    def ok(self) -> bool:
        return self.data.upper() == "OK"


# ---------------------------------------------------------------- authentication -------
def new_salt() -> str:
    """A fresh random 8-hex-character authentication challenge."""
    return secrets.token_hex(4)


def auth_digest(salt: str, password: str) -> str:
    """PJLink authentication: lowercase hex MD5 of the challenge followed by the password."""
    return hashlib.md5((salt + password).encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- lines ---------------
def _text(line: bytes | str) -> str:
    if isinstance(line, bytes):
        line = line.decode("utf-8", errors="replace")
    return line.strip(_STRIP)


def encode_greeting(salt: str | None) -> bytes:
    return (f"PJLINK 1 {salt}\r" if salt is not None else "PJLINK 0\r").encode("ascii")


def decode_greeting(line: bytes | str) -> Greeting:
    # Quirks: trailing spaces after "PJLINK 0", lowercase "pjlink", LF/CRLF terminators.
    text = _text(line)
    parts = text.split()
    if len(parts) < 2 or parts[0].upper() != "PJLINK":
        raise PjlinkDecodeError(f"not a PJLink greeting: {text[:40]!r}")
    if parts[1] == "0" and len(parts) == 2:
        return Greeting(auth=False)
    salt = parts[2] if len(parts) == 3 else ""
    if parts[1] == "1" and 0 < len(salt) <= 32 and salt.isascii() and salt.isprintable():
        return Greeting(auth=True, salt=salt)
    raise PjlinkDecodeError(f"unrecognised PJLink greeting: {text[:40]!r}")


def is_auth_error(line: bytes | str) -> bool:
    """True for ``PJLINK ERRA`` (password missing or wrong)."""
    return " ".join(_text(line).upper().split()) == "PJLINK ERRA"


def encode_command(body: str, param: str = "?", pj_class: int = 1, digest: str | None = None
                   ) -> bytes:
    body = body.upper()
    if pj_class not in (1, 2):
        raise ValueError(f"PJLink class must be 1 or 2, got {pj_class!r}")
    if not _BODY.match(body):
        raise ValueError(f"PJLink command body must be 4 letters/digits, got {body!r}")
    if not param or len(param) > MAX_PARAM_LEN or "\r" in param or param != param.strip():
        raise ValueError(f"invalid PJLink parameter {param[:20]!r}")
    prefix = digest or ""
    return f"{prefix}%{pj_class}{body} {param}\r".encode()


def decode_command(line: bytes | str) -> Command:
    """Parse a client request (simulator side), with an optional auth digest prefix."""
    text = _text(line)
    digest = None
    if _DIGEST.match(text) and text[32:33] == "%":
        digest, text = text[:32].lower(), text[32:]
    if len(text) < 7 or text[0] != "%" or text[1] not in "12":
        raise PjlinkDecodeError(f"not a PJLink command: {text[:40]!r}")
    body = text[2:6].upper()
    if not _BODY.match(body) or text[6] != " ":
        raise PjlinkDecodeError(f"malformed PJLink command: {text[:40]!r}")
    return Command(pj_class=int(text[1]), body=body, param=text[7:], digest=digest)


def encode_response(body: str, data: str, pj_class: int = 1) -> bytes:
    if pj_class not in (1, 2) or not _BODY.match(body.upper()):
        raise ValueError(f"invalid PJLink response header {pj_class!r}/{body!r}")
    return f"%{pj_class}{body.upper()}={data}\r".encode()


def decode_response(line: bytes | str) -> Response:
    """Parse a device reply ``%<class><BODY>=<data>``.

    Quirks handled: lowercase replies (``%1powr=ok``) - the body is upper-cased and OK/ERRn are
    compared case-insensitively; leading/trailing whitespace and NULs; LF or CRLF terminators.
    The class digit is returned as sent; callers must not insist it equals the request's,
    because some Class 2 devices answer Class 2 queries of Class 1 commands with ``%1``.
    """
    text = _text(line)
    if len(text) < 7 or text[0] != "%" or text[1] not in "12":
        raise PjlinkDecodeError(f"not a PJLink reply: {text[:40]!r}")
    body = text[2:6].upper()
    if not _BODY.match(body) or text[6] != "=":
        raise PjlinkDecodeError(f"malformed PJLink reply: {text[:40]!r}")
    return Response(pj_class=int(text[1]), body=body, data=text[7:].strip(_STRIP))


# ---------------------------------------------------------------- parameter data ------
def parse_power(data: str) -> str:
    """``"0"``..``"3"`` -> "off" / "on" / "cooling" / "warming"."""
    if data not in POWER_CODES:
        raise PjlinkDecodeError(f"unknown power state {data[:20]!r}")
    return POWER_CODES[data]


def is_input_code(code: str, pj_class: int = 2) -> bool:
    """Class 1: type 1-5, number 1-9. Class 2: type 1-6, number 1-9 or A-Z."""
    if len(code) != 2:
        return False
    kind, number = code[0], code[1]
    if pj_class == 1:
        return kind in "12345" and number in "123456789"
    return kind in "123456" and (number in "123456789" or "A" <= number <= "Z")


def parse_input(data: str, pj_class: int = 2) -> str:
    # Quirk: some devices report class 2 input numbers in lowercase ("6a").
    code = data.upper()
    if not is_input_code(code, pj_class):
        raise PjlinkDecodeError(f"invalid input code {data[:20]!r}")
    return code


def parse_input_list(data: str, pj_class: int = 2) -> list[str]:
    # Quirk: repeated spaces between codes; an empty list from displays with no inputs
    # reported over PJLink.
    return [parse_input(c, pj_class) for c in data.split()]


def format_mute(video: bool, audio: bool) -> str:
    """Query answer for a mute state: 11 video, 21 audio, 31 both, 30 neither."""
    if video and audio:
        return "31"
    if video:
        return "11"
    if audio:
        return "21"
    return "30"


def parse_mute(data: str) -> tuple[bool, bool]:
    """AVMT answer -> (video_muted, audio_muted).

    Also accepts 10 and 20 (seen on devices that echo the last set value) as "not muted".
    """
    table = {"11": (True, False), "21": (False, True), "31": (True, True), "30": (False, False),
             "10": (False, False), "20": (False, False)}
    if data not in table:
        raise PjlinkDecodeError(f"unknown mute state {data[:20]!r}")
    return table[data]


def format_error_status(status: dict[str, str]) -> str:
    return "".join(ERROR_LEVEL_CODES[status.get(c, "ok")] for c in ERROR_CATEGORIES)


def parse_error_status(data: str) -> dict[str, str]:
    if len(data) != 6 or any(ch not in ERROR_LEVELS for ch in data):
        raise PjlinkDecodeError(f"invalid error status {data[:20]!r}")
    return {cat: ERROR_LEVELS[ch] for cat, ch in zip(ERROR_CATEGORIES, data, strict=True)}


def format_lamps(lamps: list[tuple[int, bool]]) -> str:
    return " ".join(f"{hours} {int(lit)}" for hours, lit in lamps)


def parse_lamps(data: str) -> list[tuple[int, bool]]:
    """``"1200 1 300 0"`` -> [(1200, True), (300, False)].

    Quirk: extra/irregular whitespace between the numbers is accepted.
    """
    fields = data.split()
    if not fields or len(fields) % 2 or len(fields) > 16:
        raise PjlinkDecodeError(f"invalid lamp data {data[:40]!r}")
    lamps = []
    for hours, lit in zip(fields[::2], fields[1::2], strict=True):
        if not _DIGITS.match(hours) or lit not in ("0", "1"):
            raise PjlinkDecodeError(f"invalid lamp data {data[:40]!r}")
        lamps.append((int(hours), lit == "1"))
    return lamps


def format_resolution(resolution: tuple[int, int] | None, no_signal: str = "-") -> str:
    return no_signal if resolution is None else f"{resolution[0]}x{resolution[1]}"


def parse_resolution(data: str) -> tuple[int, int] | None:
    """``"1920x1080"`` -> (1920, 1080); ``"-"`` (no signal) and ``"*"`` (unknown) -> None.

    Quirk: an upper-case ``X`` or spaces around it are accepted.
    """
    if data in ("-", "*"):
        return None
    m = _RESOLUTION.match(data)
    if not m:
        raise PjlinkDecodeError(f"invalid resolution {data[:20]!r}")
    return int(m.group(1)), int(m.group(2))
