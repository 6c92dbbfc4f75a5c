"""Our PJLink simulator driven by independent client libraries (pypjlink2, aiopjlink)."""

from __future__ import annotations

import asyncio
import time

import pytest

from classcert.rigs.simulators.pjlink_sim import PjlinkSimulator

pypjlink = pytest.importorskip("pypjlink")
aiopjlink = pytest.importorskip("aiopjlink")

FAST = {"warmup_s": 0.05, "cooldown_s": 0.05}


def _host_port(sim: PjlinkSimulator) -> tuple[str, int]:
    return sim.host, sim.port


# ---------------------------------------------------------------- pypjlink2 ---------------
@pytest.mark.parametrize("password", [None, "JBMIAProjectorLink"])
def test_pypjlink_full_session(password):
    sim = PjlinkSimulator(password=password, power="off", inputs=["11", "31", "32", "6A"],
                          make="ACME", model="PJ-9000", name="room-101", **FAST)
    with sim:
        host, port = _host_port(sim)
        with pypjlink.Projector.from_address(host, port, timeout=2) as proj:
            assert proj.authenticate(password) is (None if password is None else True)
            assert proj.get_power() == "off"
            proj.set_power("on")
            assert proj.get_power() in ("warm-up", "on")
            time.sleep(0.1)
            assert proj.get_power() == "on"
            # %1INST lists only inputs a class 1 client can address (6A is class 2 only)
            assert proj.get_inputs() == [("RGB", 1), ("DIGITAL", 1), ("DIGITAL", 2)]
            assert proj.get_input() == ("DIGITAL", 1)
            proj.set_input("DIGITAL", 2)
            assert proj.get_input() == ("DIGITAL", 2)
            assert proj.get_mute() == (False, False)
            proj.set_mute(pypjlink.MUTE_VIDEO, True)
            assert proj.get_mute() == (True, False)
            assert proj.get_manufacturer() == "ACME"
            assert proj.get_product_name() == "PJ-9000"
            assert proj.get_name() == "room-101"
            assert proj.get_errors()["lamp"] == "ok"
            assert proj.get_lamps() == [(1200, True)]
        assert sim.input == "32" and sim.video_mute and not sim.audio_mute


def test_pypjlink_wrong_password_and_error_codes():
    with PjlinkSimulator(password="right", **FAST) as sim:
        host, port = _host_port(sim)
        with pypjlink.Projector.from_address(host, port, timeout=2) as proj:
            assert proj.authenticate("wrong") is False
        with pypjlink.Projector.from_address(host, port, timeout=2) as proj:
            assert proj.authenticate("right") is True
            with pytest.raises(pypjlink.projector.ProjectorError, match="out of parameter"):
                proj.set_input("NETWORK", 9)


# ---------------------------------------------------------------- aiopjlink -----------------
async def _aiopjlink_session(sim: PjlinkSimulator, password: str | None) -> dict:
    from aiopjlink import PJLink, Power, Sources

    host, port = _host_port(sim)
    async with PJLink(address=host, port=port, password=password, timeout=2) as link:
        seen: dict = {"power0": await link.power.get()}
        await link.power.turn_on()
        await asyncio.sleep(0.1)
        seen["power1"] = await link.power.get()
        seen["class"] = await link.info.pjlink_class()
        seen["table"] = await link.info.table()
        seen["inputs"] = await link.sources.available(pjclass=link.C2)
        await link.sources.set(Sources.Mode.INTERNAL, "A", pjclass=link.C2)
        seen["input"] = await link.sources.get(pjclass=link.C2)
        seen["names"] = await link.sources.available_with_names()
        seen["ires"] = await link.sources.resolution()
        seen["rres"] = await link.sources.recommended_resolution()
        await link.mute.set(video=True, audio=True)
        seen["mute"] = await link.mute.status()
        seen["errors"] = await link.errors.query()
        seen["lamps"] = await link.lamps.status()
        seen["filter"] = await link.filter.hours()
        await link.freeze.set(True)
        seen["frozen"] = await link.freeze.get()
        await link.speaker.turn_up()
        seen["off_state"] = Power.State.OFF
    return seen


@pytest.mark.parametrize("password", [None, "pw"])
def test_aiopjlink_full_session(password):
    with PjlinkSimulator(password=password, power="off", inputs=["31", "6A"],
                         native_resolution=(1366, 768), serial="SN42", **FAST) as sim:
        seen = asyncio.run(_aiopjlink_session(sim, password))
        assert seen["power0"] == seen["off_state"]
        assert seen["power1"].value == "1"
        assert seen["class"].value == "2"
        assert seen["table"]["serial_number"] == "SN42"
        assert seen["table"]["software_version"] == sim.firmware
        assert [(m.value, i) for m, i in seen["inputs"]] == [("3", "1"), ("6", "A")]
        assert (seen["input"][0].value, seen["input"][1]) == ("6", "A")
        assert [n for _, _, n in seen["names"]] == ["DIGITAL 1", "INTERNAL A"]
        assert seen["ires"] == (1920, 1080) and seen["rres"] == (1366, 768)
        assert seen["mute"] == (True, True)
        assert all(level.value == "0" for level in seen["errors"].values())
        assert [(h, s.value) for h, s in seen["lamps"]] == [(1200, "1")]
        assert seen["filter"] == 0 and seen["frozen"] is True
        assert sim.speaker_volume == 11 and sim.input == "6A"


async def _aiopjlink_connect(sim: PjlinkSimulator, password: str | None) -> None:
    from aiopjlink import PJLink

    host, port = _host_port(sim)
    link = PJLink(address=host, port=port, password=password, timeout=2)
    try:
        async with link:
            await link.power.get()
    finally:
        # aiopjlink leaves its socket open when authentication fails inside __aenter__
        if link._writer is not None:
            link._writer.close()
            await link._writer.wait_closed()


@pytest.mark.parametrize("password", [None, "wrong"])
def test_aiopjlink_rejects_missing_or_wrong_password(password):
    from aiopjlink import PJLinkPassword

    with PjlinkSimulator(password="right") as sim:
        with pytest.raises(PJLinkPassword):
            asyncio.run(_aiopjlink_connect(sim, password))


def test_aiopjlink_sees_warmup_refusal():
    from aiopjlink import PJLink, PJLinkERR3, Sources

    async def scenario(sim):
        async with PJLink(address=sim.host, port=sim.port, timeout=2) as link:
            await link.power.turn_on()
            await link.sources.set(Sources.Mode.DIGITAL, "2")

    with PjlinkSimulator(power="off", warmup_s=5.0, inputs=["31", "32"]) as sim:
        with pytest.raises(PJLinkERR3):
            asyncio.run(scenario(sim))
        assert sim.power == "3"
