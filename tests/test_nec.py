"""NEC protocol: codec properties, and NecDisplay against NecSimulator (TCP and a pty pair)."""

from __future__ import annotations

import os
import shutil
import socket
import string
import subprocess
import threading
import time
from functools import reduce

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classcert.device_drivers import nec_codec as codec
from classcert.device_drivers.display import DisplayControl, MuteState, PowerState
from classcert.device_drivers.errors import (
    DeviceCommandError,
    DeviceDisconnected,
    DeviceFailure,
    DeviceProtocolError,
    DeviceTimeout,
    DeviceUnreachable,
)
from classcert.device_drivers.nec import NecDisplay, open_nec
from classcert.rigs.simulators.nec_sim import QUIRKS, NecSimulator

monitor_ids = st.integers(1, codec.MAX_MONITOR_ID)
msg_types = st.sampled_from("ABCDEF")
messages = st.text(string.ascii_uppercase + string.digits + " .-", max_size=60)
words = st.integers(0, 0xFFFF)


# ---------------------------------------------------------------- codec -----------------
@settings(max_examples=200)
@given(monitor_ids, msg_types, messages, st.sampled_from([b"", b"\n"]))
def test_frame_round_trip(monitor_id, msg_type, message, extra_end):
    dest = codec.monitor_address(monitor_id)
    wire = codec.encode_frame(dest, codec.CONTROLLER, msg_type, message)
    assert wire[0] == codec.SOH and wire[-1] == codec.CR
    assert codec.frame_length(wire[:7]) == len(wire) - 1
    frame = codec.decode_frame(wire + extra_end)
    assert frame == codec.Frame(dest, codec.CONTROLLER, msg_type, message)
    assert codec.decode_frame(wire[:-1]) == frame  # quirk: no CR
    assert codec.monitor_id_of(dest) == monitor_id


@settings(max_examples=200)
@given(monitor_ids, msg_types, messages)
def test_bcc_is_the_xor_from_reserved_to_etx(monitor_id, msg_type, message):
    wire = codec.encode_frame(codec.monitor_address(monitor_id), codec.CONTROLLER, msg_type,
                              message)
    etx = codec.HEADER_LEN + 1 + len(message)  # SOH..length, STX, message; BCC may be 03h
    assert wire[codec.HEADER_LEN] == codec.STX and wire[etx] == codec.ETX
    assert wire[etx + 1] == reduce(lambda a, b: a ^ b, wire[1:etx + 1]) == codec.bcc(
        wire[1:etx + 1])


