"""Durations and timestamps in the forms the Inngest wire protocol uses.

* Durations the SDK *sends* (timeouts, config periods) are single-unit strings
  such as ``"90m"`` or ``"1w"``, as the official Python SDK writes them.
* Durations the server *accepts* follow Go's ``time.ParseDuration`` grammar plus
  ``d`` and ``w``; :func:`parse_duration` reads that grammar so values can be
  checked before they are sent.
* Absolute times are ISO 8601 UTC with millisecond precision (sleep targets,
  ``Retry-After``), or Unix milliseconds (event ``ts``).

Nothing here reads the clock: callers pass "now" in when they need it.
"""

from __future__ import annotations

import datetime
import re
from typing import NoReturn

__all__ = [
    "format_iso_utc_ms",
    "from_unix_ms",
    "parse_duration",
    "parse_iso_time",
    "to_duration_string",
    "to_unix_ms",
]

_MICROS_PER_SECOND = 1_000_000
_MILLIS_PER_SECOND = 1_000

# Largest unit first, so the first unit that divides exactly is the largest.
_OUTPUT_UNITS_IN_SECONDS: tuple[tuple[int, str], ...] = (
    (7 * 24 * 3600, "w"),
    (24 * 3600, "d"),
    (3600, "h"),
    (60, "m"),
    (1, "s"),
)


def to_duration_string(value: int | datetime.timedelta) -> str:
    """Render a duration the way the official SDK does: ``"90m"``, ``"1d"``.

    ``value`` is milliseconds (``int``) or a ``timedelta``.  It must be at
    least one second and a whole number of seconds, because the string uses
    a single unit no finer than ``s``; rounding silently would change what the
    user asked for.
    """
    if isinstance(value, datetime.timedelta):
        # Integer arithmetic: total_seconds() is a float and could hide a
        # stray microsecond.
        micros = (
            value.days * 86_400 + value.seconds
        ) * _MICROS_PER_SECOND + value.microseconds
        whole_seconds, remainder = divmod(micros, _MICROS_PER_SECOND)
        given = f"timedelta {value!r}"
    elif isinstance(value, int) and not isinstance(value, bool):
        whole_seconds, remainder = divmod(value, _MILLIS_PER_SECOND)
        given = f"{value} ms"
    else:
        msg = (
            "a duration must be milliseconds (int) or a datetime.timedelta, "
            f"got {type(value).__name__} {value!r}"
        )
        raise TypeError(msg)

    if whole_seconds < 1 or remainder != 0:
        msg = (
            "a duration must be a whole number of seconds and at least 1 second "
            f"(e.g. 1000 ms or timedelta(seconds=1)); got {given}"
        )
        raise ValueError(msg)

    for unit_seconds, suffix in _OUTPUT_UNITS_IN_SECONDS:
        if whole_seconds % unit_seconds == 0:
            return f"{whole_seconds // unit_seconds}{suffix}"
    raise AssertionError("unreachable: every whole second count divides by 1")


# Go's time.ParseDuration units plus the server's "d" and "w".  Both the micro
# sign (U+00B5) and Greek mu (U+03BC) spell microseconds, as in Go.
_NANOS_PER_UNIT: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,
    "\u03bcs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
    "d": 86_400 * 1_000_000_000,
    "w": 7 * 86_400 * 1_000_000_000,
}
# The server holds durations in a Go int64 of nanoseconds (about 292 years).
_MAX_NANOS = 2**63 - 1
# Fraction digits past this cannot change a nanosecond count below _MAX_NANOS,
# and capping them keeps int() away from huge digit strings.
_MAX_FRACTION_DIGITS = 20
# Like Go, the unit is everything up to the next digit or dot.
_COMPONENT = re.compile(r"([0-9]*)(?:(\.)([0-9]*))?([^0-9.]*)")
_ALLOWED_UNITS = "ns, us, ms, s, m, h, d, w"


def to_seconds(value: int | datetime.timedelta) -> float:
    """A duration option as seconds (an ``int`` is milliseconds, as in options)."""
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    return value / 1000


