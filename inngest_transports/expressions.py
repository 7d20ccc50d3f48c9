"""Inngest's expression language: CEL with Inngest's leniency, on cel-python.

Expressions filter triggers (``expression``), resume waits and cancel runs
(``if``), and compute keys (concurrency, throttle, rate limit, debounce,
batch...).  Inngest evaluates them with cel-go plus rules of its own
(docs/protocol/expressions.rst); this module reproduces those rules on
cel-python, which lets every operator be overridden:

* a path missing from the data is *unknown*: it equals ``null`` and nothing
  else, orders by position, is absent in ``+``, has size 0, makes other
  functions and macros false, and a wholly unknown result is ``false``;
* ``null`` orders as the zero value of the other operand; ints and doubles
  mix; ``+`` on incompatible types concatenates Go renderings;
* ``||``, ``&&`` and ``?:`` on non-booleans follow JavaScript truthiness;
* ``lowercase``, ``uppercase``, ``b64decode``, ``json_parse``, ``date``,
  ``now``, ``now_plus`` and ``now_minus`` are available.

It lives in ``inngest_transports`` because it needs cel-python, and the core
(``inngest_proto``) depends on attrs and cattrs only.  Plug it into the
executor with ``Executor(trigger_matcher=trigger_matcher,
wait_matcher=wait_matcher, key_evaluator=evaluate_key,
value_evaluator=evaluate_value)``: those four raise :class:`ExpressionError`
when an expression does not compile *or fails to evaluate* (``1 / 0``), so
the executor can say what the failure means for each feature and log it;
:func:`matches` and :func:`explain_match` never raise.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from typing import Any

import attrs
from celpy.evaluation import CELEvalError

from inngest_proto import json_codec
from inngest_proto.executor import ExpressionCheck
from inngest_transports._expressions_engine import (
    DECLARED,
    MACROS,
    ExpressionError,
    Node,
    evaluate_tree,
    parse,
    parse_syntax,
    token,
)
from inngest_transports._expressions_interpolate import interpolate
from inngest_transports._expressions_values import (
    NULL_PATH,
    UNKNOWN,
    Absent,
    ConversionError,
    from_cel,
    go_string,
    to_cel,
)

__all__ = [
    "Evaluation",
    "Expression",
    "ExpressionError",
    "check_expression",
    "compile_expression",
    "evaluate_key",
    "evaluate_value",
    "explain_match",
    "interpolate_event",
    "matches",
    "policy_violations",
    "trigger_matcher",
    "wait_matcher",
    "wait_warning",
]


@attrs.frozen
class Evaluation:
    """What an evaluation produced, and why it is ``false`` when it failed.

    ``value`` is Inngest's result, as plain Python data: an unknown or failed
    evaluation is ``False``.  ``error`` says why evaluation failed (``None``
    if it did not); ``unknown`` is set when the result was an unknown path.
    """

    value: Any
    error: str | None = None
    unknown: bool = False

    @property
    def matched(self) -> bool:
        """Inngest matches only on the boolean ``true``.

        See docs/protocol/expressions.rst#where-expressions-appear.
        """
        return self.value is True

    @property
    def reason(self) -> str | None:
        """Why the expression did not match, ``None`` when it did."""
        if self.matched:
            return None
        if self.error is not None:
            return self.error
        if self.unknown:
            return "the expression depends on an attribute missing from the data"
        if isinstance(self.value, bool):
            return "the expression is false"
        return f"the expression returned {type(self.value).__name__}, not a bool"


class Expression:
    """A compiled expression; get one from :func:`compile_expression`."""

    __slots__ = ("_tree", "text")

    def __init__(self, text: str, tree: Node) -> None:
        self.text = text
        self._tree = tree

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"

    def run(self, activation: Mapping[str, Any]) -> Evaluation:
        """Evaluate against ``activation`` (``{"event": {...}, "async": {...}}``).

        Raises ExpressionError only for an activation that is not JSON-like
        data; every evaluation problem is reported in the result instead.
        """
        return self._run(_bind(activation, self.text))

    def evaluate(self, activation: Mapping[str, Any]) -> Any:
        """Inngest's value for ``activation`` (``False`` if unknown or failed)."""
        return self.run(activation).value

    def matches(self, activation: Mapping[str, Any]) -> bool:
        return self.run(activation).matched

    def _run(self, values: Mapping[str, Any]) -> Evaluation:
        try:
            raw = evaluate_tree(self._tree, values)
            if isinstance(raw, CELEvalError):
                problem = str(raw.args[0]) if raw.args else repr(raw)
                return Evaluation(False, problem)
            if raw is UNKNOWN:
                return Evaluation(False, unknown=True)
            return Evaluation(from_cel(raw))
        # Not narrower: cel-python and our operator overrides raise whatever
        # Python raises on the data (TypeError, OverflowError, pendulum's own
        # errors...), and each one is an evaluation error the caller decides on.
        except Exception as exc:
            return Evaluation(False, f"{type(exc).__name__}: {exc}")

    def value(self, activation: Mapping[str, Any]) -> Any:
        """Inngest's value for ``activation`` (``False`` if unknown); raise
        ExpressionError when evaluation fails, as Inngest's evaluator returns
        an error then."""
        result = self.run(activation)
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


