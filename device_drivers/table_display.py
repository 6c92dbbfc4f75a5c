"""Display driver that speaks a vendor command table (rig driver name ``table:<model>``).

The bytes come from a table file (see :mod:`classcert.device_drivers.command_table` and
docs/command-tables.md), over TCP or a serial port/URL. Connection handling follows the PJLink
driver: reconnect when the peer closed an idle link, ``retries`` further attempts after a
timeout or a dropped connection; refusals, failures and unexpected replies are not retried.
A password is not used: table-driven panels have no authentication.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from classcert.device_drivers.command_table import (
    INPUT_SELECT,
    MAX_FRAME,
    CommandTable,
    Reply,
    format_hex,
    load_table,
)
from classcert.device_drivers.display import (
    ERROR_CATEGORIES,
    DisplayIdentity,
    MuteState,
    PowerState,
)
from classcert.device_drivers.errors import (
    DeviceCommandError,
    DeviceDisconnected,
    DeviceFailure,
    DeviceProtocolError,
    DeviceTimeout,
)
from classcert.device_drivers.transport import Transport, is_serial_address, open_transport

_POWER = {"on": PowerState.ON, "off": PowerState.OFF, "warming": PowerState.WARMING,
          "cooling": PowerState.COOLING}
_DRAIN_S = 0.05
_IDENTITY = ("make", "model", "serial", "firmware", "name")


class TableActionMissing(DeviceCommandError):
    """The command table has no entry for the action (code ``"UNSUPPORTED"``)."""


@dataclass(frozen=True)
class Answer:
    """A matched reply: its meaning and the values captured by the command's fields."""

    action: str
    meaning: str
    frame: bytes
    values: dict[str, Any] = field(default_factory=dict)


