"""PJLink Class 1/Class 2 client implementing :class:`DisplayControl`.

Connection handling: PJLink devices often close the socket after each command or after
~30 s idle. Every request checks the connection, reconnects (and re-authenticates) when the
peer has closed it, and retries once more without counting against ``retries`` when a reused
connection turns out to be closed. ``retries`` further attempts are made after a timeout or
a dropped connection. Refusals (ERRn), authentication and protocol errors are not retried.
"""

from __future__ import annotations

import threading
import time

from classcert.device_drivers import pjlink_codec as codec
from classcert.device_drivers.display import DisplayIdentity, MuteState, PowerState
from classcert.device_drivers.errors import (
    DeviceAuthError,
    DeviceCommandError,
    DeviceDisconnected,
    DeviceFailure,
    DeviceProtocolError,
    DeviceTimeout,
)
from classcert.device_drivers.transport import Transport, open_transport

_MAX_EMPTY_LINES = 8

_COMMAND_ERRORS = {
    "ERR1": (
        "the display does not support command {cmd} (ERR1: undefined command)",
        "显示设备不支持命令 {cmd}（ERR1：未定义命令）",
    ),
    "ERR2": (
        "parameter of {cmd} is out of range for this display (ERR2) - use a value the display "
        "offers, e.g. an input code from its input list",
        "命令 {cmd} 的参数超出该设备范围（ERR2）- 请使用设备支持的值，例如其输入源列表中的代码",
    ),
    "ERR3": (
        "{cmd} unavailable at this time (ERR3): the display is warming up, cooling down or in "
        "standby; retry later or power it on first",
        "{cmd} 当前不可执行（ERR3）：设备正在预热、散热或处于待机；请稍后重试或先开机",
    ),
    "ERR4": (
        "the display reports a failure of its own while executing {cmd} (ERR4) - check its "
        "lamp, fan and temperature status and have it serviced",
        "设备执行 {cmd} 时报告自身故障（ERR4）- 请检查灯泡、风扇、温度状态并安排维修",
    ),
}

_POWER_STATES = {
    "off": PowerState.OFF,
    "on": PowerState.ON,
    "cooling": PowerState.COOLING,
    "warming": PowerState.WARMING,
}


