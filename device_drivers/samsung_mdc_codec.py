"""Pure encoding/decoding of Samsung MDC (Multiple Display Control) frames. No I/O.

Wire format (binary; TCP port 1515 or RS-232 9600 8N1):
  request  ``AA cmd id len data... chk``
  reply    ``AA FF id len ack rcmd value... chk`` with ack ``'A'`` (0x41) or ``'N'`` (0x4E);
           ``len`` counts ack + rcmd + values; a NAK carries one error-code byte as value
  checksum sum of every byte after the 0xAA header, modulo 256

Display id 0x00-0xFD addresses one display, 0xFE every display on the link (broadcast).
Decoders raise only :class:`MdcDecodeError`. Field parsers are lenient about quirks seen on
real displays; each is commented where handled.
"""

from __future__ import annotations

from dataclasses import dataclass

MDC_PORT = 1515
HEADER = 0xAA
REPLY_CMD = 0xFF
ACK = 0x41  # 'A'
NAK = 0x4E  # 'N'
BROADCAST_ID = 0xFE
MAX_DATA = 255
MIN_REPLY_LEN = 7  # AA FF id len ack rcmd chk
# Sent right after connecting by displays with "secured protocol" enabled: they expect a TLS
# handshake and a PIN instead of plain frames.
TLS_BANNER = b"MDCSTART<<TLS>>"

CMD_STATUS = 0x00
CMD_SERIAL = 0x0B
CMD_ERROR_STATUS = 0x0D
CMD_SW_VERSION = 0x0E
CMD_MODEL_NUMBER = 0x10
CMD_POWER = 0x11
CMD_VOLUME = 0x12
CMD_MUTE = 0x13
CMD_INPUT = 0x14
CMD_SCREEN_SIZE = 0x19
CMD_DEVICE_NAME = 0x67
CMD_MODEL_NAME = 0x8A
CMD_PANEL = 0xF9  # panel (backlight) on/off while the display stays on: MDC's picture mute

COMMAND_NAMES = {
    CMD_STATUS: "status", CMD_SERIAL: "serial number", CMD_ERROR_STATUS: "error status",
    CMD_SW_VERSION: "software version", CMD_MODEL_NUMBER: "model number", CMD_POWER: "power",
    CMD_VOLUME: "volume", CMD_MUTE: "mute", CMD_INPUT: "input source",
    CMD_SCREEN_SIZE: "screen size", CMD_DEVICE_NAME: "device name",
    CMD_MODEL_NAME: "model name", CMD_PANEL: "panel on/off",
}

INPUT_SOURCES = {
    0x04: "S-Video", 0x08: "Component", 0x0C: "AV", 0x0D: "AV2", 0x0E: "SCART", 0x14: "PC",
    0x18: "DVI", 0x1E: "BNC", 0x1F: "DVI (video)", 0x20: "MagicInfo", 0x21: "HDMI1",
    0x22: "HDMI1 (PC)", 0x23: "HDMI2", 0x24: "HDMI2 (PC)", 0x25: "DisplayPort1",
    0x26: "DisplayPort2", 0x27: "DisplayPort3", 0x31: "HDMI3", 0x32: "HDMI3 (PC)",
    0x33: "HDMI4", 0x34: "HDMI4 (PC)", 0x40: "TV", 0x55: "HDBaseT", 0x60: "MagicInfo S",
    0x61: "Screen mirroring", 0x62: "Internal USB", 0x63: "URL launcher", 0x64: "Whiteboard",
    0x65: "Web browser", 0x66: "Remote workspace",
}
# Get-only codes a display reports for the same physical port when it carries a PC signal
# (or DVI carrying video): they name the port the client selected with the base code.
INPUT_ALIASES = {0x22: 0x21, 0x24: 0x23, 0x32: 0x31, 0x34: 0x33, 0x1F: 0x18}

POWER_STATES = {0x00: "off", 0x01: "on", 0x02: "reboot"}
MODEL_SPECIES = {0x01: "PDP", 0x02: "LCD", 0x03: "DLP", 0x04: "LED", 0x05: "CRT", 0x06: "OLED"}
UNAVAILABLE = 0xFF  # volume/mute of models without audio


class MdcDecodeError(ValueError):
    """Bytes that are not a valid MDC frame (of the expected kind)."""


@dataclass(frozen=True)
class Request:
    cmd: int
    display_id: int
    data: bytes = b""


@dataclass(frozen=True)
class Reply:
    display_id: int
    ack: bool
    rcmd: int
    data: bytes = b""

    @property
    def error_code(self) -> int | None:
        """The NAK error-code byte; None for an ACK."""
        if self.ack:
            return None
        return self.data[0] if self.data else None


