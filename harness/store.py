"""The run store: every measurement of a campaign, written as it is taken.

SQLite in WAL mode with ``synchronous=FULL``, one transaction per write, so a
killed run (or a flat laptop battery) loses nothing already measured.

Hierarchy: campaign -> room -> requirement -> attempt.  An *attempt* is one
execution of one conformance test for one room; it holds the measurements the
test took, each with its evidence files (path + sha256).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS campaign (
    id TEXT PRIMARY KEY,
    rig_path TEXT NOT NULL,
    rig_sha256 TEXT NOT NULL,
    profile TEXT NOT NULL,
    harness_version TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL            -- running | finished | interrupted
);
CREATE TABLE IF NOT EXISTS attempt (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id TEXT NOT NULL REFERENCES campaign(id),
    room_id TEXT NOT NULL,
    test_key TEXT NOT NULL,          -- stable test identity: file::function
    requirement_keys TEXT NOT NULL,  -- JSON list of catalog keys the test measures
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,            -- running | done | error
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS attempt_room ON attempt(campaign_id, room_id, test_key);
CREATE TABLE IF NOT EXISTS measurement (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    attempt_id INTEGER NOT NULL REFERENCES attempt(id),
    campaign_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    requirement_id TEXT NOT NULL,
    requirement_key TEXT NOT NULL,
    value_json TEXT NOT NULL,
    unit TEXT NOT NULL,
    limit_text TEXT NOT NULL,
    verdict TEXT NOT NULL,
    reason_en TEXT NOT NULL,
    reason_zh TEXT NOT NULL,
    taken_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS measurement_room ON measurement(campaign_id, room_id, requirement_id);
CREATE TABLE IF NOT EXISTS evidence (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    measurement_id INTEGER NOT NULL REFERENCES measurement(id),
    path TEXT NOT NULL,              -- relative to the campaign output directory
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS device_info (
    campaign_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    device_label TEXT NOT NULL,
    info_json TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (campaign_id, room_id, device_label)
);
CREATE TABLE IF NOT EXISTS covered_key (
    campaign_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    requirement_key TEXT NOT NULL,
    PRIMARY KEY (campaign_id, room_id, requirement_key)
);
CREATE TABLE IF NOT EXISTS restore_journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    device_label TEXT NOT NULL,
    state_json TEXT NOT NULL,
    created_at TEXT NOT NULL,
    restored_at TEXT
);
"""


