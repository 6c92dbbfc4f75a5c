"""Wi-Fi controller cross-check of the crowd test: pure matching, and whole campaigns (agree /
undercount / unreachable). The controllers themselves: test_wifi_controller_steps.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classcert.crowd import CrowdResult, DeviceResult, DeviceTransfer, Window
from classcert.device_drivers.wifi_controller import WirelessClient
from classcert.wifi_crosscheck import (
    BY_COUNT,
    BY_IP,
    ControllerSample,
    RoomScope,
    cross_check,
    details,
    normalise_ip,
    to_json,
    with_controller_bands,
)

from helpers import REPO, rig_text

SSID = "Class"
WIN = 4.0
DOWN, UP = Window(0.0, WIN), Window(WIN + 1, 2 * WIN + 1)


# ------------------------------------------------------------------ building blocks

def _device(i: int, ip: str, completed: bool = True, band: str | None = None) -> DeviceResult:
    down = DeviceTransfer(2_000_000, 4.0, DOWN, "client")
    up = DeviceTransfer(2_000_000, 4.0, UP if completed else Window(UP.start, UP.start + 0.5),
                        "server")
    return DeviceResult(device=f"d{i:07d}", os_family="iOS", os_version="17", band=band,
                        load_generator="emulated", client=ip, joined_at="t", down=down, up=up)


def _result(devices: list[DeviceResult]) -> CrowdResult:
    return CrowdResult(room="R1", target=len(devices), rate_mbps=4.2, window_s=WIN,
                       down_window=DOWN, up_window=UP, devices=tuple(devices))


def _client(ip: str | None, ssid: str = SSID, ap: str | None = "AP-1", i: int = 0,
            band: str | None = "5") -> WirelessClient:
    return WirelessClient(mac=f"02:00:00:00:{i >> 8:02x}:{i & 0xFF:02x}", ip=ip,
                          hostname=None, ap_mac=None, ap_name=ap, ssid=ssid, band=band,
                          rssi_dbm=-50, tx_rate_mbps=433.0, rx_rate_mbps=300.0, os_hint=None)


def _samples(*client_lists: list[WirelessClient]) -> list[ControllerSample]:
    labels = ("down", "up")
    return [ControllerSample(labels[i % 2], 2.0 + 5 * i, tuple(c))
            for i, c in enumerate(client_lists)]


# ------------------------------------------------------------------ pure matching

@settings(max_examples=150, deadline=None)
@given(st.data())
def test_ip_matching_counts_exactly_the_listed_completed_devices(data) -> None:
    n = data.draw(st.integers(0, 30), label="devices")
    done = data.draw(st.lists(st.booleans(), min_size=n, max_size=n), label="completed")
    listed = [data.draw(st.sets(st.integers(0, max(0, n - 1)), max_size=n), label=f"listed{k}")
              for k in range(2)]
    guests = data.draw(st.sets(st.integers(0, max(0, n - 1)), max_size=n), label="elsewhere")
    foreign = data.draw(st.integers(0, 5), label="foreign")
    devices = [_device(i, f"10.0.{i // 200}.{i % 200 + 1}", done[i]) for i in range(n)]
    result = _result(devices)
    lists = []
    for k in range(2):
        room = [_client(devices[i].client, i=i) for i in sorted(listed[k]) if n]
        other = [_client(devices[i].client, ssid="Guest", i=100 + i) for i in sorted(guests)
                 if n and i not in listed[k]]
        other += [_client(f"172.16.0.{j + 1}", ssid="Guest", i=300 + j) for j in range(foreign)]
        lists.append(data.draw(st.permutations(room + other), label=f"order{k}"))
    check = cross_check(result, _samples(*lists), RoomScope(SSID))
    both = listed[0] & listed[1] if n else set()
    expected = {i for i in both if done[i]}
    assert check.confirmed == len(expected)
    assert check.confirmed <= result.capacity
    assert check.method == BY_IP
    completed_ids = {d.device for d in result.completed_devices}
    named = {devices[i].device for i in range(n) if i in listed[0] and i in listed[1]}
    assert set(check.unlisted) == completed_ids - named
    assert check.agrees == (not check.unlisted and all(len(s) == n for s in listed)
                            and not check.elsewhere and len(expected) == result.capacity)
    json.dumps(to_json(check, {"driver": "unifi"}))  # evidence is plain JSON


@settings(max_examples=100, deadline=None)
@given(completed=st.integers(0, 40), joined_extra=st.integers(0, 5),
       room_counts=st.lists(st.integers(0, 50), min_size=1, max_size=2),
       foreign=st.integers(0, 6))
def test_count_fallback_when_the_controller_gives_no_ip(completed, joined_extra, room_counts,
                                                         foreign) -> None:
    devices = [_device(i, f"10.1.0.{i + 1}", i < completed)
               for i in range(completed + joined_extra)]
    lists = [[_client(None, i=j) for j in range(k)]
             + [_client(None, ssid="Guest", i=500 + j) for j in range(foreign)]
             for k in room_counts]
    check = cross_check(_result(devices), _samples(*lists), RoomScope(SSID))
    assert check.confirmed == min(completed, *room_counts)
    if any(room_counts):  # a controller that lists nobody in the room matches nothing at all
        assert check.method == BY_COUNT
        en, zh = details(check, "omada")
        assert "matched by count only" in en and "仅按数量匹配" in zh
    assert check.agrees == (all(k == len(devices) for k in room_counts)
                            and min(completed, *room_counts) == completed)


@settings(max_examples=80, deadline=None)
@given(behind=st.integers(1, 30), listed=st.integers(0, 35), done=st.integers(0, 30))
def test_shared_address_is_matched_per_address_by_count(behind, listed, done) -> None:
    """Devices behind one NAT address (or one test computer) are matched by count."""
    done = min(done, behind)
    devices = [_device(i, "192.168.5.1", i < done) for i in range(behind)]
    lists = [[_client("192.168.5.1", i=j) for j in range(listed)]] * 2
    check = cross_check(_result(devices), _samples(*lists), RoomScope(SSID))
    assert check.confirmed == min(done, listed)
    if behind > 1:
        assert any("several crowd devices" in n for n, _ in check.notes)


def test_a_failed_sample_leaves_capacity_unmeasurable() -> None:
    devices = [_device(i, f"10.0.0.{i + 1}") for i in range(3)]
    good = ControllerSample("down", 2.0, tuple(_client(d.client, i=i)
                                                for i, d in enumerate(devices)))
    bad = ControllerSample("up", 7.0, error_en="no reply within 5 s", error_zh="5 秒内无应答")
    check = cross_check(_result(devices), [good, bad], RoomScope(SSID))
    assert not check.measurable and check.confirmed is None and not check.agrees
    doc = to_json(check, {"driver": "unifi"})
    assert [s["sample"] for s in doc["samples"]] == ["down", "up"]
    assert doc["samples"][1]["error"] == "no reply within 5 s"


def test_disagreements_are_named_in_both_languages() -> None:
    devices = [_device(i, f"10.0.0.{i + 1}") for i in range(5)]
    room = [_client(d.client, i=i) for i, d in enumerate(devices[:3])]
    other = [_client(devices[3].client, ssid="Guest", i=50)]
    check = cross_check(_result(devices), _samples(room + other, room + other),
                        RoomScope(SSID, ("AP-1",)))
    assert check.confirmed == 3 and not check.agrees
    assert set(check.unlisted) == {devices[3].device, devices[4].device}
    assert check.elsewhere == (devices[3].device,)
    assert check.count_gaps == (("down", 3), ("up", 3))
    en, zh = details(check, "unifi")
    assert "DISAGREEMENT" in en and "不一致" in zh
    assert devices[4].device in en and devices[4].device in zh
    assert "another SSID/AP" in en and "其他 SSID/AP" in zh


def test_ap_filter_without_ap_information_is_noted_not_applied() -> None:
    devices = [_device(i, f"10.0.0.{i + 1}") for i in range(2)]
    clients = [_client(d.client, ap=None, i=i) for i, d in enumerate(devices)]
    check = cross_check(_result(devices), _samples(clients, clients),
                        RoomScope(SSID, ("AP-9",)))
    assert check.confirmed == 2
    assert any("aps option" in n for n, _ in check.notes)


def test_bands_are_filled_from_the_controller_only_where_unknown() -> None:
    devices = [_device(0, "10.0.0.1"), _device(1, "10.0.0.2", band="2.4")]
    clients = [_client("10.0.0.1", i=0, band="6"), _client("10.0.0.2", i=1, band="5")]
    check = cross_check(_result(devices), _samples(clients, clients), RoomScope(SSID))
    filled = with_controller_bands(_result(devices), check)
    assert [d.band for d in filled.devices] == ["6", "2.4"]
    assert filled.bands == {"2.4": 1, "6": 1} and check.bands() == {"5": 1, "6": 1}


@given(st.ip_addresses(v=4))
def test_ipv4_mapped_addresses_compare_equal(ip) -> None:
    assert normalise_ip(f"::ffff:{ip}") == normalise_ip(str(ip)) == str(ip)
    assert normalise_ip(f" {ip} ") == str(ip)


@given(st.text(max_size=20))
def test_normalise_ip_never_raises(text) -> None:
    out = normalise_ip(text)
    assert out is None or normalise_ip(out) == out


# ------------------------------------------------------------------ whole campaigns

def _wifi_room(room_id: str, driver: str, simulator: str, options: str = "",
               password_env: str = "", devices: int = 4) -> str:
    """A room of 3 seats: the target is 4 devices. 3 s windows: an emulated device whose
    first uplink chunk comes late on a busy machine still covers 90 % of the window."""
    pw = f'password_env = "{password_env}"' if password_env else ""
    opts = (f'crowd_window_s = 3.0, crowd_lead_s = 1.0, crowd_rate_mbps = 4.6, ssid = "{SSID}", '
            f"timeout_s = 2, verify_tls = false{options}")
    return f"""
        [[rooms]]
        id = "{room_id}"
        name = "Room {room_id}"
        seats = 3
        claims = ["smart"]

        [[rooms.devices]]
        role = "wifi"
        driver = "{driver}"
        address = "127.0.0.1:0"
        {pw}
        options = {{ {opts} }}
        simulator = {{ {simulator}, crowd = {{ devices = {devices}, poll_s = 0.1 }} }}
    """


CAMPAIGNS = {
    "AGREE": _wifi_room("AGREE", "unifi", f'kind = "unifi", ssid = "{SSID}", aps = ["AP-1"], '
                        'foreign = 2', ', aps = ["AP-1"]', "T_XC_UNIFI_PW"),
    "UNDER": _wifi_room("UNDER", "omada", f'kind = "omada", ssid = "{SSID}", report_only = 2',
                        ', client_id = "classcert"', "T_XC_OMADA_SECRET"),
    "DOWN": _wifi_room("DOWN", "unifi", 'kind = "refuse"', "", "T_XC_DOWN_PW"),
}


def _entries(out: Path, room_id: str) -> dict[str, dict]:
    cert = json.loads((out / "rooms" / room_id / "certificate.json").read_text("utf-8"))
    return {e["key"]: e for e in cert["requirements"] if e["key"].startswith("wifi.")}


@pytest.fixture(scope="module")
def campaigns(tmp_path_factory) -> tuple[dict[str, dict[str, dict]], Path]:
    """The three rooms, each its own campaign, run side by side (they are independent)."""
    base = tmp_path_factory.mktemp("xc")
    procs = {}
    for room_id, text in CAMPAIGNS.items():
        rig = base / f"{room_id}.toml"
        rig.write_text(rig_text(text), "utf-8")
        procs[room_id] = subprocess.Popen(
            [sys.executable, "-m", "pytest", str(REPO / "test_suites" / "test_wifi_crowd.py"),
             "--rig", str(rig), "--out", str(base / room_id), "--no-prompt",
             "-p", "no:cacheprovider", "-q"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
    found, outputs = {}, {}
    try:
        for room_id, proc in procs.items():
            outputs[room_id], _ = proc.communicate(timeout=120)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for room_id in procs:
        path = base / room_id / "rooms" / room_id / "certificate.json"
        assert path.exists(), outputs[room_id]
        found[room_id] = _entries(base / room_id, room_id)
    return found, base


def _evidence(campaigns, room_id: str, name: str) -> dict:
    (path,) = (campaigns[1] / room_id / "evidence" / room_id).glob(f"*{name}")
    return json.loads(path.read_text("utf-8"))


def test_campaign_controller_agrees(campaigns) -> None:
    cap, per = campaigns[0]["AGREE"]["wifi.capacity"], campaigns[0]["AGREE"]["wifi.per_client"]
    crowd = _evidence(campaigns, "AGREE", "wifi-crowd.json")
    assert cap["verdict"] == "PASS", cap["reason"]["en"]
    assert cap["value"] == crowd["completed_both_directions"] >= 4  # all confirmed
    assert "agrees with the crowd test" in cap["reason"]["en"]
    assert "2 clients on other SSIDs/APs left out" in cap["reason"]["en"]
    assert "控制器与并发测试结果一致" in cap["reason"]["zh"]
    assert any(e["path"].endswith("wifi-controller.json") for e in cap["evidence"])
    assert per["verdict"] in ("PASS", "FAIL") and per["value"] is not None
    doc = _evidence(campaigns, "AGREE", "wifi-controller.json")
    assert [s["sample"] for s in doc["samples"]] == ["down", "up"]
    assert doc["method"] == BY_IP and doc["confirmed"] == cap["value"]
    client = next(c for c in doc["samples"][0]["clients"] if c["in_room"])
    assert {"ap_name", "ssid", "band", "tx_rate_mbps", "rx_rate_mbps", "rssi_dbm"} <= set(client)
    assert crowd["bands"] == {"5": 4}  # filled from the controller


def test_campaign_controller_undercounts(campaigns) -> None:
    cap = campaigns[0]["UNDER"]["wifi.capacity"]
    assert cap["verdict"] == "FAIL", cap["reason"]["en"]
    assert cap["value"] <= 2  # the controller lists only 2 of the 4 devices
    assert "not listed by the controller" in cap["reason"]["en"]
    assert "未被控制器列出" in cap["reason"]["zh"]
    assert "4 devices joined" in cap["reason"]["en"] and "DISAGREEMENT" in cap["reason"]["en"]


def test_campaign_controller_unreachable(campaigns) -> None:
    cap, per = campaigns[0]["DOWN"]["wifi.capacity"], campaigns[0]["DOWN"]["wifi.per_client"]
    assert cap["verdict"] == "ERROR"
    assert "could not be read" in cap["reason"]["en"] and 'driver = "none"' in cap["reason"]["en"]
    assert "无法读取无线控制器" in cap["reason"]["zh"]
    assert per["verdict"] in ("PASS", "FAIL") and per["value"] is not None
