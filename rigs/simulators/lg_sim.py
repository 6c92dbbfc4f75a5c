"""An LG large-format display simulator over real TCP (LAN control) and serial ports.

Speaks the LG RS-232C protocol bytes (``ka 01 ff\\r`` -> ``a 01 OK01x``): power, input
select, screen and volume mute, volume, serial number, software version and fan check, with
NG refusals in standby, while starting and for codes the model does not have. State and
fault knobs are constructor keywords and plain attributes, read on every command.
``serve_serial(path)`` answers on a serial port as well (e.g. one end of a socat pty pair).
Standalone: ``python -m classcert.rigs.simulators.lg_sim --port 9761 [--serial /dev/pts/N]``.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Iterable, Sequence

from classcert.device_drivers import lg_codec as codec
from classcert.rigs.simulators.serving import Recv, Send, SessionServer, serve_for

QUIRKS = {
    "echo": "echoes every command line before answering (seen on RS-232 firmware)",
    "crlf": "CR LF after the closing x",
    "no_x": "replies end with CR instead of the closing x",
    "upper_hex": "set ID and data in upper-case hex (A 0A OK0A)",
    "spaces": "a blank between OK/NG and the data (a 01 OK 01x)",
    "lower_ok": "ok/ng in lower case",
}
_MAX_LINE = 512
_GARBAGE = (b"ERROR\r", b"HTTP/1.1 400 Bad Request\r\n", b"\xff\xfb\x01 login: \r")


class LgSimulator(SessionServer):
    """Background-thread LG display. Use as a context manager; ``address`` is host:port.

    Fault knobs: ``reply_delay_s``; ``drop_after`` (close after N answered commands, 0 = close
    without answering; on a serial port: fall silent); ``garbage`` (non-LG answers);
    ``ng_all`` (refuse every command with NG); ``failure`` (fan fault reported by dw, power-on
    and input changes refused); ``ignore_set`` (OK but no change); ``quirks`` (see QUIRKS).
    After power-on the set refuses other commands for ``warmup_s`` seconds, as it boots.
    """

    thread_prefix = "lg-sim"

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, password: str | None = None,
        set_id: int = 1, *, power: bool | str = "on", input: str = "90",
        inputs: Sequence[str] = ("90", "91", "A0", "C0"), video_mute: bool = False,
        audio_mute: bool = False, volume: int = 20, serial: str = "LGSIM0001",
        firmware: str = "03.10.15", has_fan: bool = True, warmup_s: float = 0.2,
        reply_delay_s: float = 0.0, drop_after: int | None = None, garbage: bool = False,
        ng_all: bool = False, failure: bool = False, ignore_set: bool = False,
        quirks: Iterable[str] = (), max_connections: int = 8, seed: int | None = None,
    ) -> None:
        if password is not None:
            raise ValueError("the LG protocol has no password; do not give the simulator one")
        codec.format_set_id(set_id)
        unknown = set(quirks) - set(QUIRKS)
        if unknown:
            raise ValueError(f"unknown quirks {sorted(unknown)}; known: {', '.join(QUIRKS)}")
        self.host, self.port, self.set_id = host, port, set_id
        self.inputs = [codec.normalize_input(c) for c in inputs]
        self.input = codec.normalize_input(input)
        self.video_mute, self.audio_mute, self.volume = video_mute, audio_mute, volume
        self.serial, self.firmware, self.has_fan = serial, firmware, has_fan
        self.warmup_s, self.reply_delay_s, self.drop_after = warmup_s, reply_delay_s, drop_after
        self.garbage, self.ng_all, self.failure = garbage, ng_all, failure
        self.ignore_set, self.quirks = ignore_set, set(quirks)
        self.max_connections = max_connections
        self.connections = 0  # accepted so far
        self._on = power is True or str(power).lower() in ("on", "1")
        self._ready_at = 0.0
        self._rng = random.Random(seed)
        self._init_serving()
        self._log: list[str] = []

    # ------------------------------------------------------------ state ----------------
    @property
    def power(self) -> bool:
        return self._on

    @power.setter
    def power(self, value: bool | str) -> None:
        self._on = value is True or str(value).lower() in ("on", "1")
        self._ready_at = 0.0

    @property
    def command_log(self) -> list[str]:
        """Command lines received so far, e.g. ``["ka 01 ff", ...]``."""
        with self._lock:
            return list(self._log)

    def _session(self, recv: Recv, send: Send, closes: bool) -> None:
        buf, answered = bytearray(), 0
        while not self._stop.is_set():
            cut = buf.find(b"\r")
            if cut < 0:
                if len(buf) > _MAX_LINE:
                    buf.clear()  # a line noise burst: forget it, like the set's UART
                chunk = recv()
                if chunk is None:
                    return
                buf += chunk
                continue
            line = bytes(buf[:cut]).decode("latin-1").strip(" \t\n\x00")
            del buf[: cut + 1]
            if not line:
                continue
            with self._lock:
                self._log.append(line)
            if self.drop_after is not None and answered >= self.drop_after:
                if closes:
                    return  # drops the connection without answering
                continue
            if self.reply_delay_s > 0 and self._stop.wait(self.reply_delay_s):
                return
            reply = self._garbage() if self.garbage else self.reply_to(line)
            if "echo" in self.quirks:
                reply = line.encode("latin-1") + b"\r" + reply
            if reply:
                send(reply)
            answered += 1
            if closes and self.drop_after is not None and answered >= self.drop_after:
                return

    def _garbage(self) -> bytes:
        if self._rng.random() < 0.5:
            return self._rng.choice(_GARBAGE)
        noise = bytes(b for b in self._rng.randbytes(24) if b not in b"\r\nxX")
        return b"#" + noise + b"\r"

    # ------------------------------------------------------------ protocol -------------
    def reply_to(self, line: str) -> bytes:
        """The bytes a set answers to one command line (b"" = stays silent)."""
        try:
            cmd = codec.decode_command(line)
        except codec.LgDecodeError:
            return b""  # not a command at all: a set ignores line noise
        if cmd.set_id not in (0, self.set_id):
            return b""  # addressed to another set on the bus
        with self._lock:
            ok, data = (False, "00") if self.ng_all else self._answer(cmd)
        return self._format(cmd.code, ok, data)

    def _format(self, code: str, ok: bool, data: str) -> bytes:
        letter, status, sid = code[1], "OK" if ok else "NG", codec.format_set_id(self.set_id)
        if "upper_hex" in self.quirks:
            letter, sid = letter.upper(), sid.upper()
            data = data if code in codec.TEXT_COMMANDS and ok else data.upper()
        if "lower_ok" in self.quirks:
            status = status.lower()
        sep = " " if "spaces" in self.quirks else ""
        end = "\r" if "no_x" in self.quirks else "x"
        end += "\r\n" if "crlf" in self.quirks else ""
        return f"{letter} {sid} {status}{sep}{data}{end}".encode("latin-1")

    def _answer(self, cmd: codec.Command) -> tuple[bool, str]:
        code, data, read = cmd.code, cmd.data, cmd.is_read
        if code == codec.POWER:
            return self._power(data)
        if code == codec.SERIAL_NUMBER and read:
            return True, self.serial
        if code == codec.SOFTWARE_VERSION and read:
            return True, self.firmware
        if code == codec.FAN_FAULT and read:
            return True, "02" if not self.has_fan else "00" if self.failure else "01"
        if code not in (codec.INPUT, codec.SCREEN_MUTE, codec.VOLUME_MUTE, codec.VOLUME):
            return False, "00"  # illegal code for this model
        if not self._on or time.monotonic() < self._ready_at:
            return False, "00"  # in standby, or still booting after power-on
        if read:
            return True, {
                codec.INPUT: self.input.lower(),
                codec.SCREEN_MUTE: codec.format_screen_mute(self.video_mute),
                codec.VOLUME_MUTE: codec.format_volume_mute(self.audio_mute),
                codec.VOLUME: codec.format_byte(self.volume),
            }[code]
        return self._set(code, data)

    def _power(self, data: str) -> tuple[bool, str]:
        if data == codec.READ:
            return True, "01" if self._on else "00"
        if data not in ("00", "01"):
            return False, "00"
        if data == "01" and self.failure:
            return False, "00"  # a set with a failed fan will not start
        if not self.ignore_set and (data == "01") != self._on:
            self._on = data == "01"
            self._ready_at = time.monotonic() + self.warmup_s if self._on else 0.0
        return True, data

    def _set(self, code: str, data: str) -> tuple[bool, str]:
        try:
            value = codec.parse_byte(data)
        except codec.LgDecodeError:
            return False, "00"
        if code == codec.INPUT:
            wanted = data.upper()
            if wanted not in self.inputs or self.failure:
                return False, "00"
            if not self.ignore_set:
                self.input = wanted
        elif code == codec.SCREEN_MUTE:
            if value not in (0x00, 0x01, 0x10):
                return False, "00"
            if not self.ignore_set:
                self.video_mute = bool(value & 0x01)
        elif code == codec.VOLUME_MUTE:
            if value not in (0, 1):
                return False, "00"
            if not self.ignore_set:
                self.audio_mute = value == 0
        else:  # VOLUME
            if value > 100:
                return False, "00"
            if not self.ignore_set:
                self.volume = value
        return True, data


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="LG display simulator / LG 显示设备模拟器")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=codec.LG_PORT)
    parser.add_argument("--set-id", type=int, default=1)
    parser.add_argument("--serial", default=None, help="also answer on this serial port")
    parser.add_argument("--power", default="off", choices=("on", "off"))
    parser.add_argument("--quirk", action="append", default=[], choices=sorted(QUIRKS))
    parser.add_argument("--duration-s", type=float, default=0.0, help="stop after N s (0: never)")
    args = parser.parse_args(argv)
    sim = LgSimulator(args.host, args.port, set_id=args.set_id, power=args.power,
                      quirks=args.quirk, warmup_s=2.0)
    with sim:
        if args.serial:
            sim.serve_serial(args.serial)
        print(f"LG simulator listening on {sim.address} (set ID {sim.set_id})"
              f"{' and ' + args.serial if args.serial else ''}; Ctrl-C to stop", flush=True)
        serve_for(args.duration_s)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
