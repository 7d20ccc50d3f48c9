"""Flow-control arithmetic: GCRA, priority, bucket keys, periods.

Times are fixed numbers.  Property tests use whole-second emission intervals
and whole-second arrivals so every float sum is exact and the bounds can be
checked with ``<=`` rather than with a tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inngest_proto.executor._limits import (
    IDEMPOTENCY_PERIOD,
    MAX_PRIORITY_FACTOR,
    Decision,
    batch_bucket,
    bucket_key,
    concurrency_bucket,
    debounce_bucket,
    debounce_period,
    idempotency,
    parse_period,
    priority_factor,
    rate_limit,
    rate_limit_bucket,
    rate_limit_period,
    singleton_bucket,
    throttle,
    throttle_bucket,
    throttle_period,
)

T0 = 1_700_000_000.0
DAY = 86_400.0


def run_rate_limit(
    arrivals: Sequence[float], *, limit: int, period: float
) -> list[bool]:
    tat: float | None = None
    allowed = []
    for now in arrivals:
        decision = rate_limit(tat, now, limit=limit, period=period)
        if not decision.allowed:
            # A drop leaves the state alone (no clamping with these inputs).
            assert decision.tat == tat
            assert decision.at > now
        tat = decision.tat
        allowed.append(decision.allowed)
    return allowed


def run_throttle(
    arrivals: Sequence[float], *, limit: int, period: float, burst: int
) -> list[float]:
    tat: float | None = None
    starts = []
    for now in arrivals:
        decision = throttle(tat, now, limit=limit, period=period, burst=burst)
        assert decision.allowed
        tat = decision.tat
        starts.append(decision.at)
    return starts


def max_in_window(times: Sequence[float], width: float) -> int:
    """Most of ``times`` inside any half-open window ``[t, t + width)``."""
    ordered = sorted(times)
    # A busiest window can always be slid right until it starts at a time.
    return max(
        (sum(1 for u in ordered if t <= u < t + width) for t in ordered), default=0
    )


# --- rate limit ---------------------------------------------------------------


def test_idempotency_one_per_day() -> None:
    first = rate_limit(None, T0, limit=1, period=DAY)
    assert first == Decision(allowed=True, at=T0, tat=T0 + DAY)
    second = rate_limit(first.tat, T0 + 1, limit=1, period=DAY)
    assert second == Decision(allowed=False, at=T0 + DAY, tat=first.tat)
    later = rate_limit(second.tat, T0 + DAY + 0.001, limit=1, period=DAY)
    assert later.allowed
    assert later.tat == pytest.approx(T0 + 2 * DAY + 0.001, abs=1e-6)
    # idempotency is that very rate limit.
    assert IDEMPOTENCY_PERIOD == DAY
    assert idempotency(None, T0) == first
    assert idempotency(first.tat, T0 + 1) == second


def test_rate_limit_exactly_at_allow_time_is_allowed() -> None:
    # Go refuses only when now - allow_at < 0.
    assert rate_limit(T0 + DAY, T0 + DAY, limit=1, period=DAY).allowed


@pytest.mark.parametrize(
    ("limit", "expected_at_once"),
    [(1, 1), (9, 1), (10, 2), (19, 2), (20, 3), (100, 11)],
)
def test_rate_limit_burst_is_a_tenth_of_limit(
    limit: int, expected_at_once: int
) -> None:
    allowed = run_rate_limit([T0] * 200, limit=limit, period=60.0)
    assert sum(allowed) == expected_at_once


def test_rate_limit_steady_arrivals() -> None:
    # limit 10 / 10 s: emission 1 s, burst 1.  Arrivals every 0.5 s.
    arrivals = [T0 + i / 2 for i in range(20)]
    allowed = run_rate_limit(arrivals, limit=10, period=10.0)
    admitted = [t - T0 for t, ok in zip(arrivals, allowed, strict=True) if ok]
    assert admitted == [0, 0.5, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    # limit + burst in one period: the bound is reached.
    assert len(admitted) == 11


def test_rate_limit_drop_reports_retry_time() -> None:
    tat = rate_limit(None, T0, limit=2, period=10.0).tat
    tat = rate_limit(tat, T0, limit=2, period=10.0).tat
    dropped = rate_limit(tat, T0 + 1, limit=2, period=10.0)
    assert not dropped.allowed
    assert dropped.at == T0 + 5
    assert rate_limit(tat, dropped.at, limit=2, period=10.0).allowed


def test_rate_limit_zero_limit_drops_everything() -> None:
    assert rate_limit(None, T0, limit=0, period=60.0) == Decision(
        allowed=False, at=T0 + 60.0, tat=None
    )


def test_rate_limit_clamps_stale_future_tat() -> None:
    # e.g. the period went from 24 h to 1 min with a TAT stored under 24 h.
    dropped = rate_limit(T0 + 10 * DAY, T0, limit=1, period=60.0)
    assert not dropped.allowed
    assert dropped.tat == T0 + 120.0
    assert dropped.at == T0 + 120.0
    assert rate_limit(dropped.tat, T0 + 120.0, limit=1, period=60.0).allowed


@pytest.mark.parametrize("period", [0.0, -1.0, math.nan, math.inf])
def test_rate_limit_rejects_bad_period(period: float) -> None:
    with pytest.raises(ValueError, match=r"rateLimit\.period must be a positive"):
        rate_limit(None, T0, limit=1, period=period)


@pytest.mark.parametrize("now", [math.nan, math.inf])
def test_limiters_reject_non_finite_now(now: float) -> None:
    with pytest.raises(ValueError, match="now must be a finite"):
        rate_limit(None, now, limit=1, period=1.0)
    with pytest.raises(ValueError, match="now must be a finite"):
        throttle(None, now, limit=1, period=1.0)


def test_tat_round_trips_as_a_float() -> None:
    # The stored state is a float on a 2**-20 s grid: reading it back loses
    # nothing, even after many reservations with an inexact interval.
    tat: float | None = None
    for _ in range(1000):
        decision = throttle(tat, T0 + 0.3, limit=7, period=1.0, burst=0)
        tat = decision.tat
        assert tat is not None
        assert float(repr(tat)) == tat
        assert (tat * 2**20).is_integer()


def test_rate_limit_rejects_negative_limit() -> None:
    with pytest.raises(ValueError, match=r"rateLimit\.limit"):
        rate_limit(None, T0, limit=-1, period=1.0)


arrival_gaps = st.lists(st.integers(min_value=0, max_value=30), max_size=120)


def arrivals_from(gaps: Sequence[int]) -> list[float]:
    times, now = [], T0
    for gap in gaps:
        now += gap
        times.append(now)
    return times


@given(
    gaps=arrival_gaps,
    limit=st.integers(min_value=1, max_value=40),
    emission=st.integers(min_value=1, max_value=10),
)
def test_rate_limit_window_bound(gaps: list[int], limit: int, emission: int) -> None:
    """Any window of length ``period`` admits at most ``limit + limit // 10``."""
    period = float(limit * emission)
    arrivals = arrivals_from(gaps)
    allowed = run_rate_limit(arrivals, limit=limit, period=period)
    admitted = [t for t, ok in zip(arrivals, allowed, strict=True) if ok]
    assert max_in_window(admitted, period) <= limit + limit // 10
    # And at most burst + 1 within one emission interval.
    assert max_in_window(admitted, float(emission)) <= limit // 10 + 1
    # The first event of a fresh bucket always passes.
    assert not arrivals or allowed[0]


