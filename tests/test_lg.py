"""LG protocol: codec properties, and LgDisplay against LgSimulator over loopback TCP."""

from __future__ import annotations

import socket
import string
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classcert.device_drivers import lg_codec as codec
from classcert.device_drivers.display import DisplayControl, MuteState, PowerState
from classcert.device_drivers.errors import (
    DeviceCommandError,
    DeviceDisconnected,
    DeviceFailure,
    DeviceProtocolError,
    DeviceTimeout,
    DeviceUnreachable,
)
from classcert.device_drivers.lg import LgDisplay, open_lg
from classcert.rigs.simulators.lg_sim import QUIRKS, LgSimulator

hex_byte = st.integers(0, 255).map(lambda v: f"{v:02x}")
set_ids = st.integers(0, codec.MAX_SET_ID)
letters = st.sampled_from(string.ascii_lowercase)
text_data = st.text(string.ascii_letters + string.digits + ".-_ /", max_size=30).map(str.strip)


# ---------------------------------------------------------------- codec -----------------
@settings(max_examples=200)
@given(st.tuples(letters, letters).map("".join), set_ids, st.lists(hex_byte, min_size=1,
                                                                    max_size=4))
def test_command_round_trip(code, set_id, tokens):
    wire = codec.encode_command(code, set_id, " ".join(tokens))
    assert wire.endswith(b"\r") and wire.isascii()
    assert codec.decode_command(wire) == codec.Command(code, set_id, " ".join(tokens))


@settings(max_examples=100)
@given(st.tuples(letters, letters).map("".join), set_ids, hex_byte, st.text(" \t", max_size=3),
       st.booleans())
def test_command_decoding_tolerates_case_and_blanks(code, set_id, data, blank, upper):
    line = f"{blank}{code} {blank}{codec.format_set_id(set_id)}  {data}{blank}\r\n"
    cmd = codec.decode_command(line.upper() if upper else line)
    assert (cmd.code, cmd.set_id, cmd.data) == (code, set_id, data)
    assert cmd.is_read == (data == "ff")


@settings(max_examples=200)
@given(letters, set_ids, st.booleans(), st.one_of(hex_byte, text_data))
def test_reply_round_trip(letter, set_id, ok, data):
    reply = codec.decode_reply(codec.encode_reply(letter, set_id, ok, data))
    assert reply == codec.Reply(letter, set_id, ok, data)


@settings(max_examples=200)
@given(letters, set_ids, st.booleans(), hex_byte,
       st.sampled_from(["x", "x\r\n", "\r", "\r\n", "", "x\r"]), st.booleans(),
       st.sampled_from(["", " ", "  "]), st.text(" \x00", max_size=2))
def test_reply_quirks_are_tolerated(letter, set_id, ok, data, end, upper, gap, pad):
    line = f"{pad}{letter} {codec.format_set_id(set_id)} {'OK' if ok else 'NG'}{gap}{data}"
    # the closing x stays lower case: an upper-case X could be the end of a text answer
    reply = codec.decode_reply(((line.upper() if upper else line.lower()) + end).encode())
    assert (reply.command2, reply.set_id, reply.ok) == (letter, set_id, ok)
    assert reply.data.lower() == data


@settings(max_examples=300)
@given(st.binary(max_size=80))
def test_garbage_raises_only_the_decode_error(data):
    for decode in (codec.decode_reply, codec.decode_command):
        try:
            decode(data)
        except codec.LgDecodeError:
            pass


@given(st.integers(0, 255))
def test_byte_values_round_trip(value):
    assert codec.parse_byte(codec.format_byte(value)) == value
    assert codec.parse_byte(codec.format_byte(value).upper()) == value


@given(set_ids)
def test_set_id_round_trip(set_id):
    assert codec.parse_set_id(codec.format_set_id(set_id)) == set_id


@pytest.mark.parametrize("bad", [-1, 1001, True, "1"])
def test_invalid_set_id(bad):
    with pytest.raises(ValueError, match="set ID"):
        codec.format_set_id(bad)


def test_value_tables():
    assert codec.parse_power("01") and not codec.parse_power("00") and codec.parse_power("1")
    assert codec.parse_volume_mute("00") is True and codec.parse_volume_mute("01") is False
    assert codec.format_volume_mute(True) == "00"  # LG's inverted volume mute
    assert codec.parse_screen_mute("01") and not codec.parse_screen_mute("10")
    assert [codec.parse_fan(d) for d in ("00", "01", "02")] == ["error", "ok", None]
    assert codec.normalize_input("a0") == "A0"
    for parser, bad in ((codec.parse_power, "02"), (codec.parse_volume, "65"),
                        (codec.parse_fan, "03"), (codec.parse_byte, "1g"),
                        (codec.parse_text, "\x01abc"), (codec.parse_input, "ff")):
        with pytest.raises(codec.LgDecodeError):
            parser(bad)
    with pytest.raises(ValueError, match="input code"):
        codec.normalize_input("HDMI1")


