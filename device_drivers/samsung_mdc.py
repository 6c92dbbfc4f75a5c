"""Samsung MDC (Multiple Display Control) client implementing :class:`DisplayControl`.

Plain MDC over TCP (port 1515) or RS-232 (9600 8N1, any pyserial port or URL). Displays with
"secured protocol" enabled (TLS + PIN on port 1515, newer firmware) are detected and refused
with a clear :class:`DeviceAuthError`: disable the secured protocol or use RS-232.

Connection handling mirrors the PJLink driver: the link is reopened when the display has
closed it (free once per request), and ``retries`` further attempts follow a timeout or a
dropped connection. Refusals (NAK), authentication and protocol errors are not retried.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from classcert.device_drivers import samsung_mdc_codec as codec
from classcert.device_drivers.display import DisplayControl, DisplayIdentity, MuteState, PowerState
from classcert.device_drivers.errors import (
    DeviceAuthError,
    DeviceCommandError,
    DeviceDisconnected,
    DeviceFailure,
    DeviceProtocolError,
    DeviceTimeout,
)
from classcert.device_drivers.transport import Transport, is_serial_address, open_transport

# Quirk: serial adapters and displays waking up emit stray 0x00/0xFF bytes before a reply.
_NOISE = (0x00, 0xFF)
_MAX_NOISE = 16
_BANNER_WAIT_S = 0.5
DEFAULT_INPUTS = ("21", "23")  # HDMI1, HDMI2: present on every current Samsung panel
_POWER = {"off": PowerState.OFF, "on": PowerState.ON, "reboot": PowerState.WARMING}


class SamsungMdcDisplay:
    """A Samsung display controlled over MDC.

    ``inputs`` is what :meth:`list_inputs` reports: MDC has no query for the inputs a model
    has, so the rig may list them (codes as :func:`samsung_mdc_codec.parse_input_code`
    accepts); by default HDMI1 and HDMI2.
    """

    def __init__(
        self, address: str, display_id: int = 0, password: str | None = None,
        timeout: float = 5.0, retries: int = 1, baudrate: int = 9600,
        inputs: Sequence[str] | None = None,
    ) -> None:
        if timeout <= 0 or isinstance(retries, bool) or retries < 0:
            raise ValueError("timeout must be > 0 and retries >= 0")
        if isinstance(display_id, bool) or not isinstance(display_id, int) \
                or not 0 <= display_id <= codec.BROADCAST_ID:
            raise ValueError(
                f"Samsung MDC display_id must be 0-254 (254 = every display), got {display_id!r}"
                f" - set it to the ID in the display's menu / display_id 须为 0-254")
        if isinstance(baudrate, bool) or not isinstance(baudrate, int) or baudrate <= 0:
            raise ValueError(f"baudrate must be a positive whole number, got {baudrate!r}")
        self.address = address
        self.display_id = display_id
        self.timeout = timeout
        self.retries = retries
        self.baudrate = baudrate
        self.inputs = [codec.format_input(codec.parse_input_code(c))
                       for c in (DEFAULT_INPUTS if inputs is None else inputs)]
        self._password = password  # a PIN only matters for the (unsupported) secured protocol
        self._transport: Transport | None = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"SamsungMdcDisplay({self.address!r}, display_id={self.display_id})"

    # -------------------------------------------------------------- connection ---------
    def connect(self) -> None:
        """Open the link and check the display answers (power query). Optional."""
        self.get_power()

    def close(self) -> None:
        with self._lock:
            self._drop()

    def __enter__(self) -> SamsungMdcDisplay:
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
                                         default_port=codec.MDC_PORT, baudrate=self.baudrate)
        return self._transport, True

    # -------------------------------------------------------------- requests -----------
    def request(self, cmd: int, data: bytes = b"") -> bytes:
        """Send one command, return the values of its ACK. A NAK raises DeviceCommandError
        (or DeviceFailure for a refused setting while the display reports a fault)."""
        frame = codec.encode_request(cmd, self.display_id, data)
        with self._lock:
            attempts_left = self.retries + 1
            free_reconnect = True
            while True:
                fresh = True
                try:
                    transport, fresh = self._ensure_open()
                    reply = self._exchange(transport, frame)
                    break
                except (DeviceDisconnected, DeviceTimeout) as exc:
                    self._drop()
                    if isinstance(exc, DeviceDisconnected) and not fresh and free_reconnect:
                        free_reconnect = False  # the display closed an idle link: reopen
                        continue
                    attempts_left -= 1
                    if attempts_left <= 0:
                        if isinstance(exc, DeviceTimeout):
                            raise self._timeout(cmd) from None
                        raise
        if reply.ack:
            return reply.data
        raise self._refused(cmd, data, reply.error_code)

    def _exchange(self, transport: Transport, frame: bytes) -> codec.Reply:
        transport.discard_input()
        transport.write(frame)
        deadline = time.monotonic() + self.timeout
        echo_seen = False
        while True:
            got = self._read_frame(transport, deadline)
            # Quirk: half-duplex RS-485/RS-232 converters echo the request before the reply.
            if got == frame and not echo_seen:
                echo_seen = True
                continue
            break
        try:
            reply = codec.decode_reply(got)
        except codec.MdcDecodeError as exc:
            self._drop()
            raise self._protocol_error(str(exc)) from None
        # Quirk: a display addressed by the broadcast id answers with its own id.
        if reply.display_id != self.display_id and self.display_id != codec.BROADCAST_ID:
            self._drop()
            raise self._protocol_error(
                f"reply from display id {reply.display_id} to a request for id "
                f"{self.display_id} - two displays on this link share an id, or display_id "
                f"in the rig is wrong")
        if reply.rcmd != frame[1]:
            self._drop()
            raise self._protocol_error(
                f"reply to command 0x{reply.rcmd:02X} instead of 0x{frame[1]:02X}")
        return reply

    def _read_frame(self, transport: Transport, deadline: float) -> bytes:
        def left() -> float:
            return max(deadline - time.monotonic(), 0.001)

        for _ in range(_MAX_NOISE + 1):
            first = transport.read_exact(1, timeout=left())
            if first[0] == codec.HEADER:
                header = first + transport.read_exact(3, timeout=left())
                return header + transport.read_exact(header[3] + 1, timeout=left())
            if first[0] not in _NOISE:
                break
        else:
            self._drop()
            raise self._protocol_error("only noise bytes (0x00/0xFF) instead of a reply")
        if first == codec.TLS_BANNER[:1]:
            first += self._check_banner(transport, first)
        seen = first + transport.discard_input()
        self._drop()
        raise self._protocol_error(
            f"the device answered {seen[:24]!r}, which is not an MDC frame - check the port "
            f"(MDC uses 1515) and that the address points to a Samsung display")

    def _check_banner(self, transport: Transport, first: bytes) -> bytes:
        """Raise if ``first`` starts the secured-protocol banner; else return bytes read."""
        try:
            rest = transport.read_exact(len(codec.TLS_BANNER) - 1, timeout=_BANNER_WAIT_S)
        except DeviceTimeout:
            return b""
        if first + rest == codec.TLS_BANNER:
            self._drop()
            pin = " (a PIN is set in the rig, but" if self._password else " (this"
            raise DeviceAuthError(
                self.address,
                f"the display requires the MDC secured protocol (TLS with PIN){pin} driver "
                f"version speaks plain MDC only) - disable 'Secured Protocol' in the display's "
                f"network/MDC menu, or connect over RS-232",
                "显示设备启用了 MDC 安全协议（TLS + PIN），本驱动仅支持明文 MDC - "
                "请在设备网络/MDC 菜单中关闭“安全协议”，或改用 RS-232 串口连接",
            )
        return rest

    def _query(self, cmd: int, parser: Any, *args: Any) -> Any:
        data = self.request(cmd)
        try:
            return parser(data, *args)
        except codec.MdcDecodeError as exc:
            raise self._protocol_error(str(exc)) from None

    def _optional_text(self, cmd: int) -> str:
        """A string query the model may not support (NAK -> "")."""
        try:
            return codec.parse_text(self.request(cmd))
        except DeviceCommandError:
            return ""

    # -------------------------------------------------------------- errors -------------
    def _name(self, cmd: int) -> str:
        return f"{codec.COMMAND_NAMES.get(cmd, 'command')} (0x{cmd:02X})"

    def _protocol_error(self, what: str) -> DeviceProtocolError:
        return DeviceProtocolError(
            self.address,
            f"unexpected Samsung MDC reply: {what} - check that the address points to a "
            f"Samsung display with MDC enabled and update its firmware if the problem persists",
            "Samsung MDC 回复异常 - 请确认地址指向已启用 MDC 的三星显示设备，问题持续时请升级固件",
        )

    def _timeout(self, cmd: int) -> DeviceTimeout:
        link = (f"on RS-232 the baud rate ({self.baudrate}) and the cable"
                if is_serial_address(self.address)
                else "on the network that 'network standby' is on so it answers while off")
        return DeviceTimeout(
            self.address,
            f"no MDC reply to {self._name(cmd)} for display id {self.display_id} within "
            f"{self.timeout:g} s - check the display is powered, the ID set in its menu "
            f"(rig option display_id), and {link}",
            f"{self.timeout:g} 秒内未收到 MDC 回复 - 请检查设备电源、菜单中的显示设备 ID"
            f"（配置项 display_id），串口请检查波特率与线缆，网络请开启“网络待机”",
        )

    def _refused(self, cmd: int, data: bytes, code: int | None) -> DeviceCommandError:
        shown = f"0x{code:02X}" if code is not None else "none"
        command = self._name(cmd) + (f" set {data.hex(' ')}" if data else " query")
        fault = self._fault_if_any() if data else ""
        if fault:
            return DeviceFailure(
                self.address,
                f"the display refused {command} (NAK {shown}) and reports a failure of its "
                f"own: {fault} - have it serviced",
                f"显示设备拒绝执行 {command}（NAK {shown}）并报告自身故障：{fault} - 请安排维修",
                code=f"NAK {shown}", command=command)
        return DeviceCommandError(
            self.address,
            f"the display refused {command} (MDC NAK, error code {shown}): this model does "
            f"not support it or the value, or it is not available now (standby, starting up)",
            f"显示设备拒绝执行 {command}（MDC NAK，错误码 {shown}）：该型号不支持此命令或参数，"
            f"或当前不可执行（待机、启动中）",
            code=f"NAK {shown}", command=command)

    def _fault_if_any(self) -> str:
        """Faults the display reports (0x0D) after refusing a setting; "" if none or unknown."""
        try:
            status = self._query(codec.CMD_ERROR_STATUS, codec.parse_error_status)
        except (DeviceCommandError, DeviceProtocolError, DeviceTimeout, DeviceDisconnected):
            return ""
        return ", ".join(f"{k} {v}" for k, v in status.items() if v == "error")

    # -------------------------------------------------------------- DisplayControl -----
    def identity(self) -> DisplayIdentity:
        raw: dict[str, Any] = {
            "model_name": self._optional_text(codec.CMD_MODEL_NAME),
            "serial": self._optional_text(codec.CMD_SERIAL),
            "software_version": self._optional_text(codec.CMD_SW_VERSION),
            "device_name": self._optional_text(codec.CMD_DEVICE_NAME),
        }
        try:
            species, code, tv = self._query(codec.CMD_MODEL_NUMBER, codec.parse_model_number)
            raw.update(species=species, model_code=code, tv_tuner=tv)
        except DeviceCommandError:
            pass
        model = raw["model_name"] or (f"{raw['species']} model code {raw['model_code']}"
                                      if "species" in raw else "")
        return DisplayIdentity(
            make="Samsung", model=model, serial=raw["serial"],
            firmware=raw["software_version"], name=raw["device_name"],
            protocol_class="MDC", raw=raw)

    def status(self) -> codec.Status:
        """The 0x00 status answer (power, volume, mute, input, aspect) in one round trip."""
        return self._query(codec.CMD_STATUS, codec.parse_status)

    def get_power(self) -> PowerState:
        return _POWER[self._query(codec.CMD_POWER, codec.parse_power)]

    def set_power(self, on: bool) -> None:
        # The ACK echoes a value, which some models send before acting: callers read back.
        self.request(codec.CMD_POWER, bytes([1 if on else 0]))

    def get_input(self) -> str:
        code = self._query(codec.CMD_INPUT, codec.parse_byte, "input")
        return codec.format_input(codec.canonical_input(code))

    def list_inputs(self) -> list[str]:
        return list(self.inputs)

    def set_input(self, code: str) -> None:
        self.request(codec.CMD_INPUT, bytes([codec.parse_input_code(code)]))

    def get_volume(self) -> int | None:
        """Speaker volume 0-100; None for models without audio."""
        level = self._query(codec.CMD_VOLUME, codec.parse_byte, "volume")
        return None if level == codec.UNAVAILABLE else level

    def set_volume(self, level: int) -> None:
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 100:
            raise ValueError(f"volume must be 0-100, got {level!r} / 音量须为 0-100")
        self.request(codec.CMD_VOLUME, bytes([level]))

    def get_mute(self) -> MuteState:
        """Audio: 0x13 mute (models without audio: never muted). Video: panel off (0xF9);
        a model without panel on/off over MDC cannot blank its picture: never muted."""
        audio = self._query(codec.CMD_MUTE, codec.parse_flag, "mute")
        try:
            panel_off = self._query(codec.CMD_PANEL, codec.parse_flag, "panel")
        except DeviceCommandError:
            panel_off = False
        return MuteState(video=bool(panel_off), audio=bool(audio))

    def set_mute(self, video: bool | None = None, audio: bool | None = None) -> None:
        if video is not None:
            self.request(codec.CMD_PANEL, bytes([1 if video else 0]))
        if audio is not None:
            self.request(codec.CMD_MUTE, bytes([1 if audio else 0]))

    def native_resolution(self) -> tuple[int, int] | None:
        """MDC has no native-resolution query."""
        return None

    def input_resolution(self) -> tuple[int, int] | None:
        """MDC has no input-resolution query."""
        return None

    def error_status(self) -> dict[str, str]:
        return self._query(codec.CMD_ERROR_STATUS, codec.parse_error_status)

    def lamp_hours(self) -> list[tuple[int, bool]]:
        """Samsung MDC displays are flat panels without a lamp."""
        return []

    def screen_size_in(self) -> float | None:
        """Diagonal in inches from 0x19; None when the model refuses the query or answers 0."""
        try:
            inches = self._query(codec.CMD_SCREEN_SIZE, codec.parse_screen_size)
        except DeviceCommandError:
            return None
        return None if inches is None else float(inches)


def _whole(options: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(
            f"samsung-mdc option {key!r} must be a whole number {low}-{high}, got {value!r} / "
            f"samsung-mdc 选项 {key} 必须为 {low}-{high} 的整数")
    return value


def open_samsung_mdc(address: str, password: str | None, timeout: float,
                     options: dict[str, Any]) -> DisplayControl:
    """Registry factory. Options: display_id (0-254, default 0), baudrate (default 9600),
    retries (default 1), inputs (list of input codes for list_inputs); others are ignored."""
    inputs = options.get("inputs")
    if inputs is not None and (isinstance(inputs, str) or not isinstance(inputs, Sequence)):
        raise ValueError(f"samsung-mdc option 'inputs' must be a list such as [\"21\", \"23\"], "
                         f"got {inputs!r} / inputs 须为列表")
    return SamsungMdcDisplay(
        address, display_id=_whole(options, "display_id", 0, 0, codec.BROADCAST_ID),
        password=password, timeout=timeout, retries=_whole(options, "retries", 1, 0, 100),
        baudrate=_whole(options, "baudrate", 9600, 50, 4_000_000),
        inputs=None if inputs is None else [str(c) for c in inputs])
