"""LG large-format display / commercial TV client implementing :class:`DisplayControl`.

Speaks the LG RS-232C protocol (see :mod:`lg_codec`) over a serial port (9600 8N1 by
default) or over TCP port 9761 ("LAN control", same bytes). Every reply is checked against
the request: its command letter and, unless the set ID is 0 (all sets), the set ID.

Connection handling mirrors the PJLink driver: a reused connection found closed is reopened
once for free, then ``retries`` further attempts follow a timeout or dropped connection.
Refusals (NG) and protocol errors are not retried.

What LG does not offer, this driver does not invent: there is no query for the input list
(give ``inputs`` from the rig, otherwise only the current input is listed), the native or
input resolution, the screen size, lamp hours or the model name; those answer None / empty.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from classcert.device_drivers import lg_codec as codec
from classcert.device_drivers.display import DisplayIdentity, MuteState, PowerState
from classcert.device_drivers.errors import (
    DeviceCommandError,
    DeviceDisconnected,
    DeviceError,
    DeviceFailure,
    DeviceProtocolError,
    DeviceTimeout,
)
from classcert.device_drivers.transport import Transport, open_transport

_MAX_LINES = 8  # echoes and empty lines tolerated before a reply
_BLANK = b" \t\r\n\x00"


class LgDisplay:
    """An LG display addressed by ``set_id`` (1-1000, 0 = every set on the bus)."""

    def __init__(
        self, address: str, set_id: int = 1, password: str | None = None, timeout: float = 5.0,
        retries: int = 1, baudrate: int = 9600, inputs: Sequence[str] | None = None,
    ) -> None:
        if password is not None:
            raise ValueError(
                "the LG control protocol has no password: remove password_env from this device "
                "in the rig file / LG 控制协议没有密码：请删除机房配置中该设备的 password_env"
            )
        if timeout <= 0 or retries < 0:
            raise ValueError("timeout must be > 0 and retries >= 0")
        codec.format_set_id(set_id)  # validates
        self.address = address
        self.set_id = set_id
        self.timeout = timeout
        self.retries = retries
        self.baudrate = baudrate
        self.inputs = None if inputs is None else [codec.normalize_input(c) for c in inputs]
        self._transport: Transport | None = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"LgDisplay({self.address!r}, set_id={self.set_id})"

    # -------------------------------------------------------------- connection ---------
    def connect(self) -> None:
        """Open the link and check that the display answers (reads the power state)."""
        self.get_power()

    def close(self) -> None:
        with self._lock:
            self._drop()

    def __enter__(self) -> LgDisplay:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _drop(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()

    def _ensure_open(self) -> tuple[Transport, bool]:
        """Return (transport, freshly_opened)."""
        if self._transport is not None and self._transport.is_open:
            return self._transport, False
        self._drop()
        self._transport = open_transport(self.address, self.timeout, default_port=codec.LG_PORT,
                                         baudrate=self.baudrate)
        return self._transport, True

    # -------------------------------------------------------------- requests -----------
    def request(self, code: str, data: str = codec.READ) -> str:
        """Send one command (``"ka"``, ``"01"``) and return the OK data (``"01"``).

        Raises DeviceCommandError (code ``"NG<data>"``) when the display answers NG.
        """
        sent = codec.encode_command(code, self.set_id, data)
        command = sent.decode().strip()
        with self._lock:
            attempts_left = self.retries + 1
            free_reconnect = True
            while True:
                fresh = True  # stays True if opening a new connection fails
                try:
                    transport, fresh = self._ensure_open()
                    reply = self._exchange(transport, code.lower(), sent)
                    break
                except (DeviceDisconnected, DeviceTimeout) as exc:
                    self._drop()
                    if isinstance(exc, DeviceDisconnected) and not fresh and free_reconnect:
                        free_reconnect = False  # the peer closed an idle link: just reopen
                        continue
                    attempts_left -= 1
                    if attempts_left <= 0:
                        raise
        if not reply.ok:
            raise DeviceCommandError(
                self.address,
                f"the display refused '{command}' (NG{reply.data}): not supported by this model, "
                f"a value it does not offer, or it is in standby or still starting; power it on, "
                f"check the code in the model's manual and retry",
                f"显示设备拒绝命令 '{command}'（NG{reply.data}）：该型号不支持、取值不可用，"
                f"或设备处于待机/正在启动；请开机并对照该型号手册检查代码后重试",
                code=f"NG{reply.data}", command=command,
            )
        return reply.data

    def _exchange(self, transport: Transport, code: str, sent: bytes) -> codec.Reply:
        transport.discard_input()  # a late answer to an earlier, timed-out request
        transport.write(sent)
        deadline = time.monotonic() + self.timeout
        for _ in range(_MAX_LINES):
            line = self._read_reply_text(transport, deadline)
            # Quirks: CRLF after the "x" leaves an empty line; some firmware echoes commands.
            if not line.strip(_BLANK) or codec.is_echo(line, sent):
                continue
            try:
                reply = codec.decode_reply(line)
            except codec.LgDecodeError:
                self._drop()
                raise self._protocol_error(f"the display answered {_show(line)}") from None
            if reply.command2 != code[1]:
                self._drop()
                raise self._protocol_error(
                    f"the answer {_show(line)} belongs to another command than {code}")
            if self.set_id != 0 and reply.set_id != self.set_id:
                self._drop()
                raise self._protocol_error(
                    f"set ID {reply.set_id} answered instead of {self.set_id}: set 'set_id' in "
                    f"the rig to the display's Set ID menu value")
            return reply
        self._drop()
        raise self._protocol_error("the display sent only echoes and empty lines")

    def _read_reply_text(self, transport: Transport, deadline: float) -> bytes:
        """One reply: up to an ``x`` that follows OK/NG, or up to CR/LF (quirk: no ``x``)."""
        text = b""
        while True:
            left = max(deadline - time.monotonic(), 0.001)
            try:
                piece = transport.read_until(
                    b"x\r\n", max_bytes=max(codec.MAX_LINE_LEN - len(text), 1), timeout=left)
            except DeviceTimeout:
                text += transport.discard_input()  # bytes that never reached a terminator
                if text.strip(_BLANK):
                    self._drop()
                    raise self._protocol_error(
                        f"incomplete or unrecognised answer {_show(text)}") from None
                raise
            except DeviceProtocolError:
                self._drop()
                raise
            text += piece
            if piece.endswith(b"x") and not codec.looks_complete(text.decode("latin-1")):
                continue  # an "x" command letter (echoed "xb ...") or data, not the end
            return text

    def _set(self, code: str, data: str) -> None:
        try:
            self.request(code, data)
        except DeviceCommandError as exc:
            raise self._explain_refusal(exc) from None

    def _explain_refusal(self, exc: DeviceCommandError) -> DeviceError:
        """A refusal by a set that reports a fan fault is a failure of the display itself."""
        try:
            fan = codec.parse_fan(self.request(codec.FAN_FAULT))
        except (DeviceError, codec.LgDecodeError):
            return exc
        if fan != "error":
            return exc
        return DeviceFailure(
            self.address,
            f"the display refused '{exc.command}' and reports a fan fault (dw 00) - a failure "
            f"of its own; have it serviced",
            f"显示设备拒绝命令 '{exc.command}' 并报告风扇故障（dw 00）- 属设备自身故障，请安排维修",
            code=exc.code, command=exc.command,
        )

    def _parse(self, parser, data: str):
        try:
            return parser(data)
        except codec.LgDecodeError as exc:
            raise self._protocol_error(str(exc)) from None

    def _protocol_error(self, what: str) -> DeviceProtocolError:
        return DeviceProtocolError(
            self.address,
            f"unexpected LG reply: {what} - check that the address points to an LG display "
            f"with RS-232C/LAN control enabled, the set ID, and for serial links 9600 8N1 and "
            f"a crossed cable",
            "LG 回复异常 - 请确认地址指向已启用 RS-232C/网络控制的 LG 显示设备，核对 Set ID；"
            "串口需 9600 8N1 并使用交叉线",
        )

    # -------------------------------------------------------------- DisplayControl -----
    def identity(self) -> DisplayIdentity:
        """Serial number (fy) and software version (fz); LG has no model-name query."""
        raw: dict[str, str] = {"set_id": str(self.set_id)}
        for code in (codec.SERIAL_NUMBER, codec.SOFTWARE_VERSION):
            try:
                raw[code] = self._parse(codec.parse_text, self.request(code))
            except DeviceCommandError:
                raw[code] = ""  # not supported by this model
        return DisplayIdentity(make="LG", serial=raw[codec.SERIAL_NUMBER],
                               firmware=raw[codec.SOFTWARE_VERSION], raw=raw)

    def get_power(self) -> PowerState:
        on = self._parse(codec.parse_power, self.request(codec.POWER))
        return PowerState.ON if on else PowerState.OFF

    def set_power(self, on: bool) -> None:
        self._set(codec.POWER, "01" if on else "00")

    def get_input(self) -> str:
        return self._parse(codec.parse_input, self.request(codec.INPUT))

    def list_inputs(self) -> list[str]:
        """The rig's ``inputs`` option; LG cannot list inputs, so else the current one."""
        if self.inputs is not None:
            return list(self.inputs)
        return [self.get_input()]

    def set_input(self, code: str) -> None:
        self._set(codec.INPUT, codec.normalize_input(code).lower())

    def get_mute(self) -> MuteState:
        video = self._parse(codec.parse_screen_mute, self.request(codec.SCREEN_MUTE))
        audio = self._parse(codec.parse_volume_mute, self.request(codec.VOLUME_MUTE))
        return MuteState(video=video, audio=audio)

    def set_mute(self, video: bool | None = None, audio: bool | None = None) -> None:
        if video is not None:
            self._set(codec.SCREEN_MUTE, codec.format_screen_mute(video))
        if audio is not None:
            self._set(codec.VOLUME_MUTE, codec.format_volume_mute(audio))

    def get_volume(self) -> int:
        """Speaker volume 0-100 (kf)."""
        return self._parse(codec.parse_volume, self.request(codec.VOLUME))

    def set_volume(self, level: int) -> None:
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 100:
            raise ValueError(f"volume must be 0..100, got {level!r} / 音量必须为 0..100")
        self._set(codec.VOLUME, codec.format_byte(level))

    def native_resolution(self) -> tuple[int, int] | None:
        """LG has no native-resolution query."""
        return None

    def input_resolution(self) -> tuple[int, int] | None:
        """LG has no input-resolution query."""
        return None

    def error_status(self) -> dict[str, str]:
        """{"fan": "ok"|"error"} from the fan fault check (dw); {} when the set has no fan
        or does not support the check. Other categories are not reported by LG sets."""
        try:
            fan = self._parse(codec.parse_fan, self.request(codec.FAN_FAULT))
        except DeviceCommandError:
            return {}
        return {} if fan is None else {"fan": fan}

    def lamp_hours(self) -> list[tuple[int, bool]]:
        """LED-lit panels: no lamp."""
        return []

    def screen_size_in(self) -> float | None:
        """The LG protocol has no screen-size query."""
        return None


