"""Flow-control arithmetic: GCRA limiters, priority factors, bucket keys, periods.

Pure functions over plain values (docs/protocol/executor.rst#flow-control,
docs/protocol/expressions.rst#keys).  Times are Unix seconds as floats and
``now`` is always passed in.  The only limiter state is the GCRA "theoretical
arrival time" (TAT): one float per bucket key, which the caller stores (the dev
server persists it with the rest of executor state) and hands back on the next
call; ``None`` means the bucket has never been used.

GCRA, as the Go server runs it: ``emission = period / limit`` is the spacing
of admissions at the sustained rate, and ``dvt = emission * capacity`` (the
"delay variation tolerance") is how far ahead of ``now`` the TAT may run.  A
request is admitted iff ``max(tat, now) + emission - dvt <= now``; admitting
it stores ``max(tat, now) + emission``.  So a fresh bucket admits
``capacity`` requests at once and then one per ``emission``.
"""

from __future__ import annotations

import hashlib
import math
from typing import Literal

import attrs

from .._durations import parse_duration, to_duration_string

__all__ = [
    "IDEMPOTENCY_PERIOD",
    "MAX_PRIORITY_FACTOR",
    "Decision",
    "batch_bucket",
    "bucket_key",
    "concurrency_bucket",
    "debounce_bucket",
    "debounce_period",
    "idempotency",
    "parse_period",
    "priority_factor",
    "rate_limit",
    "rate_limit_bucket",
    "rate_limit_period",
    "singleton_bucket",
    "throttle",
    "throttle_bucket",
    "throttle_period",
]

_DAY = 86_400.0
#: ``idempotency: expr`` is a rate limit of one run per key per 24 h
#: (docs/protocol/executor.rst#rate-limit-and-idempotency).
IDEMPOTENCY_PERIOD = _DAY
#: The server clamps priority to ±43 200 s (12 h): docs/protocol/executor.rst#priority.
#: Inngest's public docs say ±600 s; the server's clamp is what runs, so 43 200 it is.
MAX_PRIORITY_FACTOR = 43_200
_MAX_RATE_LIMIT_PERIOD = _DAY
_MIN_DEBOUNCE_PERIOD = 1.0
_MAX_DEBOUNCE_PERIOD = 7 * _DAY
# A rendered key of "false" means the key expression gave boolean false (or
# named a missing field): the event is not rate limited / not a singleton.
_NOT_LIMITED = "false"
_INVALID_DEBOUNCE_KEY = "<invalid>"
_DEFAULT_BATCH_KEY = "default"
# GCRA runs in integer ticks of 2**-20 s (about 1 µs).  Float seconds near
# 1.7e9 pick up ~0.1 µs of rounding per addition; across a burst of
# reservations that decides boundary cases wrongly (Go's Lua, with nanoseconds
# in doubles, has the same flaw).  Integers are exact, and a tick count below
# 2**53 (until the year 2242) converts to a float exactly, so the stored TAT is
# still a plain float that round-trips without loss.
_TICKS_PER_SECOND = 2**20


@attrs.frozen
class Decision:
    """What a limiter decided for one request.

    ``allowed``: the run goes ahead (a throttle always says yes; a rate limit
    says no when the event must be dropped).  ``at``: when it may start, equal
    to ``now`` if at once; for a dropped event, when the next one would be
    admitted.  ``tat``: the state to store for the bucket (on a drop, the old
    value, normalised as described in :func:`rate_limit`).
    """

    allowed: bool
    at: float
    tat: float | None


def _ticks_down(seconds: float) -> int:
    # Scaling by a power of two is exact, so only the floor rounds.
    return math.floor(seconds * _TICKS_PER_SECOND)


def _ticks_up(seconds: float) -> int:
    return math.ceil(seconds * _TICKS_PER_SECOND)


def _seconds(ticks: int) -> float:
    return ticks / _TICKS_PER_SECOND


