"""Tests of the requirement catalog: shipped data, loader validation, resolution, listing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from classcert.catalog import (
    Catalog,
    CatalogError,
    available_profiles,
    format_requirements,
    load_catalog,
    load_catalog_file,
)
from classcert.catalog.listing import display_width
from classcert.model import Room, School, Verdict

SEEDS = Path("/work/shared/seeds")
PROFILES = ["cq-gj", "cq-jj", "cq-zj", "hz3"]
ID_SCHEME = {
    "cq-jj": r"(JJ\d{6}\.[FP]\d+|CQ2022-T1-4)",
    "cq-zj": r"(ZJ\d{6}\.[FP]\d+|CQ2022-T2-4)",
    "cq-gj": r"(GJ\d{6}\.[FP]\d+|CQ2022-T3-4)",
    "hz3": r"HZ3-(NET|TERM|FAC)-\d+",
}
# Keys the requirements digest lists for each profile (coverage check).
DIGEST_KEYS = {
    "cq-jj": {"display.kind", "display.size", "display.remote_control", "audio.amplification",
              "cloud.terminal", "usage.daily", "wifi.capacity", "wifi.per_client", "mobile.os",
              "mobile.access", "video.interclass", "video.recording", "classsign",
              "share.homework", "process.data", "cctv.resolution", "cctv.power_autonomy",
              "cctv.retention", "net.desktop", "net.ipv6", "school.multimedia_share",
              "school.smart_share", "school.egress", "school.wired_points"},
    "cq-zj": {"display.kind", "display.size", "display.remote_control", "cloud.terminal",
              "usage.daily", "wifi.capacity", "wifi.per_client", "mobile.access",
              "video.interclass", "video.recording", "classsign", "share.homework",
              "process.data", "cctv.resolution", "cctv.power_autonomy", "cctv.retention",
              "net.desktop", "net.ipv6", "school.multimedia_share", "school.smart_share",
              "school.egress", "school.wired_points"},
    "cq-gj": {"display.kind", "display.size", "display.remote_control", "audio.amplification",
              "cloud.terminal", "usage.daily", "wifi.capacity", "wifi.per_client", "mobile.os",
              "mobile.access", "video.interclass", "video.recording", "share.homework",
              "cctv.resolution", "cctv.power_autonomy", "net.desktop", "net.ipv6",
              "school.multimedia_share", "school.smart_share", "school.light_auto",
              "school.egress", "school.wired_points"},
    "hz3": {"net.gigabit", "net.ipv6", "net.tcpip", "school.multimedia_share", "school.egress",
            "school.student_computer_ratio", "school.live_points", "recording.interactive",
            "recording.behaviour_data", "recording.city_platform"},
}
# ZJ010302.F2 asks for live video and recording without a resolution: a bool there.
METRIC_EXCEPTIONS = {("cq-zj", "video.interclass"), ("cq-zj", "video.recording")}


def school(level: str = "basic", profile: str = "cq-jj") -> School:
    return School("Demo school", level, teachers=120, students=1500, classrooms_total=40,
                  profile=profile)


def room(seats: int, *claims: str) -> Room:
    return Room("r101", "Room 101", seats, tuple(claims))


def resolved(catalog: Catalog, key: str, seats: int, *claims: str):
    matches = [r for r in catalog.for_room(room(seats, *claims), school())
               if r.requirement.key == key]
    assert len(matches) == 1, [m.requirement.id for m in matches]
    return matches[0]


@pytest.fixture(scope="module")
def catalogs() -> dict[str, Catalog]:
    return {p: load_catalog(p) for p in PROFILES}


# ------------------------------------------------------------------ shipped data


def test_available_profiles() -> None:
    assert available_profiles() == PROFILES


def test_every_profile_loads_with_its_id(catalogs: dict[str, Catalog]) -> None:
    for pid, catalog in catalogs.items():
        assert catalog.profile.id == pid
        assert catalog.source.name == f"{pid}.toml"
        assert catalog.requirements and catalog.profile.kinds


def _normalise(text: str) -> str:
    text = re.sub(r"\$\\leq\s*([^$]*?)\s*\$", r"≤\1", text)  # "$\leq 5:1$" from PDF extraction
    return re.sub(r"\s+", "", text)


def test_clause_texts_are_quoted_from_their_documents(catalogs: dict[str, Catalog]) -> None:
    if not SEEDS.is_dir():
        pytest.skip(f"{SEEDS} is missing: cannot check the quotes against the documents")
    for catalog in catalogs.values():
        for req in catalog.requirements:
            document = SEEDS / req.clause.document
            assert document.is_file(), (req.id, req.clause.document)
            source = _normalise(document.read_text(encoding="utf-8"))
            assert req.clause.text_zh.strip(), req.id
            position = 0
            for segment in req.clause.text_zh.split("……"):  # elided quotes: parts in order
                found = source.find(_normalise(segment), position)
                assert found >= 0, f"{catalog.profile.id} {req.id}: {segment!r} not in document"
                position = found + len(_normalise(segment))


def test_ids_follow_the_scheme(catalogs: dict[str, Catalog]) -> None:
    for pid, catalog in catalogs.items():
        pattern = re.compile(rf"^{ID_SCHEME[pid]}(#[a-z0-9-]+)?$")
        for req in catalog.requirements:
            assert pattern.match(req.id), (pid, req.id)
            indicator = req.id.split("#")[0].split(".")[0]  # e.g. JJ010301
            if indicator[:2] in ("JJ", "ZJ", "GJ"):
                assert indicator in req.clause.ref_zh and indicator in req.clause.ref_en, req.id
                assert req.clause.document.startswith("003_"), req.id
            elif indicator.startswith("CQ2022"):
                table = indicator.split("-")[1][1]  # T1-4 -> "1"
                assert f"表 {table} " in req.clause.ref_zh, req.id
                assert req.clause.document.startswith("000_"), req.id
            else:
                assert req.clause.document.startswith("004_"), req.id


def test_digest_keys_are_covered(catalogs: dict[str, Catalog]) -> None:
    for pid, keys in DIGEST_KEYS.items():
        missing = keys - set(catalogs[pid].keys())
        assert not missing, (pid, missing)


def test_twins_share_keys_metric_and_unit(catalogs: dict[str, Catalog]) -> None:
    for key in ("display.size", "wifi.capacity", "wifi.per_client", "video.interclass",
                "display.remote_control", "cctv.power_autonomy", "school.egress"):
        for pid in ("cq-jj", "cq-zj", "cq-gj"):
            assert catalogs[pid].by_key(key), (pid, key)
    seen: dict[str, tuple[str, str, str]] = {}
    for pid, catalog in catalogs.items():
        for req in catalog.requirements:
            if (pid, req.key) in METRIC_EXCEPTIONS:
                continue
            first = seen.setdefault(req.key, (req.metric, req.unit, pid))
            assert (req.metric, req.unit) == first[:2] or req.key.startswith(
                "school.student_computer"), (pid, req.id, first)


def test_display_remote_control_and_resolutions(catalogs: dict[str, Catalog]) -> None:
    for catalog in catalogs.values():
        for req in catalog.by_key("display.remote_control"):
            assert (req.metric, req.unit, req.op, req.method) == (
                "remote_control_roundtrip", "bool", "true", "measured")
        for key in ("display.native_resolution", "display.input_resolution"):
            (req,) = catalog.by_key(key)
            assert not req.mandatory and req.limit == "[1920, 1080]" and "No clause" in req.note_en


def test_optional_and_attested_items(catalogs: dict[str, Catalog]) -> None:
    for catalog in catalogs.values():
        for req in catalog.requirements:
            if req.method == "attested" and req.unit == "bool":
                assert req.op == "true"
            if req.scope == "school":
                assert req.kinds == ()
            else:
                assert req.kinds


# ------------------------------------------------------------------ resolution for rooms


def test_jj_display_size_50_vs_51_seats(catalogs: dict[str, Catalog]) -> None:
    small = resolved(catalogs["cq-jj"], "display.size", 50, "multimedia")
    assert small.applicable and small.limit == 80
    assert small.evaluate(80)[0] is Verdict.PASS
    verdict, reason_en, reason_zh = small.evaluate(75)
    assert verdict is Verdict.FAIL
    assert reason_en == "measured 75 in; required >= 80 in (JJ010301.P3)"
    assert "75 英寸" in reason_zh and "JJ010301.P3" in reason_zh
    large = resolved(catalogs["cq-jj"], "display.size", 51, "multimedia")
    assert not large.applicable and large.limit is None
    verdict, reason_en, reason_zh = large.evaluate(60)
    assert verdict is Verdict.SKIPPED
    assert "50 seats or fewer" in reason_en and "50 人以下" in reason_zh


def test_gj_display_size_59_vs_60_seats(catalogs: dict[str, Catalog]) -> None:
    r59 = resolved(catalogs["cq-gj"], "display.size", 59, "multimedia")
    r60 = resolved(catalogs["cq-gj"], "display.size", 60, "multimedia")
    assert (r59.limit, r60.limit) == (100, 120)
    assert r59.evaluate(100)[0] is Verdict.PASS
    assert r60.evaluate(100)[0] is Verdict.FAIL
    assert r60.evaluate(120.0)[0] is Verdict.PASS
    assert "60" in r60.requirement.note_en and "stricter" in r60.requirement.note_en


@pytest.mark.parametrize("pid", ["cq-jj", "cq-gj"])
def test_smart_includes_multimedia(catalogs: dict[str, Catalog], pid: str) -> None:
    catalog = catalogs[pid]
    assert catalog.kinds_closure(["smart"]) == ["smart", "multimedia"]
    smart_ids = {r.requirement.id for r in catalog.for_room(room(40, "smart"), school())}
    multimedia_ids = {r.requirement.id for r in catalog.for_room(room(40, "multimedia"),
                                                                 school())}
    assert multimedia_ids < smart_ids
    assert any(catalog.get(i).key == "wifi.capacity" for i in smart_ids - multimedia_ids)
    assert not {r.requirement.id for r in catalog.for_room(room(40, "cctv"), school())} & \
        smart_ids


def test_zj_smart_is_held_to_its_own_clauses(catalogs: dict[str, Catalog]) -> None:
    catalog = catalogs["cq-zj"]
    assert catalog.kinds_closure(["smart"]) == ["smart"]
    keys = {r.requirement.key for r in catalog.for_room(room(40, "smart"), school())}
    assert {"display.kind", "display.remote_control", "wifi.capacity"} <= keys
    assert "display.size" not in keys
    both = catalog.for_room(room(40, "smart", "multimedia"), school())
    assert "display.size" in {r.requirement.key for r in both}


def test_unknown_claims_are_reported_and_ignored(catalogs: dict[str, Catalog]) -> None:
    catalog = catalogs["cq-jj"]
    assert catalog.unknown_claims(["smart", "recording", "lab"]) == ["recording", "lab"]
    assert catalog.for_room(room(30, "lab"), school()) == []
    assert catalog.kinds_closure(["lab", "multimedia", "multimedia"]) == ["multimedia"]


def test_for_school_evaluates_school_rules(catalogs: dict[str, Catalog]) -> None:
    catalog = catalogs["cq-jj"]
    results = {r.requirement.key: r for r in catalog.for_school(school())}
    assert set(results) == {"school.multimedia_share", "school.smart_share", "school.egress",
                            "school.wired_points"}
    assert results["school.egress"].limit == 512 * 1620
    assert results["school.wired_points"].limit == 1944  # 1.2 x 1620 exactly
    assert results["school.multimedia_share"].evaluate(79.9)[0] is Verdict.FAIL
    assert results["school.multimedia_share"].limit_text() == ">= 80%"
    odd = School("S", "basic", teachers=1, students=2, classrooms_total=1, profile="cq-jj")
    wired = [r for r in catalog.for_school(odd) if r.requirement.key == "school.wired_points"]
    assert wired[0].limit == 4  # 3.6 rounds up
    hz3 = {r.requirement.id: r for r in load_catalog("hz3").for_school(school())}
    assert hz3["HZ3-TERM-2#junior"].evaluate(4.5)[0] is Verdict.PASS
    assert hz3["HZ3-TERM-2#junior"].evaluate(4.6)[0] is Verdict.FAIL


# ------------------------------------------------------------------ evaluate()


def test_evaluate_bools(catalogs: dict[str, Catalog]) -> None:
    control = resolved(catalogs["cq-jj"], "display.remote_control", 30, "multimedia")
    assert control.limit_text() == "true"
    verdict, reason_en, reason_zh = control.evaluate(True)
    assert verdict is Verdict.PASS and reason_en == \
        "measured true; required true (JJ010301.F3)"
    assert reason_zh.startswith("实测 true")
    assert control.evaluate(False)[0] is Verdict.FAIL
    for wrong in (1, 0, "true", None, [True]):
        with pytest.raises(ValueError):
            control.evaluate(wrong)


def test_evaluate_numbers(catalogs: dict[str, Catalog]) -> None:
    autonomy = resolved(catalogs["cq-zj"], "cctv.power_autonomy", 1, "cctv")
    assert autonomy.limit_text() == ">= 6 h" and autonomy.limit_text("zh") == "≥ 6 小时"
    assert autonomy.evaluate(6)[0] is Verdict.PASS  # "6 小时以上" includes 6
    assert autonomy.evaluate(5.99)[0] is Verdict.FAIL
    for wrong in (True, "8", None, float("nan"), float("inf"), [8]):
        with pytest.raises(ValueError):
            autonomy.evaluate(wrong)


def test_evaluate_lists(catalogs: dict[str, Catalog]) -> None:
    video = resolved(catalogs["cq-jj"], "video.interclass", 40, "smart")
    assert video.limit == [1920, 1080]
    assert video.limit_text() == ">= [1920, 1080] px"
    assert video.evaluate([1920, 1080])[0] is Verdict.PASS
    assert video.evaluate((3840, 2160))[0] is Verdict.PASS
    verdict, reason_en, _ = video.evaluate([1280, 1080])
    assert verdict is Verdict.FAIL and "[1280, 1080] px" in reason_en
    assert video.evaluate([1920, 720])[0] is Verdict.FAIL
    for wrong in ([1920], [1920, 1080, 1], 1920, "1920x1080", [1920, "1080"], [True, 1080]):
        with pytest.raises(ValueError):
            video.evaluate(wrong)


def test_citation(catalogs: dict[str, Catalog]) -> None:
    req = catalogs["cq-jj"].get("JJ010301.P3")
    assert req.citation() == (
        "JJ010301.P3 - Chongqing smart campus basic guide, 3.1.3 JJ010301 multimedia "
        "classroom, performance 3: «50 人以下教室显示设备尺寸不低于 80 英寸»")
    assert req.citation("zh").startswith("JJ010301.P3 — 重庆市智慧校园建设基本指南")
    with pytest.raises(KeyError, match="JJ010301.P3"):
        catalogs["cq-jj"].get("JJ010301.P33")


# ------------------------------------------------------------------ listing


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_listing_aligns_columns(catalogs: dict[str, Catalog], lang: str) -> None:
    for catalog in catalogs.values():
        text = format_requirements(catalog, lang)
        lines = text.splitlines()
        header_index = next(i for i, line in enumerate(lines) if line.startswith(("id ", "条款")))
        table = lines[header_index:header_index + 2 + len(catalog.requirements)]
        for req in catalog.requirements:
            assert any(line.startswith(req.id + " ") for line in table), req.id
        # the second column (key) starts at the same display column on every row
        starts = set()
        for line in table[2:]:
            first = line.split("  ")[0]
            rest = line[len(first):]
            starts.add(display_width(first) + len(rest) - len(rest.lstrip(" ")))
        assert len(starts) == 1, starts
        if lang == "zh":
            assert "多媒体教室" in text or "交互式多媒体教室" in text
            assert "必备" in text


def test_listing_kind_filter(catalogs: dict[str, Catalog]) -> None:
    text = format_requirements(catalogs["cq-jj"], "en", kind="smart")
    assert "JJ010302.P3" in text and "JJ010301.P3" in text  # smart includes multimedia
    assert "JJ010101.P4" not in text and "JJ010305.P2" not in text
    with pytest.raises(CatalogError, match="multimedia"):
        format_requirements(catalogs["cq-jj"], "en", kind="lab")
    with pytest.raises(ValueError):
        format_requirements(catalogs["cq-jj"], "fr")


def test_unknown_profile_lists_available_ones() -> None:
    with pytest.raises(CatalogError) as info:
        load_catalog("cq-xx")
    message = str(info.value)
    assert all(p in message for p in PROFILES) and "未知" in message
    with pytest.raises(CatalogError):
        load_catalog("../cq-jj")


# ------------------------------------------------------------------ malformed files


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False)


BASE_REQUIREMENT = {
    "id": "JJ010301.P3", "key": "display.size", "title_en": "Display size",
    "title_zh": "显示设备尺寸", "kinds": ["multimedia"], "scope": "room", "mandatory": True,
    "method": "measured", "metric": "diagonal_in", "unit": "in", "op": ">=", "limit": "80",
    "applies_when": "seats < 50", "skip_reason_en": "big room", "skip_reason_zh": "大教室",
}
BASE_CLAUSE = {"document": "003.txt", "ref_zh": "参考", "ref_en": "ref", "text_zh": "文本"}


def write_catalog(tmp_path: Path, requirements: list[dict], kinds: str | None = None,
                  profile: str | None = None, extra: str = "") -> Path:
    lines = [extra,  # top-level keys must come before the first table
             profile or '[profile]\nid = "t"\nversion = "1"\ntitle_en = "T"\ntitle_zh = "测"\n'
             'levels = ["basic"]\n',
             kinds or '[kinds.multimedia]\nname_en = "m"\nname_zh = "多"\nincludes = []\n'
             '[kinds.smart]\nname_en = "s"\nname_zh = "智"\nincludes = ["multimedia"]\n']
    for item in requirements:
        item = dict(item)
        clause = item.pop("clause", BASE_CLAUSE)
        lines.append("[[requirements]]")
        lines += [f"{k} = {_toml(v)}" for k, v in item.items()]
        if clause is not None:
            lines.append("[requirements.clause]")
            lines += [f"{k} = {_toml(v)}" for k, v in clause.items()]
    path = tmp_path / "vendor-profile.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def changed(**changes: object) -> dict:
    item = dict(BASE_REQUIREMENT)
    for name, value in changes.items():
        if value is None:
            item.pop(name, None)
        else:
            item[name] = value
    return item


def test_valid_temp_catalog_loads(tmp_path: Path) -> None:
    catalog = load_catalog_file(write_catalog(tmp_path, [BASE_REQUIREMENT]))
    assert catalog.get("JJ010301.P3").limit == "80"
    assert catalog.kinds_closure(["smart"]) == ["smart", "multimedia"]


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"op": "=>"}, "op", "unknown op"),
        ({"method": "guessed"}, "method", "unknown method"),
        ({"scope": "building"}, "scope", "unknown scope"),
        ({"kinds": ["lab"]}, "kinds", "unknown kind"),
        ({"kinds": []}, "kinds", "at least one kind"),
        ({"title_zh": None}, "title_zh", "missing"),
        ({"metric": ""}, "metric", "non-empty"),
        ({"mandatory": "yes"}, "mandatory", "true or false"),
        ({"limit": "seats.real"}, "limit", "Attribute"),
        ({"limit": "__import__('os')"}, "limit", "may be called"),
        ({"limit": "lambda: 80"}, "limit", "Lambda"),
        ({"limit": "[1, 2][0]"}, "limit", "Subscript"),
        ({"limit": "'eighty'"}, "limit", "number"),
        ({"limit": "80 +"}, "limit", "syntax"),
        ({"limit": None}, "limit", "missing"),
        ({"applies_when": "seats + 1"}, "applies_when", "true/false"),
        ({"applies_when": "seats < 50 or pupils"}, "applies_when", "pupils"),
        ({"skip_reason_zh": None}, "skip_reason_zh", "applies_when"),
        ({"limt": "80"}, "limt", "did you mean 'limit'"),
        ({"key": "Display Size"}, "key", "malformed key"),
        ({"scope": "school", "kinds": [], "applies_when": None, "limit": "seats * 2"},
         "limit", "seats"),
        ({"scope": "school"}, "kinds", "no kind"),
        ({"op": "true", "limit": "80"}, "limit", "op \"true\""),
    ],
)
def test_malformed_requirement_names_file_id_and_field(
        tmp_path: Path, changes: dict, field: str, words: str) -> None:
    path = write_catalog(tmp_path, [changed(**changes)])
    with pytest.raises(CatalogError) as info:
        load_catalog_file(path)
    message = str(info.value)
    assert str(path) in message
    assert "'JJ010301.P3'" in message
    assert f"field '{field}'" in message
    assert words in message
    assert "Fix:" in message
    assert (info.value.req_id, info.value.field) == ("JJ010301.P3", field)


def test_duplicate_ids(tmp_path: Path) -> None:
    path = write_catalog(tmp_path, [BASE_REQUIREMENT, BASE_REQUIREMENT])
    with pytest.raises(CatalogError, match=r"'JJ010301.P3', field 'id': duplicate"):
        load_catalog_file(path)


def test_missing_id_and_clause(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"requirement '#1 \(no id\)', field 'id'"):
        load_catalog_file(write_catalog(tmp_path, [changed(id=None)]))
    with pytest.raises(CatalogError, match=r"field 'clause'.*missing"):
        load_catalog_file(write_catalog(tmp_path, [dict(BASE_REQUIREMENT, clause=None)]))
    partial = dict(BASE_REQUIREMENT, clause={"document": "d", "ref_zh": "r", "ref_en": "r"})
    with pytest.raises(CatalogError, match=r"'JJ010301.P3', field 'clause.text_zh'"):
        load_catalog_file(write_catalog(tmp_path, [partial]))
    with pytest.raises(CatalogError, match=r"field 'id': malformed"):
        load_catalog_file(write_catalog(tmp_path, [changed(id="JJ 01")]))


def test_file_level_errors(tmp_path: Path) -> None:
    bad = tmp_path / "broken.toml"
    bad.write_text('[profile\nid = "x"\n', encoding="utf-8")
    with pytest.raises(CatalogError, match=r"broken\.toml: not valid TOML.*line 1"):
        load_catalog_file(bad)
    with pytest.raises(CatalogError, match="file not found"):
        load_catalog_file(tmp_path / "absent.toml")
    cycle = '[kinds.a]\nname_en = "a"\nname_zh = "甲"\nincludes = ["b"]\n' \
            '[kinds.b]\nname_en = "b"\nname_zh = "乙"\nincludes = ["a"]\n'
    with pytest.raises(CatalogError, match=r"field 'kinds\.a\.includes'.*cycle"):
        load_catalog_file(write_catalog(tmp_path, [changed(kinds=["a"])], kinds=cycle))
    unknown = '[kinds.multimedia]\nname_en = "m"\nname_zh = "多"\nincludes = ["smart"]\n'
    with pytest.raises(CatalogError, match=r"field 'kinds\.multimedia\.includes'"):
        load_catalog_file(write_catalog(tmp_path, [BASE_REQUIREMENT], kinds=unknown))
    profile = '[profile]\nid = "t"\nversion = "1"\ntitle_en = "T"\ntitle_zh = "测"\n' \
              'levels = ["kindergarten"]\n'
    with pytest.raises(CatalogError, match=r"field 'profile\.levels'.*kindergarten"):
        load_catalog_file(write_catalog(tmp_path, [BASE_REQUIREMENT], profile=profile))
    with pytest.raises(CatalogError, match=r"field 'rules'"):
        load_catalog_file(write_catalog(tmp_path, [BASE_REQUIREMENT], extra='rules = 1\n'))
    with pytest.raises(CatalogError, match=r"field 'requirements'"):
        load_catalog_file(write_catalog(tmp_path, []))
