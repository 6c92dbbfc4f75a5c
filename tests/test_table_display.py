"""TableDisplay against TableSimulator over real loopback TCP: every action and fault knob."""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classcert.device_drivers.command_table import TableError, load_table, parse_table
from classcert.device_drivers.display import DisplayControl, MuteState, PowerState
from classcert.device_drivers.errors import (
    DeviceCommandError,
    DeviceDisconnected,
    DeviceFailure,
    DeviceProtocolError,
    DeviceTimeout,
    DeviceUnreachable,
)
from classcert.device_drivers.table_display import TableActionMissing, TableDisplay, open_table
from classcert.rigs.simulators.table_sim import TableSimulator

REPO = Path(__file__).resolve().parent.parent
GENERIC = "generic-rs232-panel"
SOCKET_SETTINGS = settings(max_examples=25, deadline=None,
                           suppress_health_check=[HealthCheck.function_scoped_fixture])

# A second, fully featured table: fixed framing, CRC-16/Modbus, every optional query.
CRC_TABLE = """
[model]
make = "Test"
model = "CRC panel"
framing = "fixed"
[checksum]
kind = "crc16-modbus"
at = -2
[replies]
"01 FF 01 ?? ??" = "rejected"
"01 FF 02 ?? ??" = "busy"
[commands.power_on]
send = "01 06 01 01 ?? ??"
replies = { "01 86 01 01 ?? ??" = "ok" }
[commands.power_off]
send = "01 06 01 00 ?? ??"
replies = { "01 86 01 00 ?? ??" = "ok" }
[commands.power_query]
send = "01 03 01 00 ?? ??"
replies = { "01 83 01 00 ?? ??" = "off", "01 83 01 01 ?? ??" = "on" }
[commands.input_select.hdmi1]
send = "01 06 02 01 ?? ??"
replies = { "01 86 02 01 ?? ??" = "ok" }
[commands.input_select.dp]
send = "01 06 02 02 ?? ??"
replies = { "01 86 02 02 ?? ??" = "ok" }
[commands.input_query]
send = "01 03 02 00 ?? ??"
replies = { "01 83 02 01 ?? ??" = "hdmi1", "01 83 02 02 ?? ??" = "dp" }
[commands.video_mute_on]
send = "01 06 03 01 ?? ??"
replies = { "01 86 03 01 ?? ??" = "ok" }
[commands.video_mute_off]
send = "01 06 03 00 ?? ??"
replies = { "01 86 03 00 ?? ??" = "ok" }
[commands.video_mute_query]
send = "01 03 03 00 ?? ??"
replies = { "01 83 03 00 ?? ??" = "off", "01 83 03 01 ?? ??" = "on" }
[commands.model_query]
send = "01 03 10 00 ?? ??"
replies = { "01 83 10 ?? ?? ?? ?? ?? ?? ?? ?? ?? ??" = "value" }
fields = { text = { from = 3, to = -2 } }
[commands.serial_query]
send = "01 03 11 00 ?? ??"
replies = { "01 83 11 ?? ?? ?? ?? ?? ?? ?? ?? ?? ??" = "value", "01 84 11 00 ?? ??" = "none" }
fields = { text = { from = 3, to = -2, format = "ascii" } }
[commands.native_resolution_query]
send = "01 03 20 00 ?? ??"
replies = { "01 83 20 ?? ?? ?? ?? ?? ??" = "value" }
fields = { width = { from = 3, to = 5 }, height = { from = 5, to = 7 } }
[commands.input_resolution_query]
send = "01 03 21 00 ?? ??"
replies = { "01 83 21 ?? ?? ?? ?? ?? ??" = "value", "01 84 21 00 ?? ??" = "none" }
fields = { width = { from = 3, to = 5, format = "uint" }, height = { from = 5, to = 7 } }
[commands.lamp_query]
send = "01 03 30 00 ?? ??"
replies = { "01 83 30 01 ?? ?? ?? ??" = "on", "01 83 30 00 ?? ?? ?? ??" = "off" }
fields = { hours = { from = 4, to = 6 } }
[commands.screen_size_query]
send = "01 03 40 00 ?? ??"
replies = { "01 83 40 ?? ?? ?? ??" = "value" }
fields = { inches = { from = 3, to = 5, format = "uint-le", scale = 0.1 } }
[commands.error_query]
send = "01 03 50 00 ?? ??"
[commands.error_query.replies]
"01 83 50 00 ?? ??" = "ok"
"01 83 50 01 ?? ??" = "warning:filter"
"01 83 50 02 ?? ??" = "error:lamp"
"""


