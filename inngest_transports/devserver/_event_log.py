"""The event log kept in memory when the dev server has no store.

The API (``GET /v1/events``, the UI, GraphQL) reads events from the store when
there is one (:class:`~._sqlite_store.SQLiteStore`, which keeps them all unless told
to keep fewer), else from a :class:`MemoryEventLog` of the newest events.
Both list as Inngest does: newest first by internal id, the cursor being the
internal id of the last event seen.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from ._sqlite_store import StoredEvent, is_internal_event, page_of

__all__ = ["DEFAULT_MEMORY_EVENTS", "MemoryEventLog"]

#: Events a dev server without a store keeps in memory, newest first.
DEFAULT_MEMORY_EVENTS = 10_000

_log = logging.getLogger("inngest.devserver")


class MemoryEventLog:
    """The newest ``keep`` events, in memory; the oldest are dropped (and
    the first drop is logged), whether the executor still needs them or not:
    it holds what it needs itself."""

    def __init__(self, keep: int = DEFAULT_MEMORY_EVENTS) -> None:
        self._keep = keep
        self._events: collections.deque[StoredEvent] = collections.deque()
        self._seq = 0
        self._dropped = False

    def append_events(
        self,
        events: Sequence[Mapping[str, Any]],
        *,
        received_at: float,
        internal_ids: Sequence[str] | None = None,
    ) -> list[int]:
        ids = [str(e["id"]) for e in events] if internal_ids is None else internal_ids
        seqs = []
        for internal_id, event in zip(ids, events, strict=True):
            self._seq += 1
            seqs.append(self._seq)
            self._events.append(
                StoredEvent(
                    self._seq, internal_id, str(event["name"]), received_at, dict(event)
                )
            )
        while len(self._events) > self._keep:
            self._events.popleft()
            if not self._dropped:
                self._dropped = True
                _log.warning(
                    "no store: only the newest %d events are kept in memory",
                    self._keep,
                )
        return seqs

    def events(
        self,
        limit: int = 20,
        before: str | None = None,
        *,
        name: str | None = None,
        received_from: float | None = None,
        received_until: float | None = None,
        hide_internal: bool = False,
    ) -> list[StoredEvent]:
        """As :meth:`~._sqlite_store.SQLiteStore.events`."""

        def wanted(e: StoredEvent) -> bool:
            return (
                (name is None or e.name == name)
                and (received_from is None or e.received_at >= received_from)
                and (received_until is None or e.received_at < received_until)
                and not (hide_internal and is_internal_event(e.name))
            )

        rows = sorted(
            (
                e
                for e in self._events
                if (before is None or e.internal_id < before) and wanted(e)
            ),
            key=lambda e: (e.internal_id, e.seq),
            reverse=True,
        )
        return page_of(
            rows,
            limit,
            lambda last: [e for e in rows if e.internal_id == last],
        )

    def event(self, internal_id: str) -> StoredEvent | None:
        return next((e for e in self._events if e.internal_id == internal_id), None)

    def internal_id_for(
        self, event_id: str, received_by: float | None = None
    ) -> str | None:
        for stored in reversed(self._events):
            if stored.event.get("id") == event_id and (
                received_by is None or stored.received_at <= received_by
            ):
                return stored.internal_id
        return None
