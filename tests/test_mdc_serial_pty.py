"""MDC over RS-232, end to end: simulator on one end of a socat pty pair, clients on the other."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from classcert.device_drivers.display import MuteState, PowerState
from classcert.device_drivers.errors import DeviceProtocolError, DeviceTimeout
from classcert.device_drivers.samsung_mdc import SamsungMdcDisplay, open_samsung_mdc
from classcert.rigs.simulators.mdc_sim import MdcSimulator

pytestmark = pytest.mark.skipif(
    shutil.which("socat") is None,
    reason="socat is not installed (apt-get install socat): it creates the pty pair that "
           "stands in for the RS-232 cable")


@pytest.fixture
def pty_pair(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two linked ptys (/dev/pts/N paths): bytes written to one are read from the other."""
    a, b = tmp_path / "display", tmp_path / "harness"
    proc = subprocess.Popen(
        ["socat", "-d", "-d", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 5
        while not (a.exists() and b.exists()) and time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"socat exited: {proc.stderr.read().decode(errors='replace')}")
            time.sleep(0.02)
        assert a.exists() and b.exists(), "socat did not create the pty pair within 5 s"
        yield os.path.realpath(a), os.path.realpath(b)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        proc.stderr.close()


def test_driver_over_pty(pty_pair):
    display_end, harness_end = pty_pair
    assert harness_end.startswith("/dev/")  # the driver picks pyserial for /dev/ paths
    sim = MdcSimulator(display_id=1, power="off", screen_size_in=86)
    with sim.serve_serial(display_end):
        with SamsungMdcDisplay(harness_end, display_id=1, timeout=1.0) as d:
            assert d.get_power() is PowerState.OFF
            d.set_power(True)
            assert d.get_power() is PowerState.ON
            d.set_input("HDMI2")
            assert d.get_input() == "23"
            d.set_mute(video=True, audio=False)
            assert d.get_mute() == MuteState(True, False)
            assert d.screen_size_in() == 86.0
            ident = d.identity()
            assert (ident.make, ident.serial, ident.model) == ("Samsung", sim.serial,
                                                               sim.model_name)
    assert sim.connections == 0 and len(sim.requests) >= 10  # all of it went over the pty


def test_factory_and_quirks_over_pty(pty_pair):
    display_end, harness_end = pty_pair
    sim = MdcSimulator(quirks=["echo", "leading_nul", "padded_strings"])
    with sim.serve_serial(display_end, baudrate=19200):
        d = open_samsung_mdc(harness_end, None, 1.0, {"baudrate": 19200, "retries": 0})
        with d:
            assert d.identity().serial == sim.serial
            d.set_input("0x25")
            assert d.get_input() == "25"


def test_silence_and_garbage_over_pty(pty_pair):
    display_end, harness_end = pty_pair
    sim = MdcSimulator(drop_after=1)
    with sim.serve_serial(display_end):
        d = SamsungMdcDisplay(harness_end, timeout=0.3, retries=1)
        assert d.get_power() is PowerState.ON
        start = time.monotonic()
        with pytest.raises(DeviceTimeout, match="baud rate") as err:
            d.get_power()  # the display went silent: cable pulled
        assert time.monotonic() - start < 2 * 0.3 + 0.8
        assert "串口" in err.value.message_zh
        sim.drop_after, sim.garbage = None, True
        with pytest.raises(DeviceProtocolError):
            d.get_power()
        d.close()


def test_library_serial_mode_over_pty(pty_pair):
    samsung_mdc = pytest.importorskip("samsung_mdc")
    pytest.importorskip("serial_asyncio")
    display_end, harness_end = pty_pair

    async def scenario():
        async with samsung_mdc.MDC(harness_end, mode="serial", baudrate=9600, timeout=2) as mdc:
            await mdc.power(0, ["OFF"])
            power = await mdc.power(0)
            serial_number = await mdc.serial_number(0)
            size = await mdc.screen_size(0)
        return power, serial_number, size

    sim = MdcSimulator(screen_size_in=65)
    with sim.serve_serial(display_end):
        power, serial_number, size = asyncio.run(asyncio.wait_for(scenario(), timeout=10))
    assert power[0].name == "OFF" and not sim.power
    assert serial_number == (sim.serial,) and size == (65,)
