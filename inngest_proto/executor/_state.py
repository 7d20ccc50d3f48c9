"""Run state as plain data: what a storage layer persists between inputs.

Everything here is a mutable attrs class holding only JSON-like values
(strings, numbers, lists, dicts of parsed JSON), so a SQLite layer can store
it with the converter and load it back; none of it holds the registry of
functions, which apps re-send when they sync.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

__all__ = [
    "Batched",
    "CancelPause",
    "Debounced",
    "ExecutorState",
    "Invoke",
    "Job",
    "JobKind",
    "Run",
    "RunStatus",
    "Timer",
    "TimerKind",
    "Wait",
]


class RunStatus(str, enum.Enum):
    """A run's status.

    ``Queued``: the run exists but its first call has not gone out (it waits
    for a concurrency slot, a throttle, or the ``ts`` it was sent with), as
    the server's ``Scheduled`` (GraphQL ``QUEUED``).  ``Running`` from its
    first call until it ends, sleeping, waiting and invoking included.  The
    REST ``/v1/runs/{id}`` reports a queued run as ``Running``, as the
    server's does (it knows no status before a run finishes).
    """

    QUEUED = "Queued"
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"

    @property
    def graphql(self) -> str:
        """The GraphQL enum spelling (``RUNNING``, ``COMPLETED``, ...)."""
        return self.value.upper()

    @property
    def number(self) -> int:
        """The state store's numeric enum (Running 0 ... Cancelled 3, Scheduled 5)."""
        return _STATUS_NUMBERS[self]


_STATUS_NUMBERS = {
    RunStatus.RUNNING: 0,
    RunStatus.COMPLETED: 1,
    RunStatus.FAILED: 2,
    RunStatus.CANCELLED: 3,
    RunStatus.QUEUED: 5,
}

_NOT_ENDED = frozenset({RunStatus.QUEUED, RunStatus.RUNNING})


class JobKind(str, enum.Enum):
    """Which kind of call a queue item makes.

    See docs/protocol/executor.rst#vocabulary.
    """

    START = "start"
    #: A call with ``stepId=step`` after the start: replay and report what is next.
    DISCOVERY = "discovery"
    #: A call with ``stepId=<hash>``: run exactly that planned step.
    STEP = "step"


@attrs.define
class Job:
    """One queue item: a call to make, with its own 0-based attempt counter."""

    job_id: str
    kind: JobKind
    #: The ``stepId`` query parameter: ``"step"`` or the hashed id to run.
    target: str
    attempt: int = 0
    #: The step whose completion led to this call (for ``ctx.stack.current``).
    follows: str | None = None
    #: When it first waited for a concurrency slot (the queue's order).
    ready_at: float = 0.0


class TimerKind(str, enum.Enum):
    START = "start"
    RETRY = "retry"
    SLEEP = "sleep"
    WAIT_TIMEOUT = "wait-timeout"
    INVOKE_TIMEOUT = "invoke-timeout"
    #: ``timeouts.start`` / ``timeouts.finish`` (docs/protocol/executor.rst#timeouts).
    START_TIMEOUT = "start-timeout"
    FINISH_TIMEOUT = "finish-timeout"
    # Timers of no run (``run_id`` empty), keyed by ``key``:
    #: A debounce period ended: start the run with the last event.
    DEBOUNCE = "debounce"
    #: A batch's timeout passed: start the run with what it holds.
    BATCH = "batch"
    #: A cron tick of function ``key``; ``at`` is the scheduled time.
    CRON = "cron"


@attrs.define
class Timer:
    timer_id: str
    run_id: str
    kind: TimerKind
    #: Unix seconds.
    at: float
    #: The step a sleep, wait or invoke timer belongs to.
    step_id: str | None = None
    #: The queue item a start or retry timer dispatches.
    job: Job | None = None
    #: What a timer of no run is about: a debounce or batch bucket, a function.
    key: str | None = None


@attrs.define
class Wait:
    """A pending ``step.wait_for_event``, or ``step.waitForSignal`` (the
    TypeScript SDK's): then ``signal`` names it and no event matches it
    (``event_name`` is empty)."""

    step_id: str
    event_name: str
    expression: str | None
    timer_id: str
    signal: str | None = None


@attrs.define
class Invoke:
    """A pending ``step.invoke``, resumed by the child's finished event."""

    step_id: str
    correlation_id: str
    timer_id: str


@attrs.define
class CancelPause:
    """A ``cancel`` entry of the function, listening for its event.

    See docs/protocol/executor.rst#cancellation-by-event.
    """

    event_name: str
    expression: str | None
    #: Unix seconds; events after this no longer cancel.
    expires_at: float


@attrs.define
class Debounced:
    """The event a debounce bucket holds until its timer fires.

    See docs/protocol/executor.rst#debounce.
    """

    function_id: str
    event: dict[str, Any]
    #: When the bucket's first event came: the timeout counts from here.
    first_at: float
    timer_id: str


