"""Parsing, checking and evaluating expressions on top of cel-python.

cel-python's ``Evaluator`` is subclassed where Inngest departs from CEL in ways
an operator override cannot reach: macros and functions on unknown values,
``has()`` on a missing path, field selection through a non-map, and the
ternary's truthiness (docs/protocol/expressions.rst#leniency).  Parsing uses
cel-python's grammar with a parser of our own rather than ``celpy.Environment``,
which would raise the process-wide recursion limit as a side effect and whose
lexer drops the source position of ``true``/``false`` (interpolation splices
source text by position).
"""

from __future__ import annotations

import collections
import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeAlias, cast

import celpy.celparser
import lark
from celpy import celtypes
from celpy.evaluation import (
    Activation,
    CELEvalError,
    Evaluator,
    NameContainer,
    Result,
)

from ._errors import ExpressionError
from ._ops import FUNCTIONS, clock_functions
from ._values import UNKNOWN, is_absent, norm, truthy

__all__ = [
    "DECLARED",
    "MACROS",
    "PRECEDENCE_RULES",
    "ExpressionError",
    "Node",
    "evaluate_tree",
    "macro_variable",
    "parse",
    "parse_syntax",
    "token",
    "unwrapped",
]

#: A node of the parse tree.
Node: TypeAlias = "lark.Tree[lark.Token]"

#: The variables Inngest declares; anything else fails to compile, as it does
#: in Inngest's type check (docs/protocol/expressions.rst#validation).
DECLARED = ("event", "async", "vars")
MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
#: Deeper trees would exhaust Python's stack in cel-python's recursive
#: evaluator (each tree level costs about five frames); 200 levels is about
#: twenty nested parentheses or a hundred-term ``+`` chain.
_MAX_DEPTH = 200
#: The rules of CEL's grammar by precedence, loosest first: a node of one
#: with a single child is just that child (``a`` is an ``expr`` holding a
#: ``conditionalor`` holding ... a ``member``).
PRECEDENCE_RULES = frozenset(
    {
        "expr",
        "conditionalor",
        "conditionaland",
        "relation",
        "addition",
        "multiplication",
        "unary",
        "member",
    }
)
#: Single-child nodes between an argument and what it really is.
_WRAPPERS = PRECEDENCE_RULES | {"exprlist"}


# --- compile ------------------------------------------------------------------


def _bool_literal(token: lark.Token) -> lark.Token:
    # CEL's grammar lexes ``true``/``false`` as identifiers; retype them,
    # keeping the position (cel-python's own callback loses it).
    if token.value in ("true", "false"):
        return lark.Token.new_borrow_pos("BOOL_LIT", token.value, token)
    return token


@functools.cache
def _parser() -> lark.Lark:
    # Built once, on first use (it takes ~100 ms).  Two threads racing here
    # build two equal parsers, so the core needs no lock.
    grammar = Path(celpy.celparser.__file__).with_name("cel.lark")
    return lark.Lark(
        grammar.read_text(encoding="utf-8"),
        parser="lalr",
        start="expr",
        g_regex_flags=re.M,
        lexer_callbacks={"IDENT": _bool_literal},
        propagate_positions=True,
        maybe_placeholders=False,
        priority="invert",
    )


def _syntax_error(exc: lark.exceptions.UnexpectedInput) -> str:
    if isinstance(exc, lark.exceptions.UnexpectedCharacters):
        return f"syntax error: unexpected character {exc.char!r}"
    if isinstance(exc, lark.exceptions.UnexpectedToken):
        if exc.token.type == "$END":
            return "syntax error: unexpected end of expression"
        return f"syntax error: unexpected {exc.token.value!r}"
    return "syntax error: unexpected end of expression"


def parse(text: str) -> Node:
    """Parse and check ``text``; raise ExpressionError on any problem."""
    tree = parse_syntax(text)
    _check(tree, text)
    return tree


def parse_syntax(text: str) -> Node:
    """Parse ``text`` without checking names (what registration does for
    concurrency keys and ``priority.run``); raise ExpressionError."""
    if not isinstance(text, str):
        msg = f"an expression must be a string, not {type(text).__name__}"
        raise ExpressionError(msg)
    try:
        tree = _parser().parse(text)
    except lark.exceptions.UnexpectedInput as exc:
        line = exc.line if exc.line > 0 else None
        column = exc.column if exc.column > 0 else None
        raise ExpressionError(
            _syntax_error(exc), expression=text, line=line, column=column
        ) from None
    except lark.exceptions.LarkError as exc:
        msg = f"syntax error: {exc}"
        raise ExpressionError(msg, expression=text) from None
    except RecursionError:
        msg = "expression is nested too deeply"
        raise ExpressionError(msg, expression=text) from None
    return tree


