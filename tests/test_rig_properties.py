"""Property tests for the rig loader and the TOML key-line scanner.

A small TOML writer renders nested documents in randomly chosen styles (headers,
arrays of tables, inline tables, dotted keys, quoted keys, multi-line arrays and
strings, comments) and records the line of every key path it writes. The scanner
must report exactly those lines, and the rig loader must name the right field and
line for a single injected mistake.
"""

from __future__ import annotations

import random
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classcert.model import SCHOOL_LEVELS, Device, Rig, Room, School
from classcert.rig import DEVICE_ROLES, RigError, address_problem, looks_secret, parse_rig
from classcert.tomlpos import KeyLines, field_name

RIG_PATH = Path("rigs/gen.toml")
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ADVERSARIAL = ["a = 1", "[[rooms]]\nid = 2", "'''", '"""', "\\", "# x", "{ k = 1 }", "\n", "\t"]


# -- a TOML writer that records where each key path lands --------------------------------------
def _escape(s: str, multiline: bool) -> str:
    out = []
    for ch in s:
        if ch == "\\" or ch == '"':
            out.append("\\" + ch)
        elif ch == "\n" and multiline:
            out.append(ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(ch, f"\\u{ord(ch):04x}"))
        else:
            out.append(ch)
    return "".join(out)


def _literal_ok(s: str) -> bool:
    return not any(ord(c) < 0x20 and c != "\t" or ord(c) == 0x7F for c in s)


def _key(k: str, rnd: random.Random) -> str:
    if re.fullmatch(r"[A-Za-z0-9_-]+", k) and rnd.random() < 0.85:
        return k
    if "'" not in k and _literal_ok(k) and rnd.random() < 0.4:
        return f"'{k}'"
    return f'"{_escape(k, False)}"'


class Writer:
    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)
        self.parts: list[str] = []
        self.newlines = 0
        self.pos: dict[tuple, int] = {}

    def text(self) -> str:
        return "".join(self.parts)

    def w(self, s: str) -> None:
        self.parts.append(s)
        self.newlines += s.count("\n")

    def rec(self, path: tuple) -> None:
        self.pos.setdefault(path, self.newlines + 1)

    def comment(self) -> None:
        if self.rnd.random() < 0.2:
            self.w("# fake = 1  [[rooms]] 'quoted' \"x\"\n")

    def document(self, doc: dict[str, Any]) -> str:
        self.body(doc, ())
        return self.text()

    def body(self, d: dict[str, Any], path: tuple) -> None:
        """Keys of a header table: plain statements first, then sub-tables under headers."""
        later = []
        for k, v in d.items():
            is_aot = isinstance(v, list) and v and all(isinstance(e, dict) for e in v)
            if (isinstance(v, dict) or is_aot) and self.rnd.random() < 0.7:
                later.append((k, v))
            else:
                self.statement(path, [k], v)
        for k, v in later:
            sub = (*path, k)
            name = ".".join(_key(p, self.rnd) for p in sub if isinstance(p, str))
            if isinstance(v, dict):
                self.comment()
                self.rec(sub)
                self.w(f"[{name}]\n")
                self.body(v, sub)
                continue
            for i, element in enumerate(v):
                self.comment()
                self.rec(sub)
                self.rec((*sub, i))
                self.w(f"[[ {name} ]]\n" if self.rnd.random() < 0.2 else f"[[{name}]]\n")
                self.body(element, (*sub, i))

    def statement(self, base: tuple, keys: list[str], v: Any) -> None:
        if isinstance(v, dict) and v and self.rnd.random() < 0.3:
            for k, sub in v.items():  # dotted keys: a.b = 1
                self.statement(base, [*keys, k], sub)
            return
        self.comment()
        self.keyval(base, keys, v)
        self.w("   # trailing = comment\n" if self.rnd.random() < 0.2 else "\n")

    def keyval(self, base: tuple, keys: list[str], v: Any) -> None:
        for n in range(1, len(keys) + 1):
            self.rec((*base, *keys[:n]))
        dot = " . " if self.rnd.random() < 0.1 else "."
        self.w(dot.join(_key(k, self.rnd) for k in keys) + " = ")
        self.value((*base, *keys), v)

    def value(self, path: tuple, v: Any) -> None:
        if isinstance(v, bool):
            self.w("true" if v else "false")
        elif isinstance(v, int):
            self.w(f"{v:_}" if self.rnd.random() < 0.2 else str(v))
        elif isinstance(v, float):
            self.w(repr(v))
        elif isinstance(v, str):
            self.string(v)
        elif isinstance(v, list):
            multi = self.rnd.random() < 0.4
            self.w("[")
            for i, element in enumerate(v):
                self.w("\n  # [[x]] = 1\n  " if multi and self.rnd.random() < 0.3 else "")
                self.w("\n  " if multi else ("" if i == 0 else " "))
                self.rec((*path, i))
                self.value((*path, i), element)
                self.w("," if multi or i < len(v) - 1 else "")
            self.w("\n]" if multi else "]")
        else:
            self.w("{")
            for i, (k, sub) in enumerate(v.items()):
                self.w(" " if i == 0 else ", ")
                if isinstance(sub, dict) and sub and self.rnd.random() < 0.3:
                    k2, sub2 = next(iter(sub.items()))  # dotted key inside an inline table
                    if len(sub) == 1:
                        self.keyval(path, [k, k2], sub2)
                        continue
                self.keyval(path, [k], sub)
            self.w(" }" if v else "}")

    def string(self, s: str) -> None:
        r = self.rnd.random()
        ticks = len(s) - len(s.rstrip("'"))  # up to two quotes may touch the closing delimiter
        if r < 0.25 and "'''" not in s and _literal_ok(s.replace("\n", "")) and "\r" not in s \
                and not s.startswith("\n") and ticks <= 2 and ticks < len(s):
            self.w(f"'''{s}'''")
        elif r < 0.5:
            quotes = len(s) - len(s.rstrip('"'))
            tail = '"' * quotes if quotes <= 2 else ""
            body = _escape(s[: len(s) - len(tail)], True)
            body = "\\n" + body[1:] if body.startswith("\n") else body
            self.w('"""' + body + tail + '"""')
        elif r < 0.7 and "'" not in s and "\n" not in s and _literal_ok(s):
            self.w(f"'{s}'")
        else:
            self.w(f'"{_escape(s, False)}"')


