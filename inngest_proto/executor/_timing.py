"""Retry delays, ``Retry-After`` and the time strings ops carry.

All times are Unix seconds as floats; ``now`` is always given.
"""

from __future__ import annotations

import email.utils
import hashlib

from .._durations import parse_duration, parse_iso_time

__all__ = [
    "MAX_WAIT_SECONDS",
    "backoff_seconds",
    "parse_retry_after",
    "resolve_time",
]

# Base delay by the 0-based attempt that just failed
# (docs/protocol/executor.rst#backoff); the
# last entry repeats for every later attempt.
_BACKOFF_SECONDS = (15, 30, 60, 120, 300, 600, 1200, 2400, 3600, 7200)
_MAX_JITTER_SECONDS = 30.0
_MIN_RETRY_AFTER = 1.0
_MAX_RETRY_AFTER = 24 * 3600.0
# Retry-After values of up to this many characters are integer seconds.
_RETRY_AFTER_SECONDS_CHARS = 7
#: Longest sleep, wait or timeout the server accepts.
MAX_WAIT_SECONDS = 366 * 24 * 3600.0
# A value this long that parses as a date is an absolute time
# (docs/protocol/executor.rst#sleep).
_MIN_DATE_CHARS = 10


def backoff_seconds(job_id: str, failed_attempt: int, scale: float) -> float:
    """Delay before retrying after ``failed_attempt`` failed, times ``scale``.

    The server adds uniform jitter of 0-30 s; ours is derived from the job
    and attempt so the executor stays deterministic.
    """
    base = _BACKOFF_SECONDS[min(failed_attempt, len(_BACKOFF_SECONDS) - 1)]
    digest = hashlib.sha256(f"{job_id}:{failed_attempt}".encode()).digest()
    jitter = int.from_bytes(digest[:4], "big") / 2**32 * _MAX_JITTER_SECONDS
    return (base + jitter) * scale


def parse_retry_after(value: str | None, now: float) -> float | None:
    """When to retry per a ``Retry-After`` value, clamped to now+1 s ... now+24 h.

    Up to 7 characters it is integer seconds, otherwise a date (RFC 3339 as
    the Python SDK sends, or RFC 1123 as HTTP servers do); ``None`` when
    absent or unreadable, so the backoff table applies.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    at: float
    if len(text) <= _RETRY_AFTER_SECONDS_CHARS:
        if not (text.isascii() and text.isdigit()):  # int() refuses "\u00b2"
            return None
        at = now + int(text)
    else:
        try:
            at = parse_iso_time(text).timestamp()
        except ValueError:
            try:
                at = email.utils.parsedate_to_datetime(text).timestamp()
            except (TypeError, ValueError):
                return None
    return min(max(at, now + _MIN_RETRY_AFTER), now + _MAX_RETRY_AFTER)


def resolve_time(text: str, now: float) -> float:
    """An op's time string as an absolute time: a date, or now + a duration.

    Raises :class:`ValueError` for text that is neither.  A date in the past
    resolves to itself (callers treat it as "now").
    """
    if len(text) >= _MIN_DATE_CHARS:
        try:
            return parse_iso_time(text).timestamp()
        except ValueError:
            pass
    return now + parse_duration(text).total_seconds()
