"""Inngest's operators and custom functions, as cel-python function overrides.

cel-python dispatches every operator through a name (``_==_``, ``_+_``, …)
looked up in a functions mapping, so Inngest's leniency
(docs/protocol/expressions.rst#leniency) is a set of replacements: each takes
the operands as evaluated, including ``Absent`` sentinels and ``CELEvalError``
values, and decides.  Raising ``TypeError``/``ValueError`` makes cel-python
produce an error value, which the enclosing operator then treats as unknown.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import email.utils
import json
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

import pendulum.parsing
from celpy import celtypes
from celpy.evaluation import CELFunction, base_functions

from ._errors import ExpressionError
from ._go import go_string
from ._values import (
    UNKNOWN,
    LenientMap,
    from_cel,
    is_bool,
    is_number,
    norm,
    to_cel,
    truthy,
)

__all__ = ["FUNCTIONS", "clock_functions", "equal", "parse_duration"]

Bool = celtypes.BoolType
TRUE = Bool(True)
FALSE = Bool(False)


# --- equality and ordering ---------------------------------------------------


def _plain(number: Any) -> int | float:
    # celtypes refuse mixed int/double comparisons; Python's own numbers
    # compare them exactly, as cel-go's heterogeneous numeric equality does.
    return int(number) if isinstance(number, int) else float(number)


def equal(a: Any, b: Any) -> bool:
    """Equality of two present values: numbers numerically, other types never
    equal across types (``"200" == 200`` is false, not an error)."""
    a, b = norm(a), norm(b)
    if a is UNKNOWN or b is UNKNOWN:
        return a is b
    if a is None or b is None:
        return a is None and b is None
    if is_bool(a) or is_bool(b):
        return is_bool(a) and is_bool(b) and bool(a) == bool(b)
    if is_number(a) and is_number(b):
        return bool(_plain(a) == _plain(b))
    for kind in (str, bytes, datetime.datetime, datetime.timedelta):
        if isinstance(a, kind) or isinstance(b, kind):
            return isinstance(a, kind) and isinstance(b, kind) and bool(a == b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        if len(a) != len(b):
            return False
        other = dict(b.items())  # the data's values, not a LenientMap's fallback
        for key, value in a.items():
            match = [k for k in other if equal(k, key)]
            if not match or not equal(value, other[match[0]]):
                return False
        return True
    return a is b  # types (``type(x) == double``) and anything else by identity


def _eq(a: Any, b: Any) -> Bool:
    a, b = norm(a), norm(b)
    # An unknown path equals null and nothing else
    # (docs/protocol/expressions.rst#leniency); two unknown paths are both
    # "null" too.
    if a is UNKNOWN:
        return Bool(b is None or b is UNKNOWN)
    if b is UNKNOWN:
        return Bool(a is None)
    return Bool(equal(a, b))


def _ne(a: Any, b: Any) -> Bool:
    return Bool(not _eq(a, b))


def _zero(like: Any) -> Any:
    if is_bool(like):
        return FALSE
    if is_number(like):
        return type(like)(0)
    for kind in (str, bytes):
        if isinstance(like, kind):
            return kind()
    return None


def _ordering(name: str, compare: Callable[[Any, Any], bool]) -> CELFunction:
    less = name in ("_<_", "_<=_")

    def ordered(a: Any, b: Any) -> Bool:
        a, b = norm(a), norm(b)
        # An unknown operand decides by position: ``U < x`` and ``x > U``
        # are true, the mirrored forms false (docs/protocol/expressions.rst#leniency).
        if a is UNKNOWN:
            return Bool(less)
        if b is UNKNOWN:
            return Bool(not less)
        # A null is the zero value of the other operand's type
        # (docs/protocol/expressions.rst#leniency).
        if a is None and b is None:
            a = b = celtypes.IntType(0)
        elif a is None:
            a = _zero(b)
        elif b is None:
            b = _zero(a)
        if is_number(a) and is_number(b):
            return Bool(compare(_plain(a), _plain(b)))
        if is_bool(a) and is_bool(b):
            return Bool(compare(bool(a), bool(b)))
        for kind in (str, bytes, datetime.datetime, datetime.timedelta):
            if isinstance(a, kind) and isinstance(b, kind):
                return Bool(compare(a, b))
        return FALSE

    ordered.__name__ = name
    return ordered


# --- arithmetic ---------------------------------------------------------------


def cel_value(result: Any) -> Any:
    """Native operators on CEL values answer plain Python ones; re-wrap them so
    methods (``.contains``) keep working on the result."""
    if isinstance(result, float) and not isinstance(result, celtypes.DoubleType):
        return celtypes.DoubleType(result)
    if isinstance(result, str) and not isinstance(result, celtypes.StringType):
        return celtypes.StringType(result)
    if isinstance(result, bytes) and not isinstance(result, celtypes.BytesType):
        return celtypes.BytesType(result)
    if isinstance(result, list) and not isinstance(result, celtypes.ListType):
        return celtypes.ListType(result)
    return result


def _numeric(symbol: str, native: Callable[[Any, Any], Any]) -> CELFunction:
    """``-``, ``*``, ``/``, ``%``: CEL's, but int and double mix as doubles
    (every JSON number is a double in Inngest, so ints only come from
    literals and conversions)."""

    def arithmetic(a: Any, b: Any) -> Any:
        a, b = norm(a), norm(b)
        if is_number(a) and is_number(b) and type(a) is not type(b):
            a, b = celtypes.DoubleType(a), celtypes.DoubleType(b)
        return cel_value(native(a, b))

    arithmetic.__name__ = f"_{symbol}_"
    return arithmetic


def _add(a: Any, b: Any) -> Any:
    a, b = norm(a), norm(b)
    if a is UNKNOWN and b is UNKNOWN:
        return FALSE
    # Unknown acts as absent, as in ``event.data.name + '-' + event.data.foo``
    # (docs/protocol/expressions.rst#leniency).
    if a is UNKNOWN:
        return b
    if b is UNKNOWN:
        return a
    if is_number(a) and is_number(b):
        if type(a) is type(b):
            return cel_value(operator.add(a, b))
        return celtypes.DoubleType(float(a) + float(b))
    if not (is_bool(a) or is_bool(b) or a is None or b is None):
        try:
            result = operator.add(a, b)
        except TypeError:
            result = NotImplemented
        if result is not NotImplemented:
            return cel_value(result)
    # Incompatible operands concatenate as Go renders them
    # (docs/protocol/expressions.rst#leniency).
    return celtypes.StringType(go_string(from_cel(a)) + go_string(from_cel(b)))


# --- logic ----------------------------------------------------------------------


def _mixed_unknown(a: Any, b: Any) -> Bool | None:
    """The one boolean of a boolean/unknown pair, else None."""
    if isinstance(a, Bool) and b is UNKNOWN:
        return a
    if isinstance(b, Bool) and a is UNKNOWN:
        return b
    return None


def _or(a: Any, b: Any) -> Any:
    a, b = norm(a), norm(b)
    if isinstance(a, Bool) and isinstance(b, Bool):
        return Bool(a or b)
    # A boolean against an unknown keeps CEL's commutative rule.
    known = _mixed_unknown(a, b)
    if known is not None:
        return TRUE if known else UNKNOWN
    # Otherwise JavaScript: the first truthy operand, else the last.
    return a if truthy(a) else b


def _and(a: Any, b: Any) -> Any:
    a, b = norm(a), norm(b)
    if isinstance(a, Bool) and isinstance(b, Bool):
        return Bool(a and b)
    known = _mixed_unknown(a, b)
    if known is not None:
        return UNKNOWN if known else FALSE
    # JavaScript: the first falsy operand, else the last.
    return b if truthy(a) else a


def _not(a: Any) -> Any:
    a = norm(a)
    if isinstance(a, Bool):
        return Bool(not a)
    if a is UNKNOWN:
        return FALSE
    msg = f"no such overload: !{type(a).__name__}"
    raise TypeError(msg)


# --- containers -------------------------------------------------------------------


def _in(item: Any, container: Any) -> Bool:
    item, container = norm(item), norm(container)
    if item is UNKNOWN or container is UNKNOWN:
        return FALSE
    if isinstance(container, list):
        return Bool(any(equal(item, x) for x in container))
    if isinstance(container, Mapping):
        return Bool(any(equal(item, k) for k in container))
    msg = f"no such overload: in {type(container).__name__}"
    raise TypeError(msg)


def _index(container: Any, index: Any) -> Any:
    container, index = norm(container), norm(index)
    if container is UNKNOWN or index is UNKNOWN or container is None:
        return UNKNOWN
    if isinstance(container, list):
        if is_number(index) and float(index).is_integer():
            position = int(index)
            if 0 <= position < len(container):
                return container[position]
        return UNKNOWN
    if isinstance(container, Mapping):
        if is_number(index) and not isinstance(index, int):
            if not float(index).is_integer():
                return UNKNOWN
            index = celtypes.IntType(int(index))
        if not celtypes.MapType.valid_key_type(index):
            return UNKNOWN
        if isinstance(container, LenientMap):
            return container[index]  # its own missing marker
        return container.get(index, UNKNOWN)
    msg = f"no such overload: {type(container).__name__}[{type(index).__name__}]"
    raise TypeError(msg)


def _size(value: Any) -> celtypes.IntType:
    value = norm(value)
    if value is None or value is UNKNOWN:
        return celtypes.IntType(0)
    if isinstance(value, (str, bytes, list, Mapping)):
        return celtypes.IntType(len(value))
    msg = f"no such overload: size({type(value).__name__})"
    raise TypeError(msg)


# --- Inngest's custom functions ---------------------------------------------------


def _string_arg(value: Any, function: str) -> str:
    if not isinstance(value, str):
        msg = f"no such overload: {function}({type(value).__name__})"
        raise TypeError(msg)
    return value


def _lowercase(value: Any) -> celtypes.StringType:
    return celtypes.StringType(_string_arg(value, "lowercase").lower())


def _uppercase(value: Any) -> celtypes.StringType:
    return celtypes.StringType(_string_arg(value, "uppercase").upper())


def _b64decode(value: Any) -> celtypes.StringType:
    text = _string_arg(value, "b64decode").strip()
    padded = text + "=" * (-len(text) % 4)
    try:
        raw = base64.b64decode(padded, validate=True)
    except binascii.Error:
        raw = base64.urlsafe_b64decode(padded)  # raises ValueError if not either
    return celtypes.StringType(raw.decode("utf-8"))


def _json_parse(value: Any) -> Any:
    return to_cel(json.loads(_string_arg(value, "json_parse")))


def _date(value: Any) -> celtypes.TimestampType:
    value = norm(value)
    if isinstance(value, datetime.datetime):
        return celtypes.TimestampType(value)
    if is_number(value):
        seconds = float(value)
        # [inferred] Large numbers are Unix milliseconds (like an event's
        # ``ts``), small ones Unix seconds.
        if abs(seconds) >= 1e11:
            seconds /= 1000
        try:
            moment = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
        except (OverflowError, OSError):  # the platform's time_t cannot hold it
            # A ValueError is a CEL error value, unknown to the enclosing
            # operator, rather than a failure of the whole evaluation.
            msg = f"date: {value} is out of range"
            raise ValueError(msg) from None
        return celtypes.TimestampType(moment)
    text = _string_arg(value, "date").strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return _date(celtypes.DoubleType(text))
    try:
        return _timestamp_text(text)
    except ValueError:
        pass
    try:
        return celtypes.TimestampType(email.utils.parsedate_to_datetime(text))
    except ValueError:
        msg = f"date: cannot parse {text!r}"
        raise ValueError(msg) from None


def _timestamp(value: Any) -> celtypes.TimestampType:
    """CEL's ``timestamp()``: strings parse as :func:`_timestamp_text` does,
    since cel-python's own parse reads the clock for some."""
    if isinstance(value, str):
        return _timestamp_text(value)
    return celtypes.TimestampType(value)


