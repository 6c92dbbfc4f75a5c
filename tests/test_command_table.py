"""Command tables: hex/checksum/field codec and the validating loader (random tables, mistakes)."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classcert.device_drivers.command_table import (
    CHECKSUM_WIDTH,
    TABLES_DIR,
    Checksum,
    Field,
    HexError,
    TableError,
    _overlap,
    available_tables,
    find_table,
    format_hex,
    load_table,
    parse_pattern,
    parse_table,
)
from classcert.tomlpos import field_name

REPO = Path(__file__).resolve().parent.parent
SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PATH = Path("tables/gen.toml")


# -- hex patterns ----------------------------------------------------------------------------
def _spell(data: bytes, rnd: random.Random) -> str:
    """The same bytes written in one of the spellings manuals use."""
    style = rnd.randrange(4)
    if style == 0:
        return " ".join(f"{b:02X}" for b in data)
    if style == 1:
        return ", ".join(f"{b:02x}" for b in data)
    if style == 2:
        return " ".join(f"0x{b:02X}" for b in data)
    return "".join(f"{b:02X}" for b in data)


@SETTINGS
@given(st.binary(min_size=1, max_size=40), st.integers(0, 3))
def test_hex_round_trip_in_every_spelling(data, seed):
    assert parse_pattern(format_hex(data)).literal == data
    assert parse_pattern(_spell(data, random.Random(seed))).literal == data


_TOKENS = st.one_of(
    st.binary(min_size=1, max_size=3).map(lambda b: (format_hex(b), list(b))),
    st.just(("??", [None])),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters='"'),
            min_size=1, max_size=5).map(lambda t: (f'"{t}"', list(t.encode()))),
)


@SETTINGS
@given(st.lists(_TOKENS, min_size=1, max_size=8), st.lists(_TOKENS, max_size=4), st.booleans(),
       st.binary(max_size=12))
def test_pattern_tokens_and_matching(head, tail, star, filler):
    text = " ".join(t for t, _ in head) + (" * " + " ".join(t for t, _ in tail) if star else "")
    pat = parse_pattern(text)
    want_head = [b for _, bs in head for b in bs]
    want_tail = [b for _, bs in tail for b in bs] if star else []
    assert (list(pat.head), list(pat.tail), pat.star) == (want_head, want_tail, star)
    frame = bytes(0x5A if b is None else b for b in want_head) + (filler if star else b"") + \
        bytes(0xA5 if b is None else b for b in want_tail)
    assert pat.matches(frame)
    assert all(pat.may_grow_into(frame[:k]) for k in range(len(want_head)))
    fixed = [i for i, b in enumerate(want_head) if b is not None]
    if fixed:  # a changed fixed byte no longer matches
        bad = bytearray(frame)
        bad[fixed[0]] ^= 0xFF
        assert not pat.matches(bytes(bad)) and not pat.may_grow_into(bytes(bad[: fixed[0] + 1]))
    if not star:
        assert not pat.matches(frame + b"\x00") and not pat.matches(frame[:-1])


_SMALL = st.lists(st.sampled_from(["00", "01", "??"]), max_size=4)


@SETTINGS
@given(_SMALL, _SMALL, st.booleans(), _SMALL, _SMALL, st.booleans(),
       st.lists(st.binary(max_size=7).map(lambda b: bytes(x & 1 for x in b)), max_size=20))
def test_overlap_check_misses_no_common_frame(h1, t1, s1, h2, t2, s2, frames):
    def pattern(head, tail, star):
        try:
            return parse_pattern(" ".join(head + (["*"] + tail if star else [])))
        except HexError:  # no bytes at all
            return None

    a, b = pattern(h1, t1, s1), pattern(h2, t2, s2)
    if a is None or b is None:
        return
    for frame in frames:  # frames of 0/1 bytes often match both
        if a.matches(frame) and b.matches(frame):
            assert _overlap(a, b) and _overlap(b, a)
    if not (a.star and b.star) and _overlap(a, b):  # exact: a frame matching both exists
        fixed, other = (a, b) if not a.star else (b, a)
        frame = bytes(t if t is not None else 0 for t in fixed.head)
        merged = bytearray(frame)
        spots = [*range(len(other.head)), *range(len(frame) - len(other.tail), len(frame))]
        tokens = [*other.head, *other.tail] if other.star else list(other.head)
        for i, t in zip(spots if other.star else range(len(frame)), tokens, strict=True):
            if t is not None and fixed.head[i] is None:
                merged[i] = t
        assert fixed.matches(bytes(merged)) and other.matches(bytes(merged))


@pytest.mark.parametrize("text, says", [
    ("AA 0", "'0' is not a byte"), ("AA GG", "'GG' is not a byte"), ("0x", "'0x' is not"),
    ("AA * 01 *", "only one *"), ('AA "OK', "unclosed quote"), ("", "no bytes"),
    (" , ", "no bytes"), ('AA "é"', "printable ASCII"), ('""', "printable ASCII"),
])
def test_bad_hex_is_explained(text, says):
    with pytest.raises(HexError, match=re.escape(says)):
        parse_pattern(text)


# -- checksums -------------------------------------------------------------------------------
def test_crc16_modbus_known_frame():
    # Read holding registers 0..9 of unit 1: the CRC every Modbus document shows is C5 CD.
    assert Checksum("crc16-modbus").compute(bytes.fromhex("01030000000A")) == b"\xc5\xcd"
    assert Checksum("crc16-modbus", byte_order="big").compute(bytes.fromhex("01030000000A")) \
        == b"\xcd\xc5"


@SETTINGS
@given(st.binary(max_size=64))
def test_checksum_definitions(data):
    assert Checksum("sum8").compute(data) == bytes([sum(data) % 256])
    assert reduce(lambda a, b: a ^ b, data + Checksum("xor8").compute(data), 0) == 0
    crc = Checksum("crc16-modbus")
    assert crc.compute(data + crc.compute(data)) == b"\x00\x00"  # the CRC residue is zero
    assert Checksum("none").compute(data) == b""


@SETTINGS
@given(st.sampled_from(["sum8", "xor8", "crc16-modbus"]), st.binary(min_size=1, max_size=30),
       st.integers(0, 3), st.binary(max_size=2), st.data())
def test_fill_then_check(kind, body, first, trailer, data):
    first = min(first, len(body))
    width = CHECKSUM_WIDTH[kind]
    cs = Checksum(kind, first, -(width + len(trailer)))
    frame = cs.fill(body + bytes(width) + trailer)
    assert frame[: len(body)] == body and frame.endswith(trailer)
    assert cs.wrong(frame) is None
    if first < len(body):
        i = data.draw(st.integers(first, len(body) - 1))
        bad = bytearray(frame)
        bad[i] ^= data.draw(st.integers(1, 255))
        found, computed = cs.wrong(bytes(bad))
        assert found == frame[len(body): len(body) + width] and computed != found


# -- fields ----------------------------------------------------------------------------------
@SETTINGS
@given(st.sampled_from(["uint", "uint-le", "bcd", "ascii-int"]), st.integers(1, 4),
       st.data(), st.sampled_from([1.0, 0.5, 2.54]))
def test_numeric_field_round_trip(fmt, length, data, scale):
    top = 10 ** (2 * length) if fmt == "bcd" else 10 ** length if fmt == "ascii-int" else \
        256 ** length
    number = data.draw(st.integers(0, top - 1))
    f = Field("v", 2, 2 + length, fmt, scale)
    frame = b"\xaa\x01" + f.encode(number * scale, length) + b"\x0d"
    assert f.decode(frame) == pytest.approx(number * scale)


@SETTINGS
@given(st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20))
def test_text_field_round_trip(text):
    f = Field("text", 3, -2, "ascii")
    frame = b"\x3b\x01\xf0" + f.encode(text, len(text)) + b"\x00\x0d"
    assert f.decode(frame) == text


def test_field_decode_errors():
    with pytest.raises(ValueError, match="not BCD"):
        Field("v", 0, 1, "bcd").decode(b"\x1a")
    with pytest.raises(ValueError, match="empty"):
        Field("v", 5, 6).decode(b"\x01")


# -- random table files ----------------------------------------------------------------------
SETS = ["power_on", "power_off", "mute_on", "mute_off", "video_mute_on", "video_mute_off"]
STATES = {"power_query": ["on", "off", "warming", "cooling"], "mute_query": ["on", "off"],
          "video_mute_query": ["on", "off"]}
MISTAKES = ["bad_token", "checksum", "no_terminator", "meaning", "unknown_action",
            "missing_send", "model_key", "framing", "send_wildcard", "syntax", "overlap",
            "field_range"]


@dataclass
class Gen:
    """A random valid table written line by line, remembering where each item lands."""

    rnd: random.Random
    lines: list[str] = field(default_factory=list)
    where: dict[tuple, int] = field(default_factory=dict)
    sends: dict[str, bytes] = field(default_factory=dict)
    replies: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # action -> (key, m)

    def add(self, text: str, path: tuple | None = None) -> int:
        self.lines.append(text)
        if path is not None:
            self.where[path] = len(self.lines)
        return len(self.lines)

    def build(self) -> None:
        r = self.rnd
        self.framing = r.choice(["terminator", "fixed"])
        self.term = r.choice([b"\r", b"\r\n", b"\x03"]) if self.framing == "terminator" else b""
        self.kind = r.choice(list(CHECKSUM_WIDTH))
        width = CHECKSUM_WIDTH[self.kind]
        self.cs = Checksum(self.kind, r.randint(0, 2), -(width + len(self.term))) if width \
            else Checksum()
        self.head, self.rhead = 0xA0 + r.randrange(8), 0xB0 + r.randrange(8)
        self.add("# generated table")
        self.add("table_format = 1")
        self.add("[model]", ("model",))
        self.add('make = "Gen"', ("model", "make"))
        self.add('model = "Random 1"', ("model", "model"))
        self.add(f'framing = "{self.framing}"', ("model", "framing"))
        if self.term:
            self.add(f'terminator = "{format_hex(self.term)}"', ("model", "terminator"))
        if width:
            self.add("[checksum]", ("checksum",))
            self.add(f'kind = "{self.kind}"')
            self.add(f"first = {self.cs.first}")
            if r.random() < 0.5:
                self.add(f"at = {self.cs.at}")
        if r.random() < 0.5:
            self.add("[replies]", ("replies",))
            for k, meaning in enumerate(["rejected", "busy", "failure"][: r.randint(1, 3)]):
                self.add(f'"{self.frame(self.rhead, 0xEE, k + 1)}" = "{meaning}"')
        actions = [a for a in [*SETS, *STATES, "screen_size_query"] if r.random() < 0.6]
        inputs = [f"in{k}" for k in range(r.randint(0, 4))]
        code = 0x10
        for action in actions:
            code += 1
            if action in STATES:
                meanings = r.sample(STATES[action], r.randint(1, len(STATES[action])))
                self.command(action, code, [(m, self.frame(self.rhead, code, d + 1))
                                            for d, m in enumerate(meanings)])
            elif action == "screen_size_query":
                self.command(action, code, [("value", self.frame(self.rhead, code, None))],
                             fields="fields = { inches = { from = 2 } }")
            else:
                self.command(action, code, [("ok", self.frame(self.rhead, code, 1))])
        for k, name in enumerate(inputs):
            self.command(f"input_select.{name}", 0x60, [("ok", self.frame(self.rhead, 0x60, k))],
                         data=k)
        if inputs:
            self.command("input_query", 0x61, [(n, self.frame(self.rhead, 0x61, k))
                                               for k, n in enumerate(inputs)])
        if not self.sends:
            self.command("power_on", 0x01, [("ok", self.frame(self.rhead, 1, 1))])

    def frame(self, head: int, code: int, data: int | None, send: bool = False) -> str:
        """Hex text of a frame; data None = a ?? value byte (checksum then ?? too)."""
        raw = bytes([head, code, data or 0])
        width = self.cs.width
        full = self.cs.fill(raw + bytes(width) + self.term) if width else raw + self.term
        tokens = [f"{b:02X}" for b in full]
        if data is None:
            tokens[2] = "??"
            if width:
                start = self.cs.slot(len(full))
                tokens[start: start + width] = ["??"] * width
        elif send and width and self.rnd.random() < 0.3:
            start = self.cs.slot(len(full))
            tokens[start: start + width] = ["??"] * width  # computed when sent
        elif self.rnd.random() < 0.3:
            return _spell(full, self.rnd)
        return " ".join(tokens)

    def command(self, action: str, code: int, replies: list[tuple[str, str]],
                fields: str = "", data: int = 0) -> None:
        path = ("commands", *action.split("."))
        self.add(f"[{'.'.join(path)}]", path)
        send = self.frame(self.head, code, data, send=True)
        self.add(f'send = "{send}"', (*path, "send"))
        pat = parse_pattern(send)
        self.sends[action] = self.cs.fill(bytes(b or 0 for b in pat.head))
        self.replies[action] = [(key, m) for m, key in replies]
        if fields:
            self.add(fields, (*path, "fields"))
        if self.rnd.random() < 0.5:
            inline = ", ".join(f'"{key}" = "{m}"' for m, key in replies)
            n = self.add(f"replies = {{ {inline} }}")
            for _, key in replies:
                self.where[(*path, "replies", key)] = n
        else:
            self.add(f"[{'.'.join(path)}.replies]")
            for m, key in replies:
                self.add(f'"{key}" = "{m}"', (*path, "replies", key))

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _gen(seed: int) -> Gen:
    g = Gen(random.Random(seed))
    g.build()
    return g


@SETTINGS
@given(st.integers(0, 2**32))
def test_random_valid_tables_load(seed):
    g = _gen(seed)
    table = parse_table(g.text(), PATH)
    assert (table.name, table.framing, table.terminator, table.checksum) == (
        "gen", g.framing, g.term, g.cs)
    assert list(table.commands) == list(g.sends)
    for action, send in g.sends.items():
        cmd = table.commands[action]
        assert cmd.send == send and table.checksum.wrong(send) is None
        assert [(r.pattern.text, r.meaning) for r in cmd.replies] == g.replies[action]
        for key, meaning in g.replies[action]:
            literal = parse_pattern(key).literal
            if literal is not None:
                assert table.match(action, literal).meaning == meaning
    assert table.inputs == [a.split(".")[1] for a in g.sends if a.startswith("input_select.")]


def _inject(g: Gen, mistake: str, r: random.Random) -> tuple[str, str, int]:
    """Text with one mistake, and the field and line the error must name."""
    lines = list(g.lines)
    actions = list(g.sends)
    action = r.choice(actions)
    path = ("commands", *action.split("."))
    send_line = g.where[(*path, "send")]
    if mistake == "bad_token":
        lines[send_line - 1] = lines[send_line - 1][:-1] + ' G7"'
        return "\n".join(lines), field_name((*path, "send")), send_line
    if mistake == "checksum":
        start = g.cs.slot(len(g.sends[action]))
        bad = bytearray(g.sends[action])
        bad[start] ^= 0x01
        lines[send_line - 1] = f'send = "{format_hex(bytes(bad))}"'
        return "\n".join(lines), field_name((*path, "send")), send_line
    if mistake == "send_wildcard":
        tokens = format_hex(g.sends[action]).split()
        tokens[1] = "??"
        lines[send_line - 1] = f'send = "{" ".join(tokens)}"'
        return "\n".join(lines), field_name((*path, "send")), send_line
    if mistake == "missing_send":
        lines[send_line - 1] = "# no send here"
        return "\n".join(lines), field_name((*path, "send")), g.where[path]
    key, meaning = g.replies[action][0]
    reply_line = g.where[(*path, "replies", key)]
    if mistake in ("no_terminator", "meaning"):
        new_key = key
        if mistake == "no_terminator":  # drop the last byte, whatever the spelling
            new_key = key.rsplit(" ", 1)[0].rstrip(",") if " " in key else key[:-2]
        old = f'"{key}" = "{meaning}"'
        assert old in lines[reply_line - 1]
        lines[reply_line - 1] = lines[reply_line - 1].replace(
            old, f'"{new_key}" = "{"sometimes" if mistake == "meaning" else meaning}"')
        return "\n".join(lines), field_name((*path, "replies", new_key)), reply_line
    if mistake == "unknown_action":
        header = g.where[path]
        lines[header - 1] = lines[header - 1].replace(path[1], path[1] + "x", 1)
        return "\n".join(lines), field_name(("commands", path[1] + "x")), header
    if mistake == "model_key":
        lines.insert(g.where[("model",)], 'colour = "red"')
        return "\n".join(lines), "model.colour", g.where[("model",)] + 1
    if mistake == "framing":
        n = g.where[("model", "framing")]
        lines[n - 1] = 'framing = "lines"'
        return "\n".join(lines), "model.framing", n
    if mistake == "syntax":
        n = r.randint(2, len(lines))
        lines.insert(n - 1, "broken = ")
        return "\n".join(lines), "", n
    if mistake == "overlap":  # a second reply that can match the first one's bytes
        tokens = key.split() if " " in key else format_hex(parse_pattern(key).literal).split()
        tokens[1] = "??"
        other = "failure" if meaning != "failure" else "busy"
        extra = f'"{" ".join(tokens)}" = "{other}"'
        n = reply_line
        if lines[n - 1].startswith("replies = {"):
            lines[n - 1] = lines[n - 1][:-2] + f", {extra} }}"
        else:
            lines.insert(n, extra)
            n += 1
        return "\n".join(lines), field_name((*path, "replies", " ".join(tokens))), n
    assert mistake == "field_range"
    n = g.where[("commands", "screen_size_query", "fields")]
    lines[n - 1] = "fields = { inches = { from = 0 } }"
    return "\n".join(lines), "commands.screen_size_query.fields.inches", n


def _applicable(g: Gen, mistake: str) -> bool:
    return {"checksum": g.cs.width > 0, "no_terminator": g.framing == "terminator",
            "field_range": "screen_size_query" in g.sends}.get(mistake, True)


@SETTINGS
@given(st.integers(0, 2**32), st.sampled_from(MISTAKES))
def test_each_mistake_names_field_and_line(seed, mistake):
    g = _gen(seed)
    if not _applicable(g, mistake):
        mistake = "bad_token"
    text, where, line = _inject(g, mistake, random.Random(seed))
    with pytest.raises(TableError) as err:
        parse_table(text, PATH)
    found = [(p.field, p.line) for p in err.value.problems]
    assert (where, line) in found, (mistake, found)
    assert all(str(PATH) in str(p) and " — fix: " in p.message and " / " in p.message
               for p in err.value.problems)


# -- specific checks and files ---------------------------------------------------------------
BASE = """
[model]
make = "M"
model = "N"
framing = "fixed"
[commands.power_on]
send = "01 02"
replies = { "81 02" = "ok" }
"""


@pytest.mark.parametrize("extra, field_, says", [
    ('[commands.power_query]\nsend = "01 03"\nreplies = { "81 03" = "ok" }',
     "commands.power_query.replies.\"81 03\"", "meaning \"ok\" is not known here"),
    ('[commands.power_query]\nsend = "01 03"\nreplies = {}', "commands.power_query",
     "has no reply meaning on / off"),
    ('[commands.screen_size_query]\nsend = "01 04"\nreplies = { "81 ??" = "value" }',
     "commands.screen_size_query.fields", "is missing"),
    ('[commands.power_off]\nsend = "01 05"\nreplies = { "81 05" = "ok" }\nfields = {}',
     "commands.power_off.fields", "captures no values"),
    ('[commands.input_select.busy]\nsend = "01 06"\nreplies = { "81 06" = "ok" }',
     "commands.input_select.busy", "not a usable input name"),
    ('[commands.input_query]\nsend = "01 07"\nreplies = { "81 07" = "hdmi9" }',
     "commands.input_query.replies.\"81 07\"", "not known here"),
    ('[commands.power_off]\nsend = "01 05 *"\nreplies = { "81 05" = "ok" }',
     "commands.power_off.send", "'*' is not allowed"),
    ("[checksum]\nkind = \"sum8\"\nbyte_order = \"big\"", "checksum.byte_order",
     "only applies to crc16-modbus"),
    ("table_format = 2", "table_format", "must be 1"),
    ("[commands.power_off]", "commands.power_off.send", "is missing"),
    ("[checksum]", "checksum.kind", "is missing"),
    ('[checksum]\nkind = "xor8"\nat = -2\n[commands.mute_on]\nsend = "01 02 03 ?? ??"\n'
     'replies = { "81 02" = "ok" }', "commands.mute_on.send", "has ?? in a command to send"),
    ('[commands.lamp_query]\nsend = "01 09"\nreplies = { "81 ??" = "value" }\n'
     'fields = { hours = { from = 1, format = "ascii" } }',
     "commands.lamp_query.fields.hours.format", "must be uint | uint-le | bcd | ascii-int"),
])
def test_specific_problems(extra, field_, says):
    text = extra + "\n" + BASE if extra.startswith("table_format") else BASE + extra
    with pytest.raises(TableError) as err:
        parse_table(text, PATH)
    assert any(p.field == field_ and says in p.message for p in err.value.problems), \
        err.value.problems


def test_missing_model_and_commands():
    with pytest.raises(TableError) as err:
        parse_table("table_format = 1\n", PATH)
    assert [(p.field, p.message.split(" — ")[0]) for p in err.value.problems] == [
        ("model", "is missing"), ("commands", "no commands are defined")]


def test_base_is_valid_and_terminator_only_with_its_framing():
    assert parse_table(BASE, PATH).commands["power_on"].send == b"\x01\x02"
    with pytest.raises(TableError, match="model.terminator: is only used with framing"):
        parse_table(BASE.replace('framing = "fixed"', 'framing = "fixed"\nterminator = "0D"'),
                    PATH)
    with pytest.raises(TableError, match="does not end with the terminator 0D"):
        parse_table(BASE.replace('framing = "fixed"', 'framing = "terminator"\nterminator = '
                                 '"0D"'), PATH)


def test_shipped_tables_load_and_example_says_it_is_an_example():
    assert "generic-rs232-panel" in available_tables()
    for name in available_tables():
        table = load_table(name)
        assert table.commands and table.path.parent == TABLES_DIR
    text = (TABLES_DIR / "generic-rs232-panel.toml").read_text(encoding="utf-8")
    assert "AN EXAMPLE, NOT THE CODES OF ANY REAL PANEL" in text and "仅为示例" in text


def test_docs_worked_example_is_a_valid_table():
    doc = (REPO / "docs" / "command-tables.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```toml\n(.*?)```", doc, re.S)
                 if b.startswith("table_format"))
    table = parse_table(block, Path("x86-panel.toml"))
    assert table.inputs == ["hdmi1", "hdmi2", "ops"] and table.framing == "terminator"
    assert table.match("firmware_query", b"\x3b\x01\xf0V1.2\x00\x0d").meaning == "value"


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(TableError, match="no command table named 'nope'.*generic-rs232-panel"):
        find_table("nope")
    with pytest.raises(TableError, match="not found"):
        load_table(tmp_path / "absent.toml")
    bad = tmp_path / "gbk.toml"
    bad.write_bytes("make = '中文'".encode("gbk"))
    with pytest.raises(TableError, match="UTF-8"):
        load_table(bad)
    good = tmp_path / "mine.toml"
    good.write_text("\ufeff" + BASE, encoding="utf-8")
    assert load_table(str(good)).name == "mine"
    assert isinstance(TableError([]), ValueError)
