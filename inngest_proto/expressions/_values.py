"""Expression values: data in and out of cel-python, and Go's view of them.

Inngest evaluates with cel-go over event JSON decoded into Go maps, then patches
CEL with leniency rules (docs/protocol/expressions.rst#leniency).  Everything
here is a pure function over values; the operators built on it live in
``_ops``.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
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
