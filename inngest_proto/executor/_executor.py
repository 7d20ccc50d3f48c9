"""The executor: a deterministic run state machine, in the h11 manner.

Inputs are method calls (an event arrived, the SDK answered, a timer fired,
a run was cancelled), each with the current time; each returns the actions
the driver must perform.  Nothing here reads a clock, sleeps, or does I/O, so
the same inputs always give the same actions, and a dev server, a test
toolkit or a simulation can run it on any clock.

The executor takes the inputs, routes events and ends runs; the rest it hands
to collaborators it holds, each given the :class:`~._runbook.RunBook` (the run
state, moved only as :data:`~._lifecycle.RUN_LIFECYCLE` says) and a narrow
host interface the executor implements: :class:`~._flow.FlowControl` (limits,
keys, queues), :class:`~._ops.OpHandler` (reply ops and run timers),
:class:`~._ai.AIGateway` and :class:`~._cron_timers.CronTimers`.  None of
them reaches another but through the executor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .. import expressions
from .._converter import unstructure
from .._events import Event
from .._function_config import FunctionConfig
from .._http_values import OutboundResponse
from .._opcodes import Opcode, StepOp
from .._options import TriggerEvent
from ._actions import Action, CallFailure, EmitEvent, WaitResumed
from ._ai import AIGateway
from ._checkpoint import Checkpoint, CheckpointRejected, save_checkpoint, step_memo
from ._cron_timers import CronTimers
from ._endpoints import (
    EndpointRun,
    EndpointSteps,
    endpoint_function_uuid,
    run_complete_outcome,
)
from ._flow import FlowControl
from ._lifecycle import (
    FUNCTION_FAILED,
    FUNCTION_FINISHED,
    FUNCTION_INVOKED,
    RunInput,
    failure_error,
    finished_data,
    invoke_memo,
    missing_function_finished,
    reported_error_name,
)
from ._matching import (
    ExpressionError,
    KeyEvaluator,
    TriggerMatcher,
    ValueEvaluator,
    WaitMatcher,
    log_expression_error,
    name_patterns,
    pause_matches,
)
from ._ops import OpHandler
from ._registry import RegisteredFunction, register_function
from ._reply import (
    NON_RETRIABLE,
    AttemptFailed,
    FunctionOutput,
    Reply,
    StepOps,
    read_reply,
)
from ._request import MAX_REQUEST_BYTES
from ._runbook import Changes, RunBook, Tick
from ._state import (
    ExecutorState,
    Job,
    JobKind,
    Run,
    RunStatus,
    Timer,
    TimerKind,
    Wait,
)

__all__ = ["Executor"]

#: The lifecycle input that ends a run in each final status.
_ENDING = {
    RunStatus.COMPLETED: RunInput.RETURNED,
    RunStatus.FAILED: RunInput.FAILED,
    RunStatus.CANCELLED: RunInput.CANCELLED,
}


class Executor:
    """Runs functions of synced apps: events and SDK replies in, actions out.

    ``signing_key`` signs call requests (leave it ``None`` in dev mode).
    ``retry_scale`` multiplies the retry backoff (``0`` retries at once, for
    tests); an explicit ``Retry-After`` is not scaled.  ``trigger_matcher``
    and ``wait_matcher`` evaluate trigger ``expression``s and wait ``if``
    conditions on events in wire form, and ``key_evaluator`` and
    ``value_evaluator`` the flow-control keys and values, each at the time
    of the input (the defaults are CEL, :mod:`inngest_proto.expressions`).
    ``state`` resumes from persisted state.
    ``max_request_bytes`` is the call request size above which the state is
    left for the SDK to fetch (``use_api``).
    """

    def __init__(
        self,
        *,
        signing_key: str | None = None,
        retry_scale: float = 1.0,
        trigger_matcher: TriggerMatcher = expressions.trigger_matcher,
        wait_matcher: WaitMatcher = expressions.wait_matcher,
        key_evaluator: KeyEvaluator = expressions.evaluate_key,
        value_evaluator: ValueEvaluator = expressions.evaluate_value,
        state: ExecutorState | None = None,
        max_request_bytes: int = MAX_REQUEST_BYTES,
    ) -> None:
        self._book = RunBook(
            state=state if state is not None else ExecutorState(),
            signing_key=signing_key,
            retry_scale=retry_scale,
            max_request_bytes=max_request_bytes,
        )
        self._trigger_matcher = trigger_matcher
        self._wait_matcher = wait_matcher
        self._flow = FlowControl(
            self._book,
            self,
            key_evaluator=key_evaluator,
            value_evaluator=value_evaluator,
            wait_matcher=wait_matcher,
        )
        self._ai = AIGateway(self._book, self)
        self._ops = OpHandler(self._book, self, self._ai)
        self._crons = CronTimers(self._book, self)
        #: Event name -> ids of runs that may wait for it (an ordered set,
        #: dropped from lazily), so an event is not matched against every run.
        self._waiting_runs: dict[str, dict[str, None]] = {}
        for run in self.state.runs.values():
            for wait in run.waits.values() if run.is_running else ():
                self._index_wait(run, wait)

    @property
    def state(self) -> ExecutorState:
        """Everything a store persists (the run book's)."""
        return self._book.state

    def take_changes(self) -> Changes:
        """What changed since the last call (for incremental persistence)."""
        return self._book.take_changes()

    # -- registry -------------------------------------------------------------------

    def register_app(
        self,
        app_url: str,
        configs: Iterable[FunctionConfig],
        now: float | None = None,
    ) -> list[Action]:
        """Make ``configs`` the functions of the app at ``app_url`` (a sync).

        Functions the app no longer lists are dropped; their running runs fail
        at their next call.  With ``now``, cron triggers are scheduled from
        then (and the actions set their timers); without, crons wait for a
        sync that gives the time.
        """
        gone = [k for k, f in self._book.functions.items() if f.app_url == app_url]
        for fn_id in gone:
            del self._book.functions[fn_id]
        registered = []
        for config in configs:
            fn = register_function(app_url, config)
            self._book.functions[config.id] = fn
            registered.append(fn)
        if now is None:
            return []
        tick = self._book.tick(now)
        self._crons.sync(registered, gone, tick)
        return tick.out

    @property
    def functions(self) -> Mapping[str, RegisteredFunction]:
        return self._book.functions

    def get_run(self, run_id: str) -> Run | None:
        return self.state.runs.get(run_id)

    def forget(self, run_id: str) -> bool:
        """Drop a run that has ended from the state: nothing the executor
        does needs it any more, and a host that keeps it (a store) keeps it
        out of memory.  A run that has not ended stays.  Returns whether it
        was dropped.  Not a change (``take_changes``): the run is the same,
        only no longer here."""
        run = self.state.runs.get(run_id)
        if run is None or run.is_running:
            return False
        del self.state.runs[run_id]
        return True

    # -- inputs ---------------------------------------------------------------------

    def receive_event(
        self, event: Event | Mapping[str, Any], now: float
    ) -> list[Action]:
        """Route an incoming event: start runs, resume waits and invokes.

        An event without ``id`` gets a new ULID and one without ``ts`` gets
        ``now``; give the id yourself to know it.
        """
        raw = unstructure(event) if isinstance(event, Event) else dict(event)
        tick = self._book.tick(now)
        self._route(self._normalize(raw, now), tick)
        return tick.out

    def call_finished(
        self,
        run_id: str,
        request_id: str,
        response: OutboundResponse,
        now: float,
        *,
        reply: Reply | None = None,
    ) -> list[Action]:
        """The app answered the call ``request_id`` of ``run_id``.

        ``reply``: ``read_reply(response)``, if the caller has read it
        already (the dev server reads each reply once, for its history too).
        """
        tick = self._book.tick(now)
        found = self._in_flight(run_id, request_id, tick)
        if found is None:
            return tick.out  # the run ended (e.g. cancelled) meanwhile: discard
        run, job = found
        if reply is None:
            reply = read_reply(response)
        if reply.request_version is not None:
            run.request_version = reply.request_version
        outcome = reply.outcome
        if isinstance(outcome, FunctionOutput):
            self._finalize(run, RunStatus.COMPLETED, tick, output=outcome.value)
        elif isinstance(outcome, AttemptFailed):
            self._attempt_failed(run, job, outcome, reply, tick)
        else:
            self._ops.handle_ops(run, job, outcome.ops, reply, tick)
        return tick.out

    def call_failed(
        self,
        run_id: str,
        request_id: str,
        error_text: str,
        now: float,
        *,
        why: CallFailure = CallFailure.NO_REPLY,
    ) -> list[Action]:
        """The call got no reply: the attempt failed, and is retried.

        ``why`` decides when: after the backoff for an app that did not
        answer, at once for a Connect worker that stopped responding (see
        :class:`CallFailure`); ``error_text`` is the run's error once the
        retries are spent.
        """
        tick = self._book.tick(now)
        found = self._in_flight(run_id, request_id, tick)
        if found is not None:
            run, job = found
            failure = AttemptFailed(error_text)
            no_headers = Reply(failure, None, retry_after=None, request_version=None)
            at_once = why is CallFailure.WORKER_LOST
            self._attempt_failed(run, job, failure, no_headers, tick, at_once=at_once)
        return tick.out

    def ai_finished(
        self,
        run_id: str,
        request_id: str,
        response: OutboundResponse,
        now: float,
        *,
        url: str = "",
    ) -> list[Action]:
        """The :class:`CallAI` ``request_id`` got a reply (any status) from
        ``url`` (which a ``Gateway`` op's memo names)."""
        tick = self._book.tick(now)
        self._ai.finished(run_id, request_id, response, url, tick)
        return tick.out

    def ai_failed(
        self, run_id: str, request_id: str, error_text: str, now: float
    ) -> list[Action]:
        """The :class:`CallAI` ``request_id`` got no reply (connection, timeout)."""
        tick = self._book.tick(now)
        self._ai.failed(run_id, request_id, error_text, tick)
        return tick.out

    def signal(
        self, name: str, data: Any, now: float
    ) -> tuple[str | None, list[Action]]:
        """Resume the run that waits for signal ``name`` (``POST /v1/signals``).

        Its step ends with ``{"signal": name, "data": data}``.  The id of the
        run resumed (the oldest waiting), or ``None`` when none waits.
        """
        tick = self._book.tick(now)
        for run in self.state.runs.values():
            if not run.is_running:
                continue
            for wait in run.waits.values():
                if wait.signal == name:
                    del run.waits[wait.step_id]
                    self._book.clear_timer(run, wait.timer_id, tick)
                    memo = {"signal": name, "data": data}
                    self._complete_step(run, wait.step_id, memo, "signal", tick)
                    return run.run_id, tick.out
        return None, tick.out

    def timer_fired(self, timer_id: str, now: float) -> list[Action]:
        tick = self._book.tick(now)
        timer = self.state.timers.pop(timer_id, None)
        if timer is None:
            return tick.out  # cancelled, or fired twice
        if not timer.run_id:
            if timer.kind is TimerKind.CRON:
                self._crons.on_timer(timer, tick)
            else:
                self._flow.on_hold_timer(timer, tick)
            return tick.out
        run = self.state.runs.get(timer.run_id)
        if run is None or not run.is_running:
            return tick.out
        if timer_id in run.timer_ids:
            run.timer_ids.remove(timer_id)
        self._book.touch(run)
        self._ops.on_timer(run, timer, tick)
        return tick.out

    def next_ticks(self, function_id: str, count: int = 1) -> list[float]:
        """When ``function_id``'s cron triggers fire next (Unix seconds).

        ``count=1``: the next tick of each cron trigger; more: the first
        ``count`` ticks of all its triggers, in order.
        """
        return self._crons.next_ticks(function_id, count)

    def cancel(self, run_id: str, now: float) -> list[Action]:
        """Cancel a run (``DELETE /v1/runs/{id}``); a call in flight keeps
        going but its reply is discarded."""
        tick = self._book.tick(now)
        run = self.state.runs.get(run_id)
        if run is not None and run.is_running:
            self._finalize(run, RunStatus.CANCELLED, tick, output={})
        return tick.out

    def rerun(
        self,
        run_id: str,
        now: float,
        *,
        from_step: str | None = None,
        run: Run | None = None,
    ) -> list[Action]:
        """Start a new run of ``run_id``'s function with the same trigger events.

        Only that function runs: the events are not routed again.  Being an
        explicit request, the rerun skips rate limits, debounce and run
        idempotency; concurrency, throttling and singletons still apply.
        Its :class:`RunStarted` (or :class:`RunSkipped`) is among the actions.

        ``from_step`` (a hashed step id the run saved) reruns from that
        step, as the Inngest server's "rerun from step" does: the memos the
        run saved before it are copied into the new run, so the SDK skips
        those steps and runs that step and everything after it again.
        The new run's ``rerun_of`` names ``run_id``.

        ``run``: the run itself, when the host kept it after :meth:`forget`.

        Raises :class:`KeyError` for an unknown run and :class:`ValueError`
        when its function is no longer registered or ``from_step`` is not a
        step the run saved.
        """
        run = self.state.runs.get(run_id) if run is None else run
        if run is None:
            raise KeyError(run_id)
        fn = self._book.functions.get(run.function_id)
        if fn is None:
            msg = f"function {run.function_id!r} is not registered"
            raise ValueError(msg)
        kept: list[str] = []
        if from_step is not None:
            if from_step not in run.steps:
                msg = f"step {from_step!r} is not a step the run saved"
                raise ValueError(msg)
            kept = run.stack[: run.stack.index(from_step)]

        def seed(new: Run) -> None:
            new.rerun_of = run.run_id
            new.rerun_from_step = from_step
            for step_id in kept:
                self._book.save_memo(new, step_id, run.steps[step_id])

        tick = self._book.tick(now)
        events = [dict(event) for event in run.events]
        # A fresh idempotency key: the original run's key is taken.
        key = self._book.mint(now)
        self._flow.admit(fn, events, tick, debounced=True, key=key, seed=seed)
        return tick.out

    def checkpoint(self, checkpoint: Checkpoint, now: float) -> list[Action]:
        """Steps an SDK reports while its call runs on.

        See docs/protocol/executor.rst#async-checkpoints.

        Raises :class:`CheckpointRejected` for a run that is not running
        (or not of the function named), as the server answers 400.
        """
        tick = self._book.tick(now)
        save_checkpoint(self._book, checkpoint)
        return tick.out

    # -- durable endpoints (see ._endpoints) -------------------------------------------

    def start_endpoint_run(self, start: EndpointRun, now: float) -> list[Action]:
        """A run a durable endpoint started (``POST /v1/checkpoint``).

        Its ``inngest/http.request`` event is published first (stored, and
        routed like any event), then the run is created under the SDK's id
        and the steps it reports are handled.  Raises
        :class:`CheckpointRejected` (409) when the id is taken.
        """
        if start.run_id in self.state.runs:
            raise CheckpointRejected("Run already exists", status=409)
        tick = self._book.tick(now)
        event = self._normalize(start.event, now)
        self._emit(event, tick)
        run = Run(
            run_id=start.run_id,
            function_id=start.function_slug,
            events=[event],
            created_at=now,
            created_input=self.state.inputs,
            request_version=start.request_version,
            endpoint_attempts=start.max_attempts,
        )
        self._book.open_run(RunInput.OPENED, run, tick)
        self._endpoint_ops(run, start.ops, tick)
        return tick.out

    def endpoint_steps(self, steps: EndpointSteps, now: float) -> list[Action]:
        """More steps of a durable endpoint's run (``.../steps``).

        Raises :class:`CheckpointRejected`: 404 for an unknown run, 400 for a
        run of a synced function, one that ended, or another function's.
        """
        run = self.state.runs.get(steps.run_id)
        if run is None:
            raise CheckpointRejected(f"run {steps.run_id} not found", status=404)
        if run.endpoint_attempts is None:
            msg = f"run {steps.run_id} is not a durable endpoint's run"
            raise CheckpointRejected(msg)
        if not run.is_running:
            raise CheckpointRejected(f"run {steps.run_id} has already finished")
        if steps.fn_id and steps.fn_id != endpoint_function_uuid(run.event):
            raise CheckpointRejected(
                f"run {steps.run_id} is not of function {steps.fn_id}"
            )
        tick = self._book.tick(now)
        self._book.touch(run)
        self._endpoint_ops(run, steps.ops, tick)
        return tick.out

    def _endpoint_ops(self, run: Run, ops: tuple[StepOp, ...], tick: Tick) -> None:
        """What sync-checkpointed ops do: finished steps are only saved (the
        SDK goes on inline), ``RunComplete`` ends the run, and every other op
        hands the run to the executor, as the ops of a reply do."""
        rest: list[StepOp] = []
        complete: StepOp | None = None
        for op in ops:
            if op.op in {Opcode.STEP_RUN, Opcode.STEP}:
                self._book.save_memo(run, op.id, step_memo(op))
            elif op.op is Opcode.RUN_COMPLETE:
                complete = op
            elif op.op is not Opcode.NONE:
                rest.append(op)
        if rest:
            # As if the endpoint's first attempt had answered with these ops.
            job = Job(job_id=f"{run.run_id}-sync", kind=JobKind.START, target="step")
            reply = Reply(StepOps(tuple(rest)), None, None, None)
            self._ops.handle_ops(run, job, tuple(rest), reply, tick)
        if complete is not None and run.is_running:
            status, output, error = run_complete_outcome(run, complete.data)
            self._finalize(run, status, tick, output=output, error=error)

    # -- events ---------------------------------------------------------------------

    def _normalize(self, event: dict[str, Any], now: float) -> dict[str, Any]:
        """The event as stored and sent: with ``id``, ``ts``, ``data`` and ``user``."""
        event = dict(event)
        if not event.get("id"):
            event["id"] = self._book.mint(now)
        if not event.get("ts"):
            event["ts"] = int(now * 1000)
        if event.get("data") is None:
            event["data"] = {}
        if event.get("user") is None:
            event["user"] = {}
        return event

    def _emit(self, event: dict[str, Any], tick: Tick) -> None:
        """Publish an event of our own: stored by the driver, routed by us."""
        event = self._normalize(event, tick.now)
        tick.out.append(EmitEvent(event))
        self._route(event, tick)

    def _route(self, event: dict[str, Any], tick: Tick) -> None:
        """What an event does, in the server's order.

        See docs/protocol/executor.rst#run-creation-from-an-event.
        """
        for fn in list(self._book.functions.values()):
            if self._triggers(fn, event, tick.now):
                batch = fn.config.batch_events
                if batch is not None and batch.max_size > 1:
                    self._flow.batch(fn, event, tick)
                else:
                    self._flow.admit(fn, [event], tick)
        if event["name"] == FUNCTION_INVOKED:
            self._start_invoked(event, tick)
        self._flow.match_cancels(event, tick)
        self._match_waits(event, tick)
        if event["name"] == FUNCTION_FINISHED:
            self._resume_invoker(event, tick)

    def _triggers(
        self, fn: RegisteredFunction, event: dict[str, Any], now: float
    ) -> bool:
        """Whether ``event`` passes one of ``fn``'s triggers (first one wins)."""
        patterns = name_patterns(event["name"])
        for trigger in fn.config.triggers:
            if not isinstance(trigger, TriggerEvent) or trigger.event not in patterns:
                continue
            if trigger.expression is None:
                return True
            try:
                if self._trigger_matcher(trigger.expression, event, now):
                    return True
            except ExpressionError as err:
                log_expression_error(
                    "trigger expression",
                    err,
                    "the trigger is skipped",
                    function_id=fn.config.id,
                    event=event,
                )
        return False

    def _start_invoked(self, event: dict[str, Any], tick: Tick) -> None:
        meta = event["data"].get("_inngest")
        meta = meta if isinstance(meta, dict) else {}
        fn_id = str(meta.get("fn_id", ""))
        target = self._book.functions.get(fn_id) or next(
            (f for f in self._book.functions.values() if f.uuid == fn_id), None
        )
        if target is not None:
            self._flow.admit(target, [event], tick)
            return
        # The invoker must not wait forever for a function that cannot run.
        correlation = meta.get("correlation_id")
        finished = missing_function_finished(
            fn_id,
            correlation if isinstance(correlation, str) else None,
            self._book.mint(tick.now),
            tick.now_ms,
        )
        self._emit(finished, tick)

    def _match_waits(self, event: dict[str, Any], tick: Tick) -> None:
        # Collected first: resuming a run creates runs and events as it goes.
        matched: list[tuple[Run, Wait]] = []
        listening = self._waiting_runs.get(event["name"], {})
        for run_id in list(listening):
            run = self.state.runs.get(run_id)
            if (
                run is None
                or not run.is_running
                or not any(w.event_name == event["name"] for w in run.waits.values())
            ):
                del listening[run_id]  # dropped lazily
                continue
            for wait in run.waits.values():
                if wait.event_name != event["name"]:
                    continue
                if pause_matches(
                    self._wait_matcher,
                    wait.expression,
                    run,
                    event,
                    tick.now,
                    use="wait_for_event if",
                    outcome="the event does not resume the wait",
                ):
                    matched.append((run, wait))
        for run, wait in matched:
            if run.is_running and run.waits.get(wait.step_id) is wait:
                del run.waits[wait.step_id]
                self._book.clear_timer(run, wait.timer_id, tick)
                resumed = WaitResumed(run.run_id, wait.step_id, str(event.get("id")))
                tick.out.append(resumed)
                self._complete_step(run, wait.step_id, event, "event", tick)

    def _resume_invoker(self, event: dict[str, Any], tick: Tick) -> None:
        correlation = event["data"].get("correlation_id")
        if not isinstance(correlation, str):
            return
        run_id, _, step_id = correlation.rpartition(".")
        run = self.state.runs.get(run_id)
        if run is None or not run.is_running:
            return
        invoke = run.invokes.get(step_id)
        if invoke is None or invoke.correlation_id != correlation:
            return
        del run.invokes[step_id]
        self._book.clear_timer(run, invoke.timer_id, tick)
        self._complete_step(run, step_id, invoke_memo(event), "invoke", tick)

    # -- replies --------------------------------------------------------------------

    def _in_flight(
        self, run_id: str, request_id: str, tick: Tick
    ) -> tuple[Run, Job] | None:
        """The run and queue item of a call that ended; its slots are free."""
        run = self.state.runs.get(run_id)
        if run is None or not run.is_running:
            return None
        job = run.in_flight.pop(request_id, None)
        if job is None:
            return None
        self._book.touch(run)
        self._flow.vacate(run, 1, tick)
        return run, job

    def _attempt_failed(
        self,
        run: Run,
        job: Job,
        failure: AttemptFailed,
        reply: Reply,
        tick: Tick,
        *,
        at_once: bool = False,
    ) -> None:
        error = failure.error
        if reply.no_retry is True:
            # The server records its reason, NonRetriableError, here; but an
            # SDK also marks a RuntimeError that ran out of step retries not
            # to retry, and the user's error has one name everywhere (the
            # API, the UI, the log, function.failed): the one the SDK reports.
            error = reported_error_name(failure.body) or NON_RETRIABLE
        elif job.attempt + 1 < self._book.max_attempts(run):
            self._book.retry(run, job, reply.retry_after, tick, at_once=at_once)
            return
        shape = failure_error(error, failure.body)
        # The run's output is the SDK's error body
        # (docs/protocol/executor.rst#what-a-finished-run-exposes).
        output = shape if failure.body is None else failure.body
        self._finalize(run, RunStatus.FAILED, tick, output=output, error=shape)

    # -- finishing ------------------------------------------------------------------

    def _fail(self, run: Run, message: str, tick: Tick) -> None:
        """Fail ``run`` for a reason of the executor's own."""
        error = failure_error(message, None)
        self._finalize(run, RunStatus.FAILED, tick, output=error, error=error)

    def _finalize(
        self,
        run: Run,
        status: RunStatus,
        tick: Tick,
        *,
        output: Any,
        error: dict[str, Any] | None = None,
    ) -> None:
        """End the run, drop its timers and calls, and emit and publish what
        its lifecycle row says."""
        # Moved first: what releasing its slots sets off sees it ended.
        row = self._book.move(run, _ENDING[status])
        self._flow.forget(run, tick)
        self._book.end_run(run, row, tick, output=output, error=error)
        # Runs of a lifecycle event emit none themselves, so a failing
        # on-failure handler cannot loop.
        if run.event["name"] in {FUNCTION_FINISHED, FUNCTION_FAILED}:
            return
        data = finished_data(run)
        for name in row.events:
            if name == FUNCTION_FINISHED:
                self._emit({"name": name, "data": data}, tick)
            else:
                # The run id as event id: handlers of these fire once per run.
                self._emit({"name": name, "id": run.run_id, "data": data}, tick)

    # -- what the collaborators use of the executor (their host interfaces) --------

    def _complete_step(
        self, run: Run, step_id: str, memo: Any, job_suffix: str, tick: Tick
    ) -> None:
        """Save a step's memo, then call the function again if it is time."""
        discovery = self._book.complete_step(run, step_id, memo, job_suffix)
        if discovery is not None:
            self._flow.enqueue(run, discovery, tick)

    def _index_wait(self, run: Run, wait: Wait) -> None:
        """``run`` now waits for events named ``wait.event_name``."""
        if wait.signal is not None:
            return  # a signal is no event
        self._waiting_runs.setdefault(wait.event_name, {})[run.run_id] = None

    def _enqueue(self, run: Run, job: Job, tick: Tick) -> None:
        self._flow.enqueue(run, job, tick)

    def _dispatch(self, run: Run, job: Job, tick: Tick) -> None:
        self._flow.dispatch(run, job, tick)

    def _occupied(self, run: Run) -> None:
        self._flow.occupied(run)

    def _on_timeout_timer(self, run: Run, timer: Timer, tick: Tick) -> None:
        self._flow.on_timeout_timer(run, timer, tick)

    def _admit(
        self,
        fn: RegisteredFunction,
        events: list[dict[str, Any]],
        tick: Tick,
        *,
        key: str | None = None,
    ) -> Run | None:
        return self._flow.admit(fn, events, tick, key=key)
