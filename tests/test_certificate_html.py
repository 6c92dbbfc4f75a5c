"""Tests for classcert.reports.certificate_html: bilingual, escaped, honest about simulation."""

from __future__ import annotations

import copy
import html
import re
from html.parser import HTMLParser

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from classcert.reports.certificate_html import render_certificate_html, write_certificate_html
from classcert.signing import sign_certificate

VERDICT_WORDS = {
    "PASS": ("通过", "pass"),
    "FAIL": ("不通过", "fail"),
    "ERROR": ("无法测试", "could not test"),
    "SKIPPED": ("不适用", "not applicable"),
    "ATTESTED": ("人工确认", "attested"),
    "NOT_TESTED": ("未测试", "not tested"),
}


def requirement(rid: str, verdict: str, **extra) -> dict:
    base = {
        "id": rid,
        "key": rid.lower(),
        "title_en": f"title {rid}",
        "title_zh": f"标题 {rid}",
        "clause": {"ref_en": "JJ 4.2", "ref_zh": "JJ 第4.2条", "text_zh": "应配备多媒体设备"},
        "mandatory": True,
        "kinds": ["multimedia"],
        "verdict": verdict,
        "value": 350,
        "unit": "cd/m²",
        "limit": ">= 300 cd/m²",
        "reason": {"en": f"reason {rid}", "zh": f"原因 {rid}"},
        "evidence": [{"path": f"evidence/{rid}.json", "sha256": "ab" * 32}],
        "measured_at": "2025-01-02T03:04:05Z",
    }
    base.update(extra)
    return base


def sample_cert(simulated: bool = False) -> dict:
    verdicts = list(VERDICT_WORDS)
    return {
        "schema": "classcert/certificate/1",
        "school": {"name": "重庆市第一中学", "level": "basic", "profile": "cq-jj"},
        "room": {"id": "A101", "name": "一号教室", "seats": 48, "claims": ["multimedia", "smart"]},
        "profile": {"id": "cq-jj", "version": "2024", "title_en": "Basic", "title_zh": "基础"},
        "kinds": {
            "multimedia": {"status": "certified", "name_en": "multimedia classroom",
                           "name_zh": "多媒体教室", "reasons": []},
            "smart": {
                "status": "not certified",
                "name_en": "smart classroom",
                "name_zh": "智慧教室",
                "reasons": [{"en": "REQ-ERROR could not be tested", "zh": "REQ-ERROR 无法测试"}],
            },
        },
        "requirements": [requirement(f"REQ-{v}", v) for v in verdicts],
        "devices": [
            {"role": "display", "name": "Panel 1", "driver": "pjlink", "address": "127.0.0.1:4352",
             "make": "ACME", "model": "X1", "serial": "SN1", "firmware": "1.0",
             "simulated": simulated},
        ],
        "harness": {"name": "classcert", "version": "0.1.0"},
        "campaign": {"id": "camp-7", "started_at": "2025-01-02T01:00:00Z",
                     "finished_at": "2025-01-02T02:00:00Z"},
        "issued_at": "2025-01-02T03:00:00Z",
        "simulated": simulated,
    }