def _timestamp_text(text: str) -> celtypes.TimestampType:
    """An ISO 8601 date and time, or a date (midnight UTC); no zone is UTC.

    Evaluation never reads the clock, so this refuses what would need it:
    ``"now"`` and a time without a date, which pendulum's top-level ``parse``
    (and so cel-python's timestamps) answer from the clock.  Raises
    ValueError (pendulum's ParserError is one) for anything else.
    """
    parsed = pendulum.parsing.parse(text, exact=True)
    if isinstance(parsed, datetime.datetime):
        moment = parsed
    elif isinstance(parsed, datetime.date):
        moment = datetime.datetime(parsed.year, parsed.month, parsed.day)
    else:  # a time of day, a duration or an interval: no single instant
        msg = f"{text!r} is not a date"
        raise ValueError(msg)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return celtypes.TimestampType(moment)


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d|w)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}


def parse_duration(text: str) -> datetime.timedelta:
    """Go's ``time.ParseDuration`` plus ``d`` and ``w``, as ``now_plus`` takes."""
    body = text.strip()
    sign = -1.0 if body.startswith("-") else 1.0
    if body[:1] in ("+", "-"):
        body = body[1:]
    if not body or _DURATION_PART.sub("", body):
        msg = f"invalid duration {text!r}"
        raise ValueError(msg)
    total = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(body))
    return datetime.timedelta(seconds=sign * total)