def _show(line: bytes) -> str:
    text = repr(line[:40])
    return text + ("..." if len(line) > 40 else "")


def _int_option(options: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(
            f"lg option '{key}' must be a whole number {low}..{high}, got {value!r} / "
            f"lg 选项 {key} 必须为 {low}..{high} 的整数"
        )
    return value


def open_lg(address: str, password: str | None, timeout: float,
            options: dict[str, Any]) -> LgDisplay:
    """Registry factory. Options: ``set_id`` (1), ``retries`` (1), ``baudrate`` (9600),
    ``inputs`` (list of xb codes the display has, e.g. ["90", "91"]); others are ignored."""
    inputs = options.get("inputs")
    if inputs is not None and (isinstance(inputs, str) or not isinstance(inputs, list | tuple)):
        raise ValueError(
            f"lg option 'inputs' must be a list of input codes such as [\"90\", \"91\"], got "
            f"{inputs!r} / lg 选项 inputs 必须为输入源代码列表"
        )
    return LgDisplay(
        address, set_id=_int_option(options, "set_id", 1, 0, codec.MAX_SET_ID),
        password=password, timeout=timeout, retries=_int_option(options, "retries", 1, 0, 10),
        baudrate=_int_option(options, "baudrate", 9600, 300, 921600),
        inputs=None if inputs is None else [str(c) for c in inputs],
    )
