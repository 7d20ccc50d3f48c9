"""Durations and timestamps: the SDK's output forms and the server's grammar."""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inngest_proto._durations import (
    format_iso_utc_ms,
    from_unix_ms,
    parse_duration,
    parse_iso_time,
    to_duration_string,
    to_unix_ms,
)

UTC = datetime.timezone.utc
td = datetime.timedelta

# --- to_duration_string -----------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1000, "1s"),
        (5000, "5s"),
        (59_000, "59s"),
        (60_000, "1m"),
        (61_000, "61s"),
        (90 * 60_000, "90m"),
        (3_600_000, "1h"),
        (86_400_000, "1d"),
        (7 * 86_400_000, "1w"),
        (8 * 86_400_000, "8d"),
        (14 * 86_400_000, "2w"),
        (25 * 3_600_000, "25h"),
        (td(seconds=1), "1s"),
        (td(minutes=90), "90m"),
        (td(hours=36), "36h"),
        (td(days=1), "1d"),
        (td(days=7), "1w"),
        (td(days=365), "365d"),
        (td(days=364), "52w"),
        (td(seconds=3601), "3601s"),
    ],
)
def test_to_duration_string_uses_largest_exact_unit(
    value: int | datetime.timedelta, expected: str
) -> None:
    assert to_duration_string(value) == expected


@pytest.mark.parametrize(
    "value",
    [0, 999, 1500, -1000, td(0), td(milliseconds=999), td(seconds=1, microseconds=1)],
)
def test_to_duration_string_rejects_sub_second_and_fractional(
    value: int | datetime.timedelta,
) -> None:
    with pytest.raises(ValueError, match="whole number of seconds") as info:
        to_duration_string(value)
    assert "got" in str(info.value)


def test_to_duration_string_error_says_what_was_given() -> None:
    with pytest.raises(ValueError, match="got 1500 ms"):
        to_duration_string(1500)
    with pytest.raises(ValueError, match="timedelta"):
        to_duration_string(td(seconds=-5))


@pytest.mark.parametrize("value", [True, False, 1.0, "5s", None])
def test_to_duration_string_rejects_non_int_types(value: object) -> None:
    with pytest.raises(TypeError, match="milliseconds"):
        to_duration_string(value)  # type: ignore[arg-type]


@given(st.integers(min_value=1, max_value=10**9))
def test_duration_string_round_trips_through_server_grammar(seconds: int) -> None:
    text = to_duration_string(seconds * 1000)
    assert parse_duration(text) == td(seconds=seconds)
    assert to_duration_string(td(seconds=seconds)) == text


# --- parse_duration ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Go's time.ParseDuration test table (the parts timedelta can hold).
        ("0", td(0)),
        ("0s", td(0)),
        ("5s", td(seconds=5)),
        ("30s", td(seconds=30)),
        ("1478s", td(seconds=1478)),
        ("5.0s", td(seconds=5)),
        ("5.6s", td(seconds=5.6)),
        ("5.s", td(seconds=5)),
        (".5s", td(milliseconds=500)),
        ("1.004s", td(milliseconds=1004)),
        ("1.0040s", td(milliseconds=1004)),
        ("100.00100s", td(seconds=100, milliseconds=1)),
        ("11us", td(microseconds=11)),
        ("12\u00b5s", td(microseconds=12)),
        ("12\u03bcs", td(microseconds=12)),
        ("13ms", td(milliseconds=13)),
        ("15m", td(minutes=15)),
        ("16h", td(hours=16)),
        ("3h30m", td(hours=3, minutes=30)),
        ("2h45m", td(hours=2, minutes=45)),
        ("10.5s4m", td(minutes=4, seconds=10.5)),
        ("1h2m3s4ms5us6ns", td(hours=1, minutes=2, seconds=3, microseconds=4005)),
        ("39h9m14.425s", td(hours=39, minutes=9, seconds=14.425)),
        ("52763797000ns", td(microseconds=52763797)),
        ("0.3333333333333333333h", td(minutes=20)),
        ("1.5h", td(minutes=90)),
        ("9223372036854775807ns", td(microseconds=9223372036854775)),
        ("9223372036854775.807us", td(microseconds=9223372036854775)),
        # The server's extra units.
        ("1d", td(days=1)),
        ("1w", td(weeks=1)),
        ("1d12h", td(days=1, hours=12)),
        ("1w2d", td(days=9)),
        ("0.5d", td(hours=12)),
    ],
)
def test_parse_duration_accepts_server_grammar(
    text: str, expected: datetime.timedelta
) -> None:
    assert parse_duration(text) == expected


