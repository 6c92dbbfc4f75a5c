"""Catalog data types: profiles, classroom kinds, clauses and requirements.

A :class:`Requirement` is what a data file says; a :class:`ResolvedRequirement` is that
requirement for one room or school, with its condition and limit evaluated, ready to judge
a measured value.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from classcert.model import Verdict

OPS: tuple[str, ...] = (">=", "<=", ">", "<", "==", "true")
METHODS: tuple[str, ...] = ("measured", "attested", "computed")
SCOPES: tuple[str, ...] = ("room", "school")

_COMPARE: dict[str, Callable[[object, object], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}
_OP_ZH = {">=": "≥", "<=": "≤", ">": ">", "<": "<", "==": "="}
_METHOD_WORD = {
    "measured": ("measured", "实测"),
    "attested": ("attested", "人工确认"),
    "computed": ("computed", "计算值"),
}
# Units shown without a space before them, and their zh-CN spelling.
_UNIT_ZH = {
    "in": "英寸",
    "h": "小时",
    "px": "像素",
    "%": "%",
    "clients": "个终端",
    "points": "个",
    "streams": "路",
    "students/computer": "名学生/台",
}
_UNIT_TIGHT = {"%"}


class CatalogError(Exception):
    """A catalog file or expression is wrong. The message names file, id, field and fix."""

    def __init__(
        self,
        problem: str,
        *,
        fix: str = "",
        path: Path | str | None = None,
        req_id: str | None = None,
        field: str | None = None,
    ) -> None:
        self.problem, self.fix, self.path = problem, fix, path
        self.req_id, self.field = req_id, field
        where = []
        if path is not None:
            where.append(str(path))
        if req_id is not None:
            where.append(f"requirement {req_id!r}")
        if field is not None:
            where.append(f"field {field!r}")
        text = ", ".join(where) + ": " + problem if where else problem
        if fix:
            text += f". Fix: {fix}"
        super().__init__(text)


@dataclass(frozen=True)
class Clause:
    """Where a requirement comes from: document file, reference and the quoted text."""

    document: str
    ref_zh: str
    ref_en: str
    text_zh: str


@dataclass(frozen=True)
class Kind:
    """A classroom kind a room may claim; ``includes`` are kinds it must also satisfy."""

    id: str
    name_en: str
    name_zh: str
    includes: tuple[str, ...] = ()

    def name(self, lang: str = "en") -> str:
        return self.name_zh if lang == "zh" else self.name_en


@dataclass(frozen=True)
class Profile:
    id: str
    version: str
    title_en: str
    title_zh: str
    levels: tuple[str, ...]
    kinds: dict[str, Kind] = field(default_factory=dict, hash=False)

    def title(self, lang: str = "en") -> str:
        return self.title_zh if lang == "zh" else self.title_en


@dataclass(frozen=True)
class Requirement:
    """One measurable requirement as written in a catalog data file."""

    id: str
    key: str
    title_en: str
    title_zh: str
    clause: Clause
    kinds: tuple[str, ...]
    scope: str
    mandatory: bool
    method: str
    metric: str
    unit: str
    op: str
    limit: str | None
    applies_when: str | None = None
    skip_reason_en: str = ""
    skip_reason_zh: str = ""
    note_en: str = ""
    note_zh: str = ""

    def title(self, lang: str = "en") -> str:
        return self.title_zh if lang == "zh" else self.title_en

    def citation(self, lang: str = "en") -> str:
        """Clause id, reference and quoted text, e.g. for a certificate line."""
        if lang == "zh":
            return f"{self.id} — {self.clause.ref_zh}：“{self.clause.text_zh}”"
        return f"{self.id} - {self.clause.ref_en}: «{self.clause.text_zh}»"


def is_number(value: object) -> bool:
    """True for int and float, never for bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def format_value(value: object) -> str:
    """Short display of a value: 80, 4.5, true, [1920, 1080]."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.6g}" if abs(value) < 1e15 else repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


def format_quantity(value: object, unit: str, lang: str = "en") -> str:
    """A value with its unit: "75 in", "75 英寸", "45%", "true" (unit "bool" not shown)."""
    text = format_value(value)
    if unit in ("", "bool") or isinstance(value, bool):
        return text
    shown = _UNIT_ZH.get(unit, unit) if lang == "zh" else unit
    return text + shown if unit in _UNIT_TIGHT else f"{text} {shown}"


def check_value(value: object, op: str, limit: object) -> bool:
    """Compare a value with a limit; ValueError when the value's type does not fit.

    op "true": the value must be a bool and True passes. Numbers compare with numbers,
    bools with bools (== only), lists of numbers element-wise with lists of equal length.
    """
    if op == "true":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value
    if op not in _COMPARE:
        raise ValueError(f"unknown operator {op!r}")
    compare = _COMPARE[op]
    if isinstance(limit, bool):
        if op != "==" or not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value == limit
    if is_number(limit):
        _require_number(value)
        return compare(value, limit)
    if isinstance(limit, list):
        if not isinstance(value, list | tuple) or len(value) != len(limit):
            raise ValueError(f"expected a list of {len(limit)} numbers, got {value!r}")
        for item in value:
            _require_number(item)
        return all(compare(v, lim) for v, lim in zip(value, limit, strict=True))
    raise ValueError(f"a limit of {limit!r} cannot be compared")


def _require_number(value: object) -> None:
    if not is_number(value):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")


@dataclass(frozen=True)
class ResolvedRequirement:
    """A requirement for one room (or school): applicability decided, limit evaluated."""

    requirement: Requirement
    applicable: bool
    skip_reason_en: str = ""
    skip_reason_zh: str = ""
    limit: object = None

    def limit_text(self, lang: str = "en") -> str:
        """The rule as text: ">= 80 in", ">= [1920, 1080] px", "true"."""
        req = self.requirement
        if req.op == "true":
            return "true"
        op = _OP_ZH[req.op] if lang == "zh" else req.op
        if self.limit is None:
            return f"{op} {req.limit}" + (f" {req.unit}" if req.unit not in ("", "bool") else "")
        return f"{op} {format_quantity(self.limit, req.unit, lang)}"

    def evaluate(self, value: object) -> tuple[Verdict, str, str]:
        """Judge a value: (PASS or FAIL, reason_en, reason_zh); SKIPPED if not applicable.

        Raises ValueError when the value has the wrong type for this requirement; the
        harness reports that as ERROR. Never returns ERROR itself.
        """
        req = self.requirement
        if not self.applicable:
            return Verdict.SKIPPED, self.skip_reason_en, self.skip_reason_zh
        try:
            passed = check_value(value, req.op, self.limit)
        except ValueError as exc:
            raise ValueError(f"{req.id} ({req.metric}): {exc}") from None
        word_en, word_zh = _METHOD_WORD.get(req.method, (req.method, req.method))
        reason_en = (
            f"{word_en} {format_quantity(value, req.unit)}; "
            f"required {self.limit_text()} ({req.id})"
        )
        reason_zh = (
            f"{word_zh} {format_quantity(value, req.unit, 'zh')}；"
            f"要求 {self.limit_text('zh')}（{req.id}）"
        )
        return (Verdict.PASS if passed else Verdict.FAIL), reason_en, reason_zh