@attrs.define
class Batched:
    """Events collected for a batch run (docs/protocol/executor.rst#batching)."""

    function_id: str
    batch_id: str
    events: list[dict[str, Any]]
    timer_id: str
    #: JSON size of ``events``: a batch over the size limit starts at once.
    size: int = 0


@attrs.define
class FlowDelay:
    """A time flow control held a run back (for people: why it waited).

    ``reason`` is ``"throttle"``, ``"concurrency"`` or ``"debounce"``;
    ``until`` is ``None`` while it still waits for a concurrency slot.
    """

    reason: str
    since: float
    until: float | None = None


@attrs.define
class Run:
    run_id: str
    #: Composite id of the function (``<app>-<fn>``).
    function_id: str
    #: The trigger events in wire form, each with ``id``, ``ts`` and ``user``.
    events: list[dict[str, Any]]
    created_at: float
    status: RunStatus = RunStatus.RUNNING
    #: Memos by hashed step id, and the ids in the order they were saved.
    steps: dict[str, Any] = attrs.field(factory=dict)
    stack: list[str] = attrs.field(factory=list)
    #: ``-1`` until the SDK reports one with ``X-Inngest-Req-Version``.
    request_version: int = -1
    #: Sends ``disable_immediate_execution: true`` (set by parallel replies).
    force_step_plan: bool = False
    #: Ids of parallel ops still running; one discovery once it empties.
    pending: list[str] = attrs.field(factory=list)
    #: Parallel ops in race mode: each completion gets its own discovery.
    race_steps: list[str] = attrs.field(factory=list)
    #: Calls in flight, by request id.
    in_flight: dict[str, Job] = attrs.field(factory=dict)
    #: Every queue item id enqueued for this run: enqueueing one again is a
    #: no-op, which is how the server drops duplicate discoveries and plans.
    job_ids: list[str] = attrs.field(factory=list)
    waits: dict[str, Wait] = attrs.field(factory=dict)
    invokes: dict[str, Invoke] = attrs.field(factory=dict)
    #: Timers still set for this run (sleeps, timeouts, retries).
    timer_ids: list[str] = attrs.field(factory=list)
    output: Any = None
    #: On failure: ``{"error", "name", "message", "stack"?}``
    #: (docs/protocol/executor.rst#lifecycle-events).
    error: dict[str, Any] | None = None
    ended_at: float | None = None
    #: Flow control, decided when the run was scheduled
    #: (docs/protocol/executor.rst#scheduling-order):
    #: concurrency buckets and their limits ...
    concurrency: dict[str, int] = attrs.field(factory=dict)
    #: ... the priority factor (seconds its calls jump the queue) ...
    priority: int = 0
    #: ... the singleton lock it holds ...
    singleton: str | None = None
    #: ... and the ``cancel`` entries listening for it.
    cancels: list[CancelPause] = attrs.field(factory=list)
    #: Which input created the run: only later events cancel it.
    created_input: int = 0
    #: When its first call went out (``timeouts.finish`` counts from here).
    first_call_at: float | None = None
    #: Queue items waiting for a concurrency slot, in the order they came.
    queued: list[Job] = attrs.field(factory=list)
    #: The batch the run was started for.
    batch_id: str | None = None
    #: A durable endpoint's run (its app's HTTP handler started it, see
    #: ``_endpoints``): the attempts each step gets.  ``None`` for the runs
    #: of synced functions.
    endpoint_attempts: int | None = None
    #: A rerun: the run it repeats, and the step it was rerun from (its
    #: memos before that step were copied), if any.
    rerun_of: str | None = None
    rerun_from_step: str | None = None
    #: When flow control held the run back, oldest first.
    delays: list[FlowDelay] = attrs.field(factory=list)

    @property
    def event(self) -> dict[str, Any]:
        return self.events[0]

    @property
    def is_running(self) -> bool:
        """Whether the run has not ended yet: queued or running."""
        return self.status in _NOT_ENDED


@attrs.define
class ExecutorState:
    """Everything the executor remembers; the only thing to persist."""

    runs: dict[str, Run] = attrs.field(factory=dict)
    timers: dict[str, Timer] = attrs.field(factory=dict)
    #: Run idempotency: ``"<fn id>:<event id>"`` -> expiry (Unix seconds).
    seen_keys: dict[str, float] = attrs.field(factory=dict)
    #: Feeds the "random" part of minted ULIDs.
    counter: int = 0
    #: Counts inputs (events, replies, timers), for "after the run started".
    #: Not persisted (restored from the runs), so not compared either.
    inputs: int = attrs.field(default=0, eq=False)
    #: GCRA state (theoretical arrival time) by rate-limit or throttle bucket.
    limiters: dict[str, float] = attrs.field(factory=dict)
    debounces: dict[str, Debounced] = attrs.field(factory=dict)
    batches: dict[str, Batched] = attrs.field(factory=dict)
    #: Singleton bucket -> the run holding it.
    singletons: dict[str, str] = attrs.field(factory=dict)