def _crc_table():
    return parse_table(CRC_TABLE, Path("crc-panel.toml"))


def _docs_table():
    doc = (REPO / "docs" / "command-tables.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```toml\n(.*?)```", doc, re.S)
                 if b.startswith("table_format"))
    return parse_table(block, Path("x86-panel.toml"))


@pytest.fixture
def sim():
    with TableSimulator(power="off") as s:
        yield s


@pytest.fixture
def display(sim):
    with open_table(GENERIC, sim.address, None, 1.0, {}) as d:
        yield d


# -- every action ----------------------------------------------------------------------------
def test_power_cycle(display, sim):
    assert isinstance(display, DisplayControl)
    assert display.get_power() is PowerState.OFF
    display.set_power(True)
    assert display.get_power() is PowerState.ON and sim.power == "on"
    display.set_power(False)
    assert display.get_power() is PowerState.OFF and sim.power == "off"
    assert sim.command_log == ["power_query", "power_on", "power_query", "power_off",
                               "power_query"]


def test_warming_and_cooling_are_reported():
    with TableSimulator(power="off", warmup_s=0.3, cooldown_s=0.3) as sim, \
            TableDisplay(load_table(GENERIC), sim.address, 1.0) as display:
        display.set_power(True)
        assert display.get_power() is PowerState.WARMING
        time.sleep(0.35)
        assert display.get_power() is PowerState.ON
        display.set_power(False)
        assert display.get_power() is PowerState.COOLING


def test_inputs(display, sim):
    sim.power = "on"
    assert display.list_inputs() == ["hdmi1", "hdmi2", "ops", "typec"]
    assert display.get_input() == "hdmi1"
    for name in ["ops", "typec", "hdmi2"]:
        display.set_input(name)
        assert display.get_input() == name == sim.input
    display.set_input("HDMI1")  # names are matched without regard to case
    assert sim.input == "hdmi1"
    with pytest.raises(TableActionMissing, match="input 'vga' is not in command table") as err:
        display.set_input("vga")
    assert err.value.code == "UNSUPPORTED" and "hdmi1, hdmi2, ops, typec" in str(err.value)


def test_mutes(display, sim):
    sim.power = "on"
    assert display.get_mute() == MuteState(video=False, audio=False)
    display.set_mute(video=True, audio=True)
    assert display.get_mute() == MuteState(video=True, audio=True)
    assert (sim.video_mute, sim.audio_mute) == (True, True)
    display.set_mute(audio=False)
    assert display.get_mute() == MuteState(video=True, audio=False)


def test_busy_in_standby_then_accepted(display, sim):
    says = r"cannot do input_select.ops \(reply A5 01 EE 02 F1\) now"
    with pytest.raises(DeviceCommandError, match=says) as err:
        display.set_input("ops")
    assert err.value.code == "BUSY" and err.value.command == "input_select.ops"
    display.set_power(True)
    display.set_input("ops")
    assert sim.input == "ops"


