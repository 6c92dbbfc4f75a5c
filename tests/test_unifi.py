"""UniFi Network driver against the UniFi simulator (classic and UniFi OS), plus parsers."""

from __future__ import annotations

import socket
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
from classcert.device_drivers.unifi import (
    MODE_CLASSIC,
    MODE_UNIFI_OS,
    UnifiController,
    open_unifi,
    parse_unifi_ap,
    parse_unifi_client,
)
from classcert.device_drivers.wifi_controller import (
    WifiController,
    band_from_channel,
    band_from_radio,
    controller_base_url,
    normalise_mac,
    rate_mbps,
)
from classcert.rigs.simulators.unifi_sim import UnifiSim

PW = "s3cret"


def _driver(sim: UnifiSim, **kw) -> UnifiController:
    opts = {"verify_tls": False, **kw}
    return open_unifi(sim.address, PW, 2.0, opts)


@pytest.fixture(autouse=True)
def _no_leaks():
    before = set(threading.enumerate())
    yield
    for t in set(threading.enumerate()) - before:
        t.join(timeout=2)
    left = [t.name for t in set(threading.enumerate()) - before if t.is_alive()]
    assert not left, f"threads left running: {left}"


@pytest.mark.parametrize("unifi_os", [False, True])
def test_clients_and_aps_both_generations(unifi_os: bool) -> None:
    with UnifiSim(password=PW, unifi_os=unifi_os, clients=7, aps=["A101-front", "A101-back"],
                  ssid="Class-A101", band="5", tx_rate_mbps=1201.0, rx_rate_mbps=864.5,
                  require_csrf=True) as sim:
        drv = _driver(sim)
        try:
            assert isinstance(drv, WifiController)
            found = drv.clients()
            assert drv.mode == (MODE_UNIFI_OS if unifi_os else MODE_CLASSIC)
            assert len(found) == 7
            first = found[0]
            assert first.mac == "02:c1:00:00:00:01" and first.ssid == "Class-A101"
            assert first.band == "5" and first.tx_rate_mbps == 1201.0
            assert first.rx_rate_mbps == 864.5 and first.ap_name == "A101-front"
            assert first.rssi_dbm is not None and -120 <= first.rssi_dbm <= 0
            aps = drv.access_points()
            assert [a.name for a in aps] == ["A101-front", "A101-back"]
            assert sum(a.clients for a in aps) == 7 and aps[0].clients == 4
            ident = drv.identity()
            assert ident["mode"] == drv.mode and ident["version"] == sim.version
        finally:
            drv.close()
        prefix = "/proxy/network" if unifi_os else ""
        assert ("GET", f"{prefix}/api/s/default/stat/sta") in sim.requests


def test_filters_by_ssid_and_ap() -> None:
    people = [{"ssid": "Class"}, {"ssid": "Guest"}, {"ssid": "Class", "ap": "AP-2"},
              {"ssid": "Class", "ap": "AP-2", "band": "2.4"}]
    with UnifiSim(password=PW, clients=people, aps=2) as sim, _driver(sim) as drv:
        assert len(drv.clients()) == 4
        assert len(drv.clients(ssid="Class")) == 3
        on_two = drv.clients(ssid="Class", ap_names=["ap-2"])
        assert len(on_two) == 2 and {c.band for c in on_two} == {"5", "2.4"}
        by_mac = drv.clients(ap_names=["02-A0-00-00-00-01"])
        assert {c.ap_name for c in by_mac} == {"AP-1"} and len(by_mac) == 1


def test_report_only_makes_controller_undercount() -> None:
    with UnifiSim(password=PW, clients=30, report_only=25, unifi_os=True) as sim:
        with _driver(sim) as drv:
            assert len(sim.population.clients) == 30
            assert len(drv.clients()) == 25
            assert sum(ap.clients for ap in drv.access_points()) == 25


def test_session_expiry_relogs_once() -> None:
    with UnifiSim(password=PW, clients=3) as sim, _driver(sim) as drv:
        assert len(drv.clients()) == 3
        sim.expire_sessions()
        assert len(drv.clients()) == 3
        assert sim.logins == 2


@pytest.mark.parametrize("unifi_os", [False, True])
def test_wrong_password_is_auth_error(unifi_os: bool) -> None:
    with UnifiSim(password=PW, unifi_os=unifi_os) as sim:
        drv = open_unifi(sim.address, "wrong", 2.0, {"verify_tls": False})
        with pytest.raises(DeviceAuthError, match="rejected"):
            drv.clients()
        drv.close()
        with pytest.raises(DeviceAuthError, match="password_env"):
            open_unifi(sim.address, None, 2.0, {"verify_tls": False}).connect()


def test_bad_password_knob_rejects_everything() -> None:
    with UnifiSim(password=PW, bad_password=True) as sim, pytest.raises(DeviceAuthError):
        _driver(sim).connect()


def test_tls_self_signed_needs_opt_in() -> None:
    with UnifiSim(password=PW, clients=2) as sim:
        strict = open_unifi(sim.address, PW, 2.0, {})
        with pytest.raises(DeviceUnreachable, match="verify_tls"):
            strict.connect()
        strict.close()
        assert sim.cert_path is not None
        with open_unifi(sim.address, PW, 2.0, {"verify_tls": sim.cert_path}) as trusted:
            assert len(trusted.clients()) == 2


def test_plain_http_address() -> None:
    with UnifiSim(password=PW, clients=4, tls=False, unifi_os=True) as sim:
        with UnifiController(f"http://{sim.address}", PW, 2.0) as drv:
            assert len(drv.clients()) == 4


def test_unknown_site_names_the_option() -> None:
    with UnifiSim(password=PW) as sim, _driver(sim, site="room-a") as drv:
        with pytest.raises(DeviceCommandError, match="site"):
            drv.clients()


