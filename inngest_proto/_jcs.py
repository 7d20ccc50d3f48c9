"""RFC 8785 JSON Canonicalization Scheme (JCS) for already-parsed JSON values.

The Inngest server signs request bodies over their JCS form, so a body that
was re-serialized on its way to us (pretty-printed, keys reordered, ``1.0``
instead of ``1``) can still be verified by canonicalizing what arrived.

JCS in short:

* no whitespace; object members sorted by their names' UTF-16 code units;
* strings escape only ``"``, ``\\`` and control characters, and everything
  else is emitted as raw UTF-8;
* numbers are written exactly as ECMAScript's ``Number.prototype.toString``
  writes the IEEE 754 double they denote.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any

__all__ = ["canonical_object", "canonicalize", "format_number", "member_sort_key"]

# Integers up to 2**53 are exact doubles and ECMAScript prints them digit for
# digit, so they skip the float path.
_MAX_EXACT_INTEGER = 2**53

_MUST_ESCAPE = re.compile(r'[\x00-\x1f"\\]')
_ESCAPES: dict[str, str] = {chr(code): f"\\u{code:04x}" for code in range(0x20)}
_ESCAPES.update(
    {
        '"': '\\"',
        "\\": "\\\\",
        "\b": "\\b",
        "\t": "\\t",
        "\n": "\\n",
        "\f": "\\f",
        "\r": "\\r",
    }
)


def canonicalize(value: Any) -> bytes:
    """Serialize a parsed JSON value (``json.loads`` output) in JCS form.

    Accepts ``dict`` (string keys), ``list``, ``tuple``, ``str``, ``int``,
    ``float``, ``bool`` and ``None``.  Raises ``ValueError`` for NaN,
    infinities, integers too large for a double, and strings holding lone
    surrogates (none of which JCS can represent), and ``TypeError`` for
    anything that is not JSON.
    """
    if _plain(value):
        # Without floats, big integers or astral-plane keys, JCS is what the
        # json module's C encoder writes compactly with sorted keys: the
        # same escapes, and code point order is UTF-16 order then.  Several
        # times faster than the writer below, and the executor
        # canonicalizes every call request it sends.
        text = _PLAIN_ENCODER.encode(value)
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: the writer below says so
    parts: list[str] = []
    _write_value(value, parts)
    text = "".join(parts)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        msg = (
            "cannot canonicalize JSON: a string contains a lone UTF-16 "
            "surrogate, which has no UTF-8 form"
        )
        raise ValueError(msg) from None


def canonical_object(members: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The JCS form of an object whose members are canonical already.

    ``members`` are ``(member_sort_key(name), canonicalize(name) + b":" +
    canonicalize(value))`` pairs, names unique: a caller that keeps the
    members of an object that grows (a run's memos) joins them again without
    writing its values again.
    """
    return b"{" + b",".join(member for _, member in sorted(members)) + b"}"


def member_sort_key(name: str) -> bytes:
    """What JCS sorts an object's member ``name`` by (its UTF-16 code units)."""
    return _utf16_sort_key(name)


_PLAIN_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
)
#: Above every character a UTF-16 code unit holds alone.
_ASTRAL = "\U00010000"


