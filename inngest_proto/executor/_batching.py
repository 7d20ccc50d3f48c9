"""Events that wait before they start a run: debounce and batches.

See docs/protocol/executor.rst#debounce and docs/protocol/executor.rst#batching.

Both keep their events in :class:`~._state.ExecutorState` under a bucket key
and set a timer of no run (``run_id`` empty, ``key`` the bucket); when it
fires, or a batch fills up, the events go on through
:meth:`~._flow.FlowControl.admit`.  :class:`EventHolds` does this for the
flow control that holds it.
"""

from __future__ import annotations

from typing import Any, Protocol

from .. import _json
from .._durations import to_seconds
from ._limits import batch_bucket, debounce_bucket
from ._matching import ExpressionError, ValueEvaluator, log_expression_error
from ._registry import RegisteredFunction
from ._runbook import RunBook, Tick
from ._state import Batched, Debounced, FlowDelay, Run, Timer, TimerKind

__all__ = ["MAX_BATCH_BYTES", "EventHolds", "HoldsHost"]

#: Stored batch data that starts the run at once, however few events.
MAX_BATCH_BYTES = 10 * 1024 * 1024
#: A batch's ``timeout`` when the config has none.
_DEFAULT_BATCH_SECONDS = 60.0


class HoldsHost(Protocol):
    """What debounce and batching use of the flow control that holds them."""

    def key(
        self, expression: str | None, event: dict[str, Any], now: float
    ) -> str | None: ...

    def key_or_false(
        self,
        use: str,
        fn: RegisteredFunction,
        expression: str | None,
        event: dict[str, Any],
        now: float,
    ) -> str | None: ...

    def admit(
        self,
        fn: RegisteredFunction,
        events: list[dict[str, Any]],
        tick: Tick,
        *,
        debounced: bool = False,
        batch_id: str | None = None,
    ) -> Run | None: ...


class EventHolds:
    """Debounced events and open batches, and the timers that release them.

    Held by the flow control, which hands it each event of a debounced
    function (:meth:`debounce`), each event of a batching function
    (:meth:`batch`) and each of their timers that fires (:meth:`on_timer`).
    It keeps its events and timers in ``book`` and starts runs through
    ``host``; ``value_evaluator`` evaluates a batch's ``if`` expression.
    """

    def __init__(
        self, book: RunBook, host: HoldsHost, value_evaluator: ValueEvaluator
    ) -> None:
        self._book = book
        self._host = host
        self._value_evaluator = value_evaluator

    def debounce(
        self, fn: RegisteredFunction, event: dict[str, Any], tick: Tick
    ) -> None:
        config = fn.config.debounce
        assert config is not None  # only called for debounced functions
        failed = False
        try:
            value = self._host.key(config.key, event, tick.now)
        except ExpressionError as err:
            log_expression_error(
                "debounce key",
                err,
                'the event takes the shared "<invalid>" bucket',
                function_id=fn.config.id,
                event=event,
            )
            value, failed = None, True
        bucket = debounce_bucket(fn.uuid, value, failed)
        self._book.touch_flow(f"debounce:{bucket}")
        held = self._book.state.debounces.get(bucket)
        if held is not None and held.function_id != fn.config.id:
            held = None  # a bucket string of another function: cannot happen
        first_at = tick.now if held is None else held.first_at
        if held is not None:
            # Out-of-order older events do not replace a newer one.
            if event["ts"] >= held.event["ts"]:
                held.event = event
            self._book.drop_timer(held.timer_id, tick)
        at = tick.now + to_seconds(config.period)
        if config.timeout is not None:
            at = min(at, first_at + to_seconds(config.timeout))
        timer_id = self._book.set_flow_timer(TimerKind.DEBOUNCE, bucket, at, tick)
        if held is None:
            held = Debounced(fn.config.id, event, first_at, timer_id)
            self._book.state.debounces[bucket] = held
        held.timer_id = timer_id

    def batch(self, fn: RegisteredFunction, event: dict[str, Any], tick: Tick) -> None:
        config = fn.config.batch_events
        assert config is not None  # only called for batching functions
        if config.if_exp is not None:
            try:
                wanted = self._value_evaluator(config.if_exp, event, tick.now) is True
            except ExpressionError as err:
                log_expression_error(
                    "batchEvents.if",
                    err,
                    "the event runs alone",
                    function_id=fn.config.id,
                    event=event,
                )
                wanted = False
            if not wanted:
                self._host.admit(fn, [event], tick)  # runs at once, alone
                return
        value = self._host.key_or_false("batch key", fn, config.key, event, tick.now)
        bucket = batch_bucket(fn.uuid, value)
        self._book.touch_flow(f"batch:{bucket}")
        batch = self._book.state.batches.get(bucket)
        if batch is None:
            timeout = (
                to_seconds(config.timeout)
                if config.timeout is not None
                else _DEFAULT_BATCH_SECONDS
            )
            timer_id = self._book.set_flow_timer(
                TimerKind.BATCH, bucket, tick.now + timeout, tick
            )
            batch = Batched(fn.config.id, self._book.mint(tick.now), [], timer_id)
            self._book.state.batches[bucket] = batch
        if any(e["id"] == event["id"] for e in batch.events):
            return  # the same event is appended once
        batch.events.append(event)
        # Counted in UTF-8 bytes, as Go measures the batch it stores.
        batch.size += _json.utf8_size(event)
        if len(batch.events) >= config.max_size or batch.size >= MAX_BATCH_BYTES:
            self._book.drop_timer(batch.timer_id, tick)
            self._start_batch(bucket, tick)

    def _start_batch(self, bucket: str, tick: Tick) -> None:
        self._book.touch_flow(f"batch:{bucket}")
        batch = self._book.state.batches.pop(bucket, None)
        fn = None if batch is None else self._book.functions.get(batch.function_id)
        if batch is None or fn is None or not batch.events:
            return
        self._host.admit(fn, batch.events, tick, batch_id=batch.batch_id)

    def _fire_debounce(self, bucket: str, timer_id: str, tick: Tick) -> None:
        held = self._book.state.debounces.get(bucket)
        if held is None or held.timer_id != timer_id:
            return  # a timer the debounce moved on from
        del self._book.state.debounces[bucket]
        self._book.touch_flow(f"debounce:{bucket}")
        fn = self._book.functions.get(held.function_id)
        if fn is None:
            return
        run = self._host.admit(fn, [held.event], tick, debounced=True)
        if run is not None:
            run.delays.append(FlowDelay("debounce", held.first_at, tick.now))

    def on_timer(self, timer: Timer, tick: Tick) -> None:
        """A debounce or batch timer fired."""
        if timer.key is None:
            return
        if timer.kind is TimerKind.DEBOUNCE:
            self._fire_debounce(timer.key, timer.timer_id, tick)
        elif timer.kind is TimerKind.BATCH:
            batch = self._book.state.batches.get(timer.key)
            if batch is not None and batch.timer_id == timer.timer_id:
                self._start_batch(timer.key, tick)
