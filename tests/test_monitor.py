"""`classcert monitor`: polling PJLink simulators over real TCP with a fake clock, the store,
restarts, unreachable displays, the CLI and the usage.daily suite."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest

from classcert.model import Device, Rig, Room, School
from classcert.monitor import Monitor, MonitorConfigError, PollTarget, display_targets
from classcert.monitor_cli import add_monitor_parser, format_report
from classcert.monitor_store import MonitorSample, MonitorStore, MonitorStoreError
from classcert.rigs.simulators.pjlink_sim import PjlinkSimulator
from classcert.usage import SchoolCalendar, default_max_gap_s, lamp_check, summarize

from helpers import REPO, rig_text

CAL = SchoolCalendar.parse("08:00-17:00", "mon-fri", "Asia/Shanghai")
TZ = CAL.tz
MONDAY = dt.date(2024, 9, 2)
START = dt.datetime.combine(MONDAY, dt.time(0), tzinfo=TZ).astimezone(dt.UTC)
INTERVAL = 1800.0  # 30 min: a school week is 336 poll cycles
HOUR = 3600.0


class FakeClock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> dt.datetime:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += dt.timedelta(seconds=seconds)


Schedule = Callable[[dt.datetime], bool]  # local time -> display on?


class World:
    """Simulated displays following a timetable; ``sleep`` moves the fake clock."""

    def __init__(self, clock: FakeClock, rooms: dict[str, tuple[PjlinkSimulator, Schedule]]):
        self.clock, self.rooms = clock, rooms
        self.on_s = {room: 0.0 for room in rooms}
        self.apply()

    def apply(self) -> None:
        local = self.clock().astimezone(TZ)
        for room, (sim, schedule) in self.rooms.items():
            sim.power = "on" if schedule(local) else "off"
            sim.lamp_hours = [1200 + int(self.on_s[room] // HOUR)]

    def sleep(self, seconds: float) -> None:
        for room, (sim, _) in self.rooms.items():
            if sim.power == "1":
                self.on_s[room] += seconds
        self.clock.advance(seconds)
        self.apply()


def weekday_hours(start: int, end: int, days: range = range(5)) -> Schedule:
    return lambda t: t.weekday() in days and start <= t.hour < end


def make_rig(tmp_path, addresses: dict[str, str], password_env: str | None = None) -> Rig:
    rooms = tuple(
        Room(rid, f"Room {rid}", 40, ("multimedia",),
             (Device("display", "pjlink", addr, name=f"{rid}-display", password_env=password_env),))
        for rid, addr in addresses.items())
    return Rig(tmp_path / "rig.toml", School("T", "basic", 1, 1, 10, "cq-jj"), rooms)


@pytest.fixture
def sims():
    started: list[PjlinkSimulator] = []

    def start(**knobs) -> PjlinkSimulator:
        sim = PjlinkSimulator(warmup_s=0, cooldown_s=0, **knobs).start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


def monitor_for(rig, store, clock, world=None, **kw) -> Monitor:
    return Monitor(display_targets(rig), store, interval_s=INTERVAL, timeout_s=2.0, clock=clock,
                   sleep=world.sleep if world else clock.advance, **kw)


def week_summary(store, room, **kw):
    samples = store.samples(room)
    return summarize(samples, CAL, max_gap_s=default_max_gap_s(store.max_interval_s(room)), **kw)


# ---------------------------------------------------------------- polling -------------------
def test_a_school_week_of_polling_gives_the_usage_rate(tmp_path, sims):
    a, b = sims(), sims()
    clock = FakeClock(START)
    world = World(clock, {"A": (a, weekday_hours(8, 12)),  # mornings only: 4 h of 9 h
                          "B": (b, weekday_hours(8, 17, range(3)))})  # all day Mon-Wed
    rig = make_rig(tmp_path, {"A": a.address, "B": b.address})
    began = time.monotonic()
    with MonitorStore(tmp_path / "m.sqlite") as store, monitor_for(rig, store, clock, world) as m:
        stats = m.run(duration_s=7 * 86400, calendar=CAL.as_dict())
        assert time.monotonic() - began < 15
        assert stats.cycles == 7 * 48 and stats.unknown == 0 and not stats.interrupted
        assert store.count("A") == store.count("B") == 7 * 48
        first = store.samples("A")[0]
        assert first.at == START and first.power == "off" and first.lamp_hours == (1200,)
        a_week, b_week = week_summary(store, "A"), week_summary(store, "B")
        assert [d.day.weekday() for d in a_week.included] == [0, 1, 2, 3, 4]
        assert all(d.usage_pct == pytest.approx(400 / 9) for d in a_week.included)
        assert a_week.mean_pct == pytest.approx(400 / 9)
        assert [round(d.usage_pct) for d in b_week.included] == [100, 100, 100, 0, 0]
        assert b_week.mean_pct == pytest.approx(60.0)
        lamp = lamp_check(store.samples("B"), default_max_gap_s(INTERVAL))
        assert lamp is not None and lamp.delta_h == 27 and lamp.observed_on_h == pytest.approx(27)
        (run,) = store.runs()
        assert run.cycles == stats.cycles and run.stopped_at is not None
        assert store.last_calendar() == CAL.as_dict()


def test_a_restart_loses_nothing_and_the_downtime_stays_unknown(tmp_path, sims):
    sim = sims()
    clock = FakeClock(START)
    world = World(clock, {"R": (sim, weekday_hours(8, 17))})  # on all school hours
    rig = make_rig(tmp_path, {"R": sim.address})
    db = tmp_path / "m.sqlite"
    with MonitorStore(db) as store, monitor_for(rig, store, clock, world) as m:
        first = m.run(duration_s=34 * HOUR)  # last poll Tuesday 09:30
        before = store.samples("R")
    assert first.cycles == 68 and len(before) == 68
    world.sleep(5.5 * HOUR)  # the monitor is down until Tuesday 15:00; the display stays on
    with MonitorStore(db) as store, monitor_for(rig, store, clock, world) as m:
        second = m.run(duration_s=5 * 86400 - 39 * HOUR)  # until Friday midnight
        after = store.samples("R")
        week = week_summary(store, "R")
        assert len(store.runs()) == 2
    assert after[: len(before)] == before, "the first run's samples are untouched"
    assert len(after) == first.samples + second.samples
    assert [d.day.weekday() for d in week.included] == [0, 2, 3, 4]
    assert week.mean_pct == pytest.approx(100.0)
    tuesday = next(d for d in week.days if d.day.weekday() == 1)
    # 08:00-10:30 (the 09:30 sample holds one hour) + 15:00-17:00 observed; the rest unknown
    assert tuesday.observed_s == pytest.approx(4.5 * HOUR)
    assert tuesday.on_s == pytest.approx(4.5 * HOUR), "the gap is not counted as on"
    assert tuesday.coverage_pct == pytest.approx(50.0)
    assert "coverage 50.0%" in week.excluded[0].reason_en


def refused_address() -> tuple[socket.socket, str]:
    """A bound port that never listens: connecting is refused, as for a display switched off."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock, f"127.0.0.1:{sock.getsockname()[1]}"


