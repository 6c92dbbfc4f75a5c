"""Play a signal and record a microphone through PyAudio (PortAudio).

The harness feeds a test signal to the room's sound system (laptop output into the amplifier,
or a USB sound card) and records it with a measurement microphone. Devices are chosen by
PortAudio index, by (a unique part of) their name, or ``"default"``.

- Samples cross PortAudio as 16-bit integers: every device and host API supports it, it gives
  over 90 dB of dynamic range, and it passes bit-exactly through ALSA's ``file`` plugin of the
  simulated room (:mod:`classcert.rigs.simulators.alsa_room`). Found by experiment (alsa-lib
  1.2.8, PortAudio 19.6): when an ALSA ``plug`` must convert format, rate or channels, callback
  streams over that plugin lose whole periods after the first three.
- Input and output are two callback streams started back to back, so each direction has its
  own device and channel count (PyAudio's duplex streams share one); the analysis windows'
  guard times absorb the milliseconds between their starts.
- Every take is bounded: at most ``MAX_TAKE_S``, and the caller waits at most its duration
  plus ``timeout_s`` before stopping the streams and raising ``DeviceTimeout``.
- ``PyAudio()`` enumerates devices once and is reference-counted: the list stays frozen while
  any PyAudio instance of the process lives, so configuration read then (for ALSA:
  ``ALSA_CONFIG_PATH``) must be set before. :class:`AudioIO` creates its instance on ``open()``
  and terminates it on ``close()``; with ``quiet`` (default) the ALSA/JACK probing noise
  printed on stderr meanwhile is kept in ``init_messages``.

Errors are ``DeviceError`` subclasses (ERROR, never FAIL): :class:`AudioUnavailable`,
:class:`AudioDeviceMissing`, :class:`AudioDeviceAmbiguous`, :class:`AudioStreamError`,
``DeviceTimeout``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from classcert.device_drivers.errors import DeviceError, DeviceTimeout, DeviceUnreachable

FULL_SCALE = 32768.0
MAX_TAKE_S = 120.0
POLL_S = 0.01
DEFAULT_FRAMES_PER_BUFFER = 1024
DEFAULT_SAMPLE_RATE = 48_000
_PA_INT16 = 8  # pyaudio.paInt16
_PA_CONTINUE, _PA_COMPLETE = 0, 1
_INPUT_OVERFLOW, _OUTPUT_UNDERFLOW = 0x2, 0x4
_BUSY = ("is busy or unavailable: close other programs using it", "设备忙或不可用")
_PA_ERRORS = {-9996: ("is not a valid device for this stream", "设备无效"),
              -9997: ("does not support the sample rate", "不支持该采样率"),
              -9998: ("does not support the channel count", "不支持该声道数"),
              -9985: _BUSY, -9986: _BUSY}


class AudioUnavailable(DeviceUnreachable):
    """PyAudio is not installed or PortAudio could not initialise."""


class AudioDeviceMissing(DeviceUnreachable):
    """No device matches the index, name or ``default`` (or it lacks inputs/outputs)."""


class AudioDeviceAmbiguous(DeviceError):
    """A name matches several devices: the rig must say which one."""


class AudioStreamError(DeviceError):
    """The device refused the stream (busy, unsupported rate or channels) or failed in it."""


@dataclass(frozen=True)
class AudioDeviceInfo:
    index: int
    name: str
    host_api: str
    max_input_channels: int
    max_output_channels: int
    default_sample_rate: float

    def channels(self, direction: str) -> int:
        return self.max_input_channels if direction == "input" else self.max_output_channels

    def describe(self) -> str:
        return (f"#{self.index} '{self.name}' ({self.host_api}, in {self.max_input_channels}"
                f"/out {self.max_output_channels}, {self.default_sample_rate:.0f} Hz)")


@dataclass(frozen=True)
class Take:
    """One recording (mono, the chosen input channel, scaled to full scale 1.0)."""

    samples: np.ndarray
    sample_rate: int
    input_device: AudioDeviceInfo | None
    output_device: AudioDeviceInfo | None
    input_overflows: int
    output_underflows: int
    elapsed_s: float


def to_int16(samples: Any) -> np.ndarray:
    """Float samples (full scale 1.0) to int16, rounded and clipped."""
    arr = np.asarray(samples, dtype=np.float64)
    return np.clip(np.round(arr * FULL_SCALE), -32768, 32767).astype(np.int16)


def from_int16(data: np.ndarray) -> np.ndarray:
    """int16 samples to floats (full scale 1.0)."""
    return np.asarray(data, dtype=np.float64) / FULL_SCALE


def _listing(devices: Sequence[AudioDeviceInfo], direction: str) -> str:
    usable = [d.describe() for d in devices if d.channels(direction) > 0]
    if not usable:
        return f"this computer has no audio {direction} device (no sound card or USB audio found)"
    return f"available {direction} devices: " + "; ".join(usable)


def resolve_device(
    devices: Sequence[AudioDeviceInfo], spec: str | int | None, direction: str,
    default_index: int | None, label: str,
) -> AudioDeviceInfo:
    """The device ``spec`` names for ``direction`` ("input" or "output").

    ``spec``: None or "default" (PortAudio's default device), an index (int or digits), or a
    name: an exact (case-insensitive) name wins, else a unique part of a name.
    """
    zh_dir = "输入" if direction == "input" else "输出"
    usable = [d for d in devices if d.channels(direction) > 0]
    if isinstance(spec, bool):
        raise ValueError(f"audio {direction} device must be a name or an index, got {spec!r}")
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "default")):
        for dev in usable:
            if dev.index == default_index:
                return dev
        raise AudioDeviceMissing(
            label, f"no default audio {direction} device; connect one or name it in the rig "
            f"({_listing(devices, direction)})", f"没有默认的音频{zh_dir}设备，请连接或指定设备",
        )
    if isinstance(spec, int) or spec.strip().isdigit():
        index = int(spec)
        for dev in usable:
            if dev.index == index:
                return dev
        raise AudioDeviceMissing(
            label, f"no audio {direction} device with index {index} "
            f"({_listing(devices, direction)})",
            f"没有编号为 {index} 的音频{zh_dir}设备",
        )
    name = spec.strip().lower()
    exact = [d for d in usable if d.name.lower() == name]
    if exact:
        return exact[0]
    partial = [d for d in usable if name in d.name.lower()]
    if len(partial) == 1:
        return partial[0]
    if partial:
        raise AudioDeviceAmbiguous(
            label, f"{spec!r} matches {len(partial)} audio {direction} devices: "
            + "; ".join(d.describe() for d in partial) + " - write more of the name or the index",
            f"名称 {spec!r} 匹配多个音频{zh_dir}设备，请写出更完整的名称或编号",
        )
    raise AudioDeviceMissing(
        label, f"no audio {direction} device named {spec!r}; check that it is connected "
        f"({_listing(devices, direction)})", f"找不到名为 {spec!r} 的音频{zh_dir}设备，请检查连接",
    )


def _redirect_stderr(target: int) -> int:
    """Point fd 2 at ``target``; returns the saved fd 2 (-1 when it could not be redirected)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        return -1
    try:
        os.dup2(target, 2)
    except OSError:
        os.close(saved)
        return -1
    return saved


def _init_portaudio(label: str, quiet: bool) -> tuple[Any, str]:
    """A PyAudio instance, and what ALSA/JACK printed on stderr while it enumerated."""
    try:
        import pyaudio
    except ImportError as exc:
        raise AudioUnavailable(
            label, f"PyAudio is not installed ({exc}); install it with: pip install pyaudio",
            "未安装 PyAudio，请执行 pip install pyaudio",
        ) from exc
    with tempfile.TemporaryFile() as sink:
        saved = _redirect_stderr(sink.fileno()) if quiet else -1
        try:
            pa, error = pyaudio.PyAudio(), None
        except Exception as exc:  # noqa: BLE001 - PortAudio reports through several types
            pa, error = None, exc
        finally:
            if saved >= 0:
                os.dup2(saved, 2)
                os.close(saved)
        sink.seek(0)
        messages = sink.read().decode("utf-8", "replace")
    if error is not None:
        tail = " | ".join(messages.strip().splitlines()[-3:])
        raise AudioUnavailable(
            label, f"PortAudio could not start ({error}){'; ' + tail if tail else ''}",
            "PortAudio 无法初始化",
        ) from error
    return pa, messages


class _Pump:
    """Callback state of one direction: copies frames in or out, counts xruns."""

    def __init__(self, frames: np.ndarray, capture: bool) -> None:
        self.frames = frames  # (n, channels) int16
        self.capture = capture
        self.pos = 0
        self.xruns = 0

    def __call__(self, in_data: bytes | None, count: int, _time: Any, status: int):
        n = len(self.frames)
        take = min(count, n - self.pos)
        channels = self.frames.shape[1]
        if self.capture:
            self.xruns += bool(status & _INPUT_OVERFLOW)
            chunk = np.frombuffer(in_data or b"", dtype=np.int16).reshape(-1, channels)
            take = min(take, len(chunk))
            self.frames[self.pos:self.pos + take] = chunk[:take]
            out = None
        else:
            self.xruns += bool(status & _OUTPUT_UNDERFLOW)
            block = np.zeros((count, channels), dtype=np.int16)
            block[:take] = self.frames[self.pos:self.pos + take]
            out = block.tobytes()
        self.pos += take
        return out, (_PA_COMPLETE if self.pos >= n else _PA_CONTINUE)


def _positive_int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"audio option {name!r} must be a whole number {low}-{high}, got "
                         f"{value!r} / 音频选项 {name} 必须为 {low}-{high} 的整数")
    return value


