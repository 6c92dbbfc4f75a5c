"""Omada Open API driver against the Omada simulator, plus its parsers."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classcert.device_drivers.errors import (
    DeviceAuthError,
    DeviceCommandError,
    DeviceDisconnected,
    DeviceProtocolError,
    DeviceTimeout,
    DeviceUnreachable,
)
from classcert.device_drivers.omada import (
    OmadaController,
    open_omada,
    parse_omada_ap,
    parse_omada_client,
)
from classcert.device_drivers.wifi_controller import WifiController, normalise_mac
from classcert.rigs.simulators.omada_sim import OmadaSim

SECRET = "omada-s3cret"


def _driver(sim: OmadaSim, timeout: float = 2.0, **kw) -> OmadaController:
    return open_omada(sim.address, SECRET, timeout,
                      {"client_id": "classcert", "verify_tls": False, **kw})


@pytest.fixture(autouse=True)
def _no_leaks():
    before = set(threading.enumerate())
    yield
    for t in set(threading.enumerate()) - before:
        t.join(timeout=2)
    left = [t.name for t in set(threading.enumerate()) - before if t.is_alive()]
    assert not left, f"threads left running: {left}"


def test_clients_aps_and_identity() -> None:
    with OmadaSim(password=SECRET, clients=9, aps=["B201-1", "B201-2", "B201-3"],
                  ssid="Class-B201", band="6", tx_rate_mbps=2401.0, rx_rate_mbps=1200.5) as sim:
        with _driver(sim) as drv:
            assert isinstance(drv, WifiController)
            found = drv.clients()
            assert len(found) == 9
            c = found[0]
            assert c.mac == "02:c1:00:00:00:01" and c.ap_mac == "02:a0:00:00:00:01"
            assert c.band == "6" and c.ssid == "Class-B201" and c.ap_name == "B201-1"
            assert c.tx_rate_mbps == 2401.0 and c.rx_rate_mbps == 1200.5
            aps = drv.access_points()
            assert [a.name for a in aps] == ["B201-1", "B201-2", "B201-3"]  # switch left out
            assert [a.clients for a in aps] == [3, 3, 3]
            ident = drv.identity()
            assert ident["omadac_id"] == sim.omadac_id and ident["version"] == sim.version
            assert ident["site_id"] == sim.site_id
        assert sim.grants == ["client_credentials"]


@settings(max_examples=5, deadline=None)
@given(n=st.integers(0, 60), page=st.integers(1, 25), k=st.integers(0, 70))
def test_pagination_reads_everything_reported(n: int, page: int, k: int) -> None:
    with OmadaSim(password=SECRET, clients=n, max_page_size=page, report_only=k) as sim:
        with _driver(sim, page_size=100) as drv:
            macs = [c.mac for c in drv.clients()]
            assert len(macs) == min(n, k) and len(set(macs)) == len(macs)
        pages = [p for m, p in sim.requests if "/clients" in p]
        assert len(pages) == max(1, -(-min(n, k) // page))


def test_filters_and_site_by_name() -> None:
    people = [{"ssid": "Class"}, {"ssid": "Staff"}, {"ssid": "Class", "ap": "AP-2"}]
    with OmadaSim(password=SECRET, clients=people, site="North Campus") as sim:
        with _driver(sim, site="north campus") as drv:
            assert len(drv.clients(ssid="Class")) == 2
            assert [c.hostname for c in drv.clients(ssid="Class", ap_names=["AP-2"])] == [
                "student-003"]
        with pytest.raises(DeviceCommandError, match="North Campus"):
            _driver(sim, site="South").connect()


def test_expired_token_is_refreshed_then_reauthorised() -> None:
    with OmadaSim(password=SECRET, clients=4) as sim, _driver(sim) as drv:
        assert len(drv.clients()) == 4
        sim.expire_tokens()
        assert len(drv.clients()) == 4
        assert sim.grants == ["client_credentials", "refresh_token"]
        sim.expire_tokens()
        with sim.lock:
            sim.refresh.clear()  # refresh token no longer valid either
        assert len(drv.access_points()) == 2
        assert sim.grants[-1] == "client_credentials"


def test_wrong_secret_and_missing_secret() -> None:
    with OmadaSim(password=SECRET) as sim:
        bad = open_omada(sim.address, "nope", 2.0, {"client_id": "classcert",
                                                    "verify_tls": False})
        with pytest.raises(DeviceAuthError, match="client_id"):
            bad.connect()
        bad.close()
        with pytest.raises(DeviceAuthError, match="password_env"):
            open_omada(sim.address, None, 2.0, {"client_id": "classcert",
                                                "verify_tls": False}).connect()
        with pytest.raises(DeviceAuthError):
            _driver(sim, omadac_id="0" * 32).connect()


def test_faults() -> None:
    with OmadaSim(password=SECRET, garbage=True) as sim, pytest.raises(DeviceProtocolError):
        _driver(sim).connect()
    with OmadaSim(password=SECRET, drop_after=3) as sim, pytest.raises(DeviceDisconnected):
        _driver(sim).clients()
    with OmadaSim(password=SECRET, reply_delay_s=1.5) as sim, pytest.raises(DeviceTimeout):
        _driver(sim, timeout=0.3).connect()
    with OmadaSim(password=SECRET) as sim, pytest.raises(DeviceUnreachable, match="verify_tls"):
        open_omada(sim.address, SECRET, 2.0, {"client_id": "classcert"}).connect()


def test_trusted_ca_and_plain_http() -> None:
    with OmadaSim(password=SECRET, clients=2) as sim:
        assert sim.cert_path is not None
        with _driver(sim, verify_tls=sim.cert_path) as drv:
            assert len(drv.clients()) == 2
    with OmadaSim(password=SECRET, clients=3, tls=False) as sim:
        with OmadaController(sim.url, SECRET, 2.0, client_id="classcert") as drv:
            assert len(drv.clients()) == 3


def test_factory_validates_options() -> None:
    with pytest.raises(ValueError, match="client_id"):
        open_omada("127.0.0.1:8043", SECRET, 1.0, {})
    with pytest.raises(ValueError, match="page_size"):
        open_omada("127.0.0.1:8043", SECRET, 1.0, {"client_id": "x", "page_size": "10"})
    with pytest.raises(ValueError, match="site"):
        open_omada("127.0.0.1:8043", SECRET, 1.0, {"client_id": "x", "site": 3})


_row = st.dictionaries(
    st.sampled_from(["mac", "ip", "hostName", "name", "ssid", "apName", "apMac", "radioId",
                     "channel", "rssi", "txRate", "rxRate", "wireless", "osName"]),
    st.one_of(st.none(), st.booleans(), st.integers(-200, 3_000_000), st.text(max_size=20),
              st.floats(allow_nan=True)), max_size=14)


@given(_row)
def test_client_parser_total(row: dict) -> None:
    try:
        c = parse_omada_client(row)
    except ValueError:
        return
    if c is None:
        assert row.get("wireless") is False
        return
    assert c.mac == normalise_mac(row["mac"])
    assert c.band in (None, "2.4", "5", "6")
    assert c.rssi_dbm is None or -120 <= c.rssi_dbm <= 0


@given(st.sampled_from([0, 1, 2, 3]), st.integers(1, 233))
def test_radio_id_wins_over_channel(radio: int, channel: int) -> None:
    c = parse_omada_client({"mac": "AA-BB-CC-DD-EE-FF", "radioId": radio, "channel": channel})
    assert c is not None and c.band == {0: "2.4", 1: "5", 2: "5", 3: "6"}[radio]


@given(st.dictionaries(st.sampled_from(["type", "mac", "name", "model", "clientNum"]),
                       st.one_of(st.none(), st.integers(-3, 99), st.text(max_size=12),
                                 st.sampled_from(["ap", "AP", "switch"])), max_size=5))
def test_ap_parser_total(row: dict) -> None:
    try:
        ap = parse_omada_ap(row)
    except ValueError:
        assert str(row.get("type", "")).lower() == "ap"
        return
    assert ap is None or ap.clients >= 0
