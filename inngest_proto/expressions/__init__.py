"""Inngest's expression language: CEL with Inngest's leniency, on cel-python.

Expressions filter triggers (``expression``), resume waits and cancel runs
(``if``), and compute keys (concurrency, throttle, rate limit, debounce,
batch...).  Inngest evaluates them with cel-go plus rules of its own
(docs/protocol/expressions.rst); this package reproduces those rules on
cel-python, which lets every operator be overridden:

* a path missing from the data is *unknown*: it equals ``null`` and nothing
  else, orders by position, is absent in ``+``, has size 0, makes other
  functions and macros false, and a wholly unknown result is ``false``;
* ``null`` orders as the zero value of the other operand; ints and doubles
  mix; ``+`` on incompatible types concatenates Go renderings;
* ``||``, ``&&`` and ``?:`` on non-booleans follow JavaScript truthiness;
* ``lowercase``, ``uppercase``, ``b64decode``, ``json_parse``, ``date``,
  ``now``, ``now_plus`` and ``now_minus`` are available.

Evaluation is pure: ``now()`` answers the time the caller gives (``now``,
Unix seconds), never the clock.  cel-python is an optional dependency (the
``dev`` extra), imported on first use: importing this package does not need
it.  The executor evaluates with :func:`trigger_matcher`,
:func:`wait_matcher`, :func:`evaluate_key` and :func:`evaluate_value`, which
raise :class:`ExpressionError` when an expression does not compile *or
fails to evaluate* (``1 / 0``, or cel-python missing), so that each caller
says what the failure means for its feature and logs it; :func:`matches` and
:func:`explain_match` never raise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from ._errors import ExpressionError
from ._evaluation import Evaluation
from ._matchers import evaluate_key, evaluate_value, trigger_matcher, wait_matcher

if TYPE_CHECKING:
    from ._compile import (
        Expression,
        check_expression,
        compile_expression,
        explain_match,
        interpolate_event,
        matches,
        policy_violations,
        wait_warning,
    )

__all__ = [
    "Evaluation",
    "Expression",
    "ExpressionCheck",
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

#: How registration checks an expression: ``syntax`` (it parses),
#: ``types`` (it parses and names only declared variables and functions),
#: ``restrictive`` (``types``, and only comparisons, logic, indexing, ``in``
#: and ``int()``/``uint()``/``double()``: what a ``cancel`` ``if`` may use).
ExpressionCheck: TypeAlias = Literal["syntax", "types", "restrictive"]

#: The names the compiler module (``_compile``, which imports cel-python)
#: provides, loaded when first used.
_COMPILER_NAMES = frozenset(
    {
        "Expression",
        "check_expression",
        "compile_expression",
        "explain_match",
        "interpolate_event",
        "matches",
        "policy_violations",
        "wait_warning",
    }
)


def __getattr__(name: str) -> Any:
    """The compiler's names, imported on first use (PEP 562)."""
    if name not in _COMPILER_NAMES:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    from . import _compile  # noqa: PLC0415 - cel-python only when it is used

    return getattr(_compile, name)
