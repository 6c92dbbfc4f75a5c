"""An NEC large-format display (MultiSync) simulator over real TCP and serial ports.

Speaks the NEC external control frames (SOH ... ETX BCC CR): power status/control, serial
number, model name, firmware version, self-diagnosis, and get/set of input (OP 0060), volume
(0062), audio mute (008D) and picture mute (10B6). NULL messages in standby and while
starting, result 01 for what the model lacks. State and fault knobs are constructor keywords
and plain attributes, read on every request. ``serve_serial(path)`` answers on a serial port.
Standalone: ``python -m classcert.rigs.simulators.nec_sim --port 7142 [--serial /dev/pts/N]``.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Iterable, Sequence
from typing import Any

from classcert.device_drivers import nec_codec as codec
from classcert.rigs.simulators.serving import Recv, Send, SessionServer, serve_for

QUIRKS = {
    "crlf": "frames end with CR LF",
    "no_cr": "frames end right after the BCC, without CR",
    "lowercase_hex": "length and hex fields in lower case",
    "leading_noise": "a NUL and a CR before every frame",
}
_MAX_BUFFER = 1024
_POWER = {"on": 1, "standby": 2, "suspend": 3, "off": 4}


def _power_mode(value: Any) -> int:
    if isinstance(value, bool):
        return 1 if value else 4
    if isinstance(value, int) and value in (1, 2, 3, 4):
        return value
    if str(value).lower() not in _POWER:
        raise ValueError(f"power must be one of {', '.join(_POWER)}, got {value!r}")
    return _POWER[str(value).lower()]


class NecSimulator(SessionServer):
    """Background-thread NEC monitor. Use as a context manager; ``address`` is host:port.

    Fault knobs: ``reply_delay_s``; ``drop_after`` (close after N answered requests, 0 = close
    without answering; on a serial port: fall silent); ``garbage`` (non-NEC answers);
    ``null_all`` (NULL message to everything); ``bad_bcc`` (replies with a wrong checksum);
    ``failure`` (fan and temperature errors in the self-diagnosis, power-on refused);
    ``ignore_set`` (accepted but no change); ``screen_mute_supported``; ``diagnosis`` (extra
    self-diagnosis codes); ``quirks`` (see QUIRKS). After power-on the monitor answers NULL
    to everything but the power status for ``warmup_s`` seconds, as it starts.
    """

    thread_prefix = "nec-sim"

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, password: str | None = None,
        monitor_id: int = 1, *, power: Any = "on", input: str = "11",
        inputs: Sequence[str] = ("01", "0F", "11", "12"), video_mute: bool = False,
        audio_mute: bool = False, volume: int = 30, serial: str = "NECSIM0001",
        model: str = "MultiSync SIM55", firmware: str = "R1.000",
        screen_mute_supported: bool = True, diagnosis: Sequence[int] = (),
        warmup_s: float = 0.2, reply_delay_s: float = 0.0, drop_after: int | None = None,
        garbage: bool = False, null_all: bool = False, bad_bcc: bool = False,
        failure: bool = False, ignore_set: bool = False, quirks: Iterable[str] = (),
        max_connections: int = 8, seed: int | None = None,
    ) -> None:
        if password is not None:
            raise ValueError("the NEC protocol has no password; do not give the simulator one")
        unknown = set(quirks) - set(QUIRKS)
        if unknown:
            raise ValueError(f"unknown quirks {sorted(unknown)}; known: {', '.join(QUIRKS)}")
        self.host, self.port, self.monitor_id = host, port, monitor_id
        self._address_byte = codec.monitor_address(monitor_id)
        self.inputs = [codec.parse_input_code(c) for c in inputs]
        self.input = codec.parse_input_code(input)
        self.video_mute, self.audio_mute, self.volume = video_mute, audio_mute, volume
        self.serial, self.model, self.firmware = serial, model, firmware
        self.screen_mute_supported, self.diagnosis = screen_mute_supported, list(diagnosis)
        self.warmup_s, self.reply_delay_s, self.drop_after = warmup_s, reply_delay_s, drop_after
        self.garbage, self.null_all, self.bad_bcc = garbage, null_all, bad_bcc
        self.failure, self.ignore_set, self.quirks = failure, ignore_set, set(quirks)
        self.max_connections = max_connections
        self.connections = 0  # accepted so far
        self.power_mode = _power_mode(power)
        self._ready_at = 0.0
        self._rng = random.Random(seed)
        self._init_serving()
        self._log: list[str] = []

    @property
    def command_log(self) -> list[str]:
        """Requests received so far as ``"<type> <message>"``, e.g. ``["A 01D6", ...]``."""
        with self._lock:
            return list(self._log)

    def _session(self, recv: Recv, send: Send, closes: bool) -> None:
        buf, answered = bytearray(), 0
        while not self._stop.is_set():
            frame = codec.take_frame(buf)
            if frame == b"":
                continue  # a stray SOH was skipped
            if frame is None:
                if len(buf) > _MAX_BUFFER:
                    buf.clear()
                chunk = recv()
                if chunk is None:
                    return
                buf += chunk
                continue
            if self.drop_after is not None and answered >= self.drop_after:
                if closes:
                    return  # drops the connection without answering
                continue
            if self.reply_delay_s > 0 and self._stop.wait(self.reply_delay_s):
                return
            reply = self._garbage() if self.garbage else self.reply_to(frame)
            if reply:
                send(reply)
            answered += 1
            if closes and self.drop_after is not None and answered >= self.drop_after:
                return

    def _garbage(self) -> bytes:
        if self._rng.random() < 0.5:
            reply = codec.encode_frame(codec.CONTROLLER, self._address_byte, "B", "0200D6")
            return reply[:-2] + bytes([reply[-2] ^ 0x5A]) + b"\r"  # a frame that fails BCC
        return b"#" + bytes(b for b in self._rng.randbytes(40) if b != codec.SOH) + b"\r"

    # ------------------------------------------------------------ protocol -------------
    def reply_to(self, data: bytes) -> bytes:
        """The bytes the monitor answers to one request frame (b"" = stays silent)."""
        if not data:
            return b""
        try:
            frame = codec.decode_frame(data)
        except codec.NecDecodeError:
            # An unreadable frame addressed to us is answered with a NULL message.
            return self._frame("B", codec.NULL_MESSAGE) if data[2] == self._address_byte else b""
        if frame.destination not in (self._address_byte, codec.ALL_MONITORS):
            return b""  # for another monitor on the chain
        with self._lock:
            self._log.append(f"{frame.msg_type} {frame.message}")
            reply_type = codec.REPLY_TYPE.get(frame.msg_type)
            if reply_type is None:
                return b""  # a reply type sent to a monitor: ignored
            message = codec.NULL_MESSAGE if self.null_all else self._answer(frame)
        return self._frame(reply_type, message)

    def _frame(self, msg_type: str, message: str) -> bytes:
        if "lowercase_hex" in self.quirks and not message.upper().startswith(
                codec.FIRMWARE_REPLY):
            message = message.lower()
        data = codec.encode_frame(codec.CONTROLLER, self._address_byte, msg_type, message)
        if "lowercase_hex" in self.quirks:
            body = data[1:5] + data[5:7].lower() + data[7:-2]
            data = data[:1] + body + bytes([codec.bcc(body)]) + b"\r"
        if self.bad_bcc:
            data = data[:-2] + bytes([data[-2] ^ 0xFF]) + data[-1:]
        if "crlf" in self.quirks:
            data += b"\n"
        elif "no_cr" in self.quirks:
            data = data[:-1]
        return (b"\x00\r" + data) if "leading_noise" in self.quirks else data

    def _answer(self, frame: codec.Frame) -> str:
        message = frame.message.upper()
        if frame.msg_type == codec.COMMAND:
            return self._command(message)
        if self.power_mode != codec.POWER_ON or time.monotonic() < self._ready_at:
            return codec.NULL_MESSAGE  # parameters are not served in standby or while starting
        try:
            if frame.msg_type == codec.GET:
                return self._get(codec.decode_get(message))
            return self._set(*codec.decode_set(message))
        except codec.NecDecodeError:
            return codec.NULL_MESSAGE

    def _command(self, message: str) -> str:
        if message == codec.POWER_STATUS_READ:
            return codec.encode_power_status_reply(self.power_mode)
        if message.startswith(codec.POWER_CONTROL) and len(message) == 10:
            return self._power(message)
        if message == codec.SERIAL_READ:
            return codec.encode_text_reply(codec.SERIAL_REPLY, self.serial)
        if message == codec.MODEL_READ:
            return codec.encode_text_reply(codec.MODEL_REPLY, self.model)
        if message.startswith(codec.FIRMWARE_READ) and len(message) == 6:
            try:
                fw_type = codec.parse_hex(message[4:], "firmware type")
            except codec.NecDecodeError:
                return codec.NULL_MESSAGE
            found = fw_type == 0
            return codec.encode_firmware_reply(self.firmware if found else "", fw_type,
                                               result=0 if found else 1)
        if message == codec.DIAGNOSIS_READ:
            faults = [0x80, 0xA0] if self.failure else []
            return codec.encode_diagnosis_reply(faults + self.diagnosis)
        return codec.NULL_MESSAGE  # unknown command

    def _power(self, message: str) -> str:
        try:
            mode = codec.parse_hex(message[6:], "power mode")
        except codec.NecDecodeError:
            return codec.NULL_MESSAGE
        if mode not in (1, 2, 3, 4):
            return codec.encode_power_control_reply(mode & 0xFFFF, result=1)
        if mode == codec.POWER_ON and self.failure:
            return codec.encode_power_control_reply(mode, result=1)  # will not start
        if not self.ignore_set and mode != self.power_mode:
            self.power_mode = mode
            self._ready_at = time.monotonic() + self.warmup_s if mode == codec.POWER_ON else 0.0
        return codec.encode_power_control_reply(mode)

    def _values(self) -> dict[int, tuple[int, int]]:
        """OP code -> (maximum, current value) of what this monitor supports."""
        values = {codec.OP_INPUT: (max(self.inputs), self.input),
                  codec.OP_VOLUME: (100, self.volume),
                  codec.OP_AUDIO_MUTE: (1, int(self.audio_mute))}
        if self.screen_mute_supported:
            values[codec.OP_SCREEN_MUTE] = (2, 1 if self.video_mute else 2)
        return values

    def _get(self, op: int) -> str:
        found = self._values().get(op)
        if found is None:
            return codec.encode_parameter_reply(codec.ParameterReply(1, op, 0, 0, 0))
        return codec.encode_parameter_reply(codec.ParameterReply(0, op, 0, *found))

    def _set(self, op: int, value: int) -> str:
        found = self._values().get(op)
        valid = found is not None and {
            codec.OP_INPUT: value in self.inputs, codec.OP_VOLUME: value <= 100,
            codec.OP_AUDIO_MUTE: value in (0, 1, 2), codec.OP_SCREEN_MUTE: value in (0, 1, 2),
        }[op]
        if not valid:
            return codec.encode_parameter_reply(codec.ParameterReply(1, op, 0, 0, value))
        if not self.ignore_set:
            if op == codec.OP_INPUT:
                self.input = value
            elif op == codec.OP_VOLUME:
                self.volume = value
            elif op == codec.OP_AUDIO_MUTE:
                self.audio_mute = value == 1
            else:
                self.video_mute = value == 1
        return codec.encode_parameter_reply(codec.ParameterReply(0, op, 0, found[0], value))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="NEC display simulator / NEC 显示设备模拟器")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=codec.NEC_PORT)
    parser.add_argument("--monitor-id", type=int, default=1)
    parser.add_argument("--serial", default=None, help="also answer on this serial port")
    parser.add_argument("--power", default="standby", choices=sorted(_POWER))
    parser.add_argument("--quirk", action="append", default=[], choices=sorted(QUIRKS))
    parser.add_argument("--duration-s", type=float, default=0.0, help="stop after N s (0: never)")
    args = parser.parse_args(argv)
    sim = NecSimulator(args.host, args.port, monitor_id=args.monitor_id, power=args.power,
                       quirks=args.quirk, warmup_s=2.0)
    with sim:
        if args.serial:
            sim.serve_serial(args.serial)
        print(f"NEC simulator listening on {sim.address} (monitor ID {sim.monitor_id})"
              f"{' and ' + args.serial if args.serial else ''}; Ctrl-C to stop", flush=True)
        serve_for(args.duration_s)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