# -- generic documents for the scanner ---------------------------------------------------------
TEXT = st.one_of(st.text(st.characters(blacklist_categories=("Cs",)), max_size=12),
                 st.sampled_from(ADVERSARIAL))
KEYS = st.one_of(st.from_regex(r"[A-Za-z0-9_-]{1,8}", fullmatch=True), TEXT)
SCALARS = st.one_of(st.integers(-(2**63), 2**63 - 1), st.booleans(), TEXT,
                    st.floats(allow_nan=False, allow_infinity=False))
VALUES = st.recursive(
    st.one_of(SCALARS, st.lists(SCALARS, max_size=3)),
    lambda inner: st.one_of(st.dictionaries(KEYS, inner, max_size=3),
                            st.lists(st.dictionaries(KEYS, inner, max_size=3), min_size=1,
                                     max_size=3)),
    max_leaves=12,
)
DOCS = st.dictionaries(KEYS, VALUES, max_size=5)


@SETTINGS
@given(doc=DOCS, seed=st.integers(0, 2**32))
def test_scanner_reports_the_written_line_of_every_key_path(doc: dict, seed: int) -> None:
    writer = Writer(seed)
    text = writer.document(doc)
    assert tomllib.loads(text) == doc, text  # the writer itself is correct
    lines = KeyLines(text)
    assert lines.paths() == writer.pos, text
    source = text.split("\n")
    for path, line in writer.pos.items():
        if isinstance(path[-1], str) and re.fullmatch(r"[A-Za-z0-9_-]+", path[-1]):
            assert path[-1] in source[line - 1]


@settings(max_examples=200, deadline=None)
@given(text=st.text(st.sampled_from(list("ab =.[]{}\"'#,\n\\\t1")), max_size=60))
def test_scanner_never_fails_and_stays_in_range(text: str) -> None:
    lines = KeyLines(text)
    for line in lines.paths().values():
        assert 1 <= line <= text.count("\n") + 1
    assert 1 <= lines.nearest(("a", 0, "b")) <= text.count("\n") + 1


# -- valid rigs ----------------------------------------------------------------------------------
NAMES = st.one_of(st.sampled_from(["初一(1)班", "录播教室", "讲台一体机", "Lab 3", "O'Neil \"A\""]),
                  st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=15)
                  ).filter(lambda s: s.strip() != "")
