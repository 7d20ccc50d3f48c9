"""Expression values: data in and out of cel-python, and Go's view of them.

Inngest evaluates with cel-go over event JSON decoded into Go maps, then patches
CEL with leniency rules (docs/protocol/expressions.rst#leniency).  Everything
here is a pure function over values; the operators built on it live in
``_expressions_ops``.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from celpy import celtypes
from celpy.evaluation import CELEvalError

__all__ = [
    "NULL_PATH",
    "UNKNOWN",
    "Absent",
    "ConversionError",
    "LenientMap",
    "from_cel",
    "go_string",
    "is_absent",
    "is_bool",
    "is_number",
    "norm",
    "to_cel",
    "truthy",
]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


class ConversionError(ValueError):
    """A value in the activation has no CEL counterpart."""


class Absent(celtypes.MapType):
    """A path that is not in the data.

    It is a map that answers every key with itself, so ``a.b.c`` on a missing
    ``a`` stays absent instead of raising, which is what lets the operators
    apply Inngest's rules to the whole path (``U == null`` is true, ``U + x`` is
    ``x``, ``size(U)`` is 0).  ``UNKNOWN`` is Inngest's unknown; ``NULL_PATH``
    is a missing ``event`` path in a wait or cancel, which Inngest interpolates
    as the literal ``null`` (docs/protocol/expressions.rst#interpolation), so
    operators see it as ``null``.
    """

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def __getitem__(self, key: Any) -> Any:
        return self

    def __repr__(self) -> str:
        return f"<{self.kind}>"

    # Identity, not dict equality: a sentinel must never equal an empty map
    # from the data.
    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    __hash__ = object.__hash__  # type: ignore[assignment]


UNKNOWN = Absent("unknown")
NULL_PATH = Absent("null")


class LenientMap(celtypes.MapType):
    """A JSON object whose missing keys read as an ``Absent`` sentinel."""

    def __init__(self, items: Mapping[Any, Any], missing: Absent) -> None:
        super().__init__(items)
        self.missing = missing

    def __getitem__(self, key: Any) -> Any:
        if not celtypes.MapType.valid_key_type(key):
            msg = f"unsupported key type: {type(key).__name__}"
            raise TypeError(msg)
        try:
            return dict.__getitem__(self, key)
        except KeyError:
            return self.missing


def is_absent(value: object) -> bool:
    return isinstance(value, (Absent, CELEvalError))


def norm(value: Any) -> Any:
    """Errors become unknown (docs/protocol/expressions.rst#leniency: an error
    inside a sub-expression is treated like unknown by the enclosing operator);
    a null path becomes ``null``."""
    if isinstance(value, CELEvalError):
        return UNKNOWN
    if value is NULL_PATH:
        return None
    return value


def is_bool(value: object) -> bool:
    return isinstance(value, (bool, celtypes.BoolType))


def is_number(value: object) -> bool:
    # BoolType subclasses int, and a bool is never a number in CEL.
    return isinstance(value, (int, float)) and not is_bool(value)


def truthy(value: Any) -> bool:
    """JavaScript-style truthiness Inngest uses for non-boolean ``||``, ``&&``
    and ``?:`` (docs/protocol/expressions.rst#leniency): empty lists and maps
    are truthy, unlike Python."""
    value = norm(value)
    if value is None or value is UNKNOWN:
        return False
    if is_bool(value):
        return bool(value)
    if is_number(value):
        return value != 0 and not math.isnan(float(value))
    if isinstance(value, (str, bytes)):
        return len(value) > 0
    return True


def to_cel(value: Any, missing: Absent = UNKNOWN) -> Any:
    """Convert decoded JSON into cel-python values.

    ``missing`` is what absent keys of objects read as.  With ``NULL_PATH``
    JSON nulls inside objects read as ``NULL_PATH`` too, so a path through a
    null (``event.data.issue.field`` with ``issue: null``) stays ``null`` the
    way Inngest's interpolation renders it.
    """
    if value is None:
        return None
    if isinstance(value, (celtypes.BoolType, bool)):
        return celtypes.BoolType(bool(value))
    if isinstance(value, int):
        if _INT64_MIN <= value <= _INT64_MAX:
            return celtypes.IntType(value)
        try:
            return celtypes.DoubleType(float(value))
        except OverflowError:
            msg = f"integer {value} is out of range"
            raise ConversionError(msg) from None
    if isinstance(value, float):
        return celtypes.DoubleType(value)
    if isinstance(value, str):
        return celtypes.StringType(value)
    if isinstance(value, bytes):
        return celtypes.BytesType(value)
    if isinstance(value, Mapping):
        items = {}
        for key, item in value.items():
            cel_key = to_cel(key, missing)
            if not celtypes.MapType.valid_key_type(cel_key):
                msg = f"map key {key!r} is not a string, int or bool"
                raise ConversionError(msg)
            cel_item = to_cel(item, missing)
            if cel_item is None and missing is NULL_PATH:
                cel_item = NULL_PATH
            items[cel_key] = cel_item
        return LenientMap(items, missing)
    if isinstance(value, (list, tuple)):
        return celtypes.ListType([to_cel(item, missing) for item in value])
    if isinstance(value, datetime.datetime):
        return celtypes.TimestampType(value)
    if isinstance(value, datetime.timedelta):
        return celtypes.DurationType(value)
    msg = f"{type(value).__name__} values cannot be used in expressions"
    raise ConversionError(msg)


def from_cel(value: Any) -> Any:
    """Convert a cel-python result back to plain Python (JSON-like) values."""
    value = norm(value)
    if value is UNKNOWN:
        return None
    if is_bool(value):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, Mapping):
        return {from_cel(k): from_cel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_cel(item) for item in value]
    if isinstance(value, datetime.datetime):
        return datetime.datetime.fromtimestamp(value.timestamp(), value.tzinfo)
    if isinstance(value, datetime.timedelta):
        return datetime.timedelta(seconds=value.total_seconds())
    return value


# --- Go's %v ---------------------------------------------------------------


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