def token(node: Node, index: int) -> lark.Token:
    return cast(lark.Token, node.children[index])


def macro_variable(node: Node) -> str | None:
    """The variable a macro call (``xs.exists(x, ...)``) binds, if it is one."""
    if node.data != "member_dot_arg" or len(node.children) != 3:
        return None
    if token(node, 1).value not in MACROS:
        return None
    args = cast(Node, node.children[2])
    if len(args.children) != 2:
        return None
    inner = args.children[0]
    while isinstance(inner, lark.Tree) and inner.data != "ident":
        if len(inner.children) != 1:
            return None
        inner = inner.children[0]
    return token(inner, 0).value if isinstance(inner, lark.Tree) else None


def _scoped_walk(tree: Node) -> Iterator[tuple[Node, int, frozenset[str]]]:
    """Every node with its depth and the macro variables in scope there.

    A macro's variable is bound only inside its predicate, as in cel-go:
    ``xs.all(x, p) ? x : y`` refers to an undeclared ``x``.  The variable's
    own declaration is not yielded (it is not a reference).
    """
    empty: frozenset[str] = frozenset()
    stack = [(tree, 1, empty)]
    while stack:
        node, depth, bound = stack.pop()
        yield node, depth, bound
        variable = macro_variable(node)
        if variable is None:
            stack.extend(
                (child, depth + 1, bound)
                for child in node.children
                if isinstance(child, lark.Tree)
            )
            continue
        target, args = node.children[0], cast(Node, node.children[2])
        if isinstance(target, lark.Tree):
            stack.append((target, depth + 1, bound))
        yield args, depth + 1, bound  # not its children: the declaration is not a use
        predicate = args.children[1]
        if isinstance(predicate, lark.Tree):
            stack.append((predicate, depth + 2, bound | {variable}))


def _check(tree: Node, text: str) -> None:
    """Reject what cel-go's type check would: undeclared names and functions."""
    nodes = list(_scoped_walk(tree))

    def fail(problem: str, at: lark.Token | None) -> ExpressionError:
        line = getattr(at, "line", None)
        column = getattr(at, "column", None)
        return ExpressionError(problem, expression=text, line=line, column=column)

    for node, depth, bound in nodes:
        if depth > _MAX_DEPTH:
            msg = "expression is nested too deeply"
            raise ExpressionError(msg, expression=text)
        kind = node.data
        if kind in ("ident", "dot_ident"):
            name = token(node, 0)
            if name not in DECLARED and name not in bound and name not in FUNCTIONS:
                hint = " (declared: event, async)"
                raise fail(f"undeclared reference to {name.value!r}{hint}", name)
        elif kind in ("ident_arg", "dot_ident_arg"):
            name = token(node, 0)
            if name not in FUNCTIONS and name not in ("has", "dyn"):
                raise fail(f"undeclared function {name.value!r}", name)
            if name == "has" and not _is_field_selection(node):
                raise fail("has() takes one field selection such as a.b", name)
        elif kind == "member_dot_arg":
            name = token(node, 1)
            if name not in FUNCTIONS and name not in MACROS:
                raise fail(f"undeclared function {name.value!r}", name)
            if name in MACROS and macro_variable(node) is None:
                raise fail(f"{name.value}() takes a variable and an expression", name)
        elif kind in ("member_object", "fieldinits"):
            raise fail("message construction is not supported", None)


def _is_field_selection(node: Node) -> bool:
    """``has()`` takes exactly one ``a.b`` argument, as cel-go's macro demands."""
    if len(node.children) != 2:
        return False
    inner = unwrapped(node.children[1], _WRAPPERS)
    return isinstance(inner, lark.Tree) and inner.data == "member_dot"


def unwrapped(node: Node | lark.Token, wrappers: frozenset[str]) -> Node | lark.Token:
    """``node`` without the single-child ``wrappers`` nodes around what it is."""
    while (
        isinstance(node, lark.Tree)
        and node.data in wrappers
        and len(node.children) == 1
    ):
        node = node.children[0]
    return node


# --- evaluate -----------------------------------------------------------------


def _arguments(exprlist: Iterable[Result] | None) -> list[Any]:
    # cel-python hands over the first failed argument instead of the list.
    if isinstance(exprlist, CELEvalError):
        return [exprlist]
    return list(exprlist or [])


def _lenient_call(name: str, args: list[Any]) -> Result | None:
    """Functions with an unknown or failed argument answer ``false``, except
    ``size``, which counts an unknown as empty
    (docs/protocol/expressions.rst#leniency)."""
    if not any(norm(a) is UNKNOWN for a in args):
        return None
    if name == "size":
        return celtypes.IntType(0)
    return celtypes.BoolType(False)