PORT = st.integers(1, 65535)
IPV4 = st.ip_addresses(v=4).map(str)
HOSTNAME = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?(\.[a-z]{2,6}){0,2}", fullmatch=True)
HOST = st.one_of(IPV4, HOSTNAME.filter(lambda h: not re.fullmatch(r"[0-9.]+", h)))
REAL_ADDRESS = st.one_of(
    st.builds("{}:{}".format, HOST, PORT),
    st.builds("[{}]:{}".format, st.ip_addresses(v=6), PORT),
    st.from_regex(r"COM[1-9][0-9]?|/dev/tty(USB|S|ACM)[0-9]", fullmatch=True),
    st.builds("{}{}:{}".format, st.sampled_from(["socket://", "rfc2217://"]), HOST, PORT),
    st.just("loop://"),
)
SIM_ADDRESS = st.one_of(st.sampled_from(["127.0.0.1:0", "[::1]:0", "localhost:0", "loop://"]),
                        st.builds("127.0.0.1:{}".format, PORT))
OPTION = st.dictionaries(st.sampled_from(["baudrate", "timeout_s", "input", "retries", "tls"]),
                         st.one_of(st.integers(-9, 10**6), st.booleans(), NAMES), max_size=3)


DRIVERS = st.from_regex(r"[a-z0-9][a-z0-9-]{0,8}|table:[A-Za-z0-9][A-Za-z0-9._+-]{0,8}",
                        fullmatch=True)
CLAIMS = st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True), max_size=3, unique=True)


@st.composite
def devices(draw: st.DrawFn) -> dict[str, Any]:
    simulated = draw(st.booleans())
    d: dict[str, Any] = {
        "role": draw(st.sampled_from(DEVICE_ROLES)),
        "driver": draw(DRIVERS),
        "address": draw(SIM_ADDRESS if simulated else REAL_ADDRESS),
    }
    if draw(st.booleans()):
        d["name"] = draw(NAMES)
    if draw(st.booleans()):
        d["password_env"] = draw(st.from_regex(r"[A-Z_][A-Z0-9_]{0,12}", fullmatch=True))
    if draw(st.booleans()):
        d["options"] = draw(OPTION)
    if simulated:
        d["simulator"] = {"kind": draw(st.from_regex(r"[a-z][a-z0-9-]{0,6}", fullmatch=True)),
                          **draw(st.dictionaries(st.sampled_from(["ignore_set", "lag_ms"]),
                                                 st.integers(0, 500), max_size=2))}
    return dict(draw(st.permutations(list(d.items()))))


@st.composite
def rig_docs(draw: st.DrawFn) -> dict[str, Any]:
    ids = draw(st.lists(st.from_regex(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,7}", fullmatch=True),
                        min_size=1, max_size=4, unique_by=str.lower))
    rooms = []
    for room_id in ids:
        room: dict[str, Any] = {"id": room_id, "name": draw(NAMES),
                                "seats": draw(st.integers(1, 500)), "claims": draw(CLAIMS)}
        if draw(st.booleans()):
            room["devices"] = draw(st.lists(devices(), max_size=3))
        rooms.append(room)
    school = {"name": draw(NAMES), "level": draw(st.sampled_from(SCHOOL_LEVELS)),
              "teachers": draw(st.integers(0, 10**4)), "students": draw(st.integers(0, 10**5)),
              "classrooms_total": len(rooms) + draw(st.integers(0, 300)), "profile": draw(NAMES)}
    return {"school": school, "rooms": rooms} if draw(st.booleans()) else \
        {"rooms": rooms, "school": school}


def expected_rig(doc: dict[str, Any], pos: dict[tuple, int]) -> Rig:
    rooms = tuple(
        Room(r["id"], r["name"], r["seats"], tuple(r["claims"]), tuple(
            Device(d["role"], d["driver"], d["address"], d.get("name", ""), d.get("password_env"),
                   d.get("options", {}), d.get("simulator"), pos[("rooms", i, "devices", j)])
            for j, d in enumerate(r.get("devices", []))), pos[("rooms", i)])
        for i, r in enumerate(doc["rooms"]))
    return Rig(RIG_PATH, School(**doc["school"]), rooms)


@SETTINGS
@given(doc=rig_docs(), seed=st.integers(0, 2**32))
def test_valid_rigs_round_trip(doc: dict[str, Any], seed: int) -> None:
    writer = Writer(seed)
    text = writer.document(doc)
    assert parse_rig(text, RIG_PATH) == expected_rig(doc, writer.pos)


