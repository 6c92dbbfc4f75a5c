"""LgDisplay over a real serial line: a socat pty pair, the simulator on one end."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from classcert.device_drivers.display import MuteState, PowerState
from classcert.device_drivers.errors import DeviceCommandError, DeviceProtocolError, DeviceTimeout
from classcert.device_drivers.lg import LgDisplay
from classcert.rigs.simulators.lg_sim import LgSimulator


@pytest.fixture
def pty_pair(tmp_path: Path):
    """Two connected pseudo-terminals: (/dev/pts/N for the simulator, /dev/pts/M for us)."""
    if shutil.which("socat") is None:
        pytest.skip("socat is not installed (apt-get install socat, or run 'bash dev.sh setup'); "
                    "it makes the pty pair this serial test needs")
    a, b = tmp_path / "sim-end", tmp_path / "driver-end"
    log = (tmp_path / "socat.log").open("w")
    proc = subprocess.Popen(["socat", "-d", "-d", f"pty,raw,echo=0,link={a}",
                             f"pty,raw,echo=0,link={b}"], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 5
        while not (a.exists() and b.exists()):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"socat did not create the pty pair: {(tmp_path / 'socat.log')}")
            time.sleep(0.02)
        sim_end, driver_end = os.path.realpath(a), os.path.realpath(b)
        assert driver_end.startswith("/dev/pts/")  # a real device path: the serial transport
        yield sim_end, driver_end
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


def serial_sim(path: str, **knobs) -> LgSimulator:
    return LgSimulator(warmup_s=0.05, **knobs).serve_serial(path)


def test_every_method_over_a_serial_line(pty_pair):
    sim_end, driver_end = pty_pair
    sim = serial_sim(sim_end, set_id=5)
    try:
        with LgDisplay(driver_end, set_id=5, timeout=1.0) as d:
            assert d.identity().serial == sim.serial
            d.set_input("91")
            assert d.get_input() == "91" == sim.input
            d.set_mute(video=True, audio=False)
            assert d.get_mute() == MuteState(True, False)
            d.set_volume(33)
            assert d.get_volume() == 33
            assert d.error_status() == {"fan": "ok"}
            d.set_power(False)
            assert d.get_power() is PowerState.OFF
            with pytest.raises(DeviceCommandError, match="NG00"):
                d.get_mute()  # refused in standby
            d.set_power(True)
            assert d.get_power() is PowerState.ON
        assert sim.command_log[0] == "ka 05 ff"
        assert "xb 05 91" in sim.command_log
    finally:
        sim.stop()


def test_echoing_firmware_with_crlf_over_serial(pty_pair):
    sim_end, driver_end = pty_pair
    sim = serial_sim(sim_end, quirks=["echo", "crlf"])
    try:
        with LgDisplay(driver_end, timeout=1.0, retries=0) as d:
            for code in ("A0", "90", "C0"):
                d.set_input(code)  # echoes of "xb ..." start with an x: not a reply's end
                assert d.get_input() == code
    finally:
        sim.stop()


def test_silent_line_times_out_within_bound(pty_pair):
    _, driver_end = pty_pair  # nobody answers on the other end
    d = LgDisplay(driver_end, timeout=0.3, retries=1)
    start = time.monotonic()
    with pytest.raises(DeviceTimeout, match="within 0.3 s"):
        d.get_power()
    assert time.monotonic() - start < 0.6 + 0.8
    d.close()


def test_line_noise_is_a_protocol_error(pty_pair):
    sim_end, driver_end = pty_pair
    sim = serial_sim(sim_end, garbage=True, seed=11)
    try:
        d = LgDisplay(driver_end, timeout=1.0, retries=0)
        with pytest.raises(DeviceProtocolError, match="9600 8N1"):
            d.get_power()
        d.close()
    finally:
        sim.stop()
