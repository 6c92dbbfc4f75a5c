"""A PJLink Class 1/Class 2 projector or flat-panel simulator over real TCP.

Speaks the same bytes as a device: greeting, MD5 authentication, ``%1``/``%2`` commands, OK and
ERR1-ERR4 replies, ``PJLINK ERRA``. State and fault knobs are constructor keywords and plain
attributes that may be changed while it runs (read on every command). Run standalone with
``python -m classcert.rigs.simulators.pjlink_sim --port 4352 --password secret``.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Iterable, Sequence
from typing import Any

from classcert.device_drivers import pjlink_codec as codec
from classcert.rigs.simulators.serving import Recv, Send, SessionServer, serve_for

QUIRKS = {
    "lowercase": "replies in lower case (%1powr=ok)",
    "crlf": "greeting and replies end with CR LF",
    "lf": "greeting and replies end with LF only",
    "padding": "replies carry a leading NUL/space and trailing spaces",
    "class1_replies": "every reply carries class digit 1, even to %2 requests",
    "greeting_spaces": "trailing spaces after the greeting",
    "lamp_spaces": "irregular whitespace in the LAMP answer",
}
_POWER = {"off": "0", "on": "1", "cooling": "2", "warming": "3", "warm-up": "3",
          "0": "0", "1": "1", "2": "2", "3": "3"}
_MAX_LINE = 1024
_MUTE_SETS = {"10", "11", "20", "21", "30", "31"}
_GARBAGE = (b"HTTP/1.1 400 Bad Request\r\n", b"# telnet console ready\r",
            b"\xff\xfb\x01\xff\xfb\x03 login:\r")


def _power_code(value: Any) -> str:
    key = ("1" if value else "0") if isinstance(value, bool) else str(value).strip().lower()
    if key not in _POWER:
        raise ValueError(f"power must be one of on/off/cooling/warming, got {value!r}")
    return _POWER[key]


def _resolution(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return codec.parse_resolution(value)
    width, height = value
    return int(width), int(height)


def _error_status(value: str | dict[str, str]) -> str:
    text = codec.format_error_status(value) if isinstance(value, dict) else value
    codec.parse_error_status(text)  # validates
    return text


class PjlinkSimulator(SessionServer):
    """Background-thread PJLink server. Use as a context manager; ``address`` is host:port.

    Fault knobs: ``auth_fail`` (always ERRA), ``reply_delay_s``, ``drop_after`` (close after N
    answered commands; 0 = drop without answering), ``garbage`` (non-PJLink answers),
    ``failure`` (lamp error, ERR4 on POWR/INPT sets), ``ignore_set`` (OK but no change),
    ``quirks`` (see QUIRKS). ``power`` settles through warming/cooling in warmup_s/cooldown_s.
    """

    thread_prefix = "pjlink-sim"

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, password: str | None = None,
        pj_class: int = 2, *, power: Any = "on", input: str = "31",
        inputs: Sequence[str] = ("11", "31", "32", "51"), video_mute: bool = False,
        audio_mute: bool = False, lamp_hours: int | Sequence[int] = 1200,
        make: str = "Classcert", model: str = "SIM-PJ2", serial: str = "SIM00001",
        firmware: str = "1.0.0", name: str = "classroom-display", info: str = "PJLink simulator",
        native_resolution: Any = (1920, 1080), input_resolution: Any = (1920, 1080),
        error_status: str | dict[str, str] = "000000", filter_hours: int | None = 0,
        input_names: dict[str, str] | None = None, warmup_s: float = 0.2,
        cooldown_s: float = 0.2, idle_timeout_s: float = 30.0, auth_fail: bool = False,
        reply_delay_s: float = 0.0, drop_after: int | None = None, garbage: bool = False,
        failure: bool = False, ignore_set: bool = False, quirks: Iterable[str] = (),
        max_connections: int = 16, seed: int | None = None,
    ) -> None:
        if pj_class not in (1, 2):
            raise ValueError(f"pj_class must be 1 or 2, got {pj_class!r}")
        self.host, self.port, self.password, self.pj_class = host, port, password, pj_class
        self.inputs = [str(c).upper() for c in inputs]
        self.input = str(input).upper()
        self.video_mute, self.audio_mute = video_mute, audio_mute
        self.lamp_hours = [lamp_hours] if isinstance(lamp_hours, int) else list(lamp_hours)
        self.make, self.model, self.serial, self.firmware = make, model, serial, firmware
        self.name, self.info = name, info
        self.native_resolution = _resolution(native_resolution)
        self.input_resolution = _resolution(input_resolution)
        self.error_status = _error_status(error_status)
        self.filter_hours = filter_hours
        self.input_names = dict(input_names or {})
        self.warmup_s, self.cooldown_s, self.idle_timeout_s = warmup_s, cooldown_s, idle_timeout_s
        self.auth_fail, self.reply_delay_s, self.drop_after = auth_fail, reply_delay_s, drop_after
        self.garbage, self.failure, self.ignore_set = garbage, failure, ignore_set
        unknown = set(quirks) - set(QUIRKS)
        if unknown:
            raise ValueError(f"unknown quirks {sorted(unknown)}; known: {', '.join(QUIRKS)}")
        self.quirks = set(quirks)
        self.max_connections = max_connections
        self.frozen, self.speaker_volume, self.mic_volume = False, 10, 10
        self.connections = 0  # accepted so far
        self._power, self._settle_at = _power_code(power), 0.0
        self._rng = random.Random(seed)
        self._init_serving()
        self._log: list[str] = []

    # ------------------------------------------------------------ state ----------------
    @property
    def power(self) -> str:
        """Power code now: "0" off, "1" on, "2" cooling, "3" warming."""
        with self._lock:
            if self._power in ("2", "3") and time.monotonic() >= self._settle_at:
                self._power = "0" if self._power == "2" else "1"
            return self._power

    @power.setter
    def power(self, value: Any) -> None:
        with self._lock:
            self._power = _power_code(value)
            self._settle_at = time.monotonic() + (
                self.warmup_s if self._power == "3" else self.cooldown_s)

    @property
    def command_log(self) -> list[str]:
        """Commands received so far (auth digest removed), e.g. ``["%1POWR ?", ...]``."""
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    # ------------------------------------------------------------ session --------------
    def _session(self, recv: Recv, send: Send, closes: bool) -> None:
        salt = codec.new_salt() if (self.password is not None or self.auth_fail) else None
        greeting = codec.encode_greeting(salt)[:-1].decode()
        if "greeting_spaces" in self.quirks:
            greeting += "   "
        send(greeting.encode() + self._terminator())
        buf, answered, idle_since = bytearray(), 0, time.monotonic()
        while not self._stop.is_set():
            if time.monotonic() - idle_since > self.idle_timeout_s:
                return  # PJLink devices close idle connections (30 s in the spec)
            cut = buf.find(b"\r")
            if cut < 0:
                if len(buf) > _MAX_LINE:
                    return
                chunk = recv()
                if chunk is None:
                    return
                buf += chunk
                continue
            text = bytes(buf[:cut]).decode("latin-1").strip(" \t\n\x00")
            del buf[: cut + 1]
            if not text:
                continue
            idle_since = time.monotonic()
            if salt is not None:
                digest, text = text[:32].lower(), text[32:]
                if self.auth_fail or digest != codec.auth_digest(salt, self.password or ""):
                    self._record(f"<auth rejected> {text}")
                    send(b"PJLINK ERRA" + self._terminator())
                    return
                salt = None
            self._record(text)
            if self.drop_after is not None and answered >= self.drop_after:
                return  # drops the connection without answering
            if self.reply_delay_s > 0 and self._stop.wait(self.reply_delay_s):
                return
            reply = self._garbage() if self.garbage else self._reply_line(text)
            if reply:
                send(reply)
            answered += 1
            if self.drop_after is not None and answered >= self.drop_after:
                return

    def _record(self, text: str) -> None:
        with self._lock:
            self._log.append(text)

    def _terminator(self) -> bytes:
        return b"\r\n" if "crlf" in self.quirks else b"\n" if "lf" in self.quirks else b"\r"

    def _garbage(self) -> bytes:
        if self._rng.random() < 0.5:
            return self._rng.choice(_GARBAGE)
        noise = bytes(b for b in self._rng.randbytes(24) if b not in b"\r\n%")
        return b"#" + noise + b"\r"

    # ------------------------------------------------------------ protocol -------------
    def _reply_line(self, text: str) -> bytes:
        try:
            cmd = codec.decode_command(text)
        except codec.PjlinkDecodeError:
            body = text[2:6].upper()
            if not (text[:2] in ("%1", "%2") and len(body) == 4 and body.isalnum()):
                return b""  # not PJLink at all: a device stays silent
            cmd = codec.Command(int(text[1]), body, "")
            data = "ERR1"
        else:
            with self._lock:
                data = self._answer(cmd)
        line = f"%{1 if 'class1_replies' in self.quirks else cmd.pj_class}{cmd.body}={data}"
        if "lowercase" in self.quirks:
            line = line.lower()
        if "padding" in self.quirks:
            line = f"\x00 {line}  "
        return line.encode() + self._terminator()

    def _answer(self, cmd: codec.Command) -> str:
        body, param = cmd.body, cmd.param.strip()
        if body not in codec.CLASS1_BODIES | codec.CLASS2_BODIES or cmd.pj_class > self.pj_class:
            return "ERR1"
        if body in codec.CLASS2_BODIES and cmd.pj_class == 1:
            return "ERR1"  # a Class 2 command must be sent as %2
        if len(param) > codec.MAX_PARAM_LEN:
            return "ERR2"
        if body in ("SVOL", "MVOL"):  # set-only: one step down (0) or up (1)
            return self._volume("speaker_volume" if body == "SVOL" else "mic_volume", param)
        if body == "INNM":
            code = param[1:].upper()
            if not param.startswith("?") or code not in self.inputs:
                return "ERR2"
            return self.input_names.get(code, f"{codec.INPUT_TYPES[code[0]]} {code[1]}")
        if body in ("POWR", "INPT", "AVMT", "FREZ"):
            return self._control(body, param, cmd.pj_class)
        return self._query(body, cmd.pj_class) if param == "?" else "ERR2"

    def _query(self, body: str, pj_class: int) -> str:
        """Answer a query-only command."""
        if body == "IRES" and self.power != "1":
            return "ERR3"
        if body == "LAMP":
            if not self.lamp_hours:
                return "ERR1"  # no lamp (LED/laser panel)
            lit = self.power in ("1", "3") and not self.failure
            text = codec.format_lamps([(h, lit) for h in self.lamp_hours])
            return text.replace(" ", "   ") if "lamp_spaces" in self.quirks else text
        if body == "ERST":
            status = self.error_status
            return status[0] + "2" + status[2:] if self.failure else status
        if body == "RRES" and self.native_resolution is None:
            return "ERR1"
        if body == "FILT" and self.filter_hours is None:
            return "ERR1"
        return {
            "NAME": self.name, "INF1": self.make, "INF2": self.model, "INFO": self.info,
            "CLSS": str(self.pj_class), "SNUM": self.serial, "SVER": self.firmware,
            "RLMP": "LMP-SIM1", "RFIL": "FLT-SIM1", "FILT": str(self.filter_hours),
            # a %1INST query lists only the inputs a Class 1 client can address
            "INST": " ".join(c for c in self.inputs if codec.is_input_code(c, pj_class)),
            "IRES": codec.format_resolution(self.input_resolution, no_signal="-"),
            "RRES": codec.format_resolution(self.native_resolution),
        }[body]

    def _control(self, body: str, param: str, pj_class: int) -> str:
        """POWR, INPT, AVMT, FREZ: query or set, with realistic refusals."""
        now = self.power
        if body == "POWR":
            if param == "?":
                return now
            if param not in ("0", "1"):
                return "ERR2"
            if self.failure:
                return "ERR4"
            if (param == "1" and now == "2") or (param == "0" and now == "3"):
                return "ERR3"  # cannot reverse a warm-up or cool-down
            if not self.ignore_set and (param, now) == ("1", "0"):
                self.power = "3" if self.warmup_s > 0 else "1"
            elif not self.ignore_set and (param, now) == ("0", "1"):
                self.power = "2" if self.cooldown_s > 0 else "0"
            return "OK"
        if now != "1":
            return "ERR3"  # no input/mute/freeze control in standby or while warming up
        if param == "?":
            return {"INPT": self.input, "FREZ": str(int(self.frozen)),
                    "AVMT": codec.format_mute(self.video_mute, self.audio_mute)}[body]
        code = param.upper()
        if body == "INPT":
            if not codec.is_input_code(code, pj_class) or code not in self.inputs:
                return "ERR2"
            if self.failure:
                return "ERR4"
            if not self.ignore_set:
                self.input = code
        elif body == "AVMT":
            if param not in _MUTE_SETS:
                return "ERR2"
            if not self.ignore_set and param[0] in "13":
                self.video_mute = param[1] == "1"
            if not self.ignore_set and param[0] in "23":
                self.audio_mute = param[1] == "1"
        else:  # FREZ
            if param not in ("0", "1"):
                return "ERR2"
            if not self.ignore_set:
                self.frozen = param == "1"
        return "OK"

    def _volume(self, attr: str, param: str) -> str:
        if param not in ("0", "1"):
            return "ERR2"
        if not self.ignore_set:
            step = 1 if param == "1" else -1
            setattr(self, attr, min(max(getattr(self, attr) + step, 0), 30))
        return "OK"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="PJLink display simulator / PJLink 显示设备模拟器")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=codec.PJLINK_PORT)
    parser.add_argument("--password", default=None)
    parser.add_argument("--class", dest="pj_class", type=int, choices=(1, 2), default=2)
    parser.add_argument("--power", default="off", choices=("on", "off"))
    parser.add_argument("--native-resolution", default="1920x1080")
    parser.add_argument("--quirk", action="append", default=[], choices=sorted(QUIRKS))
    parser.add_argument("--warmup-s", type=float, default=2.0)
    parser.add_argument("--duration-s", type=float, default=0.0, help="stop after N s (0: never)")
    args = parser.parse_args(argv)
    sim = PjlinkSimulator(args.host, args.port, args.password, args.pj_class, power=args.power,
                          native_resolution=args.native_resolution, quirks=args.quirk,
                          warmup_s=args.warmup_s, cooldown_s=args.warmup_s)
    with sim:
        print(f"PJLink simulator listening on {sim.address} (class {sim.pj_class}, "
              f"{'password set' if args.password else 'no password'}); Ctrl-C to stop", flush=True)
        serve_for(args.duration_s)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