@given(
    limit=st.integers(min_value=1, max_value=300),
    period=st.floats(min_value=0.001, max_value=DAY),
    now=st.floats(min_value=0, max_value=4e9),
)
def test_rate_limit_fresh_burst_with_inexact_floats(
    limit: int, period: float, now: float
) -> None:
    """Float noise must not cost an event at the boundary (see ``_SLACK``)."""
    allowed = run_rate_limit([now] * (limit // 10 + 3), limit=limit, period=period)
    assert sum(allowed) == limit // 10 + 1


# --- throttle -----------------------------------------------------------------


def test_throttle_docs_example() -> None:
    # Inngest docs: limit 2, period 6 s, burst 1, six events 0.5 s apart:
    # three (limit + burst) start at once, then one every 3 s.
    arrivals = [T0 + i / 2 for i in range(6)]
    starts = run_throttle(arrivals, limit=2, period=6.0, burst=1)
    assert [s - T0 for s in starts] == [0, 0.5, 1, 3, 6, 9]


@pytest.mark.parametrize(
    ("burst", "expected"),
    [(0, [0, 10, 20, 30]), (1, [0, 0, 10, 20]), (3, [0, 0, 0, 0])],
)
def test_throttle_queued_starts_get_successive_slots(
    burst: int, expected: list[float]
) -> None:
    starts = run_throttle([T0] * 4, limit=1, period=10.0, burst=burst)
    assert [s - T0 for s in starts] == expected


def test_throttle_default_burst_is_zero() -> None:
    # Go reads an absent ``burst`` as 0: ``limit`` runs at once, then one
    # per ``period / limit``.
    first = throttle(None, T0, limit=1, period=10.0)
    second = throttle(first.tat, T0, limit=1, period=10.0)
    third = throttle(second.tat, T0, limit=1, period=10.0)
    assert (first.at, second.at, third.at) == (T0, T0 + 10, T0 + 20)


def test_throttle_zero_limit_means_one() -> None:
    assert throttle(None, T0, limit=0, period=5.0, burst=0) == throttle(
        None, T0, limit=1, period=5.0, burst=0
    )


def test_throttle_idle_bucket_refills() -> None:
    tat = None
    for _ in range(3):
        tat = throttle(tat, T0, limit=1, period=10.0, burst=0).tat
    # Reservations reach T0 + 30; after that the bucket is fresh again.
    late = throttle(tat, T0 + 100, limit=1, period=10.0, burst=0)
    assert late == Decision(allowed=True, at=T0 + 100, tat=T0 + 110)


def test_throttle_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"throttle\.burst"):
        throttle(None, T0, limit=1, period=1.0, burst=-1)
    with pytest.raises(ValueError, match=r"throttle\.period"):
        throttle(None, T0, limit=1, period=0.0)


@given(
    gaps=arrival_gaps,
    limit=st.integers(min_value=1, max_value=20),
    emission=st.integers(min_value=1, max_value=10),
    burst=st.integers(min_value=0, max_value=5),
)
def test_throttle_properties(
    gaps: list[int], limit: int, emission: int, burst: int
) -> None:
    period = float(limit * emission)
    arrivals = arrivals_from(gaps)
    starts = run_throttle(arrivals, limit=limit, period=period, burst=burst)
    assert all(s >= a for s, a in zip(starts, arrivals, strict=True))
    assert starts == sorted(starts)
    # GCRA with capacity c = limit + burst: at most c in one emission
    # interval, and c - 1 + limit (the burst, then one per interval) in any
    # window of length period.
    assert max_in_window(starts, float(emission)) <= limit + burst
    assert max_in_window(starts, period) <= 2 * limit + burst - 1


@given(
    count=st.integers(min_value=1, max_value=60),
    limit=st.integers(min_value=1, max_value=20),
    burst=st.integers(min_value=0, max_value=5),
)
def test_throttle_simultaneous_arrivals(count: int, limit: int, burst: int) -> None:
    """A pile of simultaneous starts: the burst at once, then one per interval."""
    period = float(limit * 3)
    starts = run_throttle([T0] * count, limit=limit, period=period, burst=burst)
    capacity = limit + burst
    expected = [T0 + max(0, i - capacity + 1) * 3.0 for i in range(count)]
    assert starts == expected


@given(
    limit=st.integers(min_value=1, max_value=50),
    burst=st.integers(min_value=0, max_value=5),
    period=st.floats(min_value=0.001, max_value=DAY),
    now=st.floats(min_value=0, max_value=4e9),
)
def test_throttle_fresh_burst_with_inexact_floats(
    limit: int, burst: int, period: float, now: float
) -> None:
    starts = run_throttle(
        [now] * (limit + burst + 2), limit=limit, period=period, burst=burst
    )
    assert starts.count(now) == limit + burst
    assert all(s > now for s in starts[limit + burst :])


# --- priority -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        (120, 120),
        (-120, -120),
        (43_200, 43_200),
        (43_201, 43_200),
        (-(10**9), -43_200),
        (True, 0),
        (False, 0),
        (5.0, 0),
        (5.5, 0),
        ("5", 0),
        (None, 0),
        ([5], 0),
    ],
)
def test_priority_factor_table(value: object, expected: int) -> None:
    assert priority_factor(value) == expected