def test_an_unreachable_display_gives_error_samples_not_off(tmp_path, sims):
    sim = sims(power="off")
    sock, dead = refused_address()
    clock = FakeClock(START)
    rig = make_rig(tmp_path, {"LIVE": sim.address, "DEAD": dead})
    try:
        with MonitorStore(tmp_path / "m.sqlite") as store, monitor_for(rig, store, clock) as m:
            m.run(max_cycles=3)
            sim.stop()  # the live display disappears from the network
            stats = m.run(max_cycles=3)
            dead_samples, live = store.samples("DEAD"), store.samples("LIVE")
    finally:
        sock.close()
    assert stats.unknown == 6
    assert [s.state for s in dead_samples] == ["unknown"] * 6
    assert all("refused" in (s.error or "") and s.power is None for s in dead_samples)
    assert [s.state for s in live] == ["off"] * 3 + ["unknown"] * 3
    assert all(s.error for s in live[3:])
    summary = summarize(dead_samples, CAL, max_gap_s=3600, min_coverage_pct=0)
    assert summary is not None and summary.days[0].observed_s == 0


def test_one_poll_cycle_is_bounded_in_time(tmp_path, sims):
    slow = sims(reply_delay_s=1.5)
    rig = make_rig(tmp_path, {"SLOW": slow.address})
    clock = FakeClock(START)
    with MonitorStore(tmp_path / "m.sqlite") as store:
        with monitor_for(rig, store, clock, cycle_timeout_s=0.3) as m:
            began = time.monotonic()
            (sample,) = m.poll_once()
            assert time.monotonic() - began < 1.0
            (busy,) = m.poll_once()  # the first read is still running: not polled twice
            slow.stop()  # ends the slow session; close() then returns promptly
        assert sample.state == "unknown" and "no answer within 0.3 s" in sample.error
        assert busy.state == "unknown" and "previous poll" in busy.error


