"""Wi-Fi controllers during the crowd test: simulators following a crowd, the driver
registry, the rig's controller plan and the background sampler."""

from __future__ import annotations

import socket
import time
from dataclasses import replace

import pytest

from classcert.device_drivers.registry import WIFI_CONTROLLERS, open_wifi_controller
from classcert.model import Device, Rig, Room, School
from classcert.rigs.simulate import SimulatorPool
from classcert.rigs.simulators.omada_sim import OmadaSim
from classcert.rigs.simulators.snmp_wireless_sim import SnmpWirelessSim
from classcert.rigs.simulators.unifi_sim import UnifiSim
from classcert.rigs.simulators.wifi_population import crowd_station_provider
from classcert.test_suites import wifi_controller_steps as ctl
from classcert.wifi_crosscheck import RoomScope

SSID = "Class"


# ------------------------------------------------------------------ simulators follow a crowd

def _stations(n: int, band: str | None = None) -> list[dict]:
    return [{"mac": f"02:cc:00:00:00:{i + 1:02x}", "ip": f"127.0.1.{i + 1}",
             "hostname": f"crowd-{i + 1:03d}", "band": band, "os": "Android 14"}
            for i in range(n)]


class _Stub:
    def __init__(self, n: int) -> None:
        self.n = n

    def __call__(self) -> list[dict]:
        return _stations(self.n)


def test_unifi_and_omada_follow_a_crowd_with_faults() -> None:
    stub = _Stub(6)
    with UnifiSim(password="pw", ssid=SSID, aps=["AP-1"], report_only=4, foreign=2,
                  clients=30) as sim:
        sim.follow(stub)
        drv = open_wifi_controller("unifi", sim.address, "pw", 2.0, {"verify_tls": False})
        try:
            every = drv.clients()
            room = drv.clients(ssid=SSID, ap_names=["AP-1"])
            assert len(every) == 6 and len(room) == 4
            assert [c.ip for c in room] == [f"127.0.1.{i}" for i in range(1, 5)]
            assert {c.ssid for c in every} - {SSID} == {f"{SSID}-guest"}
            stub.n = 2  # the provider is asked on every request
            assert len(drv.clients(ssid=SSID)) == 2
            sim.follow(None)
            assert len(drv.clients(ssid=SSID)) == 4  # own population, still report_only
        finally:
            drv.close()
    with OmadaSim(password="sec", ssid=SSID, aps=["AP-1", "AP-2"], foreign=3) as sim:
        sim.follow(_Stub(5))
        drv = open_wifi_controller("omada", sim.address, "sec", 2.0,
                                   {"verify_tls": False, "client_id": "classcert"})
        try:
            room = drv.clients(ssid=SSID)
            assert sorted(c.ip for c in room) == [f"127.0.1.{i}" for i in range(1, 6)]
            assert {c.ap_name for c in room} == {"AP-1", "AP-2"}
            assert len(drv.clients()) == 8
            assert sum(a.clients for a in drv.access_points()) == 8
        finally:
            drv.close()


def test_registry_names_every_controller_driver_and_refuses_others() -> None:
    assert set(WIFI_CONTROLLERS) == {"unifi", "omada", "snmp-wireless"}
    for name in ("pjlink", "none", "unifi-os"):
        with pytest.raises(ValueError, match="no Wi-Fi controller driver"):
            open_wifi_controller(name, "127.0.0.1:9")


def test_snmp_sim_follows_and_rebuilds_its_table() -> None:
    stub = _Stub(3)
    with SnmpWirelessSim(vendor="huawei", ssids=[SSID], aps=["R1-AP"], foreign=2,
                         report_only=7) as sim:
        drv = open_wifi_controller("snmp-wireless", sim.address, None, 1.0, {"vendor": "huawei"})
        try:
            assert len(drv.clients()) == 9  # 7 of the 12 generated + 2 foreign
            sim.follow(stub)
            room = [c for c in drv.clients() if c.ssid == SSID]
            assert sorted(c.ip for c in room) == ["127.0.1.1", "127.0.1.2", "127.0.1.3"]
            assert {c.ap_name for c in room} == {"R1-AP"}
            stub.n = 10
            assert len([c for c in drv.clients() if c.ssid == SSID]) == 7  # report_only
        finally:
            drv.close()
    with pytest.raises(ValueError, match="report_only"):
        SnmpWirelessSim(report_only=-1)


def test_station_provider_falls_back_to_the_emulated_devices() -> None:
    class Dev:
        def __init__(self, index: int) -> None:
            self.index, self.os = index, "iOS 17"

    class OldCrowd:
        band = "2.4"
        devices = [Dev(0), Dev(1)]

    rows = crowd_station_provider(OldCrowd())()
    assert [r["ip"] for r in rows] == ["127.0.0.1", "127.0.0.1"]
    assert len({r["mac"] for r in rows}) == 2 and {r["band"] for r in rows} == {"2.4"}

    class NewCrowd:
        def stations(self) -> list[dict]:
            return _stations(1)

    assert crowd_station_provider(NewCrowd())() == _stations(1)