def test_parse_duration_drops_sub_microsecond_remainder() -> None:
    assert parse_duration("10ns") == td(0)
    assert parse_duration("1999ns") == td(microseconds=1)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "expected"),
        ("3", "missing unit"),
        ("s", "expected a number"),
        (".", "expected a number"),
        (".s", "expected a number"),
        ("1.5.5s", "missing unit"),
        ("1h.", "expected a number"),
        ("5x", "unknown unit 'x'"),
        ("5S", "unknown unit 'S'"),
        ("5 s", "unknown unit ' s'"),
        ("5sec", "unknown unit 'sec'"),
        ("+5s", "expected a number"),
        ("-5s", "negative"),
        ("-0", "negative"),
        ("9223372036854775808ns", "longer than"),
        ("3000000h", "longer than"),
        ("1" * 50 + "s", "longer than"),
    ],
)
def test_parse_duration_rejects_bad_input(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_duration(text)


def test_parse_duration_tolerates_very_long_fractions() -> None:
    assert parse_duration("1." + "0" * 5000 + "s") == td(seconds=1)


# --- ISO times --------------------------------------------------------------


@pytest.mark.parametrize(
    ("dt", "expected"),
    [
        (datetime.datetime(2030, 1, 1, 12, tzinfo=UTC), "2030-01-01T12:00:00.000Z"),
        (
            datetime.datetime(2030, 1, 1, 12, 0, 0, 123999, tzinfo=UTC),
            "2030-01-01T12:00:00.123Z",
        ),
        (
            datetime.datetime(2030, 1, 1, 1, 30, tzinfo=datetime.timezone(td(hours=2))),
            "2029-12-31T23:30:00.000Z",
        ),
        (datetime.datetime(999, 3, 4, 5, 6, 7, tzinfo=UTC), "0999-03-04T05:06:07.000Z"),
    ],
)
def test_format_iso_utc_ms(dt: datetime.datetime, expected: str) -> None:
    assert format_iso_utc_ms(dt) == expected


@pytest.fixture
def local_zone_plus_0530(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make the local zone UTC+05:30 (POSIX TZ needs no tz database)."""
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is Unix-only")
    monkeypatch.setenv("TZ", "IST-05:30")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("local_zone_plus_0530")
def test_naive_datetimes_are_local_time() -> None:
    naive = datetime.datetime(2030, 1, 1, 12)
    assert format_iso_utc_ms(naive) == "2030-01-01T06:30:00.000Z"
    assert to_unix_ms(naive) == to_unix_ms(
        datetime.datetime(2030, 1, 1, 6, 30, tzinfo=UTC)
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2030-01-01T12:00:00Z", datetime.datetime(2030, 1, 1, 12, tzinfo=UTC)),
        ("2030-01-01t12:00:00z", datetime.datetime(2030, 1, 1, 12, tzinfo=UTC)),
        ("2030-01-01 12:00:00Z", datetime.datetime(2030, 1, 1, 12, tzinfo=UTC)),
        (
            "2030-01-01T12:00:00.000Z",
            datetime.datetime(2030, 1, 1, 12, tzinfo=UTC),
        ),
        (
            "2030-01-01T12:00:00.5Z",
            datetime.datetime(2030, 1, 1, 12, 0, 0, 500000, tzinfo=UTC),
        ),
        (
            "2030-01-01T12:00:00,25Z",
            datetime.datetime(2030, 1, 1, 12, 0, 0, 250000, tzinfo=UTC),
        ),
        (
            "2030-01-01T12:00:00.123456789Z",
            datetime.datetime(2030, 1, 1, 12, 0, 0, 123456, tzinfo=UTC),
        ),
        ("2030-01-01T12:00:00+02:00", datetime.datetime(2030, 1, 1, 10, tzinfo=UTC)),
        ("2030-01-01T12:00:00-0130", datetime.datetime(2030, 1, 1, 13, 30, tzinfo=UTC)),
        ("2030-01-01T12:00:00+05", datetime.datetime(2030, 1, 1, 7, tzinfo=UTC)),
        (
            "2030-01-01T00:30:00+01:00",
            datetime.datetime(2029, 12, 31, 23, 30, tzinfo=UTC),
        ),
        ("2030-01-01T12:00:00-00:00", datetime.datetime(2030, 1, 1, 12, tzinfo=UTC)),
    ],
)
def test_parse_iso_time(text: str, expected: datetime.datetime) -> None:
    parsed = parse_iso_time(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2030-01-01",
        "2030-01-01T12:00:00",  # no offset: the zone would be a guess
        "2030-01-01T12:00Z",
        "2030-1-01T12:00:00Z",
        "2030-01-01T12:00:00.Z",
        "2030-13-01T12:00:00Z",
        "2030-02-30T12:00:00Z",
        "2030-01-01T24:00:00Z",
        "2016-12-31T23:59:60Z",
        "2030-01-01T12:00:00+24:00",
        "2030-01-01T12:00:00+01:60",
        " 2030-01-01T12:00:00Z",
        "2030-01-01T12:00:00Z ",
        "\uff12030-01-01T12:00:00Z",
    ],
)
def test_parse_iso_time_rejects_bad_input(text: str) -> None:
    with pytest.raises(ValueError, match="invalid time"):
        parse_iso_time(text)


@given(
    st.datetimes(
        min_value=datetime.datetime(1, 1, 2),
        max_value=datetime.datetime(9999, 12, 30),
        timezones=st.just(UTC),
    )
)
def test_iso_format_and_parse_round_trip_to_the_millisecond(
    dt: datetime.datetime,
) -> None:
    truncated = dt.replace(microsecond=dt.microsecond // 1000 * 1000)
    assert parse_iso_time(format_iso_utc_ms(dt)) == truncated


# --- Unix milliseconds ------------------------------------------------------


def test_unix_ms_known_values() -> None:
    new_year_2025 = datetime.datetime(2025, 1, 1, tzinfo=UTC)
    assert to_unix_ms(new_year_2025) == 1735689600000
    assert from_unix_ms(1735689600000) == new_year_2025
    assert from_unix_ms(1735689600000).tzinfo is UTC
    assert to_unix_ms(datetime.datetime(1970, 1, 1, tzinfo=UTC)) == 0
    assert from_unix_ms(-1) == datetime.datetime(
        1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC
    )


def test_to_unix_ms_floors_and_honours_offsets() -> None:
    plus_one = datetime.timezone(td(hours=1))
    dt = datetime.datetime(2025, 1, 1, 1, 0, 0, 999, tzinfo=plus_one)
    assert to_unix_ms(dt) == 1735689600000
    before_epoch = datetime.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert to_unix_ms(before_epoch) == -1


@given(st.integers(min_value=-62135596800000, max_value=253402300799999))
def test_unix_ms_round_trip(ms: int) -> None:
    assert to_unix_ms(from_unix_ms(ms)) == ms


@pytest.mark.parametrize("ms", [-62135596800001, 253402300800000, 10**30])
def test_from_unix_ms_out_of_range_is_a_value_error(ms: int) -> None:
    with pytest.raises(ValueError, match="outside the years"):
        from_unix_ms(ms)