def test_ctrl_c_stops_cleanly_and_keeps_the_samples(tmp_path, sims):
    sim = sims()
    clock = FakeClock(START)
    rig = make_rig(tmp_path, {"R": sim.address})
    calls = []

    def sleep(seconds: float) -> None:
        calls.append(seconds)
        clock.advance(seconds)
        if len(calls) == 3:
            raise KeyboardInterrupt

    with MonitorStore(tmp_path / "m.sqlite") as store:
        with Monitor(display_targets(rig), store, interval_s=INTERVAL, clock=clock,
                     sleep=sleep) as m:
            stats = m.run()
        (run,) = store.runs()
        assert stats.interrupted and stats.cycles == 3 and store.count("R") == 3
        assert run.cycles == 3 and run.stopped_at == START + dt.timedelta(seconds=3 * INTERVAL)
        assert calls == [INTERVAL] * 3


def test_passwords_come_from_the_environment(tmp_path, sims, monkeypatch):
    sim = sims(password="s3cret")
    rig = make_rig(tmp_path, {"R": sim.address}, password_env="T_MON_PW")
    monkeypatch.delenv("T_MON_PW", raising=False)
    with MonitorStore(tmp_path / "m.sqlite") as store:
        with pytest.raises(MonitorConfigError, match="T_MON_PW"):
            Monitor(display_targets(rig), store)
        monkeypatch.setenv("T_MON_PW", "s3cret")
        with Monitor(display_targets(rig), store, clock=FakeClock(START)) as m:
            (sample,) = m.poll_once()
    assert sample.state == "on" and sample.error is None


def test_targets_are_the_first_display_of_each_room(tmp_path):
    rig = make_rig(tmp_path, {"A": "10.0.0.1:4352", "B": "10.0.0.2:4352"})
    no_display = Room("C", "C", 10, (), (Device("ups", "snmp", "10.0.0.3:161"),))
    rig = Rig(rig.path, rig.school, (*rig.rooms, no_display))
    targets = display_targets(rig, address_of=lambda room, i, d: f"{room}#{i}")
    assert [(t.room_id, t.address) for t in targets] == [("A", "A#0"), ("B", "B#0")]
    assert [t.room_id for t in display_targets(rig, ["B"])] == ["B"]
    with pytest.raises(MonitorConfigError, match="no room with id Z"):
        display_targets(rig, ["Z"])
    with pytest.raises(MonitorConfigError, match="nothing to monitor"):
        display_targets(Rig(rig.path, rig.school, (no_display,)))


def test_a_driver_setup_error_is_an_unknown_sample(tmp_path):
    bad = Device("display", "pjlink", "10.0.0.1:4352", options={"retries": -1})
    target = PollTarget("R", bad, bad.address)
    with MonitorStore(tmp_path / "m.sqlite") as store:
        with Monitor([target], store, clock=FakeClock(START)) as m:
            (sample,) = m.poll_once()
    assert sample.state == "unknown"
    assert "driver setup" in sample.error and "retries" in sample.error


# ---------------------------------------------------------------- store ---------------------
def test_store_refuses_foreign_and_newer_databases(tmp_path):
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    with pytest.raises(MonitorStoreError, match="not a classcert monitor database"):
        MonitorStore(other)
    text = tmp_path / "notes.txt"
    text.write_text("hello " * 100)
    with pytest.raises(MonitorStoreError):
        MonitorStore(text)
    newer = tmp_path / "newer.sqlite"
    MonitorStore(newer).close()
    with sqlite3.connect(newer) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(MonitorStoreError, match="upgrade classcert"):
        MonitorStore(newer)
    with pytest.raises(ValueError, match="timezone"):
        MonitorSample("R", "d", dt.datetime(2024, 9, 2, 8), "on")
    with pytest.raises(ValueError, match="state"):
        MonitorSample("R", "d", START, "standby")


