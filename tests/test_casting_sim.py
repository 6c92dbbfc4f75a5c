"""Simulated displays announce casting receivers over mDNS on loopback, as real panels do."""

from __future__ import annotations

import pytest

from classcert.device_drivers.casting import discover_casting_receivers
from classcert.rig import load_rig
from classcert.rigs.simulate import SimulatorError, SimulatorPool
from classcert.rigs.simulators.casting_sim import CastingAdvertiser

from helpers import pjlink_room, rig_text


def test_announced_receivers_are_discovered_on_loopback():
    adv = CastingAdvertiser()
    try:
        adv.add("R9", "panel", ["airplay", "lebo"], 7000)
        assert adv.wait() == []
        found = discover_casting_receivers(duration_s=2.0, interfaces=["127.0.0.1"])
    finally:
        adv.stop()
    mine = sorted((r.protocol, r.name) for r in found if r.name.startswith("R9 "))
    assert mine == [("airplay", "R9 panel"), ("lebo", "R9 panel")]
    assert all(r.addresses == ("127.0.0.1",) for r in found if r.name.startswith("R9 "))


def test_unknown_protocols_are_refused():
    adv = CastingAdvertiser()
    with pytest.raises(ValueError, match="unknown casting protocol"):
        adv.add("R1", "panel", ["smoke-signals"], 7000)
    adv.stop()


def test_the_pool_reports_a_bad_casting_table_with_its_line(tmp_path):
    rig = tmp_path / "rig.toml"
    rig.write_text(rig_text(pjlink_room("R1", 'casting = "airplay"')), encoding="utf-8")
    with pytest.raises(SimulatorError, match=r"rig.toml:\d+: 'casting'"):
        with SimulatorPool(load_rig(rig)):
            pass