def test_garbage_reply_is_protocol_error() -> None:
    with UnifiSim(password=PW, garbage=True) as sim, pytest.raises(DeviceProtocolError):
        _driver(sim).clients()


def test_dropped_connection_and_slow_reply() -> None:
    with UnifiSim(password=PW, drop_after=2) as sim, pytest.raises(DeviceDisconnected):
        _driver(sim).clients()
    with UnifiSim(password=PW, reply_delay_s=1.5) as sim:
        drv = open_unifi(sim.address, PW, 0.3, {"verify_tls": False})
        with pytest.raises(DeviceTimeout):
            drv.connect()
        drv.close()


def test_refused_port_is_unreachable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DeviceUnreachable, match="refused"):
        open_unifi(f"127.0.0.1:{port}", PW, 1.0, {"verify_tls": False}).connect()


def test_factory_validates_options() -> None:
    with pytest.raises(ValueError, match="verify_tls"):
        open_unifi("127.0.0.1:8443", PW, 1.0, {"verify_tls": 3})
    with pytest.raises(ValueError, match="site"):
        open_unifi("127.0.0.1:8443", PW, 1.0, {"site": ""})
    with pytest.raises(ValueError):
        controller_base_url("ftp://x:1")


@settings(max_examples=6, deadline=None)
@given(n=st.integers(0, 40), k=st.integers(0, 45), unifi_os=st.booleans())
def test_reported_count_matches_simulated_controller(n: int, k: int, unifi_os: bool) -> None:
    with UnifiSim(password=PW, clients=n, report_only=k, unifi_os=unifi_os, aps=3) as sim:
        with _driver(sim) as drv:
            assert len(drv.clients()) == min(n, k)


# -- parsers -------------------------------------------------------------------------------
_hex = st.text("0123456789abcdefABCDEF", min_size=12, max_size=12)


@given(_hex, st.sampled_from([":", "-", "", "."]))
def test_mac_normalisation(bare: str, sep: str) -> None:
    if sep == ".":
        text = ".".join(bare[i:i + 4] for i in range(0, 12, 4))
    else:
        text = sep.join(bare[i:i + 2] for i in range(0, 12, 2))
    mac = normalise_mac(text)
    assert mac == ":".join(bare.lower()[i:i + 2] for i in range(0, 12, 2))
    assert normalise_mac(mac.upper()) == mac


@given(st.text(max_size=20))
def test_mac_rejects_non_macs(text: str) -> None:
    stripped = "".join(ch for ch in text if ch not in ": .-\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85")
    try:
        mac = normalise_mac(text)
    except ValueError:
        return
    assert len(mac) == 17 and len(stripped) == 12


@given(st.integers(0, 10_000_000))
def test_rate_kbps_to_mbps(kbps: int) -> None:
    assert rate_mbps(kbps) == round(kbps / 1000, 3)
    assert rate_mbps(str(kbps)) == rate_mbps(kbps)
    assert rate_mbps(kbps / 1000, "mbps") == round(kbps / 1000, 3)


@given(st.one_of(st.none(), st.booleans(), st.text(max_size=8), st.floats(), st.integers()))
def test_rate_never_negative_or_nan(value: object) -> None:
    got = rate_mbps(value)
    assert got is None or got >= 0


@given(st.integers(-5, 300))
def test_band_from_channel(ch: int) -> None:
    band = band_from_channel(ch)
    assert band == ("2.4" if 1 <= ch <= 14 else "5" if 32 <= ch <= 177
                    else "6" if 181 <= ch <= 233 else None)
    assert band_from_radio("na", ch) == "5" and band_from_radio("ng", ch) == "2.4"
    assert band_from_radio("6e", ch) == "6" and band_from_radio(None, ch) == band


_row = st.dictionaries(
    st.sampled_from(["mac", "ip", "hostname", "essid", "ap_mac", "radio", "channel", "signal",
                     "rssi", "tx_rate", "rx_rate", "os_name", "oui", "name"]),
    st.one_of(st.none(), st.booleans(), st.integers(-200, 2_000_000), st.text(max_size=20),
              st.floats(allow_nan=True)), max_size=14)


@given(_row)
def test_client_parser_total(row: dict) -> None:
    try:
        c = parse_unifi_client(row)
    except ValueError:
        return
    assert c.mac == normalise_mac(row["mac"])
    assert c.band in (None, "2.4", "5", "6")
    assert c.tx_rate_mbps is None or c.tx_rate_mbps >= 0


@given(st.dictionaries(st.sampled_from(["type", "mac", "name", "model", "num_sta",
                                        "user-num_sta", "guest-num_sta"]),
                       st.one_of(st.none(), st.integers(-3, 99), st.text(max_size=12),
                                 st.just("uap")), max_size=7))
def test_ap_parser_total(row: dict) -> None:
    try:
        ap = parse_unifi_ap(row)
    except ValueError:
        assert row.get("type") == "uap"
        return
    assert ap is None or (ap.clients >= 0 and row.get("type") == "uap")


def test_sim_refuses_calls_without_csrf_token() -> None:
    import requests

    with UnifiSim(password=PW, require_csrf=True, unifi_os=True, tls=False) as sim:
        s = requests.Session()
        login = s.post(f"{sim.url}/api/auth/login", json={"username": "admin", "password": PW},
                       timeout=2)
        assert login.status_code == 200 and login.headers["X-CSRF-Token"]
        url = f"{sim.url}/proxy/network/api/s/default/stat/sta"
        assert s.get(url, timeout=2).status_code == 401
        ok = s.get(url, headers={"X-CSRF-Token": login.headers["X-CSRF-Token"]}, timeout=2)
        assert ok.status_code == 200
        s.close()
