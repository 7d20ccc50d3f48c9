"""Times as the server writes them in JSON: RFC 3339 in UTC, with ``Z``."""

from __future__ import annotations

import datetime
from typing import Literal

__all__ = ["rfc3339"]


def rfc3339(
    at: float, *, timespec: Literal["milliseconds", "microseconds"] = "milliseconds"
) -> str:
    """``at`` (Unix seconds) as ``2025-04-01T12:00:00.000Z``.

    Raises ``OverflowError``, ``OSError`` or ``ValueError`` for a time out of
    the platform's range.
    """
    moment = datetime.datetime.fromtimestamp(at, datetime.timezone.utc)
    return moment.isoformat(timespec=timespec).replace("+00:00", "Z")