def test_pool_starts_the_crowd_and_links_the_controller(tmp_path) -> None:
    wifi = Device("wifi", "unifi", "127.0.0.1:0", simulator={
        "kind": "unifi", "ssid": SSID, "crowd": {"devices": 3}})
    room = Room("R1", "Room 1", 2, ("smart",), (wifi,))
    school = School("S", "basic", 1, 1, 1, "cq-jj")
    with SimulatorPool(Rig(tmp_path / "rig.toml", school, (room,))) as pool:
        crowd = pool.crowd("R1")
        assert crowd is not None and type(crowd).__name__ == "CrowdSim"
        drv = open_wifi_controller("unifi", pool.address("R1", 0, wifi), "ubnt", 2.0,
                                   {"verify_tls": False})
        try:
            expected = [s["ip"] for s in crowd_station_provider(crowd)()]
            assert sorted(c.ip for c in drv.clients(ssid=SSID)) == sorted(expected)
            assert len(expected) == 3
        finally:
            drv.close()
        assert pool.crowd("R2") is None


# ------------------------------------------------------------------ plan and sampler

class _Ctx:
    def device_address(self, room, device) -> str:
        return device.address


def _wifi(driver: str, **options) -> tuple[Room, Device]:
    dev = Device("wifi", driver, "127.0.0.1:9", options=options)
    return Room("R1", "Room", 10, ("smart",), (dev,)), dev


def test_controller_plan_reads_the_rig() -> None:
    room, dev = _wifi("none")
    assert ctl.controller_plan(_Ctx(), room, dev) is None
    assert "driver \"none\"" in ctl.no_controller_note(dev)[0]
    assert ctl.controller_plan(_Ctx(), room, None) is None
    room, dev = _wifi("snmp")  # an AP watched for other purposes: no cross-check, said so
    assert ctl.controller_plan(_Ctx(), room, dev) is None
    assert "not a Wi-Fi controller driver" in ctl.no_controller_note(dev)[0]
    room, dev = _wifi("unifi", ssid="Class", aps="AP-1", timeout_s=2)
    plan = ctl.controller_plan(_Ctx(), room, dev)
    assert plan.scope == RoomScope("Class", ("AP-1",)) and plan.timeout_s == 2.0
    for driver, opts, needle in [("unifi", {"ssid": 5}, "options.ssid"),
                                 ("omada", {"aps": []}, "options.aps"),
                                 ("unifi", {"timeout_s": 0}, "timeout_s")]:
        room, dev = _wifi(driver, **opts)
        with pytest.raises(ctl.ControllerProblem, match=needle) as info:
            ctl.controller_plan(_Ctx(), room, dev)
        assert 'driver = "none"' in info.value.message_en and info.value.message_zh
    dev = replace(dev, options={}, password_env="T_XC_SURELY_UNSET")
    with pytest.raises(ctl.ControllerProblem, match="T_XC_SURELY_UNSET"):
        ctl.controller_plan(_Ctx(), room, dev)


def _plan(driver: str, address: str, password: str | None, timeout: float = 2.0,
          **options) -> ctl.ControllerPlan:
    return ctl.ControllerPlan(driver, address, password, timeout, options, RoomScope(SSID))


def _times(*offsets: float) -> list[tuple[str, float, float]]:
    now = time.monotonic()
    return [(label, now + off, off) for label, off in zip(("down", "up"), offsets, strict=False)]


def test_sampler_reads_in_each_window() -> None:
    with UnifiSim(password="pw", ssid=SSID, clients=3, unifi_os=True) as sim:
        sampler = ctl.ControllerSampler(_plan("unifi", sim.address, "pw",
                                              verify_tls=False)).start()
        sampler.schedule(_times(0.2, 0.5))
        samples = sampler.finish()
        sampler.stop()
        assert [s.label for s in samples] == ["down", "up"] and all(s.ok for s in samples)
        assert all(len(s.clients) == 3 for s in samples)
        assert samples[0].at_s >= 0.2 and samples[1].at_s >= 0.5
        assert sampler.identity["product"] == "UniFi Network"
    with SnmpWirelessSim(vendor="h3c", clients=4) as sim:
        sampler = ctl.ControllerSampler(_plan("snmp-wireless", sim.address, None,
                                              vendor="h3c")).start()
        sampler.schedule(_times(0.1, 0.2))
        samples = sampler.finish()
        sampler.stop()
        assert [len(s.clients) for s in samples] == [4, 4]
        assert sampler.identity["vendor"]


def test_sampler_reports_unreachable_and_slow_controllers_within_bounds() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        sampler = ctl.ControllerSampler(_plan("unifi", f"127.0.0.1:{port}", "pw",
                                              verify_tls=False)).start()
        sampler.schedule(_times(0.1, 0.2))
        samples = sampler.finish()
        sampler.stop()
    assert sampler.precheck_error is not None
    assert all(not s.ok and "refused" in s.error_en for s in samples)
    plan = _plan("unifi", "x", "pw", 0.2, verify_tls=False)
    reason_en, reason_zh = ctl.unreadable_reason(plan, samples)
    assert 'driver = "none"' in reason_en and "driver" in reason_zh
    with UnifiSim(password="pw", reply_delay_s=3.0) as sim:
        started = time.monotonic()
        sampler = ctl.ControllerSampler(_plan("unifi", sim.address, "pw", 0.2,
                                              verify_tls=False)).start()
        sampler.schedule(_times(0.1, 0.2))
        samples = sampler.finish()
        sampler.stop()
        assert all(not s.ok for s in samples)
        assert time.monotonic() - started < 5.0
