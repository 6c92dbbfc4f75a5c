"""Store of display power-state samples taken by ``classcert monitor``.

SQLite in WAL mode, one transaction per poll cycle, so a monitor that is stopped or killed
loses at most the cycle in progress; a restarted monitor appends to the same file. Times
are stored as UTC ISO 8601 text with microseconds (sortable as text).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
APP_ID = "classcert-monitor"
STATES = ("on", "off", "unknown")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sample (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id TEXT NOT NULL,
    device TEXT NOT NULL,            -- rig device label
    at TEXT NOT NULL,                -- UTC, ISO 8601 with microseconds
    state TEXT NOT NULL CHECK (state IN ('on', 'off', 'unknown')),
    power TEXT,                      -- state as the display reported it (on/off/warming/cooling)
    lamp_hours TEXT,                 -- JSON list of hours per lamp, [] = no lamp, NULL = not read
    error TEXT,                      -- why the state is unknown, or a note (e.g. lamp unreadable)
    interval_s REAL NOT NULL         -- polling interval the monitor was running with
);
CREATE INDEX IF NOT EXISTS sample_room_at ON sample(room_id, at);
CREATE TABLE IF NOT EXISTS run (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    stopped_at TEXT,
    rig_path TEXT NOT NULL,
    interval_s REAL NOT NULL,
    calendar_json TEXT NOT NULL,
    cycles INTEGER NOT NULL DEFAULT 0
);
"""


class MonitorStoreError(Exception):
    """The monitor database cannot be used (not ours, newer schema, unreadable)."""


def iso_utc(instant: dt.datetime) -> str:
    if instant.tzinfo is None:
        raise ValueError(f"time {instant!r} has no timezone; use an aware UTC datetime")
    return instant.astimezone(dt.UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class MonitorSample:
    room_id: str
    device: str
    at: dt.datetime  # aware
    state: str  # on | off | unknown
    power: str | None = None
    lamp_hours: tuple[int, ...] | None = None
    error: str | None = None
    interval_s: float = 0.0

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"state must be one of {STATES}, got {self.state!r}")
        if self.at.tzinfo is None:
            raise ValueError("sample time must be timezone-aware (UTC)")


@dataclass(frozen=True)
class MonitorRun:
    id: int
    started_at: dt.datetime
    stopped_at: dt.datetime | None
    rig_path: str
    interval_s: float
    calendar: dict[str, Any]
    cycles: int


class MonitorStore:
    """Open (or create) the monitor database at ``path``. Use as a context manager."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=10.0, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise MonitorStoreError(
                f"{self.path}: cannot open the monitor database ({exc}); check the path and "
                f"permissions / 无法打开监测数据库，请检查路径和权限"
            ) from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._check_and_create()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise MonitorStoreError(
                f"{self.path}: not a classcert monitor database ({exc}); choose another --db "
                f"file / 该文件不是 classcert 监测数据库，请另选 --db 文件"
            ) from None

    def _check_and_create(self) -> None:
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
        if tables and "meta" not in tables:
            raise sqlite3.DatabaseError("it holds other tables")
        meta = dict(self._db.execute("SELECT key, value FROM meta")) if tables else {}
        if meta and meta.get("app") != APP_ID:
            raise sqlite3.DatabaseError(f"app is {meta.get('app')!r}")
        if int(meta.get("schema_version", "0")) > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"schema {meta['schema_version']} is newer than this version "
                f"({SCHEMA_VERSION}); upgrade classcert")
        self._db.executescript(_SCHEMA)
        if not meta:
            with self._tx() as db:
                db.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                               [("app", APP_ID), ("schema_version", str(SCHEMA_VERSION))])

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._db:  # commits, or rolls back on error
            yield self._db

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> MonitorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ samples -------------
    def add_samples(self, samples: Iterable[MonitorSample]) -> int:
        """Append samples in one transaction; returns how many were written."""
        rows = [
            (s.room_id, s.device, iso_utc(s.at), s.state, s.power,
             None if s.lamp_hours is None else json.dumps(list(s.lamp_hours)), s.error,
             float(s.interval_s))
            for s in samples
        ]
        with self._tx() as db:
            db.executemany(
                "INSERT INTO sample(room_id, device, at, state, power, lamp_hours, error, "
                "interval_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        return len(rows)

    def samples(self, room_id: str, since: dt.datetime | None = None,
                until: dt.datetime | None = None) -> list[MonitorSample]:
        """Samples of one room in time order, optionally within [since, until)."""
        sql = ("SELECT room_id, device, at, state, power, lamp_hours, error, interval_s "
               "FROM sample WHERE room_id = ?")
        args: list[Any] = [room_id]
        if since is not None:
            sql += " AND at >= ?"
            args.append(iso_utc(since))
        if until is not None:
            sql += " AND at < ?"
            args.append(iso_utc(until))
        rows = self._db.execute(sql + " ORDER BY at, id", args).fetchall()
        return [
            MonitorSample(r[0], r[1], dt.datetime.fromisoformat(r[2]), r[3], r[4],
                          None if r[5] is None else tuple(json.loads(r[5])), r[6], r[7])
            for r in rows
        ]

    def rooms(self) -> list[str]:
        return [r[0] for r in self._db.execute(
            "SELECT DISTINCT room_id FROM sample ORDER BY room_id")]

    def count(self, room_id: str | None = None) -> int:
        if room_id is None:
            return self._db.execute("SELECT COUNT(*) FROM sample").fetchone()[0]
        return self._db.execute(
            "SELECT COUNT(*) FROM sample WHERE room_id = ?", (room_id,)).fetchone()[0]

    def max_interval_s(self, room_id: str) -> float | None:
        """Longest polling interval used for this room (to choose how long a sample holds)."""
        value = self._db.execute(
            "SELECT MAX(interval_s) FROM sample WHERE room_id = ?", (room_id,)).fetchone()[0]
        return float(value) if value else None

    # ------------------------------------------------------------ runs ----------------
    def begin_run(self, started_at: dt.datetime, rig_path: str, interval_s: float,
                  calendar: dict[str, Any]) -> int:
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO run(started_at, rig_path, interval_s, calendar_json) "
                "VALUES (?, ?, ?, ?)",
                (iso_utc(started_at), rig_path, interval_s, json.dumps(calendar)))
        return int(cur.lastrowid or 0)

    def count_cycle(self, run_id: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE run SET cycles = cycles + 1 WHERE id = ?", (run_id,))

    def end_run(self, run_id: int, stopped_at: dt.datetime) -> None:
        with self._tx() as db:
            db.execute("UPDATE run SET stopped_at = ? WHERE id = ?",
                       (iso_utc(stopped_at), run_id))

    def runs(self) -> list[MonitorRun]:
        rows = self._db.execute(
            "SELECT id, started_at, stopped_at, rig_path, interval_s, calendar_json, cycles "
            "FROM run ORDER BY id").fetchall()
        return [
            MonitorRun(r[0], dt.datetime.fromisoformat(r[1]),
                       None if r[2] is None else dt.datetime.fromisoformat(r[2]), r[3], r[4],
                       json.loads(r[5]), r[6])
            for r in rows
        ]

    def last_calendar(self) -> dict[str, Any] | None:
        """The school calendar the latest monitor run was started with."""
        runs = self.runs()
        return runs[-1].calendar if runs else None