def test_reply_end_detection():
    assert not codec.looks_complete("x")  # the first letter of an echoed "xb 01 90"
    assert codec.looks_complete("b 01 OK90x") and codec.looks_complete("b 01 ng00x")
    assert codec.is_echo(b"XB 01  90\r\n", b"xb 01 90\r")


# ---------------------------------------------------------------- driver ----------------
FAST = {"warmup_s": 0.05}


def wait_for(read, expected, limit_s=2.0):
    deadline = time.monotonic() + limit_s
    value = read()
    while value != expected and time.monotonic() < deadline:
        time.sleep(0.02)
        value = read()
    return value


def settled(call, limit_s=2.0):
    """Call until the set stops refusing (it refuses while it boots)."""
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
    with LgSimulator(**FAST) as s:
        yield s


@pytest.fixture
def display(sim):
    with LgDisplay(sim.address, timeout=1.0) as d:
        yield d


def test_identity_and_fixed_answers(display, sim):
    ident = display.identity()
    assert (ident.make, ident.serial, ident.firmware, ident.model) == (
        "LG", sim.serial, sim.firmware, "")
    assert ident.raw == {"set_id": "1", "fy": sim.serial, "fz": sim.firmware}
    assert display.native_resolution() is None and display.input_resolution() is None
    assert display.screen_size_in() is None and display.lamp_hours() == []
    assert isinstance(display, DisplayControl)


def test_power_cycle_with_boot_refusals(display, sim):
    assert display.get_power() is PowerState.ON
    display.set_power(False)
    assert display.get_power() is PowerState.OFF and sim.power is False
    with pytest.raises(DeviceCommandError) as err:
        display.get_input()  # a set in standby refuses
    assert err.value.code == "NG00" and "standby" in err.value.message_en
    assert "待机" in err.value.message_zh and err.value.command == "xb 01 ff"
    display.set_power(True)
    assert display.get_power() is PowerState.ON
    assert settled(display.get_input) == "90"


def test_inputs(display, sim):
    assert display.list_inputs() == ["90"]  # LG cannot list inputs: only the current one
    display.set_input("a0")
    assert display.get_input() == "A0" == sim.input
    assert "xb 01 a0" in sim.command_log
    with pytest.raises(DeviceCommandError, match="NG00"):
        display.set_input("D0")  # valid code, but not an input of this set
    with pytest.raises(ValueError, match="input code"):
        display.set_input("HDMI1")
    with LgDisplay(sim.address, timeout=1, inputs=["90", "c0"]) as d:
        assert d.list_inputs() == ["90", "C0"]


@pytest.mark.parametrize(("video", "audio"), [(True, True), (False, False), (True, None),
                                              (None, True), (True, False), (False, True)])
def test_mute(display, sim, video, audio):
    sim.video_mute = sim.audio_mute = not (video if video is not None else audio)
    before = display.get_mute()
    display.set_mute(video=video, audio=audio)
    expected = MuteState(video=before.video if video is None else video,
                         audio=before.audio if audio is None else audio)
    assert display.get_mute() == expected == MuteState(sim.video_mute, sim.audio_mute)


def test_volume(display, sim):
    assert display.get_volume() == 20
    display.set_volume(100)
    assert display.get_volume() == 100 == sim.volume
    with pytest.raises(ValueError, match="0..100"):
        display.set_volume(101)


def test_error_status(display, sim):
    assert display.error_status() == {"fan": "ok"}
    sim.has_fan = False
    assert display.error_status() == {}


def test_failure_knob_is_a_failure_of_the_display():
    with LgSimulator(power="off", failure=True, **FAST) as sim, \
            LgDisplay(sim.address, timeout=1) as d:
        assert d.error_status() == {"fan": "error"}
        with pytest.raises(DeviceFailure) as err:
            d.set_power(True)
        assert err.value.code == "NG00" and "fan fault" in str(err.value)
        assert "故障" in str(err.value) and not isinstance(err.value, DeviceCommandError)


def test_ng_all_knob():
    with LgSimulator(ng_all=True) as sim:
        d = LgDisplay(sim.address, timeout=1)
        with pytest.raises(DeviceCommandError, match="refused 'ka 01 ff'"):
            d.get_power()
        assert d.identity().serial == ""  # identity reads tolerate refusals
        assert d.error_status() == {}
        d.close()


def test_ignore_set_is_visible_only_by_read_back():
    with LgSimulator(ignore_set=True, **FAST) as sim, LgDisplay(sim.address, timeout=1) as d:
        d.set_input("91")
        d.set_mute(video=True, audio=True)
        d.set_power(False)
        assert d.get_input() == "90" and d.get_mute() == MuteState(False, False)
        assert d.get_power() is PowerState.ON


@pytest.mark.parametrize("retries", [0, 1])
def test_slow_reply_times_out_within_bound(retries):
    with LgSimulator(reply_delay_s=3.0) as sim:
        d = LgDisplay(sim.address, timeout=0.3, retries=retries)
        start = time.monotonic()
        with pytest.raises(DeviceTimeout, match="within 0.3 s"):
            d.get_power()
        assert time.monotonic() - start < 0.3 * (retries + 1) + 0.8
        d.close()


