"""PjlinkDisplay against PjlinkSimulator over real loopback TCP: API, auth, faults, reconnects."""

from __future__ import annotations

import pickle
import socket
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classcert.device_drivers.display import DisplayControl, MuteState, PowerState
from classcert.device_drivers.errors import (
    DeviceAuthError,
    DeviceCommandError,
    DeviceDisconnected,
    DeviceError,
    DeviceFailure,
    DeviceProtocolError,
    DeviceTimeout,
    DeviceUnreachable,
)
from classcert.device_drivers.pjlink import PjlinkDisplay
from classcert.device_drivers.registry import known_drivers, open_display
from classcert.rigs.simulators.pjlink_sim import QUIRKS, PjlinkSimulator

FAST = {"warmup_s": 0.05, "cooldown_s": 0.05}


def wait_for(read, expected, limit_s=2.0):
    deadline = time.monotonic() + limit_s
    value = read()
    while value != expected and time.monotonic() < deadline:
        time.sleep(0.02)
        value = read()
    return value


@pytest.fixture
def sim():
    with PjlinkSimulator(inputs=["11", "31", "32", "6A"], **FAST) as s:
        yield s


@pytest.fixture
def display(sim):
    with PjlinkDisplay(sim.address, timeout=1.0) as d:
        yield d


def test_identity(display, sim):
    ident = display.identity()
    assert (ident.make, ident.model, ident.serial, ident.firmware, ident.name) == (
        sim.make, sim.model, sim.serial, sim.firmware, sim.name)
    assert ident.protocol_class == "2"
    assert ident.raw["INF1"] == sim.make and ident.raw["CLSS"] == "2"


def test_power_cycle_goes_through_cooling_and_warming(display, sim):
    assert display.get_power() is PowerState.ON
    display.set_power(False)
    assert display.get_power() in (PowerState.COOLING, PowerState.OFF)
    assert wait_for(display.get_power, PowerState.OFF) is PowerState.OFF
    assert sim.power == "0"
    display.set_power(True)
    assert display.get_power() in (PowerState.WARMING, PowerState.ON)
    assert wait_for(display.get_power, PowerState.ON) is PowerState.ON


def test_inputs(display, sim):
    assert display.list_inputs() == ["11", "31", "32", "6A"]
    assert display.get_input() == "31"
    display.set_input("6a")  # class 2 code, accepted in any case
    assert display.get_input() == "6A" == sim.input
    display.set_input("11")
    assert sim.input == "11"
    assert "%1INPT 11" in sim.command_log and "%2INPT 6A" in sim.command_log


def test_input_errors_explain_themselves(display, sim):
    with pytest.raises(DeviceCommandError) as err2:
        display.set_input("51")  # valid code, but not an input of this display
    assert err2.value.code == "ERR2" and "out of range" in str(err2.value)
    with pytest.raises(ValueError, match="input code"):
        display.set_input("71")
    sim.power = "off"
    with pytest.raises(DeviceCommandError) as err3:
        display.set_input("31")
    assert err3.value.code == "ERR3" and err3.value.command == "INPT 31"
    assert "warming up" in err3.value.message_en and "预热" in err3.value.message_zh


@pytest.mark.parametrize(("video", "audio"), [(True, True), (False, False), (True, None),
                                              (None, True), (True, False), (False, True)])
def test_mute(display, sim, video, audio):
    sim.video_mute = sim.audio_mute = not (video if video is not None else audio)
    before = display.get_mute()
    display.set_mute(video=video, audio=audio)
    expected = MuteState(video=before.video if video is None else video,
                         audio=before.audio if audio is None else audio)
    assert display.get_mute() == expected == MuteState(sim.video_mute, sim.audio_mute)


def test_resolutions_errors_and_lamp(display, sim):
    sim.native_resolution, sim.input_resolution = (1366, 768), (1280, 720)
    assert display.native_resolution() == (1366, 768)
    assert display.input_resolution() == (1280, 720)
    sim.input_resolution = None  # no signal
    assert display.input_resolution() is None
    assert display.error_status() == dict.fromkeys(
        ("fan", "lamp", "temperature", "cover", "filter", "other"), "ok")
    sim.error_status = "010020"
    assert display.error_status()["lamp"] == "warning"
    assert display.error_status()["filter"] == "error"
    sim.lamp_hours = [1500, 20]
    assert display.lamp_hours() == [(1500, True), (20, True)]
    sim.lamp_hours = []  # an LED panel answers ERR1: no lamp
    assert display.lamp_hours() == []