class AudioIO:
    """Plays and records through PortAudio. Use as a context manager (``open``/``close``).

    ``address`` names both devices unless ``input_device``/``output_device`` override it.
    ``input_channel`` (0-based) picks the microphone's channel; the output plays the same
    signal on ``output_channels`` channels (default: 2 when the device has them, else 1).
    """

    def __init__(
        self, address: str | int = "default", *, input_device: str | int | None = None,
        output_device: str | int | None = None, sample_rate: int = DEFAULT_SAMPLE_RATE,
        input_channel: int = 0, output_channels: int | None = None, timeout_s: float = 5.0,
        frames_per_buffer: int = DEFAULT_FRAMES_PER_BUFFER, quiet: bool = True,
    ) -> None:
        self.address = address
        self.label = f"audio:{address}"
        self.input_spec = address if input_device is None else input_device
        self.output_spec = address if output_device is None else output_device
        self.sample_rate = _positive_int(sample_rate, "sample_rate", 8000, 192_000)
        self.input_channel = _positive_int(input_channel, "input_channel", 0, 63)
        self.output_channels = (None if output_channels is None else
                                _positive_int(output_channels, "output_channels", 1, 64))
        self.frames_per_buffer = _positive_int(frames_per_buffer, "frames_per_buffer", 0, 65536)
        if not 0 < float(timeout_s) <= 600:
            raise ValueError(f"audio timeout_s must be in (0, 600] s, got {timeout_s!r}")
        self.timeout_s = float(timeout_s)
        self.quiet = quiet
        self.init_messages = ""
        self._pa: Any = None

    def open(self) -> AudioIO:
        if self._pa is None:
            self._pa, self.init_messages = _init_portaudio(self.label, self.quiet)
        return self

    def close(self) -> None:
        pa, self._pa = self._pa, None
        if pa is not None:
            pa.terminate()

    def __enter__(self) -> AudioIO:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _require(self) -> Any:
        if self._pa is None:
            raise RuntimeError("AudioIO is not open: use 'with AudioIO(...) as audio:'")
        return self._pa

    def devices(self) -> list[AudioDeviceInfo]:
        pa = self._require()
        found = []
        for i in range(pa.get_device_count()):
            d = pa.get_device_info_by_index(i)
            api = pa.get_host_api_info_by_index(d["hostApi"])["name"]
            found.append(AudioDeviceInfo(
                i, str(d["name"]), str(api), int(d["maxInputChannels"]),
                int(d["maxOutputChannels"]), float(d["defaultSampleRate"])))
        return found

    def _default(self, direction: str) -> int | None:
        pa = self._require()
        try:
            info = (pa.get_default_input_device_info() if direction == "input"
                    else pa.get_default_output_device_info())
        except OSError:  # PortAudio: no default device
            return None
        return int(info["index"])

    def device(self, direction: str) -> AudioDeviceInfo:
        """The input or output device this instance uses."""
        spec = self.input_spec if direction == "input" else self.output_spec
        return resolve_device(self.devices(), spec, direction, self._default(direction),
                              self.label)

    def record(self, seconds: float) -> Take:
        """Record ``seconds`` from the input device."""
        return self._take(None, int(round(seconds * self.sample_rate)), capture=True)

    def play(self, samples: Any) -> Take:
        """Play ``samples`` (mono, full scale 1.0); the returned take has no samples."""
        out = np.asarray(samples, dtype=np.float64)
        return self._take(out, len(out), capture=False)

    def play_and_record(self, samples: Any) -> Take:
        """Play ``samples`` while recording as many frames from the input device."""
        out = np.asarray(samples, dtype=np.float64)
        return self._take(out, len(out), capture=True)

    def _open_stream(self, info: AudioDeviceInfo, direction: str, pump: _Pump) -> Any:
        channels = pump.frames.shape[1]
        if channels > info.channels(direction):
            raise AudioStreamError(
                self.label, f"{info.describe()} has {info.channels(direction)} {direction} "
                f"channel(s); {channels} needed - check input_channel/output_channels",
                "设备声道数不足",
            )
        side = direction  # "input" or "output": the PyAudio keyword prefix
        try:
            self._require().is_format_supported(self.sample_rate, **{
                f"{side}_device": info.index, f"{side}_channels": channels,
                f"{side}_format": _PA_INT16})
            return self._require().open(
                rate=self.sample_rate, channels=channels, format=_PA_INT16, input=side == "input",
                output=side == "output", frames_per_buffer=self.frames_per_buffer, start=False,
                stream_callback=pump, **{f"{side}_device_index": info.index})
        except ValueError as exc:  # is_format_supported's answer
            raise AudioStreamError(
                self.label, f"{info.describe()} cannot use 16-bit audio at {self.sample_rate} "
                f"Hz on {channels} channel(s) ({exc.args[0]}); set options.sample_rate = "
                f"{info.default_sample_rate:.0f} in the rig",
                f"设备不支持 {self.sample_rate} Hz 采样率或该声道数，请修改 sample_rate",
            ) from exc
        except OSError as exc:
            en, zh = _PA_ERRORS.get(exc.errno or 0, (f"refused the stream ({exc})", "无法打开"))
            raise AudioStreamError(self.label, f"{info.describe()} {en}", f"音频设备{zh}") from exc

    def _take(self, out: np.ndarray | None, n_frames: int, capture: bool) -> Take:
        if not 0 < n_frames <= MAX_TAKE_S * self.sample_rate:
            raise ValueError(f"a take lasts 1 frame to {MAX_TAKE_S} s, got {n_frames} frames")
        pumps: list[tuple[Any, _Pump]] = []
        in_info = self.device("input") if capture else None
        out_info = self.device("output") if out is not None else None
        started = time.monotonic()
        try:
            if in_info is not None:
                pump = _Pump(np.zeros((n_frames, self.input_channel + 1), np.int16), True)
                pumps.append((self._open_stream(in_info, "input", pump), pump))
            if out_info is not None and out is not None:
                count = self.output_channels or min(2, out_info.max_output_channels)
                pump = _Pump(np.repeat(to_int16(out)[:, None], count, axis=1), capture=False)
                pumps.append((self._open_stream(out_info, "output", pump), pump))
            started = time.monotonic()
            for stream, _ in pumps:
                stream.start_stream()
            deadline = started + n_frames / self.sample_rate + self.timeout_s
            while any(s.is_active() for s, _ in pumps) and time.monotonic() < deadline:
                time.sleep(POLL_S)
            stalled = [p for s, p in pumps if s.is_active() or p.pos < len(p.frames)]
        finally:
            for stream, _ in pumps:
                with contextlib.suppress(OSError):
                    stream.stop_stream()
                stream.close()
        elapsed = time.monotonic() - started
        if stalled:
            done, total = min(p.pos for p in stalled), n_frames
            raise DeviceTimeout(
                self.label, f"the audio device moved only {done / self.sample_rate:.2f} of "
                f"{total / self.sample_rate:.2f} s in {elapsed:.1f} s; it stalled or another "
                f"program uses it",
                "音频设备停止响应或被其他程序占用",
            )
        captured = pumps[0][1].frames[:, self.input_channel] if capture else np.zeros(0)
        return Take(
            from_int16(captured), self.sample_rate, in_info, out_info,
            input_overflows=pumps[0][1].xruns if capture else 0,
            output_underflows=pumps[-1][1].xruns if out is not None else 0, elapsed_s=elapsed,
        )


def open_pyaudio(address: str, password: str | None, timeout: float,
                 options: dict[str, Any]) -> AudioIO:
    """Factory for driver ``pyaudio`` (rig): ``AudioIO`` built from the device's options.

    Options used: input_device, output_device, sample_rate, input_channel, output_channels,
    frames_per_buffer; other keys (the suite's own settings) are ignored. No password.
    """
    del password  # audio devices have none
    kwargs = {k: options[k] for k in ("input_device", "output_device", "sample_rate",
                                      "input_channel", "output_channels", "frames_per_buffer")
              if k in options}
    return AudioIO(address, timeout_s=timeout, **kwargs)
