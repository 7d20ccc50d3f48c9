"""Events that wait before they start a run: debounce and batches.

See docs/protocol/executor.rst#debounce and docs/protocol/executor.rst#batching.

Both keep their events in :class:`~._state.ExecutorState` under a bucket key
and set a timer of no run (``run_id`` empty, ``key`` the bucket); when it
fires, or a batch fills up, the events go on through
:meth:`~._flow.FlowControl._admit`.
"""

from __future__ import annotations

import json
from typing import Any

from .._durations import to_seconds
from ._actions import CancelTimer, SetTimer
from ._flow import FlowControl
from ._limits import batch_bucket, debounce_bucket
from ._registry import RegisteredFunction
from ._runbook import Tick
from ._state import Batched, Debounced, Timer, TimerKind

__all__ = ["MAX_BATCH_BYTES", "Batching"]

#: Stored batch data that starts the run at once, however few events.
MAX_BATCH_BYTES = 10 * 1024 * 1024
#: A batch's ``timeout`` when the config has none.
_DEFAULT_BATCH_SECONDS = 60.0


class Batching(FlowControl):
    def _debounce(
        self, fn: RegisteredFunction, event: dict[str, Any], tick: Tick
    ) -> None:
        config = fn.config.debounce
        assert config is not None  # only called for debounced functions
        failed = False
        try:
            value = self._key(config.key, event)
        except Exception:
            value, failed = None, True
        bucket = debounce_bucket(fn.uuid, value, failed)
        self._changed_flow.add(f"debounce:{bucket}")
        held = self.state.debounces.get(bucket)
        if held is not None and held.function_id != fn.config.id:
            held = None  # a bucket string of another function: cannot happen
        first_at = tick.now if held is None else held.first_at
        if held is not None:
            # Out-of-order older events do not replace a newer one.
            if event["ts"] >= held.event["ts"]:
                held.event = event
            self._drop_timer(held.timer_id, tick)
        at = tick.now + to_seconds(config.period)
        if config.timeout is not None:
            at = min(at, first_at + to_seconds(config.timeout))
        timer_id = self._set_flow_timer(TimerKind.DEBOUNCE, bucket, at, tick)
        if held is None:
            held = Debounced(fn.config.id, event, first_at, timer_id)
            self.state.debounces[bucket] = held
        held.timer_id = timer_id

    def _batch(self, fn: RegisteredFunction, event: dict[str, Any], tick: Tick) -> None:
        config = fn.config.batch_events
        assert config is not None  # only called for batching functions
        if config.if_exp is not None:
            try:
                wanted = self._value_evaluator(config.if_exp, event) is True
            except Exception:
                wanted = False
            if not wanted:
                self._admit(fn, [event], tick)  # runs at once, alone
                return
        try:
            value = self._key(config.key, event)
        except Exception:
            value = "false"
        bucket = batch_bucket(fn.uuid, value)
        self._changed_flow.add(f"batch:{bucket}")
        batch = self.state.batches.get(bucket)
        if batch is None:
            timeout = (
                to_seconds(config.timeout)
                if config.timeout is not None
                else _DEFAULT_BATCH_SECONDS
            )
            timer_id = self._set_flow_timer(
                TimerKind.BATCH, bucket, tick.now + timeout, tick
            )
            batch = Batched(fn.config.id, self._mint(tick.now), [], timer_id)
            self.state.batches[bucket] = batch
        if any(e["id"] == event["id"] for e in batch.events):
            return  # the same event is appended once
        batch.events.append(event)
        batch.size += len(json.dumps(event, separators=(",", ":")))
        if len(batch.events) >= config.max_size or batch.size >= MAX_BATCH_BYTES:
            self._drop_timer(batch.timer_id, tick)
            self._start_batch(bucket, tick)

    def _start_batch(self, bucket: str, tick: Tick) -> None:
        self._changed_flow.add(f"batch:{bucket}")
        batch = self.state.batches.pop(bucket, None)
        fn = None if batch is None else self._functions.get(batch.function_id)
        if batch is None or fn is None or not batch.events:
            return
        self._admit(fn, batch.events, tick, batch_id=batch.batch_id)

    def _fire_debounce(self, bucket: str, timer_id: str, tick: Tick) -> None:
        held = self.state.debounces.get(bucket)
        if held is None or held.timer_id != timer_id:
            return  # a timer the debounce moved on from
        del self.state.debounces[bucket]
        self._changed_flow.add(f"debounce:{bucket}")
        fn = self._functions.get(held.function_id)
        if fn is None:
            return
        self._admit(fn, [held.event], tick, debounced=True)

    # -- timers of no run -------------------------------------------------------------

    def _set_flow_timer(self, kind: TimerKind, key: str, at: float, tick: Tick) -> str:
        timer_id = f"{kind.value}-{self._mint(tick.now)}"
        self.state.timers[timer_id] = Timer(
            timer_id=timer_id, run_id="", kind=kind, at=at, key=key
        )
        tick.out.append(SetTimer(timer_id, at))
        return timer_id

    def _drop_timer(self, timer_id: str, tick: Tick) -> None:
        if self.state.timers.pop(timer_id, None) is not None:
            tick.out.append(CancelTimer(timer_id))

    def _on_flow_timer(self, timer: Timer, tick: Tick) -> None:
        """A timer of no run fired."""
        if timer.key is None:
            return
        if timer.kind is TimerKind.DEBOUNCE:
            self._fire_debounce(timer.key, timer.timer_id, tick)
        elif timer.kind is TimerKind.BATCH:
            batch = self.state.batches.get(timer.key)
            if batch is not None and batch.timer_id == timer.timer_id:
                self._start_batch(timer.key, tick)
