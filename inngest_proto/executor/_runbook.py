"""The executor's bookkeeping: ids, timers, calls, steps saved.

:class:`RunBook` owns the run state and the primitives every transition
uses, and moves runs only as :data:`~._lifecycle.RUN_LIFECYCLE` says.  The
executor holds one and hands it to its collaborators (flow control, the op
handler, the AI gateway, the cron timers), which act on runs through it.  It
calls none of them: what a move sets off beyond the run book (publishing
events, freeing concurrency slots) the caller does.  Each input works on one
:class:`Tick`: the time it happened and the actions it yields.
"""

from __future__ import annotations

from typing import Any, Protocol

import attrs

from .._function_config import ROOT_STEP_ID
from ._actions import Action, CallSDK, CancelTimer, SetTimer
from ._endpoints import build_endpoint_request
from ._ids import ulid
from ._lifecycle import RunInput, Transition, lifecycle_actions, transition
from ._registry import DEFAULT_RETRIES, RegisteredFunction
from ._request import MAX_REQUEST_BYTES, CallBodies, build_call_request
from ._state import ExecutorState, Job, JobKind, Run, RunStatus, Timer, TimerKind
from ._timing import backoff_seconds, parse_retry_after

__all__ = ["Changes", "RunBook", "RunEnder", "Tick"]

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


class RunEnder(Protocol):
    """The moves that end a run, which the executor makes (beyond the run
    book they free flow-control slots and publish lifecycle events): what its
    collaborators that end runs need of it."""

    def _fail(self, run: Run, message: str, tick: Tick) -> None: ...

    def _finalize(
        self,
        run: Run,
        status: RunStatus,
        tick: Tick,
        *,
        output: Any,
        error: dict[str, Any] | None = None,
    ) -> None: ...