@given(st.integers())
def test_priority_factor_clamps_ints(value: int) -> None:
    factor = priority_factor(value)
    assert -MAX_PRIORITY_FACTOR <= factor <= MAX_PRIORITY_FACTOR
    if abs(value) <= MAX_PRIORITY_FACTOR:
        assert factor == value


@given(st.floats(allow_nan=True))
def test_priority_factor_ignores_floats(value: float) -> None:
    assert priority_factor(value) == 0


# --- bucket keys --------------------------------------------------------------

FN_A = "0f3c3a59-6ab6-4d2e-9a57-6f6e3bde0a11"
FN_B = "7d0b3a0e-1c1e-4b6f-8f5e-2c1d0a9b8c77"


def test_bucket_key_is_stable_across_processes() -> None:
    # Pinned: Python's salted hash() would give another value in each process,
    # and these keys are persisted.
    assert bucket_key("p", None) == "p"
    assert bucket_key("p", "x") == "p:442a44457137672b3218c1007dc8f76a"


def test_rate_limit_and_singleton_false_key_means_off() -> None:
    assert rate_limit_bucket(FN_A, "false") is None
    assert singleton_bucket(FN_A, "false") is None
    assert rate_limit_bucket(FN_A, None) == f"rate_limit:{FN_A}"
    assert singleton_bucket(FN_A, None) == f"singleton:{FN_A}"
    assert rate_limit_bucket(FN_A, "False") is not None


