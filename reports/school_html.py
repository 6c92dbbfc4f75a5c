"""Render the signed school report as a standalone, bilingual HTML page (a view of the JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from classcert.reports.certificate_html import (
    SCHOOL_LEVEL_WORDS,
    _dict,
    _environment,
    _list,
    _pair,
    _requirement,
    _text,
)
from classcert.signing import write_bytes_atomically

TEMPLATE_NAME = "school.html"


def school_view(report: dict) -> dict[str, Any]:
    """Display-ready values for the template; missing fields become dashes."""
    school = _dict(report.get("school"))
    level = str(school.get("level") or "")
    kinds = []
    for kind_id, kind in _dict(report.get("kinds")).items():
        kind = _dict(kind)
        kinds.append({"id": str(kind_id), "name_en": _text(kind.get("name_en")),
                      "name_zh": _text(kind.get("name_zh")),
                      "claimed": len(_list(kind.get("claimed"))),
                      "certified": [_text(r) for r in _list(kind.get("certified"))]})
    requirements = []
    for req in _list(report.get("requirements")):
        view = _requirement(req, {})
        view["rooms"] = [_text(r) for r in _list(_dict(req).get("rooms"))]
        view["reason"] = _pair(_dict(req).get("reason"))
        requirements.append(view)
    signature = _dict(report.get("signature"))
    return {
        "school": {"name": _text(school.get("name")),
                   "level": " ".join(SCHOOL_LEVEL_WORDS.get(level, ("", _text(level)))).strip(),
                   "total": _text(school.get("classrooms_total")),
                   "people": f"{_text(school.get('teachers'))} / {_text(school.get('students'))}"},
        "profile": _text(_dict(report.get("profile")).get("id")),
        "kinds": kinds,
        "requirements": requirements,
        "rooms": len(_list(report.get("rooms"))),
        "campaign": _text(_dict(report.get("campaign")).get("id")),
        "issued_at": _text(report.get("issued_at")),
        "simulated": bool(report.get("simulated")),
        "signed": bool(signature),
        "key_id": _text(signature.get("key_id")),
    }


def render_school_html(report: dict) -> str:
    if not isinstance(report, dict):
        raise TypeError(f"school report must be a dict, got {type(report).__name__}")
    return _environment().get_template(TEMPLATE_NAME).render(s=school_view(report))


def write_school_html(report: dict, path: Path) -> None:
    write_bytes_atomically(Path(path), render_school_html(report).encode("utf-8"))