def test_store_round_trips_samples_in_time_order(tmp_path):
    samples = [MonitorSample("R", "d", START + dt.timedelta(minutes=m), s, "on" if s == "on"
                             else None, (5, 7) if s == "on" else None, None, 300.0)
               for m, s in ((10, "on"), (0, "off"), (5, "unknown"))]
    with MonitorStore(tmp_path / "m.sqlite") as store:
        store.add_samples(samples)
        got = store.samples("R")
        window = store.samples("R", since=START + dt.timedelta(minutes=1),
                               until=START + dt.timedelta(minutes=10))
        assert store.rooms() == ["R"] and store.max_interval_s("R") == 300.0
    assert got == sorted(samples, key=lambda s: s.at)
    assert [s.state for s in window] == ["unknown"]


# ---------------------------------------------------------------- CLI -----------------------
def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="classcert")
    add_monitor_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["monitor", *argv])
    return args.func(args)


SIM_ROOM = """
    [[rooms]]
    id = "S1"
    name = "Sim room"
    seats = 40
    claims = ["multimedia"]

    [[rooms.devices]]
    role = "display"
    driver = "pjlink"
    address = "127.0.0.1:0"
    simulator = { kind = "pjlink", power = "on", lamp_hours = 321 }
"""


def test_cli_once_polls_a_simulated_rig(tmp_path, capsys):
    rig = tmp_path / "rig.toml"
    rig.write_text(rig_text(SIM_ROOM), encoding="utf-8")
    db = tmp_path / "m.sqlite"
    assert cli("--rig", str(rig), "--db", str(db), "--once", "--report") == 0
    out = capsys.readouterr().out
    assert "on/开 1" in out and "1 cycles, 1 samples" in out and "Room / 教室 S1" in out
    with MonitorStore(db) as store:
        (sample,) = store.samples("S1")
        assert store.last_calendar()["timezone"] == "Asia/Shanghai"
    assert sample.state == "on" and sample.lamp_hours == (321,)


def test_cli_report_shows_days_mean_exclusions_and_lamp_hours(tmp_path, capsys):
    db = tmp_path / "m.sqlite"
    samples = []
    for day in range(5):  # Mon-Fri, on 08:00-12:30 (50%); Friday the monitor was down
        for half_hour in range(48):
            t = START + dt.timedelta(days=day, minutes=30 * half_hour)
            if day == 4 and half_hour >= 20:
                break
            on = 16 <= half_hour < 25
            samples.append(MonitorSample("A101", "A101-display", t, "on" if on else "off",
                                         None, (100 + day * 4,), None, INTERVAL))
    with MonitorStore(db) as store:
        store.add_samples(samples)
    assert cli("--db", str(db), "--report") == 0
    out = capsys.readouterr().out
    assert out.count("50.0%") >= 5 and "mean daily usage / 日均使用率: 50.0% over 4" in out
    assert "2024-09-06" in out and "excluded: coverage" in out and "覆盖率" in out
    assert "lamp hours / 灯泡时长: +16 h" in out
    with MonitorStore(db) as store:
        text = format_report(store, CAL, rooms=["NOPE"])
    assert "no samples yet" in text


def test_cli_errors_say_what_to_fix(tmp_path, capsys):
    assert cli("--db", str(tmp_path / "m.sqlite")) == 2
    assert "--rig FILE is needed" in capsys.readouterr().err
    assert cli("--db", str(tmp_path / "m.sqlite"), "--report", "--school-hours", "8-17") == 2
    assert "08:00-17:00" in capsys.readouterr().err
    assert cli("--db", str(tmp_path / "none.sqlite"), "--report") == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "none.sqlite").exists()
    with pytest.raises(SystemExit):
        cli("--interval", "0")
    assert "> 0" in capsys.readouterr().err


