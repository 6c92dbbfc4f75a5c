"""iOS/Android teaching software (mobile.os): record answers, OS parsing, prompts and settings.
The suite in whole campaigns: test_mobile_os_campaign.py."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classcert import app_os
from classcert.app_os import (
    ANDROID_SLOT,
    HARMONY_RUNS_ANDROID_APPS,
    IOS_SLOT,
    check_slot,
    parse_app,
    parse_stated_os,
    seen_devices,
    versions_agree,
)
from classcert.client_os import ANDROID, HARMONYOS, IOS, IPADOS
from classcert.fixtures.devices import Unmeasurable
from classcert.fixtures.operator import (
    MAX_TRIES,
    RECORD_KEYS,
    AttestationFileError,
    Operator,
    load_attestations,
)
from classcert.model import Device, Room
from classcert.test_suites import mobile_os_steps as steps

# ---------------------------------------------------------------- attestation files

RECORD = 'device = "iPhone 15", os_version = "iOS 17.5", app = "ClassApp 3.4", completed = true'


def _write(tmp_path, text: str):
    path = tmp_path / "a.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_record_as_inline_table_and_as_sub_table(tmp_path):
    path = _write(tmp_path, f"""
[[attestations]]
room = "S1"
key = "mobile.os#ios"
value = {{ {RECORD} }}
operator = "Wang"

[[attestations]]
room = "S1"
key = "mobile.os#android"
operator = "Wang"
note = "worked"

