"""Load and validate catalog data files (TOML, one per profile) into a :class:`Catalog`."""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from classcert.catalog.rules import VARIABLES, Expression, parse_expression
from classcert.catalog.schema import (
    METHODS,
    OPS,
    SCOPES,
    CatalogError,
    Clause,
    Kind,
    Profile,
    Requirement,
    ResolvedRequirement,
    is_number,
)
from classcert.model import SCHOOL_LEVELS, Room, School

CATALOG_DIR = Path(__file__).resolve().parent

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]*(#[a-z0-9][a-z0-9-]*)?$")
_KEY_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]*$")
_TOP_KEYS = ("profile", "kinds", "requirements")
_PROFILE_FIELDS = ("id", "version", "title_en", "title_zh", "levels")
_KIND_FIELDS = ("name_en", "name_zh", "includes")
_CLAUSE_FIELDS = ("document", "ref_zh", "ref_en", "text_zh")
_REQUIRED = ("id", "key", "title_en", "title_zh", "kinds", "scope", "mandatory", "method",
             "metric", "unit", "op", "clause")
_OPTIONAL = ("limit", "applies_when", "skip_reason_en", "skip_reason_zh", "note_en", "note_zh")
# Sample contexts used to try every expression once at load time.
_SAMPLES = tuple(
    {"seats": seats, "teachers": 120, "students": 1500, "classrooms_total": 40, "level": level}
    for seats in (1, 49, 50, 60, 500)
    for level in SCHOOL_LEVELS
)


@dataclass(frozen=True)
class Catalog:
    """The requirements of one profile, with their parsed expressions."""

    profile: Profile
    requirements: tuple[Requirement, ...]
    source: Path
    _limits: dict[str, Expression | None] = field(default_factory=dict, repr=False,
                                                    compare=False)
    _conditions: dict[str, Expression | None] = field(default_factory=dict, repr=False,
                                                        compare=False)

    def get(self, req_id: str) -> Requirement:
        for req in self.requirements:
            if req.id == req_id:
                return req
        close = difflib.get_close_matches(req_id, [r.id for r in self.requirements], n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"no requirement {req_id!r} in profile {self.profile.id!r}{hint}")

    def by_key(self, key: str) -> list[Requirement]:
        return [r for r in self.requirements if r.key == key]

    def keys(self) -> list[str]:
        """Distinct requirement keys, in catalog order."""
        return list(dict.fromkeys(r.key for r in self.requirements))

    def unknown_claims(self, claims: Iterable[str]) -> list[str]:
        return [c for c in claims if c not in self.profile.kinds]

    def kinds_closure(self, claims: Iterable[str]) -> list[str]:
        """The claimed kinds plus every kind they include, transitively (known kinds only)."""
        result: list[str] = []
        pending = [c for c in claims if c in self.profile.kinds]
        while pending:
            kind = pending.pop(0)
            if kind in result:
                continue
            result.append(kind)
            pending.extend(self.profile.kinds[kind].includes)
        return result

    def for_room(self, room: Room, school: School) -> list[ResolvedRequirement]:
        """Room-scope requirements of the claimed kinds (and what they include)."""
        kinds = set(self.kinds_closure(room.claims))
        variables = _school_variables(school) | {"seats": room.seats}
        return [
            self.resolve(req, variables)
            for req in self.requirements
            if req.scope == "room" and kinds.intersection(req.kinds)
        ]

    def for_school(self, school: School) -> list[ResolvedRequirement]:
        """School-scope requirements (rollups and school-wide counts)."""
        variables = _school_variables(school)
        return [self.resolve(r, variables) for r in self.requirements if r.scope == "school"]

    def resolve(self, req: Requirement, variables: Mapping[str, object]) -> ResolvedRequirement:
        """Decide applicability and evaluate the limit with the given variables."""
        where = {"path": self.source, "req_id": req.id}
        condition = self._conditions.get(req.id)
        if condition is not None:
            applies = _evaluate(condition, variables, field="applies_when", **where)
            if not isinstance(applies, bool):
                raise CatalogError("applies_when did not give true/false", field="applies_when",
                                   **where)
            if not applies:
                return ResolvedRequirement(req, False, req.skip_reason_en, req.skip_reason_zh)
        expression = self._limits.get(req.id)
        limit = None if expression is None else _evaluate(expression, variables, "limit", **where)
        return ResolvedRequirement(req, True, "", "", limit)