@dataclass(frozen=True)
class Status:
    """Answer to the 0x00 status query."""

    power: int
    volume: int | None  # None: the model has no audio
    mute: bool | None
    input: int
    aspect: int | None


# ---------------------------------------------------------------- frames --------------
def checksum(body: bytes) -> int:
    """Sum of the bytes after the 0xAA header (without the checksum byte), modulo 256."""
    return sum(body) & 0xFF


def _byte(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFF:
        raise ValueError(f"MDC {what} must be a byte 0-255, got {value!r}")
    return value


def _frame(cmd: int, display_id: int, data: bytes) -> bytes:
    if len(data) > MAX_DATA:
        raise ValueError(f"MDC data is limited to {MAX_DATA} bytes, got {len(data)}")
    body = bytes([cmd, display_id, len(data)]) + data
    return bytes([HEADER]) + body + bytes([checksum(body)])


def encode_request(cmd: int, display_id: int, data: bytes | list[int] = b"") -> bytes:
    """A request frame. ``display_id`` 0xFE is the broadcast id; 0xFF is not a valid id."""
    _byte(cmd, "command")
    if _byte(display_id, "display id") == REPLY_CMD:
        raise ValueError("MDC display id 0xFF is reserved; use 0-253, or 254 (0xFE) for all")
    if cmd == REPLY_CMD:
        raise ValueError("MDC command 0xFF is the reply marker, not a request")
    return _frame(cmd, display_id, bytes(data))


def encode_reply(display_id: int, rcmd: int, data: bytes | list[int] = b"",
                 ack: bool = True) -> bytes:
    """A reply frame; for a NAK ``data`` is the one error-code byte."""
    _byte(display_id, "display id")
    _byte(rcmd, "command")
    data = bytes(data)
    if not ack and len(data) != 1:
        raise ValueError("an MDC NAK carries exactly one error-code byte")
    return _frame(REPLY_CMD, display_id, bytes([ACK if ack else NAK, rcmd]) + data)


def frame_length(header: bytes) -> int:
    """Total frame length from its first 4 bytes (``AA cmd id len``)."""
    if len(header) < 4 or header[0] != HEADER:
        raise MdcDecodeError(f"not an MDC frame header: {header[:4].hex(' ')}")
    return 5 + header[3]


def _check(frame: bytes) -> None:
    if len(frame) < 5 or frame[0] != HEADER:
        raise MdcDecodeError(f"not an MDC frame: {_show(frame)}")
    if len(frame) != frame_length(frame):
        raise MdcDecodeError(
            f"MDC frame length {len(frame)} does not match its length byte: {_show(frame)}")
    if checksum(frame[1:-1]) != frame[-1]:
        raise MdcDecodeError(
            f"MDC checksum mismatch (got 0x{frame[-1]:02X}, expected "
            f"0x{checksum(frame[1:-1]):02X}): {_show(frame)}")


def decode_request(frame: bytes) -> Request:
    """Parse a complete request frame (simulator side)."""
    _check(frame)
    if frame[1] == REPLY_CMD:
        raise MdcDecodeError(f"an MDC reply, not a request: {_show(frame)}")
    return Request(cmd=frame[1], display_id=frame[2], data=bytes(frame[4:-1]))


def decode_reply(frame: bytes) -> Reply:
    """Parse a complete reply frame (driver side)."""
    _check(frame)
    if frame[1] != REPLY_CMD:
        raise MdcDecodeError(f"not an MDC reply (command byte 0x{frame[1]:02X}): {_show(frame)}")
    if frame[3] < 2:
        raise MdcDecodeError(f"MDC reply without ack and command bytes: {_show(frame)}")
    if frame[4] not in (ACK, NAK):
        raise MdcDecodeError(f"MDC reply is neither ACK nor NAK: {_show(frame)}")
    return Reply(display_id=frame[2], ack=frame[4] == ACK, rcmd=frame[5], data=bytes(frame[6:-1]))


def take_frame(buffer: bytes) -> tuple[bytes | None, int]:
    """Cut the first complete frame from a byte stream: ``(frame or None, bytes consumed)``.

    Bytes before the first 0xAA are consumed as noise. With only part of a frame buffered,
    returns ``(None, n)`` where ``n`` counts the noise that may be dropped. The frame is not
    validated: pass it to :func:`decode_request` / :func:`decode_reply`.
    """
    start = buffer.find(bytes([HEADER]))
    if start < 0:
        return None, len(buffer)
    if len(buffer) - start < 4:
        return None, start
    end = start + 5 + buffer[start + 3]
    if len(buffer) < end:
        return None, start
    return bytes(buffer[start:end]), end


def _show(frame: bytes) -> str:
    text = frame[:24].hex(" ")
    return text + (" ..." if len(frame) > 24 else "")


# ---------------------------------------------------------------- field values --------
def _need(data: bytes, n: int, what: str) -> None:
    if len(data) < n:
        raise MdcDecodeError(f"MDC {what} answer too short: {data.hex(' ') or 'no data'}")


def parse_text(data: bytes) -> str:
    """String fields (serial, model name, software version, device name).

    Quirk: displays pad these to a fixed width with NULs and/or spaces; bytes that are not
    UTF-8 are kept as replacement characters rather than refused.
    """
    return data.decode("utf-8", errors="replace").strip(" \x00\r\n\t")


def parse_power(data: bytes) -> str:
    """``"off"``, ``"on"`` or ``"reboot"``."""
    _need(data, 1, "power")
    if data[0] not in POWER_STATES:
        raise MdcDecodeError(f"unknown MDC power state 0x{data[0]:02X}")
    return POWER_STATES[data[0]]


def parse_flag(data: bytes, what: str) -> bool | None:
    """0 -> False, 1 -> True; 0xFF (models without audio) -> None."""
    _need(data, 1, what)
    if data[0] == UNAVAILABLE:
        return None
    if data[0] not in (0, 1):
        raise MdcDecodeError(f"unknown MDC {what} state 0x{data[0]:02X}")
    return data[0] == 1


def parse_byte(data: bytes, what: str) -> int:
    _need(data, 1, what)
    return data[0]


def canonical_input(code: int) -> int:
    """Quirk: map get-only "PC signal" variants (HDMI1 PC 0x22 ...) to the port's set code."""
    return INPUT_ALIASES.get(code, code)


def format_input(code: int) -> str:
    """Input codes as :class:`DisplayControl` passes them: two upper-case hex digits."""
    return f"{_byte(code, 'input code'):02X}"


def parse_input_code(text: str) -> int:
    """``"21"``, ``"0x21"`` or a name (``"HDMI1"``, ``"DisplayPort1"``) -> 0x21.

    Raises ValueError (not MdcDecodeError: this is the caller's argument) when unknown.
    """
    key = text.strip()
    by_name = {name.replace(" ", "").lower(): code for code, name in INPUT_SOURCES.items()}
    squeezed = key.replace(" ", "").lower()
    if squeezed in by_name:
        return by_name[squeezed]
    digits = key[2:] if key.lower().startswith("0x") else key
    if 1 <= len(digits) <= 2 and all(c in "0123456789abcdefABCDEF" for c in digits):
        return int(digits, 16)
    raise ValueError(
        f"invalid Samsung MDC input code {text!r}: two hex digits (e.g. 21 = HDMI1, 23 = HDMI2, "
        f"25 = DisplayPort) or a name such as HDMI1 / MDC 输入源代码无效（如 21 = HDMI1）")


def parse_status(data: bytes) -> Status:
    """0x00 status: power, volume, mute, input, aspect[, on/off timer flags].

    Quirks: newer firmware appends further bytes (ignored); some models stop after the input
    byte (aspect None); models without audio report 0xFF for volume and mute (None).
    """
    _need(data, 4, "status")
    return Status(
        power=data[0], volume=None if data[1] == UNAVAILABLE else data[1],
        mute=None if data[2] == UNAVAILABLE else data[2] == 1, input=data[3],
        aspect=data[4] if len(data) > 4 else None,
    )


def parse_error_status(data: bytes) -> dict[str, str]:
    """0x0D: lamp, temperature, brightness sensor, no-sync, temperature value, fan.

    Mapped to the display-neutral categories: lamp/temperature/fan error -> "error", a failed
    brightness sensor -> "other" warning; "no sync" (no input signal) is not a fault. Flat
    panels have no cover or filter: reported "ok". Quirk: older models omit the fan byte.
    """
    _need(data, 2, "error status")
    status = dict.fromkeys(("fan", "lamp", "temperature", "cover", "filter", "other"), "ok")
    if data[0] == 1:
        status["lamp"] = "error"
    if data[1] == 1:
        status["temperature"] = "error"
    if len(data) > 2 and data[2] == 1:
        status["other"] = "warning"
    if len(data) > 5 and data[5] == 1:
        status["fan"] = "error"
    return status


def parse_model_number(data: bytes) -> tuple[str, int, bool]:
    """0x10: (species name, model code, TV tuner supported)."""
    _need(data, 2, "model number")
    species = MODEL_SPECIES.get(data[0], f"0x{data[0]:02X}")
    return species, data[1], len(data) > 2 and data[2] == 0


def parse_screen_size(data: bytes) -> int | None:
    """0x19: diagonal in inches. Quirk: models that do not know their size answer 0 -> None."""
    inches = parse_byte(data, "screen size")
    return inches or None