def test_value_queries_and_absent_ones(display, sim):
    sim.screen_size_in = 86
    assert display.screen_size_in() == 86.0
    assert set(display.error_status().values()) == {"ok"}
    sim.error = "error:fan"
    assert display.error_status()["fan"] == "error"
    # the example table has no resolution, lamp or identity queries
    assert display.native_resolution() is None and display.input_resolution() is None
    assert display.lamp_hours() == []
    ident = display.identity()
    assert (ident.make, ident.model, ident.serial) == ("", "", "")
    assert ident.raw["table"] == GENERIC and ident.raw["table_make"] == "Example"
    with pytest.raises(TableActionMissing, match="not supported by command table"):
        display.request("lamp_query")


def test_full_table_over_a_serial_url():
    table = _crc_table()
    with TableSimulator(table=table, power="on", model="CRC-86", serial=None,
                        native_resolution=(3840, 2160), input_resolution=None, lamp_hours=1234,
                        screen_size_in=85.6, input="dp") as sim, \
            TableDisplay(table, f"socket://{sim.address}", 1.0) as display:
        ident = display.identity()
        assert (ident.model, ident.serial, ident.make) == ("CRC-86", "", "")
        assert display.native_resolution() == (3840, 2160)
        assert display.input_resolution() is None
        sim.input_resolution = (1280, 720)
        assert display.input_resolution() == (1280, 720)
        assert display.lamp_hours() == [(1234, True)]
        assert display.screen_size_in() == pytest.approx(85.6)
        assert display.get_input() == "dp"
        display.set_mute(video=True, audio=False)  # no sound mute in this table: never muted
        assert display.get_mute() == MuteState(video=True, audio=False)
        with pytest.raises(TableActionMissing, match="mute_on"):
            display.set_mute(audio=True)
        sim.failure = True
        assert display.error_status()["lamp"] == "error"
        assert display.lamp_hours() == [(1234, False)]
        with pytest.raises(DeviceCommandError) as err:  # no "failure" reply: rejected instead
            display.set_power(False)
        assert err.value.code == "REJECTED"


@SOCKET_SETTINGS
@given(size=st.integers(1, 255),
       firmware=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1,
                        max_size=16))
def test_docs_table_with_terminator_and_variable_replies(size, firmware):
    table = _docs_table()
    with TableSimulator(table=table, power="on", screen_size_in=size, firmware=firmware) as sim, \
            TableDisplay(table, sim.address, 1.0) as display:
        assert display.screen_size_in() == size  # also when a byte equals the terminator 0D
        assert display.identity().firmware == firmware
        display.set_input("hdmi2")
        assert display.get_input() == "hdmi2"


@SOCKET_SETTINGS
@given(power=st.sampled_from(["on", "off"]), source=st.sampled_from(["hdmi1", "ops", "typec"]),
       video=st.booleans(), audio=st.booleans())
def test_state_round_trip(sim, power, source, video, audio):
    sim.power, sim.input, sim.video_mute, sim.audio_mute = power, source, video, audio
    with TableDisplay(load_table(GENERIC), sim.address, 1.0) as display:
        assert display.get_power() is PowerState(power)
        if power == "on":
            assert display.get_input() == source
            assert display.get_mute() == MuteState(video=video, audio=audio)


ASCII_TABLE = """
[model]
make = "Test"
model = "ASCII panel"
framing = "terminator"
terminator = "0D 0A"
[replies]
'"ERR" * 0D 0A' = "rejected"
[commands.power_on]
send = '"PWR 1" 0D 0A'
replies = { '"OK" 0D 0A' = "ok" }
[commands.power_query]
send = '"PWR ?" 0D 0A'
replies = { '"PWR=1" 0D 0A' = "on", '"PWR=0" 0D 0A' = "off" }
[commands.screen_size_query]
send = '"SIZE ?" 0D 0A'
replies = { '"SIZE=" ?? ?? ?? 0D 0A' = "value" }
fields = { inches = { from = 5, to = 8, format = "ascii-int" } }
"""


