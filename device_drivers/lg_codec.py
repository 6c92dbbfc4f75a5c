"""Pure encoding/decoding of the LG display RS-232C / LAN control protocol. No I/O.

Wire format (ASCII, the same bytes on RS-232C 9600 8N1 and on TCP port 9761):
  command  ``[Command1][Command2] [Set ID] [Data]\\r``  e.g. ``ka 01 01\\r`` (power on),
           ``ka 01 ff\\r`` (read the power state: data ``ff`` reads a value)
  ack      ``[Command2] [Set ID] OK[Data]x``          e.g. ``a 01 OK01x``
  refusal  ``[Command2] [Set ID] NG[Data]x``          e.g. ``b 01 NG00x``

The Set ID is hexadecimal (ID 10 is sent as ``0a``); models with IDs above 255 use three
digits; ``00`` addresses every set on the bus. Data is hexadecimal, except for the read-only
text commands (serial number ``fy``, software version ``fz``) whose answer is ASCII text.
Command support and the meaning of codes are model-dependent; the set here is the one
common to LG signage and commercial TVs of the last decade.

Decoders are lenient about quirks seen on real sets (each noted where handled) and raise
only :class:`LgDecodeError` on anything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LG_PORT = 9761
TERMINATOR = b"\r"
REPLY_END = b"x"
READ = "ff"
MAX_SET_ID = 1000
MAX_LINE_LEN = 256

POWER = "ka"
INPUT = "xb"  # newer input select; very old sets only know "kb"
SCREEN_MUTE = "kd"
VOLUME_MUTE = "ke"
VOLUME = "kf"
SERIAL_NUMBER = "fy"
SOFTWARE_VERSION = "fz"
FAN_FAULT = "dw"
TEXT_COMMANDS = frozenset({SERIAL_NUMBER, SOFTWARE_VERSION})

# Input codes (xb data) as commonly documented for LG signage. Model-dependent: a set
# refuses (NG) codes it does not have.
INPUT_NAMES = {
    "20": "AV", "40": "Component", "60": "RGB", "70": "DVI-D (PC)", "80": "DVI-D (DTV)",
    "90": "HDMI1 (DTV)", "A0": "HDMI1 (PC)", "91": "HDMI2 (DTV)", "A1": "HDMI2 (PC)",
    "92": "OPS/HDMI3/DVI-D (DTV)", "A2": "OPS/HDMI3/DVI-D (PC)", "95": "OPS/DVI-D (DTV)",
    "A5": "OPS/DVI-D (PC)", "96": "HDMI3/DVI-D (DTV)", "A6": "HDMI3/DVI-D (PC)",
    "98": "OPS (DTV)", "A8": "OPS (PC)", "C0": "DisplayPort (DTV)", "D0": "DisplayPort (PC)",
}
# NG data: "00" (illegal code) is the one documented everywhere; some newer firmware uses
# 01 illegal code / 02 not supported / 03 busy. Kept as the refusal code, not interpreted.

_CODE = re.compile(r"^[a-z]{2}$")
_HEX_TOKEN = re.compile(r"^[0-9a-f]{1,4}$")
_SET_ID = re.compile(r"^[0-9a-fA-F]{1,3}$")
# [Command2] [Set ID] OK|NG [Data]. Quirks tolerated: any case ("A 01 ok01"), several spaces
# or tabs between fields, a space between OK/NG and the data ("a 01 OK 01").
_REPLY = re.compile(r"^([A-Za-z])[ \t]+([0-9A-Fa-f]{1,3})[ \t]+(OK|NG)[ \t]*(.*)$",
                    re.IGNORECASE | re.DOTALL | re.ASCII)
_OK_NG = re.compile(r"(OK|NG)", re.IGNORECASE | re.ASCII)
# Stripped from both ends: spaces, tabs, CR/LF left over from a CRLF line end, and NUL
# padding some serial-to-LAN adapters add.
_STRIP = " \t\r\n\x00"


class LgDecodeError(ValueError):
    """Bytes that are not a valid LG control message (of the expected kind)."""


@dataclass(frozen=True)
class Command:
    code: str  # Command1 + Command2, lower case, e.g. "ka"
    set_id: int
    data: str  # lower-case hex tokens separated by single spaces, e.g. "ff" or "02 ff"

    @property
    def is_read(self) -> bool:
        return self.data.split(" ")[-1] == READ


@dataclass(frozen=True)
class Reply:
    command2: str  # lower case, e.g. "a" for ka
    set_id: int
    ok: bool
    data: str  # as sent, whitespace and the closing "x" removed


# ---------------------------------------------------------------- set ID --------------
def format_set_id(set_id: int) -> str:
    """1 -> "01", 10 -> "0a", 300 -> "12c" (three digits only where two do not fit)."""
    if isinstance(set_id, bool) or not isinstance(set_id, int) or not 0 <= set_id <= MAX_SET_ID:
        raise ValueError(f"LG set ID must be 0..{MAX_SET_ID} (0 = all sets), got {set_id!r}")
    return f"{set_id:02x}" if set_id < 256 else f"{set_id:03x}"


def parse_set_id(text: str) -> int:
    if not _SET_ID.match(text):
        raise LgDecodeError(f"invalid set ID {text[:10]!r}")
    return int(text, 16)


# ---------------------------------------------------------------- commands ------------
def _text(line: bytes | str) -> str:
    if isinstance(line, bytes):
        line = line.decode("latin-1")
    return line.strip(_STRIP)


def encode_command(code: str, set_id: int, data: str = READ) -> bytes:
    code, data = code.lower(), " ".join(data.lower().split())
    if not _CODE.match(code):
        raise ValueError(f"LG command must be two letters (e.g. ka), got {code!r}")
    tokens = data.split(" ")
    if not data or len(tokens) > 8 or not all(_HEX_TOKEN.match(t) for t in tokens):
        raise ValueError(f"LG command data must be hex values (e.g. 01, ff), got {data[:20]!r}")
    return f"{code} {format_set_id(set_id)} {data}\r".encode("ascii")


def decode_command(line: bytes | str) -> Command:
    """Parse a controller's request (simulator side). Any case, any run of blanks."""
    fields = _text(line).lower().split()
    if len(fields) < 3 or not _CODE.match(fields[0]):
        raise LgDecodeError(f"not an LG command: {_text(line)[:40]!r}")
    if not all(_HEX_TOKEN.match(t) for t in fields[2:]):
        raise LgDecodeError(f"LG command data is not hex: {_text(line)[:40]!r}")
    return Command(code=fields[0], set_id=parse_set_id(fields[1]), data=" ".join(fields[2:]))


