"""Cron triggers: parse a schedule, find its next tick, jitter, and the tick event.

The grammar and the arithmetic follow robfig/cron v3, which the Inngest server
uses (docs/protocol/executor.rst#cron-triggers): minute-level fields,
``TZ=``/``CRON_TZ=`` prefixes, descriptors, the "star" rule for day-of-month vs
day-of-week.  A schedule fires at every instant whose wall-clock time in its
zone matches, so a time skipped by a DST jump never fires and a time repeated by
one fires twice, exactly as robfig/cron's tests expect.

All times are Unix seconds as floats; nothing here reads the clock.
"""

from __future__ import annotations

import datetime
import hashlib
import math
import zoneinfo
from typing import Any, NoReturn

import attrs

from .._durations import parse_duration

__all__ = [
    "MAX_CRON_CHARS",
    "MAX_JITTER_SECONDS",
    "MIN_JITTER_SECONDS",
    "SCHEDULED_TIMER_EVENT",
    "CronError",
    "CronSchedule",
    "jitter_seconds",
    "jitter_seed",
    "parse_jitter",
    "scheduled_timer_event",
    "validate_for_sync",
]

SCHEDULED_TIMER_EVENT = "inngest/scheduled.timer"
#: Longest ``cron`` string registration accepts (bytes, as Go's ``len``).
MAX_CRON_CHARS = 255
MIN_JITTER_SECONDS = 1.0
MAX_JITTER_SECONDS = 300.0
# robfig/cron gives up (returns the zero time) past this many years; the
# server then stops the cron cycle, and so do we by raising.
_SEARCH_YEARS = 5
_EXPECTED = "5 fields: minute hour day-of-month month day-of-week"


class CronError(ValueError):
    """A cron expression, jitter or schedule that cannot be used, and why."""


@attrs.frozen
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] spells low + i


_FIRST_HALF = ("jan", "feb", "mar", "apr", "may", "jun")
_MONTH_NAMES = (*_FIRST_HALF, "jul", "aug", "sep", "oct", "nov", "dec")
_MINUTE = _Field("minute", 0, 59)
_HOUR = _Field("hour", 0, 23)
_DOM = _Field("day-of-month", 1, 31)
_MONTH = _Field("month", 1, 12, _MONTH_NAMES)
_DOW = _Field("day-of-week", 0, 6, ("sun", "mon", "tue", "wed", "thu", "fri", "sat"))
_FIELDS = (_MINUTE, _HOUR, _DOM, _MONTH, _DOW)
# February counts 29: a day that exists only in leap years is possible.
_DAYS_IN_MONTH = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)

_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_EVERY = "@every "
_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()
_ONE_DAY = datetime.timedelta(days=1)


def _fail(text: str, problem: str) -> NoReturn:
    raise CronError(f"cron expression {text!r}: {problem}")