def test_ascii_protocol_with_crlf():
    table = parse_table(ASCII_TABLE, Path("ascii-panel.toml"))
    assert table.commands["power_on"].send == b"PWR 1\r\n"
    with TableSimulator(table=table, power="off", screen_size_in=75) as sim, \
            TableDisplay(table, sim.address, 1.0) as display:
        assert display.get_power() is PowerState.OFF
        display.set_power(True)
        assert display.get_power() is PowerState.ON
        assert display.screen_size_in() == 75
        sim.failure = True  # no "failure" reply in this table: the ERR line says rejected
        with pytest.raises(DeviceCommandError, match="refused power_on"):
            display.set_power(True)
        with pytest.raises(TableActionMissing):
            display.set_power(False)


# -- fault knobs -----------------------------------------------------------------------------
def test_ignore_set(display, sim):
    sim.ignore_set = True
    display.set_power(True)  # acknowledged ...
    assert display.get_power() is PowerState.OFF  # ... but nothing changed


def test_reply_delay_within_and_beyond_the_timeout(sim):
    sim.reply_delay_s = 0.15
    with TableDisplay(load_table(GENERIC), sim.address, 1.0) as display:
        start = time.monotonic()
        assert display.get_power() is PowerState.OFF
        assert time.monotonic() - start >= 0.15
    sim.reply_delay_s = 0.6
    says = r"no complete reply to power_query within 0.2 s \(nothing arrived\)"
    with TableDisplay(load_table(GENERIC), sim.address, 0.2, retries=0) as display, \
            pytest.raises(DeviceTimeout, match=says):
        display.get_power()


def test_drop_without_answer_then_per_command_connections(sim):
    sim.drop_after = 0
    with TableDisplay(load_table(GENERIC), sim.address, 1.0, retries=1) as display:
        with pytest.raises(DeviceDisconnected, match="connection was closed"):
            display.get_power()
        assert sim.connections >= 2  # retried on a new connection
        sim.drop_after, before = 1, sim.connections
        for _ in range(3):  # the panel closes after each answer: reconnects transparently
            assert display.get_power() is PowerState.OFF
        assert sim.connections - before >= 3


def test_garbage_is_a_protocol_error_and_recovers(display, sim):
    sim.garbage = True
    with pytest.raises(DeviceProtocolError, match="expects one of: A5 01 11 00 12"):
        display.get_power()
    sim.garbage = False
    assert display.get_power() is PowerState.OFF


def test_failure(display, sim):
    sim.failure = True
    with pytest.raises(DeviceFailure, match="failure of its own") as err:
        display.set_power(True)
    assert err.value.code == "FAILURE" and not isinstance(err.value, DeviceCommandError)
    status = display.error_status()
    assert status["temperature"] == "error" and status["fan"] == "ok"


def test_echoing_line(sim):
    sim.echo = True
    with TableDisplay(load_table(GENERIC), sim.address, 1.0) as display:
        display.set_power(True)
        assert display.get_power() is PowerState.ON


def test_unknown_bytes_get_the_rejected_reply(sim):
    with socket.create_connection(("127.0.0.1", sim.port), timeout=1) as conn:
        conn.sendall(bytes.fromhex("5A 01 99 00 9A"))
        assert conn.recv(64) == bytes.fromhex("A5 01 EE 01 F0")
    assert sim.command_log == ["? 5A 01 99 00 9A"]
    with TableDisplay(load_table(GENERIC), sim.address, 1.0) as display:
        sim.power = "on"
        assert display.get_power() is PowerState.ON


