"""Real capture path PyAudio -> PortAudio -> ALSA -> file plugin, against simulated rooms.

Nothing is mocked: the simulator writes an ALSA configuration whose PCM reads a prepared
microphone file and writes what is played to a file; PortAudio finds it because
ALSA_CONFIG_PATH is set before PyAudio initialises. No sound card is needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classcert.audio_analysis import level_above_ambient_db
from classcert.audio_signal import TakePlan, decode_wav
from classcert.device_drivers.audio_io import (
    AudioDeviceAmbiguous,
    AudioDeviceInfo,
    AudioDeviceMissing,
    AudioIO,
    open_pyaudio,
    resolve_device,
    to_int16,
)
from classcert.device_drivers.errors import DeviceError
from classcert.fixtures.devices import Unmeasurable
from classcert.model import Device, Room
from classcert.rigs.simulators.alsa_room import ENV_VAR, AlsaRoomError, AlsaRoomSim
from classcert.test_suites import test_amplification as suite

from helpers import REPO

SHORT = {"ambient_s": 1.0, "signal_s": 1.5, "sample_rate": 16_000}


def measure_room(sim: AlsaRoomSim) -> tuple[float, Any]:
    plan = sim.plan
    with AudioIO(sim.address, sample_rate=plan.sample_rate) as audio:
        take = audio.play_and_record(plan.playback())
    level = level_above_ambient_db(take.samples[plan.signal_window],
                                   take.samples[plan.ambient_window])
    return level, take


@settings(max_examples=6, deadline=None)
@given(gain=st.floats(min_value=3.0, max_value=38.0), latency=st.floats(0.0, 0.2))
def test_working_room_is_measured_at_its_gain_through_alsa(gain, latency):
    with AlsaRoomSim(gain_db=gain, latency_s=latency, **SHORT) as sim:
        level, take = measure_room(sim)
    assert level == pytest.approx(sim.expected_level_above_ambient_db, abs=0.5)
    assert take.input_device is not None and take.input_device.name == sim.address
    assert take.input_overflows == 0


def test_silent_amplifier_stays_at_the_ambient_level():
    with AlsaRoomSim(silent=True, **SHORT) as sim:
        level, _ = measure_room(sim)
    assert abs(level) < 0.5


def test_the_room_receives_exactly_the_test_signal():
    with AlsaRoomSim(gain_db=20, **SHORT) as sim:
        measure_room(sim)
        played = sim.played()
    expected = to_int16(sim.plan.signal()) / 32768.0
    start = int(np.argmax(np.abs(played) > 0))  # after the stream's priming silence
    first = int(np.argmax(np.abs(expected) > 0))
    offset = start - first - sim.plan.n_ambient
    assert 0 <= offset < 8192, "output starts at most a few buffers late"
    segment = played[offset + sim.plan.n_ambient:][:len(expected)]
    assert np.array_equal(segment, expected)


def test_a_fresh_process_needs_only_the_environment_variable(tmp_path):
    script = textwrap.dedent("""
        import json, sys
        from classcert.audio_analysis import level_above_ambient_db
        from classcert.audio_signal import TakePlan
        from classcert.device_drivers.audio_io import AudioIO
        plan = TakePlan.from_options(json.loads(sys.argv[2]))
        with AudioIO(sys.argv[1], sample_rate=plan.sample_rate) as audio:
            names = [d.name for d in audio.devices()]
            take = audio.play_and_record(plan.playback())
        level = level_above_ambient_db(take.samples[plan.signal_window],
                                       take.samples[plan.ambient_window])
        print(json.dumps({"names": names, "level": level}))
    """)
    with AlsaRoomSim(gain_db=25, export_env=False, **SHORT) as sim:
        assert os.environ.get(ENV_VAR) != sim.env[ENV_VAR], "this process is left alone"
        env = {k: v for k, v in os.environ.items() if k != ENV_VAR} | sim.env
        proc = subprocess.run([sys.executable, "-c", script, sim.address, json.dumps(SHORT)],
                              capture_output=True, text=True, timeout=60, env=env, cwd=REPO)
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout)
    assert sim.address in result["names"]
    assert result["level"] == pytest.approx(sim.expected_level_above_ambient_db, abs=0.5)


def test_environment_is_restored_and_rooms_coexist():
    before = os.environ.get(ENV_VAR)
    with AlsaRoomSim(**SHORT) as one, AlsaRoomSim(silent=True, **SHORT) as two:
        path = os.environ[ENV_VAR].split(":")
        assert str(one.config_path) in path and str(two.config_path) in path
        assert path[0].endswith("alsa.conf"), "the system configuration is read first"
        with AudioIO(one.address) as audio:
            names = {d.name for d in audio.devices()}
        assert {one.address, two.address} <= names
        workdir = one.workdir
    assert os.environ.get(ENV_VAR) == before
    assert workdir is not None and not workdir.exists()


def test_missing_and_ambiguous_devices_are_device_errors():
    with AlsaRoomSim(pcm_name="classcert_room_aa", **SHORT), \
            AlsaRoomSim(pcm_name="classcert_room_ab", **SHORT):
        with AudioIO("no-such-sound-card") as audio, pytest.raises(AudioDeviceMissing) as err:
            audio.record(0.1)
        assert "classcert_room_aa" in str(err.value), "the message lists what exists"
        with AudioIO("classcert_room_a") as audio, pytest.raises(AudioDeviceAmbiguous):
            audio.record(0.1)
        with AudioIO("999") as audio, pytest.raises(AudioDeviceMissing, match="index 999"):
            audio.record(0.1)
        with AudioIO("ROOM_AB") as audio:  # a unique part of the name, any case
            assert audio.device("input").name == "classcert_room_ab"


DEVICES = [
    AudioDeviceInfo(0, "HDA Intel PCH: ALC257 Analog (hw:0,0)", "ALSA", 2, 2, 48000.0),
    AudioDeviceInfo(1, "USB Audio Device: - (hw:1,0)", "ALSA", 1, 0, 48000.0),
    AudioDeviceInfo(2, "default", "ALSA", 64, 64, 44100.0),
    AudioDeviceInfo(3, "USB Audio Device Mic", "ALSA", 1, 0, 44100.0),
]


@pytest.mark.parametrize(
    ("spec", "direction", "default", "expected"),
    [("default", "input", 2, 2), (None, "output", 0, 0), ("1", "input", None, 1),
     (3, "input", None, 3), ("alc257", "output", None, 0), ("default", "output", 2, 2),
     ("USB Audio Device Mic", "input", None, 3)],
)
def test_resolve_device(spec, direction, default, expected):
    assert resolve_device(DEVICES, spec, direction, default, "audio:x").index == expected


@pytest.mark.parametrize(
    ("spec", "direction", "default", "error"),
    [("usb audio", "input", None, AudioDeviceAmbiguous), ("usb", "output", None,
     AudioDeviceMissing), ("1", "output", None, AudioDeviceMissing),
     ("default", "input", None, AudioDeviceMissing)],
)
def test_resolve_device_errors(spec, direction, default, error):
    with pytest.raises(error) as err:
        resolve_device(DEVICES, spec, direction, default, "audio:x")
    assert isinstance(err.value, DeviceError) and err.value.message_zh


def test_no_device_at_all_is_explained():
    with pytest.raises(AudioDeviceMissing, match="no audio input device"):
        resolve_device([], "default", "input", None, "audio:default")


def test_bad_options_and_knobs_are_rejected():
    with pytest.raises(ValueError, match="sample_rate"):
        open_pyaudio("default", None, 5.0, {"sample_rate": 1.5})
    with pytest.raises(ValueError, match="input_channel"):
        open_pyaudio("default", None, 5.0, {"input_channel": 200})
    with pytest.raises(AlsaRoomError, match="clip"):
        AlsaRoomSim(gain_db=60, ambient_dbfs=-40)
    with pytest.raises(AlsaRoomError, match="pcm_name"):
        AlsaRoomSim(pcm_name="bad name")


# --- the suite itself, with stand-ins for the campaign fixtures ------------------------------

class _Ctx:
    def __init__(self, sim: AlsaRoomSim | None) -> None:
        self.sim = sim

    def device_address(self, room: Room, device: Device) -> str:
        return self.sim.address if self.sim is not None else device.address


class _Operator:
    def __init__(self) -> None:
        self.told: list[tuple[str, str]] = []

    def notify(self, en: str, zh: str) -> None:
        self.told.append((en, zh))


class _Measure:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.calls: list[dict[str, Any]] = []

    def write_evidence(self, name: str, content: Any) -> Path:
        path = self.folder / name
        data = json.dumps(content) if isinstance(content, dict | list) else content
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    def __call__(self, key: str, value: Any, unit: str | None = None, evidence=(), **detail):
        self.calls.append({"key": key, "value": value, "unit": unit,
                           "evidence": list(evidence), **detail})


def _room(driver: str = "pyaudio", address: str = "default") -> Room:
    device = Device("audio", driver, address, name="扩音", options=dict(SHORT),
                    simulator={"kind": "alsa-room"})
    return Room("A101", "Room A101", 40, ("multimedia",), (device,))


def _run_suite(tmp_path: Path, sim: AlsaRoomSim | None, room: Room | None = None):
    measure, operator = _Measure(tmp_path), _Operator()
    suite.test_sound_amplification(_Ctx(sim), room or _room(), operator, measure)
    return measure, operator


def test_suite_measures_a_working_room_with_evidence(tmp_path):
    with AlsaRoomSim(gain_db=18, **SHORT) as sim:
        measure, operator = _run_suite(tmp_path, sim)
    (call,) = measure.calls
    assert call["key"] == "audio.amplification" and call["unit"] == "dB"
    assert call["value"] == pytest.approx(sim.expected_level_above_ambient_db, abs=0.5)
    assert "back of the room" in operator.told[0][0] and "后排" in operator.told[0][1]
    report, ambient_wav, signal_wav = call["evidence"]
    data = json.loads(report.read_text())
    assert [b["centre_hz"] for b in data["bands"]] == [125, 250, 500, 1000, 2000, 4000, 8000]
    assert all(b["above_ambient_db"] > 10 for b in data["bands"]), data["bands"]
    plan = TakePlan.from_options(SHORT)
    ambient, rate = decode_wav(ambient_wav.read_bytes())
    signal, _ = decode_wav(signal_wav.read_bytes())
    assert rate == 16_000 and len(ambient) == plan.ambient_window.stop - plan.ambient_window.start
    assert level_above_ambient_db(signal, ambient) == pytest.approx(call["value"], abs=0.1)


def test_suite_reports_a_silent_amplifier_as_measured_not_error(tmp_path):
    with AlsaRoomSim(silent=True, **SHORT) as sim:
        measure, _ = _run_suite(tmp_path, sim)
    assert abs(measure.calls[0]["value"]) < 0.5  # the catalog rule (>= 10 dB) makes it FAIL


def test_suite_cannot_test_with_a_dead_microphone(tmp_path):
    with AlsaRoomSim(dead_mic=True, **SHORT) as sim, pytest.raises(Unmeasurable, match="silence"):
        _run_suite(tmp_path, sim)


def test_suite_errors_when_the_sound_card_is_missing(tmp_path):
    room = _room(address="no-such-usb-sound-card")
    operator = _Operator()
    with pytest.raises(DeviceError):
        suite.test_sound_amplification(_Ctx(None), room, operator, _Measure(tmp_path))
    assert operator.told == [], "nobody is asked to set up a microphone for nothing"


def test_suite_needs_a_pyaudio_device(tmp_path):
    with pytest.raises(Unmeasurable, match='driver "pyaudio"'):
        _run_suite(tmp_path, None, _room(driver="table:generic-amp"))


def test_record_reads_the_microphone_exactly():
    with AlsaRoomSim(gain_db=20, **SHORT) as sim, AudioIO(sim.address, sample_rate=16_000) as a:
        take = a.record(0.5)
        prepared = to_int16(sim.capture_signal()[:8000]) / 32768.0
    assert take.output_device is None and len(take.samples) == 8000
    assert np.array_equal(take.samples, prepared)


# --- the whole campaign through the pytest plugin (once the simulator kind is wired) ----------

def _audio_room(room_id: str, knobs: str) -> str:
    take = "ambient_s = 1.0, signal_s = 1.5, sample_rate = 16000"
    return f"""
        [[rooms]]
        id = "{room_id}"
        name = "Room {room_id}"
        seats = 40
        claims = ["multimedia"]

        [[rooms.devices]]
        role = "audio"
        driver = "pyaudio"
        address = "default"
        options = {{ {take} }}
        simulator = {{ kind = "alsa-room", {knobs}, {take} }}
    """


def test_campaign_through_the_plugin(tmp_path):
    from classcert.rigs import simulate

    if "alsa-room" not in simulate.SIMULATOR_KINDS:
        pytest.skip("simulator kind 'alsa-room' is not wired into rigs/simulate.py yet")
    from helpers import rig_text

    rig = tmp_path / "rig.toml"
    rig.write_text(rig_text(_audio_room("LOUD", "gain_db = 20")
                            + _audio_room("QUIET", "silent = true")), encoding="utf-8")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "test_suites" / "test_amplification.py"),
         "--rig", str(rig), "--out", str(out), "--no-prompt", "-p", "no:cacheprovider", "-q"],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )
    found = {}
    for room_id in ("LOUD", "QUIET"):
        path = out / "rooms" / room_id / "certificate.json"
        assert path.is_file(), proc.stdout + proc.stderr
        cert = json.loads(path.read_text("utf-8"))
        found[room_id] = {e["key"]: e for e in cert["requirements"]}["audio.amplification"]
    assert found["LOUD"]["verdict"] == "PASS", proc.stdout + proc.stderr
    assert found["LOUD"]["value"] == pytest.approx(20.0, abs=0.6)
    assert found["QUIET"]["verdict"] == "FAIL", proc.stdout + proc.stderr
    assert proc.returncode == 1, "the silent amplifier's FAIL fails its test"


def test_suite_explains_bad_rig_options(tmp_path):
    device = Device("audio", "pyaudio", "default", options={"signal_s": 0.1})
    room = Room("A102", "Room A102", 40, ("multimedia",), (device,))
    with pytest.raises(Unmeasurable, match="options"):
        _run_suite(tmp_path, None, room)