@attrs.frozen
class CronSchedule:
    """A parsed cron expression; build it with :meth:`parse`.

    Field values are sorted tuples; ``weekdays`` counts Sunday as 0.  The
    ``*_star`` flags record whether the field was written ``*``/``?`` (or with
    step 1), which decides how the two day fields combine.  ``every_seconds``
    is set, and the fields empty, for ``@every <duration>``.
    """

    text: str
    zone: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days_of_month: tuple[int, ...]
    months: tuple[int, ...]
    weekdays: tuple[int, ...]
    dom_star: bool
    dow_star: bool
    every_seconds: int | None = None

    @classmethod
    def parse(cls, text: str) -> CronSchedule:
        """Parse what the server's scheduler accepts, plus ``7`` for Sunday.

        Raises :class:`CronError` for invalid input and for schedules that
        can never fire (a day of month no listed month has, e.g. ``30 2``).
        """
        return _parse(text, strict=False)

    def next_after(self, t: float) -> float:
        """The first fire time strictly after Unix time ``t``.

        Cron fields fire on whole minutes of the schedule's zone (UTC unless
        ``TZ=``); ``@every d`` fires ``d`` after ``t`` truncated to the second,
        as robfig/cron does.  Raises :class:`CronError` when nothing fires
        within 5 years, the bound robfig/cron uses.
        """
        if not math.isfinite(t):
            msg = f"next_after needs a finite Unix time, got {t!r}"
            raise CronError(msg)
        if self.every_seconds is not None:
            return float(math.floor(t) + self.every_seconds)
        zone = zoneinfo.ZoneInfo(self.zone)
        start = (math.floor(t) // 60 + 1) * 60
        try:
            local = datetime.datetime.fromtimestamp(start, zone)
        except (OverflowError, ValueError, OSError):
            _fail(self.text, f"time {t} is outside the years a datetime can hold")
        last_year = local.year + _SEARCH_YEARS
        # A fold that crosses midnight can give an instant after `start` a
        # wall date before local.date(), and one on the day after a match an
        # earlier instant than the match; so look one day either side.
        day = local.date() - _ONE_DAY
        best: int | None = None
        best_day = day
        while best is None or day <= best_day + _ONE_DAY:
            if day.year > last_year:
                if best is not None:
                    break
                after = _rfc3339_seconds(t)
                problem = f"it does not fire within {_SEARCH_YEARS} years after {after}"
                _fail(self.text, problem)
            if day.month not in self.months:
                # The 1st of the next month: day 28 + 4 is always in it.
                day = (day.replace(day=28) + 4 * _ONE_DAY).replace(day=1)
                continue
            if self._day_matches(day):
                found = self._first_on(day, zone, start)
                if found is not None and (best is None or found < best):
                    if best is None:
                        best_day = day
                    best = found
            day += _ONE_DAY
        assert best is not None
        return float(best)

    def _day_matches(self, day: datetime.date) -> bool:
        dom_ok = day.day in self.days_of_month
        dow_ok = day.isoweekday() % 7 in self.weekdays
        # robfig/cron: a starred day field makes both fields required;
        # otherwise either one suffices (classic Vixie cron).
        if self.dom_star or self.dow_star:
            return dom_ok and dow_ok
        return dom_ok or dow_ok

    def _first_on(
        self, day: datetime.date, zone: zoneinfo.ZoneInfo, start: int
    ) -> int | None:
        """Earliest instant >= ``start`` whose wall time on ``day`` matches."""
        midnight = _midnight(day, zone)
        next_midnight = _midnight(day + _ONE_DAY, zone)
        offset = midnight.utcoffset()
        if offset == next_midnight.utcoffset() and offset is not None:
            # No transition today (assuming a zone never changes twice in a
            # day): wall time is UTC plus a fixed shift.
            shift = offset // datetime.timedelta(seconds=1)
            wall_midnight = (day.toordinal() - _EPOCH_ORDINAL) * 86_400
            needed = max(0, -((wall_midnight - start - shift) // 60))
            slot = self._first_slot_from(needed)
            if slot is None:
                return None
            return wall_midnight + slot * 60 - shift
        return self._scan_transition_day(day, zone, start)

    def _first_slot_from(self, minute_of_day: int) -> int | None:
        hour0, minute0 = divmod(minute_of_day, 60)
        for hour in self.hours:
            if hour < hour0:
                continue
            for minute in self.minutes:
                if hour > hour0 or minute >= minute0:
                    return hour * 60 + minute
        return None

    def _scan_transition_day(
        self, day: datetime.date, zone: zoneinfo.ZoneInfo, start: int
    ) -> int | None:
        best: int | None = None
        for hour in self.hours:
            for minute in self.minutes:
                wall = datetime.datetime(day.year, day.month, day.day, hour, minute)
                for fold in (0, 1):
                    instant = int(wall.replace(tzinfo=zone, fold=fold).timestamp())
                    back = datetime.datetime.fromtimestamp(instant, zone)
                    # A wall time in a DST gap does not round-trip: skip it.
                    exists = back.replace(tzinfo=None, fold=0) == wall
                    if exists and instant >= start and (best is None or instant < best):
                        best = instant
        return best


def _midnight(day: datetime.date, zone: zoneinfo.ZoneInfo) -> datetime.datetime:
    """The start of ``day`` in ``zone`` (a calendar value, not a clock read)."""
    return datetime.datetime(day.year, day.month, day.day, tzinfo=zone)


def _parse(text: str, *, strict: bool) -> CronSchedule:
    if not text.strip():
        _fail(text, f"it is empty; expected {_EXPECTED}")
    zone = "UTC"
    spec = text
    if spec.startswith(("TZ=", "CRON_TZ=")):
        space = spec.find(" ")
        if space < 0:
            _fail(text, "expected a schedule after the time zone, separated by a space")
        zone = spec[spec.index("=") + 1 : space]
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            _fail(text, f"unknown time zone {zone!r} (expected e.g. 'Europe/Paris')")
        spec = spec[space:].strip()
    if spec.startswith("@"):
        if strict:
            _fail(text, f"descriptors such as @daily are not accepted; use {_EXPECTED}")
        if spec.startswith(_EVERY):
            return _every(text, spec[len(_EVERY) :], zone)
        if spec not in _DESCRIPTORS:
            known = ", ".join(_DESCRIPTORS)
            _fail(text, f"unknown descriptor {spec!r} (known: {known}, @every)")
        spec = _DESCRIPTORS[spec]
    fields = spec.split()
    if len(fields) != len(_FIELDS):
        _fail(text, f"expected {_EXPECTED}; found {len(fields)} fields")
    pairs = zip(fields, _FIELDS, strict=True)
    parsed = [_parse_field(text, raw, field, strict=strict) for raw, field in pairs]
    (minutes, _), (hours, _), (doms, dom_star), (months, _), (dows, dow_star) = parsed
    schedule = CronSchedule(
        text, zone, minutes, hours, doms, months, dows, dom_star, dow_star
    )
    if not strict:
        _check_possible(schedule)
    return schedule


def _every(text: str, duration: str, zone: str) -> CronSchedule:
    # Go's time.ParseDuration: no day or week units, unlike protocol durations.
    if "d" in duration or "w" in duration:
        _fail(text, f"@every duration {duration!r} may not use d or w; use h, m, s")
    try:
        delta = parse_duration(duration.removeprefix("+"))
    except ValueError as err:
        _fail(text, f"@every needs a duration such as 1h30m: {err}")
    # robfig/cron rounds below one second up and drops sub-second parts.
    seconds = max(1, delta // datetime.timedelta(seconds=1))
    return CronSchedule(text, zone, (), (), (), (), (), False, False, seconds)


def _parse_field(
    text: str, raw: str, field: _Field, *, strict: bool
) -> tuple[tuple[int, ...], bool]:
    # Go accepts 7 nowhere; cron(5) and many users write it for Sunday.
    top = 7 if field is _DOW and not strict else field.high
    values: set[int] = set()
    star = False
    for item in raw.split(","):
        if not item:
            _fail(text, f"{field.name} field {raw!r} has an empty list item")
        span, slash, step_text = item.partition("/")
        step = 1
        if slash:
            step = _number(text, f"{field.name} step", step_text)
            if step == 0:
                _fail(text, f"{field.name} step in {item!r} must be at least 1")
        low_text, dash, high_text = span.partition("-")
        if low_text in ("*", "?"):
            if dash:
                _fail(text, f"{field.name} {item!r}: {low_text!r} cannot start a range")
            low, high = field.low, field.high
            # robfig/cron: "*/n" with n > 1 counts as a restriction.
            star = star or step == 1
        else:
            if "-" in high_text:
                _fail(text, f"{field.name} {item!r} has too many '-'")
            low = _value(text, field, low_text, top)
            if dash:
                high = _value(text, field, high_text, top)
            else:
                # "N/step" means N through the end of the field.
                high = max(field.high, low) if slash else low
            if low > high:
                _fail(text, f"{field.name} range {item!r} runs backwards")
        values.update(range(low, high + 1, step))
    if field is _DOW:
        values = {v % 7 for v in values}
    return tuple(sorted(values)), star


def _value(text: str, field: _Field, word: str, top: int) -> int:
    if word.lower() in field.names:
        return field.low + field.names.index(word.lower())
    if field.names and not word.isdigit():
        span = f"{field.names[0]}-{field.names[-1]}".upper()
        _fail(text, f"{field.name} {word!r} is neither a number nor a name {span}")
    value = _number(text, field.name, word)
    if not field.low <= value <= top:
        _fail(text, f"{field.name} {int(word)} is out of range {field.low}-{top}")
    return value


def _number(text: str, what: str, word: str) -> int:
    if not (word.isascii() and word.isdigit()):
        _fail(text, f"{what} {word!r} is not a number")
    # Past 9 digits only "out of range" matters; avoid int()'s digit limit.
    return int(word) if len(word) < 10 else 10**9


def _check_possible(schedule: CronSchedule) -> None:
    # Only the "star" combination can be impossible: it requires a day of
    # month, and when none exists in any listed month nothing ever fires.
    # (A restricted weekday alone, or OR-ed in, always matches some day.)
    if not schedule.dow_star:
        return
    first_day = schedule.days_of_month[0]
    if all(first_day > _DAYS_IN_MONTH[m] for m in schedule.months):
        months = ",".join(_MONTH_NAMES[m - 1].upper() for m in schedule.months)
        problem = f"it can never fire: no day {first_day} or later in {months}"
        _fail(schedule.text, problem)


def validate_for_sync(text: str) -> None:
    """Check a trigger's ``cron`` as registration does; raise :class:`CronError`.

    That is robfig/cron with 5 fields, no descriptors, ``0-6`` for the day of
    week, an optional ``TZ=``/``CRON_TZ=`` prefix, at most 255 bytes.  Like the
    server it accepts schedules that never fire (they just never tick).
    """
    size = len(text.encode())
    if size > MAX_CRON_CHARS:
        msg = f"cron expression is {size} bytes long; at most {MAX_CRON_CHARS}"
        raise CronError(msg)
    _parse(text, strict=True)


def parse_jitter(text: str | None) -> float:
    """Seconds of jitter a cron trigger's ``jitter`` string asks for.

    ``None`` or blank means 0.  Otherwise a duration (``"30s"``, ``"1m30s"``)
    of 0, or of 1 s to 5 min as registration requires.
    """
    if text is None or not text.strip():
        return 0.0
    try:
        seconds = parse_duration(text.removeprefix("+")).total_seconds()
    except ValueError as err:
        msg = f"{text!r} isn't a valid jitter duration: {err}"
        raise CronError(msg) from None
    if 0 < seconds < MIN_JITTER_SECONDS:
        msg = f"cron jitter {text!r} must be 0 or at least 1s"
        raise CronError(msg)
    if seconds > MAX_JITTER_SECONDS:
        msg = f"cron jitter {text!r} must be at most 5m"
        raise CronError(msg)
    return seconds


def jitter_seed(function_id: str, cron_text: str, scheduled_at: float) -> str:
    """The seed the server falls back to for a tick: ``fn:expr:scheduled-ms``."""
    return f"{function_id}:{cron_text}:{_unix_ms(scheduled_at)}"


def jitter_seconds(seed: str, max_jitter_seconds: float) -> float:
    """Deterministic jitter for one tick, in whole milliseconds.

    Like the server: none when ``max`` is 0, otherwise in [1 s, max) (exactly
    ``max`` when it is 1 s or less).  The server hashes with xxhash; we use
    SHA-256, so values are stable here but differ from the server's.
    """
    max_ms = round(max_jitter_seconds * 1000)
    if max_ms <= 0:
        return 0.0
    min_ms = round(MIN_JITTER_SECONDS * 1000)
    if max_ms <= min_ms:
        return max_ms / 1000
    digest = hashlib.sha256(seed.encode()).digest()
    return (min_ms + int.from_bytes(digest[:8], "big") % (max_ms - min_ms)) / 1000


def scheduled_timer_event(
    cron_text: str, scheduled_at: float, fire_at: float
) -> dict[str, Any]:
    """The ``inngest/scheduled.timer`` event for one tick.

    See docs/protocol/executor.rst#cron-triggers.

    ``id`` and ``scheduledAt`` are the scheduled time, ``fireAt`` the jittered
    one, both RFC 3339 UTC truncated to seconds as Go formats them; ``ts`` is
    ``fireAt`` in Unix milliseconds.
    """
    scheduled = _rfc3339_seconds(scheduled_at)
    return {
        "id": scheduled,
        "name": SCHEDULED_TIMER_EVENT,
        "data": {
            "cron": cron_text,
            "scheduledAt": scheduled,
            "fireAt": _rfc3339_seconds(fire_at),
        },
        "ts": _unix_ms(fire_at),
        "user": {},
    }


def _unix_ms(t: float) -> int:
    # Round to microseconds first so float error cannot push, say,
    # ...07.123 down to ...07.122; then floor like Go's UnixMilli.
    return round(t * 1_000_000) // 1000


def _rfc3339_seconds(t: float) -> str:
    seconds = datetime.timedelta(seconds=_unix_ms(t) // 1000)
    # A naive datetime with no microseconds prints exactly Go's RFC3339 minus "Z".
    return (datetime.datetime(1970, 1, 1) + seconds).isoformat() + "Z"
