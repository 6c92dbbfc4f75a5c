"""Pure encoding/decoding of the NEC large-format display external control protocol. No I/O.

Frame (the same bytes on TCP port 7142 and on RS-232C 9600 8N1)::

    SOH '0' destination source type length STX message ETX BCC CR

- destination / source: the controller is ``'0'``; monitor ID 1-100 is ``'A'`` (41h) to A4h
  (``'*'`` = all). Requests go controller -> monitor, replies monitor -> controller.
- type: ``A`` command, ``B`` its reply, ``C`` get parameter, ``D`` its reply, ``E`` set
  parameter, ``F`` its reply.
- length: bytes from STX to ETX inclusive, as two hex digits.
- BCC: XOR of every byte after SOH up to and including ETX.

Messages are ASCII hex. Get ``PPCC`` (OP code page and code), set ``PPCCVVVV``; both are
answered ``RR PPCC TT MMMM VVVV`` (result 00 = ok / 01 = unsupported, type, maximum, value).
Commands: power status ``01D6``, power control ``C203D6`` + mode, serial number ``C216``,
model name ``C217``, firmware version ``CA02`` + type, self-diagnosis ``B1``. A reply whose
message is ``BE`` is the NULL message: busy, unknown command, or a frame the monitor could
not read. OP codes and input values are model-dependent; the ones here are common to the
MultiSync large-format series.

Decoders accept quirks seen on real monitors (each noted where handled) and raise only
:class:`NecDecodeError` on anything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import reduce

NEC_PORT = 7142
SOH, STX, ETX, CR = 0x01, 0x02, 0x03, 0x0D
RESERVED = ord("0")
CONTROLLER = ord("0")
ALL_MONITORS = ord("*")
HEADER_LEN = 7  # SOH, reserved, destination, source, type, two length digits
MAX_MONITOR_ID = 100

COMMAND, COMMAND_REPLY, GET, GET_REPLY, SET, SET_REPLY = "A", "B", "C", "D", "E", "F"
REPLY_TYPE = {COMMAND: COMMAND_REPLY, GET: GET_REPLY, SET: SET_REPLY}
NULL_MESSAGE = "BE"

OP_INPUT = 0x0060
OP_VOLUME = 0x0062
OP_AUDIO_MUTE = 0x008D  # 0 unmute, 1 mute (some firmware answers 2 for unmuted)
OP_SCREEN_MUTE = 0x10B6  # 1 picture muted, 2 (or 0) picture shown; newer models only

POWER_STATUS_READ = "01D6"
POWER_CONTROL = "C203D6"
SERIAL_READ, SERIAL_REPLY = "C216", "C316"
MODEL_READ, MODEL_REPLY = "C217", "C317"
FIRMWARE_READ, FIRMWARE_REPLY = "CA02", "CB02"
DIAGNOSIS_READ, DIAGNOSIS_REPLY = "B1", "A1"
POWER_ON, POWER_STANDBY, POWER_SUSPEND, POWER_OFF = 1, 2, 3, 4

# Input values (OP 0060) as commonly documented; a monitor refuses values it does not have.
INPUT_NAMES = {
    "01": "VGA (D-Sub)", "02": "RGB/HV", "03": "DVI", "05": "Video 1", "06": "Video 2",
    "07": "S-Video", "0C": "DVD/HD 1", "0D": "Option", "0E": "DVD/HD 2", "0F": "DisplayPort",
    "10": "DisplayPort 2", "11": "HDMI 1", "12": "HDMI 2", "82": "HDMI 3", "87": "Media player",
}
# Self-diagnosis codes -> (category, level); 0xB0 "no signal" is not a fault.
DIAGNOSIS = {
    0x70: ("other", "error"), 0x71: ("other", "error"), 0x72: ("other", "error"),
    0x78: ("other", "error"), 0x80: ("fan", "error"), 0x81: ("fan", "error"),
    0x82: ("fan", "error"), 0x91: ("lamp", "error"), 0xA0: ("temperature", "error"),
    0xA1: ("temperature", "warning"), 0xA2: ("temperature", "warning"),
    0xD0: ("other", "warning"), 0xE0: ("other", "error"),
}
NOT_A_FAULT = frozenset({0x00, 0xB0})

_HEX = re.compile(r"^[0-9A-Fa-f]+$")
_LEVELS = {"ok": 0, "warning": 1, "error": 2}


class NecDecodeError(ValueError):
    """Bytes that are not a valid NEC control frame or message (of the expected kind)."""


@dataclass(frozen=True)
class Frame:
    destination: int
    source: int
    msg_type: str
    message: str  # the ASCII between STX and ETX


@dataclass(frozen=True)
class ParameterReply:
    result: int  # 0 = ok, 1 = unsupported
    op: int
    kind: int  # 0 = set parameter, 1 = momentary
    max_value: int
    value: int


# ---------------------------------------------------------------- addresses -----------
def monitor_address(monitor_id: int) -> int:
    """Monitor ID 1 -> 0x41 ('A') ... 100 -> 0xA4."""
    if isinstance(monitor_id, bool) or not isinstance(monitor_id, int) or not (
            1 <= monitor_id <= MAX_MONITOR_ID):
        raise ValueError(f"NEC monitor ID must be 1..{MAX_MONITOR_ID}, got {monitor_id!r}")
    return 0x40 + monitor_id


def monitor_id_of(address: int) -> int | None:
    """0x41 -> 1; None for the controller, '*' and group addresses."""
    return address - 0x40 if 0x41 <= address <= 0x40 + MAX_MONITOR_ID else None


# ---------------------------------------------------------------- frames --------------
def bcc(data: bytes) -> int:
    """Block check character: XOR of ``data`` (the bytes after SOH up to ETX inclusive)."""
    return reduce(lambda acc, b: acc ^ b, data, 0)


def encode_frame(destination: int, source: int, msg_type: str, message: str) -> bytes:
    if msg_type not in "ABCDEF" or len(msg_type) != 1:
        raise ValueError(f"NEC message type must be one of A-F, got {msg_type!r}")
    if not (0x20 <= destination <= 0xFF and 0x20 <= source <= 0xFF):
        raise ValueError("NEC destination/source must be printable address bytes")
    if not message.isascii() or not message.isprintable() or len(message) > 0xFD:
        raise ValueError(f"invalid NEC message {message[:20]!r}")
    body = (bytes([RESERVED, destination, source]) + msg_type.encode()
            + f"{len(message) + 2:02X}".encode() + bytes([STX]) + message.encode() + bytes([ETX]))
    return bytes([SOH]) + body + bytes([bcc(body)]) + bytes([CR])


def frame_length(header: bytes) -> int:
    """Length of the whole frame up to and including BCC (without the CR), from its header."""
    if len(header) < HEADER_LEN or header[0] != SOH or header[1] != RESERVED:
        raise NecDecodeError(f"not an NEC frame header: {header[:HEADER_LEN]!r}")
    length = header[5:7].decode("latin-1")
    # Quirk: some firmware writes the length (and other hex fields) in lower case.
    if not _HEX.match(length) or int(length, 16) < 2:
        raise NecDecodeError(f"invalid NEC message length {length!r}")
    return HEADER_LEN + int(length, 16) + 1


def decode_frame(data: bytes) -> Frame:
    """Parse one frame. Quirk: the closing CR may be missing, or be CR LF / LF."""
    total = frame_length(data)
    if len(data) < total:
        raise NecDecodeError(f"NEC frame cut short: {len(data)} of {total} bytes")
    if data[total:] not in (b"", b"\r", b"\r\n", b"\n"):
        raise NecDecodeError(f"unexpected bytes after the NEC frame: {data[total:][:10]!r}")
    if data[HEADER_LEN] != STX or data[total - 2] != ETX:
        raise NecDecodeError("NEC frame without STX/ETX where its length says")
    if bcc(data[1:total - 1]) != data[total - 1]:
        raise NecDecodeError(
            f"NEC checksum mismatch: got {data[total - 1]:02X}h, computed "
            f"{bcc(data[1:total - 1]):02X}h")
    msg_type = chr(data[4])
    message = data[HEADER_LEN + 1:total - 2].decode("latin-1")
    if msg_type not in "ABCDEF" or not message.isascii() or not message.isprintable():
        raise NecDecodeError(f"invalid NEC message type/content {msg_type!r} {message[:20]!r}")
    return Frame(destination=data[2], source=data[3], msg_type=msg_type, message=message)


def take_frame(buf: bytearray) -> bytes | None:
    """Cut the first complete frame (SOH .. BCC) off a receive buffer, for a reader that
    gets a byte stream. Bytes before SOH are dropped; None = wait for more bytes; b"" = a
    stray SOH was dropped, call again."""
    start = buf.find(bytes([SOH]))
    if start < 0:
        buf.clear()
        return None
    del buf[:start]
    if len(buf) < HEADER_LEN:
        return None
    try:
        total = frame_length(bytes(buf[:HEADER_LEN]))
    except NecDecodeError:
        del buf[:1]
        return b""
    if len(buf) < total:
        return None
    frame = bytes(buf[:total])
    del buf[:total]
    return frame


# ---------------------------------------------------------------- hex fields ----------
def parse_hex(text: str, what: str = "value") -> int:
    """ASCII hex -> int, any case (quirk: lower-case digits); nothing else (no 0x, +, _)."""
    if not _HEX.match(text):
        raise NecDecodeError(f"invalid NEC {what} {text[:20]!r}")
    return int(text, 16)


def encode_get(op: int) -> str:
    return f"{op:04X}"


def encode_set(op: int, value: int) -> str:
    if not (0 <= op <= 0xFFFF and 0 <= value <= 0xFFFF):
        raise ValueError(f"NEC OP code and value must be 0..FFFF, got {op!r}/{value!r}")
    return f"{op:04X}{value:04X}"


def decode_get(message: str) -> int:
    if len(message) != 4:
        raise NecDecodeError(f"invalid NEC get request {message[:20]!r}")
    return parse_hex(message, "OP code")


def decode_set(message: str) -> tuple[int, int]:
    if len(message) != 8:
        raise NecDecodeError(f"invalid NEC set request {message[:20]!r}")
    return parse_hex(message[:4], "OP code"), parse_hex(message[4:], "value")


def encode_parameter_reply(reply: ParameterReply) -> str:
    return (f"{reply.result:02X}{reply.op:04X}{reply.kind:02X}{reply.max_value:04X}"
            f"{reply.value:04X}")


def decode_parameter_reply(message: str) -> ParameterReply:
    if len(message) != 16:
        raise NecDecodeError(f"invalid NEC parameter reply {message[:20]!r}")
    parts = (message[0:2], message[2:6], message[6:8], message[8:12], message[12:16])
    result, op, kind, max_value, value = (parse_hex(p, "parameter reply") for p in parts)
    return ParameterReply(result, op, kind, max_value, value)


# ---------------------------------------------------------------- commands ------------
def encode_power_status_reply(mode: int, result: int = 0) -> str:
    return f"02{result:02X}D6000004{mode:04X}"


def decode_power_status_reply(message: str) -> tuple[int, int]:
    """``0200D6000004000X`` -> (result, mode); mode 1 on, 2 standby, 3 suspend, 4 off."""
    if len(message) != 16 or message[:2] != "02" or message[4:6].upper() != "D6":
        raise NecDecodeError(f"invalid NEC power status reply {message[:20]!r}")
    return parse_hex(message[2:4], "result"), parse_hex(message[12:16], "power mode")


def encode_power_control(mode: int) -> str:
    return f"{POWER_CONTROL}{mode:04X}"


def encode_power_control_reply(mode: int, result: int = 0) -> str:
    return f"{result:02X}{POWER_CONTROL}{mode:04X}"


def decode_power_control_reply(message: str) -> tuple[int, int]:
    if len(message) != 12 or message[2:8].upper() != POWER_CONTROL:
        raise NecDecodeError(f"invalid NEC power control reply {message[:20]!r}")
    return parse_hex(message[:2], "result"), parse_hex(message[8:], "power mode")


def encode_text_reply(prefix: str, text: str) -> str:
    """Serial number / model name: each character as two hex digits, NUL-terminated."""
    return prefix + "".join(f"{b:02X}" for b in text.encode("ascii")) + "00"


def decode_text_reply(prefix: str, message: str) -> str:
    if message[:4].upper() != prefix or len(message) % 2:
        raise NecDecodeError(f"invalid NEC text reply {message[:20]!r}")
    chars = []
    for i in range(4, len(message), 2):
        code = parse_hex(message[i:i + 2], "text")
        if code == 0:
            break  # NUL ends the text; fixed-size fields are NUL-padded
        chars.append(chr(code))
    text = "".join(chars).strip()
    if not text.isascii() or not text.isprintable():
        raise NecDecodeError(f"unreadable NEC text {text[:20]!r}")
    return text


def encode_firmware_read(fw_type: int = 0) -> str:
    return f"{FIRMWARE_READ}{fw_type:02X}"


def encode_firmware_reply(version: str, fw_type: int = 0, result: int = 0) -> str:
    """Unlike serial/model, the version comes as plain ASCII after result and type."""
    return f"{FIRMWARE_REPLY}{result:02X}{fw_type:02X}{version}"


def decode_firmware_reply(message: str) -> tuple[int, int, str]:
    """-> (result, firmware type, version)."""
    if len(message) < 8 or message[:4].upper() != FIRMWARE_REPLY:
        raise NecDecodeError(f"invalid NEC firmware reply {message[:20]!r}")
    return (parse_hex(message[4:6], "result"), parse_hex(message[6:8], "firmware type"),
            message[8:].strip())


def encode_diagnosis_reply(codes: list[int]) -> str:
    return DIAGNOSIS_REPLY + "".join(f"{c:02X}" for c in (codes or [0]))


def decode_diagnosis_reply(message: str) -> list[int]:
    if message[:2].upper() != DIAGNOSIS_REPLY or len(message) < 4 or len(message) % 2:
        raise NecDecodeError(f"invalid NEC self-diagnosis reply {message[:20]!r}")
    return [parse_hex(message[i:i + 2], "diagnosis code") for i in range(2, len(message), 2)]


def diagnosis_status(codes: list[int]) -> dict[str, str]:
    """Self-diagnosis codes -> {category: worst level}. Unknown codes count as "other"
    warnings; "normal" and "no signal" are not faults."""
    status: dict[str, str] = {}
    for code in codes:
        if code in NOT_A_FAULT:
            continue
        category, level = DIAGNOSIS.get(code, ("other", "warning"))
        if _LEVELS[level] > _LEVELS[status.get(category, "ok")]:
            status[category] = level
    return status


def format_input(value: int) -> str:
    """OP 0060 value -> input code: two hex digits (``"11"`` = HDMI 1), four above FFh."""
    return f"{value:02X}" if value <= 0xFF else f"{value:04X}"


def parse_input_code(code: str) -> int:
    token = code.strip()
    if not re.fullmatch(r"[0-9A-Fa-f]{1,4}", token) or int(token, 16) == 0:
        raise ValueError(
            f"invalid NEC input code {code!r}: the hex value from the NEC manual, e.g. 11 = "
            f"HDMI 1, 12 = HDMI 2, 0F = DisplayPort / NEC 输入源代码无效"
        )
    return int(token, 16)