# ---------------------------------------------------------------- replies -------------
def encode_reply(command2: str, set_id: int, ok: bool, data: str) -> bytes:
    if len(command2) != 1 or not command2.isalpha() or not command2.isascii():
        raise ValueError(f"invalid LG reply command letter {command2!r}")
    if any(ch in data for ch in "\r\n") or not data.isascii():
        raise ValueError(f"invalid LG reply data {data[:20]!r}")
    return f"{command2} {format_set_id(set_id)} {'OK' if ok else 'NG'}{data}x".encode("ascii")


def decode_reply(line: bytes | str) -> Reply:
    """Parse ``a 01 OK01x``.

    Quirks handled: the closing ``x`` missing (replies ended by CR or CRLF instead), any
    case, extra blanks, NUL padding. A text answer that itself ends in a lower-case ``x``
    loses that character when the set also omits the closing ``x``: unavoidable, and not
    seen with real serial numbers or versions, which are upper case and digits.
    """
    text = _text(line)
    if text.endswith("x"):
        text = text[:-1]
    m = _REPLY.match(text)
    if not m:
        raise LgDecodeError(f"not an LG reply: {text[:40]!r}")
    letter, set_id, status, data = m.groups()
    if not letter.isascii():
        raise LgDecodeError(f"not an LG reply: {text[:40]!r}")
    return Reply(command2=letter.lower(), set_id=int(set_id, 16), ok=status.upper() == "OK",
                 data=data.strip(_STRIP))