[attestations.value]
device = "Pixel 8"
os_version = "Android 14"
app = "ClassApp 3.4"
completed = false
""")
    answers = load_attestations(path)
    assert answers[("S1", "mobile.os#ios")].value == {
        "device": "iPhone 15", "os_version": "iOS 17.5", "app": "ClassApp 3.4",
        "completed": True}
    android = answers[("S1", "mobile.os#android")]
    assert android.value["completed"] is False and android.note == "worked"
    assert set(RECORD_KEYS) == {"mobile.os#ios", "mobile.os#android"}


@pytest.mark.parametrize(("value", "line", "needle"), [
    ('{ device = "iPhone 15", os_version = "iOS 17.5", app = "A 1.0" }', 5,
     r"attestations\[0\]\.value\.completed: missing"),
    ('{ device = "iPhone 15", os_version = "iOS 17.5", app = "A 1.0", completed = "yes" }', 5,
     r"attestations\[0\]\.value\.completed: must be true or false"),
    ('{ device = "", os_version = "iOS 17.5", app = "A 1.0", completed = true }', 5,
     r"attestations\[0\]\.value\.device: must be non-empty text"),
    ('{ device = "x", os_version = 17.5, app = "A 1.0", completed = true }', 5,
     r"attestations\[0\]\.value\.os_version: must be non-empty text"),
    (f'{{ {RECORD}, colour = "red" }}', 5, r"attestations\[0\]\.value\.colour: unknown field"),
    ("true", 5, r"attestations\[0\]\.value: must be a table \{ device = \.\.\."),
])
def test_record_errors_name_file_line_and_field(tmp_path, value, line, needle):
    path = _write(tmp_path, f'\n[[attestations]]\nroom = "S1"\nkey = "mobile.os#ios"\n'
                            f'value = {value}\noperator = "Wang"\n')
    with pytest.raises(AttestationFileError, match=rf"a\.toml:{line}: {needle}"):
        load_attestations(path)


def test_record_field_error_in_sub_table_points_at_its_line(tmp_path):
    path = _write(tmp_path, '[[attestations]]\nroom = "S1"\nkey = "mobile.os#android"\n'
                            'operator = "Wang"\n\n[attestations.value]\ndevice = "Pixel 8"\n'
                            'os_version = "Android 14"\napp = "A 1.0"\ncompleted = 1\n')
    with pytest.raises(AttestationFileError, match=r"a\.toml:10: .*value\.completed: must be"):
        load_attestations(path)


def test_other_keys_keep_plain_values(tmp_path):
    path = _write(tmp_path, '[[attestations]]\nroom = "S1"\nkey = "mobile.os"\nvalue = true\n'
                            'operator = "Wang"\n')
    assert load_attestations(path)[("S1", "mobile.os")].value is True


# ---------------------------------------------------------------- OS and app parsing

FAMILY_WORDS = {IOS: ["iOS", "ios", "iPhone OS"], IPADOS: ["iPadOS", "ipados"],
                ANDROID: ["Android", "android", "安卓"],
                HARMONYOS: ["HarmonyOS", "鸿蒙", "OpenHarmony", "Harmony OS"]}
versions = st.lists(st.integers(0, 99), min_size=1, max_size=3).map(
    lambda parts: [max(parts[0], 1), *parts[1:]])


@settings(max_examples=150)
@given(st.sampled_from(sorted(FAMILY_WORDS)), st.data(), versions,
       st.sampled_from(["", " ", " v", " version "]), st.sampled_from(["", "系统：", "MIUI ("]),
       st.sampled_from(["", ")", " (21F90)", "，平板"]), st.sampled_from([".", "_"]))
def test_stated_os_round_trip(family, data, parts, gap, prefix, suffix, sep):
    word = data.draw(st.sampled_from(FAMILY_WORDS[family]))
    version = ".".join(str(p) for p in parts)
    text = f"{prefix}{word}{gap}{sep.join(str(p) for p in parts)}{suffix}"
    if gap == "" and word[-1].isdigit():
        return
    assert parse_stated_os(text) == app_os.StatedOS(family, version)


@settings(max_examples=150)
@given(st.text(max_size=60), st.sampled_from([IOS_SLOT, ANDROID_SLOT]), st.booleans())
def test_any_text_is_judged_without_raising(text, slot, harmony):
    result = check_slot(slot, text, harmony)
    if result.ok:
        assert result.stated is not None and result.stated.major is not None
        assert (result.stated.family in app_os.SLOT_FAMILIES[slot]
                or (slot == ANDROID_SLOT and harmony and result.stated.family == HARMONYOS))
    else:
        assert result.reason_en and result.reason_zh


@settings(max_examples=150)
@given(st.sampled_from(sorted(FAMILY_WORDS)), st.integers(1, 99),
       st.sampled_from([IOS_SLOT, ANDROID_SLOT]), st.booleans())
def test_slot_rule(family, major, slot, harmony):
    result = check_slot(slot, f"{FAMILY_WORDS[family][0]} {major}.1", harmony)
    expected = {
        IOS_SLOT: family == IOS or (family == IPADOS and major >= 13),
        ANDROID_SLOT: family == ANDROID or (family == HARMONYOS and harmony
                                            and major in HARMONY_RUNS_ANDROID_APPS),
    }[slot]
    assert result.ok is expected
    assert result.counted_as_android is (expected and family == HARMONYOS)


def test_examples_of_os_text():
    assert parse_stated_os("HarmonyOS NEXT") == app_os.StatedOS(HARMONYOS, "5")
    assert parse_stated_os("ColorOS 14") is None
    assert parse_stated_os("bios 12") is None
    assert "no OS version" in check_slot(IOS_SLOT, "iOS").reason_en
    assert "iPadOS starts at version 13" in check_slot(IOS_SLOT, "iPadOS 12.5").reason_en
    assert "does not count as Android" in check_slot(ANDROID_SLOT, "鸿蒙 4.2").reason_en
    assert "only HarmonyOS 2-4" in check_slot(ANDROID_SLOT, "HarmonyOS 5.0", True).reason_en


version_st = st.lists(st.integers(0, 999), min_size=1, max_size=4).map(
    lambda p: ".".join(map(str, p)))


@settings(max_examples=200)
@given(version_st, version_st)
def test_versions_agree(a, b):
    assert versions_agree(a, a) is True
    assert versions_agree(a, "") is None
    assert versions_agree(a, b) == versions_agree(b, a)
    assert versions_agree(a, f"{a}.7") is True


@settings(max_examples=200)
@given(st.text(alphabet="abcdefghijklmnopqrstuwxyzABC互动课堂希沃白板 ", min_size=1, max_size=20)
       .filter(lambda s: s.strip()),
       st.lists(st.integers(0, 999), min_size=2, max_size=4).map(lambda p: ".".join(map(str, p))),
       st.sampled_from([" ", " v", " 版本 ", ""]))
def test_app_name_and_version(name, version, gap):
    if gap == "" and name[-1].isascii():
        gap = " "  # "A1.2" is ambiguous; "希沃白板1.2" is not
    parsed = parse_app(f"{name}{gap}{version}")
    assert parsed.version == version
    assert parsed.name == name.strip(" -_/()（）,，")
    assert parse_app(name).version == ""


@settings(max_examples=200)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(
                        st.sampled_from(["devices", "os", "os_family", "os_version",
                                         "completed", "x"]), c, max_size=5), max_leaves=20))
def test_crowd_evidence_reader_tolerates_anything(doc):
    for seen in seen_devices(doc if isinstance(doc, dict) else {"devices": doc}):
        assert isinstance(seen.family, str) and seen.family


def test_crowd_evidence_both_formats():
    seen = seen_devices({"devices": [
        {"os_family": "iOS", "os_version": "17.5", "completed": True},
        {"os": "Android 14", "completed": False}, {"os": "Windows"}, "junk"]})
    assert [(s.label, s.completed) for s in seen] == [
        ("iOS 17.5", True), ("Android 14", False), ("Windows", None)]
    cc = app_os.cross_check(app_os.StatedOS(ANDROID, "14"), seen)
    assert (cc["family_seen"], cc["same_version_seen"], cc["same_version_completed_crowd_test"]
            ) == (1, 1, 0)


# ---------------------------------------------------------------- prompt

def _scripted(answers: list[str]):
    said: list[str] = []
    queue = list(answers)

    def read(prompt: str) -> str:
        said.append(prompt)
        return queue.pop(0)

    return (said.append, read), said


def test_prompt_asks_each_field_and_explains_bad_entries(tmp_path):
    photo = tmp_path / "ipad.jpg"
    photo.write_bytes(b"\xff\xd8jpeg")
    io, said = _scripted(["Wang Fang", "iPad Air", "Android 14", "iPadOS 17.5", "",
                          "ClassApp 3.4", "maybe", "是", "quiz done", str(photo)])
    op = Operator(io=io)
    att = op.ask_record("S1", "mobile.os#ios", "iOS device", "iOS 设备",
                        steps.record_fields(IOS_SLOT, False))
    assert att is not None and att.operator == "Wang Fang" and att.photo == photo
    assert att.value == {"device": "iPad Air", "os_version": "iPadOS 17.5",
                         "app": "ClassApp 3.4", "completed": True}
    assert att.note == "quiz done"
    assert any("is Android, not iOS/iPadOS" in s for s in said)
    assert any("please enter the teaching app" in s for s in said)
    assert any("(e.g. iPhone 15)" in s for s in said)


def test_prompt_gives_up_after_bounded_tries():
    io, said = _scripted(["Li", "Pixel 8", *["HarmonyOS 4.2"] * MAX_TRIES])
    op = Operator(io=io)
    assert op.ask_record("S1", "mobile.os#android", "Android", "安卓",
                         steps.record_fields(ANDROID_SLOT, False)) is None
    assert any("left unanswered" in s for s in said)
    io, _ = _scripted(["Li", "Mate 60", "HarmonyOS 4.2", "ClassApp 3.4", "n", "", ""])
    att = Operator(io=io).ask_record("S1", "mobile.os#android", "Android", "安卓",
                                     steps.record_fields(ANDROID_SLOT, True))
    assert att.value["completed"] is False and att.value["os_version"] == "HarmonyOS 4.2"


def test_filed_record_and_no_answer(tmp_path):
    path = _write(tmp_path, f'[[attestations]]\nroom = "S1"\nkey = "mobile.os#ios"\n'
                            f'value = {{ {RECORD} }}\noperator = "Wang"\n')
    op = Operator(answers=load_attestations(path))
    filed = op.ask_record("S1", "mobile.os#ios", "?", "？")
    assert filed.value["device"] == "iPhone 15" and filed.source == "file"
    assert op.ask_record("S1", "mobile.os#android", "?", "？") is None
    with pytest.raises(ValueError, match="no record fields"):
        Operator().ask_record("S1", "display.size", "?", "？")


# ---------------------------------------------------------------- settings

def _room(**options) -> Room:
    return Room("S1", "Room", 20, ("smart",), (Device("wifi", "unifi", "10.0.0.2:443",
                                                      options=options),))


def test_settings_defaults_rig_and_profile():
    s = steps.settings_for(_room(), SimpleNamespace(id="cq-jj"))
    assert s.casting == {"ios": ("airplay",), "android": ("lebo",)} and s.casting_from == "default"
    assert s.harmony_as_android is False and s.harmony_from == "default"
    s = steps.settings_for(_room(), SimpleNamespace(id="p", casting={"android": "googlecast"},
                                                    harmonyos_as_android=True))
    assert s.casting["android"] == ("googlecast",) and s.casting_from.startswith("profile p")
    assert s.harmony_as_android is True
    s = steps.settings_for(_room(casting={"android": ["lebo", "googlecast"], "discover_s": 0,
                                          "interface": "10.0.0.9"}, harmonyos_as_android=True),
                           SimpleNamespace(id="p", casting={"android": "miracast"}))
    assert s.casting["android"] == ("lebo", "googlecast") and s.discover_s == 0
    assert s.interface == "10.0.0.9" and "rig" in s.casting_from
    assert set(steps.METHODS) == {"airplay", "googlecast", "lebo", "miracast"}


@pytest.mark.parametrize(("options", "needle"), [
    ({"casting": {"ios": "chromecast"}}, "ios must be one of"),
    ({"casting": {"discover_s": 99}}, "discover_s must be"),
    ({"casting": {"interface": "eth0"}}, "interface must be an IP"),
    ({"casting": {"ios": "airplay", "colour": 1}}, "unknown field"),
    ({"casting": "airplay"}, "must be a table"),
    ({"harmonyos_as_android": "yes"}, "must be true or false"),
])
def test_bad_settings_are_rig_errors(options, needle):
    with pytest.raises(Unmeasurable, match=needle) as err:
        steps.settings_for(_room(**options), SimpleNamespace(id="p"))
    assert "fix the rig" in err.value.message_en and err.value.message_zh


def test_discovery_never_leaves_loopback_for_simulated_rooms():
    room = Room("S1", "Room", 20, ("smart",), (
        Device("wifi", "unifi", "10.0.0.2:443"),
        Device("display", "pjlink", "127.0.0.1:0", simulator={"kind": "pjlink"})))
    ctx = SimpleNamespace(device_address=lambda r, d: d.address)
    s = steps.settings_for(room, SimpleNamespace(id="p"))
    assert steps.discovery_interface(ctx, room, s)[0] == "127.0.0.1"
    lone = Room("S2", "Room", 20, ("smart",), (Device("display", "lg", "/dev/ttyUSB0"),))
    iface, why = steps.discovery_interface(ctx, lone, s)
    assert iface is None and "casting.interface" in why
    assert steps.discover(s, None, why) == {"ran": False, "reason": why}
