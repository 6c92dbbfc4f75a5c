"""Safe evaluator for catalog limits and conditions.

Expressions are parsed with :mod:`ast` and interpreted node by node; nothing is ever
passed to ``eval``. Only a small grammar is accepted:

- constants: int, float, str, bool; lists of expressions;
- the names in :data:`VARIABLES`;
- ``+ - * // %`` on numbers, unary ``-``/``+``;
- comparisons (chains allowed), ``and``/``or``/``not`` on bools, ``x if c else y``;
- calls to :data:`FUNCTIONS` (``ceil_div``, ``min``, ``max``) with positional arguments.

Everything else raises :class:`CatalogError`. Types are strict: ``True + 1``, ``"a" * 3``
or ``seats and 1`` are errors rather than Python's permissive results.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from classcert.catalog.schema import CatalogError, is_number

VARIABLES: tuple[str, ...] = ("seats", "teachers", "students", "classrooms_total", "level")
FUNCTIONS: tuple[str, ...] = ("ceil_div", "min", "max")
MAX_SOURCE_CHARS = 400
MAX_NODES = 200

_ARITH: dict[type, Callable[[object, object], object]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_ARITH_SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//", ast.Mod: "%"}
_COMPARE: dict[type, Callable[[object, object], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)


def ceil_div(a: object, b: object) -> int:
    """Integer ceiling of a / b, exact for any size of int (no float rounding)."""
    if not (isinstance(a, int) and isinstance(b, int)) or isinstance(a, bool) or isinstance(
        b, bool
    ):
        raise CatalogError(f"ceil_div() takes two integers, got {a!r} and {b!r}")
    if b == 0:
        raise CatalogError("ceil_div() division by zero")
    return -((-a) // b)


def _min_max(fn: Callable, name: str) -> Callable[..., object]:
    def call(*args: object) -> object:
        if not args:
            raise CatalogError(f"{name}() needs at least one argument")
        if not all(is_number(a) for a in args):
            raise CatalogError(f"{name}() takes numbers, got {list(args)!r}")
        return fn(args)

    return call


_FUNCTION_IMPL: dict[str, Callable[..., object]] = {
    "ceil_div": ceil_div,
    "min": _min_max(min, "min"),
    "max": _min_max(max, "max"),
}


@dataclass(frozen=True)
class Expression:
    """A parsed, validated expression. ``names`` are the variables it reads."""

    source: str
    tree: ast.expr
    names: frozenset[str]

    def evaluate(self, variables: Mapping[str, object]) -> object:
        """Evaluate with the given variables; CatalogError on a type or arithmetic error."""
        missing = sorted(n for n in self.names if n not in variables)
        if missing:
            raise CatalogError(
                f"expression {self.source!r} uses {', '.join(missing)}, "
                f"which is not defined here (defined: {', '.join(sorted(variables)) or 'none'})"
            )
        return _Interpreter(variables).visit(self.tree)


def parse_expression(source: object) -> Expression:
    """Parse and check an expression against the whitelist; CatalogError if not allowed."""
    if not isinstance(source, str):
        raise CatalogError(f"an expression must be a string, got {type(source).__name__}")
    if not source.strip():
        raise CatalogError("the expression is empty")
    if len(source) > MAX_SOURCE_CHARS:
        raise CatalogError(f"the expression is longer than {MAX_SOURCE_CHARS} characters")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise CatalogError(f"expression {source!r} is not valid syntax: {exc.msg}") from None
    except (RecursionError, MemoryError, ValueError):
        raise CatalogError(f"expression {source!r} is too deeply nested or invalid") from None
    names: set[str] = set()
    callees: set[int] = set()
    count = 0
    for node in ast.walk(tree):  # breadth first: a Call is seen before its callee Name
        count += 1
        if count > MAX_NODES:
            raise CatalogError(f"expression {source!r} is too large (over {MAX_NODES} nodes)")
        _check_node(node, source, names, callees)
    return Expression(source=source, tree=tree.body, names=frozenset(names))


_ALLOWED_NODES = (
    ast.Expression,
    ast.Constant,
    ast.List,
    ast.Name,
    ast.Load,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.Call,
    ast.And,
    ast.Or,
    ast.Not,
    ast.USub,
    ast.UAdd,
    *_ARITH,
    *_COMPARE,
)


def _check_node(node: ast.AST, source: str, names: set[str], callees: set[int]) -> None:
    where = f"expression {source!r}"
    if not isinstance(node, _ALLOWED_NODES):
        raise CatalogError(
            f"{where} uses {type(node).__name__}, which is not allowed; allowed are numbers, "
            f"strings, bools, lists, {', '.join(VARIABLES)}, + - * // %, comparisons, "
            f"and/or/not, 'x if c else y' and {', '.join(FUNCTIONS)}()"
        )
    if isinstance(node, ast.Constant) and (
        isinstance(node.value, complex | bytes) or node.value is None or node.value is ...
    ):
        raise CatalogError(f"{where}: constant {node.value!r} is not allowed")
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise CatalogError(
                f"{where}: only {', '.join(FUNCTIONS)}() may be called, "
                f"not {ast.unparse(node.func)!r}"
            )
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise CatalogError(f"{where}: functions take positional arguments only")
        callees.add(id(node.func))
    if isinstance(node, ast.Name):
        if node.id in FUNCTIONS:
            if id(node) not in callees:
                raise CatalogError(f"{where}: {node.id} can only be called, as {node.id}(...)")
            return
        if node.id not in VARIABLES:
            raise CatalogError(
                f"{where}: unknown name {node.id!r}; use one of {', '.join(VARIABLES)}"
            )
        names.add(node.id)


class _Interpreter:
    """Walks a checked tree with strict typing."""

    def __init__(self, variables: Mapping[str, object]) -> None:
        self.variables = variables

    def visit(self, node: ast.expr) -> object:
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:  # unreachable after parse_expression, kept as a guard
            raise CatalogError(f"{type(node).__name__} is not allowed")
        return method(node)

    def _Constant(self, node: ast.Constant) -> object:
        return node.value

    def _List(self, node: ast.List) -> object:
        return [self.visit(e) for e in node.elts]

    def _Name(self, node: ast.Name) -> object:
        if node.id not in self.variables:
            raise CatalogError(f"{node.id!r} is not a value here")
        return self.variables[node.id]

    def _BinOp(self, node: ast.BinOp) -> object:
        left, right = self.visit(node.left), self.visit(node.right)
        symbol = _ARITH_SYMBOL[type(node.op)]
        if not (is_number(left) and is_number(right)):
            raise CatalogError(f"'{symbol}' needs two numbers, got {left!r} and {right!r}")
        try:
            result = _ARITH[type(node.op)](left, right)
        except ZeroDivisionError:
            raise CatalogError(f"division by zero in {left!r} {symbol} {right!r}") from None
        except OverflowError:
            raise CatalogError(f"{left!r} {symbol} {right!r} is too large") from None
        if isinstance(result, float) and not math.isfinite(result):
            raise CatalogError(f"{left!r} {symbol} {right!r} is not a finite number")
        return result

    def _UnaryOp(self, node: ast.UnaryOp) -> object:
        value = self.visit(node.operand)
        if isinstance(node.op, ast.Not):
            if not isinstance(value, bool):
                raise CatalogError(f"'not' needs a bool, got {value!r}")
            return not value
        if not is_number(value):
            raise CatalogError(f"unary minus/plus needs a number, got {value!r}")
        return -value if isinstance(node.op, ast.USub) else +value

    def _BoolOp(self, node: ast.BoolOp) -> object:
        is_and = isinstance(node.op, ast.And)
        for operand in node.values:  # short-circuit like Python, but bools only
            value = self.visit(operand)
            if not isinstance(value, bool):
                raise CatalogError(f"'and'/'or' need bools, got {value!r}")
            if value is not is_and:
                return value
        return is_and

    def _Compare(self, node: ast.Compare) -> object:
        left = self.visit(node.left)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.visit(comparator)
            if not _comparable(left, right, isinstance(op, _ORDERING)):
                raise CatalogError(f"cannot compare {left!r} with {right!r}")
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True

    def _IfExp(self, node: ast.IfExp) -> object:
        condition = self.visit(node.test)
        if not isinstance(condition, bool):
            raise CatalogError(f"'x if c else y' needs a bool condition, got {condition!r}")
        return self.visit(node.body if condition else node.orelse)

    def _Call(self, node: ast.Call) -> object:
        assert isinstance(node.func, ast.Name)
        return _FUNCTION_IMPL[node.func.id](*(self.visit(a) for a in node.args))


def _comparable(left: object, right: object, ordering: bool) -> bool:
    if is_number(left) and is_number(right):
        return True
    if isinstance(left, str) and isinstance(right, str):
        return True
    if isinstance(left, bool) and isinstance(right, bool):
        return not ordering
    return False
