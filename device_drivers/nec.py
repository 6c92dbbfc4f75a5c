"""NEC large-format display (MultiSync) client implementing :class:`DisplayControl`.

Speaks the NEC external control protocol (see :mod:`nec_codec`) over TCP port 7142 or a
serial port (9600 8N1). Replies are checked for type, sender (the monitor ID), length and
checksum. Connection handling mirrors the PJLink driver: a reused connection found closed is
reopened once for free, then ``retries`` further attempts follow a timeout or dropped
connection. Refusals (NULL message, result 01) and protocol errors are not retried.

What the protocol does not report, this driver does not invent: no input list (give
``inputs`` from the rig, otherwise only the current input is listed), no native or input
resolution, no screen size and no lamp hours (LED backlight); those answer None / empty.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from classcert.device_drivers import nec_codec as codec
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

_MAX_NOISE = 16  # stray bytes tolerated before a frame's SOH (CR, LF and NUL not counted)
_IGNORED = b"\r\n\x00"


class NecDisplay:
    """An NEC display addressed by ``monitor_id`` (1-100, the monitor's "Monitor ID")."""

    def __init__(
        self, address: str, monitor_id: int = 1, password: str | None = None,
        timeout: float = 5.0, retries: int = 1, baudrate: int = 9600,
        inputs: Sequence[str] | None = None,
    ) -> None:
        if password is not None:
            raise ValueError(
                "the NEC external control protocol has no password: remove password_env from "
                "this device in the rig file / NEC 控制协议没有密码：请删除机房配置中该设备的 "
                "password_env"
            )
        if timeout <= 0 or retries < 0:
            raise ValueError("timeout must be > 0 and retries >= 0")
        self._destination = codec.monitor_address(monitor_id)  # validates
        self.address = address
        self.monitor_id = monitor_id
        self.timeout = timeout
        self.retries = retries
        self.baudrate = baudrate
        self.inputs = (None if inputs is None else
                       [codec.format_input(codec.parse_input_code(c)) for c in inputs])
        self._transport: Transport | None = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"NecDisplay({self.address!r}, monitor_id={self.monitor_id})"

    # -------------------------------------------------------------- connection ---------
    def connect(self) -> None:
        """Open the link and check that the monitor answers (reads the power status)."""
        self.get_power()

    def close(self) -> None:
        with self._lock:
            self._drop()

    def __enter__(self) -> NecDisplay:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _drop(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()

    def _ensure_open(self) -> tuple[Transport, bool]:
        if self._transport is not None and self._transport.is_open:
            return self._transport, False
        self._drop()
        self._transport = open_transport(self.address, self.timeout,
                                         default_port=codec.NEC_PORT, baudrate=self.baudrate)
        return self._transport, True

    # -------------------------------------------------------------- requests -----------
    def request(self, msg_type: str, message: str) -> str:
        """Send one message (type A, C or E) and return the reply's message text.

        Raises DeviceCommandError (code ``"BE"``) for a NULL message reply.
        """
        frame = codec.encode_frame(self._destination, codec.CONTROLLER, msg_type, message)
        with self._lock:
            attempts_left = self.retries + 1
            free_reconnect = True
            while True:
                fresh = True  # stays True if opening a new connection fails
                try:
                    transport, fresh = self._ensure_open()
                    reply = self._exchange(transport, frame, codec.REPLY_TYPE[msg_type])
                    break
                except (DeviceDisconnected, DeviceTimeout) as exc:
                    self._drop()
                    if isinstance(exc, DeviceDisconnected) and not fresh and free_reconnect:
                        free_reconnect = False  # the peer closed an idle link: just reopen
                        continue
                    attempts_left -= 1
                    if attempts_left <= 0:
                        raise
        if reply.message.upper() == codec.NULL_MESSAGE:
            label = {codec.GET: "get ", codec.SET: "set "}.get(msg_type, "")
            raise self._refused(label + message, "BE", "NULL message")
        return reply.message

    def _exchange(self, transport: Transport, frame: bytes, reply_type: str) -> codec.Frame:
        transport.discard_input()  # a late answer to an earlier, timed-out request
        transport.write(frame)
        deadline = time.monotonic() + self.timeout
        raw = self._read_frame(transport, deadline)
        try:
            reply = codec.decode_frame(raw)
        except codec.NecDecodeError as exc:
            self._drop()
            raise self._protocol_error(f"{exc} in {_show(raw)}") from None
        if reply.source != self._destination:
            self._drop()
            raise self._protocol_error(
                f"a monitor with address {reply.source:02X}h answered instead of monitor ID "
                f"{self.monitor_id}: set 'monitor_id' in the rig to the monitor's Monitor ID")
        # A NULL message may come back as any reply type; everything else must match.
        if reply.msg_type != reply_type and reply.message.upper() != codec.NULL_MESSAGE:
            self._drop()
            raise self._protocol_error(
                f"reply type {reply.msg_type} to a request expecting {reply_type}")
        return reply

    def _read_frame(self, transport: Transport, deadline: float) -> bytes:
        noise = bytearray()
        while True:  # bounded: each read has the deadline, noise is capped
            first = self._read(transport, 1, deadline, noise)
            if first[0] == codec.SOH:
                break
            if first not in _IGNORED:  # CR / LF / NUL left over from the previous frame
                noise += first
                if len(noise) > _MAX_NOISE:
                    self._drop()
                    raise self._protocol_error(f"the monitor sent {_show(bytes(noise))}")
        header = first + self._read(transport, codec.HEADER_LEN - 1, deadline, first)
        try:
            total = codec.frame_length(header)
        except codec.NecDecodeError as exc:
            self._drop()
            raise self._protocol_error(f"{exc}") from None
        return header + self._read(transport, total - codec.HEADER_LEN, deadline, header)

    def _read(self, transport: Transport, n: int, deadline: float, got: bytes | bytearray
              ) -> bytes:
        try:
            return transport.read_exact(n, timeout=max(deadline - time.monotonic(), 0.001))
        except DeviceTimeout:
            if got:  # something arrived, but not a (complete) NEC frame
                self._drop()
                raise self._protocol_error(
                    f"incomplete or unrecognised answer {_show(bytes(got))}") from None
            raise

    def _refused(self, message: str, code: str, why: str) -> DeviceCommandError:
        return DeviceCommandError(
            self.address,
            f"the monitor refused '{message}' ({why}): not supported by this model, a value "
            f"it does not offer, or it is in standby or still starting; power it on, check "
            f"the code in the model's manual and retry",
            f"显示设备拒绝命令 '{message}'（{why}）：该型号不支持、取值不可用，或设备处于待机/"
            f"正在启动；请开机并对照该型号手册检查代码后重试",
            code=code, command=message,
        )

    def _parse(self, parser, *args):
        try:
            return parser(*args)
        except codec.NecDecodeError as exc:
            raise self._protocol_error(str(exc)) from None

    def _protocol_error(self, what: str) -> DeviceProtocolError:
        return DeviceProtocolError(
            self.address,
            f"unexpected NEC reply: {what} - check that the address points to an NEC display "
            f"with external control enabled (LAN port 7142, or RS-232C 9600 8N1), and the "
            f"monitor ID",
            "NEC 回复异常 - 请确认地址指向已启用外部控制的 NEC 显示设备"
            "（网络端口 7142 或 RS-232C 9600 8N1），并核对显示器 ID",
        )

    # -------------------------------------------------------------- parameters ---------
    def get_parameter(self, op: int) -> codec.ParameterReply:
        return self._parameter(self.request(codec.GET, codec.encode_get(op)), op, "get")

    def set_parameter(self, op: int, value: int) -> codec.ParameterReply:
        message = codec.encode_set(op, value)
        try:
            return self._parameter(self.request(codec.SET, message), op, "set")
        except DeviceCommandError as exc:
            raise self._explain_refusal(exc) from None

    def _parameter(self, message: str, op: int, what: str) -> codec.ParameterReply:
        reply = self._parse(codec.decode_parameter_reply, message)
        if reply.op != op:
            raise self._protocol_error(f"answer for OP {reply.op:04X}h to a {what} of {op:04X}h")
        if reply.result != 0:
            raise self._refused(f"{what} {op:04X}h", f"{reply.result:02X}",
                                f"result {reply.result:02X}: unsupported")
        return reply

    def _explain_refusal(self, exc: DeviceCommandError) -> DeviceError:
        """A refusal by a monitor whose self-diagnosis reports faults is its own failure."""
        try:
            status = self.error_status()
        except DeviceError:
            return exc
        faults = sorted(cat for cat, level in status.items() if level == "error")
        if not faults:
            return exc
        return DeviceFailure(
            self.address,
            f"the monitor refused '{exc.command}' and its self-diagnosis reports "
            f"{', '.join(faults)} errors - a failure of its own; have it serviced",
            f"显示设备拒绝命令 '{exc.command}' 且自检报告故障（{', '.join(faults)}）"
            f"- 属设备自身故障，请安排维修",
            code=exc.code, command=exc.command,
        )

    # -------------------------------------------------------------- DisplayControl -----
    def identity(self) -> DisplayIdentity:
        """Model name (C217), serial number (C216), firmware (CA02, type 0) if supported."""
        raw: dict[str, str] = {"monitor_id": str(self.monitor_id)}
        reads = {
            "model": (codec.MODEL_READ, lambda m: codec.decode_text_reply(codec.MODEL_REPLY, m)),
            "serial": (codec.SERIAL_READ,
                       lambda m: codec.decode_text_reply(codec.SERIAL_REPLY, m)),
            "firmware": (codec.encode_firmware_read(0), self._firmware),
        }
        for key, (message, decode) in reads.items():
            try:
                raw[key] = self._parse(decode, self.request(codec.COMMAND, message))
            except DeviceCommandError:
                raw[key] = ""  # not supported by this model
        return DisplayIdentity(make="NEC", model=raw["model"], serial=raw["serial"],
                               firmware=raw["firmware"], raw=raw)

    @staticmethod
    def _firmware(message: str) -> str:
        result, _, version = codec.decode_firmware_reply(message)
        return version if result == 0 else ""

    def get_power(self) -> PowerState:
        """Mode 1 is ON; standby (2), suspend (3) and off (4) are all OFF."""
        message = self.request(codec.COMMAND, codec.POWER_STATUS_READ)
        result, mode = self._parse(codec.decode_power_status_reply, message)
        if result != 0 or mode not in (1, 2, 3, 4):
            raise self._protocol_error(f"power status result {result:02X}, mode {mode}")
        return PowerState.ON if mode == codec.POWER_ON else PowerState.OFF

    def set_power(self, on: bool) -> None:
        mode = codec.POWER_ON if on else codec.POWER_OFF
        message = codec.encode_power_control(mode)
        try:
            reply = self.request(codec.COMMAND, message)
            result, _ = self._parse(codec.decode_power_control_reply, reply)
            if result != 0:
                raise self._refused(message, f"{result:02X}", f"result {result:02X}")
        except DeviceCommandError as exc:
            raise self._explain_refusal(exc) from None

    def get_input(self) -> str:
        return codec.format_input(self.get_parameter(codec.OP_INPUT).value)

    def list_inputs(self) -> list[str]:
        """The rig's ``inputs`` option; NEC cannot list inputs, so else the current one."""
        if self.inputs is not None:
            return list(self.inputs)
        return [self.get_input()]

    def set_input(self, code: str) -> None:
        self.set_parameter(codec.OP_INPUT, codec.parse_input_code(code))

    def get_mute(self) -> MuteState:
        """Picture mute (OP 10B6, newer models) and audio mute (OP 008D)."""
        video = self.get_parameter(codec.OP_SCREEN_MUTE).value == 1
        audio = self.get_parameter(codec.OP_AUDIO_MUTE).value == 1
        return MuteState(video=video, audio=audio)

    def set_mute(self, video: bool | None = None, audio: bool | None = None) -> None:
        if video is not None:
            self.set_parameter(codec.OP_SCREEN_MUTE, 1 if video else 2)
        if audio is not None:
            self.set_parameter(codec.OP_AUDIO_MUTE, 1 if audio else 0)

    def get_volume(self) -> int:
        """Speaker volume 0-100 (OP 0062)."""
        return self.get_parameter(codec.OP_VOLUME).value

    def set_volume(self, level: int) -> None:
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 100:
            raise ValueError(f"volume must be 0..100, got {level!r} / 音量必须为 0..100")
        self.set_parameter(codec.OP_VOLUME, level)

    def native_resolution(self) -> tuple[int, int] | None:
        """The protocol has no native-resolution query."""
        return None

    def input_resolution(self) -> tuple[int, int] | None:
        """The protocol reports only signal frequencies, not the input resolution."""
        return None

    def error_status(self) -> dict[str, str]:
        """Faults from the self-diagnosis (B1) by category; {} when all is normal or the
        model does not support self-diagnosis."""
        try:
            message = self.request(codec.COMMAND, codec.DIAGNOSIS_READ)
        except DeviceCommandError:
            return {}
        return codec.diagnosis_status(self._parse(codec.decode_diagnosis_reply, message))

    def lamp_hours(self) -> list[tuple[int, bool]]:
        """LED backlight: no lamp."""
        return []

    def screen_size_in(self) -> float | None:
        """The NEC protocol has no screen-size query."""
        return None


def _show(data: bytes) -> str:
    text = repr(data[:40])
    return text + ("..." if len(data) > 40 else "")


def _int_option(options: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(
            f"nec option '{key}' must be a whole number {low}..{high}, got {value!r} / "
            f"nec 选项 {key} 必须为 {low}..{high} 的整数"
        )
    return value


def open_nec(address: str, password: str | None, timeout: float,
             options: dict[str, Any]) -> NecDisplay:
    """Registry factory. Options: ``monitor_id`` (1), ``retries`` (1), ``baudrate`` (9600),
    ``inputs`` (list of OP 0060 codes the monitor has, e.g. ["11", "12"]); others ignored."""
    inputs = options.get("inputs")
    if inputs is not None and (isinstance(inputs, str) or not isinstance(inputs, list | tuple)):
        raise ValueError(
            f"nec option 'inputs' must be a list of input codes such as [\"11\", \"12\"], got "
            f"{inputs!r} / nec 选项 inputs 必须为输入源代码列表"
        )
    return NecDisplay(
        address, monitor_id=_int_option(options, "monitor_id", 1, 1, codec.MAX_MONITOR_ID),
        password=password, timeout=timeout, retries=_int_option(options, "retries", 1, 0, 10),
        baudrate=_int_option(options, "baudrate", 9600, 300, 921600),
        inputs=None if inputs is None else [str(c) for c in inputs],
    )