def looks_complete(text: str) -> bool:
    """True once a chunk ending in ``x`` holds an OK/NG field: the ``x`` closes a reply.

    An ``x`` before that is a command letter (an echoed ``xb 01 90``) or data.
    """
    return bool(_OK_NG.search(text))


def is_echo(line: bytes | str, sent: bytes) -> bool:
    """Quirk: some RS-232 firmware echoes every received command before answering."""
    return " ".join(_text(line).lower().split()) == " ".join(_text(sent).lower().split())


# ---------------------------------------------------------------- data values ---------
def format_byte(value: int) -> str:
    if not 0 <= value <= 0xFF:
        raise ValueError(f"value {value!r} does not fit one byte")
    return f"{value:02x}"


def parse_byte(data: str) -> int:
    """``"0a"`` / ``"0A"`` -> 10. Quirk: some sets drop the leading zero (``"1"``)."""
    token = data.strip(_STRIP)
    if not re.fullmatch(r"[0-9a-fA-F]{1,2}", token):
        raise LgDecodeError(f"expected one hex byte, got {data[:20]!r}")
    return int(token, 16)


def parse_power(data: str) -> bool:
    """ka answer: 00 off (standby), 01 on."""
    value = parse_byte(data)
    if value not in (0, 1):
        raise LgDecodeError(f"unknown power state {data[:20]!r}")
    return value == 1


def normalize_input(code: str) -> str:
    """An xb input code as two upper-case hex digits (``"a0"`` -> ``"A0"``)."""
    token = code.strip()
    if not re.fullmatch(r"[0-9a-fA-F]{2}", token) or token.lower() == READ:
        raise ValueError(
            f"invalid LG input code {code!r}: two hex digits as in the LG manual, e.g. 90 = "
            f"HDMI1, 91 = HDMI2, C0 = DisplayPort / LG 输入源代码无效"
        )
    return token.upper()


def parse_input(data: str) -> str:
    try:
        return normalize_input(data.strip(_STRIP))
    except ValueError:
        raise LgDecodeError(f"invalid input code {data[:20]!r}") from None


def parse_screen_mute(data: str) -> bool:
    """kd answer -> picture muted. 00 picture on, 01 picture off; bit 4 (10/11) is the
    video-output mute of some signage models, which does not blank the screen itself."""
    return bool(parse_byte(data) & 0x01)


def format_screen_mute(muted: bool) -> str:
    return "01" if muted else "00"


def parse_volume_mute(data: str) -> bool:
    """ke answer -> sound muted. Inverted on purpose by LG: 00 = mute on, 01 = mute off."""
    value = parse_byte(data)
    if value not in (0, 1):
        raise LgDecodeError(f"unknown volume mute state {data[:20]!r}")
    return value == 0


def format_volume_mute(muted: bool) -> str:
    return "00" if muted else "01"


def parse_volume(data: str) -> int:
    value = parse_byte(data)
    if value > 100:
        raise LgDecodeError(f"volume {value} above 100")
    return value


def parse_fan(data: str) -> str | None:
    """dw answer -> "error" (00 fan fault), "ok" (01), None (02: model without a fan)."""
    value = parse_byte(data)
    if value not in (0, 1, 2):
        raise LgDecodeError(f"unknown fan status {data[:20]!r}")
    return {0: "error", 1: "ok", 2: None}[value]


def parse_text(data: str) -> str:
    """fy / fz answers: printable ASCII text (serial number, software version)."""
    text = data.strip(_STRIP)
    if not text.isascii() or not text.isprintable():
        raise LgDecodeError(f"unreadable text answer {data[:30]!r}")
    return text