class PjlinkDisplay:
    """A display or projector controlled over PJLink (TCP port 4352 by default)."""

    def __init__(
        self, address: str, password: str | None = None, timeout: float = 5.0, retries: int = 1
    ) -> None:
        if timeout <= 0 or retries < 0:
            raise ValueError("timeout must be > 0 and retries >= 0")
        self.address = address
        self.timeout = timeout
        self.retries = retries
        self._password = password
        self._transport: Transport | None = None
        self._digest: str | None = None  # prefix for the first command of an authenticated link
        self._pj_class: int | None = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"PjlinkDisplay({self.address!r}, class={self._pj_class})"

    # -------------------------------------------------------------- connection ---------
    def connect(self) -> None:
        """Connect, authenticate and read the PJLink class (CLSS).

        Optional: every method connects on demand. Raises DeviceError subclasses.
        """
        with self._lock:
            self._pj_class = self._detect_class()

    def close(self) -> None:
        with self._lock:
            self._drop()

    def __enter__(self) -> PjlinkDisplay:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pj_class(self) -> int:
        """PJLink class the display reports (1 or 2); queried on first use."""
        with self._lock:
            if self._pj_class is None:
                self._pj_class = self._detect_class()
            return self._pj_class

    def _detect_class(self) -> int:
        try:
            data = self.request("CLSS")
        except DeviceCommandError:
            return 1  # a display that does not know CLSS predates Class 2
        if data[:1] not in ("1", "2"):
            raise self._protocol_error(f"CLSS answer {data[:20]!r} is not 1 or 2")
        return int(data[:1])

    def _drop(self) -> None:
        transport, self._transport = self._transport, None
        self._digest = None
        if transport is not None:
            transport.close()

    def _ensure_open(self) -> tuple[Transport, bool]:
        """Return (transport, freshly_opened)."""
        if self._transport is not None and self._transport.is_open:
            return self._transport, False
        self._drop()
        transport = open_transport(self.address, self.timeout, default_port=codec.PJLINK_PORT)
        try:
            line = self._read_line(transport)
            if codec.is_auth_error(line):
                raise self._auth_error(rejected=True)
            try:
                greeting = codec.decode_greeting(line)
            except codec.PjlinkDecodeError:
                raise DeviceProtocolError(
                    self.address,
                    f"the device did not greet with PJLink (got {_show(line)}) - check the port "
                    f"(PJLink uses 4352) and that PJLink is enabled in the network menu",
                    "设备未发送 PJLink 问候 - 请检查端口（PJLink 使用 4352）"
                    "并在网络菜单中启用 PJLink",
                ) from None
            if greeting.auth:
                if self._password is None:
                    raise self._auth_error(rejected=False)
                self._digest = codec.auth_digest(greeting.salt or "", self._password)
        except BaseException:
            transport.close()
            self._digest = None
            raise
        self._transport = transport
        return transport, True

    # -------------------------------------------------------------- requests -----------
    def request(self, body: str, param: str = "?", pj_class: int = 1) -> str:
        """Send one command and return the reply data ("OK", "1", "1920x1080", ...).

        Raises DeviceCommandError for ERR1-3, DeviceFailure for ERR4.
        """
        command = f"{body} {param}"
        with self._lock:
            attempts_left = self.retries + 1
            free_reconnect = True
            while True:
                fresh = True  # stays True if opening a new connection fails
                try:
                    transport, fresh = self._ensure_open()
                    reply = self._exchange(transport, body.upper(), param, pj_class)
                    break
                except (DeviceDisconnected, DeviceTimeout) as exc:
                    self._drop()
                    if isinstance(exc, DeviceDisconnected) and not fresh and free_reconnect:
                        free_reconnect = False  # the peer closed an idle link: just reopen
                        continue
                    attempts_left -= 1
                    if attempts_left <= 0:
                        raise
        if reply.error == "ERR4":
            en, zh = _COMMAND_ERRORS["ERR4"]
            raise DeviceFailure(self.address, en.format(cmd=command), zh.format(cmd=command),
                                code="ERR4", command=command)
        if reply.error is not None:
            en, zh = _COMMAND_ERRORS[reply.error]
            raise DeviceCommandError(self.address, en.format(cmd=command),
                                     zh.format(cmd=command), code=reply.error, command=command,
                                     busy=reply.error == "ERR3")
        return reply.data

    def _exchange(self, transport: Transport, body: str, param: str, pj_class: int
                  ) -> codec.Response:
        payload = codec.encode_command(body, param, pj_class, digest=self._digest)
        self._digest = None
        transport.write(payload)
        line = self._read_line(transport)
        if codec.is_auth_error(line):
            self._drop()
            raise self._auth_error(rejected=True)
        try:
            reply = codec.decode_response(line)
        except codec.PjlinkDecodeError:
            self._drop()
            what = f"the device answered {_show(line)} to {body} {param}"
            raise self._protocol_error(what) from None
        # Quirk tolerance: the class digit of the reply is not checked (see decode_response).
        if reply.body != body:
            self._drop()
            raise self._protocol_error(f"the device answered {reply.body} to a {body} request")
        return reply

    def _read_line(self, transport: Transport) -> bytes:
        # Quirk: devices terminating with CRLF or LF leave empty lines between replies.
        deadline = time.monotonic() + self.timeout
        for _ in range(_MAX_EMPTY_LINES):
            left = max(deadline - time.monotonic(), 0.001)
            raw = transport.read_until(b"\r\n", max_bytes=codec.MAX_LINE_LEN, timeout=left)
            if raw.strip(b" \t\r\n\x00"):
                return raw
        raise self._protocol_error("the device sent only empty lines")

    def _set(self, body: str, param: str, pj_class: int = 1) -> None:
        data = self.request(body, param, pj_class)
        if data.upper() != "OK":
            raise self._protocol_error(
                f"the device answered {data[:30]!r} instead of OK to {body} {param}"
            )

    def _parse(self, parser, data: str, *args):
        try:
            return parser(data, *args)
        except codec.PjlinkDecodeError as exc:
            raise self._protocol_error(str(exc)) from None

    # -------------------------------------------------------------- errors -------------
    def _protocol_error(self, what: str) -> DeviceProtocolError:
        return DeviceProtocolError(
            self.address,
            f"unexpected PJLink reply: {what} - check that the address points to a PJLink "
            f"display and update its firmware if the problem persists",
            "PJLink 回复异常 - 请确认地址指向 PJLink 显示设备，问题持续时请升级设备固件",
        )

    def _auth_error(self, rejected: bool) -> DeviceAuthError:
        if rejected:
            return DeviceAuthError(
                self.address,
                "PJLink password rejected (PJLINK ERRA) - use the password set in the display's "
                "network/PJLink menu",
                "PJLink 密码错误（PJLINK ERRA）- 请使用显示设备网络/PJLink 菜单中设置的密码",
            )
        return DeviceAuthError(
            self.address,
            "PJLink password required: the display has PJLink authentication enabled but no "
            "password was given",
            "需要 PJLink 密码：设备已启用 PJLink 认证，但未提供密码",
        )

    # -------------------------------------------------------------- DisplayControl -----
    def identity(self) -> DisplayIdentity:
        pj_class = self.pj_class
        raw: dict[str, str] = {"CLSS": str(pj_class)}
        bodies = ["NAME", "INF1", "INF2", "INFO"] + (["SNUM", "SVER"] if pj_class == 2 else [])
        for body in bodies:
            try:
                raw[body] = self.request(body, "?", 2 if body in codec.CLASS2_BODIES else 1)
            except DeviceCommandError:
                raw[body] = ""  # not supported by this display
        return DisplayIdentity(
            make=raw["INF1"], model=raw["INF2"], serial=raw.get("SNUM", ""),
            firmware=raw.get("SVER", ""), name=raw["NAME"], protocol_class=str(pj_class),
            raw=raw,
        )

    def get_power(self) -> PowerState:
        return _POWER_STATES[self._parse(codec.parse_power, self.request("POWR"))]

    def set_power(self, on: bool) -> None:
        self._set("POWR", "1" if on else "0")

    def get_input(self) -> str:
        pj_class = self.pj_class
        return self._parse(codec.parse_input, self.request("INPT", "?", pj_class), pj_class)

    def list_inputs(self) -> list[str]:
        pj_class = self.pj_class
        return self._parse(codec.parse_input_list, self.request("INST", "?", pj_class), pj_class)

    def set_input(self, code: str) -> None:
        code = code.strip().upper()
        pj_class = self.pj_class
        if not codec.is_input_code(code, pj_class):
            raise ValueError(
                f"invalid PJLink Class {pj_class} input code {code!r}: two characters, type 1-"
                f"{'6' if pj_class == 2 else '5'} then number 1-9{'/A-Z' if pj_class == 2 else ''}"
                f" (e.g. 31 = DIGITAL 1) / 输入源代码无效"
            )
        # Class 1 codes go out as Class 1 commands: understood by every PJLink device.
        self._set("INPT", code, 1 if codec.is_input_code(code, 1) else 2)

    def get_mute(self) -> MuteState:
        video, audio = self._parse(codec.parse_mute, self.request("AVMT"))
        return MuteState(video=video, audio=audio)

    def set_mute(self, video: bool | None = None, audio: bool | None = None) -> None:
        if video is not None and audio is not None and video == audio:
            self._set("AVMT", f"3{int(video)}")
            return
        if video is not None:
            self._set("AVMT", f"1{int(video)}")
        if audio is not None:
            self._set("AVMT", f"2{int(audio)}")

    def native_resolution(self) -> tuple[int, int] | None:
        return self._resolution("RRES")

    def input_resolution(self) -> tuple[int, int] | None:
        """None without signal, on Class 1 and if unsupported; ERR3 (standby) is raised."""
        return self._resolution("IRES")

    def _resolution(self, body: str) -> tuple[int, int] | None:
        if self.pj_class < 2:
            return None
        try:
            data = self.request(body, "?", 2)
        except DeviceCommandError as exc:
            if exc.code == "ERR1":
                return None
            raise
        return self._parse(codec.parse_resolution, data)

    def error_status(self) -> dict[str, str]:
        return self._parse(codec.parse_error_status, self.request("ERST"))

    def screen_size_in(self) -> float | None:
        """PJLink has no screen-size query."""
        return None

    def lamp_hours(self) -> list[tuple[int, bool]]:
        """Per-lamp (hours, lit). Displays without a lamp answer ERR1: empty list."""
        try:
            data = self.request("LAMP")
        except DeviceCommandError as exc:
            if exc.code == "ERR1":
                return []
            raise
        return self._parse(codec.parse_lamps, data)


def _show(line: bytes) -> str:
    text = repr(line[:40])
    return text + ("..." if len(line) > 40 else "")
