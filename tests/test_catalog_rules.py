"""Tests of the catalog expression evaluator (classcert.catalog.rules)."""

from __future__ import annotations

import math
import operator
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from classcert.catalog import CatalogError, ceil_div, load_catalog, parse_expression
from classcert.catalog.rules import MAX_SOURCE_CHARS, VARIABLES
from classcert.model import SCHOOL_LEVELS, Room, School

# ------------------------------------------------------------------ ceil_div and Wi-Fi capacity


@settings(max_examples=400)
@given(st.integers(min_value=-(10**30), max_value=10**30),
       st.integers(min_value=-(10**12), max_value=10**12).filter(lambda b: b != 0))
def test_ceil_div_matches_exact_rational_ceiling(a: int, b: int) -> None:
    assert ceil_div(a, b) == math.ceil(Fraction(a, b))


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=1, max_value=10**6))
def test_ceil_div_is_the_least_integer_bound(a: int, b: int) -> None:
    q = ceil_div(a, b)
    assert q * b >= a > (q - 1) * b


@pytest.mark.parametrize("args", [(1.5, 2), (3, 2.0), (True, 2), (3, 0), ("3", 2)])
def test_ceil_div_rejects_non_integers_and_zero(args: tuple) -> None:
    with pytest.raises(CatalogError):
        ceil_div(*args)


def _school(level: str = "basic") -> School:
    return School("S", level, teachers=100, students=1000, classrooms_total=40, profile="x")


@pytest.mark.parametrize("profile", ["cq-jj", "cq-zj", "cq-gj"])
def test_wifi_capacity_is_exact_120_percent_rounded_up(profile: str) -> None:
    catalog = load_catalog(profile)
    (req,) = catalog.by_key("wifi.capacity")
    school = _school()
    for seats in range(1, 501):
        resolved = catalog.resolve(req, {"seats": seats, "teachers": 1, "students": 1,
                                         "classrooms_total": 1, "level": "basic"})
        expected = math.ceil(Fraction(6 * seats, 5))
        assert resolved.limit == expected and isinstance(resolved.limit, int), seats
    room = Room("r1", "R1", 41, ("smart",))
    (wifi,) = [r for r in catalog.for_room(room, school) if r.requirement.key == "wifi.capacity"]
    assert wifi.limit == 50  # 49.2 rounds up, never down
    assert wifi.evaluate(49)[0].value == "FAIL"
    assert wifi.evaluate(50)[0].value == "PASS"


# ------------------------------------------------------------------ rejected syntax

REJECTED = [
    "seats.real",  # attribute access
    "seats.__class__",
    "__import__('os')",  # call of another name, dunder
    "__builtins__",
    "open('/etc/passwd')",
    "print(1)",
    "eval('1')",
    "lambda: 1",
    "(lambda x: x)(1)",
    "[1, 2][0]",  # subscript
    "level[0]",
    "import os",  # statement
    "from os import path",
    "seats ** 2",  # operators outside the grammar
    "seats / 2",
    "seats << 1",
    "seats & 1",
    "~seats",
    "{1: 2}",
    "{1, 2}",
    "(1, 2)",
    "None",
    "...",
    "1j",
    "b'x'",
    "f'{seats}'",
    "[x for x in [1]]",
    "(y := 1)",
    "ceil_div",  # function name not called
    "ceil_div + 1",
    "ceil_div(a=1, b=2)",
    "max(*[1, 2])",
    "min.__call__(1)",
    "pupils > 3",  # unknown variable
    "",
    "   ",
    "seats +",
    "1 if seats else",
]


@pytest.mark.parametrize("source", REJECTED)
def test_disallowed_syntax_is_rejected(source: str) -> None:
    with pytest.raises(CatalogError):
        parse_expression(source)


