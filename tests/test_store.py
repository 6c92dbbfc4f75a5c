"""The run store keeps every measurement, with evidence hashes, across reopenings."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classcert.store import RunStore, StoreError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                  max_size=4),
    max_leaves=10,
)


def test_wal_mode_and_roundtrip(tmp_path):
    store = RunStore(tmp_path / "c.sqlite")
    mode = store._db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    camp = store.create_campaign(tmp_path / "rig.toml", "ab" * 32, "cq-jj", "0.1.0")
    attempt = store.begin_attempt(camp.id, "A101", "t.py::test_x", ["display.size"])
    ev = tmp_path / "evidence.json"
    ev.write_text('{"x": 1}')
    store.add_measurement(attempt, camp.id, "A101", "JJ010301.P3", "display.size", 86,
                          "in", ">= 80 in", "PASS", "ok", "通过", [ev])
    store.finish_attempt(attempt, "done")
    store.close()

    again = RunStore(tmp_path / "c.sqlite")
    (m,) = again.measurements(camp.id, "A101")
    assert m.value == 86 and m.verdict == "PASS" and m.reason_zh == "通过"
    assert m.evidence == (("evidence.json", hashlib.sha256(b'{"x": 1}').hexdigest()),)
    assert again.attempt_done(camp.id, "A101", "t.py::test_x")
    assert again.finished_keys(camp.id, "A101", "t.py::test_x") == {"display.size"}
    assert again.latest_campaign().id == camp.id


def test_interrupted_attempt_keeps_its_measurements(tmp_path):
    store = RunStore(tmp_path / "c.sqlite")
    camp = store.create_campaign(tmp_path / "r", "0" * 64, "cq-jj", "0")
    attempt = store.begin_attempt(camp.id, "A", "t::a", ["k1", "k2"])
    store.add_measurement(attempt, camp.id, "A", "R1", "k1", True, "bool", "true", "PASS", "", "")
    # no finish_attempt: the process died here
    assert not store.attempt_done(camp.id, "A", "t::a")
    assert store.finished_keys(camp.id, "A", "t::a") == {"k1"}


def test_evidence_outside_output_dir_is_refused(tmp_path):
    store = RunStore(tmp_path / "out" / "c.sqlite") if (tmp_path / "out").mkdir() is None else None
    camp = store.create_campaign(tmp_path / "r", "0" * 64, "cq-jj", "0")
    attempt = store.begin_attempt(camp.id, "A", "t::a", ["k"])
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("x")
    with pytest.raises(ValueError):
        store.add_measurement(attempt, camp.id, "A", "R", "k", 1, "", "", "PASS", "", "",
                              [outside])
    assert store.measurements(camp.id) == []


def test_foreign_schema_is_refused(tmp_path):
    db = sqlite3.connect(tmp_path / "c.sqlite")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO meta VALUES ('schema', '999')")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="schema 999"):
        RunStore(tmp_path / "c.sqlite")


@settings(max_examples=40, deadline=None)
@given(value=json_values)
def test_any_json_value_roundtrips(tmp_path_factory, value):
    d = tmp_path_factory.mktemp("s")
    store = RunStore(d / "c.sqlite")
    camp = store.create_campaign(d / "r", "0" * 64, "p", "0")
    attempt = store.begin_attempt(camp.id, "A", "t::a", ["k"])
    store.add_measurement(attempt, camp.id, "A", "R", "k", value, "", "", "PASS", "", "")
    assert store.measurements(camp.id)[0].value == value
    store.close()
