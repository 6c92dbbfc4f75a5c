"""Choosing display-size evidence: order of sources, refusals of bogus sizes, cross-checks."""

from __future__ import annotations

import math
import re

import pytest
from edid_fixtures import (
    PANEL_86,
    PANEL_120,
    SAMPLES,
    T_2160P60,
    EdidSpec,
    build_edid,
    edid_specs,
)
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from classcert.device_drivers.display_size import (
    EDID_CM,
    EDID_MM,
    OPERATOR,
    SOURCES,
    VENDOR,
    choose_size,
)
from classcert.device_drivers.edid import parse_edid

CJK = re.compile(r"[\u4e00-\u9fff]")


def edid(spec: EdidSpec | None = None, **changes):
    return parse_edid(build_edid(spec, **changes))


def refused_sources(ev) -> list[str]:
    return [r.source for r in ev.refused]


def assert_bilingual(ev) -> None:
    for r in ev.refused:
        assert r.reason_en and r.reason_zh and CJK.search(r.reason_zh), r


def test_order_of_preference():
    panel = edid(PANEL_86)
    assert choose_size(86.0, panel, 85.0).source == VENDOR
    assert choose_size(None, panel, 85.0).source == EDID_MM
    no_mm = edid(PANEL_86, dtd_mm=(0, 0), extensions=())
    ev = choose_size(None, no_mm, 85.0)
    assert (ev.source, ev.detail) == (EDID_CM, "190 x 107 cm")
    assert ev.diagonal_in == pytest.approx(85.8, abs=0.1)
    assert choose_size(None, None, 85.0).source == OPERATOR
    none = choose_size(None, None, None)
    assert (none.diagonal_in, none.source, none.refused) == (None, None, [])


def test_mm_from_a_later_dtd_when_the_preferred_has_none():
    ev = choose_size(None, edid(PANEL_86, dtd_mm=(0, 0)), None)  # the CTA DTD has 1904 x 1071
    assert (ev.source, ev.detail) == (EDID_MM, "1904 x 1071 mm")


def test_accepted_candidates_listed_best_first():
    ev = choose_size(86.0, edid(PANEL_86), 86.5)
    assert [c.source for c in ev.candidates] == [VENDOR, EDID_MM, EDID_CM, OPERATOR]
    assert ev.disagreements == [] and ev.refused == []


@pytest.mark.parametrize(("sample", "source", "diag", "refused"), [
    ("panel-86", EDID_MM, 86.0, []),
    ("panel-65", EDID_MM, 65.0, []),
    ("panel-120-saturated", EDID_MM, 120.0, []),
    ("projector-0x0", None, None, [EDID_MM, EDID_CM]),
    ("aspect-16x9-cm", None, None, [EDID_MM, EDID_CM]),
    ("mm-1600x900", None, None, [EDID_MM, EDID_CM]),
    ("bad-checksum", None, None, [EDID_MM, EDID_CM]),
    ("aspect-1.4-encoding", None, None, [EDID_MM, EDID_CM]),
    ("mm-pixel-copy", None, None, [EDID_MM, EDID_CM]),
])
def test_samples(sample, source, diag, refused):
    ev = choose_size(None, edid(SAMPLES[sample]), None)
    assert ev.source == source and refused_sources(ev) == refused
    assert ev.diagonal_in == (None if diag is None else pytest.approx(diag, abs=0.1))
    assert_bilingual(ev)


@pytest.mark.parametrize(("sample", "words"), [
    ("projector-0x0", "not given"), ("aspect-16x9-cm", "aspect ratio"),
    ("mm-1600x900", "aspect ratio"), ("bad-checksum", "checksum"),
    ("aspect-1.4-encoding", "aspect ratio 1.78"), ("mm-pixel-copy", "pixel count")])
def test_refusal_reasons_say_why(sample, words):
    ev = choose_size(None, edid(SAMPLES[sample]), 100.0)
    assert ev.source == OPERATOR and ev.diagonal_in == 100.0
    assert any(words in r.reason_en for r in ev.refused), ev.refused


def test_cm_and_mm_that_contradict_are_both_refused():
    ev = choose_size(None, edid(PANEL_86, dtd_mm=(1439, 809)), 86.0)
    assert refused_sources(ev) == [EDID_MM, EDID_CM] and ev.source == OPERATOR
    assert "contradicts" in ev.refused[0].reason_en
    slightly_off = choose_size(None, edid(PANEL_86, dtd_mm=(1910, 1080)), None)
    assert slightly_off.source == EDID_MM and slightly_off.refused == []


