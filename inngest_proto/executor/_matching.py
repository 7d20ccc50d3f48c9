"""Which functions an event triggers, and the stand-in expression matchers.

Expressions are CEL (docs/protocol/expressions.rst), which this package does not
evaluate: the executor takes matchers as callables so the CEL module plugs in
later.  The defaults understand one form, ``<operand> == <operand>`` where an
operand is a dotted path (``event.data.id``, ``async.data.id``) or a literal,
which covers the on-failure trigger (``event.data.function_id == '<id>'``) and
the usual ``if_exp`` of a wait; any other expression counts as true.

Every matcher and evaluator raises :class:`ExpressionError`, and nothing
else, when an expression does not compile or fails to evaluate; the executor
decides per feature what that means (docs/protocol/expressions.rst) and logs
it with :func:`log_expression_error`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

from .._errors import ErrorCode, LocalProtocolError

__all__ = [
    "ExpressionError",
    "KeyEvaluator",
    "TriggerMatcher",
    "ValueEvaluator",
    "WaitMatcher",
    "default_key_evaluator",
    "default_trigger_matcher",
    "default_value_evaluator",
    "default_wait_matcher",
    "log_expression_error",
    "name_patterns",
]

_log = logging.getLogger(__name__)


class ExpressionError(LocalProtocolError):
    """An expression that does not compile or evaluate, or data it cannot use.

    ``problem`` says what is wrong; ``line`` and ``column`` (1-based) locate
    it when known.  The executor's matchers and evaluators raise it, and only
    it, for any expression problem.
    """

    code = ErrorCode.EXPRESSION_INVALID

    def __init__(
        self,
        problem: str,
        *,
        expression: str = "",
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        where = f" at line {line}, column {column}" if line is not None else ""
        shown = f" in {expression!r}" if expression else ""
        super().__init__(f"{problem}{where}{shown}")
        self.problem = problem
        self.expression = expression
        self.line = line
        self.column = column


def log_expression_error(
    use: str,
    err: ExpressionError,
    outcome: str,
    *,
    function_id: str,
    event: Mapping[str, Any],
    run_id: str | None = None,
) -> None:
    """Log that ``use`` (``"trigger expression"``, ``"concurrency key"``...)
    failed on ``event`` for ``function_id`` (and ``run_id``), and ``outcome``,
    what the executor does instead."""
    run = f" run {run_id}" if run_id else ""
    _log.warning(
        "%s of %s%s failed on event %s (%s): %s; %s",
        use,
        function_id,
        run,
        event.get("id", ""),
        event.get("name", ""),
        err,
        outcome,
    )


#: ``(expression, event) -> bool``: does a trigger's ``expression`` pass?
#: Raises :class:`ExpressionError` when it does not compile or evaluate (as
#: every matcher and evaluator below does).
TriggerMatcher: TypeAlias = Callable[[str, Mapping[str, Any]], bool]
#: ``(if_expression, run_event, candidate) -> bool``: does ``candidate`` resume a
#: wait?  ``if_expression`` is ``None`` when the wait has no condition.
WaitMatcher: TypeAlias = Callable[
    [str | None, Mapping[str, Any], Mapping[str, Any]], bool
]


#: ``(expression, event) -> str``: the bucket a flow-control key puts ``event``
#: in, rendered as Go's ``%v`` (a missing field is ``"false"``).
KeyEvaluator: TypeAlias = Callable[[str, Mapping[str, Any]], str]
#: ``(expression, event) -> value``: a ``priority.run`` or ``batchEvents.if``
#: result as plain data (``False`` when unknown).
ValueEvaluator: TypeAlias = Callable[[str, Mapping[str, Any]], Any]


def name_patterns(name: str) -> set[str]:
    """The trigger patterns an event name matches.

    See docs/protocol/executor.rst#run-creation-from-an-event.

    ``app/user.created`` -> itself, ``app/*`` and ``app/user.*``.
    """
    patterns = {name}
    for index, char in enumerate(name):
        if char in "/.":
            patterns.add(name[: index + 1] + "*")
    return patterns


_OPERAND = r"""(?:[A-Za-z_][\w.]*|'[^']*'|"[^"]*"|-?\d+(?:\.\d+)?)"""
_EQUALITY = re.compile(rf"\s*({_OPERAND})\s*==\s*({_OPERAND})\s*")
_MISSING = object()


def _operand(text: str, scope: Mapping[str, Any]) -> Any:
    if text[0] in "'\"":
        return text[1:-1]
    if text in ("true", "false", "null"):
        return json.loads(text)
    if text[0].isdigit() or text[0] == "-":
        return json.loads(text)
    value: Any = scope
    for part in text.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _evaluate(expression: str, scope: Mapping[str, Any]) -> bool:
    match = _EQUALITY.fullmatch(expression)
    if match is None:
        return True  # not understood: a placeholder until CEL plugs in
    left = _operand(match.group(1), scope)
    right = _operand(match.group(2), scope)
    # A missing attribute is null in CEL-with-Inngest's rules, which never
    # equals a present value.
    return left is not _MISSING and right is not _MISSING and left == right


def default_trigger_matcher(expression: str, event: Mapping[str, Any]) -> bool:
    return _evaluate(expression, {"event": event})


def default_wait_matcher(
    expression: str | None, run_event: Mapping[str, Any], candidate: Mapping[str, Any]
) -> bool:
    if expression is None:
        return True
    return _evaluate(expression, {"event": run_event, "async": candidate})


def default_value_evaluator(expression: str, event: Mapping[str, Any]) -> Any:
    """A literal or a dotted path (``event.data.key``); missing is ``False``."""
    text = expression.strip()
    if not text:
        return False
    value = _operand(text, {"event": event})
    return False if value is _MISSING else value


def default_key_evaluator(expression: str, event: Mapping[str, Any]) -> str:
    """:func:`default_value_evaluator`, rendered as a bucket string."""
    value = default_value_evaluator(expression, event)
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return "true" if value is True else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Go renders the double 3.0 as 3
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
