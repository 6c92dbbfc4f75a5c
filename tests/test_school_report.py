"""School-level counts: which rooms count as which kind, the shares, and the signed report."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classcert.catalog import load_catalog
from classcert.model import Rig, School
from classcert.reports.school_html import render_school_html
from classcert.reports.school_report import (
    build_school_report,
    exact_share_pct,
    rooms_counting_as,
    share_pct,
)
from classcert.signing import verify_file

from helpers import VENDOR_CATALOG, pjlink_room, rig_text, run_cli


def _cert(room: str, **kinds: str) -> dict:
    return {"room": {"id": room, "claims": list(kinds)},
            "kinds": {k: {"status": v} for k, v in kinds.items()}, "simulated": False}


def _rig(profile: str, total: int) -> Rig:
    from pathlib import Path

    return Rig(Path("rig.toml"), School("S", "basic", 10, 100, total, profile), ())


@settings(max_examples=300)
@given(total=st.integers(1, 10_000), data=st.data())
def test_share_is_a_bounded_rounded_percentage(total, data):
    count = data.draw(st.integers(0, total))
    pct = share_pct(count, total)
    assert 0.0 <= pct <= 100.0
    hundredths = round(pct * 100)
    assert abs(pct * 100 - hundredths) < 1e-6  # two decimals, nothing more
    error = Fraction(hundredths, 100) - Fraction(100 * count, total)
    assert -Fraction(1, 200) < error <= Fraction(1, 200)  # half up: x.xx5 goes up
    assert (pct == 100.0) == (count == total)
    assert exact_share_pct(count, total) == 100 * count / total


def test_half_a_hundredth_rounds_up():
    assert share_pct(1, 160) == 0.63  # 0.625 %
    assert share_pct(1, 3) == 33.33 and share_pct(2, 3) == 66.67


def test_a_share_just_below_the_limit_fails_even_when_it_rounds_to_the_limit():
    # 15999 of 20000 is 79.995 %: shown as 80.0, judged as what it is
    certs = [_cert(f"M{i}", multimedia="certified") for i in range(15999)]
    report = build_school_report(_rig("cq-jj", 20000), load_catalog("cq-jj"), "c1", certs)
    mm = {e["key"]: e for e in report["requirements"]}["school.multimedia_share"]
    assert mm["value"] == 80.0 and mm["verdict"] == "FAIL"
    assert "15999 of 20000" in mm["reason"]["en"] and "79.995%" in mm["reason"]["en"]
    certs.append(_cert("M15999", multimedia="certified"))
    report = build_school_report(_rig("cq-jj", 20000), load_catalog("cq-jj"), "c1", certs)
    mm = {e["key"]: e for e in report["requirements"]}["school.multimedia_share"]
    assert mm["value"] == 80.0 and mm["verdict"] == "PASS"


def test_share_refuses_an_empty_school():
    with pytest.raises(ValueError):
        share_pct(0, 0)


def test_a_certified_smart_room_counts_as_multimedia_only_where_the_profile_says_so():
    certs = [_cert("A", multimedia="certified"), _cert("B", smart="certified"),
             _cert("C", smart="not certified"), _cert("D", multimedia="not certified",
                                                    smart="certified")]
    jj, zj = load_catalog("cq-jj"), load_catalog("cq-zj")
    assert rooms_counting_as(jj, certs, "multimedia") == ["A", "B", "D"]  # JJ: smart includes it
    assert rooms_counting_as(zj, certs, "multimedia") == ["A"]  # ZJ: it must be certified itself
    assert rooms_counting_as(jj, certs, "smart") == ["B", "D"]


def test_shares_are_judged_by_the_catalog_against_classrooms_total():
    certs = [_cert(f"M{i}", multimedia="certified") for i in range(8)]
    certs += [_cert("S1", smart="certified"), _cert("S2", smart="not certified")]
    report = build_school_report(_rig("cq-jj", 10), load_catalog("cq-jj"), "c1", certs)
    by_key = {e["key"]: e for e in report["requirements"]}
    mm, smart = by_key["school.multimedia_share"], by_key["school.smart_share"]
    assert (mm["value"], mm["verdict"]) == (90.0, "PASS")  # 8 multimedia + 1 smart of 10
    assert (smart["value"], smart["verdict"]) == (10.0, "PASS")  # limit >= 10 %: 10 % passes
    assert mm["counted"] == {"certified": 9, "tested": 10, "classrooms_total": 10}
    assert by_key["school.egress"]["verdict"] == "NOT_TESTED"  # no suite: never guessed
    # the same rooms in a school of 20 classrooms: untested classrooms do not count
    report = build_school_report(_rig("cq-jj", 20), load_catalog("cq-jj"), "c1", certs)
    by_key = {e["key"]: e for e in report["requirements"]}
    assert (by_key["school.multimedia_share"]["value"],
            by_key["school.multimedia_share"]["verdict"]) == (45.0, "FAIL")
    assert by_key["school.smart_share"]["verdict"] == "FAIL"
    assert "JJ010301.P1" == by_key["school.multimedia_share"]["id"]


def test_html_escapes_and_shows_the_counts():
    certs = [_cert("<script>x</script>", multimedia="certified")]
    report = build_school_report(_rig("cq-jj", 4), load_catalog("cq-jj"), "c1", certs)
    html = render_school_html(report)
    assert "<script>x" not in html and "&lt;script&gt;x" in html
    assert "25.0" in html and "JJ010301.P1" in html


SCHOOL_RULE = """
[[requirements]]
id = "JJ010301.P1"
key = "school.multimedia_share"
title_en = "Share of multimedia classrooms"
title_zh = "多媒体教室数量占教室总数比例"
kinds = []
scope = "school"
mandatory = true
method = "computed"
metric = "share_pct"
unit = "%"
op = ">="
limit = "80"
[requirements.clause]
document = "003_1c2984479393c4c1.txt"
ref_zh = "重庆市智慧校园建设基本指南 3.1.3 JJ010301 多媒体教室 性能要求 1"
ref_en = "Chongqing smart campus basic guide, 3.1.3 JJ010301 multimedia classroom, performance 1"
text_zh = "数量不低于教室总数的 80%"
"""


@pytest.mark.parametrize(("total", "verdict"), [(2, "FAIL"), (1, "PASS")])
def test_a_campaign_writes_a_signed_school_report(tmp_path, total, verdict):
    (tmp_path / "vendor.toml").write_text(VENDOR_CATALOG + SCHOOL_RULE, encoding="utf-8")
    rig = tmp_path / "rig.toml"
    rooms = pjlink_room("OK1") + (pjlink_room("BAD", "ignore_set = true") if total == 2 else "")
    rig.write_text(rig_text(rooms, total=total), encoding="utf-8")
    res = run_cli("run", "--rig", str(rig), "--out", str(tmp_path / "out"),
                  "--profile", str(tmp_path / "vendor.toml"))
    assert res.returncode in (0, 1), res.stdout + res.stderr
    report_path = tmp_path / "out" / "school.json"
    assert verify_file(report_path).ok
    report = json.loads(report_path.read_text("utf-8"))
    (entry,) = report["requirements"]
    assert entry["verdict"] == verdict and entry["rooms"] == ["OK1"]
    assert entry["value"] == share_pct(1, total)
    assert "School / 全校" in res.stdout and f"-> {verdict}" in res.stdout
    assert (tmp_path / "out" / "school.html").is_file()
