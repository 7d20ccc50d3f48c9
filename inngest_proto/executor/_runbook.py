"""The executor's bookkeeping: ids, timers, queue items, steps saved.

:class:`RunBook` holds the state and the primitives every transition uses;
:class:`~._executor.Executor` builds the transitions on top.  Each input
works on one :class:`Tick`: the time it happened and the actions it yields.
"""

from __future__ import annotations

import abc
from typing import Any

import attrs

from .._function_config import ROOT_STEP_ID
from ._actions import Action, CallSDK, CancelTimer, RunStarted, SetTimer
from ._endpoints import build_endpoint_request
from ._ids import ulid
from ._lifecycle import RunInput, Transition, transition
from ._registry import DEFAULT_RETRIES, RegisteredFunction
from ._request import MAX_REQUEST_BYTES, build_call_request
from ._state import ExecutorState, Job, JobKind, Run, Timer, TimerKind
from ._timing import backoff_seconds, parse_retry_after

__all__ = ["Changes", "RunBook", "Tick"]

_IDEMPOTENCY_SECONDS = 24 * 3600.0
# Expired keys are pruned past this many, so the map stays bounded.
_SEEN_KEYS_SOFT_LIMIT = 10_000
#: The request version from which parallel groups are tracked
#: (docs/protocol/executor.rst#parallel-steps).
TRACKED_PARALLEL_VERSION = 2


@attrs.frozen
class Changes:
    """What inputs changed since the last :meth:`RunBook.take_changes`.

    A store writes just these: ``runs`` by id, ``flow`` rows
    (``limiter:``/``debounce:``/``batch:``/``singleton:`` + bucket) and
    ``seen_keys``.  Timers it compares itself (they are few and immutable).
    """

    runs: frozenset[str]
    flow: frozenset[str]
    seen_keys: frozenset[str]


@attrs.define
class Tick:
    """One input being handled: its time (Unix seconds) and the actions so far."""

    now: float
    out: list[Action] = attrs.field(factory=list)

    @property
    def now_ms(self) -> int:
        return int(self.now * 1000)


