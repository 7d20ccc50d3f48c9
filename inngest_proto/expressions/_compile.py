"""Compiling, checking and evaluating expressions on cel-python.

cel-python is imported here and in the modules this one uses; the package
(``inngest_proto.expressions``) loads this module on first use, so that
importing ``inngest_proto`` never imports cel-python.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from celpy.evaluation import CELEvalError

from ._engine import (
    DECLARED,
    MACROS,
    Node,
    evaluate_tree,
    parse,
    parse_syntax,
    token,
)
from ._errors import ExpressionError
from ._evaluation import Evaluation
from ._interpolate import interpolate
from ._values import (
    NULL_PATH,
    UNKNOWN,
    Absent,
    ConversionError,
    from_cel,
    to_cel,
)

if TYPE_CHECKING:
    from . import ExpressionCheck

__all__ = [
    "Expression",
    "check_expression",
    "compile_expression",
    "explain_match",
    "interpolate_event",
    "matches",
    "policy_violations",
    "wait_warning",
]


class Expression:
    """A compiled expression; get one from :func:`compile_expression`."""

    __slots__ = ("_tree", "text")

    def __init__(self, text: str, tree: Node) -> None:
        self.text = text
        self._tree = tree

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"

    def run(
        self, activation: Mapping[str, Any], *, now: float | None = None
    ) -> Evaluation:
        """Evaluate against ``activation`` (``{"event": {...}, "async": {...}}``)
        at ``now``, the Unix time ``now()`` answers (evaluation never reads
        the clock: without ``now``, an expression calling ``now()`` fails).

        Raises ExpressionError only for an activation that is not JSON-like
        data; every evaluation problem is reported in the result instead.
        """
        return self._run(_bind(activation, self.text), now)

    def evaluate(
        self, activation: Mapping[str, Any], *, now: float | None = None
    ) -> Any:
        """Inngest's value for ``activation`` (``False`` if unknown or failed)."""
        return self.run(activation, now=now).value

    def matches(
        self, activation: Mapping[str, Any], *, now: float | None = None
    ) -> bool:
        return self.run(activation, now=now).matched

    def _run(self, values: Mapping[str, Any], now: float | None) -> Evaluation:
        try:
            raw = evaluate_tree(self._tree, values, now)
        except ExpressionError as exc:  # now() without a time
            return Evaluation(False, exc.problem)
        # Not narrower: cel-python hands most failures back as error values,
        # but lets through whatever else Python raises on the data (re.error
        # for a bad pattern, OverflowError, RecursionError...), and each one
        # is an evaluation error for the caller to decide on, not a crash.
        except Exception as exc:
            return Evaluation(False, f"{type(exc).__name__}: {exc}")
        if isinstance(raw, CELEvalError):
            problem = str(raw.args[0]) if raw.args else repr(raw)
            return Evaluation(False, problem)
        if raw is UNKNOWN:
            return Evaluation(False, unknown=True)
        return Evaluation(from_cel(raw))

    def value(self, activation: Mapping[str, Any], *, now: float | None = None) -> Any:
        """Inngest's value for ``activation`` at ``now`` (``False`` if
        unknown); raise ExpressionError when evaluation fails, as Inngest's
        evaluator returns an error then."""
        result = self.run(activation, now=now)
        if result.error is not None:
            raise ExpressionError(
                f"evaluation failed: {result.error}", expression=self.text
            )
        return result.value


def _bind(
    activation: Mapping[str, Any], text: str, *, null_event: bool = False
) -> dict[str, Any]:
    """Convert the activation to CEL values; declared names it lacks are unknown."""
    if not isinstance(activation, Mapping):
        msg = "the activation must be a mapping of variable names to values"
        raise ExpressionError(msg, expression=text)
    values: dict[str, Any] = dict.fromkeys(DECLARED, UNKNOWN)
    for name, value in activation.items():
        if not isinstance(name, str) or not name.isidentifier():
            msg = f"activation name {name!r} is not an identifier"
            raise ExpressionError(msg, expression=text)
        missing: Absent = NULL_PATH if null_event and name == "event" else UNKNOWN
        try:
            values[name] = to_cel(value, missing)
        except ConversionError as exc:
            msg = f"activation {name!r}: {exc}"
            raise ExpressionError(msg, expression=text) from None
        except RecursionError:
            msg = f"activation {name!r} is nested too deeply"
            raise ExpressionError(msg, expression=text) from None
    return values


