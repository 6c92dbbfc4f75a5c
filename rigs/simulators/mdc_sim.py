"""A Samsung MDC flat-panel display simulator over real TCP and/or a serial port (pty).

Speaks the same binary frames as a display (see ``samsung_mdc_codec``): ACK/NAK replies with
checksums, display ids (silent for frames addressed to another id, answers broadcast 0xFE),
and optionally the "secured protocol" banner of newer firmware. State and fault knobs are
constructor keywords and plain attributes that may be changed while it runs.
Standalone: ``python -m classcert.rigs.simulators.mdc_sim --port 1515 [--serial /dev/pts/N]``.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Iterable, Sequence
from typing import Any

from classcert.device_drivers import samsung_mdc_codec as codec
from classcert.rigs.simulators.serving import Recv, Send, SessionServer, serve_for

QUIRKS = {
    "padded_strings": "string answers padded to 20 bytes with NULs and spaces",
    "leading_nul": "a stray 0x00 byte before every reply",
    "echo": "the request is echoed before the reply (half-duplex converter)",
    "pc_variants": "inputs reported as their get-only PC-signal codes (HDMI1 -> 0x22)",
    "short_error_status": "0x0D answered without the fan byte (older models)",
    "long_status": "0x00 status answered with extra trailing bytes (newer firmware)",
    "own_id": "broadcast (0xFE) requests answered with the display's own id",
}
# NAK error bytes this simulator sends; the MDC spec leaves their meaning to the model.
NAK_UNSUPPORTED, NAK_BAD_VALUE, NAK_NOT_NOW, NAK_FAILURE = 0x01, 0x02, 0x03, 0x04
_FRAME_GAP_S = 0.5
_GARBAGE = (b"HTTP/1.1 400 Bad Request\r\n\r\n", b"\xff\xfb\x01\xff\xfb\x03 login: ",
            b"\xaa\x11\x00\x01\x01\x13")  # the last: a request frame where a reply belongs
_PC_VARIANT = {base: pc for pc, base in codec.INPUT_ALIASES.items()}


def _input_code(value: Any) -> int:
    return value if isinstance(value, int) else codec.parse_input_code(str(value))


def _on(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in ("on", "off", "1", "0"):
        raise ValueError(f"power must be on or off, got {value!r}")
    return text in ("on", "1")


class MdcSimulator(SessionServer):
    """Background-thread MDC display. Context manager; ``address`` is the TCP host:port.

    Fault knobs: ``ignore_set`` (ACK but no change), ``reply_delay_s``, ``drop_after`` (after
    N answered commands TCP closes / serial goes silent; 0 = before answering), ``garbage``
    (non-MDC answers), ``nak_all`` (NAK with ``nak_code``), ``wrong_checksum``, ``failure``
    (fan and temperature errors, power/input settings refused), ``secured`` (TLS banner on
    TCP, no plain MDC; ``password`` is the PIN it would want), ``quirks`` (see QUIRKS).
    """

    thread_prefix = "mdc-sim"

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, password: str | None = None,
        display_id: int = 0, *, power: Any = "on", input: Any = "21",
        inputs: Sequence[Any] = ("14", "18", "21", "23", "25"), volume: int = 20,
        mute: bool = False, panel_off: bool = False, audio: bool = True,
        panel_control: bool = True, screen_size_in: int | None = 75,
        model_name: str = "SIM-MDC75", serial: str = "SIMMDC0000001",
        firmware: str = "S-SIM-1000.0", device_name: str = "classroom-display",
        model_species: int = 0x02, model_code: int = 0x01, temperature: int = 41,
        warmup_s: float = 0.0, idle_timeout_s: float = 30.0, secured: bool = False,
        ignore_set: bool = False, reply_delay_s: float = 0.0, drop_after: int | None = None,
        garbage: bool = False, nak_all: bool = False, nak_code: int = NAK_UNSUPPORTED,
        wrong_checksum: bool = False, failure: bool = False, quirks: Iterable[str] = (),
        max_connections: int = 16, seed: int | None = None,
    ) -> None:
        if not 0 <= display_id < codec.BROADCAST_ID:
            raise ValueError(f"display_id must be 0-253, got {display_id!r}")
        unknown = set(quirks) - set(QUIRKS)
        if unknown:
            raise ValueError(f"unknown quirks {sorted(unknown)}; known: {', '.join(QUIRKS)}")
        self.host, self.port, self.password, self.display_id = host, port, password, display_id
        self.inputs = [_input_code(c) for c in inputs]
        self.input = _input_code(input)
        self.volume, self.mute, self.panel_off = volume, mute, panel_off
        self.audio, self.panel_control, self.screen_size_in = audio, panel_control, screen_size_in
        self.model_name, self.serial, self.firmware = model_name, serial, firmware
        self.device_name, self.temperature = device_name, temperature
        self.model_species, self.model_code = model_species, model_code
        self.warmup_s, self.idle_timeout_s, self.secured = warmup_s, idle_timeout_s, secured
        self.ignore_set, self.reply_delay_s, self.drop_after = ignore_set, reply_delay_s, drop_after
        self.garbage, self.nak_all, self.nak_code = garbage, nak_all, nak_code
        self.wrong_checksum, self.failure, self.quirks = wrong_checksum, failure, set(quirks)
        self.max_connections = max_connections
        self.connections = 0  # TCP connections accepted so far
        self._power, self._ready_at = _on(power), 0.0
        self._rng = random.Random(seed)
        self._init_serving()
        self._log: list[codec.Request] = []

    # ------------------------------------------------------------ state ----------------
    @property
    def power(self) -> bool:
        with self._lock:
            return self._power

    @power.setter
    def power(self, value: Any) -> None:
        with self._lock:
            self._power = _on(value)
            self._ready_at = time.monotonic() + (self.warmup_s if self._power else 0.0)

    @property
    def requests(self) -> list[codec.Request]:
        """Requests addressed to this display so far (oldest first)."""
        with self._lock:
            return list(self._log)

    # ------------------------------------------------------------ session --------------
    def _session(self, recv: Recv, send: Send, closes: bool) -> None:
        tcp = closes  # TCP sessions may close; a serial line only falls silent
        if tcp and self.secured:
            send(codec.TLS_BANNER)  # then waits for a TLS handshake we never accept
        buf, answered, idle_since = bytearray(), 0, time.monotonic()
        heard_at = idle_since
        while not self._stop.is_set():
            if tcp and time.monotonic() - idle_since > self.idle_timeout_s:
                return  # like a display closing an idle control connection
            frame, used = codec.take_frame(bytes(buf))
            if frame is None:
                del buf[:used]
                if buf and time.monotonic() - heard_at > _FRAME_GAP_S:
                    del buf[:1]  # a frame never completed (inter-byte timeout): resync
                chunk = recv()
                if chunk is None:
                    return  # the client closed
                if chunk:
                    buf, heard_at = buf + chunk, time.monotonic()
                continue
            start = used - len(frame)
            idle_since = time.monotonic()
            try:
                request = codec.decode_request(frame)
            except codec.MdcDecodeError:
                del buf[: start + 1]  # corrupt: a display ignores it; rescan after this 0xAA
                continue
            del buf[:used]
            if (tcp and self.secured) or request.display_id not in (
                    self.display_id, codec.BROADCAST_ID):
                continue  # not for this display (or not TLS): stay silent
            with self._lock:
                self._log.append(request)
            if self.drop_after is not None and answered >= self.drop_after:
                if tcp:
                    return
                continue
            if self.reply_delay_s > 0 and self._stop.wait(self.reply_delay_s):
                return
            reply = self._garbage() if self.garbage else self._reply(request)
            prefix = (b"\x00" if "leading_nul" in self.quirks else b"") + (
                frame if "echo" in self.quirks else b"")
            send(prefix + reply)
            answered += 1
            if tcp and self.drop_after is not None and answered >= self.drop_after:
                return

    def _garbage(self) -> bytes:
        if self._rng.random() < 0.6:
            return self._rng.choice(_GARBAGE)
        return b"#" + bytes(b for b in self._rng.randbytes(12) if b != codec.HEADER)

    # ------------------------------------------------------------ protocol -------------
    def _reply(self, request: codec.Request) -> bytes:
        with self._lock:
            if self.nak_all:
                ack, data = False, bytes([self.nak_code])
            else:
                ack, data = self._answer(request.cmd, request.data)
        rid = request.display_id
        if rid == codec.BROADCAST_ID and "own_id" in self.quirks:
            rid = self.display_id
        frame = codec.encode_reply(rid, request.cmd, data, ack)
        if self.wrong_checksum:
            frame = frame[:-1] + bytes([(frame[-1] + 1) & 0xFF])
        return frame

    def _text(self, value: str) -> bytes:
        raw = value.encode("utf-8")
        return raw.ljust(18, b"\x00").ljust(20, b" ") if "padded_strings" in self.quirks else raw

    def _answer(self, cmd: int, data: bytes) -> tuple[bool, bytes]:
        texts = {codec.CMD_SERIAL: self.serial, codec.CMD_SW_VERSION: self.firmware,
                 codec.CMD_MODEL_NAME: self.model_name, codec.CMD_DEVICE_NAME: self.device_name}
        if cmd in texts or cmd in (codec.CMD_MODEL_NUMBER, codec.CMD_ERROR_STATUS,
                                   codec.CMD_SCREEN_SIZE, codec.CMD_STATUS):
            if data:
                return False, bytes([NAK_UNSUPPORTED])  # query-only commands
            if cmd in texts:
                return True, self._text(texts[cmd])
            return self._query(cmd)
        if cmd == codec.CMD_POWER:
            return self._power_command(data)
        if cmd not in (codec.CMD_INPUT, codec.CMD_VOLUME, codec.CMD_MUTE, codec.CMD_PANEL):
            return False, bytes([NAK_UNSUPPORTED])
        if not self.power or time.monotonic() < self._ready_at:
            return False, bytes([NAK_NOT_NOW])  # standby or still starting up
        if len(data) > 1:
            return False, bytes([NAK_BAD_VALUE])
        if cmd == codec.CMD_INPUT:
            return self._input_command(data)
        if cmd == codec.CMD_PANEL and not self.panel_control:
            return False, bytes([NAK_UNSUPPORTED])
        if cmd in (codec.CMD_VOLUME, codec.CMD_MUTE) and not self.audio:
            return (False, bytes([NAK_UNSUPPORTED])) if data else (True, b"\xff")
        attr, top = {codec.CMD_VOLUME: ("volume", 100), codec.CMD_MUTE: ("mute", 1),
                     codec.CMD_PANEL: ("panel_off", 1)}[cmd]
        if data:
            if data[0] > top:
                return False, bytes([NAK_BAD_VALUE])
            if not self.ignore_set:
                setattr(self, attr, data[0] if attr == "volume" else data[0] == 1)
            return True, data
        return True, bytes([int(getattr(self, attr))])

    def _query(self, cmd: int) -> tuple[bool, bytes]:
        if cmd == codec.CMD_MODEL_NUMBER:
            return True, bytes([self.model_species, self.model_code, 0x01])
        if cmd == codec.CMD_SCREEN_SIZE:
            if self.screen_size_in is None:
                return False, bytes([NAK_UNSUPPORTED])
            return True, bytes([self.screen_size_in])
        if cmd == codec.CMD_ERROR_STATUS:
            fault = 1 if self.failure else 0
            temp = 85 if self.failure else self.temperature
            status = bytes([0, fault, 0x02, 0, temp, fault])
            return True, status[:5] if "short_error_status" in self.quirks else status
        volume, mute = (self.volume, int(self.mute)) if self.audio else (0xFF, 0xFF)
        extra = b"\x00\x00" if "long_status" in self.quirks else b""
        return True, bytes([int(self.power), volume, mute, self._reported_input(), 0x10, 0,
                            0]) + extra

    def _reported_input(self) -> int:
        if "pc_variants" in self.quirks:
            return _PC_VARIANT.get(self.input, self.input)
        return self.input

    def _power_command(self, data: bytes) -> tuple[bool, bytes]:
        if not data:
            return True, bytes([int(self.power)])
        if len(data) != 1 or data[0] not in (0, 1):
            return False, bytes([NAK_BAD_VALUE])
        if self.failure and data[0] == 1:
            return False, bytes([NAK_FAILURE])
        if not self.ignore_set and self.power != (data[0] == 1):
            self.power = data[0] == 1
        return True, data

    def _input_command(self, data: bytes) -> tuple[bool, bytes]:
        if not data:
            return True, bytes([self._reported_input()])
        if data[0] not in self.inputs:
            return False, bytes([NAK_BAD_VALUE])
        if self.failure:
            return False, bytes([NAK_FAILURE])
        if not self.ignore_set:
            self.input = data[0]
        return True, data


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Samsung MDC display simulator / 三星 MDC 模拟器")
    add = parser.add_argument
    add("--host", default="127.0.0.1")
    add("--serial", default=None, help="also serve on this serial port/pty")
    for name, default in (("--port", codec.MDC_PORT), ("--baudrate", 9600), ("--display-id", 0),
                          ("--screen-size-in", 75)):
        add(name, type=int, default=default)
    add("--power", default="off", choices=("on", "off"))
    add("--quirk", action="append", default=[], choices=sorted(QUIRKS))
    add("--secured", action="store_true", help="announce the TLS protocol")
    add("--duration-s", type=float, default=0.0, help="stop after N s (0: never)")
    args = parser.parse_args(argv)
    sim = MdcSimulator(args.host, args.port, display_id=args.display_id, power=args.power,
                       screen_size_in=args.screen_size_in, quirks=args.quirk,
                       secured=args.secured)
    with sim:
        if args.serial:
            sim.serve_serial(args.serial, args.baudrate)
        where = sim.address + (f" and {args.serial}" if args.serial else "")
        print(f"Samsung MDC simulator listening on {where} (display id {sim.display_id}); "
              f"Ctrl-C to stop", flush=True)
        serve_for(args.duration_s)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