_CACHE: dict[str, Expression | ExpressionError] = {}
_CACHE_LIMIT = 2048
_CACHE_LOCK = threading.Lock()


def compile_expression(text: str) -> Expression:
    """Parse and check ``text``, cached by text; raise ExpressionError if invalid.

    Like Inngest's type check, names other than ``event``/``async`` and
    functions Inngest does not provide are compile errors.
    """
    if not isinstance(text, str):
        return Expression(text, parse(text))  # parse raises the error
    cached = _CACHE.get(text)
    if cached is None:
        try:
            cached = Expression(text, parse(text))
        except ExpressionError as exc:
            cached = exc  # bad expressions are retried often: cache them too
        with _CACHE_LOCK:
            if len(_CACHE) >= _CACHE_LIMIT:
                _CACHE.clear()  # bounded; recompiling is cheap enough
            _CACHE[text] = cached
    if isinstance(cached, ExpressionError):
        raise cached
    return cached


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


def explain_match(text: str, activation: Mapping[str, Any]) -> Evaluation:
    """Evaluate for matching; never raises (a compile error is a reason too)."""
    try:
        return compile_expression(text).run(activation)
    except ExpressionError as exc:
        return Evaluation(False, str(exc))


def matches(text: str, activation: Mapping[str, Any]) -> bool:
    """Whether ``text`` is ``true`` for ``activation``; errors are ``False``
    (see :func:`explain_match` for the reason)."""
    return explain_match(text, activation).matched


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


def evaluate_key(text: str, event: Mapping[str, Any]) -> str:
    """The string a key expression groups ``event`` under.

    See docs/protocol/expressions.rst#keys.

    A string result is itself; anything else is rendered as Go's ``%v``
    (``123.0`` is ``"123"``), and a missing field is the shared ``"false"``
    bucket.  Raises ExpressionError if ``text`` does not compile or
    evaluation fails: each feature decides what that means.
    """
    value = compile_expression(text).value({"event": event})
    try:
        return go_string(value)
    except RecursionError:
        msg = "the key's value is nested too deeply to render"
        raise ExpressionError(msg, expression=text) from None


def evaluate_value(text: str, event: Mapping[str, Any]) -> Any:
    """``Executor(value_evaluator=...)``: a ``priority.run`` or
    ``batchEvents.if`` result (``False`` when unknown).  Raises
    ExpressionError if ``text`` does not compile or evaluation fails."""
    return compile_expression(text).value({"event": event})


def trigger_matcher(expression: str, event: Mapping[str, Any]) -> bool:
    """``Executor(trigger_matcher=...)``: does a trigger's ``expression`` pass?

    Raises ExpressionError if it does not compile or evaluate (the executor
    then skips the trigger, as Inngest does).
    """
    return compile_expression(expression).value({"event": event}) is True


def wait_matcher(
    if_expr: str | None, run_event: Mapping[str, Any], candidate: Mapping[str, Any]
) -> bool:
    """``Executor(wait_matcher=...)``: does ``candidate`` resume the wait?

    Inngest interpolates the run's event into the expression when it stores the
    wait (docs/protocol/expressions.rst#interpolation), and matches later events
    against what it stored; so do we, keeping the stored text per run event.
    (Binding missing ``event`` paths to ``null`` instead is not the same:
    ``event.data.a[0]`` with no ``a`` is ``null`` once interpolated, but
    indexing ``null`` is unknown.) Raises ExpressionError if the expression
    does not compile or evaluate.
    """
    if if_expr is None:
        return True
    try:
        try:
            key = json_codec.dumps_compact(dict(run_event))
        except (TypeError, ValueError):
            stored = interpolate_event(if_expr, run_event)  # not JSON: no cache
        else:
            stored = _stored_wait(if_expr, key)
    except RecursionError:
        msg = "the run's event is nested too deeply to interpolate"
        raise ExpressionError(msg, expression=if_expr) from None
    return compile_expression(stored).value({"async": candidate}) is True


@functools.lru_cache(maxsize=1024)
def _stored_wait(if_expr: str, run_event_json: bytes) -> str:
    # Keyed by the event's JSON: one interpolation per wait, not per event.
    return interpolate_event(if_expr, json_codec.loads(run_event_json))