def test_class1_display():
    with PjlinkSimulator(pj_class=1, **FAST) as sim, PjlinkDisplay(sim.address, timeout=1) as d:
        assert d.pj_class == 1
        ident = d.identity()
        assert ident.protocol_class == "1" and ident.serial == "" and ident.firmware == ""
        assert d.native_resolution() is None and d.input_resolution() is None
        with pytest.raises(ValueError):
            d.set_input("6A")
        assert not any(c.startswith("%2") for c in sim.command_log)


def test_authentication_ok_and_digest_not_logged():
    with PjlinkSimulator(password="s3cret", **FAST) as sim:
        with PjlinkDisplay(sim.address, password="s3cret", timeout=1) as d:
            assert d.get_power() is PowerState.ON
        assert sim.command_log[0] == "%1CLSS ?"


@pytest.mark.parametrize(("password", "needle"), [("wrong", "rejected"), (None, "required")])
def test_authentication_failures(password, needle):
    with PjlinkSimulator(password="s3cret", **FAST) as sim:
        d = PjlinkDisplay(sim.address, password=password, timeout=1)
        with pytest.raises(DeviceAuthError, match=needle) as err:
            d.connect()
        assert "密码" in err.value.message_zh and err.value.device == sim.address
        d.close()


def test_auth_fail_knob_rejects_even_the_right_password():
    with PjlinkSimulator(password="pw", auth_fail=True) as sim:
        with pytest.raises(DeviceAuthError, match="ERRA"):
            PjlinkDisplay(sim.address, password="pw", timeout=1).connect()


@pytest.mark.parametrize("retries", [0, 1])
def test_slow_reply_times_out_within_bound(retries):
    with PjlinkSimulator(reply_delay_s=3.0) as sim:
        d = PjlinkDisplay(sim.address, timeout=0.3, retries=retries)
        start = time.monotonic()
        with pytest.raises(DeviceTimeout, match="within 0.3 s") as err:
            d.get_power()
        assert time.monotonic() - start < 0.3 * (retries + 1) + 0.8
        assert "超时" in err.value.message_zh
        d.close()


def test_timeout_on_open_connection_is_not_retried_for_free():
    with PjlinkSimulator(**FAST) as sim, PjlinkDisplay(sim.address, timeout=0.3, retries=0) as d:
        sim.reply_delay_s = 3.0
        start = time.monotonic()
        with pytest.raises(DeviceTimeout):
            d.get_power()
        assert time.monotonic() - start < 0.55
        assert sim.connections == 1


def test_drop_without_answer_is_disconnected():
    with PjlinkSimulator(drop_after=0) as sim:
        d = PjlinkDisplay(sim.address, timeout=0.5, retries=1)
        with pytest.raises(DeviceDisconnected, match="closed"):
            d.get_power()
        assert 2 <= sim.connections <= 3  # bounded reconnects
        d.close()


def test_reconnects_after_peer_closes_after_each_command():
    with PjlinkSimulator(drop_after=1, password="pw", **FAST) as sim:
        with PjlinkDisplay(sim.address, password="pw", timeout=1, retries=0) as d:
            for _ in range(3):
                assert d.get_power() is PowerState.ON
            display_input = d.get_input()
        assert display_input == "31"
        assert sim.connections >= 5
        assert all("<auth rejected>" not in c for c in sim.command_log)


def test_reconnects_after_idle_close():
    with PjlinkSimulator(idle_timeout_s=0.1, **FAST) as sim:
        with PjlinkDisplay(sim.address, timeout=1, retries=0) as d:
            time.sleep(0.4)
            assert d.get_power() is PowerState.ON
        assert sim.connections == 2


def test_garbage_is_protocol_error():
    with PjlinkSimulator(garbage=True, seed=7) as sim:
        for _ in range(4):
            d = PjlinkDisplay(sim.address, timeout=1)
            with pytest.raises(DeviceProtocolError, match="unexpected PJLink reply"):
                d.get_power()
            d.close()


