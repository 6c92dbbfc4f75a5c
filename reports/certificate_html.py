"""Render a room certificate (the signed JSON dict) as a standalone, bilingual HTML page.

The page has inline CSS only (no external resources) and prints on A4. Every string taken from
the certificate is escaped by the template engine (autoescape on); links are only made for
relative evidence paths. The HTML is a view: the signed JSON file is what ``classcert verify``
checks.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from classcert.model import VERDICT_ZH, Verdict
from classcert.signing import write_bytes_atomically

TEMPLATE_DIR = Path(__file__).parent / "templates"
TEMPLATE_NAME = "certificate.html"

VERDICT_EN: dict[str, str] = {
    "PASS": "pass",
    "FAIL": "fail",
    "ERROR": "could not test",
    "SKIPPED": "not applicable",
    "ATTESTED": "attested",
    "NOT_TESTED": "not tested",
}
STATUS_WORDS: dict[str, tuple[str, str]] = {
    "certified": ("达标", "certified"),
    "not certified": ("未达标", "not certified"),
}
SCHOOL_LEVEL_WORDS: dict[str, tuple[str, str]] = {
    "basic": ("基础教育", "basic education"),
    "vocational": ("职业教育", "vocational education"),
    "higher": ("高等教育", "higher education"),
}
_EMPTY = "—"


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list | tuple) else []


def _text(value: Any) -> str:
    """Display form of one JSON value (None and empty become a dash)."""
    if value is None or value == "":
        return _EMPTY
    if isinstance(value, bool):
        return "是 yes" if value else "否 no"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value) or _EMPTY
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items()) or _EMPTY
    return str(value)


def _pair(value: Any) -> dict[str, str]:
    """A {"en", "zh"} message, tolerating a plain string."""
    if isinstance(value, dict):
        return {"en": _text(value.get("en", "")), "zh": _text(value.get("zh", ""))}
    if value in (None, ""):
        return {"en": "", "zh": ""}
    return {"en": _text(value), "zh": ""}


def _verdict(value: Any) -> dict[str, str]:
    code = str(value) if value is not None else "NOT_TESTED"
    try:
        zh = VERDICT_ZH[Verdict(code)]
    except ValueError:
        return {"code": code, "zh": "", "en": code, "css": "unknown"}
    return {"code": code, "zh": zh, "en": VERDICT_EN[code], "css": code.lower().replace("_", "-")}


def _evidence_href(path: str) -> str | None:
    """Relative link for an evidence file, or None if it is not a plain relative path."""
    if not path or path.startswith(("/", "\\")) or ":" in path.split("/", 1)[0]:
        return None  # absolute paths, drive letters, URL schemes (javascript:, data:): no link
    return quote(path.replace("\\", "/"), safe="/._-~")


def _requirement(req: Any, kind_names: dict[str, str], base: str = "") -> dict[str, Any]:
    req = _dict(req)
    clause = _dict(req.get("clause"))
    evidence = []
    for item in _list(req.get("evidence")):
        item = _dict(item)
        path = str(item.get("path") or "")
        sha = str(item.get("sha256") or "")
        href = _evidence_href(path)
        evidence.append({"path": path, "href": base + href if href else None, "sha256": sha})
    value = req.get("value")
    unit = req.get("unit")
    shown = _text(value)
    if value is not None and unit not in (None, ""):
        shown = f"{shown} {unit}"
    return {
        "id": _text(req.get("id")),
        "key": _text(req.get("key")),
        "title_en": _text(req.get("title_en")),
        "title_zh": _text(req.get("title_zh")),
        "clause_ref_en": str(clause.get("ref_en") or ""),
        "clause_ref_zh": str(clause.get("ref_zh") or ""),
        "clause_text_zh": str(clause.get("text_zh") or ""),
        "mandatory": bool(req.get("mandatory")),
        "kinds": [kind_names.get(str(k), _text(k)) for k in _list(req.get("kinds"))],
        "verdict": _verdict(req.get("verdict")),
        "value": shown,
        "limit": _text(req.get("limit")),
        "reason": _pair(req.get("reason")),
        "evidence": evidence,
        "measured_at": _text(req.get("measured_at")),
    }


def _kind(kind_id: str, kind: Any) -> dict[str, Any]:
    kind = _dict(kind)
    status = str(kind.get("status") or "")
    zh, en = STATUS_WORDS.get(status, ("", status or "unknown"))
    return {
        "id": kind_id,
        "name_en": str(kind.get("name_en") or kind_id),
        "name_zh": str(kind.get("name_zh") or ""),
        "certified": status == "certified",
        "status_zh": zh,
        "status_en": en,
        "reasons": [_pair(r) for r in _list(kind.get("reasons"))],
    }


def _device(dev: Any) -> dict[str, Any]:
    dev = _dict(dev)
    fields = ("role", "name", "driver", "address", "make", "model", "serial", "firmware")
    view = {f: _text(dev.get(f)) for f in fields}
    view["simulated"] = bool(dev.get("simulated"))
    return view


def certificate_view(cert: dict, evidence_base: str = "") -> dict[str, Any]:
    """Plain, display-ready values for the template; missing fields become dashes.

    ``evidence_base`` is prefixed to evidence links (paths in the certificate are relative
    to the campaign output directory; the page may live elsewhere).
    """
    school = _dict(cert.get("school"))
    room = _dict(cert.get("room"))
    profile = _dict(cert.get("profile"))
    campaign = _dict(cert.get("campaign"))
    harness = _dict(cert.get("harness"))
    signature = _dict(cert.get("signature"))
    kinds = [_kind(str(k), v) for k, v in _dict(cert.get("kinds")).items()]
    kind_names = {k["id"]: f"{k['name_zh']} {k['name_en']}".strip() for k in kinds}
    devices = [_device(d) for d in _list(cert.get("devices"))]
    level = str(school.get("level") or "")
    return {
        "school": {
            "name": _text(school.get("name")),
            "level": " ".join(SCHOOL_LEVEL_WORDS.get(level, ("", _text(level)))).strip(),
            "profile": _text(school.get("profile")),
        },
        "room": {
            "id": _text(room.get("id")),
            "name": _text(room.get("name")),
            "seats": _text(room.get("seats")),
            "claims": [kind_names.get(str(c), str(c)) for c in _list(room.get("claims"))],
        },
        "profile": {
            "id": _text(profile.get("id")),
            "version": _text(profile.get("version")),
            "title_en": _text(profile.get("title_en")),
            "title_zh": _text(profile.get("title_zh")),
        },
        "kinds": kinds,
        "requirements": [
            _requirement(r, kind_names, evidence_base) for r in _list(cert.get("requirements"))
        ],
        "devices": devices,
        "harness": f"{_text(harness.get('name', 'classcert'))} {_text(harness.get('version'))}",
        "campaign": {
            "id": _text(campaign.get("id")),
            "started_at": _text(campaign.get("started_at")),
            "finished_at": _text(campaign.get("finished_at")),
        },
        "issued_at": _text(cert.get("issued_at")),
        "schema": _text(cert.get("schema")),
        "simulated": bool(cert.get("simulated")) or any(d["simulated"] for d in devices),
        "signature": {
            "present": bool(signature),
            "algorithm": _text(signature.get("algorithm")),
            "key_id": _text(signature.get("key_id")),
            "public_key": _text(signature.get("public_key")),
        },
    }


def render_certificate_html(cert: dict, evidence_base: str = "") -> str:
    """Return the certificate as a complete HTML document (UTF-8 text)."""
    if not isinstance(cert, dict):
        raise TypeError(f"certificate must be a dict, got {type(cert).__name__}")
    template = _environment().get_template(TEMPLATE_NAME)
    return template.render(c=certificate_view(cert, evidence_base))


def write_certificate_html(cert: dict, path: Path, evidence_base: str = "") -> None:
    """Render ``cert`` and write it to ``path`` atomically as UTF-8."""
    html = render_certificate_html(cert, evidence_base)
    write_bytes_atomically(Path(path), html.encode("utf-8"))