def clock_functions(now: float | None) -> dict[str, CELFunction]:
    """``now()``, ``now_plus()`` and ``now_minus()`` at ``now`` (Unix seconds).

    Evaluation never reads the clock: the caller gives the time.  Without
    one, these raise ExpressionError, which cel-python lets through (it
    turns only TypeError, ValueError and AttributeError into CEL errors), so
    the whole evaluation fails rather than reading as unknown.
    """

    def current() -> celtypes.TimestampType:
        if now is None:
            msg = "now() needs the time of evaluation, and none was given"
            raise ExpressionError(msg)
        moment = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
        return celtypes.TimestampType(moment)

    def now_plus(value: Any) -> celtypes.TimestampType:
        delta = parse_duration(_string_arg(value, "now_plus"))
        return celtypes.TimestampType(current() + delta)

    def now_minus(value: Any) -> celtypes.TimestampType:
        delta = parse_duration(_string_arg(value, "now_minus"))
        return celtypes.TimestampType(current() + -delta)

    return {"now": current, "now_plus": now_plus, "now_minus": now_minus}


#: The functions mapping handed to cel-python: standard library plus overrides.
FUNCTIONS: dict[str, CELFunction] = {
    **base_functions,
    "_==_": _eq,
    "_!=_": _ne,
    "_<_": _ordering("_<_", operator.lt),
    "_<=_": _ordering("_<=_", operator.le),
    "_>_": _ordering("_>_", operator.gt),
    "_>=_": _ordering("_>=_", operator.ge),
    "_+_": _add,
    "_-_": _numeric("-", operator.sub),
    "_*_": _numeric("*", operator.mul),
    "_/_": _numeric("/", operator.truediv),
    "_%_": _numeric("%", operator.mod),
    "_||_": _or,
    "_&&_": _and,
    "!_": _not,
    "_in_": _in,
    "_[_]": _index,
    "size": _size,
    "lowercase": _lowercase,
    "uppercase": _uppercase,
    "b64decode": _b64decode,
    "json_parse": _json_parse,
    "date": _date,
    "timestamp": _timestamp,
    # Declared here so they compile; evaluation binds them to its time.
    **clock_functions(None),
}
# cel-python extras that are not in cel-go's standard library.
for _name in ("list", "map", "null_type"):
    FUNCTIONS.pop(_name, None)
