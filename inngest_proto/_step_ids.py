"""Step ids: the user's id, made unique per call by the ``:n`` repeat rule, then hashed.

The official Python SDK suffixes the n-th reuse of an id with ``:n`` counting
uses of the same *user* id in program order (memoized ones included).  Unlike
the TypeScript SDK it does not skip hashes already seen, so ``a`` used twice
collides with a literal ``a:1``; we follow Python, whose hashes the server
already stores for existing runs.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

__all__ = ["StepIdCounter", "StepIdentity", "hash_step_id"]


_sha1 = hashlib.sha1


def hash_step_id(id_for_hash: str) -> str:
    """Lowercase hex SHA-1 of the UTF-8 id, as the server keys memos."""
    return _sha1(id_for_hash.encode(), usedforsecurity=False).hexdigest()


class StepIdentity(NamedTuple):
    """Everything an op says about which step it is.

    A named tuple: one is made for every step of every call request, replayed
    ones included, and a tuple is the cheapest immutable record to build.
    """

    user_id: str
    hashed: str
    #: ``None`` on the first use of ``user_id`` in a call, then 1, 2, ...
    #: (the op's ``userland.index``; not ``index``, a tuple method).
    repeat: int | None


_make = tuple.__new__


class StepIdCounter:
    """Per-call-request counter of user ids; a fresh one for every request."""

    __slots__ = ("_uses",)

    def __init__(self) -> None:
        self._uses: dict[str, int] = {}

    def next(self, user_id: str) -> StepIdentity:
        used = self._uses.get(user_id, 0)
        self._uses[user_id] = used + 1
        # ``tuple.__new__`` skips the named tuple's Python-level ``__new__``.
        if used == 0:
            return _make(StepIdentity, (user_id, hash_step_id(user_id), None))
        return _make(StepIdentity, (user_id, hash_step_id(f"{user_id}:{used}"), used))