@given(st.from_regex(r"\A_{0,2}[a-z][a-z0-9_]{0,10}_{0,2}\Z"))
def test_unknown_names_are_rejected(name: str) -> None:
    if name in VARIABLES:
        assert parse_expression(name).names == {name}
        return
    with pytest.raises(CatalogError):
        parse_expression(name)
    with pytest.raises(CatalogError):
        parse_expression(f"seats.{name}")
    with pytest.raises(CatalogError):
        parse_expression(f"{name}(1)")


def test_non_string_and_oversized_expressions_are_rejected() -> None:
    with pytest.raises(CatalogError):
        parse_expression(80)  # type: ignore[arg-type]
    with pytest.raises(CatalogError):
        parse_expression("1 + " * 150 + "1")
    with pytest.raises(CatalogError):
        parse_expression("(" * 300 + "1" + ")" * 300)


@pytest.mark.parametrize(
    "source",
    ["True + 1", "'a' * 3", "seats and True", "not seats", "[1] + [2]", "1 if seats else 2",
     "level < 3", "ceil_div(seats, 0)", "seats % 0", "min()", "max(1, 'a')", "ceil_div(1.5, 1)",
     "True < False", "1e308 * 10"],
)
def test_type_and_arithmetic_errors_at_evaluation(source: str) -> None:
    expression = parse_expression(source)
    with pytest.raises(CatalogError):
        expression.evaluate({"seats": 10, "teachers": 1, "students": 1, "classrooms_total": 1,
                             "level": "basic"})


def test_missing_variable_is_named() -> None:
    with pytest.raises(CatalogError, match="seats"):
        parse_expression("seats < 50").evaluate({"teachers": 1})


@pytest.mark.parametrize(
    ("source", "variables", "expected"),
    [
        ("100 if seats < 60 else 120", {"seats": 59}, 100),
        ("100 if seats < 60 else 120", {"seats": 60}, 120),
        ("ceil_div(12 * seats, 10)", {"seats": 45}, 54),
        ("512 * (teachers + students)", {"teachers": 10, "students": 90}, 51200),
        ("[1920, 1080]", {}, [1920, 1080]),
        ("0 < seats <= 50 and level == 'basic'", {"seats": 50, "level": "basic"}, True),
        ("not (seats < 50) or level != 'higher'", {"seats": 10, "level": "higher"}, False),
        ("max(seats, 10) - min(3, 4.5)", {"seats": 2}, 7),
        ("-seats // 4 % 3", {"seats": 9}, 0),
    ],
)
def test_examples(source: str, variables: dict, expected: object) -> None:
    result = parse_expression(source).evaluate(variables)
    assert result == expected and type(result) is type(expected)


# ------------------------------------------------------------------ random expression trees

_ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "//": operator.floordiv,
          "%": operator.mod}
_CMP = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
        "==": operator.eq, "!=": operator.ne}
_NUMERIC_VARS = [v for v in VARIABLES if v != "level"]


class _Invalid(Exception):
    """The reference says this expression must fail (division by zero, ceil_div on float)."""


_leaf = st.one_of(
    st.integers(min_value=-1000, max_value=1000).map(lambda v: ("num", v)),
    st.integers(min_value=-4000, max_value=4000).map(lambda v: ("num", v / 4)),  # short floats
    st.sampled_from(_NUMERIC_VARS).map(lambda v: ("var", v)),
)
_bool_leaf = st.one_of(
    st.booleans().map(lambda v: ("bool", v)),
    st.tuples(st.sampled_from(["==", "!="]), st.sampled_from(SCHOOL_LEVELS + ("x",))).map(
        lambda t: ("level", t[0], t[1])),
)


def _extend_num(children: st.SearchStrategy) -> st.SearchStrategy:
    bools = st.one_of(_bool_leaf, st.tuples(st.just("cmp"), st.sampled_from(sorted(_CMP)),
                                            children, children))
    return st.one_of(
        st.tuples(st.just("bin"), st.sampled_from(sorted(_ARITH)), children, children),
        st.tuples(st.just("neg"), children),
        st.tuples(st.just("call"), st.sampled_from(["min", "max"]),
                  st.lists(children, min_size=1, max_size=3).map(tuple)),
        st.tuples(st.just("call"), st.just("ceil_div"), st.tuples(children, children)),
        st.tuples(st.just("if"), bools, children, children),
    )