class _OneReply:
    """A TCP peer that answers every command with the same bytes."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(2)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(2)
            try:
                while conn.recv(64):
                    conn.sendall(self.reply)
            except OSError:
                pass

    def close(self) -> None:
        self.listener.close()
        self.thread.join(timeout=3)


@pytest.mark.parametrize("reply, query, says", [
    ("A5 01 50 41 00", "screen_size_in", "has checksum 00 but 92 was computed"),
    ("A5 01 11 01 14", "get_power", "'A5 01 11 01 14' (its checksum 14 is wrong too: 13"),
    ("A5 01 12 01 14", "get_power", "answered 'A5 01 12' to power_query"),
])
def test_corrupted_replies(reply, query, says):
    peer = _OneReply(bytes.fromhex(reply))
    try:
        with TableDisplay(load_table(GENERIC), f"127.0.0.1:{peer.port}", 1.0) as display, \
                pytest.raises(DeviceProtocolError, match=re.escape(says)):
            getattr(display, query)()
    finally:
        peer.close()


def test_partial_reply_times_out_saying_what_arrived():
    peer = _OneReply(bytes.fromhex("A5 01 11"))
    try:
        with TableDisplay(load_table(GENERIC), f"127.0.0.1:{peer.port}", 0.3, retries=0) as d, \
                pytest.raises(DeviceTimeout, match="only A5 01 11 arrived"):
            d.get_power()
    finally:
        peer.close()


def test_faults_with_terminator_framing():
    table = _docs_table()
    with TableSimulator(table=table, power="on", garbage=True, seed=7) as sim, \
            TableDisplay(table, sim.address, 1.0) as display:
        with pytest.raises(DeviceProtocolError, match="to power_query"):
            display.get_power()
        sim.garbage, sim.failure = False, True
        with pytest.raises(DeviceCommandError, match="refused power_off") as err:
            display.set_power(False)  # the X86 table has no failure reply
        assert err.value.code == "REJECTED" and sim.power == "on"


def test_min_gap_between_commands(sim, tmp_path):
    text = (load_table(GENERIC).path.read_text(encoding="utf-8")
            .replace("min_gap_s = 0.05", "min_gap_s = 0.2"))
    table = parse_table(text, tmp_path / "slow.toml")
    with TableDisplay(table, sim.address, 1.0) as display:
        display.get_power()
        start = time.monotonic()
        display.get_power()
        assert time.monotonic() - start >= 0.19


# -- factory and connection errors -----------------------------------------------------------
def test_open_table_options(sim, tmp_path):
    copy = tmp_path / "my-panel.toml"
    copy.write_text(load_table(GENERIC).path.read_text(encoding="utf-8"), encoding="utf-8")
    display = open_table("ignored", sim.address, "pw", 1.0,
                         {"table_file": str(copy), "retries": 3, "power_timeout_s": 5})
    assert (display.table.name, display.retries, display.baudrate) == ("my-panel", 3, 9600)
    assert open_table(GENERIC, sim.address, None, 1.0, {"baudrate": 19200}).baudrate == 19200
    for bad in ({"baudrate": "fast"}, {"retries": -1}, {"retries": True}, {"table_file": 3}):
        with pytest.raises(ValueError, match="must be"):
            open_table(GENERIC, sim.address, None, 1.0, bad)
    with pytest.raises(TableError, match="no command table named 'nope'"):
        open_table("nope", sim.address, None, 1.0, {})
    with pytest.raises(ValueError, match="timeout must be > 0"):
        TableDisplay(load_table(GENERIC), sim.address, 0)


def test_unreachable_and_default_port():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    try:
        with pytest.raises(DeviceUnreachable, match="refused"):
            TableDisplay(load_table(GENERIC), f"127.0.0.1:{port}", 1.0).connect()
    finally:
        holder.close()
    with TableSimulator(port=0) as sim:
        table = load_table(GENERIC)
        moved = TableDisplay(parse_table(table.path.read_text(encoding="utf-8").replace(
            "tcp_port = 5000", f"tcp_port = {sim.port}"), table.path), "127.0.0.1", 1.0)
        with moved:
            assert moved.get_power() is PowerState.ON


def test_simulators_leave_no_threads():
    before = threading.active_count()
    for _ in range(3):
        with TableSimulator() as sim, TableDisplay(load_table(GENERIC), sim.address, 1.0) as d:
            d.get_power()
    deadline = time.monotonic() + 2
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert threading.active_count() <= before
