"""SamsungMdcDisplay against MdcSimulator over real loopback TCP: every method, every knob."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classcert.device_drivers import samsung_mdc_codec as codec
from classcert.device_drivers.display import DisplayControl, MuteState, PowerState
from classcert.device_drivers.display_wait import retry_while_busy
from classcert.device_drivers.errors import (
    DeviceAuthError,
    DeviceCommandError,
    DeviceDisconnected,
    DeviceFailure,
    DeviceProtocolError,
    DeviceTimeout,
    DeviceUnreachable,
)
from classcert.device_drivers.samsung_mdc import SamsungMdcDisplay, open_samsung_mdc
from classcert.rigs.simulators.mdc_sim import (
    NAK_BAD_VALUE,
    NAK_NOT_NOW,
    QUIRKS,
    MdcSimulator,
)


@pytest.fixture
def sim():
    with MdcSimulator() as s:
        yield s


@pytest.fixture
def display(sim):
    with SamsungMdcDisplay(sim.address, timeout=1.0) as d:
        yield d


def test_identity(display, sim):
    ident = display.identity()
    assert (ident.make, ident.model, ident.serial, ident.firmware, ident.name) == (
        "Samsung", sim.model_name, sim.serial, sim.firmware, sim.device_name)
    assert ident.protocol_class == "MDC"
    assert ident.raw["species"] == "LCD" and ident.raw["model_code"] == sim.model_code


def test_identity_falls_back_to_model_number_when_name_is_refused(sim, display):
    sim.model_name = "x"
    original = sim._answer

    def refuse_name(cmd, data):  # a model without the 0x8A / 0x67 queries
        if cmd in (codec.CMD_MODEL_NAME, codec.CMD_DEVICE_NAME):
            return False, b"\x01"
        return original(cmd, data)

    sim._answer = refuse_name
    ident = display.identity()
    assert ident.model == "LCD model code 1" and ident.name == "" and ident.serial == sim.serial


def test_power_cycle(display, sim):
    assert display.get_power() is PowerState.ON
    display.set_power(False)
    assert display.get_power() is PowerState.OFF and sim.power is False
    display.set_power(True)
    assert display.get_power() is PowerState.ON and sim.power is True
    assert [r.data for r in sim.requests if r.cmd == codec.CMD_POWER][-2:] == [b"\x01", b""]


def test_inputs(display, sim):
    assert display.list_inputs() == ["21", "23"]
    assert display.get_input() == "21"
    for spelling, expected in (("23", 0x23), ("0x25", 0x25), ("PC", 0x14), ("HDMI1", 0x21)):
        display.set_input(spelling)
        assert sim.input == expected and display.get_input() == f"{expected:02X}"
    with pytest.raises(ValueError, match="HDMI1"):
        display.set_input("HDMI7")


def test_refusals_carry_the_nak_code_and_explain(display, sim):
    with pytest.raises(DeviceCommandError) as bad:
        display.set_input("31")  # HDMI3: valid code, but not a port of this display
    assert bad.value.code == f"NAK 0x{NAK_BAD_VALUE:02X}"
    assert bad.value.command == "input source (0x14) set 31"
    assert "refused" in bad.value.message_en and "拒绝" in bad.value.message_zh
    assert not isinstance(bad.value, DeviceFailure)
    sim.power = "off"
    with pytest.raises(DeviceCommandError) as standby:
        display.get_input()
    assert standby.value.code == f"NAK 0x{NAK_NOT_NOW:02X}" and "standby" in str(standby.value)


@pytest.mark.parametrize(("video", "audio"), [(True, True), (False, False), (True, None),
                                              (None, True), (True, False), (False, True)])
def test_mute(display, sim, video, audio):
    sim.panel_off = sim.mute = not (video if video is not None else audio)
    before = display.get_mute()
    display.set_mute(video=video, audio=audio)
    expected = MuteState(video=before.video if video is None else video,
                         audio=before.audio if audio is None else audio)
    assert display.get_mute() == expected == MuteState(sim.panel_off, sim.mute)


def test_models_without_panel_control_or_audio():
    with MdcSimulator(panel_control=False, audio=False) as sim:
        with SamsungMdcDisplay(sim.address, timeout=1) as d:
            assert d.get_mute() == MuteState(False, False)
            assert d.get_volume() is None and d.status().volume is None
            with pytest.raises(DeviceCommandError, match="panel on/off"):
                d.set_mute(video=True)
            with pytest.raises(DeviceCommandError, match="mute"):
                d.set_mute(audio=True)


def test_volume_and_status(display, sim):
    display.set_volume(55)
    assert display.get_volume() == 55 == sim.volume
    with pytest.raises(ValueError, match="0-100"):
        display.set_volume(101)
    sim.input, sim.mute = 0x23, True
    status = display.status()
    assert (status.power, status.volume, status.mute, status.input) == (1, 55, True, 0x23)


@pytest.mark.parametrize(("size", "expected"), [(75, 75.0), (86, 86.0), (0, None), (None, None)])
def test_screen_size(size, expected):
    with MdcSimulator(screen_size_in=size) as sim, SamsungMdcDisplay(sim.address, timeout=1) as d:
        assert d.screen_size_in() == expected


def test_fixed_answers(display):
    assert display.native_resolution() is None and display.input_resolution() is None
    assert display.lamp_hours() == []
    assert set(display.error_status().values()) == {"ok"}


def test_display_ids_and_broadcast():
    with MdcSimulator(display_id=5) as sim:
        with SamsungMdcDisplay(sim.address, display_id=5, timeout=1) as d:
            assert d.get_power() is PowerState.ON
        with SamsungMdcDisplay(sim.address, display_id=254, timeout=1) as d:
            assert d.get_input() == "21"
        sim.quirks.add("own_id")
        with SamsungMdcDisplay(sim.address, display_id=254, timeout=1) as d:
            assert d.get_input() == "21"
        wrong = SamsungMdcDisplay(sim.address, display_id=3, timeout=0.3, retries=0)
        with pytest.raises(DeviceTimeout, match="display_id") as err:
            wrong.get_power()
        assert "显示设备 ID" in err.value.message_zh
        wrong.close()
    with pytest.raises(ValueError, match="0-254"):
        SamsungMdcDisplay("127.0.0.1:1515", display_id=255)


def test_reply_from_another_display_id_is_a_protocol_error(sim):
    sim._reply = lambda req: codec.encode_reply(9, req.cmd, b"\x01")  # display 9 answers
    with pytest.raises(DeviceProtocolError, match="share an id"):
        SamsungMdcDisplay(sim.address, timeout=1).get_power()


def test_reply_to_another_command_is_a_protocol_error(sim):
    sim._reply = lambda req: codec.encode_reply(0, req.cmd + 1, b"\x01")
    with pytest.raises(DeviceProtocolError, match="instead of 0x11"):
        SamsungMdcDisplay(sim.address, timeout=1).get_power()


def test_ignore_set_is_visible_only_by_read_back():
    with MdcSimulator(ignore_set=True) as sim, SamsungMdcDisplay(sim.address, timeout=1) as d:
        d.set_input("23")
        d.set_power(False)
        d.set_mute(video=True, audio=True)
        d.set_volume(90)
        assert d.get_input() == "21" and d.get_power() is PowerState.ON
        assert d.get_mute() == MuteState(False, False) and d.get_volume() == 20


@pytest.mark.parametrize("retries", [0, 1])
def test_slow_reply_times_out_within_bound(retries):
    with MdcSimulator(reply_delay_s=3.0) as sim:
        d = SamsungMdcDisplay(sim.address, timeout=0.3, retries=retries)
        start = time.monotonic()
        with pytest.raises(DeviceTimeout, match="within 0.3 s") as err:
            d.get_power()
        assert time.monotonic() - start < 0.3 * (retries + 1) + 0.8
        assert sim.connections == retries + 1 and "秒内未收到 MDC 回复" in err.value.message_zh
        d.close()


def test_drop_without_answer_is_disconnected():
    with MdcSimulator(drop_after=0) as sim:
        d = SamsungMdcDisplay(sim.address, timeout=0.5, retries=1)
        with pytest.raises(DeviceDisconnected, match="closed"):
            d.get_power()
        assert sim.connections == 2
        d.close()


def test_reconnects_after_display_closes_after_each_command():
    with MdcSimulator(drop_after=1) as sim:
        with SamsungMdcDisplay(sim.address, timeout=1, retries=0) as d:
            for _ in range(3):
                assert d.get_power() is PowerState.ON
            assert d.get_input() == "21"
        assert sim.connections == 5


def test_reconnects_after_idle_close():
    with MdcSimulator(idle_timeout_s=0.1) as sim:
        with SamsungMdcDisplay(sim.address, timeout=1, retries=0) as d:
            time.sleep(0.4)
            assert d.get_power() is PowerState.ON
        assert sim.connections == 2


@pytest.mark.parametrize("seed", range(6))
def test_garbage_is_protocol_error(seed):
    with MdcSimulator(garbage=True, seed=seed) as sim:
        d = SamsungMdcDisplay(sim.address, timeout=1)
        with pytest.raises(DeviceProtocolError, match="unexpected Samsung MDC reply") as err:
            d.get_power()
        assert "三星" in err.value.message_zh
        d.close()


def test_nak_all():
    with MdcSimulator(nak_all=True, nak_code=0x07) as sim:
        d = SamsungMdcDisplay(sim.address, timeout=1)
        with pytest.raises(DeviceCommandError) as err:
            d.get_power()
        assert err.value.code == "NAK 0x07" and err.value.command == "power (0x11) query"
        assert d.screen_size_in() is None  # a refused size query: the display cannot tell
        assert d.identity().serial == ""
        d.close()


def test_wrong_checksum_is_protocol_error():
    with MdcSimulator(wrong_checksum=True) as sim:
        with pytest.raises(DeviceProtocolError, match="checksum"):
            SamsungMdcDisplay(sim.address, timeout=1).get_power()


def test_failure_knob():
    with MdcSimulator(failure=True, power="off") as sim:
        with SamsungMdcDisplay(sim.address, timeout=1) as d:
            status = d.error_status()
            assert status["fan"] == status["temperature"] == "error"
            with pytest.raises(DeviceFailure) as err:
                d.set_power(True)
            assert err.value.code == "NAK 0x04" and not isinstance(err.value, DeviceCommandError)
            assert "failure of its own" in str(err.value) and "故障" in str(err.value)
            assert "fan error" in err.value.message_en
            sim.power = "on"
            with pytest.raises(DeviceFailure):
                d.set_input("23")
            assert d.get_power() is PowerState.ON  # queries still answered


def test_secured_protocol_is_refused_clearly():
    with MdcSimulator(secured=True, password="1234") as sim:
        for pin in (None, "1234"):
            d = SamsungMdcDisplay(sim.address, password=pin, timeout=1)
            with pytest.raises(DeviceAuthError, match="Secured Protocol") as err:
                d.get_power()
            assert "TLS" in err.value.message_en and "安全协议" in err.value.message_zh
            assert ("PIN is set" in err.value.message_en) == (pin is not None)
            d.close()


def test_warm_up_refusals_pass_with_retry_while_busy():
    with MdcSimulator(power="off", warmup_s=0.4) as sim:
        with SamsungMdcDisplay(sim.address, timeout=1) as d:
            d.set_power(True)
            with pytest.raises(DeviceCommandError):
                d.set_input("23")
            retry_while_busy(lambda: d.set_input("23"), 3.0)
            assert d.get_input() == "23"


@pytest.mark.parametrize("quirk", sorted(QUIRKS))
def test_quirky_displays_are_understood(quirk):
    with MdcSimulator(quirks=[quirk], input="23") as sim:
        with SamsungMdcDisplay(sim.address, display_id=0, timeout=1, retries=0) as d:
            assert d.identity().serial == sim.serial
            assert d.get_input() == "23"  # pc_variants: 0x24 read as the HDMI2 port
            d.set_input("HDMI1")
            assert d.get_input() == "21"
            d.set_mute(video=True, audio=True)
            assert d.get_mute() == MuteState(True, True)
            assert d.status().power == 1 and d.error_status()["fan"] == "ok"
            assert d.screen_size_in() == 75.0


def test_unreachable_refused_port():
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    try:
        address = f"127.0.0.1:{holder.getsockname()[1]}"
        with pytest.raises(DeviceUnreachable, match="connection refused") as err:
            SamsungMdcDisplay(address, timeout=1).get_power()
    finally:
        holder.close()
    assert "连接被拒绝" in str(err.value) and err.value.device == address


def test_noise_only_and_foreign_service():
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        for answer in (bytes(40), b"SSH-2.0-OpenSSH_9.6\r\n", b"MDCSTART<<NOPE>>"):
            conn, _ = server.accept()
            with conn:
                conn.recv(100)
                conn.sendall(answer)
                time.sleep(0.2)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        address = f"127.0.0.1:{server.getsockname()[1]}"
        for needle in ("only noise", "SSH-2.0", "MDCSTART<<NOPE"):
            with pytest.raises(DeviceProtocolError, match=needle):
                SamsungMdcDisplay(address, timeout=1, retries=0).get_power()
    finally:
        thread.join(timeout=3)
        server.close()


@settings(max_examples=15, deadline=None)
@given(st.lists(st.one_of(st.tuples(st.just("input"), st.sampled_from(["21", "23", "25"])),
                          st.tuples(st.just("mute"), st.booleans(), st.booleans())),
                min_size=1, max_size=6))
def test_command_sequences_match_a_model(steps):
    with MdcSimulator(inputs=["21", "23", "25"]) as sim:
        with SamsungMdcDisplay(sim.address, timeout=1) as d:
            model = {"input": "21", "mute": MuteState(False, False)}
            for step in steps:
                if step[0] == "input":
                    d.set_input(step[1])
                    model["input"] = step[1]
                else:
                    d.set_mute(video=step[1], audio=step[2])
                    model["mute"] = MuteState(step[1], step[2])
                assert d.get_input() == model["input"] and d.get_mute() == model["mute"]


def test_factory_options(sim):
    d = open_samsung_mdc(sim.address, None, 1.0,
                         {"display_id": 0, "retries": 2, "inputs": ["HDMI1", "0x25"],
                          "power_timeout_s": 5, "baudrate": 19200})
    assert isinstance(d, DisplayControl) and isinstance(d, SamsungMdcDisplay)
    assert (d.retries, d.baudrate, d.list_inputs()) == (2, 19200, ["21", "25"])
    with d:
        assert d.get_power() is PowerState.ON
    assert open_samsung_mdc(sim.address, None, 1.0, {}).display_id == 0
    for bad in ({"display_id": 255}, {"display_id": "1"}, {"retries": -1},
                {"baudrate": True}, {"inputs": "21"}, {"inputs": ["99x"]}):
        with pytest.raises(ValueError, match="samsung-mdc|input code|display_id"):
            open_samsung_mdc(sim.address, None, 1.0, bad)


def test_stop_leaves_no_threads_or_listeners():
    sim = MdcSimulator().start()
    displays = [SamsungMdcDisplay(sim.address, timeout=1) for _ in range(3)]
    for d in displays:
        assert d.get_power() is PowerState.ON
    address = sim.address
    sim.stop()
    for d in displays:
        d.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("mdc-sim")]
    with pytest.raises(DeviceUnreachable):
        SamsungMdcDisplay(address, timeout=0.5, retries=0).get_power()


def test_standalone_simulator():
    proc = subprocess.Popen(
        [sys.executable, "-m", "classcert.rigs.simulators.mdc_sim", "--port", "0",
         "--display-id", "2", "--screen-size-in", "86", "--duration-s", "10"],
        stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"listening on (127\.0\.0\.1:\d+)", line)
        assert match, line
        with SamsungMdcDisplay(match.group(1), display_id=2, timeout=2) as d:
            assert d.get_power() is PowerState.OFF and d.screen_size_in() == 86.0
    finally:
        proc.terminate()
        proc.wait(timeout=5)
        proc.stdout.close()


def test_simulator_ignores_corrupt_frames_and_resyncs(sim):
    request = codec.encode_request(codec.CMD_POWER, 0)
    with socket.create_connection(("127.0.0.1", sim.port), timeout=2) as conn:
        corrupt = request[:-1] + bytes([request[-1] ^ 0x01])
        conn.sendall(b"\x00\x13" + corrupt + request)  # noise, bad checksum, then a good one
        assert conn.recv(64) == codec.encode_reply(0, codec.CMD_POWER, b"\x01")
        conn.sendall(b"\xaa\x11\x00\xff")  # a header whose data never comes
        time.sleep(0.7)
        conn.sendall(request)
        assert conn.recv(64) == codec.encode_reply(0, codec.CMD_POWER, b"\x01")
    assert len(sim.requests) == 2