@settings(max_examples=300)
@given(monitor_ids, msg_types, messages, st.data())
def test_any_single_byte_corruption_is_detected(monitor_id, msg_type, message, data):
    wire = bytearray(codec.encode_frame(codec.monitor_address(monitor_id), codec.CONTROLLER,
                                        msg_type, message))
    index = data.draw(st.integers(1, len(wire) - 2))  # reserved .. BCC
    wire[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(codec.NecDecodeError):
        codec.decode_frame(bytes(wire))


@settings(max_examples=100)
@given(st.lists(st.tuples(msg_types, messages), min_size=1, max_size=4), st.binary(max_size=8),
       st.integers(1, 7))
def test_take_frame_splits_a_byte_stream(frames, noise, chunk):
    wires = [codec.encode_frame(0x41, codec.CONTROLLER, t, m) for t, m in frames]
    stream = noise.replace(bytes([codec.SOH]), b"") + b"".join(wires)
    buf, found = bytearray(), []
    for i in range(0, len(stream), chunk):  # arrives in small pieces
        buf += stream[i:i + chunk]
        while (frame := codec.take_frame(buf)) is not None:
            if frame:
                found.append(codec.decode_frame(frame))
    assert [(f.msg_type, f.message) for f in found] == frames


@settings(max_examples=300)
@given(st.binary(max_size=80))
def test_garbage_raises_only_the_decode_error(data):
    decoders = (codec.decode_frame, codec.frame_length, lambda d: codec.take_frame(bytearray(d)))
    text = data.decode("latin-1")
    text_decoders = (codec.decode_parameter_reply, codec.decode_power_status_reply,
                     codec.decode_power_control_reply, codec.decode_diagnosis_reply,
                     codec.decode_firmware_reply, codec.decode_get, codec.decode_set,
                     lambda m: codec.decode_text_reply(codec.SERIAL_REPLY, m))
    for decode, arg in [(d, data) for d in decoders] + [(d, text) for d in text_decoders]:
        try:
            decode(arg)
        except codec.NecDecodeError:
            pass


@given(st.integers(0, 1), words, st.integers(0, 1), words, words, st.booleans())
def test_parameter_reply_round_trip(result, op, kind, max_value, value, lower):
    reply = codec.ParameterReply(result, op, kind, max_value, value)
    text = codec.encode_parameter_reply(reply)
    assert codec.decode_parameter_reply(text.lower() if lower else text) == reply
    assert codec.decode_get(codec.encode_get(op)) == op
    assert codec.decode_set(codec.encode_set(op, value)) == (op, value)


@given(st.integers(1, 4), st.integers(0, 1))
def test_power_messages_round_trip(mode, result):
    assert codec.decode_power_status_reply(codec.encode_power_status_reply(mode, result)) == (
        result, mode)
    assert codec.decode_power_control_reply(codec.encode_power_control_reply(mode, result)) == (
        result, mode)
    assert codec.encode_power_control(mode) == f"C203D6000{mode}"


@given(st.text(string.ascii_letters + string.digits + "-. ", max_size=30).map(str.strip),
       st.sampled_from([codec.SERIAL_REPLY, codec.MODEL_REPLY]))
def test_text_replies_round_trip(text, prefix):
    message = codec.encode_text_reply(prefix, text)
    assert codec.decode_text_reply(prefix, message) == text
    assert codec.decode_text_reply(prefix, message + "0000") == text  # NUL padding
    result, fw_type, version = codec.decode_firmware_reply(codec.encode_firmware_reply(text, 2))
    assert (result, fw_type, version) == (0, 2, text)


@given(st.lists(st.sampled_from(sorted(codec.DIAGNOSIS) + [0x00, 0xB0, 0x33]), max_size=6))
def test_diagnosis_round_trip_and_worst_level(codes):
    decoded = codec.decode_diagnosis_reply(codec.encode_diagnosis_reply(codes))
    assert decoded == (codes or [0])
    status = codec.diagnosis_status(decoded)
    for code in codes:
        if code not in codec.NOT_A_FAULT:
            category, level = codec.DIAGNOSIS.get(code, ("other", "warning"))
            assert status[category] == "error" or status[category] == level
    assert all(c in codec.NOT_A_FAULT for c in codes) == (status == {})


def test_addresses_and_input_codes():
    assert codec.monitor_address(1) == ord("A") and codec.monitor_address(100) == 0xA4
    assert codec.monitor_id_of(codec.CONTROLLER) is None
    for bad in (0, 101, True):
        with pytest.raises(ValueError, match="monitor ID"):
            codec.monitor_address(bad)
    assert codec.format_input(codec.parse_input_code("f")) == "0F"
    with pytest.raises(ValueError, match="input code"):
        codec.parse_input_code("HDMI")
    with pytest.raises(codec.NecDecodeError):
        codec.parse_hex("0x1F")


# ---------------------------------------------------------------- driver ----------------
FAST = {"warmup_s": 0.05}


def settled(call, limit_s=2.0):
    """Call until the monitor stops refusing (NULL messages while it starts)."""
    deadline = time.monotonic() + limit_s
    while True:
        try:
            return call()
        except DeviceCommandError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


@pytest.fixture
def sim():
    with NecSimulator(**FAST) as s:
        yield s


@pytest.fixture
def display(sim):
    with NecDisplay(sim.address, timeout=1.0) as d:
        yield d


def test_identity_and_fixed_answers(display, sim):
    ident = display.identity()
    assert (ident.make, ident.model, ident.serial, ident.firmware) == (
        "NEC", sim.model, sim.serial, sim.firmware)
    assert display.native_resolution() is None and display.input_resolution() is None
    assert display.screen_size_in() is None and display.lamp_hours() == []
    assert display.error_status() == {} and isinstance(display, DisplayControl)


def test_power_cycle_with_start_up_null_replies(display, sim):
    display.set_power(False)
    assert display.get_power() is PowerState.OFF and sim.power_mode == codec.POWER_OFF
    with pytest.raises(DeviceCommandError) as err:
        display.get_input()  # NULL message in standby
    assert err.value.code == "BE" and "standby" in err.value.message_en
    assert "待机" in err.value.message_zh
    display.set_power(True)
    assert display.get_power() is PowerState.ON
    assert settled(display.get_input) == "11"
    sim.power_mode = codec.POWER_STANDBY
    assert display.get_power() is PowerState.OFF


def test_inputs_volume_and_unsupported_values(display, sim):
    assert display.list_inputs() == ["11"]
    display.set_input("f")
    assert display.get_input() == "0F" and sim.input == 0x0F
    assert "E 0060000F" in sim.command_log
    with pytest.raises(DeviceCommandError) as err:
        display.set_input("82")  # HDMI 3: not on this monitor
    assert err.value.code == "01" and "unsupported" in str(err.value)
    display.set_volume(64)
    assert display.get_volume() == 64 == sim.volume
    with NecDisplay(sim.address, timeout=1, inputs=["11", "0f"]) as d:
        assert d.list_inputs() == ["11", "0F"]


@pytest.mark.parametrize(("video", "audio"), [(True, True), (False, False), (True, None),
                                              (None, True), (True, False), (False, True)])
def test_mute(display, sim, video, audio):
    sim.video_mute = sim.audio_mute = not (video if video is not None else audio)
    before = display.get_mute()
    display.set_mute(video=video, audio=audio)
    expected = MuteState(video=before.video if video is None else video,
                         audio=before.audio if audio is None else audio)
    assert display.get_mute() == expected == MuteState(sim.video_mute, sim.audio_mute)


def test_model_without_picture_mute_says_so(display, sim):
    sim.screen_mute_supported = False
    with pytest.raises(DeviceCommandError, match="10B6h"):
        display.get_mute()


def test_failure_and_diagnosis():
    with NecSimulator(power="standby", failure=True, **FAST) as sim, \
            NecDisplay(sim.address, timeout=1) as d:
        assert d.error_status() == {"fan": "error", "temperature": "error"}
        with pytest.raises(DeviceFailure) as err:
            d.set_power(True)
        assert "self-diagnosis" in str(err.value) and "自检" in str(err.value)
        sim.failure, sim.diagnosis = False, [0xB0, 0xA1]
        assert d.error_status() == {"temperature": "warning"}


def test_null_all_and_ignore_set():
    with NecSimulator(null_all=True) as sim:
        d = NecDisplay(sim.address, timeout=1)
        with pytest.raises(DeviceCommandError, match="NULL message"):
            d.get_power()
        assert d.identity().model == "" and d.error_status() == {}
        d.close()
    with NecSimulator(ignore_set=True) as sim, NecDisplay(sim.address, timeout=1) as d:
        d.set_input("12")
        d.set_power(False)
        assert d.get_input() == "11" and d.get_power() is PowerState.ON


@pytest.mark.parametrize(("knobs", "error", "needle"), [
    ({"bad_bcc": True}, DeviceProtocolError, "checksum mismatch"),
    ({"garbage": True, "seed": 1}, DeviceProtocolError, "unexpected NEC reply"),
    ({"garbage": True, "seed": 4}, DeviceProtocolError, "unexpected NEC reply"),
    ({"drop_after": 0}, DeviceDisconnected, "closed"),
    ({"reply_delay_s": 3.0}, DeviceTimeout, "within 0.3 s"),
])
def test_fault_knobs(knobs, error, needle):
    with NecSimulator(**knobs) as sim:
        d = NecDisplay(sim.address, timeout=0.3, retries=1)
        start = time.monotonic()
        with pytest.raises(error, match=needle):
            d.get_power()
        assert time.monotonic() - start < 0.6 + 0.8
        d.close()


def test_reconnects_after_peer_closes_after_each_request():
    with NecSimulator(drop_after=1, **FAST) as sim:
        with NecDisplay(sim.address, timeout=1, retries=0) as d:
            for _ in range(3):
                assert d.get_power() is PowerState.ON
        assert sim.connections >= 4


@pytest.mark.parametrize("quirk", sorted(QUIRKS))
def test_quirky_monitors_are_understood(quirk):
    with NecSimulator(quirks=[quirk], monitor_id=26, **FAST) as sim:
        with NecDisplay(sim.address, monitor_id=26, timeout=1, retries=0) as d:
            assert d.identity().serial == sim.serial
            d.set_input("12")
            assert d.get_input() == "12"
            d.set_mute(video=True, audio=True)
            assert d.get_mute() == MuteState(True, True)
            assert d.get_power() is PowerState.ON


def test_other_monitor_id_stays_silent(sim):
    with pytest.raises(DeviceTimeout):
        NecDisplay(sim.address, monitor_id=2, timeout=0.3, retries=0).get_power()


def test_simulator_stops_cleanly():
    before = set(threading.enumerate())
    with NecSimulator() as sim, NecDisplay(sim.address, timeout=1) as d:
        assert d.get_power() is PowerState.ON
    assert [t for t in threading.enumerate() if t not in before] == []
    with pytest.raises(DeviceUnreachable):  # the listening socket is closed too
        NecDisplay(sim.address, timeout=0.5).get_power()


def test_answer_from_another_monitor_is_a_protocol_error():
    server = socket.create_server(("127.0.0.1", 0))
    reply = codec.encode_frame(codec.CONTROLLER, codec.monitor_address(7), "B",
                               codec.encode_power_status_reply(1))

    def serve():
        conn, _ = server.accept()
        with conn:
            conn.settimeout(2)
            conn.recv(100)
            conn.sendall(reply)
            conn.recv(100)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with pytest.raises(DeviceProtocolError, match="instead of monitor ID 1"):
            NecDisplay(f"127.0.0.1:{server.getsockname()[1]}", timeout=0.5).get_power()
    finally:
        thread.join(timeout=3)
        server.close()


def test_factory_options(sim):
    d = open_nec(sim.address, None, 1.0, {"monitor_id": 1, "retries": 0, "inputs": ["11"]})
    assert isinstance(d, NecDisplay) and d.retries == 0 and d.list_inputs() == ["11"]
    with d:
        assert d.get_power() is PowerState.ON
    for bad in ({"monitor_id": 0}, {"retries": "1"}, {"inputs": "11"}, {"baudrate": 1.5}):
        with pytest.raises(ValueError, match="nec option"):
            open_nec(sim.address, None, 1.0, bad)
    with pytest.raises(ValueError, match="no password"):
        open_nec(sim.address, "secret", 1.0, {})


def test_over_a_serial_pty_pair(tmp_path):
    if shutil.which("socat") is None:
        pytest.skip("socat is not installed (apt-get install socat, or run 'bash dev.sh setup'); "
                    "it makes the pty pair this serial test needs")
    a, b = tmp_path / "sim-end", tmp_path / "driver-end"
    proc = subprocess.Popen(["socat", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sim = None
    try:
        deadline = time.monotonic() + 5
        while not (a.exists() and b.exists()) and time.monotonic() < deadline:
            time.sleep(0.02)
        sim = NecSimulator(**FAST).serve_serial(os.path.realpath(a))
        with NecDisplay(os.path.realpath(b), timeout=1) as d:
            assert d.identity().model == sim.model
            d.set_input("12")
            assert d.get_input() == "12"
            d.set_power(False)
            assert d.get_power() is PowerState.OFF
    finally:
        if sim is not None:
            sim.stop()
        proc.terminate()
        proc.wait(timeout=5)