def test_255_cm_means_at_least():
    ev = choose_size(None, edid(PANEL_120, dtd_mm=(0, 0)), None)
    assert (ev.source, ev.at_least) == (EDID_CM, True) and "at least" in ev.detail
    assert ev.diagonal_in == pytest.approx(116.3, abs=0.1)  # a lower bound of the real 120 in
    assert choose_size(120.0, edid(PANEL_120, dtd_mm=(0, 0)), None).disagreements == []
    low = choose_size(100.0, edid(PANEL_120, dtd_mm=(0, 0)), None)
    assert [d.source for d in low.disagreements] == [EDID_CM]
    ok = choose_size(None, edid(PANEL_120), None)  # mm beyond 255 cm agrees with "at least"
    assert (ok.source, ok.at_least, ok.refused) == (EDID_MM, False, [])
    small = choose_size(None, edid(PANEL_120, dtd_mm=(2000, 1125)), None)
    assert refused_sources(small) == [EDID_MM, EDID_CM]


@pytest.mark.parametrize("bad", [5.0, 300.0, 0.0, -86.0, math.nan, math.inf])
def test_absurd_reported_sizes_are_refused(bad):
    ev = choose_size(bad, None, bad)
    assert ev.source is None and refused_sources(ev) == [VENDOR, OPERATOR]
    assert_bilingual(ev)


def test_absurd_edid_sizes_are_refused():
    tiny = choose_size(None, edid(size_bytes=(20, 11), dtd_mm=(203, 114)), None)
    assert tiny.source is None and "plausible" in tiny.refused[0].reason_en
    assert_bilingual(tiny)


def test_projector_only_trusts_the_operator():
    ev = choose_size(80.0, edid(PANEL_86), 100.0, projector=True)
    assert (ev.source, ev.diagonal_in) == (OPERATOR, 100.0)
    assert refused_sources(ev) == [VENDOR, EDID_MM, EDID_CM]
    assert all("projector" in r.reason_en for r in ev.refused)
    assert choose_size(None, edid(PANEL_86), None, projector=True).diagonal_in is None


def test_vendor_and_edid_disagreement_is_recorded():
    ev = choose_size(75.0, edid(PANEL_86), None)
    assert (ev.source, ev.diagonal_in) == (VENDOR, 75.0)  # still the first choice
    assert [d.source for d in ev.disagreements] == [EDID_MM, EDID_CM]
    d = ev.disagreements[0]
    assert d.chosen_source == VENDOR and d.relative == pytest.approx(11.0 / 75.0, abs=0.01)
    assert "75.0" in d.message_en and CJK.search(d.message_zh)
    close = choose_size(84.0, edid(PANEL_86), None)  # 2.4 % apart: agreement
    assert close.disagreements == []


@st.composite
def honest_panels(draw):
    """A 16:9 panel whose EDID states its true size consistently in mm and cm."""
    diag = draw(st.floats(20, 180))  # the 12-bit mm field ends at 4095 mm (185 in wide)
    h_mm = round(diag * 25.4 * 16 / math.hypot(16, 9))
    v_mm = round(diag * 25.4 * 9 / math.hypot(16, 9))
    # a 173.4-inch panel measures 3840 x 2160 mm: indistinguishable from an EDID that copies
    # its pixel count into the size, which is refused (the "mm-pixel-copy" sample)
    assume((h_mm, v_mm) != (T_2160P60.h_active, T_2160P60.v_active))
    cm = (min(255, round(h_mm / 10)), min(255, round(v_mm / 10)))
    return diag, EdidSpec(size_bytes=cm, dtd_mm=(h_mm, v_mm), preferred=T_2160P60)


@settings(max_examples=200)
@given(honest_panels())
def test_honest_panels_are_believed(panel):
    diag, spec = panel
    ev = choose_size(None, edid(spec), None)
    assert ev.source == EDID_MM and ev.refused == [] and ev.disagreements == []
    assert ev.diagonal_in == pytest.approx(diag, abs=0.05)
    with_vendor = choose_size(diag * 1.10, edid(spec), None)
    saturated = 255 in spec.size_bytes  # cm is then only a lower bound, which 110 % satisfies
    expected = {EDID_MM} if saturated else {EDID_MM, EDID_CM}
    assert {d.source for d in with_vendor.disagreements} == expected


sizes = st.none() | st.floats(allow_nan=True, allow_infinity=True) | st.floats(1, 300)


@settings(max_examples=300)
@given(sizes, st.none() | edid_specs(), sizes, st.booleans())
def test_evidence_invariants(vendor, spec, operator, projector):
    e = None if spec is None else edid(spec)
    ev = choose_size(vendor, e, operator, projector=projector)
    assert_bilingual(ev)
    accepted = [c.source for c in ev.candidates]
    assert len(accepted) + len(ev.refused) <= len(SOURCES)
    assert not set(accepted) & set(refused_sources(ev))
    assert accepted == [s for s in SOURCES if s in accepted]
    if ev.source is None:
        assert ev.diagonal_in is None and accepted == []
    else:
        assert ev.source == accepted[0] and 10 <= ev.diagonal_in <= 250
    if projector:
        assert set(accepted) <= {OPERATOR}
    if e is not None and not e.checksum_ok:
        assert not {EDID_MM, EDID_CM} & set(accepted)
    assert all(d.relative > 0.05 for d in ev.disagreements)
