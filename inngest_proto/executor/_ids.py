"""Identifiers the executor mints: run and request ULIDs, function UUIDs.

No randomness and no clock reads: a ULID's time part is the ``now`` the caller
passed in and its "random" part is a counter kept in the executor's state, so
replaying the same inputs mints the same ids (and ids still sort by creation,
which the server relies on, e.g. "event received after the run was created").
"""

from __future__ import annotations

import uuid

__all__ = ["function_uuid", "ulid"]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TIME_BITS = 48
_COUNTER_BITS = 80
# Fixed namespace so a function keeps its UUID across restarts and re-syncs.
_FUNCTION_NAMESPACE = uuid.UUID("6c1f5e0e-6a1b-4c58-9e55-1a5d0f1e7c01")


def ulid(now_ms: int, counter: int) -> str:
    """A 26-character Crockford base-32 ULID for ``now_ms`` and ``counter``."""
    value = ((now_ms % (1 << _TIME_BITS)) << _COUNTER_BITS) | (
        counter % (1 << _COUNTER_BITS)
    )
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def function_uuid(composite_id: str) -> str:
    """The internal UUID of a function (``ctx.fn_id``), stable for its id."""
    return str(uuid.uuid5(_FUNCTION_NAMESPACE, composite_id))
