"""Cron triggers on the executor's clock.

See docs/protocol/executor.rst#cron-triggers.

A sync sets one timer per cron trigger at its next tick; the timer belongs to
no run, its ``key`` names the function and the expression.  When it fires,
the tick's ``inngest/scheduled.timer`` event is published (stored and routed
like any event) and the function's run is scheduled with the tick's time as
its idempotency key, starting at ``fireAt`` (the tick plus the trigger's
jitter); then the next tick is set.  A re-sync that drops the trigger or the
function drops its timer; one that keeps it keeps the timer (and so does a
restart, whose loaded state has it).

:class:`CronTimers` does this for the executor that holds it; the schedule
arithmetic is in :mod:`._cron`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, Protocol

from .._durations import to_seconds
from .._options import TriggerCron
from ._cron import (
    CronError,
    CronSchedule,
    jitter_seconds,
    jitter_seed,
    parse_jitter,
    scheduled_timer_event,
)
from ._registry import RegisteredFunction
from ._runbook import RunBook, Tick
from ._state import Run, Timer, TimerKind

__all__ = ["CronHost", "CronTimers"]

_log = logging.getLogger(__name__)


@lru_cache(maxsize=256)
def _schedule(text: str) -> CronSchedule:
    return CronSchedule.parse(text)


def _timer_key(function_id: str, cron: str) -> str:
    return json.dumps([function_id, cron])


def _crons_of(fn: RegisteredFunction) -> list[TriggerCron]:
    return [t for t in fn.config.triggers if isinstance(t, TriggerCron)]


class CronHost(Protocol):
    """What the cron timers use of the executor that holds them: publishing
    a tick's event, and scheduling the run it starts."""

    def _normalize(self, event: dict[str, Any], now: float) -> dict[str, Any]: ...

    def _emit(self, event: dict[str, Any], tick: Tick) -> None: ...

    def _admit(
        self,
        fn: RegisteredFunction,
        events: list[dict[str, Any]],
        tick: Tick,
        *,
        key: str | None = None,
    ) -> Run | None: ...


class CronTimers:
    """The timers of cron triggers: set at sync, firing runs on their ticks.

    Held by the executor, which hands it each sync (:meth:`sync`) and each
    cron timer that fires (:meth:`on_timer`); it keeps its timers in
    ``book`` and acts beyond them only through ``host``.
    """

    def __init__(self, book: RunBook, host: CronHost) -> None:
        self._book = book
        self._host = host

    def sync(
        self, functions: Iterable[RegisteredFunction], gone: Iterable[str], tick: Tick
    ) -> None:
        """Set the timers ``functions``' cron triggers need; drop the others of
        these functions and of the ``gone`` ones."""
        functions = list(functions)
        wanted = {
            _timer_key(fn.config.id, trigger.cron): (fn, trigger.cron)
            for fn in functions
            for trigger in _crons_of(fn)
        }
        mine = {fn.config.id for fn in functions} | set(gone)
        for timer in list(self._book.state.timers.values()):
            if timer.kind is not TimerKind.CRON or timer.key is None:
                continue
            if timer.key in wanted:
                del wanted[timer.key]  # set already (a re-sync or a restart)
            elif json.loads(timer.key)[0] in mine:
                self._book.drop_timer(timer.timer_id, tick)
        for key, (fn, cron) in wanted.items():
            self._next_tick(fn.config.id, cron, key, tick.now, tick)

    def _next_tick(
        self, function_id: str, cron: str, key: str, after: float, tick: Tick
    ) -> None:
        try:
            at = _schedule(cron).next_after(after)
        except CronError as err:
            # Validated at sync, so only a schedule that never fires again.
            _log.warning("cron %r of %s stops: %s", cron, function_id, err)
            return
        self._book.set_flow_timer(TimerKind.CRON, key, at, tick)

    def on_timer(self, timer: Timer, tick: Tick) -> None:
        """The cron timer ``timer`` fired."""
        assert timer.key is not None  # cron timers are always keyed
        function_id, cron = json.loads(timer.key)
        fn = self._book.functions.get(function_id)
        crons = _crons_of(fn) if fn is not None else []
        trigger = next((t for t in crons if t.cron == cron), None)
        if fn is None or trigger is None:
            return  # the trigger went away: the cycle ends
        scheduled = timer.at
        fire_at = scheduled + jitter_seconds(
            jitter_seed(function_id, cron, scheduled), self._max_jitter(trigger)
        )
        event = self._host._normalize(
            scheduled_timer_event(cron, scheduled, fire_at), tick.now
        )
        self._host._emit(event, tick)
        # Cron runs skip batching but not the rest of the schedule path.
        self._host._admit(fn, [event], tick, key=event["id"])
        self._next_tick(function_id, cron, timer.key, scheduled, tick)

    @staticmethod
    def _max_jitter(trigger: TriggerCron) -> float:
        jitter = trigger.jitter
        if jitter is None:
            return 0.0
        try:
            return (
                parse_jitter(jitter) if isinstance(jitter, str) else to_seconds(jitter)
            )
        except CronError:
            return 0.0

    def next_ticks(self, function_id: str, count: int = 1) -> list[float]:
        """When ``function_id``'s cron triggers fire next (Unix seconds):
        the next ``count`` ticks of each trigger, merged in order."""
        ticks: list[float] = []
        for timer in self._book.state.timers.values():
            if timer.kind is not TimerKind.CRON or timer.key is None:
                continue
            owner, cron = json.loads(timer.key)
            if owner != function_id:
                continue
            at = timer.at
            ticks.append(at)
            for _ in range(count - 1):
                try:
                    at = _schedule(cron).next_after(at)
                except CronError:
                    break  # a schedule that never fires again
                ticks.append(at)
        return sorted(ticks) if count <= 1 else sorted(ticks)[:count]