# -- one mistake: the error names that field and its line ---------------------------------------
def _mutations(doc: dict[str, Any]) -> list[tuple]:
    """(operation, path, new value[, reported path]): "set", "add" or "del" (reported at the
    parent table's line)."""
    out: list[tuple] = [
        ("set", ("school", "level"), "basik"), ("set", ("school", "teachers"), -1),
        ("set", ("school", "students"), True), ("del", ("school", "profile"), None),
        ("set", ("school", "classrooms_total"), len(doc["rooms"]) - 1),
    ]
    for i, room in enumerate(doc["rooms"]):
        r = ("rooms", i)
        out += [("set", (*r, "seats"), bad) for bad in (0, -3, 48.0, "48", False)]
        out += [("set", (*r, "id"), bad) for bad in ("A 101", "a/b", "..", "x" * 65)]
        out += [("del", (*r, "claims"), None), ("add", (*r, "seet"), 4),
                ("set", (*r, "claims"), ["smart", "smart"], (*r, "claims", 1))]
        if i:
            out.append(("set", (*r, "id"), doc["rooms"][0]["id"].swapcase()))
        for j, dev in enumerate(room.get("devices", [])):
            d = (*r, "devices", j)
            sim = "simulator" in dev
            out += [("set", (*d, "address"), bad) for bad in
                    ("10.0.0.1", "10.0.0.1:70000", "fe80::1:4352", "host_name:80")]
            out += [("set", (*d, "address"), "10.0.0.1:0" if not sim else "10.0.0.1:5000"),
                    ("set", (*d, "password_env"), "a101 password"), ("set", (*d, "role"), "tv"),
                    ("set", (*d, "driver"), "PJLink"), ("del", (*d, "driver"), None),
                    ("add", (*d, "token"), "s3cret"), ("add", (*d, "pasword_env"), "X")]
            if "options" in dev:
                out.append(("add", (*d, "options", "api_key"), "abc"))
    return out


def _apply(doc: dict[str, Any], op: str, path: tuple, value: Any) -> None:
    node: Any = doc
    for part in path[:-1]:
        node = node[part]
    if op == "del":
        del node[path[-1]]
    else:
        node[path[-1]] = value


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=rig_docs(), seed=st.integers(0, 2**32), data=st.data())
def test_one_mistake_is_reported_at_its_field_and_line(doc: dict, seed: int, data) -> None:
    op, path, value, *reported = data.draw(st.sampled_from(_mutations(doc)))
    _apply(doc, op, path, value)
    path = reported[0] if reported else path
    writer = Writer(seed)
    text = writer.document(doc)
    with pytest.raises(RigError) as caught:
        parse_rig(text, RIG_PATH)
    problems = caught.value.problems
    assert len(problems) == 1, str(caught.value)
    p = problems[0]
    assert p.field == field_name(path)
    assert p.line == writer.pos[path[:-1] if op == "del" else path], text
    assert p.file == str(RIG_PATH) and " — fix: " in p.message and " / " in p.message
    assert str(p).startswith(f"{RIG_PATH}:{p.line}: {p.field}: ")


# -- the address and secret checks on their own ---------------------------------------------------
@SETTINGS
@given(address=REAL_ADDRESS)
def test_real_addresses_are_accepted(address: str) -> None:
    assert address_problem(address, simulated=False) is None


@SETTINGS
@given(host=HOST, port=st.integers(65536, 10**6))
def test_ports_above_65535_are_rejected(host: str, port: int) -> None:
    problem = address_problem(f"{host}:{port}", simulated=False)
    assert problem is not None and "65535" in problem[0]


@settings(max_examples=200, deadline=None)
@given(address=st.text(max_size=30), simulated=st.booleans())
def test_address_check_never_crashes(address: str, simulated: bool) -> None:
    problem = address_problem(address, simulated)
    assert problem is None or all(isinstance(s, str) and s for s in problem)


@SETTINGS
@given(word=st.sampled_from(["password", "Secret", "TOKEN", "api_key", "wifi-psk", "pwd"]),
       prefix=st.from_regex(r"([a-z]{1,5}_)?", fullmatch=True))
def test_secret_names_are_recognised_but_env_references_are_not(word: str, prefix: str) -> None:
    assert looks_secret(prefix + word)
    assert not looks_secret(prefix + word + "_env")
