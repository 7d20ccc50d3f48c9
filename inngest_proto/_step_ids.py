"""Step ids: the user's id, made unique per call by the ``:n`` repeat rule, then hashed.

The official Python SDK suffixes the n-th reuse of an id with ``:n`` counting
uses of the same *user* id in program order (memoized ones included).  Unlike
the TypeScript SDK it does not skip hashes already seen, so ``a`` used twice
collides with a literal ``a:1``; we follow Python, whose hashes the server
already stores for existing runs.
"""

from __future__ import annotations

import hashlib

import attrs

__all__ = ["StepIdCounter", "StepIdentity", "hash_step_id"]


def hash_step_id(id_for_hash: str) -> str:
    """Lowercase hex SHA-1 of the UTF-8 id, as the server keys memos."""
    return hashlib.sha1(id_for_hash.encode(), usedforsecurity=False).hexdigest()


@attrs.frozen
class StepIdentity:
    """Everything an op says about which step it is."""

    user_id: str
    hashed: str
    #: ``None`` on the first use of ``user_id`` in a call, then 1, 2, ...
    index: int | None


class StepIdCounter:
    """Per-call-request counter of user ids; a fresh one for every request."""

    __slots__ = ("_uses",)

    def __init__(self) -> None:
        self._uses: dict[str, int] = {}

    def next(self, user_id: str) -> StepIdentity:
        used = self._uses.get(user_id, 0)
        self._uses[user_id] = used + 1
        if used == 0:
            return StepIdentity(user_id, hash_step_id(user_id), None)
        return StepIdentity(user_id, hash_step_id(f"{user_id}:{used}"), used)
