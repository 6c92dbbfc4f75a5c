"""An independent client, aiounifi (the library Home Assistant uses), against our UniFi sim.

aiounifi probes ``GET /`` for UniFi OS, logs in, keeps the CSRF header and reads
``stat/sta``, ``stat/device``, ``self/sites`` and ``stat/sysinfo`` over HTTPS.
"""

from __future__ import annotations

import asyncio

import pytest

from classcert.device_drivers.unifi import open_unifi
from classcert.rigs.simulators.unifi_sim import UnifiSim

aiounifi = pytest.importorskip("aiounifi", reason="install the test extra: pip install aiounifi")
aiohttp = pytest.importorskip("aiohttp")

from aiounifi.controller import Controller  # noqa: E402
from aiounifi.errors import Unauthorized  # noqa: E402
from aiounifi.models.configuration import Configuration  # noqa: E402

PW = "classroom-pw"


async def _read_all(sim: UnifiSim, password: str = PW) -> Controller:
    # unsafe=True: aiohttp refuses cookies from bare IP hosts otherwise
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        host, port = sim.address.rsplit(":", 1)
        ctl = Controller(Configuration(session, host, username="admin", password=password,
                                       port=int(port), site="default", ssl_context=False))
        await asyncio.wait_for(ctl.login(), 10)
        for update in (ctl.clients.update, ctl.devices.update, ctl.sites.update,
                       ctl.system_information.update):
            await asyncio.wait_for(update(), 10)
        return ctl


@pytest.mark.parametrize("unifi_os", [False, True])
def test_aiounifi_reads_the_same_population_as_our_driver(unifi_os: bool) -> None:
    with UnifiSim(password=PW, unifi_os=unifi_os, clients=12, aps=3, require_csrf=True,
                  ssid="Class-B2", report_only=11) as sim:
        ctl = asyncio.run(_read_all(sim))
        assert ctl.connectivity.is_unifi_os is unifi_os
        macs = {c.mac for c in ctl.clients.values()}
        assert len(macs) == 11
        assert {c.essid for c in ctl.clients.values()} == {"Class-B2"}
        assert {d.name for d in ctl.devices.values()} == {"AP-1", "AP-2", "AP-3"}
        assert "default" in {s.name for s in ctl.sites.values()}
        with open_unifi(sim.address, PW, 2.0, {"verify_tls": False}) as ours:
            mine = ours.clients()
            assert {c.mac for c in mine} == macs
            by_mac = {c.mac: c for c in ctl.clients.values()}
            for c in mine:
                theirs = by_mac[c.mac]
                assert c.ap_mac == theirs.access_point_mac
                assert c.ip == theirs.ip and c.hostname == theirs.hostname
        prefix = "/proxy/network" if unifi_os else ""
        assert ("POST", "/api/auth/login" if unifi_os else "/api/login") in sim.requests
        assert ("GET", f"{prefix}/api/s/default/stat/device") in sim.requests


def test_aiounifi_sees_a_rejected_login() -> None:
    with UnifiSim(password=PW) as sim, pytest.raises(Unauthorized):
        asyncio.run(_read_all(sim, password="nope"))