class _Collector(HTMLParser):
    """Collects tag names, hrefs and visible text, to inspect the page structurally."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.hrefs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.hrefs += [v for k, v in attrs if k in ("href", "src") and v is not None]

    def handle_data(self, data):
        self.text.append(data)


def parse(page: str) -> _Collector:
    collector = _Collector()
    collector.feed(page)
    collector.close()
    return collector


@pytest.fixture(scope="module")
def signed() -> dict:
    return sign_certificate(sample_cert(), Ed25519PrivateKey.generate())


def test_page_has_title_ids_and_bilingual_verdicts(signed):
    page = render_certificate_html(signed)
    assert "<title>教室设备符合性证书 / Classroom equipment certificate of conformity" in page
    for req in signed["requirements"]:
        assert req["id"] in page
        assert req["title_zh"] in page and req["title_en"] in page
    for code, (zh, en) in VERDICT_WORDS.items():
        css = code.lower().replace("_", "-")
        assert re.search(rf'class="verdict v-{css}">{zh} <span[^>]*>{en}<', page), code
    assert "达标" in page and "certified" in page and "未达标" in page and "not certified" in page
    assert "REQ-ERROR 无法测试" in page
    assert "重庆市第一中学" in page and "A101" in page and "48" in page
    assert "“应配备多媒体设备”" in page
    assert ">= 300 cd/m²" in html.unescape(page) and "350 cd/m²" in page


def test_signature_block_and_verify_instructions(signed):
    page = render_certificate_html(signed)
    assert signed["signature"]["key_id"] in page
    assert "classcert verify certificate.json" in page
    assert "NOT SIGNED" not in page
    unsigned = render_certificate_html(sample_cert())
    assert "NOT SIGNED" in unsigned and "未签名" in unsigned


def test_page_is_standalone(signed):
    page = render_certificate_html(signed)
    parsed = parse(page)
    assert "script" not in parsed.tags and "link" not in parsed.tags and "img" not in parsed.tags
    assert all(not re.match(r"[a-z]+:|//", h) for h in parsed.hrefs), parsed.hrefs
    assert "@page" in page and "A4" in page
    assert "url(" not in page and "@import" not in page


def test_simulated_banner_only_when_simulated():
    real = render_certificate_html(sample_cert(simulated=False))
    demo = render_certificate_html(sample_cert(simulated=True))
    assert "模拟设备演示" not in real and "SIMULATED" not in real
    assert "simulated-banner" in demo and "模拟设备演示" in demo and "SIMULATED" in demo
    # a simulated device alone is enough, even if the top-level flag was forgotten
    inconsistent = sample_cert(simulated=False)
    inconsistent["devices"][0]["simulated"] = True
    assert "模拟设备演示" in render_certificate_html(inconsistent)


HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.mark.parametrize(
    "place",
    [
        lambda c, v: c["devices"][0].__setitem__("name", v),
        lambda c, v: c["devices"][0].__setitem__("model", v),
        lambda c, v: c["school"].__setitem__("name", v),
        lambda c, v: c["requirements"][0].__setitem__("reason", {"en": v, "zh": v}),
        lambda c, v: c["requirements"][0]["clause"].__setitem__("text_zh", v),
        lambda c, v: c["kinds"]["smart"]["reasons"].append({"en": v, "zh": v}),
        lambda c, v: c["requirements"][0].__setitem__("value", v),
    ],
)
def test_data_strings_are_escaped(place):
    cert = sample_cert()
    place(cert, HOSTILE)
    page = render_certificate_html(cert)
    parsed = parse(page)
    assert "script" not in parsed.tags and "img" not in parsed.tags
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert HOSTILE in "".join(parsed.text)  # shown verbatim as text


@pytest.mark.parametrize(
    ("path", "linked"),
    [
        ("evidence/photo 1.jpg", True),
        ("javascript:alert(1)", False),
        (" javascript:alert(1)", False),
        ("https://example.com/x", False),
        ("//example.com/x", False),
        ("/etc/passwd", False),
        ("C:\\evidence\\x.json", False),
    ],
)
def test_evidence_links_only_for_relative_paths(path, linked):
    cert = sample_cert()
    cert["requirements"][0]["evidence"] = [{"path": path, "sha256": "cd" * 32}]
    page = render_certificate_html(cert)
    hrefs = parse(page).hrefs
    assert html.escape(path, quote=False) in page
    assert "sha256 cdcdcdcdcdcdcdcd" in page
    others = [h for h in hrefs if not h.startswith("evidence/REQ-")]
    assert others == (["evidence/photo%201.jpg"] if linked else [])


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=40))
def test_any_device_name_round_trips_as_text(name):
    cert = sample_cert()
    cert["devices"][0]["name"] = name
    page = render_certificate_html(cert)
    parsed = parse(page)
    assert parsed.tags == parse(render_certificate_html(sample_cert())).tags  # structure intact
    assert "script" not in parsed.tags
    if name.strip():
        cleaned = name.replace("\r\n", "\n").replace("\r", "\n")
        assert cleaned in "".join(parsed.text).replace("\r\n", "\n").replace("\r", "\n")


def test_sparse_certificate_still_renders():
    page = render_certificate_html({"schema": "classcert/certificate/1"})
    assert "教室设备符合性证书" in page and "NOT SIGNED" in page
    assert "no requirements" in page and "no devices recorded" in page
    with pytest.raises(TypeError):
        render_certificate_html(["not", "a", "dict"])  # type: ignore[arg-type]


def test_unknown_verdict_is_shown_not_hidden():
    cert = sample_cert()
    cert["requirements"][0]["verdict"] = "WEIRD"
    page = render_certificate_html(cert)
    assert 'class="verdict v-unknown"' in page and "WEIRD" in page


def test_write_certificate_html(tmp_path, signed):
    path = tmp_path / "certificate.html"
    write_certificate_html(signed, path)
    assert path.read_text(encoding="utf-8") == render_certificate_html(signed)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["certificate.html"]


def test_input_is_not_modified(signed):
    before = copy.deepcopy(signed)
    render_certificate_html(signed)
    assert signed == before