def test_failure_knob():
    with PjlinkSimulator(failure=True, **FAST) as sim, PjlinkDisplay(sim.address, timeout=1) as d:
        assert d.error_status()["lamp"] == "error"
        with pytest.raises(DeviceFailure) as err:
            d.set_power(False)
        assert err.value.code == "ERR4" and not isinstance(err.value, DeviceCommandError)
        assert "failure of its own" in str(err.value) and "故障" in str(err.value)
        with pytest.raises(DeviceFailure):
            d.set_input("11")


def test_ignore_set_is_visible_only_by_read_back():
    sim = PjlinkSimulator(ignore_set=True, **FAST)
    with sim, PjlinkDisplay(sim.address, timeout=1) as d:
        d.set_input("11")  # the display says OK ...
        d.set_power(False)
        d.set_mute(video=True, audio=True)
        assert d.get_input() == "31"  # ... but nothing changed
        assert d.get_power() is PowerState.ON
        assert d.get_mute() == MuteState(False, False)


@pytest.mark.parametrize("quirk", sorted(QUIRKS))
def test_quirky_devices_are_understood(quirk):
    with PjlinkSimulator(quirks=[quirk], inputs=["31", "6A"], **FAST) as sim:
        with PjlinkDisplay(sim.address, timeout=1, retries=0) as d:
            assert d.identity().protocol_class == "2"
            assert d.get_power() is PowerState.ON
            d.set_input("6A")
            assert d.get_input() == "6A"
            assert d.list_inputs() == ["31", "6A"]
            d.set_mute(video=True)
            assert d.get_mute() == MuteState(True, False)
            assert d.lamp_hours() == [(1200, True)]
            assert d.native_resolution() == (1920, 1080)


def test_unreachable_refused_port():
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    try:
        address = f"127.0.0.1:{holder.getsockname()[1]}"
        with pytest.raises(DeviceUnreachable) as err:
            PjlinkDisplay(address, timeout=1).get_power()
    finally:
        holder.close()
    assert "connection refused" in str(err.value) and "连接被拒绝" in str(err.value)
    assert err.value.device == address


def test_non_pjlink_greeting():
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = server.accept()
        with conn:
            conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
            conn.recv(100)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with pytest.raises(DeviceProtocolError, match="did not greet with PJLink"):
            PjlinkDisplay(f"127.0.0.1:{server.getsockname()[1]}", timeout=1).connect()
    finally:
        thread.join(timeout=2)
        server.close()


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([True, False, None]),
                          st.sampled_from([True, False, None])), min_size=1, max_size=5))
def test_mute_sequences_match_a_model(steps):
    with PjlinkSimulator(**FAST) as sim, PjlinkDisplay(sim.address, timeout=1) as d:
        model = [False, False]
        for video, audio in steps:
            d.set_mute(video=video, audio=audio)
            model = [model[0] if video is None else video, model[1] if audio is None else audio]
            assert d.get_mute() == MuteState(*model)


def test_registry(sim):
    d = open_display("PJLink", sim.address, None, 1.0, {"retries": 2, "power_timeout_s": 5})
    assert isinstance(d, DisplayControl) and isinstance(d, PjlinkDisplay) and d.retries == 2
    with d:
        assert d.get_power() is PowerState.ON
    assert "pjlink" in known_drivers()
    assert {"samsung-mdc", "lg", "nec"} <= set(known_drivers())
    with pytest.raises(ValueError, match="known drivers: .*pjlink"):
        open_display("epson-escvp", sim.address)
    with pytest.raises(ValueError, match="acme-x1"):
        open_display("table:acme-x1", sim.address)
    with pytest.raises(ValueError, match="retries"):
        open_display("pjlink", sim.address, options={"retries": -1})


def test_errors_render_and_pickle():
    err = DeviceCommandError("192.0.2.1:4352", "busy", "忙", code="ERR3", command="INPT 31")
    assert str(err) == "192.0.2.1:4352: busy / 忙"
    copy = pickle.loads(pickle.dumps(err))
    assert isinstance(copy, DeviceError) and str(copy) == str(err) and copy.code == "ERR3"