class _Evaluator(Evaluator):
    def visit_node(self, node: object) -> Result:
        """``visit`` for a node of our trees (``Tree[Token]``): cel-python
        declares its Interpreter's trees as ``Tree[Result]``."""
        return cast(Result, self.visit(cast("lark.Tree[Result]", node)))

    def sub_evaluator(self, ast: Node) -> Evaluator:
        return _Evaluator(ast, activation=self.activation)

    def function_eval(
        self, name_token: lark.Token, exprlist: Iterable[Result] | None = None
    ) -> Result:
        args = _arguments(exprlist)
        lenient = _lenient_call(name_token.value, args)
        if lenient is not None:
            return lenient
        return super().function_eval(name_token, [norm(a) for a in args])

    def method_eval(
        self,
        object: Result,  # the superclass's parameter name
        method_ident: lark.Token,
        exprlist: Iterable[Result] | None = None,
    ) -> Result:
        args = _arguments(exprlist)
        lenient = _lenient_call(method_ident.value, [object, *args])
        if lenient is not None:
            return lenient
        return super().method_eval(norm(object), method_ident, [norm(a) for a in args])

    def macro_has_eval(self, exprlist: Node) -> celtypes.BoolType:
        value = self.visit_children(exprlist)[0]
        # A missing path reads as a sentinel, not an error, so test for both.
        return celtypes.BoolType(not is_absent(value))

    def member_dot(self, tree: Node) -> Result:
        # Replaces cel-python's: a missing key, or selection through null or
        # a non-map, is an unknown path rather than an error
        # (docs/protocol/expressions.rst#leniency).
        member = self.visit_node(tree.children[0])
        name = token(tree, 1).value
        if isinstance(member, CELEvalError) or member is None:
            return UNKNOWN
        if isinstance(member, NameContainer):
            return cast(Result, member[name].value) if name in member else UNKNOWN
        if isinstance(member, Mapping):
            try:
                return cast(Result, member[name])
            except (KeyError, TypeError):
                return UNKNOWN
        return UNKNOWN

    def member_dot_arg(self, tree: Node) -> Result:
        variable = macro_variable(tree)
        if variable is None:
            return cast(Result, super().member_dot_arg(tree))
        target = norm(self.visit_node(tree.children[0]))
        if target is UNKNOWN or not isinstance(target, (list, Mapping)):
            # Macros on unknown are false (docs/protocol/expressions.rst#leniency).
            return celtypes.BoolType(False)
        return self._macro(tree, variable, list(target))

    def _macro(self, tree: Node, variable: str, items: list[Any]) -> Result:
        name = token(tree, 1).value
        args = cast(Node, tree.children[2])
        nested = self.sub_evaluator(cast(Node, args.children[1]))

        def apply(item: Any) -> Any:
            try:
                return nested.evaluate({variable: item})
            except CELEvalError as exc:
                return exc

        results = [apply(item) for item in items]
        if name == "map":
            errors = [r for r in results if isinstance(r, CELEvalError)]
            return errors[0] if errors else celtypes.ListType(results)
        flags = [r if isinstance(r, celtypes.BoolType) else None for r in results]
        if name in ("filter", "exists_one") and None in flags:
            return CELEvalError(f"{name}() predicate is not a bool")
        if name == "filter":
            return celtypes.ListType(
                [i for i, f in zip(items, flags, strict=True) if f]
            )
        if name == "exists_one":
            return celtypes.BoolType(sum(1 for f in flags if f) == 1)
        # all/exists are CEL's commutative and/or over the results.
        decisive = name == "exists"
        if any(f is not None and bool(f) is decisive for f in flags):
            return celtypes.BoolType(decisive)
        if None in flags:
            return CELEvalError(f"{name}() predicate is not a bool")
        return celtypes.BoolType(not decisive)

    def expr(self, tree: Node) -> Result:
        if len(tree.children) != 3:
            return cast(Result, super().expr(tree))
        # Ternary: a non-boolean condition is tested for truthiness
        # (docs/protocol/expressions.rst#leniency).
        condition = self.visit_node(tree.children[0])
        branch = 1 if truthy(condition) else 2
        return self.visit_node(tree.children[branch])


_WITHOUT_CLOCK = Activation(functions=FUNCTIONS)


def evaluate_tree(
    tree: Node, values: Mapping[str, Any], now: float | None = None
) -> Any:
    """Evaluate a parsed (sub-)tree at ``now`` (Unix seconds, what ``now()``
    answers; without it ``now()`` raises ExpressionError); the result may be
    a sentinel or an error."""
    if now is None:
        base = _WITHOUT_CLOCK
    else:
        functions = collections.ChainMap(clock_functions(now), FUNCTIONS)
        base = Activation(functions=functions)
    evaluator = _Evaluator(tree, activation=base)
    evaluator.set_activation(dict(values))
    return evaluator.visit_node(tree)
