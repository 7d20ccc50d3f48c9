"""The one error expression compilation and evaluation raise."""

from __future__ import annotations

from .._errors import ErrorCode, LocalProtocolError

__all__ = ["ExpressionError"]


class ExpressionError(LocalProtocolError):
    """An expression that does not compile or evaluate, or data it cannot use.

    ``problem`` says what is wrong; ``line`` and ``column`` (1-based) locate
    it when known.  Compiling, checking and evaluating raise it, and only it,
    for any expression problem; each caller decides what the failure means
    for its feature and logs it.
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