def test_per_function_buckets_differ_across_functions() -> None:
    for make in (throttle_bucket, rate_limit_bucket, singleton_bucket, batch_bucket):
        assert make(FN_A, "k") != make(FN_B, "k")
        assert make(FN_A, None) != make(FN_B, None)
        assert make(FN_A, "k") != make(FN_A, None)
    assert debounce_bucket(FN_A, "k", False) != debounce_bucket(FN_B, "k", False)


def test_debounce_bucket_rules() -> None:
    # Failed evaluations share one bucket, whatever the caller passed.
    failed = debounce_bucket(FN_A, None, True)
    assert debounce_bucket(FN_A, "anything", True) == failed
    # "<invalid>" is the literal Go uses, so a key rendering to it joins in.
    assert debounce_bucket(FN_A, "<invalid>", False) == failed
    # No key: the fn uuid is the key string (Go's choice).
    assert debounce_bucket(FN_A, None, False) == debounce_bucket(FN_A, FN_A, False)
    assert debounce_bucket(FN_A, None, False) != failed
    assert debounce_bucket(FN_A, "a", False) != debounce_bucket(FN_A, "b", False)


def test_batch_bucket_default() -> None:
    assert batch_bucket(FN_A, None) == f"batch:{FN_A}:default"
    assert batch_bucket(FN_A, "default") != batch_bucket(FN_A, None)


def test_concurrency_bucket_scopes() -> None:
    # env/account buckets are shared by every function with the same value.
    assert concurrency_bucket("env", FN_A, "u1") == concurrency_bucket(
        "env", FN_B, "u1"
    )
    assert concurrency_bucket("account", FN_A, "u1") == concurrency_bucket(
        "account", FN_B, "u1"
    )
    assert concurrency_bucket("env", FN_A, "u1") != concurrency_bucket(
        "account", FN_A, "u1"
    )
    assert concurrency_bucket("env", FN_A, "u1") != concurrency_bucket(
        "env", FN_A, "u2"
    )
    # fn scope is per function, keyed or not.
    assert concurrency_bucket("fn", FN_A, "u1") != concurrency_bucket("fn", FN_B, "u1")
    assert concurrency_bucket("fn", FN_A, None) == f"concurrency:fn:{FN_A}"
    assert concurrency_bucket("fn", FN_A, "u1") != concurrency_bucket("env", FN_A, "u1")


@pytest.mark.parametrize("scope", ["env", "account"])
def test_concurrency_shared_scopes_need_a_key(scope: str) -> None:
    with pytest.raises(ValueError, match="needs a key"):
        concurrency_bucket(scope, FN_A, None)  # type: ignore[arg-type]


def test_concurrency_rejects_unknown_scope() -> None:
    with pytest.raises(ValueError, match="scope"):
        concurrency_bucket("step", FN_A, "k")  # type: ignore[arg-type]


