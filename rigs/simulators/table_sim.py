"""A flat panel simulator over real TCP that answers from a vendor command table.

It reads the SAME table file as the ``table:<model>`` driver: a received frame is looked up
among the table's ``send`` strings, and the answer is built from the reply pattern whose
meaning fits the simulated state (``??`` bytes filled from the state, checksum computed).
Bytes that match no command get the table's "rejected" reply, or silence when it has none.

State and fault knobs are constructor keywords and plain attributes that may be changed while
it runs. Run standalone with
``python -m classcert.rigs.simulators.table_sim --table generic-rs232-panel --port 5000``.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from classcert.device_drivers.command_table import (
    INPUT_SELECT,
    MAX_FRAME,
    TEXT_QUERIES,
    Command,
    CommandTable,
    Reply,
    format_hex,
    load_table,
)
from classcert.rigs.simulators.serving import Recv, Send, SessionServer, serve_for

_POWER_STATES = ("on", "off", "warming", "cooling")


class TableSimulator(SessionServer):
    """Background-thread server for one table. Context manager; ``address`` is host:port.

    Fault knobs: ``ignore_set`` (acknowledge set commands without changing anything),
    ``reply_delay_s``, ``drop_after`` (close after N answered commands; 0 = drop without
    answering), ``garbage`` (answers that match no reply of the table), ``failure`` (set
    commands answered "failure", or "rejected" when the table has no failure reply; the
    error_query reports its first error; a lamp is not lit), ``echo`` (echo each command
    first, like some RS-232 lines). ``password`` is accepted and ignored (no authentication).
    """

    thread_prefix = "table-sim"

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, password: str | None = None, *,
        table: str | Path | CommandTable = "generic-rs232-panel", power: str = "on",
        input: str | None = None, audio_mute: bool = False, video_mute: bool = False,
        make: str | None = "Classcert", model: str | None = "SIM-TABLE",
        serial: str | None = "SIM00002", firmware: str | None = "1.0.0",
        name: str | None = "classroom-panel", screen_size_in: float | None = 65,
        native_resolution: Sequence[int] | None = (3840, 2160),
        input_resolution: Sequence[int] | None = (1920, 1080), lamp_hours: int | None = None,
        error: str = "ok", warmup_s: float = 0.0, cooldown_s: float = 0.0,
        idle_timeout_s: float = 30.0, ignore_set: bool = False, reply_delay_s: float = 0.0,
        drop_after: int | None = None, garbage: bool = False, failure: bool = False,
        echo: bool = False, max_connections: int = 16, seed: int | None = None,
    ) -> None:
        del password
        self.table = table if isinstance(table, CommandTable) else load_table(table)
        inputs = self.table.inputs
        if input is not None and input not in inputs:
            raise ValueError(f"input {input!r} is not in table {self.table.name}: {inputs}")
        self.host, self.port = host, port
        self.input = input if input is not None else (inputs[0] if inputs else "")
        self.audio_mute, self.video_mute = audio_mute, video_mute
        self.texts = {"make": make, "model": model, "serial": serial, "firmware": firmware,
                      "name": name}
        self.screen_size_in, self.lamp_hours, self.error = screen_size_in, lamp_hours, error
        self.native_resolution, self.input_resolution = native_resolution, input_resolution
        self.warmup_s, self.cooldown_s, self.idle_timeout_s = warmup_s, cooldown_s, idle_timeout_s
        self.ignore_set, self.reply_delay_s, self.drop_after = ignore_set, reply_delay_s, drop_after
        self.garbage, self.failure, self.echo = garbage, failure, echo
        self.max_connections = max_connections
        self.connections = 0
        self._init_serving()
        self._power, self._settle_at = "off", 0.0
        self.power = power
        self._by_bytes = {c.send: a for a, c in self.table.commands.items()}
        self._rng = random.Random(seed)
        self._log: list[str] = []

    # ------------------------------------------------------------ state ----------------
    @property
    def power(self) -> str:
        """on, off, warming or cooling (the last two settle after warmup_s / cooldown_s)."""
        with self._lock:
            if self._power in ("warming", "cooling") and time.monotonic() >= self._settle_at:
                self._power = "on" if self._power == "warming" else "off"
            return self._power

    @power.setter
    def power(self, value: str) -> None:
        if value not in _POWER_STATES:
            raise ValueError(f"power must be one of {_POWER_STATES}, got {value!r}")
        with self._lock:
            self._power = value
            self._settle_at = time.monotonic() + (
                self.warmup_s if value == "warming" else self.cooldown_s)

    @property
    def command_log(self) -> list[str]:
        """Actions received so far (``"? <hex>"`` for bytes matching no command)."""
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    # ------------------------------------------------------------ session --------------
    def _session(self, recv: Recv, send: Send, closes: bool) -> None:
        buf, answered, idle_since = b"", 0, time.monotonic()
        while not self._stop.is_set() and time.monotonic() - idle_since <= self.idle_timeout_s:
            frame, buf = self._next_frame(buf)
            if frame is None:
                if len(buf) > MAX_FRAME:
                    return
                chunk = recv()
                if chunk is None:
                    return
                buf += chunk
                continue
            idle_since = time.monotonic()
            action = self._by_bytes.get(frame)
            with self._lock:
                self._log.append(action or f"? {format_hex(frame)}")
            if self.drop_after is not None and answered >= self.drop_after:
                return  # drops the connection without answering
            if self.reply_delay_s > 0 and self._stop.wait(self.reply_delay_s):
                return
            reply = self.answer(action) if action else self._build_named(None, "rejected", {})
            if self.echo:
                send(frame)
            if reply and self.garbage:
                reply = self._garbage(reply, action)
            if reply:
                send(reply)
            answered += 1
            if self.drop_after is not None and answered >= self.drop_after:
                return

    def _next_frame(self, buf: bytes) -> tuple[bytes | None, bytes]:
        """Split one command frame off the received bytes, if complete."""
        if self.table.framing == "terminator":
            term = self.table.terminator
            cut = buf.find(term)
            return (None, buf) if cut < 0 else (buf[: cut + len(term)], buf[cut + len(term):])
        for send in self._by_bytes:
            if buf.startswith(send):
                return send, buf[len(send):]
        if buf and not any(s.startswith(buf) for s in self._by_bytes):
            return buf, b""  # matches no command of the table
        return None, buf

    # ------------------------------------------------------------ protocol -------------
    def answer(self, action: str) -> bytes:
        """The bytes a panel in the current state sends for ``action`` (b"" = silence)."""
        with self._lock:
            meaning, values = self._decide(action)
        return self._build_named(action, meaning, values)

    def _decide(self, action: str) -> tuple[str, dict[str, Any]]:
        is_set = action in ("power_on", "power_off") or action.startswith(INPUT_SELECT)
        needs_on = action.startswith(INPUT_SELECT) or "mute" in action or action == "input_query"
        if is_set and self.failure:
            return "failure", {}
        if needs_on and self.power != "on" and self._reply(action, "busy"):
            return "busy", {}  # input and mute need the panel on, when the table can say so
        if action in ("power_on", "power_off"):
            on = action == "power_on"
            if not self.ignore_set and self.power in (("off", "cooling") if on else ("on",)):
                step = "warming" if on else "cooling"
                pause = self.warmup_s if on else self.cooldown_s
                self.power = step if pause > 0 and self._reply("power_query", step) else (
                    "on" if on else "off")
            return "ok", {}
        if action.startswith(INPUT_SELECT):
            if not self.ignore_set:
                self.input = action.partition(".")[2]
            return "ok", {}
        if action.endswith(("mute_on", "mute_off")):
            if not self.ignore_set:
                attr = "video_mute" if action.startswith("video") else "audio_mute"
                setattr(self, attr, action.endswith("_on"))
            return "ok", {}
        return self._query(action)

    def _query(self, action: str) -> tuple[str, dict[str, Any]]:
        if action == "power_query":
            return self.power, {}
        if action == "input_query":
            return self.input, {}
        if action in ("mute_query", "video_mute_query"):
            muted = self.video_mute if action.startswith("video") else self.audio_mute
            return ("on" if muted else "off"), {}
        if action in TEXT_QUERIES:
            text = self.texts[action.removesuffix("_query")]
            return ("none", {}) if text is None else ("value", {"text": text})
        if action == "screen_size_query":
            size = self.screen_size_in
            return ("none", {}) if size is None else ("value", {"inches": size})
        if action in ("native_resolution_query", "input_resolution_query"):
            res = self.native_resolution if action.startswith("native") else self.input_resolution
            return ("none", {}) if res is None else ("value", {"width": res[0], "height": res[1]})
        if action == "lamp_query":
            if self.lamp_hours is None:
                return "none", {}
            lit = self.power == "on" and not self.failure
            has_lit = self._reply(action, "on") is not None
            return ("on" if lit else "off") if has_lit else "value", {"hours": self.lamp_hours}
        if action == "error_query" and self.failure:
            first = next((r.meaning for r in self.table.candidates(action)
                          if r.meaning.startswith("error:")), "failure")
            return first, {}
        return (self.error, {}) if action == "error_query" else ("rejected", {})

    def _reply(self, action: str | None, meaning: str) -> Reply | None:
        replies = self.table.candidates(action) if action else self.table.common
        return next((r for r in replies if r.meaning == meaning), None)

    def _build_named(self, action: str | None, meaning: str, values: dict[str, Any]) -> bytes:
        """Build the reply meaning ``meaning``; fall back to "rejected", else silence."""
        for wanted in (meaning, "rejected"):
            reply = self._reply(action, wanted)
            if reply is not None:
                command = self.table.commands.get(action) if action else None
                return self.build(reply, command, values if wanted == meaning else {})
        return b""

    def build(self, reply: Reply, command: Command | None, values: dict[str, Any]) -> bytes:
        """Fill the pattern's ``??`` (and ``*``) bytes from ``values``, then the checksum."""
        pat, fields = reply.pattern, [f for f in (command.fields if command else ())
                                      if f.name in values]
        star = 0
        if pat.star:
            span = range(len(pat.positions()))
            for f in fields:
                covered = span[f.start:f.stop]
                if len(pat.head) in covered:  # this field grows with the '*' run
                    star = max(0, len(str(values[f.name]).encode()) - (len(covered) - 1))
        frame = bytearray(0 if b is None else b for b in pat.head) + bytearray(star)
        frame += bytearray(0 if b is None else b for b in pat.tail)
        for f in fields:
            length = len(range(len(frame))[f.start:f.stop])
            frame[f.start:f.stop] = f.encode(values[f.name], length)
        return self.table.checksum.fill(bytes(frame))

    def _garbage(self, proper: bytes, action: str | None) -> bytes:
        """Bytes of the same length that no reply of the table can start with."""
        term = self.table.terminator if self.table.framing == "terminator" else b""
        firsts = {r.pattern.head[0] for r in self.table.candidates(action or "")
                  if r.pattern.head}
        allowed = [b for b in range(256) if b not in firsts and b not in term]
        body = bytes(self._rng.choice(allowed) for _ in range(max(len(proper) - len(term), 1)))
        return body + term


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Command-table panel simulator / 指令表显示设备模拟器")
    parser.add_argument("--table", default="generic-rs232-panel",
                        help="model name in device_drivers/tables or path to a table file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--power", default="off", choices=_POWER_STATES)
    parser.add_argument("--duration-s", type=float, default=0.0, help="stop after N s (0: never)")
    args = parser.parse_args(argv)
    with TableSimulator(args.host, args.port, table=args.table, power=args.power) as sim:
        print(f"table simulator '{sim.table.name}' listening on {sim.address}; Ctrl-C to stop",
              flush=True)
        serve_for(args.duration_s)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
