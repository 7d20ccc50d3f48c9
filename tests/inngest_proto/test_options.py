from __future__ import annotations

import datetime
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from inngest_proto._converter import structure, unstructure
from inngest_proto._durations import parse_duration
from inngest_proto._errors import FunctionConfigInvalidError
from inngest_proto._options import (
    Batch,
    Cancel,
    Concurrency,
    Debounce,
    Priority,
    RateLimit,
    Singleton,
    Throttle,
    Timeouts,
    TriggerCron,
    TriggerEvent,
)

td = datetime.timedelta


def untyped(value: Any) -> Any:
    """Pass a wrongly typed value past mypy, to test the runtime checks."""
    return value


# --- wire shapes (docs/protocol/http.rst#function-configuration) -------------


@pytest.mark.parametrize(
    ("option", "wire"),
    [
        (TriggerEvent(event="a/b"), {"event": "a/b"}),
        (
            TriggerEvent(event="a/b", expression="event.data.x == 1"),
            {"event": "a/b", "expression": "event.data.x == 1"},
        ),
        (
            TriggerCron(cron="TZ=Europe/Paris 0 9 * * 1-5"),
            {"cron": "TZ=Europe/Paris 0 9 * * 1-5"},
        ),
        (
            TriggerCron(cron="0 0 * * *", jitter="5m"),
            {"cron": "0 0 * * *", "jitter": "5m"},
        ),
        (
            TriggerCron(cron="0 0 * * *", jitter=td(minutes=5)),
            {"cron": "0 0 * * *", "jitter": "5m"},
        ),
        (
            TriggerCron(cron="0 0 * * *", jitter=90_000),
            {"cron": "0 0 * * *", "jitter": "90s"},
        ),
        (
            Batch(max_size=10, timeout=td(seconds=5), key="k", if_exp="c"),
            {"maxSize": 10, "timeout": "5s", "key": "k", "if": "c"},
        ),
        (Batch(max_size=2), {"maxSize": 2}),
        (
            Cancel(event="golden/cancel", if_exp="x", timeout=td(hours=1)),
            {"event": "golden/cancel", "if": "x", "timeout": "1h"},
        ),
        (Cancel(event="golden/cancel-all"), {"event": "golden/cancel-all"}),
        (
            Concurrency(limit=5, key="event.data.user_id", scope="fn"),
            {"key": "event.data.user_id", "limit": 5, "scope": "fn"},
        ),
        (Concurrency(limit=1), {"limit": 1}),
        (
            Debounce(period=td(seconds=30), key="k", timeout=td(minutes=5)),
            {"key": "k", "period": "30s", "timeout": "5m"},
        ),
        (Debounce(period=1000), {"period": "1s"}),
        (Priority(run="event.data.priority"), {"run": "event.data.priority"}),
        (
            RateLimit(limit=10, period=td(minutes=1), key="k"),
            {"key": "k", "limit": 10, "period": "1m"},
        ),
        (
            Throttle(limit=3, period=td(seconds=10), key="k", burst=2),
            {"key": "k", "limit": 3, "period": "10s", "burst": 2},
        ),
        # burst defaults to 1 and is sent; None leaves it out.
        (Throttle(limit=3, period=10_000), {"limit": 3, "period": "10s", "burst": 1}),
        (Throttle(limit=3, period=10_000, burst=None), {"limit": 3, "period": "10s"}),
        # 0 is a valid burst (Go and the official SDK accept it).
        (
            Throttle(limit=3, period=10_000, burst=0),
            {"limit": 3, "period": "10s", "burst": 0},
        ),
        (
            Timeouts(start=td(minutes=1), finish=td(hours=2)),
            {"start": "1m", "finish": "2h"},
        ),
        (Timeouts(finish=td(days=7)), {"finish": "1w"}),
        (Timeouts(), {}),
        (Singleton(key="k", mode="skip"), {"key": "k", "mode": "skip"}),
        (Singleton(mode="cancel"), {"mode": "cancel"}),
    ],
)
def test_wire_shape(option: Any, wire: dict[str, Any]) -> None:
    assert unstructure(option) == wire
    assert list(unstructure(option)) == list(wire)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1000, "1s"),
        (90 * 60_000, "90m"),
        (td(days=1), "1d"),
        (td(days=7), "1w"),
        (td(hours=36), "36h"),
    ],
)
def test_durations_use_largest_exact_unit(value: int | td, text: str) -> None:
    assert unstructure(Debounce(period=value))["period"] == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(td(days=1), "24h"), (td(weeks=2), "336h"), (td(hours=2), "2h"), (5000, "5s")],
)
def test_batch_timeout_avoids_days_and_weeks(value: int | td, text: str) -> None:
    # The server parses batchEvents.timeout with Go's time.ParseDuration.
    assert unstructure(Batch(max_size=2, timeout=value))["timeout"] == text


def test_classes_are_frozen_and_keyword_only() -> None:
    option = Concurrency(limit=1)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        option.limit = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        TriggerEvent("a/b")  # type: ignore[call-arg]


def test_equality_and_hash() -> None:
    assert Cancel(event="e", timeout=1000) == Cancel(event="e", timeout=1000)
    assert hash(Priority(run="1")) == hash(Priority(run="1"))