def test_drop_without_answer_is_disconnected():
    with LgSimulator(drop_after=0) as sim:
        d = LgDisplay(sim.address, timeout=0.5, retries=1)
        with pytest.raises(DeviceDisconnected, match="closed"):
            d.get_power()
        assert 2 <= sim.connections <= 3  # bounded reconnects
        d.close()


def test_reconnects_after_peer_closes_after_each_command():
    with LgSimulator(drop_after=1, **FAST) as sim:
        with LgDisplay(sim.address, timeout=1, retries=0) as d:
            for _ in range(3):
                assert d.get_power() is PowerState.ON
            assert d.get_input() == "90"
        assert sim.connections >= 5


def test_garbage_is_protocol_error():
    with LgSimulator(garbage=True, seed=3) as sim:
        for _ in range(4):
            d = LgDisplay(sim.address, timeout=1)
            with pytest.raises(DeviceProtocolError, match="unexpected LG reply") as err:
                d.get_power()
            assert "LG 回复异常" in err.value.message_zh
            d.close()


@pytest.mark.parametrize("quirk", sorted(QUIRKS))
def test_quirky_sets_are_understood(quirk):
    with LgSimulator(quirks=[quirk], set_id=10, **FAST) as sim:
        with LgDisplay(sim.address, set_id=10, timeout=1, retries=0) as d:
            assert d.identity().serial == sim.serial
            d.set_input("c0")
            assert d.get_input() == "C0"
            d.set_mute(video=True, audio=True)
            assert d.get_mute() == MuteState(True, True)
            d.set_volume(10)
            assert d.get_volume() == 10
            assert "xb 0a c0" in sim.command_log


def test_other_set_id_stays_silent_and_broadcast_is_answered(sim):
    with pytest.raises(DeviceTimeout):
        LgDisplay(sim.address, set_id=2, timeout=0.3, retries=0).get_power()
    with LgDisplay(sim.address, set_id=0, timeout=1) as d:
        assert d.get_power() is PowerState.ON


def one_reply_server(reply: bytes):
    """A TCP server that answers the first request with ``reply``; returns (address, stop)."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = server.accept()
        with conn:
            conn.settimeout(2)
            conn.recv(100)
            conn.sendall(reply)
            conn.recv(100)

    thread = threading.Thread(target=serve)
    thread.start()

    def stop():
        thread.join(timeout=3)
        server.close()

    return f"127.0.0.1:{server.getsockname()[1]}", stop


@pytest.mark.parametrize(("reply", "needle"), [
    (b"a 02 OK01x", "set ID 2 answered instead of 1"),
    (b"b 01 OK90x", "another command"),
    (b"a 01 OK07x", "unknown power state"),
    (b"a 01 OK0", "incomplete or unrecognised"),
])
def test_wrong_answers_are_protocol_errors(reply, needle):
    address, stop = one_reply_server(reply)
    display = LgDisplay(address, timeout=0.5, retries=0)
    try:
        with pytest.raises(DeviceProtocolError, match=needle):
            display.get_power()
    finally:
        display.close()
        stop()


def test_simulator_stops_cleanly():
    before = set(threading.enumerate())
    with LgSimulator() as sim, LgDisplay(sim.address, timeout=1) as d:
        assert d.get_power() is PowerState.ON
    assert [t for t in threading.enumerate() if t not in before] == []
    with pytest.raises(DeviceUnreachable):  # the listening socket is closed too
        LgDisplay(sim.address, timeout=0.5).get_power()


def test_unreachable_refused_port():
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    try:
        address = f"127.0.0.1:{holder.getsockname()[1]}"
        with pytest.raises(DeviceUnreachable, match="连接被拒绝"):
            LgDisplay(address, timeout=1).get_power()
    finally:
        holder.close()


def test_factory_options(sim):
    d = open_lg(sim.address, None, 1.0, {"set_id": 1, "retries": 2, "inputs": ["90", "91"],
                                           "power_timeout_s": 5})
    assert isinstance(d, LgDisplay) and d.retries == 2 and d.list_inputs() == ["90", "91"]
    with d:
        assert d.get_power() is PowerState.ON
    for bad in ({"set_id": "1"}, {"retries": -1}, {"inputs": "90"}, {"set_id": 1001}):
        with pytest.raises(ValueError, match="lg option|set ID"):
            open_lg(sim.address, None, 1.0, bad)
    with pytest.raises(ValueError, match="no password"):
        open_lg(sim.address, "secret", 1.0, {})


@settings(max_examples=10, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([True, False, None]),
                          st.sampled_from([True, False, None])), min_size=1, max_size=4))
def test_mute_sequences_match_a_model(steps):
    with LgSimulator(**FAST) as sim, LgDisplay(sim.address, timeout=1) as d:
        model = [False, False]
        for video, audio in steps:
            d.set_mute(video=video, audio=audio)
            model = [model[0] if video is None else video, model[1] if audio is None else audio]
            assert d.get_mute() == MuteState(*model)
