"""Unit tests for the rig loader (classcert.rig) and the key-line scanner (classcert.tomlpos)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from classcert.model import Device
from classcert.rig import RigError, RigProblem, address_problem, load_rig, parse_rig
from classcert.tomlpos import KeyLines, field_name, key_line

ROOT = Path(__file__).resolve().parent.parent
FILE = Path("rigs/x.toml")

SCHOOL = """\
[school]
name = "重庆市某某中学"
level = "basic"
teachers = 120
students = 1800
classrooms_total = 40
profile = "cq-jj"
"""
ROOM = """\
[[rooms]]
id = "{id}"
name = "初一(1)班"
seats = 48
claims = ["multimedia", "smart"]
"""
DEVICE = """\
[[rooms.devices]]
role = "display"
driver = "pjlink"
address = "{address}"
"""


def rig_text(*rooms: str) -> str:
    return SCHOOL + "\n" + "\n".join(rooms)


def room(room_id: str = "A101", *devices: str, extra: str = "") -> str:
    return ROOM.format(id=room_id) + extra + "".join("\n" + d for d in devices)


def device(address: str = "192.168.10.21:4352", extra: str = "") -> str:
    return DEVICE.format(address=address) + extra


def problems(text: str) -> list[RigProblem]:
    with pytest.raises(RigError) as caught:
        parse_rig(text, FILE)
    assert str(caught.value) == "\n".join(str(p) for p in caught.value.problems)
    return caught.value.problems


def line_of(text: str, needle: str, nth: int = 0) -> int:
    """1-based line of the nth line that starts with `needle`."""
    hits = [i + 1 for i, ln in enumerate(text.splitlines()) if ln.startswith(needle)]
    return hits[nth]


def only(text: str) -> RigProblem:
    found = problems(text)
    assert len(found) == 1, "\n".join(map(str, found))
    p = found[0]
    assert p.file == str(FILE) and " — fix: " in p.message and " / " in p.message
    assert re.search(r"[\u4e00-\u9fff]", p.message.split(" / ")[-1]), "zh-CN part missing"
    return p


# -- valid files -------------------------------------------------------------------------------
def test_minimal_rig_parses_into_the_model() -> None:
    text = rig_text(room("A101", device()), room("A102"))
    rig = parse_rig(text, FILE)
    assert rig.path == FILE and rig.school.teachers == 120 and rig.school.profile == "cq-jj"
    assert [r.id for r in rig.rooms] == ["A101", "A102"]
    assert rig.rooms[0].claims == ("multimedia", "smart")
    assert rig.rooms[0].line == line_of(text, "[[rooms]]")
    assert rig.rooms[1].line == line_of(text, "[[rooms]]", 1)
    assert rig.rooms[0].devices == (
        Device("display", "pjlink", "192.168.10.21:4352", line=line_of(text, "[[rooms.devices]]")),
    )
    assert rig.rooms[1].devices == ()


def test_example_school_file_parses() -> None:
    path = ROOT / "rigs" / "example-school.toml"
    rig = load_rig(path)
    text = path.read_text(encoding="utf-8")
    assert rig.school.profile == "cq-jj" and len(rig.rooms) >= 3
    assert all(d.simulator is None for r in rig.rooms for d in r.devices), "a real school"
    assert {d.role for r in rig.rooms for d in r.devices} >= {"display", "recorder", "ups"}
    headers = [i + 1 for i, ln in enumerate(text.splitlines()) if ln == "[[rooms.devices]]"]
    assert [d.line for r in rig.rooms for d in r.devices] == headers


def test_documented_example_parses() -> None:
    doc = (ROOT / "docs" / "rig-format.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```toml\n(.*?)^```", doc, flags=re.S | re.M)
    assert len(blocks) == 1, "the doc has exactly one complete ```toml example"
    rig = parse_rig(blocks[0], Path("docs/rig-format.md"))
    assert rig.rooms[-1].claims == () and len(rig.rooms) == 3


def test_inline_devices_empty_claims_and_optional_fields() -> None:
    text = rig_text(room("A1", extra=(
        'devices = [\n  { role = "ups", driver = "table:ups-megatec", address = "COM3" },\n'
        '  { role = "other", driver = "x", address = "loop://", name = "n",'
        ' password_env = "_X1", options = { baudrate = 9600 } },\n]\n'
    )).replace('claims = ["multimedia", "smart"]', "claims = []"))
    r = parse_rig(text, FILE).rooms[0]
    assert r.claims == ()
    assert [d.line for d in r.devices] == [line_of(text, "  { role"), line_of(text, "  { role", 1)]
    assert r.devices[1].options == {"baudrate": 9600} and r.devices[1].password_env == "_X1"


def test_simulated_device_may_use_port_zero() -> None:
    dev = device("127.0.0.1:0", 'simulator = { kind = "pjlink", ignore_set = true }\n')
    d = parse_rig(rig_text(room("A1", dev)), FILE).rooms[0].devices[0]
    assert d.simulator == {"kind": "pjlink", "ignore_set": True} and d.address == "127.0.0.1:0"


def test_windows_line_endings_give_the_same_rig_and_lines() -> None:
    text = rig_text(room("A1", device()), room("A2").replace("seats = 48", "seats = 0"))
    p = only(text.replace("\n", "\r\n"))
    assert p.line == line_of(text, "seats", 1)
    good = rig_text(room("A1", device()))
    assert parse_rig(good.replace("\n", "\r\n"), FILE) == parse_rig(good, FILE)


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + rig_text(room()).encode())
    assert load_rig(path).rooms[0].id == "A101"


# -- file and syntax errors --------------------------------------------------------------------
def test_missing_file_names_the_file() -> None:
    with pytest.raises(RigError) as caught:
        load_rig("rigs/does-not-exist.toml")
    assert str(caught.value).startswith("rigs/does-not-exist.toml: cannot read the rig file")


def test_gbk_file_is_rejected_with_the_line(tmp_path: Path) -> None:
    path = tmp_path / "gbk.toml"
    path.write_bytes(rig_text(room()).encode("gbk"))
    (p,) = caught_problems(path)
    assert p.line == 2 and "UTF-8" in p.message  # 重庆市某某中学 is on line 2


def caught_problems(path: Path) -> list[RigProblem]:
    with pytest.raises(RigError) as caught:
        load_rig(path)
    return caught.value.problems


def test_toml_syntax_error_gives_line_and_column() -> None:
    text = rig_text(room()).replace("seats = 48", "seats = = 48")
    p = only(text)
    assert (p.line, p.column) == (line_of(text, "seats"), 9)
    assert str(p).startswith(f"rigs/x.toml:{p.line}:9: TOML syntax error: ")


def test_unterminated_string_at_end_of_document() -> None:
    p = only('[school]\nname = "x')
    assert p.line == 2 and "TOML syntax error" in p.message


# -- missing fields and wrong types ------------------------------------------------------------
@pytest.mark.parametrize(("key", "header"), [
    ("name", "[school]"), ("level", "[school]"), ("profile", "[school]"),
    ("seats", "[[rooms]]"), ("claims", "[[rooms]]"), ("id", "[[rooms]]"),
    ("driver", "[[rooms.devices]]"), ("address", "[[rooms.devices]]"),
])
def test_missing_key_is_reported_at_its_table_header(key: str, header: str) -> None:
    text = rig_text(room("A1", device()))
    text = re.sub(rf"^{key} = .*\n", "", text, count=1, flags=re.M)  # the first one only
    found = [p for p in problems(text) if p.field.endswith("." + key)]
    assert found and all(p.line == line_of(text, header) for p in found)
    assert "is missing" in found[0].message and "缺少" in found[0].message


def test_missing_school_and_rooms() -> None:
    found = problems("# empty\n")
    assert [p.field for p in found] == ["school", "rooms"]
    assert "[school]" in found[0].message and "[[rooms]]" in found[1].message


def test_seats_message_format_from_the_specification() -> None:
    text = rig_text(room("A1"), room("A2").replace("seats = 48", "seats = -3"))
    p = only(text)
    assert str(p) == (
        f"rigs/x.toml:{line_of(text, 'seats', 1)}: rooms[1].seats: must be a positive whole "
        "number, got -3 — fix: write seats = 48 (a whole number: no quotes, no decimal point) "
        "/ 座位数必须为正整数"
    )


@pytest.mark.parametrize(("value", "shown"), [
    ("true", "got true (a boolean)"), ("48.0", "got 48.0 (a decimal number)"),
    ('"48"', 'got "48" (a string)'), ("0", "got 0"), ("[48]", "got an array"),
])
def test_seats_must_be_a_positive_int_not_bool_float_or_text(value: str, shown: str) -> None:
    text = rig_text(room().replace("seats = 48", f"seats = {value}"))
    p = only(text)
    assert p.field == "rooms[0].seats" and p.line == line_of(text, "seats") and shown in p.message


@pytest.mark.parametrize("key", ["teachers", "students", "classrooms_total"])
def test_school_counts_must_be_whole_numbers_zero_or_more(key: str) -> None:
    text = rig_text(room()).replace(f"{key} = ", f"{key} = -1 # ")
    p = only(text)
    assert p.field == f"school.{key}" and p.line == line_of(text, key)


def test_school_counts_may_be_zero() -> None:
    text = rig_text(room()).replace("teachers = 120", "teachers = 0")
    assert parse_rig(text, FILE).school.teachers == 0


def test_empty_text_and_wrong_table_types() -> None:
    text = rig_text(room("A1", device(extra="options = 3\nname = \"  \"\n")))
    found = {p.field: p for p in problems(text)}
    assert set(found) == {"rooms[0].devices[0].options", "rooms[0].devices[0].name"}
    assert found["rooms[0].devices[0].options"].line == line_of(text, "options")


def test_rooms_written_as_a_plain_table() -> None:
    text = SCHOOL + '[rooms]\nid = "A1"\n'
    p = only(text)
    assert p.field == "rooms" and "[[rooms]]" in p.message and p.line == line_of(text, "[rooms]")


# -- unknown keys and values -------------------------------------------------------------------
def test_unknown_key_suggests_the_closest_known_key() -> None:
    text = rig_text(room(extra="seat = 4\n"))
    p = only(text)
    assert p.field == "rooms[0].seat" and p.line == line_of(text, "seat =")
    assert "did you mean 'seats'?" in p.message and "是否应为 'seats'" in p.message


def test_unknown_key_without_a_close_match_lists_known_keys() -> None:
    p = only(rig_text(room()).replace("[school]\n", "[school]\ncolour = 3\n"))
    assert p.field == "school.colour" and p.line == 2 and "known keys: name, level" in p.message


def test_misspelt_top_level_table() -> None:
    found = problems(rig_text(room()).replace("[school]", "[schol]"))
    assert [(p.field, p.line) for p in found] == [("schol", 1), ("school", 1)]
    assert "did you mean 'school'?" in found[0].message


def test_unknown_level_and_role_are_named() -> None:
    text = rig_text(room("A1", device(extra="")).replace('role = "display"', 'role = "tv"'))
    text = text.replace('level = "basic"', 'level = "basik"')
    level, role = problems(text)
    assert level.field == "school.level" and "did you mean 'basic'?" in level.message
    assert role.field == "rooms[0].devices[0].role" and "cloud-terminal" in role.message
    assert role.line == line_of(text, "role")


def test_driver_names_are_lower_case_or_a_table() -> None:
    text = rig_text(room("A1", device().replace('"pjlink"', '"PJLink"')))
    assert only(text).field == "rooms[0].devices[0].driver"


# -- rooms: ids, duplicates, claims ------------------------------------------------------------
@pytest.mark.parametrize("bad", ["A 101", "a/b", "..", "教室1", "x" * 65, ""])
def test_room_id_characters(bad: str) -> None:
    text = rig_text(room(bad))
    p = only(text)
    assert p.field == "rooms[0].id" and p.line == line_of(text, "id") and "file names" in p.message


def test_duplicate_room_ids_ignore_case_and_cite_the_first() -> None:
    text = rig_text(room("A101"), room("B1"), room("a101"))
    p = only(text)
    assert p.field == "rooms[2].id" and p.line == line_of(text, "id", 2)
    assert f"rooms[0] (line {line_of(text, '[[rooms]]')}" in p.message


def test_duplicate_and_non_text_claims() -> None:
    text = rig_text(room().replace('"smart"]', '"smart", "smart", 3]'))
    found = problems(text)
    assert [p.field for p in found] == ["rooms[0].claims[2]", "rooms[0].claims[3]"]


def test_classrooms_total_must_cover_the_listed_rooms() -> None:
    text = rig_text(room("A1"), room("A2")).replace("classrooms_total = 40", "classrooms_total = 1")
    p = only(text)
    assert p.field == "school.classrooms_total" and "lists 2 rooms" in p.message


# -- addresses ---------------------------------------------------------------------------------
@pytest.mark.parametrize("good", [
    "192.168.10.21:4352", "display-a101.campus.lan:4352", "[fd00::21]:4352", "[::1]:1",
    "COM3", "com12", "/dev/ttyUSB0", "socket://10.0.0.5:4001", "rfc2217://h.lan:4002?logging=debug",
    "loop://", "h:65535",
])
def test_good_addresses(good: str) -> None:
    assert address_problem(good, simulated=False) is None


@pytest.mark.parametrize(("bad", "says"), [
    ("192.168.10.21", "has no port"), ("h:0", "only allowed for a simulated device"),
    ("h:65536", "1 to 65535"), ("h:-1", "1 to 65535"), ("h:", "1 to 65535"),
    ("fe80::1:4352", "square brackets"), ("[fe80::zz]:4352", "not a valid IP"),
    ("300.1.1.1:80", "not a valid IP"), ("bad_host:80", "not a valid IP"),
    ("-h:80", "not a valid IP"), ("ftp://h:21", "not a supported address"),
    ("COM0", "has no port"), ("/dev/tty USB0", "not a supported address"),
    ("", "not a valid IP"), ("socket://h", "has no port"),
])
def test_bad_addresses(bad: str, says: str) -> None:
    problem = address_problem(bad, simulated=False)
    assert problem is not None and says in problem[0], problem


def test_simulated_devices_stay_on_loopback() -> None:
    assert address_problem("localhost:0", simulated=True) is None
    problem = address_problem("10.0.0.5:4352", simulated=True)
    assert problem is not None and "loopback" in problem[0]
    text = rig_text(room("A1", device("10.0.0.5:0", 'simulator = { kind = "pjlink" }\n')))
    p = only(text)
    assert p.field == "rooms[0].devices[0].address" and p.line == line_of(text, "address")


def test_simulator_needs_a_kind() -> None:
    text = rig_text(room("A1", device("127.0.0.1:0", "simulator = { ignore_set = true }\n")))
    p = only(text)
    assert p.field == "rooms[0].devices[0].simulator.kind" and p.line == line_of(text, "simulator")


# -- secrets -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("extra", "field"), [
    ('password = "hunter2"\n', "rooms[0].devices[0].password"),
    ('options = { api_key = "abc" }\n', "rooms[0].devices[0].options.api_key"),
    ('simulator = { kind = "pjlink", password = "x" }\n', "rooms[0].devices[0].simulator.password"),
    ('options = { wifi = { psk = "abc" } }\n', "rooms[0].devices[0].options.wifi.psk"),
])
def test_secrets_in_the_rig_are_refused(extra: str, field: str) -> None:
    address = "127.0.0.1:0" if "simulator" in extra else "10.0.0.1:4352"
    text = rig_text(room("A1", device(address, extra)))
    p = only(text)
    assert p.field == field and p.line == line_of(text, extra.split(" ")[0])
    assert "environment variable" in p.message and "password_env" in p.message
    assert "hunter2" not in str(p) and '"abc"' not in str(p)


def test_secret_looking_key_without_text_is_only_unknown() -> None:
    p = only(rig_text(room("A1", device(extra="key = 3\n"))))
    assert "unknown key 'key'" in p.message


@pytest.mark.parametrize("bad", ["a101_pjlink", "1ABC", "MY PASSWORD", "hunter2!"])
def test_password_env_is_a_variable_name_and_is_never_echoed(bad: str) -> None:
    p = only(rig_text(room("A1", device(extra=f'password_env = "{bad}"\n'))))
    assert p.field == "rooms[0].devices[0].password_env" and bad not in str(p)
    assert "NAME of an environment variable" in p.message


# -- collecting everything ---------------------------------------------------------------------
def test_all_problems_are_collected_and_sorted_by_line() -> None:
    text = rig_text(room("A 1", device("h"), extra="seats2 = 1\n"), room("B", device("x:0")))
    text = text.replace('level = "basic"', 'level = "x"')
    found = problems(text)
    assert len(found) == 5
    assert [p.line for p in found] == sorted(p.line for p in found)
    assert str(RigError(found)).count("\n") == 4


# -- the key-line scanner ----------------------------------------------------------------------
SCANNED = '''\
title = """
fake = 1
[[rooms]]
"""  # a string, not keys
[school]
"quoted key" = 1
a.b . "c" = { x = 1, y.z = [1,
  2] }
[[rooms]]
id = 'A1' # comment with key = 1
[[rooms.devices]]
arr = [
  # [[rooms]]
  { k = 1 },
  "x",
]
[rooms.devices.opts]
s = \'\'\'don't
x = 2\'\'\'
[[rooms]]
[[rooms.devices]]
'''


@pytest.mark.parametrize(("path", "line"), [
    (("title",), 1), (("school",), 5), (("school", "quoted key"), 6),
    (("school", "a", "b", "c"), 7), (("school", "a", "b", "c", "y", "z", 1), 8),
    (("rooms", 0), 9), (("rooms", 0, "id"), 10), (("rooms", 0, "devices", 0), 11),
    (("rooms", 0, "devices", 0, "arr", 0, "k"), 14), (("rooms", 0, "devices", 0, "arr", 1), 15),
    (("rooms", 0, "devices", 0, "opts", "s"), 18), (("rooms", 1, "devices", 0), 21),
])
def test_scanner_lines(path: tuple, line: int) -> None:
    lines = KeyLines(SCANNED)
    assert lines.exact(path) == line
    assert ("fake",) not in lines.paths() and ("rooms", 0, "devices", 0, "opts", "x") not in \
        lines.paths() and lines.exact(("rooms", 2)) is None


def test_scanner_falls_back_to_the_nearest_header() -> None:
    assert key_line(SCANNED, ("rooms", 1, "devices", 0, "address")) == 21
    assert key_line(SCANNED, ("nowhere",)) == 1
    assert key_line("[a]\nx = = 1\n[b]\ny = 2\n", ("b", "y")) == 4  # recovers after bad line


def test_field_names() -> None:
    assert field_name(("rooms", 1, "devices", 0, "address")) == "rooms[1].devices[0].address"
    assert field_name(("options", "my key", "数")) == 'options."my key"."数"'