# --- validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: TriggerEvent(event=""),
            "TriggerEvent.event must be a non-empty string",
        ),
        (
            lambda: TriggerEvent(event="e", expression=untyped(1)),
            "TriggerEvent.expression",
        ),
        (lambda: TriggerCron(cron=""), "TriggerCron.cron must be a non-empty string"),
        (lambda: TriggerCron(cron="* * * * *", jitter=""), "TriggerCron.jitter"),
        (lambda: TriggerCron(cron="* * * * *", jitter=10), "TriggerCron.jitter"),
        (lambda: Batch(max_size=0), "Batch.max_size must be a positive int, got 0"),
        (lambda: Batch(max_size=True), "Batch.max_size must be a positive int"),
        (
            lambda: Batch(max_size=2, timeout=999),
            "Batch.timeout is not a valid duration",
        ),
        (
            lambda: Batch(max_size=2, timeout=untyped("5s")),
            "Batch.timeout must be milliseconds",
        ),
        (lambda: Cancel(event=untyped(None)), "Cancel.event must be a string"),
        (lambda: Cancel(event="e", timeout=td(milliseconds=1500)), "Cancel.timeout"),
        (
            lambda: Concurrency(limit=-1),
            r"Concurrency.limit must be a positive int or 0 \(0 is no limit\)",
        ),
        (
            lambda: Concurrency(limit=untyped("5")),
            "Concurrency.limit must be a positive int or 0",
        ),
        (
            lambda: Concurrency(limit=1, scope=untyped("global")),
            "Concurrency.scope must be one of fn, env, account",
        ),
        (
            lambda: Concurrency(limit=1, key=untyped(5)),
            "Concurrency.key must be a string",
        ),
        (
            lambda: Debounce(period=td(milliseconds=500)),
            "Debounce.period is not a valid duration",
        ),
        (lambda: Debounce(period=-1000), "Debounce.period is not a valid duration"),
        (lambda: Debounce(period=1000, timeout=0), "Debounce.timeout"),
        (lambda: Priority(run=""), "Priority.run must be a non-empty string"),
        (
            lambda: RateLimit(limit=-1, period=1000),
            "RateLimit.limit must be a positive int",
        ),
        (
            lambda: RateLimit(limit=1, period=untyped(None)),
            "RateLimit.period must be milliseconds",
        ),
        (
            lambda: Throttle(limit=1, period=1000, burst=-1),
            "Throttle.burst must be a non-negative int",
        ),
        (
            lambda: Throttle(limit=1, period=untyped(0.5)),
            "Throttle.period must be milliseconds",
        ),
        (lambda: Timeouts(start=500), "Timeouts.start is not a valid duration"),
        (lambda: Timeouts(finish=False), "Timeouts.finish must be milliseconds"),
        (
            lambda: Singleton(mode=untyped("queue")),
            "Singleton.mode must be one of skip, cancel",
        ),
    ],
)
def test_invalid_values_name_the_field(build: Any, message: str) -> None:
    with pytest.raises(FunctionConfigInvalidError, match=message):
        build()


def test_required_arguments() -> None:
    with pytest.raises(TypeError):
        Singleton()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Priority()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Throttle(limit=1)  # type: ignore[call-arg]


# --- round trips -------------------------------------------------------------------

durations = st.one_of(
    st.integers(min_value=1, max_value=10**7).map(lambda s: s * 1000),
    st.integers(min_value=1, max_value=10**7).map(lambda s: td(seconds=s)),
)
optional_durations = st.none() | durations
texts = st.text(min_size=1, max_size=20)
optional_texts = st.none() | texts
positive = st.integers(min_value=1, max_value=10**6)

options = st.one_of(
    st.builds(TriggerEvent, event=texts, expression=optional_texts),
    st.builds(TriggerCron, cron=texts, jitter=st.none() | texts | durations),
    st.builds(
        Batch,
        max_size=positive,
        timeout=optional_durations,
        key=optional_texts,
        if_exp=optional_texts,
    ),
    st.builds(Cancel, event=texts, if_exp=optional_texts, timeout=optional_durations),
    st.builds(
        Concurrency,
        limit=positive,
        key=optional_texts,
        scope=st.sampled_from([None, "fn", "env", "account"]),
    ),
    st.builds(
        Debounce, period=durations, key=optional_texts, timeout=optional_durations
    ),
    st.builds(Priority, run=texts),
    st.builds(RateLimit, limit=positive, period=durations, key=optional_texts),
    st.builds(
        Throttle,
        limit=positive,
        period=durations,
        key=optional_texts,
        burst=st.none() | positive,
    ),
    st.builds(Timeouts, start=optional_durations, finish=optional_durations),
    st.builds(Singleton, key=optional_texts, mode=st.sampled_from(["skip", "cancel"])),
)


def _as_ms(value: int | td) -> int:
    return value if isinstance(value, int) else value // td(milliseconds=1)


@given(options)
def test_round_trip(option: Any) -> None:
    wire = unstructure(option)
    assert None not in wire.values()
    again = structure(wire, type(option))
    assert unstructure(again) == wire
    # Durations come back as timedeltas of the same length.
    for field in attrs.fields(type(option)):
        before, after = getattr(option, field.name), getattr(again, field.name)
        if field.name == "jitter" and before is not None:
            # A jitter is sent (and read back) as the string it renders to.
            assert after == wire["jitter"]
        elif isinstance(before, int | td) and not isinstance(before, bool):
            if field.name in {"limit", "max_size", "burst"}:
                assert after == before
            else:
                assert _as_ms(after) == _as_ms(before)
        else:
            assert after == before


@given(durations)
def test_rendered_durations_parse_back(value: int | td) -> None:
    text = unstructure(Debounce(period=value))["period"]
    assert parse_duration(text) == td(milliseconds=_as_ms(value))
