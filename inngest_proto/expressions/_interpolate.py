"""Interpolating the run's event into a wait or cancel expression.

See docs/protocol/expressions.rst#interpolation.

Inngest stores a wait's ``if`` with every ``event.*`` reference replaced by
its value, constant sub-expressions folded, and missing ``event`` paths as
``null``.  This works on the parse tree's source spans: a sub-tree that only
depends on ``event`` is evaluated and its text replaced by a literal; any
other sub-tree keeps its own text with its children's replacements spliced
in, so the output stays recognisably the user's expression.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, cast

import lark
from celpy import celtypes
from celpy.evaluation import CELEvalError

from ._engine import PRECEDENCE_RULES, Node, evaluate_tree, macro_variable, unwrapped
from ._ops import FUNCTIONS
from ._values import Absent, is_bool, norm

__all__ = ["interpolate", "render_literal"]

#: Nodes cel-python's evaluator can start from (the others are fragments,
#: such as ``relation_eq``, only meaningful inside their parent).
_EVALUABLE = PRECEDENCE_RULES | {
    "member_dot",
    "member_dot_arg",
    "member_index",
    "primary",
}
_VOLATILE = frozenset({"now", "now_plus", "now_minus"})
_TARGETS = frozenset({"member_dot", "member_dot_arg", "member_index"})
_NOT_CONSTANT = object()


def render_literal(value: Any) -> str | None:
    """CEL source for ``value``, or ``None`` if it has no literal form."""
    value = norm(value)
    if value is None or isinstance(value, Absent):
        return "null"  # a missing event path is interpolated as null
    if is_bool(value):
        return "true" if value else "false"
    if isinstance(value, celtypes.UintType):
        return f"{int(value)}u"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if math.isfinite(value):
            return repr(float(value))
        return f'double("{value}")'
    if isinstance(value, str):
        return _string_literal(value)
    if isinstance(value, bytes):
        return 'b"' + "".join(f"\\x{b:02x}" for b in value) + '"'
    if isinstance(value, list):
        items = [render_literal(v) for v in value]
        if None in items:
            return None
        return "[" + ", ".join(cast(list[str], items)) + "]"
    if isinstance(value, Mapping):
        pairs = []
        for key, item in value.items():
            key_text, item_text = render_literal(key), render_literal(item)
            if key_text is None or item_text is None:
                return None
            pairs.append(f"{key_text}: {item_text}")
        return "{" + ", ".join(pairs) + "}"
    return None  # timestamps, durations, types: keep the source text


def _string_literal(text: str) -> str:
    out = ['"']
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char.isprintable():
            out.append(char)
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    out.append('"')
    return "".join(out)


class _Folder:
    def __init__(self, text: str, values: Mapping[str, Any]) -> None:
        self.text = text
        self.values = values
        self._refs: dict[int, tuple[frozenset[str], bool]] = {}

    def refs(self, node: Node) -> tuple[frozenset[str], bool]:
        """The free identifiers of ``node``, and whether it calls ``now()``."""
        key = id(node)
        if key in self._refs:
            return self._refs[key]
        names: set[str] = set()
        volatile = False
        if node.data in ("ident", "dot_ident"):
            names.add(cast(lark.Token, node.children[0]).value)
        if node.data in ("ident_arg", "dot_ident_arg"):
            volatile = cast(lark.Token, node.children[0]).value in _VOLATILE
        bound = macro_variable(node)
        for index, child in enumerate(node.children):
            if isinstance(child, lark.Tree):
                child_names, child_volatile = self.refs(child)
                if bound is not None and index == 2:
                    child_names = child_names - {bound}
                names |= child_names
                volatile = volatile or child_volatile
        result = (frozenset(names), volatile)
        self._refs[key] = result
        return result

    def constant(self, node: Node) -> Any:
        """The value of a sub-tree that depends on ``event`` alone, if any."""
        names, volatile = self.refs(node)
        if node.data not in _EVALUABLE or volatile or "event" not in names:
            return _NOT_CONSTANT
        if any(name != "event" and name not in FUNCTIONS for name in names):
            return _NOT_CONSTANT
        try:
            value = evaluate_tree(node, self.values)
        # Not narrower: cel-python raises whatever Python raises on the
        # values; anything it raises means not foldable: keep the source.
        except Exception:
            return _NOT_CONSTANT
        return _NOT_CONSTANT if isinstance(value, CELEvalError) else value

    def fold(self, node: Node, *, target: bool = False) -> tuple[str, Any]:
        """``node``'s interpolated source, and its constant value if folded."""
        if "event" not in self.refs(node)[0]:
            return self.source(node), _NOT_CONSTANT
        value = self.constant(node)
        literal = None if value is _NOT_CONSTANT else render_literal(value)
        if literal is not None:
            # A negative number, or a number before ``.``, needs parentheses.
            numeric = literal[:1].isdigit() or literal.startswith("-")
            if numeric and (target or literal.startswith("-")):
                literal = f"({literal})"
            return literal, value
        if node.data in ("conditionaland", "conditionalor") and len(node.children) == 2:
            return self._logic(node), _NOT_CONSTANT
        texts = {
            index: self.fold(child, target=node.data in _TARGETS and index == 0)[0]
            for index, child in enumerate(node.children)
            if isinstance(child, lark.Tree)
        }
        return self.splice(node, texts), _NOT_CONSTANT

    def _logic(self, node: Node) -> str:
        """Drop a constant boolean side of ``&&``/``||`` where that keeps the
        meaning under Inngest's JavaScript-style operators
        (docs/protocol/expressions.rst#leniency)."""
        left, right = (cast(Node, c) for c in node.children)
        left_text, left_value = self.fold(left)
        right_text, right_value = self.fold(right)
        is_or = node.data == "conditionalor"
        if left_value is not _NOT_CONSTANT and is_bool(left_value):
            # ``true && x`` is x, ``false || x`` is x; the others absorb.
            if bool(left_value) is is_or:
                return "true" if is_or else "false"
            return right_text
        if right_value is not _NOT_CONSTANT and is_bool(right_value):
            if not is_or and not right_value:
                return "false"  # never true, whatever the left side is
            if is_or and not right_value:
                return left_text  # ``x || false`` is true exactly when x is
            # ``x && true`` and ``x || true`` hinge on x's truthiness, which
            # only a boolean x reduces to.
            if _boolean(left):
                return "true" if is_or else left_text
        return self.splice(node, {0: left_text, 1: right_text})

    def source(self, node: Node) -> str:
        return self.text[node.meta.start_pos : node.meta.end_pos]

    def splice(self, node: Node, texts: Mapping[int, str]) -> str:
        start, end = node.meta.start_pos, node.meta.end_pos
        pieces, cursor = [], start
        for index, child in enumerate(node.children):
            if not isinstance(child, lark.Tree) or index not in texts:
                continue
            if child.meta.empty:
                continue  # no span: nothing in the source to replace
            pieces.append(self.text[cursor : child.meta.start_pos])
            pieces.append(texts[index])
            cursor = child.meta.end_pos
        pieces.append(self.text[cursor:end])
        return "".join(pieces)


_PASS_THROUGH = PRECEDENCE_RULES | {"primary", "paren_expr"}


def _boolean(node: Node) -> bool:
    """Whether ``node`` always evaluates to a boolean (or to unknown)."""
    inner = unwrapped(node, _PASS_THROUGH)
    if not isinstance(inner, lark.Tree):
        return False
    node = inner
    kind = node.data
    if kind == "relation":  # comparisons and ``in`` answer booleans
        return True
    if kind == "unary":
        return bool(cast(Node, node.children[0]).data == "unary_not")
    if kind in ("conditionaland", "conditionalor"):
        return all(_boolean(cast(Node, c)) for c in node.children)
    if kind == "literal":
        return bool(cast(lark.Token, node.children[0]).type == "BOOL_LIT")
    if kind == "ident_arg":
        return bool(cast(lark.Token, node.children[0]).value == "has")
    return False


def interpolate(tree: Node, text: str, values: Mapping[str, Any]) -> str:
    """The source of ``tree`` with ``event`` interpolated from ``values``."""
    return _Folder(text, values).fold(tree)[0]