def parse_duration(text: str) -> datetime.timedelta:
    """Parse a duration in the server's grammar: ``"2h45m"``, ``"1.5h"``, ``"1d12h"``.

    This is Go's ``time.ParseDuration`` plus ``d`` (24 h) and ``w`` (7 d).
    Negative durations are rejected: nothing in the protocol takes one.
    Go keeps nanoseconds but ``timedelta`` keeps microseconds, so any
    sub-microsecond remainder is dropped.
    """
    if text == "0":
        # Go's one special case: a bare zero needs no unit.
        return datetime.timedelta(0)
    if text.startswith("-"):
        msg = f"invalid duration {text!r}: negative durations are not allowed"
        raise ValueError(msg)
    if not text:
        msg = f"invalid duration '': expected e.g. '30s' or '1h30m' ({_ALLOWED_UNITS})"
        raise ValueError(msg)

    total_nanos = 0
    position = 0
    while position < len(text):
        match = _COMPONENT.match(text, position)
        # The pattern can match the empty string, so match is never None.
        assert match is not None
        integer_digits, dot, fraction_digits, unit = match.groups()
        if not integer_digits and not fraction_digits:
            msg = (
                f"invalid duration {text!r}: expected a number at position "
                f"{position} (e.g. '30s' or '1h30m')"
            )
            raise ValueError(msg)
        if not unit:
            msg = f"invalid duration {text!r}: missing unit ({_ALLOWED_UNITS})"
            raise ValueError(msg)
        unit_nanos = _NANOS_PER_UNIT.get(unit)
        if unit_nanos is None:
            msg = (
                f"invalid duration {text!r}: unknown unit {unit!r} "
                f"(allowed: {_ALLOWED_UNITS})"
            )
            raise ValueError(msg)
        if len(integer_digits) > 19:
            _raise_too_long(text)

        nanos = int(integer_digits or "0") * unit_nanos
        if dot and fraction_digits:
            fraction_digits = fraction_digits[:_MAX_FRACTION_DIGITS]
            scale = 10 ** len(fraction_digits)
            # Go computes this part in float64; rounding to the nearest
            # nanosecond lands where it does ("0.3333333333333333333h" is
            # exactly 20m) without inheriting float error.
            nanos += (int(fraction_digits) * unit_nanos + scale // 2) // scale
        total_nanos += nanos
        if total_nanos > _MAX_NANOS:
            _raise_too_long(text)
        position = match.end()

    return datetime.timedelta(microseconds=total_nanos // 1_000)


def _raise_too_long(text: str) -> NoReturn:
    msg = (
        f"invalid duration {text!r}: longer than the server accepts "
        "(2^63-1 nanoseconds, about 292 years)"
    )
    raise ValueError(msg)


def format_iso_utc_ms(dt: datetime.datetime) -> str:
    """Format as ``"2030-01-01T12:00:00.000Z"``: UTC, milliseconds, ``Z``.

    A naive datetime is taken as local time, as the official SDK does.
    Sub-millisecond digits are truncated, not rounded, also to match it.
    """
    utc = dt.astimezone(datetime.timezone.utc)
    # Formatted by hand: strftime("%Y") does not zero-pad years below 1000
    # on every platform.
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
        f".{utc.microsecond // 1000:03d}Z"
    )


# RFC 3339 date-time, plus the ISO 8601 variants servers and users commonly
# write: space for "T", comma for the decimal point, offsets without a colon
# or without minutes.  The offset is required: a time without one would need
# a guess about the zone.
_ISO_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]"
    r"([0-9]{2}):([0-9]{2}):([0-9]{2})(?:[.,]([0-9]+))?"
    r"(?:([Zz])|([+-])([0-9]{2})(?::?([0-9]{2}))?)"
)


def parse_iso_time(text: str) -> datetime.datetime:
    """Parse an RFC 3339 / ISO 8601 time with ``Z`` or an offset; return it in UTC.

    Fractional seconds may have any number of digits; past microseconds they
    are truncated.  Python 3.10's ``fromisoformat`` accepts neither ``Z`` nor
    arbitrary fraction lengths, hence the hand-written parser.
    """
    match = _ISO_TIME.fullmatch(text)
    if match is None:
        msg = (
            f"invalid time {text!r}: expected RFC 3339 such as "
            "'2030-01-01T12:00:00Z' or '2030-01-01T12:00:00.5+02:00'"
        )
        raise ValueError(msg)
    year, month, day, hour, minute, second, fraction = match.groups()[:7]
    zulu, offset_sign, offset_hours, offset_minutes = match.groups()[7:]

    if zulu:
        zone = datetime.timezone.utc
    else:
        hours, minutes = int(offset_hours), int(offset_minutes or "0")
        if hours > 23 or minutes > 59:
            msg = f"invalid time {text!r}: UTC offset out of range"
            raise ValueError(msg)
        offset = datetime.timedelta(hours=hours, minutes=minutes)
        zone = datetime.timezone(-offset if offset_sign == "-" else offset)

    micros = int(fraction[:6].ljust(6, "0")) if fraction else 0
    try:
        parsed = datetime.datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            micros,
            tzinfo=zone,
        )
    except ValueError as err:
        # e.g. month 13, or a leap second (":60"), which datetime cannot hold.
        msg = f"invalid time {text!r}: {err}"
        raise ValueError(msg) from None
    return parsed.astimezone(datetime.timezone.utc)


_UNIX_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_ONE_MILLISECOND = datetime.timedelta(milliseconds=1)


def to_unix_ms(dt: datetime.datetime) -> int:
    """Milliseconds since the Unix epoch (floored); naive means local time."""
    if dt.utcoffset() is None:
        dt = dt.astimezone()
    # timedelta floor division is exact, unlike timestamp() * 1000.
    return (dt - _UNIX_EPOCH) // _ONE_MILLISECOND


def from_unix_ms(ms: int) -> datetime.datetime:
    """The aware UTC datetime ``ms`` milliseconds after the Unix epoch."""
    try:
        return _UNIX_EPOCH + datetime.timedelta(milliseconds=ms)
    except OverflowError:
        # ValueError, like every other bad input here, so wire parsers need
        # to catch only one thing.
        msg = f"Unix time {ms} ms is outside the years 1-9999 a datetime can hold"
        raise ValueError(msg) from None