def _plain(value: Any) -> bool:
    """Whether ``value`` holds only what the json module writes as JCS does:
    exact ``str``, ``bool``, ``None``, ``int`` up to 2**53, ``list``,
    ``tuple`` and ``dict`` with ``str`` keys free of astral characters."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-_MAX_EXACT_INTEGER <= value <= _MAX_EXACT_INTEGER)
    # A ``str`` item is plain: checked here rather than by a call, as the
    # executor's bodies are mostly strings (ids, the stack of step ids).
    if kind is dict:
        for name, item in value.items():
            if type(name) is not str or not (name.isascii() or max(name) < _ASTRAL):
                return False
            if type(item) is not str and not _plain(item):
                return False
        return True
    if kind is list or kind is tuple:
        for item in value:  # noqa: SIM110 - all() would cost a generator
            if type(item) is not str and not _plain(item):
                return False
        return True
    return False  # a float, a subclass, or not JSON: the writer decides


def _write_value(value: Any, parts: list[str]) -> None:
    # Ordered by how often each type shows up in Inngest request bodies.
    if isinstance(value, str):
        parts.append(_quote(value))
    elif isinstance(value, dict):
        _write_object(value, parts)
    elif value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, int | float):
        parts.append(format_number(value))
    elif isinstance(value, list | tuple):
        parts.append("[")
        for index, item in enumerate(value):
            if index:
                parts.append(",")
            _write_value(item, parts)
        parts.append("]")
    else:
        msg = f"cannot canonicalize {type(value).__name__} as JSON"
        raise TypeError(msg)


def _write_object(members: dict[Any, Any], parts: list[str]) -> None:
    for name in members:
        if not isinstance(name, str):
            msg = (
                "cannot canonicalize JSON: object keys must be strings, "
                f"got {type(name).__name__}"
            )
            raise TypeError(msg)
    parts.append("{")
    first = True
    for name in sorted(members, key=_utf16_sort_key):
        if not first:
            parts.append(",")
        first = False
        parts.append(_quote(name))
        parts.append(":")
        _write_value(members[name], parts)
    parts.append("}")


def _utf16_sort_key(name: str) -> bytes:
    # Big-endian UTF-16 bytes compare like the code units themselves, which is
    # what JCS sorts by.  It differs from code point order when astral
    # characters (surrogate pairs) meet U+E000..U+FFFF.  "surrogatepass" lets
    # a lone surrogate sort here so the clearer error is raised at encoding.
    return name.encode("utf-16-be", "surrogatepass")


def _quote(text: str) -> str:
    if _MUST_ESCAPE.search(text) is None:
        return f'"{text}"'
    escaped = _MUST_ESCAPE.sub(lambda match: _ESCAPES[match.group()], text)
    return f'"{escaped}"'


def format_number(value: int | float) -> str:
    """Write a number as ECMAScript's ``Number.prototype.toString`` would.

    ``1.0`` -> ``"1"``, ``1e2`` -> ``"100"``, ``-0.0`` -> ``"0"``,
    ``1e21`` -> ``"1e+21"``, ``1e-7`` -> ``"1e-7"``.  Integers beyond 2**53 are
    first rounded to the nearest double, as JavaScript's ``JSON.parse`` does.
    """
    if isinstance(value, bool):
        msg = "cannot format a bool as a JSON number"
        raise TypeError(msg)
    if isinstance(value, int):
        if -_MAX_EXACT_INTEGER <= value <= _MAX_EXACT_INTEGER:
            return str(value)
        try:
            value = float(value)
        except OverflowError:
            msg = (
                "cannot canonicalize JSON: integer is too large for a "
                "double-precision number"
            )
            raise ValueError(msg) from None
    if not math.isfinite(value):
        msg = f"cannot canonicalize JSON: {value!r} is not a valid JSON number"
        raise ValueError(msg)
    if value == 0:
        # Covers -0.0, which ECMAScript prints as "0".
        return "0"
    if value.is_integer() and -_MAX_EXACT_INTEGER <= value <= _MAX_EXACT_INTEGER:
        return str(int(value))
    if value < 0:
        return "-" + _format_positive_double(-value)
    return _format_positive_double(value)


def _format_positive_double(value: float) -> str:
    # repr() yields the shortest digit string that reads back as the same
    # double, picking the closest one when several qualify: exactly the digits
    # ECMAScript chooses.  Only the layout around them differs.
    mantissa, _, exponent_text = repr(value).partition("e")
    integer_part, _, fraction_part = mantissa.partition(".")
    all_digits = (integer_part + fraction_part).lstrip("0")
    # value = int(all_digits) * 10 ** (exponent - len(fraction_part)), so with
    # ECMAScript's names: value = 0.<digits> * 10 ** point_position.
    exponent = int(exponent_text) if exponent_text else 0
    point_position = len(all_digits) + exponent - len(fraction_part)
    digits = all_digits.rstrip("0")
    digit_count = len(digits)

    if digit_count <= point_position <= 21:
        return digits + "0" * (point_position - digit_count)
    if 0 < point_position <= 21:
        return f"{digits[:point_position]}.{digits[point_position:]}"
    if -6 < point_position <= 0:
        return "0." + "0" * -point_position + digits
    scientific_exponent = point_position - 1
    exponent_sign = "+" if scientific_exponent >= 0 else "-"
    significand = digits if digit_count == 1 else f"{digits[0]}.{digits[1:]}"
    return f"{significand}e{exponent_sign}{abs(scientific_exponent)}"
