"""Our MDC simulator and codec checked against an independent client (python-samsung-mdc)."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classcert.device_drivers import samsung_mdc_codec as codec
from classcert.rigs.simulators.mdc_sim import NAK_BAD_VALUE, MdcSimulator

samsung_mdc = pytest.importorskip("samsung_mdc")
from samsung_mdc import MDC  # noqa: E402
from samsung_mdc.connection import pack_payload, pack_response  # noqa: E402
from samsung_mdc.exceptions import MDCTLSRequired, NAKError  # noqa: E402


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=10))


@settings(max_examples=200)
@given(st.integers(0, 0xFE), st.integers(0, 0xFE), st.binary(max_size=60))
def test_request_bytes_match_the_library(cmd, display_id, data):
    if cmd != codec.REPLY_CMD:
        assert codec.encode_request(cmd, display_id, data) == pack_payload(cmd, display_id, data)


@settings(max_examples=200)
@given(st.integers(0, 0xFE), st.integers(0, 0xFE), st.binary(max_size=60), st.booleans())
def test_reply_bytes_match_the_library(rcmd, display_id, data, ack):
    data = data if ack else data[:1].ljust(1, b"\x01")
    assert codec.encode_reply(display_id, rcmd, data, ack) == pack_response(
        rcmd, display_id, ack, data)


async def _session(sim: MdcSimulator, display_id: int) -> dict:
    seen: dict = {}
    async with MDC(sim.address, timeout=2) as mdc:
        seen["power0"] = await mdc.power(display_id)
        await mdc.power(display_id, ["ON"])
        seen["power1"] = await mdc.power(display_id)
        seen["input0"] = await mdc.input_source(display_id)
        await mdc.input_source(display_id, ["HDMI2"])
        seen["input1"] = await mdc.input_source(display_id)
        seen["serial"] = await mdc.serial_number(display_id)
        seen["model"] = await mdc.model_name(display_id)
        seen["model_number"] = await mdc.model_number(display_id)
        seen["version"] = await mdc.software_version(display_id)
        seen["size"] = await mdc.screen_size(display_id)
        await mdc.volume(display_id, [35])
        await mdc.mute(display_id, ["ON"])
        seen["status"] = await mdc.status(display_id)
        seen["errors"] = await mdc.error_status(display_id)
        await mdc.panel(display_id, ["OFF"])
        seen["panel"] = await mdc.panel(display_id)
        seen["name"] = await mdc.device_name(display_id)
    return seen


@pytest.mark.parametrize(("sim_id", "display_id", "size"), [(0, 0, 75), (7, 7, 86), (3, 254, 65)])
def test_library_full_session(sim_id, display_id, size):
    with MdcSimulator(display_id=sim_id, power="off", screen_size_in=size,
                      serial="0F3H3CPM200012", model_name="SIM-MDC86") as sim:
        seen = run(_session(sim, display_id))
        assert seen["power0"][0].name == "OFF" and seen["power1"][0].name == "ON"
        assert seen["input0"][0].name == "HDMI1" and seen["input1"][0].name == "HDMI2"
        assert seen["serial"] == ("0F3H3CPM200012",) and seen["model"] == ("SIM-MDC86",)
        assert seen["model_number"][0].name == "LCD" and seen["model_number"][1] == 1
        assert seen["version"] == (sim.firmware,) and seen["size"] == (size,)
        power, volume, mute, source = seen["status"][:4]
        assert (power.name, volume, mute.name, source.name) == ("ON", 35, "ON", "HDMI2")
        assert seen["errors"][1].name == "NORMAL" and seen["errors"][4] == sim.temperature
        assert seen["panel"][0].name == "OFF" and seen["name"] == (sim.device_name,)
        assert sim.power and sim.input == 0x23 and sim.volume == 35 and sim.mute
        assert sim.panel_off


def test_library_sees_nak_with_our_code():
    async def scenario(sim):
        async with MDC(sim.address, timeout=2) as mdc:
            await mdc.input_source(0, ["HDMI4"])  # not a port of this display

    with MdcSimulator() as sim:
        with pytest.raises(NAKError) as err:
            run(scenario(sim))
        assert err.value.error_code == NAK_BAD_VALUE and sim.input == 0x21


def test_library_sees_failure_in_error_status():
    async def scenario(sim):
        async with MDC(sim.address, timeout=2) as mdc:
            return await mdc.error_status(0)

    with MdcSimulator(failure=True) as sim:
        errors = run(scenario(sim))
    assert errors[1].name == "ERROR" and errors[5].name == "ERROR" and errors[4] == 85


def test_library_detects_our_secured_banner():
    async def scenario(sim):
        async with MDC(sim.address, timeout=2) as mdc:
            await mdc.power(0)

    with MdcSimulator(secured=True) as sim:
        with pytest.raises(MDCTLSRequired):
            run(scenario(sim))
