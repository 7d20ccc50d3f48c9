"""When each app is polled (re-synced) next.

Every ``interval`` while it answers; while it cannot be reached, less and
less often (the interval doubled after each failed poll, up to
``max_backoff``), so a dead app costs little, and back to every
``interval`` once it answers.  Each app has its own schedule and is polled
in a task of its own: one slow or dead app delays no other.  A poll still
in flight is not started again.

Pure bookkeeping: time comes in as a value (``anyio.current_time()`` in
the server, plain numbers in the tests).
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

__all__ = ["MAX_BACKOFF", "PollSchedule"]

#: The longest wait between two polls of an unreachable app (seconds), unless
#: the interval itself is longer.
MAX_BACKOFF = 60.0


@attrs.define
class _Slot:
    due: float
    failures: int = 0
    started: float | None = None  # set while a poll is in flight


class PollSchedule:
    """Which apps to poll now, and when each is due again."""

    def __init__(self, interval: float, max_backoff: float = MAX_BACKOFF) -> None:
        if not interval > 0:
            msg = f"the poll interval must be positive, not {interval!r}"
            raise ValueError(msg)
        self.interval = interval
        self.max_backoff = max(max_backoff, interval)
        self._slots: dict[str, _Slot] = {}

    def start(self, urls: Iterable[str], now: float) -> list[str]:
        """The apps among ``urls`` to poll now; each is then in flight until
        :meth:`finished`.  An app seen for the first time waits one interval
        (it was just synced at start, or by the request that added it).
        Apps no longer in ``urls`` are forgotten."""
        wanted = set(urls)
        for gone in self._slots.keys() - wanted:
            del self._slots[gone]
        due: list[str] = []
        for url in sorted(wanted):
            slot = self._slots.get(url)
            if slot is None:
                self._slots[url] = _Slot(due=now + self.interval)
            elif slot.started is None and slot.due <= now:
                slot.started = now
                due.append(url)
        return due

    def finished(self, url: str, *, reachable: bool) -> None:
        """The poll of ``url`` begun by :meth:`start` is over."""
        slot = self._slots.get(url)
        if slot is None or slot.started is None:
            return  # forgotten meanwhile
        slot.failures = 0 if reachable else slot.failures + 1
        # From when the poll began, so that a slow answer does not stretch
        # the interval.
        slot.due = slot.started + self.delay(slot.failures)
        slot.started = None

    def delay(self, failures: int) -> float:
        """The wait after ``failures`` failed polls in a row."""
        if failures == 0:
            return self.interval
        # Capped before it is computed: 2.0 ** 2000 overflows.
        return min(self.interval * 2.0 ** min(failures, 64), self.max_backoff)

    def next_due(self) -> float | None:
        """When the next app not in flight is due, if any."""
        waiting = [slot.due for slot in self._slots.values() if slot.started is None]
        return min(waiting, default=None)