class RunBook(abc.ABC):
    """The run state and the primitives every transition uses.

    Abstract: failing a run publishes lifecycle events, which only the
    executor can route, so :meth:`_fail` is the executor's; the slots a call
    takes (:meth:`_occupied`) are the flow control's.
    """

    def __init__(
        self,
        *,
        state: ExecutorState,
        signing_key: str | None,
        retry_scale: float,
        max_request_bytes: int = MAX_REQUEST_BYTES,
    ) -> None:
        if not retry_scale >= 0:
            msg = f"retry_scale must be >= 0, got {retry_scale!r}"
            raise ValueError(msg)
        self.state = state
        self._signing_key = signing_key
        self._retry_scale = retry_scale
        self._max_request_bytes = max_request_bytes
        self._changed_runs: set[str] = set()
        self._changed_flow: set[str] = set()
        self._changed_keys: set[str] = set()
        self._functions: dict[str, RegisteredFunction] = {}

    @abc.abstractmethod
    def _fail(self, run: Run, message: str, tick: Tick) -> None:
        """Fail ``run`` for a reason of the executor's own."""

    def take_changes(self) -> Changes:
        """What changed since the last call (for incremental persistence)."""
        changes = Changes(
            frozenset(self._changed_runs),
            frozenset(self._changed_flow),
            frozenset(self._changed_keys),
        )
        self._changed_runs.clear()
        self._changed_flow.clear()
        self._changed_keys.clear()
        return changes

    def _touch(self, run: Run) -> None:
        """``run`` changed in this input: it must be persisted again."""
        self._changed_runs.add(run.run_id)

    def _touch_flow(self, row: str) -> None:
        """A flow-control row (see :class:`Changes`) changed in this input."""
        self._changed_flow.add(row)

    def _move(self, run: Run, what: RunInput) -> Transition:
        """Move ``run`` as the lifecycle table says ``what`` does; the row."""
        row = transition(run.status, what)
        self._touch(run)
        run.status = row.target
        return row

    def _tick(self, now: float) -> Tick:
        """A new input: counted, so the executor can tell which came first."""
        self.state.inputs += 1
        return Tick(now)

    # -- ids and timers -------------------------------------------------------------

    def _mint(self, now: float) -> str:
        self.state.counter += 1
        return ulid(int(now * 1000), self.state.counter)

    def _set_timer(
        self,
        run: Run,
        kind: TimerKind,
        at: float,
        tick: Tick,
        *,
        step_id: str | None = None,
        job: Job | None = None,
    ) -> str:
        self._touch(run)
        timer_id = f"{kind.value}-{self._mint(tick.now)}"
        self.state.timers[timer_id] = Timer(
            timer_id=timer_id,
            run_id=run.run_id,
            kind=kind,
            at=at,
            step_id=step_id,
            job=job,
        )
        run.timer_ids.append(timer_id)
        tick.out.append(SetTimer(timer_id, at))
        return timer_id

    def _clear_timer(self, run: Run, timer_id: str, tick: Tick) -> None:
        self._touch(run)
        if self.state.timers.pop(timer_id, None) is not None:
            tick.out.append(CancelTimer(timer_id))
        if timer_id in run.timer_ids:
            run.timer_ids.remove(timer_id)

    def _set_flow_timer(self, kind: TimerKind, key: str, at: float, tick: Tick) -> str:
        """A timer of no run (debounce, batch, cron), named by ``key``."""
        timer_id = f"{kind.value}-{self._mint(tick.now)}"
        self.state.timers[timer_id] = Timer(
            timer_id=timer_id, run_id="", kind=kind, at=at, key=key
        )
        tick.out.append(SetTimer(timer_id, at))
        return timer_id

    def _drop_timer(self, timer_id: str, tick: Tick) -> None:
        """Drop a timer of no run."""
        if self.state.timers.pop(timer_id, None) is not None:
            tick.out.append(CancelTimer(timer_id))

    # -- queue items ----------------------------------------------------------------

    def _max_attempts(self, run: Run) -> int:
        if run.endpoint_attempts is not None:
            return run.endpoint_attempts
        fn = self._functions.get(run.function_id)
        return DEFAULT_RETRIES + 1 if fn is None else fn.max_attempts

    def _enqueue(self, run: Run, job: Job, tick: Tick) -> None:
        """Dispatch ``job`` unless a queue item with its id was already enqueued."""
        if job.job_id in run.job_ids:
            return
        run.job_ids.append(job.job_id)
        self._dispatch(run, job, tick)

    def _dispatch(self, run: Run, job: Job, tick: Tick) -> None:
        """Make ``job``'s call; flow control may hold it back (``FlowControl``)."""
        self._call(run, job, tick)

    @abc.abstractmethod
    def _occupied(self, run: Run) -> None:
        """A call of ``run`` went out (flow control: it takes concurrency slots)."""

    def _call(self, run: Run, job: Job, tick: Tick) -> None:
        fn = None
        if run.endpoint_attempts is None:
            fn = self._functions.get(run.function_id)
            if fn is None:
                msg = f"function {run.function_id!r} is not registered"
                self._fail(run, msg, tick)
                return
        request_id = self._mint(tick.now)
        self._touch(run)
        run.in_flight[request_id] = job
        self._occupied(run)
        if fn is None:
            # A durable endpoint: no synced function; its first request is
            # the one to make again.
            request = build_endpoint_request(
                run=run,
                job=job,
                request_id=request_id,
                signing_key=self._signing_key,
                now=tick.now,
            )
        else:
            request = build_call_request(
                run=run,
                job=job,
                runtime_url=fn.runtime_url,
                fn_uuid=fn.uuid,
                max_attempts=fn.max_attempts,
                request_id=request_id,
                signing_key=self._signing_key,
                now=tick.now,
                max_body_bytes=self._max_request_bytes,
            )
        tick.out.append(CallSDK(run.run_id, request_id, request))

    def _retry(
        self,
        run: Run,
        job: Job,
        retry_after: str | None,
        tick: Tick,
        *,
        at_once: bool = False,
    ) -> None:
        """Run the same queue item again, with its attempt counter bumped:
        at ``retry_after`` if readable, else after the backoff, or ``at_once``
        (still through a timer, so it is saved and dispatched like any retry)."""
        at = tick.now if at_once else parse_retry_after(retry_after, tick.now)
        if at is None:
            delay = backoff_seconds(job.job_id, job.attempt, self._retry_scale)
            at = tick.now + delay
        retry = attrs.evolve(job, attempt=job.attempt + 1)
        self._set_timer(run, TimerKind.RETRY, at, tick, job=retry)

    # -- runs and steps ---------------------------------------------------------------

    def _create_run(
        self,
        fn: RegisteredFunction,
        events: list[dict[str, Any]],
        tick: Tick,
        *,
        key: str,
    ) -> Run | None:
        """A new run, unless ``key`` already made one (run idempotency:
        docs/protocol/executor.rst#scheduling-order).

        ``key`` is the first event's id, a batch's id, or a cron tick's time;
        the caller starts the run with :meth:`_start_run`.
        """
        key = f"{fn.config.id}:{key}"
        seen = self.state.seen_keys
        if seen.get(key, 0.0) > tick.now:
            return None
        if len(seen) > _SEEN_KEYS_SOFT_LIMIT:
            for old in [k for k, expiry in seen.items() if expiry <= tick.now]:
                del seen[old]
                self._changed_keys.add(old)
        seen[key] = tick.now + _IDEMPOTENCY_SECONDS
        self._changed_keys.add(key)
        run = Run(
            run_id=self._mint(tick.now),
            function_id=fn.config.id,
            events=events,
            created_at=tick.now,
            created_input=self.state.inputs,
            # Queued until its first call goes out.
            status=transition(None, RunInput.SCHEDULED).target,
        )
        # The start queue item is named by the key, as the server's is.
        run.job_ids.append(key)
        self.state.runs[run.run_id] = run
        self._touch(run)
        event_ids = tuple(e["id"] for e in events)
        tick.out.append(RunStarted(run.run_id, fn.config.id, event_ids))
        return run

    def _start_run(self, run: Run, start_at: float, tick: Tick) -> None:
        """Dispatch the run's first call, at ``start_at`` if that is later."""
        job = Job(job_id=run.job_ids[0], kind=JobKind.START, target=ROOT_STEP_ID)
        if start_at > tick.now:
            self._set_timer(run, TimerKind.START, start_at, tick, job=job)
        else:
            self._dispatch(run, job, tick)

    def _save_memo(self, run: Run, step_id: str, memo: Any) -> None:
        """Record a finished step; the first report of a step wins."""
        self._touch(run)
        if step_id not in run.steps:
            run.steps[step_id] = memo
            run.stack.append(step_id)

    def _complete_step(
        self, run: Run, step_id: str, memo: Any, job_suffix: str, tick: Tick
    ) -> None:
        """Save a step's memo, then call the function again.

        See docs/protocol/executor.rst#parallel-steps.

        A step of a tracked parallel group calls again only once the whole
        group is done (or at once in race mode); a duplicate save is tolerated.
        """
        self._save_memo(run, step_id, memo)
        discovery = Job(
            job_id=f"{run.run_id}-{step_id}-{job_suffix}",
            kind=JobKind.DISCOVERY,
            target=ROOT_STEP_ID,
            follows=step_id,
        )
        if step_id in run.pending:
            run.pending.remove(step_id)
            if step_id in run.race_steps:
                run.race_steps.remove(step_id)
                if run.pending:
                    self._enqueue(run, discovery, tick)
                    return
        if run.pending:
            return
        run.race_steps.clear()
        # The group is over: later steps may run inline again.
        if run.request_version >= TRACKED_PARALLEL_VERSION:
            run.force_step_plan = False
        self._enqueue(run, discovery, tick)
