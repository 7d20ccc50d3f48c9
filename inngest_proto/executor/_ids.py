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
    # Two characters (10 bits) at a time, most significant first: minted
    # for every call request, and half the steps of a loop of 26.
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _PAIR_SHIFTS])


#: Every two-character string, at the index of the 10 bits it writes.
_PAIRS = tuple(high + low for high in _CROCKFORD for low in _CROCKFORD)
#: Where each pair of the 26 characters (130 bits) starts.
_PAIR_SHIFTS = tuple(range(120, -1, -10))


def function_uuid(composite_id: str) -> str:
    """The internal UUID of a function (``ctx.fn_id``), stable for its id."""
    return str(uuid.uuid5(_FUNCTION_NAMESPACE, composite_id))