class RunBook:
    """The run state and the primitives every transition uses.

    ``functions`` is the registry of synced functions (the executor's sync
    fills it).  Held by the executor and handed to its collaborators.
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
        # Only the order of inputs matters: a loaded state that lost count
        # goes on from its newest run.
        newest = max((r.created_input for r in state.runs.values()), default=0)
        state.inputs = max(state.inputs, newest)
        self.functions: dict[str, RegisteredFunction] = {}
        self._signing_key = signing_key
        self._retry_scale = retry_scale
        self._max_request_bytes = max_request_bytes
        self._bodies = CallBodies()
        self._changed_runs: set[str] = set()
        self._changed_flow: set[str] = set()
        self._changed_keys: set[str] = set()

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

    def touch(self, run: Run) -> None:
        """``run`` changed in this input: it must be persisted again."""
        self._changed_runs.add(run.run_id)

    def touch_flow(self, row: str) -> None:
        """A flow-control row (see :class:`Changes`) changed in this input."""
        self._changed_flow.add(row)

    def tick(self, now: float) -> Tick:
        """A new input: counted, so the executor can tell which came first."""
        self.state.inputs += 1
        return Tick(now)

    # -- the lifecycle (see ._lifecycle) ----------------------------------------------

    def open_run(self, what: RunInput, run: Run, tick: Tick) -> Transition:
        """Record the new ``run`` in the status ``what`` starts a run in, and
        announce the row (its events are the caller's to publish)."""
        row = transition(None, what)
        run.status = row.target
        self.state.runs[run.run_id] = run
        self.touch(run)
        self.announce(row, run, tick)
        return row

    def move(self, run: Run, what: RunInput) -> Transition:
        """Move ``run`` as the lifecycle table says ``what`` does; the row.

        The caller announces the row (:meth:`announce`) once the run shows
        the move's outcome, and publishes its events.
        """
        row = transition(run.status, what)
        self.touch(run)
        run.status = row.target
        return row

    @staticmethod
    def announce(row: Transition, run: Run, tick: Tick) -> None:
        """The driver actions ``row`` emits, made from ``run``."""
        tick.out.extend(lifecycle_actions(row, run))

    # -- ids and timers -------------------------------------------------------------

    def mint(self, now: float) -> str:
        self.state.counter += 1
        return ulid(int(now * 1000), self.state.counter)

    def set_timer(
        self,
        run: Run,
        kind: TimerKind,
        at: float,
        tick: Tick,
        *,
        step_id: str | None = None,
        job: Job | None = None,
    ) -> str:
        self.touch(run)
        timer_id = f"{kind.value}-{self.mint(tick.now)}"
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

    def clear_timer(self, run: Run, timer_id: str, tick: Tick) -> None:
        self.touch(run)
        if self.state.timers.pop(timer_id, None) is not None:
            tick.out.append(CancelTimer(timer_id))
        if timer_id in run.timer_ids:
            run.timer_ids.remove(timer_id)

    def set_flow_timer(self, kind: TimerKind, key: str, at: float, tick: Tick) -> str:
        """A timer of no run (debounce, batch, cron), named by ``key``."""
        timer_id = f"{kind.value}-{self.mint(tick.now)}"
        self.state.timers[timer_id] = Timer(
            timer_id=timer_id, run_id="", kind=kind, at=at, key=key
        )
        tick.out.append(SetTimer(timer_id, at))
        return timer_id

    def drop_timer(self, timer_id: str, tick: Tick) -> None:
        """Drop a timer of no run."""
        if self.state.timers.pop(timer_id, None) is not None:
            tick.out.append(CancelTimer(timer_id))

    # -- calls ------------------------------------------------------------------------

    def max_attempts(self, run: Run) -> int:
        if run.endpoint_attempts is not None:
            return run.endpoint_attempts
        fn = self.functions.get(run.function_id)
        return DEFAULT_RETRIES + 1 if fn is None else fn.max_attempts

    def uncallable(self, run: Run) -> str | None:
        """Why no call of ``run`` can go out (its function is gone), or ``None``."""
        if run.endpoint_attempts is None and run.function_id not in self.functions:
            return f"function {run.function_id!r} is not registered"
        return None

    def call(self, run: Run, job: Job, tick: Tick) -> None:
        """Make ``job``'s call (flow control has let it through, and checked
        :meth:`uncallable`)."""
        request_id = self.mint(tick.now)
        self.touch(run)
        run.in_flight[request_id] = job
        if run.endpoint_attempts is not None:
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
            fn = self.functions[run.function_id]
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
                bodies=self._bodies,
            )
        tick.out.append(CallSDK(run.run_id, request_id, request))

    def retry(
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
        self.set_timer(run, TimerKind.RETRY, at, tick, job=retry)

    # -- runs and steps ---------------------------------------------------------------

    def create_run(
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
        the caller starts the run (its first job: :meth:`start_job`).
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
            run_id=self.mint(tick.now),
            function_id=fn.config.id,
            events=events,
            created_at=tick.now,
            created_input=self.state.inputs,
        )
        # The start queue item is named by the key, as the server's is.
        run.job_ids.append(key)
        # Queued until its first call goes out.
        self.open_run(RunInput.SCHEDULED, run, tick)
        return run

    @staticmethod
    def start_job(run: Run) -> Job:
        """The queue item of a run's first call."""
        return Job(job_id=run.job_ids[0], kind=JobKind.START, target=ROOT_STEP_ID)

    def save_memo(self, run: Run, step_id: str, memo: Any) -> None:
        """Record a finished step; the first report of a step wins."""
        self.touch(run)
        if step_id not in run.steps:
            run.steps[step_id] = memo
            run.stack.append(step_id)

    def complete_step(
        self, run: Run, step_id: str, memo: Any, job_suffix: str
    ) -> Job | None:
        """Save a step's memo; the queue item that calls the function again,
        if it is to be called now.

        See docs/protocol/executor.rst#parallel-steps.

        A step of a tracked parallel group calls again only once the whole
        group is done (or at once in race mode); a duplicate save is tolerated.
        """
        self.save_memo(run, step_id, memo)
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
                    return discovery
        if run.pending:
            return None
        run.race_steps.clear()
        # The group is over: later steps may run inline again.
        if run.request_version >= TRACKED_PARALLEL_VERSION:
            run.force_step_plan = False
        return discovery

    def end_run(
        self,
        run: Run,
        row: Transition,
        tick: Tick,
        *,
        output: Any,
        error: dict[str, Any] | None,
    ) -> None:
        """``run`` made the final move ``row``: record its outcome, drop its
        timers and calls, and announce the row.

        The caller has released what flow control held for it (its slots
        are counted by its calls in flight, dropped here).
        """
        run.output = output
        run.error = error
        run.ended_at = tick.now
        for timer_id in list(run.timer_ids):
            self.clear_timer(run, timer_id, tick)
        run.in_flight.clear()
        run.waits.clear()
        run.invokes.clear()
        run.pending.clear()
        self._bodies.forget(run.run_id)
        self.announce(row, run, tick)
