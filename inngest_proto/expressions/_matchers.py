"""What the executor evaluates: triggers, waits, keys and values.

These four are the executor's defaults, so importing them must not import
cel-python (an optional dependency): each loads the compiler on first use,
and a missing cel-python is an :class:`ExpressionError` like any other
expression problem, which the executor logs per feature.  Each takes the
time of evaluation, ``now`` (Unix seconds), as ``now()`` answers it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import json_codec
from ._errors import ExpressionError
from ._go import go_string

if TYPE_CHECKING:
    from ._compile import Expression

__all__ = ["evaluate_key", "evaluate_value", "trigger_matcher", "wait_matcher"]

#: What the compiler imports that a base install may lack.
_CEL_MODULES = frozenset({"celpy", "lark", "pendulum"})


def _compile(text: str) -> Expression:
    try:
        from ._compile import compile_expression  # noqa: PLC0415 - see the module doc
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.partition(".")[0] not in _CEL_MODULES:
            raise
        msg = (
            "evaluating expressions needs cel-python, which is not installed "
            "(pip install 'inngest-sansio[dev]')"
        )
        raise ExpressionError(msg, expression=text) from None
    return compile_expression(text)


def _interpolate(text: str, event: Mapping[str, Any]) -> str:
    _compile(text)  # fails first, and clearly, without cel-python
    from ._compile import interpolate_event  # noqa: PLC0415 - see the module doc

    return interpolate_event(text, event)


def trigger_matcher(expression: str, event: Mapping[str, Any], now: float) -> bool:
    """Does a trigger's ``expression`` pass for ``event``?

    Raises ExpressionError if it does not compile or evaluate (the executor
    then skips the trigger, as Inngest does).
    """
    return _compile(expression).value({"event": event}, now=now) is True


def wait_matcher(
    if_expr: str | None,
    run_event: Mapping[str, Any],
    candidate: Mapping[str, Any],
    now: float,
) -> bool:
    """Does ``candidate`` resume the wait (or cancel the run)?

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
            stored = _interpolate(if_expr, run_event)  # not JSON: no cache
        else:
            stored = _stored_wait(if_expr, key)
    except RecursionError:
        msg = "the run's event is nested too deeply to interpolate"
        raise ExpressionError(msg, expression=if_expr) from None
    return _compile(stored).value({"async": candidate}, now=now) is True


@functools.lru_cache(maxsize=1024)
def _stored_wait(if_expr: str, run_event_json: bytes) -> str:
    # Keyed by the event's JSON: one interpolation per wait, not per event.
    return _interpolate(if_expr, json_codec.loads(run_event_json))


def evaluate_key(text: str, event: Mapping[str, Any], now: float) -> str:
    """The string a key expression groups ``event`` under.

    See docs/protocol/expressions.rst#keys.

    A string result is itself; anything else is rendered as Go's ``%v``
    (``123.0`` is ``"123"``), and a missing field is the shared ``"false"``
    bucket.  Raises ExpressionError if ``text`` does not compile or
    evaluation fails: each feature decides what that means.
    """
    value = _compile(text).value({"event": event}, now=now)
    try:
        return go_string(value)
    except RecursionError:
        msg = "the key's value is nested too deeply to render"
        raise ExpressionError(msg, expression=text) from None


def evaluate_value(text: str, event: Mapping[str, Any], now: float) -> Any:
    """A ``priority.run`` or ``batchEvents.if`` result (``False`` when
    unknown).  Raises ExpressionError if ``text`` does not compile or
    evaluation fails."""
    return _compile(text).value({"event": event}, now=now)
