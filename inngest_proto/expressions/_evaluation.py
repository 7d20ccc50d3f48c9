"""What evaluating an expression produced (no cel-python needed to read it)."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["Evaluation"]


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