_num_tree = st.recursive(_leaf, _extend_num, max_leaves=12)
_bool_tree = st.recursive(
    st.one_of(_bool_leaf, st.tuples(st.just("cmp"), st.sampled_from(sorted(_CMP)), _num_tree,
                                    _num_tree)),
    lambda c: st.one_of(st.tuples(st.just("and"), c, c), st.tuples(st.just("or"), c, c),
                        st.tuples(st.just("not"), c)),
    max_leaves=6,
)


def _render(node: tuple) -> str:
    kind = node[0]
    if kind in ("num", "bool"):
        return f"({node[1]!r})"
    if kind == "var":
        return node[1]
    if kind == "level":
        return f"(level {node[1]} {node[2]!r})"
    if kind in ("bin", "cmp"):
        return f"({_render(node[2])} {node[1]} {_render(node[3])})"
    if kind == "neg":
        return f"(-{_render(node[1])})"
    if kind == "call":
        return f"{node[1]}({', '.join(_render(a) for a in node[2])})"
    if kind == "if":
        return f"({_render(node[2])} if {_render(node[1])} else {_render(node[3])})"
    if kind in ("and", "or"):
        return f"({_render(node[1])} {kind} {_render(node[2])})"
    return f"(not {_render(node[1])})"


def _reference(node: tuple, env: dict) -> object:
    kind = node[0]
    if kind in ("num", "bool"):
        return node[1]
    if kind == "var":
        return env[node[1]]
    if kind == "level":
        return _CMP[node[1]](env["level"], node[2])
    if kind == "bin":
        left, right = _reference(node[2], env), _reference(node[3], env)
        if node[1] in ("//", "%") and right == 0:
            raise _Invalid
        return _ARITH[node[1]](left, right)
    if kind == "cmp":
        return _CMP[node[1]](_reference(node[2], env), _reference(node[3], env))
    if kind == "neg":
        return -_reference(node[1], env)
    if kind == "call":
        args = [_reference(a, env) for a in node[2]]
        if node[1] == "ceil_div":
            if not all(isinstance(a, int) for a in args) or args[1] == 0:
                raise _Invalid
            return math.ceil(Fraction(args[0], args[1]))
        return min(args) if node[1] == "min" else max(args)
    if kind == "if":
        return _reference(node[2] if _reference(node[1], env) else node[3], env)
    if kind == "and":  # short circuit, like the evaluator
        return _reference(node[1], env) and _reference(node[2], env)
    if kind == "or":
        return _reference(node[1], env) or _reference(node[2], env)
    return not _reference(node[1], env)


_env = st.fixed_dictionaries({
    "seats": st.integers(min_value=1, max_value=500),
    "teachers": st.integers(min_value=0, max_value=5000),
    "students": st.integers(min_value=0, max_value=50000),
    "classrooms_total": st.integers(min_value=0, max_value=500),
    "level": st.sampled_from(SCHOOL_LEVELS),
})


def _check_against_reference(tree: tuple, env: dict) -> None:
    source = _render(tree)
    assume(len(source) <= MAX_SOURCE_CHARS)
    expression = parse_expression(source)
    try:
        expected = _reference(tree, env)
    except _Invalid:
        with pytest.raises(CatalogError):
            expression.evaluate(env)
        return
    result = expression.evaluate(env)
    assert result == expected, source
    assert type(result) is type(expected), source


@settings(max_examples=300, deadline=None)
@given(_num_tree, _env)
def test_random_numeric_trees_match_reference(tree: tuple, env: dict) -> None:
    _check_against_reference(tree, env)


@settings(max_examples=300, deadline=None)
@given(_bool_tree, _env)
def test_random_condition_trees_match_reference(tree: tuple, env: dict) -> None:
    _check_against_reference(tree, env)
