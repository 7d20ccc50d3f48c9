"""Step ids: the user's id, made unique per call by the ``:n`` repeat rule, then hashed.

The official Python SDK suffixes the n-th reuse of an id with ``:n`` counting
uses of the same *user* id in program order (memoized ones included).  Unlike
the TypeScript SDK it does not skip hashes already seen, so ``a`` used twice
collides with a literal ``a:1``; we follow Python, whose hashes the server
already stores for existing runs.  The rule is applied by
:meth:`inngest_proto._engine.Execution.replay`, inline: it runs for every
step of every call.
"""

from __future__ import annotations

import functools
import hashlib
from typing import NamedTuple

__all__ = ["StepIdentity", "hash_step_id"]


_sha1 = hashlib.sha1


@functools.lru_cache(maxsize=4096)
def hash_step_id(id_for_hash: str) -> str:
    """Lowercase hex SHA-1 of the UTF-8 id, as the server keys memos.

    Cached: every call request replays the same step ids, so a run of N
    steps hashes each of them about N times.
    """
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
