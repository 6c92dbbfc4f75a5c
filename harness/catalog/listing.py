"""Text table of a catalog's requirements, in English or Chinese (`classcert requirements`)."""

from __future__ import annotations

import unicodedata

from classcert.catalog.loader import Catalog
from classcert.catalog.schema import CatalogError, Requirement

_HEADERS = {
    "en": ("id", "key", "title", "kinds", "M/R", "method", "rule", "applies when"),
    "zh": ("条款", "键", "名称", "教室类型", "必备/建议", "方式", "规则", "适用条件"),
}
_METHOD = {
    "en": {"measured": "measured", "attested": "attested", "computed": "computed"},
    "zh": {"measured": "实测", "attested": "人工确认", "computed": "计算"},
}
_MANDATORY = {"en": ("M", "R"), "zh": ("必备", "建议")}
_SCHOOL = {"en": "(school)", "zh": "（全校）"}
_FOOTER = {
    "en": "M = mandatory, R = recommended (does not decide certification).",
    "zh": "必备 = 强制要求；建议 = 推荐项（不影响达标判定）。",
}


def display_width(text: str) -> int:
    """Terminal columns taken by text (East Asian wide characters count as two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - display_width(text))


def _rule(req: Requirement) -> str:
    if req.op == "true":
        return "true"
    unit = "" if req.unit in ("", "bool") else f" {req.unit}"
    if req.unit == "%":
        unit = "%"
    return f"{req.op} {req.limit}{unit}"


def _row(catalog: Catalog, req: Requirement, lang: str) -> tuple[str, ...]:
    kinds = catalog.profile.kinds
    if req.scope == "school":
        kind_text = _SCHOOL[lang]
    else:
        kind_text = ", ".join(kinds[k].name(lang) if k in kinds else k for k in req.kinds)
    return (
        req.id,
        req.key,
        req.title(lang),
        kind_text,
        _MANDATORY[lang][0 if req.mandatory else 1],
        _METHOD[lang].get(req.method, req.method),
        _rule(req),
        req.applies_when or "",
    )


def format_requirements(catalog: Catalog, lang: str = "en", kind: str | None = None) -> str:
    """The catalog as an aligned text table.

    With ``kind``, only the room requirements a room claiming that kind must meet
    (including the kinds it includes); otherwise every requirement, school ones last.
    """
    if lang not in _HEADERS:
        raise ValueError(f"unknown language {lang!r}; use 'en' or 'zh'")
    profile = catalog.profile
    if kind is not None:
        if kind not in profile.kinds:
            raise CatalogError(
                f"unknown kind {kind!r} in profile {profile.id!r} / 未知的教室类型 {kind!r}",
                fix=f"use one of {', '.join(profile.kinds)}",
            )
        closure = set(catalog.kinds_closure([kind]))
        selected = [r for r in catalog.requirements
                    if r.scope == "room" and closure.intersection(r.kinds)]
    else:
        selected = sorted(catalog.requirements, key=lambda r: r.scope == "school")
    rows = [_HEADERS[lang]] + [_row(catalog, r, lang) for r in selected]
    widths = [max(display_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [f"{profile.id} {profile.version} - {profile.title(lang)}"]
    if kind is not None:
        label = "教室类型" if lang == "zh" else "kind"
        lines.append(f"{label}: {profile.kinds[kind].name(lang)} ({kind})")
    lines.append("")
    for i, row in enumerate(rows):
        lines.append("  ".join(_pad(cell, w) for cell, w in zip(row, widths, strict=True))
                     .rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    count = f"{len(selected)} 项要求" if lang == "zh" else f"{len(selected)} requirements"
    lines += ["", count + ("。" if lang == "zh" else ". ") + _FOOTER[lang]]
    return "\n".join(lines) + "\n"
