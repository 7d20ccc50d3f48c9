"""Cron schedules: parsing, next fire times (robfig/cron semantics), jitter, events.

Expected times are written as wall-clock strings with explicit offsets, so each
case reads like robfig/cron's own tables.  Nothing here reads the clock.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from inngest_proto.executor._cron import (
    CronError,
    CronSchedule,
    jitter_seconds,
    jitter_seed,
    parse_jitter,
    scheduled_timer_event,
    validate_for_sync,
)

GOLDEN = Path(__file__).parents[2] / "fixtures" / "golden"


def at(text: str) -> float:
    """Unix time of an ISO time; without an offset it is UTC."""
    moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def next_of(expr: str, after: str) -> float:
    return CronSchedule.parse(expr).next_after(at(after))


# --- next_after: tables ----------------------------------------------------------

UTC_CASES = [
    # every minute; strictly after, fractions of a second included
    ("* * * * *", "2025-01-01T00:00:00", "2025-01-01T00:01:00"),
    ("* * * * *", "2025-01-01T00:00:30.500", "2025-01-01T00:01:00"),
    ("* * * * *", "2025-01-01T00:00:59.999", "2025-01-01T00:01:00"),
    ("* * * * *", "2012-12-31T23:59:45", "2013-01-01T00:00:00"),
    # steps
    ("*/5 * * * *", "2025-01-01T10:02:00", "2025-01-01T10:05:00"),
    ("*/5 * * * *", "2025-01-01T10:05:00", "2025-01-01T10:10:00"),
    ("*/5 * * * *", "2025-01-01T23:58:00", "2025-01-02T00:00:00"),
    ("5/15 * * * *", "2025-01-01T10:06:00", "2025-01-01T10:20:00"),
    ("5/15 * * * *", "2025-01-01T10:50:00", "2025-01-01T11:05:00"),
    ("20-35/15 * * * *", "2025-01-01T10:36:00", "2025-01-01T11:20:00"),
    ("0 */6 * * *", "2025-01-01T06:00:00", "2025-01-01T12:00:00"),
    ("0 1/2 * * *", "2025-01-01T23:35:00", "2025-01-02T01:00:00"),
    ("*/100 * * * *", "2025-01-01T10:00:00", "2025-01-01T11:00:00"),
    # ranges and lists
    ("0 9-17 * * *", "2025-01-01T17:00:00", "2025-01-02T09:00:00"),
    ("0 9-17 * * *", "2025-01-01T12:30:00", "2025-01-01T13:00:00"),
    ("0,30 * * * *", "2025-01-01T10:29:59", "2025-01-01T10:30:00"),
    ("15,45 8,20 * * *", "2025-01-01T08:45:00", "2025-01-01T20:15:00"),
    ("0-10/5,30 * * * *", "2025-01-01T10:10:00", "2025-01-01T10:30:00"),
    ("05 07 * * *", "2025-01-01T07:05:00", "2025-01-02T07:05:00"),
    # days of month, months, month boundaries
    ("15 14 1 * *", "2025-01-01T14:15:00", "2025-02-01T14:15:00"),
    ("0 0 31 * *", "2025-01-31T00:00:00", "2025-03-31T00:00:00"),
    ("0 0 30 * *", "2025-01-30T00:00:00", "2025-03-30T00:00:00"),
    ("0 0 1 JAN-MAR *", "2025-03-01T00:00:00", "2026-01-01T00:00:00"),
    ("0 0 9 Apr-Oct ?", "2012-07-09T23:35:00", "2012-08-09T00:00:00"),
    ("0 0 1 dec *", "2025-12-01T00:00:00", "2026-12-01T00:00:00"),
    ("0 0 * 2 *", "2025-02-28T00:00:00", "2026-02-01T00:00:00"),
    # leap years
    ("0 0 29 2 *", "2025-01-01T00:00:00", "2028-02-29T00:00:00"),
    ("0 0 29 FEB ?", "2012-07-09T23:35:00", "2016-02-29T00:00:00"),
    ("0 0 29 2 *", "2024-02-29T00:00:00", "2028-02-29T00:00:00"),
    ("0 0 * 2 *", "2024-02-28T00:00:00", "2024-02-29T00:00:00"),
    ("0 0 29 2 *", "2095-03-01T00:00:00", "2096-02-29T00:00:00"),
    # days of week, names, Sunday as 0 or 7 (2025-01-01 is a Wednesday)
    ("0 12 * * MON-FRI", "2025-01-04T00:00:00", "2025-01-06T12:00:00"),
    ("0 12 * * 1-5", "2025-01-03T12:00:00", "2025-01-06T12:00:00"),
    ("0 12 * * sat,Sun", "2025-01-01T00:00:00", "2025-01-04T12:00:00"),
    ("0 0 * * 0", "2025-01-01T00:00:00", "2025-01-05T00:00:00"),
    ("0 0 * * 7", "2025-01-01T00:00:00", "2025-01-05T00:00:00"),
    ("0 0 * * SUN", "2025-01-01T00:00:00", "2025-01-05T00:00:00"),
    ("0 0 * * 5-7", "2025-01-05T00:00:00", "2025-01-10T00:00:00"),
    ("0 0 * * 6,7", "2025-01-04T00:00:00", "2025-01-05T00:00:00"),
    ("0 0 * * 7/2", "2025-01-01T00:00:00", "2025-01-05T00:00:00"),
    ("0 0 * * */2", "2025-01-01T00:00:00", "2025-01-02T00:00:00"),
    ("0 0 * Feb Mon", "2012-07-09T23:35:00", "2013-02-04T00:00:00"),
    # both day fields restricted: either may match (Friday the 3rd, Monday the 13th)
    ("0 0 13 * FRI", "2025-01-01T00:00:00", "2025-01-03T00:00:00"),
    ("0 0 13 * 5", "2025-01-10T00:00:00", "2025-01-13T00:00:00"),
    ("0 0 1,15 * SUN", "2025-01-01T00:00:00", "2025-01-05T00:00:00"),
    ("0 0 */10 * Sun", "2012-07-14T00:00:00", "2012-07-15T00:00:00"),
    ("0 0 */5 Apr,Aug,Oct Mon", "2012-07-09T23:35:00", "2012-08-01T00:00:00"),
    ("0 0 1-31 * MON", "2025-01-01T00:00:00", "2025-01-02T00:00:00"),
    ("0 0 30 2 MON", "2025-01-01T00:00:00", "2025-02-03T00:00:00"),
    # one day field starred (*, ? or a step of 1): both must match
    ("0 0 * * MON", "2025-01-01T00:00:00", "2025-01-06T00:00:00"),
    ("0 0 ? * MON", "2025-01-01T00:00:00", "2025-01-06T00:00:00"),
    ("0 0 */1 * MON", "2025-01-01T00:00:00", "2025-01-06T00:00:00"),
    ("0 0 13 * *", "2025-01-01T00:00:00", "2025-01-13T00:00:00"),
    ("0 0 13 * ?", "2025-01-01T00:00:00", "2025-01-13T00:00:00"),
    ("0 0 * Feb Mon/2", "2012-07-09T23:35:00", "2013-02-01T00:00:00"),
    ("0 0 13 * */1", "2025-01-01T00:00:00", "2025-01-13T00:00:00"),
    # descriptors
    ("@yearly", "2025-06-01T00:00:00", "2026-01-01T00:00:00"),
    ("@annually", "2025-01-01T00:00:00", "2026-01-01T00:00:00"),
    ("@monthly", "2025-01-15T08:00:00", "2025-02-01T00:00:00"),
    ("@weekly", "2025-01-01T00:00:00", "2025-01-05T00:00:00"),
    ("@daily", "2025-01-01T00:00:00", "2025-01-02T00:00:00"),
    ("@midnight", "2025-01-01T12:00:00", "2025-01-02T00:00:00"),
    ("@hourly", "2025-01-01T10:00:00", "2025-01-01T11:00:00"),
    # whitespace between fields is free
    ("  0   9 *\t* 1-5 ", "2025-01-03T09:00:00", "2025-01-06T09:00:00"),
]


@pytest.mark.parametrize(("expr", "after", "expected"), UTC_CASES)
def test_next_after_in_utc(expr: str, after: str, expected: str) -> None:
    assert next_of(expr, after) == at(expected)


PARIS = "TZ=Europe/Paris "
NEW_YORK = "TZ=America/New_York "
SAO_PAULO = "TZ=America/Sao_Paulo "
SANTIAGO = "TZ=America/Santiago "

ZONE_CASES = [
    # The golden transcript's schedule: weekdays at 09:00 Paris (CET in January).
    (PARIS, "0 9 * * 1-5", "2025-01-03T08:00Z", "2025-01-06T09:00+01:00"),
    (
        "CRON_TZ=Europe/Paris ",
        "0 9 * * 1-5",
        "2025-07-04T09:00Z",
        "2025-07-07T09:00+02:00",
    ),
    ("TZ=Asia/Tokyo ", "@midnight", "2025-01-01T00:00Z", "2025-01-02T00:00+09:00"),
    ("TZ=Asia/Kolkata ", "0 0 * * *", "2025-01-01T00:00Z", "2025-01-02T00:00+05:30"),
    ("TZ=UTC ", "0 0 * * *", "2025-01-01T00:00Z", "2025-01-02T00:00Z"),
    (NEW_YORK, "@daily", "2025-01-01T04:59Z", "2025-01-01T00:00-05:00"),
    # Paris, spring forward 2025-03-30 02:00 CET -> 03:00 CEST: 02:xx never happens.
    (PARIS, "30 2 * * *", "2025-03-29T02:30+01:00", "2025-03-31T02:30+02:00"),
    (PARIS, "0 * * * *", "2025-03-30T01:00+01:00", "2025-03-30T03:00+02:00"),
    (PARIS, "*/30 * * * *", "2025-03-30T01:30+01:00", "2025-03-30T03:00+02:00"),
    (PARIS, "0 3 * * *", "2025-03-29T03:00+01:00", "2025-03-30T03:00+02:00"),
    # Paris, fall back 2025-10-26 03:00 CEST -> 02:00 CET: 02:xx happens twice.
    (PARIS, "30 2 * * *", "2025-10-25T03:00+02:00", "2025-10-26T02:30+02:00"),
    (PARIS, "30 2 * * *", "2025-10-26T02:30+02:00", "2025-10-26T02:30+01:00"),
    (PARIS, "30 2 * * *", "2025-10-26T02:30+01:00", "2025-10-27T02:30+01:00"),
    (PARIS, "0 * * * *", "2025-10-26T02:00+02:00", "2025-10-26T02:00+01:00"),
    (PARIS, "0 * * * *", "2025-10-26T02:00+01:00", "2025-10-26T03:00+01:00"),
    (PARIS, "0 3 * * *", "2025-10-25T03:00+02:00", "2025-10-26T03:00+01:00"),
    # robfig/cron's own New York table (2012), as 5-field expressions.
    (NEW_YORK, "30 2 11 Mar ?", "2012-03-11T00:00-05:00", "2013-03-11T02:30-04:00"),
    (NEW_YORK, "0 * * * ?", "2012-03-11T01:00-05:00", "2012-03-11T03:00-04:00"),
    (NEW_YORK, "0 1 * * ?", "2012-03-11T01:00-05:00", "2012-03-12T01:00-04:00"),
    (NEW_YORK, "0 2 * * ?", "2012-03-11T00:00-05:00", "2012-03-12T02:00-04:00"),
    (NEW_YORK, "30 2 04 Nov ?", "2012-11-04T00:00-04:00", "2012-11-04T02:30-05:00"),
    (NEW_YORK, "30 1 04 Nov ?", "2012-11-04T01:45-04:00", "2012-11-04T01:30-05:00"),
    (NEW_YORK, "0 1 * * ?", "2012-11-04T00:00-04:00", "2012-11-04T01:00-04:00"),
    (NEW_YORK, "0 1 * * ?", "2012-11-04T01:00-04:00", "2012-11-04T01:00-05:00"),
    (NEW_YORK, "0 1 * * ?", "2012-11-04T01:00-05:00", "2012-11-05T01:00-05:00"),
    (NEW_YORK, "0 2 * * ?", "2012-11-04T00:00-04:00", "2012-11-04T02:00-05:00"),
    (NEW_YORK, "0 3 3 * ?", "2012-11-04T00:00-04:00", "2012-12-03T03:00-05:00"),
    # Sao Paulo used to skip midnight itself (robfig/cron issue 157).
    (SAO_PAULO, "0 9 10 * ?", "2018-10-17T05:00-04:00", "2018-11-10T06:00-05:00"),
    (SAO_PAULO, "0 9 22 * ?", "2018-02-14T05:00-05:00", "2018-02-22T07:00-05:00"),
    (SAO_PAULO, "0 0 * * *", "2018-11-03T00:00-03:00", "2018-11-05T00:00-02:00"),
    (SAO_PAULO, "30 0 * * *", "2018-11-03T00:30-03:00", "2018-11-05T00:30-02:00"),
    (SAO_PAULO, "0 1 * * *", "2018-11-03T01:00-03:00", "2018-11-04T01:00-02:00"),
    # Santiago falls back at midnight (00:00 -03 -> 23:00 -04) and springs forward
    # at midnight (00:00 -04 -> 01:00 -03).
    (SANTIAGO, "30 23 * * *", "2025-04-05T23:30-03:00", "2025-04-05T23:30-04:00"),
    (SANTIAGO, "0 0 * * *", "2025-04-05T00:00-03:00", "2025-04-06T00:00-04:00"),
    (SANTIAGO, "0 0 * * *", "2025-09-06T00:00-04:00", "2025-09-08T00:00-03:00"),
]


@pytest.mark.parametrize(("zone", "fields", "after", "expected"), ZONE_CASES)
def test_next_after_in_a_zone(
    zone: str, fields: str, after: str, expected: str
) -> None:
    assert next_of(zone + fields, after) == at(expected)


def test_an_ambiguous_hour_fires_once_per_occurrence() -> None:
    schedule = CronSchedule.parse("TZ=America/New_York 0 * * * *")
    t = at("2012-11-04T00:30-04:00")
    fired = []
    for _ in range(4):
        t = schedule.next_after(t)
        fired.append(t)
    assert fired == [
        at("2012-11-04T01:00-04:00"),
        at("2012-11-04T01:00-05:00"),
        at("2012-11-04T02:00-05:00"),
        at("2012-11-04T03:00-05:00"),
    ]


def test_every_follows_go_durations_from_the_truncated_second() -> None:
    assert CronSchedule.parse("@every 1h30m").next_after(100.5) == 5500.0
    assert CronSchedule.parse("@every 90s").next_after(1000.7) == 1090.0
    # Below a second rounds up to one; sub-second parts are dropped.
    assert CronSchedule.parse("@every 500ms").next_after(10.0) == 11.0
    assert CronSchedule.parse("@every 2.5s").next_after(10.0) == 12.0
    assert CronSchedule.parse("TZ=Asia/Tokyo @every 1m").next_after(0.0) == 60.0


def test_parse_exposes_the_fields() -> None:
    schedule = CronSchedule.parse("CRON_TZ=Europe/Paris 0,30 9-11 ? jan,JUL 1-5/2")
    assert attrs.asdict(schedule) == {
        "text": "CRON_TZ=Europe/Paris 0,30 9-11 ? jan,JUL 1-5/2",
        "zone": "Europe/Paris",
        "minutes": (0, 30),
        "hours": (9, 10, 11),
        "days_of_month": tuple(range(1, 32)),
        "months": (1, 7),
        "weekdays": (1, 3, 5),
        "dom_star": True,
        "dow_star": False,
        "every_seconds": None,
    }
    assert CronSchedule.parse("0 0 * * 0,7").weekdays == (0,)
    assert CronSchedule.parse("0 0 * * 5-7").weekdays == (0, 5, 6)
    assert CronSchedule.parse("@weekly") == attrs.evolve(
        CronSchedule.parse("0 0 * * 0"), text="@weekly"
    )


def test_no_fire_time_within_five_years_raises() -> None:
    # 2100 is not a leap year, so after 2096 the next 29 February is in 2104.
    schedule = CronSchedule.parse("0 0 29 2 *")
    with pytest.raises(CronError, match="does not fire within 5 years after"):
        schedule.next_after(at("2097-03-01T00:00:00"))


@pytest.mark.parametrize("t", [math.nan, math.inf, -math.inf])
def test_next_after_needs_a_finite_time(t: float) -> None:
    with pytest.raises(CronError, match="finite"):
        CronSchedule.parse("* * * * *").next_after(t)


# --- parse errors -------------------------------------------------------------------

PARSE_ERRORS = [
    ("61 * * * *", "minute 61 is out of range 0-59"),
    ("* 24 * * *", "hour 24 is out of range 0-23"),
    ("* * 0 * *", "day-of-month 0 is out of range 1-31"),
    ("* * 32 * *", "day-of-month 32 is out of range 1-31"),
    ("* * * 0 *", "month 0 is out of range 1-12"),
    ("* * * 13 *", "month 13 is out of range 1-12"),
    ("* * * * 8", "day-of-week 8 is out of range 0-7"),
    ("0-60 * * * *", "minute 60 is out of range 0-59"),
    ("99999999999 * * * *", "minute 99999999999 is out of range 0-59"),
    (
        "* * * *",
        "expected 5 fields: minute hour day-of-month month day-of-week; found 4",
    ),
    ("0 * * * * *", "found 6 fields"),
    ("", "it is empty"),
    ("   ", "it is empty"),
    ("*/0 * * * *", "minute step in '*/0' must be at least 1"),
    ("1-5/0 * * * *", "minute step in '1-5/0' must be at least 1"),
    ("*/x * * * *", "minute step 'x' is not a number"),
    ("*/ * * * *", "minute step '' is not a number"),
    ("1/2/3 * * * *", "minute step '2/3' is not a number"),
    ("5-1 * * * *", "minute range '5-1' runs backwards"),
    ("1-2-3 * * * *", "minute '1-2-3' has too many '-'"),
    ("*-5 * * * *", "minute '*-5': '*' cannot start a range"),
    ("-1 * * * *", "minute '' is not a number"),
    ("+1 * * * *", "minute '+1' is not a number"),
    ("x * * * *", "minute 'x' is not a number"),
    ("MON * * * *", "minute 'MON' is not a number"),
    ("1,,2 * * * *", "minute field '1,,2' has an empty list item"),
    ("0 0 * JANUARY *", "month 'JANUARY' is neither a number nor a name JAN-DEC"),
    ("0 0 * MON *", "month 'MON' is neither a number nor a name JAN-DEC"),
    ("0 0 * * MONDAY", "day-of-week 'MONDAY' is neither a number nor a name SUN-SAT"),
    ("0 0 * * JAN", "day-of-week 'JAN' is neither a number nor a name SUN-SAT"),
    ("0 0 * * MON/FRI", "day-of-week step 'FRI' is not a number"),
    ("TZ=Mars/Olympus 0 * * * *", "unknown time zone 'Mars/Olympus'"),
    ("CRON_TZ=Nowhere 0 * * * *", "unknown time zone 'Nowhere'"),
    ("TZ=../etc 0 * * * *", "unknown time zone '../etc'"),
    ("TZ=/etc/passwd 0 * * * *", "unknown time zone '/etc/passwd'"),
    ("TZ= 0 * * * *", "unknown time zone ''"),
    ("TZ=Local 0 * * * *", "unknown time zone 'Local'"),
    ("TZ=UTC", "expected a schedule after the time zone"),
    ("TZ=UTC ", "found 0 fields"),
    ("@foo", "unknown descriptor '@foo'"),
    ("@DAILY", "unknown descriptor '@DAILY'"),
    ("@every", "unknown descriptor '@every'"),
    ("@every 1d", "@every duration '1d' may not use d or w"),
    ("@every 1w", "@every duration '1w' may not use d or w"),
    ("@every x", "@every needs a duration such as 1h30m"),
    ("@every -5m", "@every needs a duration such as 1h30m"),
    ("@every 5", "@every needs a duration such as 1h30m"),
    # Schedules that can never fire are refused when they are parsed.
    ("0 0 30 2 *", "it can never fire: no day 30 or later in FEB"),
    ("0 0 31 4,6,9,11 *", "it can never fire: no day 31 or later in APR,JUN,SEP,NOV"),
    ("0 0 31 FEB-APR/2 ?", "it can never fire: no day 31 or later in FEB,APR"),
    ("0 0 30,31 2 */1", "it can never fire: no day 30 or later in FEB"),
]


@pytest.mark.parametrize(("expr", "problem"), PARSE_ERRORS)
def test_parse_errors_name_the_problem(expr: str, problem: str) -> None:
    with pytest.raises(CronError) as caught:
        CronSchedule.parse(expr)
    message = str(caught.value)
    assert message.startswith(f"cron expression {expr!r}: ")
    assert problem in message


def test_the_error_message_is_complete() -> None:
    with pytest.raises(CronError) as caught:
        CronSchedule.parse("61 * * * *")
    assert str(caught.value) == (
        "cron expression '61 * * * *': minute 61 is out of range 0-59"
    )
    assert isinstance(caught.value, ValueError)


# --- validate_for_sync: what registration accepts ---------------------------------


@pytest.mark.parametrize(
    "expr",
    [
        "*/5 * * * *",
        "0 0 * * *",
        "TZ=Europe/Paris 0 9 * * 1-5",
        "CRON_TZ=UTC 0 0 * * SUN",
        "0 12 ? JAN-JUN MON,WED,FRI",
        # Like the server: accepted, it just never ticks.
        "0 0 30 2 *",
        "0 0 * * *" + " " * 246,  # 255 bytes
    ],
)
def test_sync_accepts(expr: str) -> None:
    validate_for_sync(expr)


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("@daily", "descriptors such as @daily are not accepted"),
        ("TZ=UTC @hourly", "descriptors such as @daily are not accepted"),
        ("@every 1h", "descriptors such as @daily are not accepted"),
        ("0 0 * * 7", "day-of-week 7 is out of range 0-6"),
        ("0 0 * * 5-7", "day-of-week 7 is out of range 0-6"),
        ("0 0 * * * *", "found 6 fields"),
        ("0 0 * *", "found 4 fields"),
        ("TZ=Nowhere 0 * * * *", "unknown time zone 'Nowhere'"),
        ("60 * * * *", "minute 60 is out of range 0-59"),
        ("", "it is empty"),
    ],
)
def test_sync_rejects(expr: str, problem: str) -> None:
    with pytest.raises(CronError, match=re.escape(problem)):
        validate_for_sync(expr)


def test_sync_limits_the_length_in_bytes() -> None:
    with pytest.raises(CronError, match="256 bytes long; at most 255"):
        validate_for_sync("0 0 * * *" + " " * 247)
    with pytest.raises(CronError, match="256 bytes long"):
        validate_for_sync("TZ=UTC 0 0 * * *" + " " * 238 + "é")


# --- jitter -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (None, 0.0),
        ("", 0.0),
        ("   ", 0.0),
        ("0", 0.0),
        ("0s", 0.0),
        ("1s", 1.0),
        ("10s", 10.0),
        ("+30s", 30.0),
        ("1m30s", 90.0),
        ("1.5s", 1.5),
        ("5m", 300.0),
        ("300000ms", 300.0),
    ],
)
def test_parse_jitter(text: str | None, seconds: float) -> None:
    assert parse_jitter(text) == seconds


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("500ms", "must be 0 or at least 1s"),
        ("5m1s", "must be at most 5m"),
        ("1h", "must be at most 5m"),
        ("1d", "must be at most 5m"),
        ("abc", "isn't a valid jitter duration"),
        ("-5s", "isn't a valid jitter duration"),
        ("10", "isn't a valid jitter duration"),
        (" 5s", "isn't a valid jitter duration"),
    ],
)
def test_parse_jitter_rejects(text: str, problem: str) -> None:
    with pytest.raises(CronError, match=re.escape(problem)):
        parse_jitter(text)


def test_jitter_edges() -> None:
    assert jitter_seconds("seed", 0) == 0.0
    assert jitter_seconds("seed", -5) == 0.0
    assert jitter_seconds("seed", 1) == 1.0
    assert jitter_seconds("seed", 0.5) == 0.5
    seeds = [f"fn:*/5 * * * *:{i}" for i in range(50)]
    assert len({jitter_seconds(seed, 300) for seed in seeds}) > 40


def test_jitter_seed_is_the_servers_fallback_form() -> None:
    seed = jitter_seed("fn-uuid", "*/5 * * * *", at("2026-01-01T10:05:00"))
    assert seed == "fn-uuid:*/5 * * * *:1767261900000"


@given(st.text(max_size=40), st.integers(1, 300_000))
def test_jitter_is_deterministic_and_in_range(seed: str, max_ms: int) -> None:
    limit = max_ms / 1000
    value = jitter_seconds(seed, limit)
    assert value == jitter_seconds(seed, limit)
    if max_ms <= 1000:
        assert value == limit
    else:
        assert 1.0 <= value < limit
    assert round(value * 1000) == pytest.approx(value * 1000)


# --- the inngest/scheduled.timer event ---------------------------------------------


def test_event_matches_the_golden_transcript() -> None:
    transcript = json.loads((GOLDEN / "exec_cron.json").read_text())
    golden = transcript["exchanges"][0]["request"]["body"]["event"]
    data = golden["data"]
    event = scheduled_timer_event(
        data["cron"], at(data["scheduledAt"][:-1]), at(data["fireAt"][:-1])
    )
    assert {k: v for k, v in event.items() if k != "ts"} == {
        k: v for k, v in golden.items() if k != "ts"
    }
    # The transcript's ts was recorded from a hand-made event; the server
    # (and docs/protocol/executor.rst#cron-triggers) put fireAt in milliseconds there.
    assert event["ts"] == 1736150400000


def test_event_with_jitter() -> None:
    event = scheduled_timer_event(
        "*/5 * * * *", at("2026-01-01T10:05:00"), at("2026-01-01T10:05:07.123")
    )
    assert event == {
        "id": "2026-01-01T10:05:00Z",
        "name": "inngest/scheduled.timer",
        "data": {
            "cron": "*/5 * * * *",
            "scheduledAt": "2026-01-01T10:05:00Z",
            "fireAt": "2026-01-01T10:05:07Z",
        },
        "ts": 1767261907123,
        "user": {},
    }


@given(st.integers(0, 4_000_000_000_000))
def test_event_times_truncate_to_the_second(ms: int) -> None:
    event = scheduled_timer_event("* * * * *", 0.0, ms / 1000)
    assert event["ts"] == ms
    expected = datetime.datetime.fromtimestamp(ms // 1000, datetime.timezone.utc)
    assert event["data"]["fireAt"] == expected.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- properties against an independent brute-force matcher --------------------------

# One field as (text, allowed values, starred?), built together so the
# expectation never comes from the parser under test.
Field = tuple[str, frozenset[int], bool]
MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun"]
MONTH_NAMES += ["jul", "aug", "sep", "oct", "nov", "dec"]
DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


@st.composite
def cron_field(
    draw: st.DrawFn, low: int, high: int, names: list[str] | None = None
) -> Field:
    def word(value: int) -> str:
        if names and draw(st.booleans()):
            name = names[value - low]
            return draw(st.sampled_from([name, name.upper(), name.title()]))
        return str(value)

    kind = draw(st.sampled_from(["star", "question", "value", "range", "step", "list"]))
    full = frozenset(range(low, high + 1))
    if kind == "star":
        return "*", full, True
    if kind == "question":
        return "?", full, True
    if kind == "value":
        value = draw(st.integers(low, high))
        return word(value), frozenset({value}), False
    if kind == "range":
        a, b = sorted(draw(st.lists(st.integers(low, high), min_size=2, max_size=2)))
        return f"{word(a)}-{word(b)}", frozenset(range(a, b + 1)), False
    if kind == "step":
        step = draw(st.integers(1, high - low + 1))
        if draw(st.booleans()):
            return f"*/{step}", frozenset(range(low, high + 1, step)), step == 1
        start = draw(st.integers(low, high))
        return f"{start}/{step}", frozenset(range(start, high + 1, step)), False
    values = draw(st.lists(st.integers(low, high), min_size=1, max_size=4))
    return ",".join(word(v) for v in values), frozenset(values), False


@attrs.frozen
class Spec:
    fields: tuple[Field, Field, Field, Field, Field]
    zone: str

    @property
    def text(self) -> str:
        body = " ".join(f[0] for f in self.fields)
        return body if self.zone == "UTC" else f"TZ={self.zone} {body}"

    def matches(self, instant: int) -> bool:
        local = datetime.datetime.fromtimestamp(instant, ZoneInfo(self.zone))
        minute, hour, dom, month, dow = self.fields
        weekday = (local.weekday() + 1) % 7  # Python's Monday=0 -> cron's Sunday=0
        dom_ok, dow_ok = local.day in dom[1], weekday in dow[1]
        days_ok = (dom_ok and dow_ok) if (dom[2] or dow[2]) else (dom_ok or dow_ok)
        return (
            local.second == 0
            and local.minute in minute[1]
            and local.hour in hour[1]
            and local.month in month[1]
            and days_ok
        )


def specs(zone: str, *, daily: bool) -> st.SearchStrategy[Spec]:
    star: st.SearchStrategy[Field] = st.just(("*", frozenset(range(1, 32)), True))
    days = star if daily else cron_field(1, 31)
    months = st.just(("*", frozenset(range(1, 13)), True))
    weekdays = st.just(("*", frozenset(range(7)), True))
    if not daily:
        months = cron_field(1, 12, MONTH_NAMES)
        weekdays = cron_field(0, 6, DAY_NAMES)
    parts = st.tuples(cron_field(0, 59), cron_field(0, 23), days, months, weekdays)
    return st.builds(Spec, parts, st.just(zone))


def parse_or_skip(spec: Spec) -> CronSchedule:
    # Only a day of month that none of the months has is refused.
    dom, month, weekday = spec.fields[2], spec.fields[3][1], spec.fields[4]
    lengths = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30}
    lengths |= {7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}
    if weekday[2] and all(min(dom[1]) > lengths[m] for m in month):
        with pytest.raises(CronError, match="can never fire"):
            CronSchedule.parse(spec.text)
        assume(False)
    return CronSchedule.parse(spec.text)


def check_next(spec: Spec, t: float, window: int) -> float:
    result = parse_or_skip(spec).next_after(t)
    assert result > t
    assert result % 60 == 0
    assert spec.matches(int(result))
    if result - t <= window:
        first = (math.floor(t) // 60 + 1) * 60
        missed = [u for u in range(first, int(result), 60) if spec.matches(u)]
        assert missed == []
    return result


# 2000-01-01 .. 2040-01-01, with sub-second parts.
TIMES = st.integers(946_684_800_000, 2_208_988_800_000).map(lambda ms: ms / 1000)


@settings(deadline=None)
@given(specs("UTC", daily=False), TIMES)
def test_any_schedule_next_matches_and_nothing_earlier(spec: Spec, t: float) -> None:
    check_next(spec, t, window=3 * 86_400)


@settings(deadline=None)
@given(specs("UTC", daily=True), TIMES)
def test_daily_schedules_fire_within_a_day(spec: Spec, t: float) -> None:
    assert check_next(spec, t, window=86_400) - t <= 86_400


# Instants near DST changes in both directions, both zones.
TRANSITIONS = [
    at("2025-03-30T01:00:00"),  # Paris spring forward
    at("2025-10-26T01:00:00"),  # Paris fall back
    at("2025-03-09T07:00:00"),  # New York spring forward
    at("2025-11-02T06:00:00"),  # New York fall back
]
NEAR_DST = st.tuples(
    st.sampled_from(TRANSITIONS), st.integers(-2 * 86_400, 86_400), st.integers(0, 999)
).map(lambda p: p[0] + p[1] + p[2] / 1000)


@settings(deadline=None)
@given(
    st.sampled_from(["Europe/Paris", "America/New_York"]).flatmap(
        lambda zone: specs(zone, daily=True)
    ),
    NEAR_DST,
)
def test_zoned_daily_schedules_across_dst(spec: Spec, t: float) -> None:
    check_next(spec, t, window=3 * 86_400)


@settings(deadline=None)
@given(
    st.sampled_from(["Europe/Paris", "America/New_York"]).flatmap(
        lambda zone: specs(zone, daily=False)
    ),
    NEAR_DST,
)
def test_zoned_schedules_across_dst(spec: Spec, t: float) -> None:
    check_next(spec, t, window=3 * 86_400)


@given(specs("UTC", daily=False))
def test_sync_accepts_what_the_generator_writes(spec: Spec) -> None:
    validate_for_sync(spec.text)
