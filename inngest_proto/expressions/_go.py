"""Go's rendering of plain values, as ``fmt.Sprintf("%v", v)`` gives it.

Inngest concatenates incompatible ``+`` operands this way and turns key
results into bucket strings with it (docs/protocol/expressions.rst#keys).
Pure functions over plain Python values; no cel-python.
"""

from __future__ import annotations

import datetime
import math
from decimal import Decimal
from typing import Any

__all__ = ["go_float", "go_string"]


def go_string(value: Any, *, top: bool = True) -> str:
    """Render a plain Python value as Go's ``fmt.Sprintf("%v", v)`` does.

    Inngest concatenates incompatible ``+`` operands this way and turns key
    results into bucket strings with it (docs/protocol/expressions.rst#leniency and
    docs/protocol/expressions.rst#keys), so ``3.0`` must become
    ``"3"`` and ``{"id": 123}`` and ``{"id": 123.0}`` share a bucket.  A
    top-level null is cel-go's ``NullValue`` (``NULL_VALUE``); a null nested
    in a list or map is a Go ``nil`` (``<nil>``) [inferred].
    """
    if value is None:
        return "NULL_VALUE" if top else "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return "[" + " ".join(str(b) for b in value) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_string(v, top=False) for v in value) + "]"
    if isinstance(value, dict):
        pairs = sorted(
            (go_string(k, top=False), go_string(v, top=False)) for k, v in value.items()
        )
        return "map[" + " ".join(f"{k}:{v}" for k, v in pairs) + "]"
    if isinstance(value, datetime.datetime):
        return _go_time(value)
    if isinstance(value, datetime.timedelta):
        return _go_duration(value)
    return str(value)


def go_float(number: float) -> str:
    """Go's shortest ``%v`` for a float64: plain below 1e21, exponent above."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    exact = Decimal(repr(number))
    sign, digits, exponent = exact.as_tuple()
    assert isinstance(exponent, int)
    # Strip trailing zeros so the digits are the shortest representation.
    while len(digits) > 1 and digits[-1] == 0:
        digits = digits[:-1]
        exponent += 1
    assert digits  # a Decimal has at least one digit
    position = len(digits) + exponent - 1  # decimal exponent of the first digit
    if digits == (0,) or -4 <= position < 21:
        return format(exact.normalize(), "f")
    mantissa = str(digits[0])
    if len(digits) > 1:
        mantissa += "." + "".join(str(d) for d in digits[1:])
    exp_sign = "-" if position < 0 else "+"
    return f"{'-' if sign else ''}{mantissa}e{exp_sign}{abs(position):02d}"


def _go_time(moment: datetime.datetime) -> str:
    moment = moment.astimezone(moment.tzinfo or datetime.timezone.utc)
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    offset = moment.strftime("%z") or "+0000"
    zone = "UTC" if offset == "+0000" else moment.strftime("%Z") or offset
    return f"{text} {offset} {zone}"


def _go_duration(delta: datetime.timedelta) -> str:
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if micros == 0:
        return "0s"
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    if micros < 1_000_000:
        if micros % 1000 == 0:
            return f"{sign}{micros // 1000}ms"
        return f"{sign}{micros}µs"
    hours, rest = divmod(micros, 3_600_000_000)
    minutes, rest = divmod(rest, 60_000_000)
    seconds = format(Decimal(rest) / Decimal(1_000_000), "f")
    if "." in seconds:
        seconds = seconds.rstrip("0").rstrip(".")
    text = f"{hours}h" if hours else ""
    if hours or minutes:
        text += f"{minutes}m"
    return f"{sign}{text}{seconds}s"