def _emission_ticks(option: str, now: float, period: float, limit: int) -> int:
    """``period / limit`` in ticks, rounded up so the rate is never exceeded."""
    if not math.isfinite(now):
        msg = f"now must be a finite Unix time in seconds, got {now!r}"
        raise ValueError(msg)
    if not (period > 0 and math.isfinite(period)):
        msg = f"{option}.period must be a positive number of seconds, got {period!r}"
        raise ValueError(msg)
    num, den = period.as_integer_ratio()
    return -(-num * _TICKS_PER_SECOND // (den * limit))


def rate_limit(tat: float | None, now: float, *, limit: int, period: float) -> Decision:
    """Admit or drop one event under ``rateLimit {limit, period}``.

    See docs/protocol/executor.rst#rate-limit-and-idempotency.

    Mapping (pkg/execution/ratelimit: ratelimit_lua.go and lua/ratelimit.lua,
    which reproduce the throttled/v2 GCRA with ``MaxBurst = limit / 10``):
    ``emission = period / limit`` and ``dvt = emission * (burst + 1)`` with
    ``burst = limit // 10``; so ``burst + 1`` events pass at once, then one per
    ``emission``.  Any half-open window of length ``period`` admits at most
    ``limit + burst`` events.  ``limit`` 0 drops everything, as the Lua does.
    """
    if limit < 0:
        msg = f"rateLimit.limit must be >= 0, got {limit!r}"
        raise ValueError(msg)
    emission = _emission_ticks("rateLimit", now, period, max(limit, 1))
    if limit == 0:
        return Decision(allowed=False, at=now + period, tat=tat)
    dvt = emission * (limit // 10 + 1)
    now_t = _ticks_down(now)
    old_t = now_t
    if tat is not None:
        # The Lua clamps a TAT too far ahead (clock moved back, or the period
        # was shortened since it was stored) and stores the clamped value even
        # when it then refuses, so a stale TAT cannot lock the bucket for more
        # than about one new period.  A TAT this code stored is never clamped.
        old_t = min(_ticks_up(tat), now_t + _ticks_up(period) + dvt)
        tat = _seconds(old_t)
    new_t = max(old_t, now_t) + emission
    allow_t = new_t - dvt
    if allow_t > now_t:
        return Decision(allowed=False, at=_seconds(allow_t), tat=tat)
    return Decision(allowed=True, at=now, tat=_seconds(new_t))


def idempotency(tat: float | None, now: float) -> Decision:
    """``idempotency: expr``: at most one run per key value per 24 h.

    See docs/protocol/executor.rst#rate-limit-and-idempotency.
    """
    return rate_limit(tat, now, limit=1, period=IDEMPOTENCY_PERIOD)


def throttle(
    tat: float | None, now: float, *, limit: int, period: float, burst: int = 0
) -> Decision:
    """Reserve a start slot under ``throttle {limit, period, burst}``.

    See docs/protocol/executor.rst#throttle.

    Mapping (pkg/execution/state/redis_state/lua/includes/gcra.lua, ``gcra``
    calling ``applyGCRA`` with ``maxBurst = limit + burst - 1``):
    ``emission = period / limit``, ``dvt = emission * (limit + burst)``.  The
    queue needs more than one start per emission interval, so a fresh bucket
    starts ``limit + burst`` runs at once, then one per ``emission`` (the
    Inngest docs' example: limit 2, period 6 s, burst 1 starts 3 at once,
    then one every 3 s).  Any half-open window of length ``period`` holds at
    most ``2 * limit + burst - 1`` starts: the burst plus ``limit - 1`` more.

    Starts are never dropped: the run starts at ``at``, and the returned TAT
    already counts that reservation, so starts queued one after another get
    successive slots.  Go re-checks a delayed item when it is next leased;
    reserving up front gives the same FIFO start times without a retry loop.
    ``limit`` 0 means 1; ``burst`` 0 (Go's reading of an absent
    ``burst``) starts ``limit`` runs at once.
    """
    if burst < 0:
        msg = f"throttle.burst must be >= 0, got {burst!r}"
        raise ValueError(msg)
    limit = max(limit, 1)
    emission = _emission_ticks("throttle", now, period, limit)
    dvt = emission * (limit + burst)
    now_t = _ticks_down(now)
    old_t = now_t if tat is None else _ticks_up(tat)
    new_t = max(old_t, now_t) + emission
    start_t = new_t - dvt
    # start_t > now_t means start_t ticks lie strictly after ``now``.
    at = _seconds(start_t) if start_t > now_t else now
    return Decision(allowed=True, at=at, tat=_seconds(new_t))


def priority_factor(value: object) -> int:
    """Seconds a run moves ahead in its queue, from ``priority.run``.

    See docs/protocol/executor.rst#priority.

    Only integers count: Go reads every JSON number as a double, which it
    ignores, so a Python float gives 0 too (``int(event.data.p)`` in the
    expression yields an int).  ``bool`` is an ``int`` subclass but not an
    integer to CEL, hence the exact type check.  Clamped to ±43 200.
    """
    if type(value) is not int:
        return 0
    return max(-MAX_PRIORITY_FACTOR, min(MAX_PRIORITY_FACTOR, value))


def _digest(text: str) -> str:
    # Python's hash() is salted per process, and these keys are persisted, so
    # a stable hash is required.  128 bits makes collisions a non-issue.
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def bucket_key(prefix: str, rendered: str | None) -> str:
    """``prefix`` alone, or ``prefix`` plus a stable hash of the key value.

    Hashing keeps keys short and free of separator characters whatever the
    event data holds; the hex digest cannot contain ``:``, so the two forms
    never meet.
    """
    return prefix if rendered is None else f"{prefix}:{_digest(rendered)}"


def throttle_bucket(fn_uuid: str, key_value: str | None) -> str:
    """Throttle bucket: per function, split by key value when there is a key."""
    return bucket_key(f"throttle:{fn_uuid}", key_value)


def rate_limit_bucket(fn_uuid: str, key_value: str | None) -> str | None:
    """Rate-limit bucket, or ``None`` when the key is ``false`` (not limited).

    Go tests for boolean false; keys reach us rendered, so a string value
    "false" in event data is taken as not limited too.
    """
    if key_value == _NOT_LIMITED:
        return None
    return bucket_key(f"rate_limit:{fn_uuid}", key_value)


def singleton_bucket(fn_uuid: str, key_value: str | None) -> str | None:
    """Singleton lock key, or ``None`` when the key is ``false`` (no singleton)."""
    if key_value == _NOT_LIMITED:
        return None
    return bucket_key(f"singleton:{fn_uuid}", key_value)


def debounce_bucket(fn_uuid: str, key_value: str | None, failed: bool) -> str:
    """Debounce bucket within the function (docs/protocol/executor.rst#debounce).

    As in Go, the key string is the fn uuid when there is no key expression
    and ``"<invalid>"`` when evaluating it failed, so all failures share one
    bucket instead of each firing alone.
    """
    if failed:
        rendered = _INVALID_DEBOUNCE_KEY
    elif key_value is None:
        rendered = fn_uuid
    else:
        rendered = key_value
    return bucket_key(f"debounce:{fn_uuid}", rendered)


def concurrency_bucket(
    scope: Literal["fn", "env", "account"], fn_uuid: str, key_value: str | None
) -> str:
    """Concurrency bucket (docs/protocol/executor.rst#concurrency).

    ``fn``: per function, split by key value if keyed.  ``env``/``account``:
    one bucket per key value shared by every function (the dev server has a
    single environment and account), so ``fn_uuid`` is not part of it; those
    scopes need a key.
    """
    if scope == "fn":
        return bucket_key(f"concurrency:fn:{fn_uuid}", key_value)
    if scope not in ("env", "account"):
        msg = f"concurrency scope must be 'fn', 'env' or 'account', got {scope!r}"
        raise ValueError(msg)
    if key_value is None:
        msg = f"concurrency scope {scope!r} needs a key (only 'fn' works without)"
        raise ValueError(msg)
    return bucket_key(f"concurrency:{scope}", key_value)


def batch_bucket(fn_uuid: str, key_value: str | None) -> str:
    """Batch bucket: per function; unkeyed events share the ``default`` batch."""
    if key_value is None:
        # Literal, like Go, and no hex digest is spelled "default".
        return f"batch:{fn_uuid}:{_DEFAULT_BATCH_KEY}"
    return bucket_key(f"batch:{fn_uuid}", key_value)


def parse_period(
    option: str,
    text: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float:
    """Seconds in ``text`` (server duration grammar), checked against the bounds.

    ``minimum`` is inclusive; without one the period must be positive.
    ``option`` names the setting in error messages (e.g. ``rateLimit.period``).
    """
    try:
        seconds = parse_duration(text).total_seconds()
    except ValueError as err:
        msg = f"{option}: {err}"
        raise ValueError(msg) from None
    if minimum is None and seconds <= 0:
        msg = f"{option} must be positive, got {text!r}"
        raise ValueError(msg)
    if minimum is not None and seconds < minimum:
        msg = f"{option} must be at least {_show(minimum)}, got {text!r}"
        raise ValueError(msg)
    if maximum is not None and seconds > maximum:
        msg = f"{option} must be at most {_show(maximum)}, got {text!r}"
        raise ValueError(msg)
    return seconds


def _show(seconds: float) -> str:
    # "1d" reads better than "86400s" in an error message.
    if seconds >= 1 and seconds == int(seconds):
        return to_duration_string(int(seconds) * 1000)
    return f"{seconds:g}s"


def rate_limit_period(text: str) -> float:
    """``rateLimit.period`` in seconds: positive and at most 24 h."""
    return parse_period("rateLimit.period", text, maximum=_MAX_RATE_LIMIT_PERIOD)


def debounce_period(text: str) -> float:
    """``debounce.period`` in seconds: 1 s to 7 d."""
    return parse_period(
        "debounce.period",
        text,
        minimum=_MIN_DEBOUNCE_PERIOD,
        maximum=_MAX_DEBOUNCE_PERIOD,
    )


def throttle_period(text: str) -> float:
    """``throttle.period`` in seconds: positive (no upper bound is documented)."""
    return parse_period("throttle.period", text)
