"""SNMP codec, client, vendor maps and simulator; Debian net-snmp tools as independent peers."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classcert.device_drivers import snmp_codec as codec
from classcert.device_drivers import snmp_wireless as sw
from classcert.device_drivers.errors import DeviceTimeout
from classcert.device_drivers.snmp_client import SnmpClient, SnmpProtocolError
from classcert.rigs.simulators.snmp_wireless_sim import SnmpWirelessSim

VENDORS = ["cisco-aireos", "h3c", "huawei"]

# ---------------------------------------------------------------- codec

oid_st = st.tuples(st.integers(0, 2), st.integers(0, 39)).flatmap(
    lambda head: st.lists(st.integers(0, 2**32 - 1), max_size=20).map(lambda t: (*head, *t)))
value_st = st.one_of(
    st.tuples(st.just(codec.INTEGER), st.integers(-2**31, 2**31 - 1)),
    st.tuples(st.sampled_from([codec.COUNTER32, codec.GAUGE32, codec.TIMETICKS]),
              st.integers(0, 2**32 - 1)),
    st.tuples(st.just(codec.COUNTER64), st.integers(0, 2**64 - 1)),
    st.tuples(st.just(codec.OCTET_STRING), st.binary(max_size=300)),
    st.tuples(st.just(codec.IP_ADDRESS), st.binary(min_size=4, max_size=4)),
    st.tuples(st.just(codec.OID), oid_st),
    st.tuples(st.sampled_from([codec.NULL, codec.NO_SUCH_OBJECT, codec.END_OF_MIB_VIEW]),
              st.none()))
varbind_st = st.builds(lambda oid, tv: codec.VarBind(oid, *tv), oid_st, value_st)
message_st = st.builds(
    lambda version, community, tag, rid, es, ei, vbs: codec.Message(
        version, community, codec.Pdu(tag, rid, es, ei, tuple(vbs))),
    st.sampled_from([0, 1]), st.binary(max_size=40), st.sampled_from(sorted(codec.PDU_TAGS)),
    st.integers(-2**31, 2**31 - 1), st.integers(0, 18), st.integers(0, 100),
    st.lists(varbind_st, max_size=12))


@settings(max_examples=300)
@given(st.integers(-2**63, 2**63 - 1))
def test_integer_round_trip(n):
    tag, content, end = codec.decode_tlv(codec.encode_integer(n))
    assert tag == codec.INTEGER and codec.decode_integer(content) == n
    assert len(content) == 1 or content[:2] not in (b"\x00\x00", b"\xff\xff")  # minimal


@settings(max_examples=300)
@given(oid_st)
def test_oid_round_trip(oid):
    _tag, content, _ = codec.decode_tlv(codec.encode_oid(oid))
    assert codec.decode_oid(content) == oid
    assert codec.parse_oid("." + codec.format_oid(oid)) == oid


@settings(max_examples=150)
@given(message_st)
def test_message_round_trip(msg):
    assert codec.decode_message(codec.encode_message(msg)) == msg


@settings(max_examples=150)
@given(message_st, st.data())
def test_truncated_or_mangled_messages_raise_decode_error(msg, data):
    wire = codec.encode_message(msg)
    cut = data.draw(st.integers(0, len(wire) - 1))
    with pytest.raises(codec.SnmpDecodeError):
        codec.decode_message(wire[:cut])
    with pytest.raises(codec.SnmpDecodeError):
        codec.decode_message(wire + b"\x00")


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_random_bytes_decode_or_raise_value_error(blob):
    try:
        codec.decode_message(blob)
    except codec.SnmpDecodeError:
        pass


def test_known_get_request_bytes():
    # GetRequest v2c "public" for sysDescr.0 (1.3.6.1.2.1.1.1.0), request-id 0x1234.
    expected = bytes.fromhex("302702010104067075626c6963a01a02021234020100020100"
                             "300e300c06082b060102010101000500")
    msg = codec.Message(1, b"public", codec.Pdu(codec.GET, 0x1234, 0, 0, (
        codec.VarBind((1, 3, 6, 1, 2, 1, 1, 1, 0)),)))
    assert codec.encode_message(msg) == expected
    assert codec.decode_message(expected) == msg
    assert codec.encode_integer(128) == b"\x02\x02\x00\x80"
    assert codec.encode_integer(2**32 - 1, codec.COUNTER32) == bytes.fromhex("410500ffffffff")


# ---------------------------------------------------------------- maps, client, simulator

@pytest.mark.parametrize("vendor", VENDORS)
def test_vendor_maps_load(vendor):
    vmap = sw.load_vendor_map(vendor)
    assert vmap.index == "mac" and vmap.columns
    assert {c.field for c in vmap.columns} >= {"ssid", "rssi_dbm", "ip"}
    assert vendor in sw.available_vendors()


def test_bad_vendor_maps_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown wireless controller vendor"):
        sw.load_vendor_map("nosuchvendor")
    bad = tmp_path / "bad.toml"
    bad.write_text('vendor="x"\nmib="M"\ntable="T"\n[columns.colour]\noid="1.3.6"\ntype="int"\n')
    with pytest.raises(ValueError, match="unknown column 'colour'"):
        sw.load_vendor_map(str(bad))
    with pytest.raises(ValueError, match="options.vendor"):
        sw.open_snmp_wireless("127.0.0.1:161", None, 1.0, {})
    with pytest.raises(ValueError, match="SNMPv3"):
        sw.open_snmp_wireless("127.0.0.1:161", None, 1.0, {"vendor": "h3c", "version": "3"})


def _expected(sim: SnmpWirelessSim) -> list[dict]:
    fields = {c.field for c in sim.vendor_map.columns} | {"mac"}
    return [{f: row[f] for f in fields} for _i, row in sorted(sim.rows.items())]


def _as_dicts(clients, vmap) -> list[dict]:
    fields = {c.field for c in vmap.columns} | {"mac"}
    return [{f: getattr(c, f) for f in fields} for c in clients]


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("version", ["2c", "1"])
def test_client_reads_simulated_controller(vendor, version):
    with SnmpWirelessSim(vendor=vendor, clients=37, password="s3cret") as sim:
        ctl = sw.open_snmp_wireless(sim.address, "s3cret", 1.0,
                                    {"vendor": vendor, "version": version})
        with ctl:
            clients = ctl.clients(time_budget_s=10)
    assert len(clients) == 37
    assert _as_dicts(clients, sim.vendor_map) == _expected(sim)
    assert {c.ssid for c in clients} == {"classcert-teach", "classcert-guest"}


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 60), st.sampled_from(VENDORS), st.integers(1, 30))
def test_client_matches_sim_for_any_table_size(n, vendor, reps):
    with SnmpWirelessSim(vendor=vendor, clients=n) as sim, SnmpClient(sim.address) as cli:
        ctl = sw.SnmpWirelessController(sim.address, sim.vendor_map)
        try:
            cells = {c.field: cli.walk(c.oid, max_repetitions=reps, time_budget_s=10)
                     for c in sim.vendor_map.columns}
        finally:
            ctl.close()
    got = sw.rows_to_clients(sim.vendor_map, cells)
    assert _as_dicts(got, sim.vendor_map) == _expected(sim)


def test_wrong_community_times_out_with_hint():
    with SnmpWirelessSim(vendor="h3c", clients=3, password="right") as sim:
        with SnmpClient(sim.address, "wrong", timeout=0.3, retries=1) as cli:
            t0 = time.monotonic()
            with pytest.raises(DeviceTimeout, match="community"):
                cli.get((1, 3, 6, 1, 2, 1, 1, 1, 0))
            assert time.monotonic() - t0 < 2.0
        assert sim.requests == 0


@pytest.mark.parametrize(("knobs", "error", "text"), [
    ({"report_only": True}, SnmpProtocolError, "REPORT"),
    ({"garbage": True}, SnmpProtocolError, "undecodable"),
    ({"reply_delay_s": 0.6}, DeviceTimeout, "no SNMP reply"),
])
def test_misbehaving_agents_raise_clear_errors(knobs, error, text):
    with SnmpWirelessSim(vendor="cisco-aireos", clients=3, **knobs) as sim:
        ctl = sw.open_snmp_wireless(sim.address, None, 0.3,
                                    {"vendor": "cisco-aireos", "retries": 0})
        with ctl, pytest.raises(error, match=text):
            ctl.clients(time_budget_s=5)


def test_slow_agent_within_timeout_is_read():
    with SnmpWirelessSim(vendor="huawei", clients=5, reply_delay_s=0.05) as sim:
        with sw.open_snmp_wireless(sim.address, None, 1.0, {"vendor": "huawei"}) as ctl:
            assert len(ctl.clients()) == 5


def test_get_of_missing_instance_and_get_next():
    with SnmpWirelessSim(vendor="huawei", clients=2) as sim, SnmpClient(sim.address) as cli:
        [missing] = cli.get((1, 3, 6, 1, 2, 1, 1, 1, 0))
        assert missing.tag == codec.NO_SUCH_INSTANCE
        ssid_col = next(c for c in sim.vendor_map.columns if c.field == "ssid")
        [first] = cli.get_next(ssid_col.oid)
        assert first.oid[:len(ssid_col.oid)] == ssid_col.oid and first.value == b"classcert-teach"


# ---------------------------------------------------------------- independent peers

NET_SNMP = shutil.which("snmpwalk")
needs_net_snmp = pytest.mark.skipif(
    NET_SNMP is None, reason="Debian package 'snmp' (snmpwalk/snmpget) not installed")


def _run(cmd: list[str]) -> str:
    env = {**os.environ, "MIBS": "", "MIBDIRS": "/nonexistent"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=20, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


@needs_net_snmp
@pytest.mark.parametrize("version", ["2c", "1"])
def test_net_snmp_walks_our_agent(version):
    with SnmpWirelessSim(vendor="cisco-aireos", clients=9, password="campus") as sim:
        ssid = next(c for c in sim.vendor_map.columns if c.field == "ssid")
        out = _run(["snmpwalk", f"-v{version}", "-c", "campus", "-On", "-Oq", "-t", "2",
                    sim.address, codec.format_oid(ssid.oid)])
        rssi = next(c for c in sim.vendor_map.columns if c.field == "rssi_dbm")
        mac, row = sorted(sim.rows.items())[4]
        got = _run(["snmpget", f"-v{version}", "-c", "campus", "-On", "-Oq", "-t", "2",
                    sim.address, codec.format_oid(rssi.oid + mac)])
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 9
    assert sum("classcert-teach" in ln for ln in lines) == 5
    assert got.split()[-1] == str(row["rssi_dbm"])


PASS_SCRIPT = '''
import sys
ROWS = {(2, 193, 165, 0, 0, i): ("teach" if i % 2 else "guest", -40 - i, i + 1)
        for i in range(1, 6)}
BASE = (1, 3, 6, 1, 4, 1, 14179, 2, 1)
CELLS = {}
for mac, (ssid, rssi, host) in ROWS.items():
    CELLS[BASE + (4, 1, 7) + mac] = ("string", ssid)
    CELLS[BASE + (4, 1, 2) + mac] = ("ipaddress", "10.9.0.%d" % host)
    CELLS[BASE + (6, 1, 1) + mac] = ("integer", str(rssi))
    CELLS[BASE + (4, 1, 25) + mac] = ("integer", "7")
mode, oid = sys.argv[1], tuple(int(x) for x in sys.argv[2].strip(".").split("."))
keys = sorted(CELLS)
hit = oid if mode == "-g" and oid in CELLS else None
if mode == "-n":
    hit = next((k for k in keys if k > oid), None)
if hit is not None:
    print("." + ".".join(map(str, hit)))
    print(CELLS[hit][0])
    print(CELLS[hit][1])
'''


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("snmpd") is None and not Path("/usr/sbin/snmpd").exists(),
                    reason="Debian package 'snmpd' not installed")
def test_our_client_reads_net_snmp_agent(tmp_path):
    snmpd = shutil.which("snmpd") or "/usr/sbin/snmpd"
    script = tmp_path / "pass.py"
    script.write_text(PASS_SCRIPT)
    port = _free_udp_port()
    conf = tmp_path / "snmpd.conf"
    conf.write_text(f"agentaddress udp:127.0.0.1:{port}\nrocommunity peer 127.0.0.1\n"
                    f"pass .1.3.6.1.4.1.14179 {sys.executable} {script}\n")
    env = {**os.environ, "SNMP_PERSISTENT_DIR": str(tmp_path), "MIBS": ""}
    proc = subprocess.Popen([snmpd, "-f", "-C", "-c", str(conf), "-Lf", str(tmp_path / "log"),
                             "-I", "-smux,mteTrigger,mteTriggerConf"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        address = f"127.0.0.1:{port}"
        with SnmpClient(address, "peer", timeout=0.5, retries=0) as probe:
            for _ in range(20):
                try:
                    probe.get((1, 3, 6, 1, 2, 1, 1, 1, 0))
                    break
                except Exception:  # noqa: BLE001 - agent still starting
                    if proc.poll() is not None:
                        pytest.skip("snmpd exited: " + (tmp_path / "log").read_text()[-300:])
                    time.sleep(0.25)
            else:
                pytest.skip("snmpd did not answer on loopback within 5 s")
        with sw.open_snmp_wireless(address, "peer", 3.0, {"vendor": "cisco-aireos"}) as ctl:
            clients = ctl.clients(time_budget_s=20)
    finally:
        proc.terminate()
        proc.wait(timeout=5)
    assert [c.mac for c in clients] == [f"02:c1:a5:00:00:{i:02x}" for i in range(1, 6)]
    assert [c.ssid for c in clients] == ["teach", "guest", "teach", "guest", "teach"]
    assert [c.rssi_dbm for c in clients] == [-41, -42, -43, -44, -45]
    assert {c.band for c in clients} == {"5"}
    assert clients[2].ip == "10.9.0.4"