def _school_variables(school: School) -> dict[str, object]:
    return {
        "teachers": school.teachers,
        "students": school.students,
        "classrooms_total": school.classrooms_total,
        "level": school.level,
    }


def _evaluate(expression: Expression, variables: Mapping[str, object], field: str,
              **where: object) -> object:
    try:
        return expression.evaluate(variables)
    except CatalogError as exc:
        raise CatalogError(exc.problem, fix=f"correct the expression {expression.source!r}",
                           field=field, **where) from None


def available_profiles() -> list[str]:
    """Profile ids shipped with classcert (the *.toml files next to this module)."""
    return sorted(p.stem for p in CATALOG_DIR.glob("*.toml"))


def load_catalog(profile_id: str) -> Catalog:
    """Load a shipped profile by id; CatalogError listing the available ones if unknown."""
    path = CATALOG_DIR / f"{profile_id}.toml"
    if not _NAME_RE.match(profile_id or "") or not path.is_file():
        known = available_profiles()
        close = difflib.get_close_matches(profile_id or "", known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise CatalogError(
            f"unknown profile {profile_id!r} / 未知的标准配置 {profile_id!r}",
            fix=f"use one of {', '.join(known)} / 请使用：{', '.join(known)}.{hint}",
        )
    catalog = load_catalog_file(path)
    if catalog.profile.id != profile_id:
        raise CatalogError(f"profile id {catalog.profile.id!r} does not match the file name",
                           fix=f"set id = {profile_id!r}", path=path, field="profile.id")
    return catalog


def load_catalog_file(path: Path | str) -> Catalog:
    """Load and validate one catalog file (also for vendor-supplied profiles)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError("file not found / 文件不存在", fix="check the path",
                           path=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"cannot read the file: {exc}", fix="save it as UTF-8 text",
                           path=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"not valid TOML: {exc}", fix="correct the TOML syntax at that line",
                           path=path) from None
    return _Builder(path).build(data)


class _Builder:
    """Validates the parsed TOML and builds the catalog, failing on the first problem."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, problem: str, fix: str, req_id: str | None = None,
              field: str | None = None) -> CatalogError:
        return CatalogError(problem, fix=fix, path=self.path, req_id=req_id, field=field)

    def build(self, data: dict) -> Catalog:
        self.check_keys(data, _TOP_KEYS, None, "")
        profile = self.profile(data)
        items = data.get("requirements")
        if not isinstance(items, list) or not items:
            raise self.error("no [[requirements]]", "add at least one [[requirements]] table",
                             field="requirements")
        requirements, limits, conditions = [], {}, {}
        for index, item in enumerate(items):
            req, limit, condition = self.requirement(item, index, profile)
            if req.id in limits:
                raise self.error("duplicate requirement id", "give each requirement its own id "
                                 "(use a '#part' suffix for parts of one clause)", req.id, "id")
            requirements.append(req)
            limits[req.id], conditions[req.id] = limit, condition
        return Catalog(profile, tuple(requirements), self.path, limits, conditions)

    def check_keys(self, table: object, allowed: Iterable[str], req_id: str | None,
                   prefix: str) -> None:
        if not isinstance(table, dict):
            raise self.error("expected a table", "write it as a TOML table", req_id,
                             prefix.rstrip(".") or None)
        allowed = tuple(allowed)
        for name in table:
            if name not in allowed:
                close = difflib.get_close_matches(name, allowed, n=1)
                fix = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(allowed)}"
                raise self.error("unknown field", fix, req_id, prefix + name)

    def text(self, table: dict, name: str, req_id: str | None, prefix: str = "",
             required: bool = True) -> str:
        value = table.get(name)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value.strip():
            problem = "missing" if value is None else "must be a non-empty string"
            raise self.error(problem, f'set {name} = "..."', req_id, prefix + name)
        return value.strip()

    def names(self, table: dict, name: str, req_id: str | None, prefix: str = "") -> list[str]:
        value = table.get(name)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            problem = "missing" if value is None else "must be a list of strings"
            raise self.error(problem, f'set {name} = ["..."] (or [] for none)', req_id,
                             prefix + name)
        return value

    def profile(self, data: dict) -> Profile:
        table = data.get("profile")
        if table is None:
            raise self.error("missing [profile] table", "add [profile] with id, version, "
                             "title_en, title_zh, levels", field="profile")
        self.check_keys(table, _PROFILE_FIELDS, None, "profile.")
        values = {n: self.text(table, n, None, "profile.") for n in _PROFILE_FIELDS[:-1]}
        if not _NAME_RE.match(values["id"]):
            raise self.error("profile id must be lower case letters, digits, '-' or '_'",
                             'e.g. id = "cq-jj"', field="profile.id")
        levels = self.names(table, "levels", None, "profile.")
        for level in levels:
            if level not in SCHOOL_LEVELS:
                raise self.error(f"unknown school level {level!r}",
                                 f"use {', '.join(SCHOOL_LEVELS)}", field="profile.levels")
        kinds = self.kinds(data.get("kinds"))
        return Profile(values["id"], values["version"], values["title_en"], values["title_zh"],
                       tuple(levels), kinds)

    def kinds(self, table: object) -> dict[str, Kind]:
        if not isinstance(table, dict) or not table:
            raise self.error("missing [kinds.<id>] tables", "declare at least one kind, "
                             'e.g. [kinds.multimedia] name_en = "..."', field="kinds")
        kinds: dict[str, Kind] = {}
        for kind_id, entry in table.items():
            prefix = f"kinds.{kind_id}."
            if not _NAME_RE.match(kind_id):
                raise self.error("kind id must be lower case letters, digits, '-' or '_'",
                                 "rename the table", field=prefix.rstrip("."))
            self.check_keys(entry, _KIND_FIELDS, None, prefix)
            includes = self.names(entry, "includes", None, prefix)
            kinds[kind_id] = Kind(kind_id, self.text(entry, "name_en", None, prefix),
                                  self.text(entry, "name_zh", None, prefix), tuple(includes))
        for kind in kinds.values():
            for inc in kind.includes:
                if inc not in kinds:
                    raise self.error(f"includes unknown kind {inc!r}",
                                     f"use one of {', '.join(kinds)}",
                                     field=f"kinds.{kind.id}.includes")
            if _reaches(kinds, kind.id, kind.id):
                raise self.error("kinds include each other in a cycle",
                                 "remove one of the includes", field=f"kinds.{kind.id}.includes")
        return kinds

    def requirement(self, item: object, index: int, profile: Profile
                    ) -> tuple[Requirement, Expression | None, Expression | None]:
        label = f"#{index + 1} (no id)"
        if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"].strip():
            label = item["id"].strip()
        self.check_keys(item, _REQUIRED + _OPTIONAL, label, "")
        assert isinstance(item, dict)
        req_id = self.text(item, "id", label)
        if not _ID_RE.match(req_id):
            raise self.error("malformed id", "use the clause id, e.g. JJ010301.P3, with an "
                             "optional '#part' suffix in lower case", label, "id")
        key = self.text(item, "key", req_id)
        if not _KEY_RE.match(key):
            raise self.error("malformed key", "use dotted lower-case words, e.g. display.size",
                             req_id, "key")
        choices = {"scope": SCOPES, "method": METHODS, "op": OPS}
        chosen = {}
        for name, allowed in choices.items():
            chosen[name] = self.text(item, name, req_id)
            if chosen[name] not in allowed:
                raise self.error(f"unknown {name} {chosen[name]!r}",
                                 f"use one of {', '.join(allowed)}", req_id, name)
        if not isinstance(item.get("mandatory"), bool):
            raise self.error("missing" if "mandatory" not in item else "must be true or false",
                             "set mandatory = true (or false for recommended items)",
                             req_id, "mandatory")
        kinds = self.kind_list(item, req_id, chosen["scope"], profile)
        clause = self.clause(item.get("clause"), req_id)
        limit = self.expression(item, "limit", req_id, chosen)
        condition = self.expression(item, "applies_when", req_id, chosen)
        texts = {n: self.text(item, n, req_id, required=False) for n in _OPTIONAL[2:]}
        if condition is not None and not (texts["skip_reason_en"] and texts["skip_reason_zh"]):
            missing = "skip_reason_en" if not texts["skip_reason_en"] else "skip_reason_zh"
            raise self.error("missing (needed because applies_when is set)",
                             "say in English and Chinese why the requirement may not apply",
                             req_id, missing)
        req = Requirement(
            id=req_id, key=key, title_en=self.text(item, "title_en", req_id),
            title_zh=self.text(item, "title_zh", req_id), clause=clause, kinds=tuple(kinds),
            scope=chosen["scope"], mandatory=item["mandatory"], method=chosen["method"],
            metric=self.text(item, "metric", req_id), unit=self.text(item, "unit", req_id),
            op=chosen["op"], limit=None if limit is None else limit.source,
            applies_when=None if condition is None else condition.source, **texts,
        )
        return req, limit, condition

    def kind_list(self, item: dict, req_id: str, scope: str, profile: Profile) -> list[str]:
        kinds = self.names(item, "kinds", req_id)
        for kind in kinds:
            if kind not in profile.kinds:
                raise self.error(f"unknown kind {kind!r}", "declare it under [kinds.<id>] or use "
                                 f"one of {', '.join(profile.kinds)}", req_id, "kinds")
        if scope == "room" and not kinds:
            raise self.error("a room requirement needs at least one kind",
                             'set kinds = ["multimedia"] (or scope = "school")', req_id, "kinds")
        if scope == "school" and kinds:
            raise self.error("a school requirement belongs to no kind",
                             "set kinds = []", req_id, "kinds")
        return kinds

    def clause(self, table: object, req_id: str) -> Clause:
        if table is None:
            raise self.error("missing", "add [requirements.clause] with document, ref_zh, "
                             "ref_en, text_zh", req_id, "clause")
        self.check_keys(table, _CLAUSE_FIELDS, req_id, "clause.")
        assert isinstance(table, dict)
        values = [self.text(table, n, req_id, "clause.") for n in _CLAUSE_FIELDS]
        values[3] = " ".join(values[3].split())
        return Clause(*values)

    def expression(self, item: dict, name: str, req_id: str, chosen: dict[str, str]
                   ) -> Expression | None:
        source = item.get(name)
        if source is None:
            if name == "limit" and chosen["op"] != "true":
                raise self.error("missing", f'give a limit for op {chosen["op"]!r}, '
                                 'e.g. limit = "80"', req_id, name)
            return None
        try:
            expression = parse_expression(source)
        except CatalogError as exc:
            raise self.error(exc.problem, "write it with the allowed syntax", req_id,
                             name) from None
        if chosen["scope"] == "school" and "seats" in expression.names:
            raise self.error("a school requirement cannot use 'seats'",
                             f"use {', '.join(v for v in VARIABLES if v != 'seats')}",
                             req_id, name)
        for sample in _SAMPLES:
            try:
                value = expression.evaluate(sample)
            except CatalogError as exc:
                raise self.error(f"{exc.problem} (tried with {sample})",
                                 "correct the expression", req_id, name) from None
            problem = _result_problem(name, value, chosen["op"])
            if problem:
                raise self.error(problem, "correct the expression", req_id, name)
        return expression


def _result_problem(name: str, value: object, op: str) -> str:
    if name == "applies_when":
        return "" if isinstance(value, bool) else f"must give true/false, gave {value!r}"
    if op == "true":
        return "" if value is True else 'with op "true" leave limit out (or set it to "True")'
    if isinstance(value, bool):
        return "" if op == "==" else f"a true/false limit only works with op '==', not {op!r}"
    if is_number(value):
        return ""
    if isinstance(value, list) and value and all(is_number(v) for v in value):
        return ""
    return f"must give a number, a bool or a list of numbers, gave {value!r}"


def _reaches(kinds: Mapping[str, Kind], start: str, target: str) -> bool:
    seen: set[str] = set()
    pending = list(kinds[start].includes)
    while pending:
        kind = pending.pop()
        if kind == target:
            return True
        if kind in seen or kind not in kinds:
            continue
        seen.add(kind)
        pending.extend(kinds[kind].includes)
    return False
