"""Sound amplification (扩音设备 / 音响系统) proved by capture: JJ010301.P2, GJ010301.F4.

The harness plays a test signal through the room's sound system (the laptop's audio output
into the amplifier, or a USB sound card) and records it with a measurement microphone at the
back of the room, both through PyAudio, in one take: first the ambient noise (output silent),
then the signal. It records the signal's level above the ambient noise (dB); the catalog rule
decides. Octave-band levels (125 Hz - 8 kHz) and both recordings (WAV) are evidence.

Rig: a device with ``role = "audio"`` and ``driver = "pyaudio"``; ``address`` is ``"default"``,
a device name (or a unique part of it) or an index. Options: ``output_device``,
``input_device`` (override the address per direction), ``signal_s``, ``ambient_s``,
``sample_rate``, ``signal_dbfs``, ``signal_kind`` (``"pink"`` or ``"sweep"``), ``guard_s``,
``input_channel``, ``output_channels``, ``timeout_s``.
"""

from __future__ import annotations

from typing import Any

import pytest

from classcert.audio_analysis import clipped_fraction, compare_to_ambient, is_digital_silence
from classcert.audio_signal import TakePlan, encode_wav
from classcert.device_drivers.audio_io import AudioIO, Take, open_pyaudio
from classcert.fixtures.devices import Unmeasurable
from classcert.model import Device, Room

KEY = "audio.amplification"
ROLE = "audio"
DRIVER = "pyaudio"
DEFAULT_TIMEOUT_S = 5.0
# Validity of the instrument, not a limit on the equipment: a clipped recording
# under-reads the level, so the measurement could not be made.
MAX_CLIPPED_FRACTION = 0.001


def capture_device(room: Room) -> Device:
    """The room's audio device the harness can play and record through."""
    devices = room.devices_with_role(ROLE)
    for device in devices:
        if device.driver == DRIVER:
            return device
    have = ", ".join(f"{d.label} (driver {d.driver})" for d in devices) or "none"
    raise Unmeasurable(
        f"room {room.id} has no audio device with driver \"{DRIVER}\" to play and record the "
        f"test signal (audio devices in the rig: {have}); add a [[rooms.devices]] entry with "
        f"role = \"{ROLE}\", driver = \"{DRIVER}\", address = \"default\" or the sound card's name",
        f"教室 {room.id} 没有可播放和录音的音频设备（driver = \"{DRIVER}\"），请在场地文件中添加",
    )


def open_room_audio(ctx: Any, room: Room, device: Device) -> tuple[AudioIO, TakePlan]:
    """The device's driver (not yet open) and the take its rig options ask for."""
    options = dict(device.options)
    try:
        plan = TakePlan.from_options(options)
        options["sample_rate"] = plan.sample_rate
        timeout = float(options.pop("timeout_s", DEFAULT_TIMEOUT_S))
        audio = open_pyaudio(ctx.device_address(room, device), None, timeout, options)
    except ValueError as exc:
        raise Unmeasurable(f"{device.label}: fix the device's options in the rig: {exc}",
                           f"{device.label}：请修改场地文件中该设备的 options") from exc
    return audio, plan


def instructions(plan: TakePlan) -> tuple[str, str]:
    return (
        "Place the measurement microphone at the back of the room, at seated ear height, facing "
        "the loudspeakers; switch the amplifier on at its normal teaching volume. Keep the room "
        f"quiet: the first {plan.ambient_s:g} s record the ambient noise, then a test noise "
        f"plays for {plan.signal_s:g} s.",
        "请将测量话筒放在教室后排（坐姿耳高），朝向扬声器；打开功放并调至正常授课音量。"
        f"请保持教室安静：前 {plan.ambient_s:g} 秒录制环境噪声，"
        f"随后播放 {plan.signal_s:g} 秒测试噪声。",
    )


def check_recording(take: Take, plan: TakePlan) -> None:
    """Raise Unmeasurable when the recording cannot show anything about the room."""
    if is_digital_silence(take.samples):
        raise Unmeasurable(
            "the microphone input recorded digital silence: check that the microphone is "
            "plugged in, powered (phantom power) and not muted, then run again",
            "话筒输入为数字静音：请检查话筒连接、幻象供电及是否静音后重试",
        )
    clipped = clipped_fraction(take.samples)
    if clipped > MAX_CLIPPED_FRACTION:
        raise Unmeasurable(
            f"the microphone input is overloaded ({clipped:.1%} of samples clipped): lower the "
            f"input gain or the amplifier volume and run again",
            "话筒输入过载（削波）：请降低输入增益或功放音量后重试",
        )


@pytest.mark.requirement(KEY)
def test_sound_amplification(classcert_campaign, room, operator, measure):
    device = capture_device(room)
    audio, plan = open_room_audio(classcert_campaign, room, device)
    with audio:
        for direction in ("input", "output"):  # a missing device fails before anyone is asked
            audio.device(direction)
        operator.notify(*instructions(plan))
        take = audio.play_and_record(plan.playback())
    check_recording(take, plan)
    ambient, signal = take.samples[plan.ambient_window], take.samples[plan.signal_window]
    result = compare_to_ambient(signal, ambient, plan.sample_rate)
    level = result["level_above_ambient_db"]
    evidence = {
        "requirement": KEY, "device": device.label, "plan": plan.to_dict(),
        "input_device": take.input_device.describe() if take.input_device else None,
        "output_device": take.output_device.describe() if take.output_device else None,
        "input_overflows": take.input_overflows, "output_underflows": take.output_underflows,
        "ambient_window_s": [plan.ambient_window.start / plan.sample_rate,
                             plan.ambient_window.stop / plan.sample_rate],
        "signal_window_s": [plan.signal_window.start / plan.sample_rate,
                            plan.signal_window.stop / plan.sample_rate],
        **result,
    }
    files = [
        measure.write_evidence("amplification.json", evidence),
        measure.write_evidence("amplification-ambient.wav", encode_wav(ambient, plan.sample_rate)),
        measure.write_evidence("amplification-signal.wav", encode_wav(signal, plan.sample_rate)),
    ]
    measure(
        KEY, round(level, 1), unit="dB", evidence=files,
        detail_en=(f"signal {result['signal_dbfs']:.1f} dBFS, ambient "
                   f"{result['ambient_dbfs']:.1f} dBFS at the microphone"),
        detail_zh=(f"话筒处测试信号 {result['signal_dbfs']:.1f} dBFS，环境噪声 "
                   f"{result['ambient_dbfs']:.1f} dBFS"),
    )