fn_ids = st.uuids().map(str)
keys = st.none() | st.text(max_size=20)


def all_buckets(fn: str, key: str | None) -> list[str | None]:
    out: list[str | None] = [
        throttle_bucket(fn, key),
        rate_limit_bucket(fn, key),
        singleton_bucket(fn, key),
        debounce_bucket(fn, key, False),
        concurrency_bucket("fn", fn, key),
        batch_bucket(fn, key),
    ]
    if key is not None:
        out += [
            concurrency_bucket("env", fn, key),
            concurrency_bucket("account", fn, key),
        ]
    return out


@given(fn=fn_ids, key=keys)
def test_buckets_are_deterministic_and_features_never_collide(
    fn: str, key: str | None
) -> None:
    first = all_buckets(fn, key)
    assert first == all_buckets(fn, key)
    present = [b for b in first if b is not None]
    assert len(set(present)) == len(present)


@given(a=st.tuples(fn_ids, keys), b=st.tuples(fn_ids, keys))
def test_buckets_distinct_for_distinct_inputs(
    a: tuple[str, str | None], b: tuple[str, str | None]
) -> None:
    if a == b:
        return
    (fn_a, key_a), (fn_b, key_b) = a, b
    pairs = [
        (throttle_bucket(fn_a, key_a), throttle_bucket(fn_b, key_b)),
        (rate_limit_bucket(fn_a, key_a), rate_limit_bucket(fn_b, key_b)),
        (singleton_bucket(fn_a, key_a), singleton_bucket(fn_b, key_b)),
        (concurrency_bucket("fn", fn_a, key_a), concurrency_bucket("fn", fn_b, key_b)),
        (batch_bucket(fn_a, key_a), batch_bucket(fn_b, key_b)),
    ]
    for left, right in pairs:
        assert left is None or left != right
    # Debounce, except Go's quirk that no key means "key = fn uuid".
    if {key_a, key_b} != {None, fn_a} or fn_a != fn_b:
        assert debounce_bucket(fn_a, key_a, False) != debounce_bucket(
            fn_b, key_b, False
        )
    # Shared concurrency scopes depend on the key alone.
    if key_a is not None and key_b is not None:
        same = concurrency_bucket("env", fn_a, key_a) == concurrency_bucket(
            "env", fn_b, key_b
        )
        assert same == (key_a == key_b)


# --- periods ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"), [("1m", 60.0), ("24h", DAY), ("1d", DAY), ("0.5s", 0.5)]
)
def test_rate_limit_period_accepts(text: str, seconds: float) -> None:
    assert rate_limit_period(text) == seconds


@pytest.mark.parametrize("text", ["25h", "24h1s", "2d", "0", "0s", "soon", ""])
def test_rate_limit_period_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"rateLimit\.period") as info:
        rate_limit_period(text)
    if text in ("25h", "0s"):
        assert repr(text) in str(info.value)


def test_rate_limit_period_message_names_the_bound() -> None:
    with pytest.raises(ValueError, match=r"at most 1d, got '25h'"):
        rate_limit_period("25h")


@pytest.mark.parametrize(
    ("text", "seconds"), [("1s", 1.0), ("2s", 2.0), ("1h30m", 5400.0), ("7d", 7 * DAY)]
)
def test_debounce_period_accepts(text: str, seconds: float) -> None:
    assert debounce_period(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("999ms", "at least 1s, got '999ms'"),
        ("7d1s", "at most 1w, got '7d1s'"),
        ("2w", "at most 1w, got '2w'"),
        ("5x", "unknown unit"),
    ],
)
def test_debounce_period_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=r"debounce\.period") as info:
        debounce_period(text)
    assert message in str(info.value)


def test_throttle_period() -> None:
    assert throttle_period("10s") == 10.0
    with pytest.raises(ValueError, match=r"throttle\.period must be positive"):
        throttle_period("0")


def test_parse_period_custom_bounds() -> None:
    assert parse_period("x.period", "1s", minimum=0.5, maximum=2.0) == 1.0
    with pytest.raises(ValueError, match=r"x\.period must be at least 0\.5s"):
        parse_period("x.period", "100ms", minimum=0.5)