class TableDisplay:
    """A display controlled by the fixed byte strings of a :class:`CommandTable`."""

    def __init__(self, table: CommandTable, address: str, timeout: float = 5.0,
                 retries: int = 1, baudrate: int | None = None) -> None:
        if timeout <= 0 or retries < 0:
            raise ValueError("timeout must be > 0 and retries >= 0")
        self.table = table
        self.address = address
        self.timeout = timeout
        self.retries = retries
        self.baudrate = baudrate or table.baudrate
        self._transport: Transport | None = None
        self._last_exchange = 0.0
        self._dirty = False  # the link may hold stale bytes after an aborted exchange
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"TableDisplay({self.address!r}, table={self.table.name!r})"

    # -------------------------------------------------------------- connection ---------
    def connect(self) -> None:
        """Open the link. Optional: every method connects on demand."""
        with self._lock:
            self._ensure_open()

    def close(self) -> None:
        with self._lock:
            self._drop()

    def __enter__(self) -> TableDisplay:
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
                                         default_port=self.table.tcp_port, baudrate=self.baudrate)
        self._dirty = is_serial_address(self.address)  # a port may hold old bytes
        return self._transport, True

    # -------------------------------------------------------------- requests -----------
    def supports(self, action: str) -> bool:
        return self.table.command(action) is not None

    def request(self, action: str) -> Answer:
        """Send the table's bytes for ``action``; return the matched reply.

        Raises TableActionMissing when the table lacks the action, DeviceCommandError for a
        "rejected"/"busy" reply, DeviceFailure for "failure", DeviceProtocolError for a reply
        the table does not list or with a wrong checksum.
        """
        if self.table.command(action) is None:
            raise self._missing(action)
        with self._lock:
            attempts_left, free_reconnect = self.retries + 1, True
            while True:
                fresh = True
                try:
                    transport, fresh = self._ensure_open()
                    frame, reply = self._exchange(transport, action)
                    break
                except (DeviceDisconnected, DeviceTimeout) as exc:
                    self._drop()
                    if isinstance(exc, DeviceDisconnected) and not fresh and free_reconnect:
                        free_reconnect = False  # the peer closed an idle link: just reopen
                        continue
                    attempts_left -= 1
                    if attempts_left <= 0:
                        raise
                except DeviceProtocolError:
                    self._drop()
                    raise
        return self._answer(action, frame, reply)

    def _exchange(self, transport: Transport, action: str) -> tuple[bytes, Reply]:
        self._dirty, dirty = True, self._dirty
        if dirty:
            try:
                transport.read_exact(MAX_FRAME, timeout=_DRAIN_S)
            except DeviceTimeout:
                pass
            transport.discard_input()
        wait = self._last_exchange + self.table.min_gap_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        transport.write(self.table.commands[action].send)
        try:
            result = self._read_reply(transport, action)
        finally:
            self._last_exchange = time.monotonic()
        self._dirty = False
        return result

    def _read_reply(self, transport: Transport, action: str) -> tuple[bytes, Reply]:
        """Read byte by byte until the bytes match a reply the table lists for ``action``."""
        sent = self.table.commands[action].send
        candidates = self.table.candidates(action)
        term = self.table.terminator if self.table.framing == "terminator" else b""
        deadline = time.monotonic() + self.timeout
        buf, echo_skipped = b"", False
        suspect: tuple[bytes, Reply] | None = None  # matched, but its checksum is wrong
        for _ in range(MAX_FRAME + len(sent)):
            try:
                buf += transport.read_exact(1, timeout=max(deadline - time.monotonic(), 0.001))
            except DeviceTimeout:
                if suspect is None:
                    raise self._no_reply(action, buf) from None
                return suspect  # reported as a checksum error
            if not term or buf.endswith(term):
                reply = next((r for r in candidates if r.pattern.matches(buf)), None)
                if reply is not None:
                    # a data byte equal to the terminator ends a frame too early: read on
                    if self.table.checksum.wrong(buf) is None or not reply.pattern.may_grow_into(
                            buf) or not term:
                        return buf, reply
                    suspect = (buf, reply)
                if buf == sent and not echo_skipped:  # a serial line that echoes commands
                    buf, echo_skipped = b"", True
                    continue
            echo = not echo_skipped and sent.startswith(buf)
            if not echo and not any(r.pattern.may_grow_into(buf) for r in candidates):
                break
        raise self._unexpected(action, buf)

    def _answer(self, action: str, frame: bytes, reply: Reply) -> Answer:
        table, name = self.table, self.table.name
        wrong = table.checksum.wrong(frame)
        if wrong is not None:
            raise DeviceProtocolError(
                self.address,
                f"reply {format_hex(frame)} to {action} has checksum {format_hex(wrong[0])} but "
                f"{format_hex(wrong[1])} was computed - noise on the line or a wrong baud rate "
                f"({self.baudrate}); check the cable and the [checksum] section of table {name}",
                "回复校验错误 - 线路干扰或波特率不符；请检查连线和指令表的 [checksum] 设置")
        meaning, shown = reply.meaning, f"{action} (reply {format_hex(frame)})"
        if meaning in ("rejected", "busy"):
            en, zh = (
                (f"the display refused {shown}: invalid, or not available on this model",
                 f"设备拒绝执行 {action}：指令无效或该型号不支持") if meaning == "rejected" else
                (f"the display cannot do {shown} now: busy, starting up or in standby; retry "
                 f"later or power it on first",
                 f"设备暂时无法执行 {action}：忙、启动中或待机；请稍后重试或先开机"))
            raise DeviceCommandError(self.address, en, zh, code=meaning.upper(), command=action,
                                     busy=meaning == "busy")
        if meaning == "failure":
            raise DeviceFailure(
                self.address, f"the display reports a failure of its own after {shown} - check "
                f"its status and have it serviced",
                f"设备执行 {action} 时报告自身故障 - 请检查并安排维修",
                code="FAILURE", command=action)
        values: dict[str, Any] = {}
        if meaning not in ("none", "ok"):
            command = table.commands[action]
            try:
                values = {f.name: f.decode(frame) for f in command.fields}
            except (ValueError, UnicodeDecodeError) as exc:
                raise self._protocol_error(f"cannot read the value in {shown}: {exc}") from None
        return Answer(action, meaning, frame, values)

    # -------------------------------------------------------------- errors -------------
    def _missing(self, action: str) -> TableActionMissing:
        return TableActionMissing(
            self.address,
            f"{action} is not supported by command table '{self.table.name}' - if the panel's "
            f"manual lists it, add [commands.{action}] to {self.table.path}",
            f"指令表 '{self.table.name}' 不支持 {action} - 如设备手册中有该指令，请添加到指令表",
            code="UNSUPPORTED", command=action, busy=False)

    def _no_reply(self, action: str, got: bytes) -> DeviceTimeout:
        seen = f"only {format_hex(got)} arrived" if got else "nothing arrived"
        return DeviceTimeout(
            self.address,
            f"no complete reply to {action} within {self.timeout:g} s ({seen}) - check that "
            f"the panel is powered, its RS-232/LAN control is enabled, the baud rate "
            f"({self.baudrate}) and that table '{self.table.name}' is the one for this panel",
            f"{self.timeout:g} 秒内未收到 {action} 的完整回复 - 请检查设备电源、"
            f"RS-232/网络控制是否启用、波特率以及指令表型号")

    def _unexpected(self, action: str, got: bytes) -> DeviceProtocolError:
        candidates = self.table.candidates(action)
        expected = ", ".join(r.pattern.text for r in candidates[:6])
        term = self.table.terminator if self.table.framing == "terminator" else b""
        whole = got.endswith(term) if term else any(
            r.pattern.min_length == len(got) for r in candidates)
        wrong = self.table.checksum.wrong(got) if whole else None
        note = "" if wrong is None else (
            f" (its checksum {format_hex(wrong[0])} is wrong too: {format_hex(wrong[1])} "
            f"computed - noise on the line?)")
        return self._protocol_error(
            f"the display answered {format_hex(got)!r}{note} to {action} "
            f"({format_hex(self.table.commands[action].send)}); table '{self.table.name}' "
            f"expects one of: {expected}")

    def _protocol_error(self, what: str) -> DeviceProtocolError:
        return DeviceProtocolError(
            self.address,
            f"{what} - check that the rig names the right table for this panel, the baud rate "
            f"({self.baudrate}) and the cable",
            "设备回复与指令表不符 - 请检查机房配置中的指令表型号、波特率和连线")

    def _expect(self, answer: Answer, allowed: tuple[str, ...]) -> str:
        if answer.meaning not in allowed:
            raise self._protocol_error(
                f"the display answered {answer.action} with '{answer.meaning}' "
                f"instead of {' / '.join(allowed)}")
        return answer.meaning

    def _optional(self, action: str) -> Answer | None:
        """The answer of an optional query; None when the table lacks it or it says "none"."""
        if not self.supports(action):
            return None
        answer = self.request(action)
        return None if answer.meaning == "none" else answer

    # -------------------------------------------------------------- DisplayControl -----
    def identity(self) -> DisplayIdentity:
        """What the display says; the table's own make/model only go into ``raw``."""
        raw: dict[str, Any] = {"table": self.table.name, "table_file": str(self.table.path),
                               "table_make": self.table.make, "table_model": self.table.model}
        said: dict[str, str] = {}
        for key in _IDENTITY:
            try:
                answer = self._optional(f"{key}_query")
            except DeviceCommandError:
                answer = None  # refused: the display does not say
            said[key] = str(answer.values.get("text", "")) if answer else ""
            if self.supports(f"{key}_query"):
                raw[f"{key}_query"] = said[key]
        return DisplayIdentity(make=said["make"], model=said["model"], serial=said["serial"],
                               firmware=said["firmware"], name=said["name"], raw=raw)

    def get_power(self) -> PowerState:
        return _POWER[self._expect(self.request("power_query"), tuple(_POWER))]

    def set_power(self, on: bool) -> None:
        self._expect(self.request("power_on" if on else "power_off"), ("ok",))

    def get_input(self) -> str:
        return self._expect(self.request("input_query"), tuple(self.table.inputs))

    def list_inputs(self) -> list[str]:
        """The inputs the table can select, in file order."""
        return self.table.inputs

    def set_input(self, code: str) -> None:
        inputs = self.table.inputs
        name = code if code in inputs else next(
            (i for i in inputs if i.casefold() == code.strip().casefold()), code)
        action = f"{INPUT_SELECT}.{name}"
        if action not in self.table.commands:
            raise TableActionMissing(
                self.address, f"input {code!r} is not in command table '{self.table.name}' "
                f"(inputs: {', '.join(inputs) or 'none'}) - use one of them or add "
                f"[commands.input_select.{code}] from the manual",
                f"指令表中没有输入源 {code!r}（可用：{', '.join(inputs) or '无'}）",
                code="UNSUPPORTED", command=action, busy=False)
        self._expect(self.request(action), ("ok",))

    def get_mute(self) -> MuteState:
        """A panel whose table has neither query nor commands for a mute never mutes it."""
        return MuteState(video=self._muted("video_mute"), audio=self._muted("mute"))

    def _muted(self, prefix: str) -> bool:
        query = f"{prefix}_query"
        if self.supports(query):
            return self._expect(self.request(query), ("on", "off")) == "on"
        if self.supports(f"{prefix}_on") or self.supports(f"{prefix}_off"):
            raise self._missing(query)  # it can mute, but the state cannot be read
        return False

    def set_mute(self, video: bool | None = None, audio: bool | None = None) -> None:
        for prefix, value in (("video_mute", video), ("mute", audio)):
            if value is None:
                continue
            action = f"{prefix}_{'on' if value else 'off'}"
            absent = not any(self.supports(f"{prefix}_{s}") for s in ("on", "off", "query"))
            if not value and absent:
                continue  # no such mute on this panel: it is never muted
            self._expect(self.request(action), ("ok",))

    def native_resolution(self) -> tuple[int, int] | None:
        return self._resolution("native_resolution_query")

    def input_resolution(self) -> tuple[int, int] | None:
        return self._resolution("input_resolution_query")

    def _resolution(self, action: str) -> tuple[int, int] | None:
        answer = self._optional(action)
        if answer is None:
            return None
        width, height = int(answer.values["width"]), int(answer.values["height"])
        return (width, height) if width > 0 and height > 0 else None

    def error_status(self) -> dict[str, str]:
        """Category -> level; empty when the table has no error_query (nothing known)."""
        if not self.supports("error_query"):
            return {}
        meaning = self.request("error_query").meaning
        status = dict.fromkeys(ERROR_CATEGORIES, "ok")
        if meaning != "ok":
            level, _, category = meaning.partition(":")
            status[category] = level
        return status

    def lamp_hours(self) -> list[tuple[int, bool]]:
        answer = self._optional("lamp_query")
        if answer is None:
            return []
        hours = int(answer.values["hours"])
        lit = answer.meaning == "on" if answer.meaning != "value" else (
            self.get_power() is PowerState.ON)
        return [(hours, lit)]

    def screen_size_in(self) -> float | None:
        answer = self._optional("screen_size_query")
        return None if answer is None else float(answer.values["inches"])


def open_table(model_or_path: str, address: str, password: str | None, timeout: float,
               options: dict[str, Any]) -> TableDisplay:
    """Factory for rig driver ``table:<model>``.

    ``model_or_path`` is a file stem in device_drivers/tables/ or a path; the device option
    ``table_file`` (a path) takes precedence. Options used: ``table_file``, ``baudrate``
    (overrides the table's), ``retries`` (default 1); others are ignored. ``password`` is
    not used. Raises ValueError (TableError is one) for a bad table or option.
    """
    del password  # table-driven panels have no authentication
    source: str | Path = model_or_path
    if "table_file" in options:
        if not isinstance(options["table_file"], str) or not options["table_file"].strip():
            raise ValueError(f"option 'table_file' must be a path in quotes, got "
                             f"{options['table_file']!r} / table_file 必须是文件路径")
        source = Path(options["table_file"].strip())
    for key, low in (("baudrate", 50), ("retries", 0)):
        value = options.get(key, low)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"table option '{key}' must be a whole number >= {low}, got "
                             f"{value!r} / 选项 {key} 必须为不小于 {low} 的整数")
    return TableDisplay(load_table(source), address, timeout=timeout,
                        retries=options.get("retries", 1), baudrate=options.get("baudrate"))