# ---------------------------------------------------------------- the suite -----------------
def suite_room(room_id: str, db_option: str) -> str:
    return f"""
        [[rooms]]
        id = "{room_id}"
        name = "Room {room_id}"
        seats = 40
        claims = ["multimedia"]

        [[rooms.devices]]
        role = "display"
        driver = "pjlink"
        address = "127.0.0.1:0"
        options = {{ {db_option} }}
        simulator = {{ kind = "pjlink" }}
    """


def school_days(room: str, days: int, on_hours: float) -> list[MonitorSample]:
    out = []
    for day in range(days):
        for step in range(48):
            t = START + dt.timedelta(days=day, minutes=30 * step)
            on = 16 <= step < 16 + on_hours * 2
            out.append(MonitorSample(room, f"{room}-display", t, "on" if on else "off",
                                     interval_s=INTERVAL))
    return out


def test_usage_suite_passes_fails_or_is_not_tested(tmp_path):
    db = tmp_path / "monitor.sqlite"
    with MonitorStore(db) as store:  # Mon-Fri of one week: 5 school days each
        store.add_samples(school_days("GOOD", 5, 5.0) + school_days("LOW", 5, 3.0)
                          + school_days("FEW", 2, 9.0))
        store.begin_run(START, "rig.toml", INTERVAL, CAL.as_dict())
    rooms = (suite_room("GOOD", 'monitor_db = "monitor.sqlite"')
             + suite_room("LOW", 'monitor_db = "monitor.sqlite"')
             + suite_room("FEW", 'monitor_db = "monitor.sqlite"')
             + suite_room("NONE", "monitor_min_days = 5"))
    rig = tmp_path / "rig.toml"
    rig.write_text(rig_text(rooms), encoding="utf-8")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "test_suites" / "test_usage_rate.py"),
         "--rig", str(rig), "--out", str(out), "-p", "no:cacheprovider", "-q"],
        capture_output=True, text=True, timeout=120, cwd=REPO,
        env={k: v for k, v in os.environ.items() if k != "CLASSCERT_MONITOR_DB"})
    assert proc.returncode == 1, proc.stdout + proc.stderr  # LOW's FAIL fails its test

    def entry(room: str) -> dict:
        cert = json.loads((out / "rooms" / room / "certificate.json").read_text("utf-8"))
        (e,) = [e for e in cert["requirements"] if e["id"] == "CQ2022-T1-4#multimedia-usage"]
        return e

    good, low, few, none = (entry(r) for r in ("GOOD", "LOW", "FEW", "NONE"))
    assert good["verdict"] == "PASS" and good["value"] == pytest.approx(55.6)
    assert "2024-09-02..2024-09-06" in good["reason"]["en"] and good["evidence"]
    assert low["verdict"] == "FAIL" and low["value"] == pytest.approx(33.3)
    assert few["verdict"] == "NOT_TESTED" and "2 school day(s)" in few["reason"]["en"]
    assert none["verdict"] == "NOT_TESTED" and "no monitoring data" in none["reason"]["en"]
    evidence = json.loads((out / good["evidence"][0]["path"]).read_text("utf-8"))
    assert evidence["calendar"]["hours"] == "08:00-17:00" and len(evidence["days"]) == 5
    assert evidence["days"][0]["usage_pct"] == pytest.approx(55.56)


CLI_SCRIPT = """
import argparse, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
from classcert.monitor_cli import add_monitor_parser
parser = argparse.ArgumentParser(prog="classcert")
add_monitor_parser(parser.add_subparsers(dest="command"))
args = parser.parse_args(["monitor", *sys.argv[1:]])
sys.exit(args.func(args))
"""


def stored_samples(db) -> int:
    """Sample count read without writing (the monitor may be creating the file)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            return con.execute("SELECT COUNT(*) FROM sample").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_stops_the_cli_cleanly(tmp_path, signum):
    rig = tmp_path / "rig.toml"
    rig.write_text(rig_text(SIM_ROOM), encoding="utf-8")
    db = tmp_path / "m.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI_SCRIPT, "--rig", str(rig), "--db", str(db),
         "--interval", "0.2", "--timeout", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None:
            if stored_samples(db) >= 3:  # a few cycles stored
                break
            time.sleep(0.1)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out + err
    assert "stopped / 已停止" in out
    with MonitorStore(db) as store:
        (run,) = store.runs()
        assert run.stopped_at is not None and run.cycles >= 3
        assert store.count("S1") == run.cycles