def utc_now() -> str:
    """ISO 8601 UTC timestamp with microseconds (sortable as text)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class StoreError(Exception):
    """The run store cannot be used as asked (wrong file, schema, campaign)."""


@dataclass(frozen=True)
class Measurement:
    id: int
    attempt_id: int
    room_id: str
    requirement_id: str
    requirement_key: str
    value: Any
    unit: str
    limit_text: str
    verdict: str
    reason_en: str
    reason_zh: str
    taken_at: str
    evidence: tuple[tuple[str, str], ...]  # (relative path, sha256)


@dataclass(frozen=True)
class Attempt:
    id: int
    room_id: str
    test_key: str
    requirement_keys: tuple[str, ...]
    started_at: str
    finished_at: str | None
    status: str
    detail: str


@dataclass(frozen=True)
class Campaign:
    id: str
    rig_path: str
    rig_sha256: str
    profile: str
    harness_version: str
    started_at: str
    finished_at: str | None
    status: str


class RunStore:
    """One campaign database (``campaign.sqlite`` in the output directory)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.root = self.path.parent
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        for stmt in _SCHEMA.split(";"):
            if stmt.strip():
                self._db.execute(stmt)
        row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) != SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: run store schema {row[0]} is not supported by this classcert "
                f"(expects {SCHEMA_VERSION}) / 运行数据库版本不兼容"
            )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- campaigns -------------------------------------------------------------------------
    def create_campaign(
        self, rig_path: Path, rig_sha256: str, profile: str, harness_version: str
    ) -> Campaign:
        cid = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]
        with self._tx() as db:
            db.execute(
                "INSERT INTO campaign VALUES (?,?,?,?,?,?,NULL,'running')",
                (cid, str(rig_path), rig_sha256, profile, harness_version, utc_now()),
            )
        return self.campaign(cid)

    def campaign(self, campaign_id: str) -> Campaign:
        row = self._db.execute("SELECT * FROM campaign WHERE id=?", (campaign_id,)).fetchone()
        if row is None:
            raise StoreError(f"{self.path}: no campaign {campaign_id!r}")
        return Campaign(**dict(row))

    def latest_campaign(self) -> Campaign | None:
        row = self._db.execute(
            "SELECT * FROM campaign ORDER BY started_at DESC LIMIT 1"
        ).fetchone()
        return Campaign(**dict(row)) if row else None

    def set_campaign_status(self, campaign_id: str, status: str) -> None:
        finished = utc_now() if status == "finished" else None
        with self._tx() as db:
            db.execute(
                "UPDATE campaign SET status=?, finished_at=? WHERE id=?",
                (status, finished, campaign_id),
            )

    # -- attempts --------------------------------------------------------------------------
    def begin_attempt(
        self, campaign_id: str, room_id: str, test_key: str, keys: Iterable[str]
    ) -> int:
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO attempt (campaign_id, room_id, test_key, requirement_keys, "
                "started_at, status) VALUES (?,?,?,?,?,'running')",
                (campaign_id, room_id, test_key, json.dumps(sorted(keys)), utc_now()),
            )
            return int(cur.lastrowid or 0)

    def finish_attempt(self, attempt_id: int, status: str, detail: str = "") -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE attempt SET status=?, finished_at=?, detail=? WHERE id=?",
                (status, utc_now(), detail, attempt_id),
            )

    def attempts(self, campaign_id: str, room_id: str | None = None) -> list[Attempt]:
        sql = "SELECT * FROM attempt WHERE campaign_id=?"
        args: list[Any] = [campaign_id]
        if room_id is not None:
            sql += " AND room_id=?"
            args.append(room_id)
        rows = self._db.execute(sql + " ORDER BY id", args).fetchall()
        return [
            Attempt(
                id=r["id"], room_id=r["room_id"], test_key=r["test_key"],
                requirement_keys=tuple(json.loads(r["requirement_keys"])),
                started_at=r["started_at"], finished_at=r["finished_at"],
                status=r["status"], detail=r["detail"],
            )
            for r in rows
        ]

    def finished_keys(self, campaign_id: str, room_id: str, test_key: str) -> set[str]:
        """Requirement keys already measured for this test and room in this campaign.

        Counts conclusive verdicts (PASS, FAIL, ATTESTED, SKIPPED) of finished and of
        interrupted attempts alike: a measurement once taken is never taken again on resume.
        ERROR and NOT_TESTED are not measurements: a resumed run tries those again.
        """
        rows = self._db.execute(
            "SELECT DISTINCT m.requirement_key FROM measurement m JOIN attempt a "
            "ON a.id = m.attempt_id WHERE a.campaign_id=? AND a.room_id=? AND a.test_key=? "
            "AND m.verdict IN ('PASS', 'FAIL', 'ATTESTED', 'SKIPPED')",
            (campaign_id, room_id, test_key),
        ).fetchall()
        return {r[0] for r in rows}

    def attempt_done(self, campaign_id: str, room_id: str, test_key: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM attempt WHERE campaign_id=? AND room_id=? AND test_key=? "
            "AND status = 'done' LIMIT 1",
            (campaign_id, room_id, test_key),
        ).fetchone()
        return row is not None

    # -- measurements ----------------------------------------------------------------------
    def add_measurement(
        self,
        attempt_id: int,
        campaign_id: str,
        room_id: str,
        requirement_id: str,
        requirement_key: str,
        value: Any,
        unit: str,
        limit_text: str,
        verdict: str,
        reason_en: str,
        reason_zh: str,
        evidence: Iterable[Path] = (),
    ) -> int:
        """Write one measurement and its evidence files (hashed now) in one transaction."""
        hashed = []
        for p in evidence:
            p = Path(p)
            rel = p.resolve().relative_to(self.root.resolve()).as_posix()
            hashed.append((rel, sha256_file(p), p.stat().st_size))
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO measurement (attempt_id, campaign_id, room_id, requirement_id, "
                "requirement_key, value_json, unit, limit_text, verdict, reason_en, reason_zh, "
                "taken_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    attempt_id, campaign_id, room_id, requirement_id, requirement_key,
                    json.dumps(value, ensure_ascii=False), unit, limit_text, verdict,
                    reason_en, reason_zh, utc_now(),
                ),
            )
            mid = int(cur.lastrowid or 0)
            db.executemany(
                "INSERT INTO evidence (measurement_id, path, sha256, size) VALUES (?,?,?,?)",
                [(mid, rel, digest, size) for rel, digest, size in hashed],
            )
        return mid

    def measurements(self, campaign_id: str, room_id: str | None = None) -> list[Measurement]:
        sql = "SELECT * FROM measurement WHERE campaign_id=?"
        args: list[Any] = [campaign_id]
        if room_id is not None:
            sql += " AND room_id=?"
            args.append(room_id)
        rows = self._db.execute(sql + " ORDER BY id", args).fetchall()
        ev: dict[int, list[tuple[str, str]]] = {}
        for e in self._db.execute(
            "SELECT e.measurement_id, e.path, e.sha256 FROM evidence e JOIN measurement m "
            "ON m.id = e.measurement_id WHERE m.campaign_id=? ORDER BY e.id",
            (campaign_id,),
        ):
            ev.setdefault(e[0], []).append((e[1], e[2]))
        return [
            Measurement(
                id=r["id"], attempt_id=r["attempt_id"], room_id=r["room_id"],
                requirement_id=r["requirement_id"], requirement_key=r["requirement_key"],
                value=json.loads(r["value_json"]), unit=r["unit"], limit_text=r["limit_text"],
                verdict=r["verdict"], reason_en=r["reason_en"], reason_zh=r["reason_zh"],
                taken_at=r["taken_at"], evidence=tuple(ev.get(r["id"], [])),
            )
            for r in rows
        ]

    # -- devices, coverage, restore journal ------------------------------------------------
    def record_device_info(
        self, campaign_id: str, room_id: str, device_label: str, info: dict[str, Any]
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO device_info VALUES (?,?,?,?,?)",
                (campaign_id, room_id, device_label, json.dumps(info, ensure_ascii=False),
                 utc_now()),
            )

    def device_info(self, campaign_id: str, room_id: str) -> dict[str, dict[str, Any]]:
        rows = self._db.execute(
            "SELECT device_label, info_json FROM device_info WHERE campaign_id=? AND room_id=?",
            (campaign_id, room_id),
        ).fetchall()
        return {r[0]: json.loads(r[1]) for r in rows}

    def add_covered_keys(self, campaign_id: str, room_id: str, keys: Iterable[str]) -> None:
        with self._tx() as db:
            db.executemany(
                "INSERT OR IGNORE INTO covered_key VALUES (?,?,?)",
                [(campaign_id, room_id, k) for k in keys],
            )

    def covered_keys(self, campaign_id: str, room_id: str) -> set[str]:
        rows = self._db.execute(
            "SELECT requirement_key FROM covered_key WHERE campaign_id=? AND room_id=?",
            (campaign_id, room_id),
        ).fetchall()
        return {r[0] for r in rows}

    def journal_state(
        self, campaign_id: str, room_id: str, device_label: str, state: dict[str, Any]
    ) -> int:
        """Remember a device's original state before a test changes it."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO restore_journal (campaign_id, room_id, device_label, state_json, "
                "created_at) VALUES (?,?,?,?,?)",
                (campaign_id, room_id, device_label, json.dumps(state), utc_now()),
            )
            return int(cur.lastrowid or 0)

    def mark_restored(self, journal_id: int) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE restore_journal SET restored_at=? WHERE id=?", (utc_now(), journal_id)
            )

    def pending_restores(self, campaign_id: str) -> list[tuple[int, str, str, dict[str, Any]]]:
        rows = self._db.execute(
            "SELECT id, room_id, device_label, state_json FROM restore_journal "
            "WHERE campaign_id=? AND restored_at IS NULL ORDER BY id",
            (campaign_id,),
        ).fetchall()
        return [(r[0], r[1], r[2], json.loads(r[3])) for r in rows]
