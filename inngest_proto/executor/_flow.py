"""Flow control: what stands between an event and a run's calls.

:class:`FlowControl`, held by the executor, is the "Schedule" path of
docs/protocol/executor.rst#scheduling-order (rate limit and idempotency,
debounce, singleton, then the run with its concurrency keys, priority, cancel
entries and timeouts) and the queue's gates
(docs/protocol/executor.rst#flow-control: throttle delays a run's start,
concurrency holds any call while its buckets are full, priority orders what
waits).  It keeps runs through the :class:`~._runbook.RunBook` it is
given; ending a run or publishing an event it asks of its
:class:`FlowHost`, the executor, which routes events.  Debounce and
batching, which hold the events a run starts with, are in :mod:`._batching`.

Only state in :class:`~._state.ExecutorState` and on runs is persisted; the
indexes here (slots in use, who waits for which bucket, which runs listen
for which cancel event) are rebuilt from it when an executor is created.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Callable
from typing import Any, Protocol

from .._durations import to_seconds
from .._options import Concurrency
from ._actions import RunSkipped
from ._batching import EventHolds
from ._lifecycle import FUNCTION_INVOKED, RunInput, missing_function_finished
from ._limits import (
    IDEMPOTENCY_PERIOD,
    concurrency_bucket,
    priority_factor,
    rate_limit,
    rate_limit_bucket,
    singleton_bucket,
    throttle,
    throttle_bucket,
)
from ._matching import (
    ExpressionError,
    KeyEvaluator,
    ValueEvaluator,
    WaitMatcher,
    log_expression_error,
    pause_matches,
)
from ._registry import RegisteredFunction
from ._runbook import RunBook, RunEnder, Tick
from ._state import CancelPause, FlowDelay, Job, Run, RunStatus, Timer, TimerKind

__all__ = ["MAX_DELAYS", "FlowControl", "FlowHost"]

_log = logging.getLogger(__name__)
#: A ``cancel`` entry without ``timeout`` listens this long
#: (docs/protocol/executor.rst#cancellation-by-event).
_DEFAULT_CANCEL_SECONDS = 365 * 24 * 3600.0
_NO_LIMIT = 1 << 62
#: Flow-control holds a run keeps (``Run.delays``): the newest.
MAX_DELAYS = 50


class FlowHost(RunEnder, Protocol):
    """What flow control uses of the executor that holds it: the moves that
    end a run, and publishing an event (both route events, the executor's)."""

    def _emit(self, event: dict[str, Any], tick: Tick) -> None: ...


class FlowControl:
    """The scheduling path and the queue gates.

    Held by the executor, which hands it each run to schedule
    (:meth:`admit`), each queue item to run (:meth:`enqueue`,
    :meth:`dispatch`), each call that ends (:meth:`vacate`) and run that ends
    (:meth:`forget`), and each event that may cancel runs
    (:meth:`match_cancels`).  ``key_evaluator`` and ``value_evaluator``
    evaluate flow-control keys and values, ``wait_matcher`` a cancel's ``if``.

    The indexes (slots in use, who waits for which bucket, which runs listen
    for which cancel event) are built from the book's (possibly loaded)
    state here.
    """

    def __init__(
        self,
        book: RunBook,
        host: FlowHost,
        *,
        key_evaluator: KeyEvaluator,
        value_evaluator: ValueEvaluator,
        wait_matcher: WaitMatcher,
    ) -> None:
        self._book = book
        self._host = host
        self._key_evaluator = key_evaluator
        self._value_evaluator = value_evaluator
        self._wait_matcher = wait_matcher
        self._holds = EventHolds(book, self, value_evaluator)
        #: Calls in flight per concurrency bucket.
        self._in_use: dict[str, int] = {}
        #: Per bucket, a heap of ``(order, seq, run id, job id)`` waiting for it.
        self._waiting: dict[str, list[tuple[float, int, str, str]]] = {}
        self._seq = itertools.count()
        #: Event name -> ids of running runs with a cancel entry for it.
        self._cancellable: dict[str, set[str]] = {}
        for run in book.state.runs.values():
            if not run.is_running:
                continue
            for bucket in run.concurrency:
                self._in_use[bucket] = self._in_use.get(bucket, 0) + len(run.in_flight)
            for job in run.queued if run.concurrency else ():
                self._queue_for_slot(run, job, next(iter(run.concurrency)))
            for pause in run.cancels:
                self._cancellable.setdefault(pause.event_name, set()).add(run.run_id)

    # -- scheduling (docs/protocol/executor.rst#scheduling-order) -----------------

    def batch(self, fn: RegisteredFunction, event: dict[str, Any], tick: Tick) -> None:
        """An event for ``fn``, which batches its events (see :mod:`._batching`)."""
        self._holds.batch(fn, event, tick)

    def on_hold_timer(self, timer: Timer, tick: Tick) -> None:
        """A debounce or batch timer fired."""
        self._holds.on_timer(timer, tick)

    def admit(
        self,
        fn: RegisteredFunction,
        events: list[dict[str, Any]],
        tick: Tick,
        *,
        debounced: bool = False,
        key: str | None = None,
        batch_id: str | None = None,
        seed: Callable[[Run], None] | None = None,
    ) -> Run | None:
        """Schedule a run of ``fn`` for ``events``, through the flow control.

        ``debounced``: the events come out of a debounce (neither rate
        limited nor debounced again).  ``key``: the run idempotency key
        (default: the first event's id).  ``seed`` fills in the new run
        before its first call is made (a rerun's origin and memos).
        Returns the run, if one was made.
        """
        event = events[0]
        if not debounced:
            refusal = self._rate_limited(fn, event, tick)
            if refusal is not None:
                self._skip(fn, events, refusal, tick)
                return None
            if fn.config.debounce is not None and batch_id is None:
                self._holds.debounce(fn, event, tick)
                return None
        lock = self._singleton_lock(fn, event, tick)
        if lock is False:
            self._skip(fn, events, "singleton: a run holds the lock", tick)
            return None
        run = self._book.create_run(
            fn, events, tick, key=batch_id or (event["id"] if key is None else key)
        )
        if run is None:
            return None
        run.batch_id = batch_id
        if seed is not None:
            seed(run)
        if isinstance(lock, str):
            run.singleton = lock
            self._book.state.singletons[lock] = run.run_id
            self._book.touch_flow(f"singleton:{lock}")
        run.concurrency = self._concurrency_buckets(fn, event, tick.now)
        if fn.config.priority is not None:
            run.priority = self._priority(fn, fn.config.priority.run, event, tick.now)
        start_at = max(tick.now, event["ts"] / 1000)
        if batch_id is None:
            self._listen_for_cancels(fn, run, tick)
            timeouts = fn.config.timeouts
            if timeouts is not None and timeouts.start is not None:
                at = tick.now + to_seconds(timeouts.start)
                self._book.set_timer(run, TimerKind.START_TIMEOUT, at, tick)
        throttled_to = self._throttled(fn, event, start_at, tick.now)
        if throttled_to > start_at:
            run.delays.append(FlowDelay("throttle", start_at, throttled_to))
        job = self._book.start_job(run)
        if throttled_to > tick.now:
            self._book.set_timer(run, TimerKind.START, throttled_to, tick, job=job)
        else:
            self.dispatch(run, job, tick)
        return run

    def _skip(
        self,
        fn: RegisteredFunction,
        events: list[dict[str, Any]],
        reason: str,
        tick: Tick,
    ) -> None:
        """No run for ``events``; an invoker learns why at once."""
        ids = tuple(str(e["id"]) for e in events)
        tick.out.append(RunSkipped(fn.config.id, ids, reason))
        event = events[0]
        if event["name"] != FUNCTION_INVOKED:
            return
        meta = event["data"].get("_inngest")
        correlation = meta.get("correlation_id") if isinstance(meta, dict) else None
        finished = missing_function_finished(
            fn.config.id,
            correlation if isinstance(correlation, str) else None,
            self._book.mint(tick.now),
            tick.now_ms,
            message=f"invoked function is {reason}",
        )
        self._host._emit(finished, tick)

    def key(
        self, expression: str | None, event: dict[str, Any], now: float
    ) -> str | None:
        """A key expression's bucket string at ``now``; ``None`` without one.

        Raises ExpressionError for an expression that does not compile or
        evaluate: each feature decides what that means.
        """
        if expression is None:
            return None
        return self._key_evaluator(expression, event, now)

    def key_or_false(
        self,
        use: str,
        fn: RegisteredFunction,
        expression: str | None,
        event: dict[str, Any],
        now: float,
    ) -> str | None:
        """:meth:`key`, or ``"false"`` (logged) when the key fails: the
        bucket of a missing field, shared by every event the key fails on."""
        try:
            return self.key(expression, event, now)
        except ExpressionError as err:
            log_expression_error(
                use,
                err,
                'the event takes the shared "false" bucket',
                function_id=fn.config.id,
                event=event,
            )
            return "false"

    def _rate_limited(
        self, fn: RegisteredFunction, event: dict[str, Any], tick: Tick
    ) -> str | None:
        """Why ``rateLimit``/``idempotency`` drop the event, or ``None``.

        See docs/protocol/executor.rst#rate-limit-and-idempotency.
        """
        config = fn.config
        limits: list[tuple[str, str | None, int, float]] = []
        if config.rate_limit is not None:
            period = to_seconds(config.rate_limit.period)
            limits.append(("", config.rate_limit.key, config.rate_limit.limit, period))
        if config.idempotency is not None:
            limits.append(("idempotency-", config.idempotency, 1, IDEMPOTENCY_PERIOD))
        for prefix, expression, limit, period in limits:
            try:
                value = self.key(expression, event, tick.now)
            except ExpressionError as err:  # the schedule call fails: no run
                use = "rate limit key" if prefix == "" else "idempotency key"
                log_expression_error(
                    use, err, "no run", function_id=fn.config.id, event=event
                )
                return f"rate limited (its key does not evaluate: {err})"
            bucket = rate_limit_bucket(prefix + fn.uuid, value)
            if bucket is None:
                continue  # the key is false: not limited
            decision = rate_limit(
                self._book.state.limiters.get(bucket),
                tick.now,
                limit=limit,
                period=period,
            )
            if decision.tat is not None:
                self._book.state.limiters[bucket] = decision.tat
                self._book.touch_flow(f"limiter:{bucket}")
            if not decision.allowed:
                return "rate limited" if prefix == "" else "a duplicate (idempotency)"
        return None

    def _singleton_lock(
        self, fn: RegisteredFunction, event: dict[str, Any], tick: Tick
    ) -> str | bool:
        """The singleton bucket the new run takes, ``True`` when it has none,
        ``False`` when it must be skipped
        (docs/protocol/executor.rst#singleton)."""
        singleton = fn.config.singleton
        if singleton is None:
            return True
        # A key that fails is "false", which turns singleton off for the event.
        value = self.key_or_false("singleton key", fn, singleton.key, event, tick.now)
        bucket = singleton_bucket(fn.uuid, value)
        if bucket is None:
            return True
        holder = self._book.state.runs.get(self._book.state.singletons.get(bucket, ""))
        if holder is not None and holder.is_running:
            if singleton.mode == "skip":
                return False
            self._cancel_run(holder, tick)
        return bucket

    def _concurrency_buckets(
        self, fn: RegisteredFunction, event: dict[str, Any], now: float
    ) -> dict[str, int]:
        buckets: dict[str, int] = {}
        for constraint in fn.config.concurrency or ():
            if constraint.limit < 1:
                continue  # 0 is no limit, as the Inngest server reads it
            bucket = self._concurrency_bucket(fn, constraint, event, now)
            buckets[bucket] = min(buckets.get(bucket, _NO_LIMIT), constraint.limit)
        return buckets

    def _concurrency_bucket(
        self,
        fn: RegisteredFunction,
        constraint: Concurrency,
        event: dict[str, Any],
        now: float,
    ) -> str:
        value = self.key_or_false("concurrency key", fn, constraint.key, event, now)
        scope = constraint.scope or "fn"
        if scope != "fn" and value is None:
            scope = "fn"  # rejected at sync; per function if it gets here
        return concurrency_bucket(scope, fn.uuid, value)

    def _priority(
        self, fn: RegisteredFunction, expression: str, event: dict[str, Any], now: float
    ) -> int:
        try:
            return priority_factor(self._value_evaluator(expression, event, now))
        except ExpressionError as err:
            log_expression_error(
                "priority.run",
                err,
                "the run has priority 0",
                function_id=fn.config.id,
                event=event,
            )
            return 0

    def _throttled(
        self, fn: RegisteredFunction, event: dict[str, Any], start_at: float, now: float
    ) -> float:
        """When ``throttle`` lets the run start (never earlier than ``start_at``)."""
        config = fn.config.throttle
        if config is None:
            return start_at
        value = self.key_or_false("throttle key", fn, config.key, event, now)
        bucket = throttle_bucket(fn.uuid, value)
        decision = throttle(
            self._book.state.limiters.get(bucket),
            start_at,
            limit=config.limit,
            period=to_seconds(config.period),
            # An absent ``burst`` is 0, as Go's ``uint`` field reads it (the
            # official Python SDK sends 1 unless told otherwise; JS omits it).
            burst=config.burst or 0,
        )
        if decision.tat is not None:
            self._book.state.limiters[bucket] = decision.tat
            self._book.touch_flow(f"limiter:{bucket}")
        return max(start_at, decision.at)

    # -- cancellation and timeouts (docs/protocol/executor.rst#timeouts) ----------

    def _listen_for_cancels(self, fn: RegisteredFunction, run: Run, tick: Tick) -> None:
        for entry in fn.config.cancel or ():
            timeout = to_seconds(entry.timeout) if entry.timeout else None
            expires = tick.now + (timeout or _DEFAULT_CANCEL_SECONDS)
            run.cancels.append(CancelPause(entry.event, entry.if_exp, expires))
            self._cancellable.setdefault(entry.event, set()).add(run.run_id)

    def match_cancels(self, event: dict[str, Any], tick: Tick) -> None:
        """Cancel the runs ``event`` cancels: later than the run, matching."""
        listening = self._cancellable.get(event["name"])
        if not listening:
            return
        doomed = []
        for run_id in list(listening):
            run = self._book.state.runs.get(run_id)
            if run is None or not run.is_running:
                listening.discard(run_id)
                continue
            if run.created_input >= self._book.state.inputs:
                continue  # the event came with (or before) the run's own
            for pause in run.cancels:
                if pause.event_name != event["name"] or pause.expires_at < tick.now:
                    continue
                if pause_matches(
                    self._wait_matcher,
                    pause.expression,
                    run,
                    event,
                    tick.now,
                    use="cancel if",
                    outcome="the event does not cancel the run",
                ):
                    doomed.append(run)
                    break
        for run in doomed:
            if run.is_running:
                self._cancel_run(run, tick)

    def _cancel_run(self, run: Run, tick: Tick) -> None:
        self._host._finalize(run, RunStatus.CANCELLED, tick, output={})

    def _timed_out(self, run: Run, tick: Tick) -> bool:
        """Whether ``timeouts`` end the run before its next call.

        See docs/protocol/executor.rst#timeouts.
        """
        fn = self._book.functions.get(run.function_id)
        timeouts = None if fn is None else fn.config.timeouts
        if timeouts is None:
            return False
        start, finish = timeouts.start, timeouts.finish
        if run.first_call_at is None:
            late = start is not None and tick.now > run.created_at + to_seconds(start)
        else:
            late = finish is not None and tick.now > run.first_call_at + to_seconds(
                finish
            )
        if late:
            self._cancel_run(run, tick)
        return late

    def on_timeout_timer(self, run: Run, timer: Timer, tick: Tick) -> None:
        if timer.kind is TimerKind.START_TIMEOUT and run.first_call_at is not None:
            return  # it started in time
        self._cancel_run(run, tick)

    # -- the queue gates (docs/protocol/executor.rst#concurrency) ------------------

    def dispatch(self, run: Run, job: Job, tick: Tick) -> None:
        if self._timed_out(run, tick):
            return
        full = self._full_bucket(run)
        if full is not None:
            self._book.touch(run)
            run.queued.append(job)
            job.ready_at = job.ready_at or tick.now
            if len(run.delays) >= MAX_DELAYS:
                # A long run waiting at every step: the latest holds tell why.
                del run.delays[0]
            run.delays.append(FlowDelay("concurrency", tick.now))
            self._queue_for_slot(run, job, full)
            return
        if run.first_call_at is None:
            # The run starts: Queued until now.
            run.first_call_at = tick.now
            row = self._book.move(run, RunInput.FIRST_CALL)
            self._book.announce(row, run, tick)
            fn = self._book.functions.get(run.function_id)
            timeouts = None if fn is None else fn.config.timeouts
            if timeouts is not None and timeouts.finish is not None:
                at = tick.now + to_seconds(timeouts.finish)
                self._book.set_timer(run, TimerKind.FINISH_TIMEOUT, at, tick)
        reason = self._book.uncallable(run)
        if reason is not None:
            self._host._fail(run, reason, tick)
            return
        self._book.call(run, job, tick)
        self.occupied(run)

    def enqueue(self, run: Run, job: Job, tick: Tick) -> None:
        """Dispatch ``job`` unless a queue item with its id was already enqueued."""
        if job.job_id in run.job_ids:
            return
        run.job_ids.append(job.job_id)
        self.dispatch(run, job, tick)

    def _full_bucket(self, run: Run) -> str | None:
        for bucket, limit in run.concurrency.items():
            if self._in_use.get(bucket, 0) >= limit:
                return bucket
        return None

    def _queue_for_slot(self, run: Run, job: Job, bucket: str) -> None:
        # Priority orders the queue as if the item came ``priority`` s earlier.
        order = job.ready_at - run.priority
        entry = (order, next(self._seq), run.run_id, job.job_id)
        heapq.heappush(self._waiting.setdefault(bucket, []), entry)

    def occupied(self, run: Run) -> None:
        """A call of ``run`` went out: it takes a slot of each of its buckets."""
        for bucket in run.concurrency:
            self._in_use[bucket] = self._in_use.get(bucket, 0) + 1

    def vacate(self, run: Run, calls: int, tick: Tick) -> None:
        """``calls`` of ``run`` ended: their slots go to whoever waits."""
        if not calls:
            return
        for bucket in run.concurrency:
            self._in_use[bucket] = max(0, self._in_use.get(bucket, 0) - calls)
        for bucket in run.concurrency:
            self._pump(bucket, tick)

    def _pump(self, bucket: str, tick: Tick) -> None:
        heap = self._waiting.get(bucket)
        while heap:
            _, _, run_id, job_id = heap[0]
            run = self._book.state.runs.get(run_id)
            job = None
            if run is not None and run.is_running:
                job = next((j for j in run.queued if j.job_id == job_id), None)
            if run is None or job is None:
                heapq.heappop(heap)  # it ended (or went) meanwhile
                continue
            if self._in_use.get(bucket, 0) >= run.concurrency.get(bucket, _NO_LIMIT):
                return
            heapq.heappop(heap)
            self._book.touch(run)
            run.queued.remove(job)
            for delay in run.delays:
                if delay.reason == "concurrency" and delay.until is None:
                    delay.until = tick.now
            self.dispatch(run, job, tick)
        self._waiting.pop(bucket, None)

    def forget(self, run: Run, tick: Tick) -> None:
        """A run ended: release what it held (slots, lock, cancel listeners)."""
        calls = len(run.in_flight)
        run.queued.clear()
        lock = run.singleton
        if lock is not None and self._book.state.singletons.get(lock) == run.run_id:
            del self._book.state.singletons[lock]
            self._book.touch_flow(f"singleton:{lock}")
        for pause in run.cancels:
            listening = self._cancellable.get(pause.event_name)
            if listening is not None:
                listening.discard(run.run_id)
        self.vacate(run, calls, tick)