def compile_expression(text: str) -> Expression:
    """Parse and check ``text``, cached by text; raise ExpressionError if invalid.

    Like Inngest's type check, names other than ``event``/``async`` and
    functions Inngest does not provide are compile errors.
    """
    if not isinstance(text, str):
        return Expression(text, parse(text))  # parse raises the error
    compiled = _compiled(text)
    if isinstance(compiled, ExpressionError):
        raise compiled
    return compiled


@functools.lru_cache(maxsize=2048)
def _compiled(text: str) -> Expression | ExpressionError:
    try:
        return Expression(text, parse(text))
    except ExpressionError as exc:
        return exc  # bad expressions are retried often: cache them too


# Inngest's restrictive policy: only the conversions may be called;
# comparisons, logic, indexing and ``in`` are always allowed, and arithmetic
# counts as calls (cel-go sees ``+`` as the function ``_+_``).
_POLICY_CALLS = frozenset({"int", "uint", "double"})
_POLICY_OPERATORS = {
    "addition_add": "+",
    "addition_sub": "-",
    "multiplication_mul": "*",
    "multiplication_div": "/",
    "multiplication_mod": "%",
    "unary_neg": "-",
}
_CALLS = {"ident_arg": 0, "dot_ident_arg": 0, "member_dot_arg": 1}


def policy_violations(text: str) -> list[str]:
    """What Inngest's restrictive policy forbids in ``text`` (none: ``[]``).

    The policy is what a ``cancel`` ``if`` must follow (registration refuses
    it otherwise) and a wait's ``if`` should (the server logs a warning):
    no macros (``has`` included) and no calls but ``int()``, ``uint()`` and
    ``double()``.  Raises ExpressionError if ``text`` does not compile.
    """
    tree = compile_expression(text)._tree
    found: dict[str, None] = {}
    for node in reversed(list(tree.iter_subtrees())):  # from the top
        if node.data in _POLICY_OPERATORS:
            found[
                f"function calls are disallowed (uses {_POLICY_OPERATORS[node.data]!r})"
            ] = None
        elif node.data in _CALLS:
            name = token(node, _CALLS[node.data]).value
            if name in MACROS or name == "has":
                found[f"macros are disallowed (uses {name!r})"] = None
            elif name not in _POLICY_CALLS:
                found[f"function calls are disallowed (uses {name!r})"] = None
    return list(found)


def check_expression(text: str, check: ExpressionCheck = "types") -> None:
    """Check ``text`` as registration does; raise ExpressionError if it fails.

    ``syntax``: it parses; ``types``: it compiles (:func:`compile_expression`);
    ``restrictive``: it compiles and follows :func:`policy_violations`.
    """
    if check == "syntax":
        parse_syntax(text)
        return
    compile_expression(text)
    if check == "restrictive":
        violations = policy_violations(text)
        if violations:
            raise ExpressionError("; ".join(violations), expression=text)


def wait_warning(if_expr: str) -> str | None:
    """Why a ``wait_for_event`` ``if`` deserves a warning, or ``None``.

    One that does not compile can match no event (the wait times out);
    one that breaks the restrictive policy works, but Inngest warns of it.
    """
    try:
        violations = policy_violations(if_expr)
    except ExpressionError as err:
        return f"the if expression does not compile, so no event can match it: {err}"
    if violations:
        problems = "; ".join(violations)
        return f"the if expression breaks Inngest's policy for waits: {problems}"
    return None


def explain_match(
    text: str, activation: Mapping[str, Any], *, now: float | None = None
) -> Evaluation:
    """Evaluate for matching at ``now``; never raises (a compile error is a
    reason too)."""
    try:
        return compile_expression(text).run(activation, now=now)
    except ExpressionError as exc:
        return Evaluation(False, str(exc))


def matches(
    text: str, activation: Mapping[str, Any], *, now: float | None = None
) -> bool:
    """Whether ``text`` is ``true`` for ``activation`` at ``now``; errors are
    ``False`` (see :func:`explain_match` for the reason)."""
    return explain_match(text, activation, now=now).matched


def interpolate_event(text: str, event: Mapping[str, Any]) -> str:
    """The expression Inngest stores for a wait or cancel.

    See docs/protocol/expressions.rst#interpolation.

    Every ``event.*`` reference becomes the literal from ``event`` (``null``
    if missing), constant sub-expressions are folded and ``&&``/``||`` with
    a constant boolean side simplified; the result mentions only ``async``
    (or is just ``false``/``true``).  Raises ExpressionError if ``text`` does
    not compile.
    """
    expression = compile_expression(text)
    values = _bind({"event": event}, text, null_event=True)
    try:
        return interpolate(expression._tree, text, values)
    except RecursionError:
        msg = "expression is nested too deeply to interpolate"
        raise ExpressionError(msg, expression=text) from None
