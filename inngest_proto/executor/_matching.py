"""Which functions an event triggers, and how the executor evaluates expressions.

Expressions are CEL (docs/protocol/expressions.rst), evaluated by
:mod:`inngest_proto.expressions` unless the executor is given other
evaluators.  Every matcher and evaluator raises :class:`ExpressionError`, and
nothing else, when an expression does not compile or fails to evaluate; the
executor decides per feature what that means (docs/protocol/expressions.rst)
and logs it with :func:`log_expression_error`.  Each takes the time of the
input being handled, which is what ``now()`` answers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

from ..expressions import ExpressionError
from ._state import Run

__all__ = [
    "ExpressionError",
    "KeyEvaluator",
    "TriggerMatcher",
    "ValueEvaluator",
    "WaitMatcher",
    "log_expression_error",
    "name_patterns",
    "pause_matches",
]

_log = logging.getLogger(__name__)


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


#: ``(expression, event, now) -> bool``: does a trigger's ``expression`` pass?
#: Raises :class:`ExpressionError` when it does not compile or evaluate (as
#: every matcher and evaluator below does); ``now`` is the input's time.
TriggerMatcher: TypeAlias = Callable[[str, Mapping[str, Any], float], bool]
#: ``(if_expression, run_event, candidate, now) -> bool``: does ``candidate``
#: resume a wait?  ``if_expression`` is ``None`` when the wait has no condition.
WaitMatcher: TypeAlias = Callable[
    [str | None, Mapping[str, Any], Mapping[str, Any], float], bool
]


#: ``(expression, event, now) -> str``: the bucket a flow-control key puts
#: ``event`` in, rendered as Go's ``%v`` (a missing field is ``"false"``).
KeyEvaluator: TypeAlias = Callable[[str, Mapping[str, Any], float], str]
#: ``(expression, event, now) -> value``: a ``priority.run`` or
#: ``batchEvents.if`` result as plain data (``False`` when unknown).
ValueEvaluator: TypeAlias = Callable[[str, Mapping[str, Any], float], Any]


def pause_matches(
    matcher: WaitMatcher,
    expression: str | None,
    run: Run,
    event: Mapping[str, Any],
    now: float,
    *,
    use: str,
    outcome: str,
) -> bool:
    """Does ``event`` pass ``expression``, the condition ``run`` pauses on (a
    wait's or a cancel's ``if``)?  An expression that fails to evaluate does
    not match; it is logged as ``use`` failing, with ``outcome``."""
    try:
        hit = matcher(expression, run.event, event, now)
    except ExpressionError as err:
        log_expression_error(
            use,
            err,
            outcome,
            function_id=run.function_id,
            event=event,
            run_id=run.run_id,
        )
        return False
    return hit is True


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
