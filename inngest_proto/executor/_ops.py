"""What the ops of an SDK reply do, and the timers of a run when they fire.

:class:`OpHandler` turns the ops a 206 reply lists
(docs/protocol/executor.rst#op-handling) into transitions: steps memoized or
planned, step errors retried, parallel groups tracked
(docs/protocol/executor.rst#parallel-steps), and the timers behind
``step.sleep``, ``step.wait_for_event``, ``step.invoke`` and the TypeScript
SDK's ``step.waitForSignal`` set
(docs/protocol/executor.rst#sleep and the two sections after it); it also
handles a run's timers when they fire (those, and the start, retry and timeout
timers).  It is apart from :class:`~._executor.Executor`, which holds it,
because it is the part that reads opcodes: the executor takes the inputs and
routes events (including the event that ends a wait or an invoke), and ends
runs.
"""

from __future__ import annotations

from typing import Any, Protocol

from .._function_config import ROOT_STEP_ID
from .._opcodes import Opcode, StepOp
from ._ai import AIGateway
from ._checkpoint import WAITING_OPS, step_memo
from ._endpoints import run_complete_outcome
from ._lifecycle import INVOKE_TIMEOUT_MEMO, invoked_event
from ._reply import Reply
from ._runbook import TRACKED_PARALLEL_VERSION, RunBook, RunEnder, Tick
from ._state import (
    Invoke,
    Job,
    JobKind,
    Run,
    Timer,
    TimerKind,
    Wait,
)
from ._timing import MAX_WAIT_SECONDS, resolve_time

__all__ = ["OpHandler", "OpsHost"]

_DEFAULT_INVOKE_TIMEOUT = 365 * 24 * 3600.0
#: A ``WaitForSignal`` op without a timeout waits a year, as on the server.
_DEFAULT_SIGNAL_TIMEOUT = 365 * 24 * 3600.0
_LAZY_OPS = frozenset({Opcode.DEFER_ADD, Opcode.DEFER_ABORT, Opcode.NONE})
# Ops that finish later, outside the reply: those that wait on the server,
# and planned steps.  With more than one op in a reply they make the server
# track the parallel group (docs/protocol/executor.rst#parallel-steps).
_ASYNC_OPS = WAITING_OPS | {Opcode.STEP_PLANNED}
# The server registers waits (and defers) before it processes other ops.
_FIRST_OPS = frozenset({Opcode.WAIT_FOR_EVENT, Opcode.DEFER_ADD, Opcode.DEFER_ABORT})


class OpsHost(RunEnder, Protocol):
    """What the op handler uses of the executor that holds it: the moves that
    end a run, queueing the run's next call, and the waits and events it
    routes."""

    def _enqueue(self, run: Run, job: Job, tick: Tick) -> None: ...

    def _dispatch(self, run: Run, job: Job, tick: Tick) -> None: ...

    def _complete_step(
        self, run: Run, step_id: str, memo: Any, job_suffix: str, tick: Tick
    ) -> None: ...

    def _index_wait(self, run: Run, wait: Wait) -> None: ...

    def _emit(self, event: dict[str, Any], tick: Tick) -> None: ...

    def _on_timeout_timer(self, run: Run, timer: Timer, tick: Tick) -> None: ...


class OpHandler:
    """The ops of an SDK reply and the timers of a run.

    Held by the executor, which hands it the ops of each 206 reply
    (:meth:`handle_ops`) and each run timer that fires (:meth:`on_timer`); it
    keeps runs through ``book``, acts beyond them only through ``host``, and
    hands ``AIGateway`` and ``Gateway`` ops to ``ai``.
    """

    def __init__(self, book: RunBook, host: OpsHost, ai: AIGateway) -> None:
        self._book = book
        self._host = host
        self._ai = ai

    def handle_ops(
        self, run: Run, job: Job, ops: tuple[StepOp, ...], reply: Reply, tick: Tick
    ) -> None:
        active = [op for op in ops if op.op not in _LAZY_OPS]
        if len(active) > 1:
            # Parallel steps: plan every later step rather than run it inline.
            run.force_step_plan = True
            if run.request_version >= TRACKED_PARALLEL_VERSION and any(
                op.op in _ASYNC_OPS for op in active
            ):
                for op in active:
                    if op.id not in run.pending:
                        run.pending.append(op.id)
                    if (op.opts or {}).get("parallelMode") == "race":
                        run.race_steps.append(op.id)
        if all(op.op is Opcode.NONE for op in ops):
            # Nothing to do: drive discovery again, once per state.
            redrive = Job(
                job_id=f"{run.run_id}-{len(run.stack)}-redrive",
                kind=JobKind.DISCOVERY,
                target=ROOT_STEP_ID,
                follows=job.follows,
            )
            self._host._enqueue(run, redrive, tick)
            return
        for op in sorted(ops, key=lambda op: op.op not in _FIRST_OPS):
            if not run.is_running:
                break
            self._handle_op(run, job, op, reply, tick)

    def _handle_op(
        self, run: Run, job: Job, op: StepOp, reply: Reply, tick: Tick
    ) -> None:
        kind = op.op
        if kind in {Opcode.STEP_RUN, Opcode.STEP}:
            self._host._complete_step(run, op.id, step_memo(op), "discover", tick)
        elif kind is Opcode.STEP_ERROR:
            if reply.no_retry is True or job.attempt + 1 >= self._book.max_attempts(
                run
            ):
                # The server turns a last-attempt StepError into StepFailed.
                self._host._complete_step(
                    run, op.id, {"error": op.error}, "failure", tick
                )
            else:
                self._book.retry(run, job, reply.retry_after, tick)
        elif kind is Opcode.STEP_FAILED:
            self._host._complete_step(run, op.id, {"error": op.error}, "failure", tick)
        elif kind is Opcode.STEP_PLANNED:
            planned = Job(
                job_id=f"{run.run_id}-{op.id}-plan",
                kind=JobKind.STEP,
                target=op.id,
                follows=job.follows,
            )
            self._host._enqueue(run, planned, tick)
        elif kind is Opcode.SLEEP:
            self._sleep(run, op, tick)
        elif kind is Opcode.WAIT_FOR_EVENT:
            self._wait(run, op, tick)
        elif kind is Opcode.WAIT_FOR_SIGNAL:
            self._wait_for_signal(run, op, tick)
        elif kind is Opcode.INVOKE:
            self._invoke(run, op, tick)
        elif kind in (Opcode.AI_GATEWAY, Opcode.GATEWAY):
            self._ai.start(run, job, op, tick)
        elif kind is Opcode.RUN_COMPLETE:
            status, output, error = run_complete_outcome(run, op.data)
            self._host._finalize(run, status, tick, output=output, error=error)
        elif kind is Opcode.DISCOVERY_REQUEST:
            discovery = Job(
                job_id=f"{run.run_id}-{self._book.mint(tick.now)}-discovery",
                kind=JobKind.DISCOVERY,
                target=ROOT_STEP_ID,
                follows=job.follows,
            )
            self._host._enqueue(run, discovery, tick)
        elif kind not in _LAZY_OPS:
            message = f"the {kind.value} opcode is not supported by this executor yet"
            self._host._fail(run, message, tick)

    # -- sleeps, waits, invokes ------------------------------------------------------

    def _step_is_open(self, run: Run, step_id: str) -> bool:
        """Whether a step already finished or is already being waited on.

        An SDK reports a sleep, wait or invoke again on every discovery until
        it ends; only the first report counts.
        """
        if step_id in run.steps or step_id in run.waits or step_id in run.invokes:
            return True
        return any(
            (timer := self._book.state.timers.get(t)) is not None
            and timer.step_id == step_id
            for t in run.timer_ids
        )

    def _until(self, run: Run, text: object, what: str, tick: Tick) -> float | None:
        """``text`` as an absolute time, or ``None`` after failing the run."""
        try:
            at = resolve_time(str(text), tick.now)
        except ValueError as err:
            self._host._fail(run, f"invalid {what}: {err}", tick)
            return None
        if at - tick.now > MAX_WAIT_SECONDS:
            self._host._fail(run, f"{what} {text!r} is longer than 366 days", tick)
            return None
        return max(at, tick.now)

    def _timeout_at(
        self,
        run: Run,
        opts: dict[str, Any],
        what: str,
        default_seconds: float,
        tick: Tick,
    ) -> float | None:
        """When ``opts.timeout`` ends (``default_seconds`` from now without
        one), or ``None`` after failing the run for a bad one."""
        timeout = opts.get("timeout")
        if not timeout:
            return tick.now + default_seconds
        return self._until(run, timeout, what, tick)

    def _sleep(self, run: Run, op: StepOp, tick: Tick) -> None:
        if self._step_is_open(run, op.id):
            return
        opts = op.opts or {}
        at = self._until(run, opts.get("duration") or op.name, "sleep", tick)
        if at is not None:
            self._book.set_timer(run, TimerKind.SLEEP, at, tick, step_id=op.id)

    def _wait(self, run: Run, op: StepOp, tick: Tick) -> None:
        if self._step_is_open(run, op.id):
            return
        opts = op.opts or {}
        # No timeout means the wait expires at once, as on the server.
        at = self._timeout_at(run, opts, "wait timeout", 0.0, tick)
        if at is None:
            return
        expression = opts.get("if")
        timer_id = self._book.set_timer(
            run, TimerKind.WAIT_TIMEOUT, at, tick, step_id=op.id
        )
        wait = Wait(
            step_id=op.id,
            event_name=str(opts.get("event") or op.name),
            expression=expression if isinstance(expression, str) else None,
            timer_id=timer_id,
        )
        run.waits[op.id] = wait
        self._host._index_wait(run, wait)

    def _wait_for_signal(self, run: Run, op: StepOp, tick: Tick) -> None:
        if self._step_is_open(run, op.id):
            return
        opts = op.opts or {}
        signal = opts.get("signal") or op.name
        if not isinstance(signal, str) or not signal:
            message = f"invalid WaitForSignal op {op.id!r}: opts.signal must name it"
            self._host._fail(run, message, tick)
            return
        at = self._timeout_at(
            run, opts, "signal timeout", _DEFAULT_SIGNAL_TIMEOUT, tick
        )
        if at is None:
            return
        # Its timeout is a wait's: the step ends with null.
        timer_id = self._book.set_timer(
            run, TimerKind.WAIT_TIMEOUT, at, tick, step_id=op.id
        )
        run.waits[op.id] = Wait(
            step_id=op.id,
            event_name="",
            expression=None,
            timer_id=timer_id,
            signal=signal,
        )

    def _invoke(self, run: Run, op: StepOp, tick: Tick) -> None:
        if self._step_is_open(run, op.id):
            return
        opts = op.opts or {}
        if not isinstance(opts.get("function_id"), str):
            self._host._fail(run, "InvokeFunction op without opts.function_id", tick)
            return
        at = self._timeout_at(
            run, opts, "invoke timeout", _DEFAULT_INVOKE_TIMEOUT, tick
        )
        if at is None:
            return
        correlation = f"{run.run_id}.{op.id}"
        timer_id = self._book.set_timer(
            run, TimerKind.INVOKE_TIMEOUT, at, tick, step_id=op.id
        )
        run.invokes[op.id] = Invoke(op.id, correlation, timer_id)
        fn = self._book.functions[run.function_id]
        event = invoked_event(
            opts=opts,
            correlation_id=correlation,
            expire_ms=int(at * 1000),
            group_id=self._book.mint(tick.now),
            display_name=op.display_name or op.id,
            source_fn_uuid=fn.uuid,
            source_app_uuid=fn.app_uuid,
            new_id=self._book.mint(tick.now),
            now_ms=tick.now_ms,
        )
        self._host._emit(event, tick)

    def on_timer(self, run: Run, timer: Timer, tick: Tick) -> None:
        step_id = timer.step_id or ""
        if timer.kind in {TimerKind.START_TIMEOUT, TimerKind.FINISH_TIMEOUT}:
            self._host._on_timeout_timer(run, timer, tick)
        elif timer.kind in {TimerKind.START, TimerKind.RETRY}:
            assert timer.job is not None  # both kinds are always set with a job
            self._host._dispatch(run, timer.job, tick)
        elif timer.kind is TimerKind.SLEEP:
            self._host._complete_step(run, step_id, None, "sleep", tick)
        elif timer.kind is TimerKind.WAIT_TIMEOUT:
            if run.waits.pop(step_id, None) is not None:
                self._host._complete_step(run, step_id, None, "timeout", tick)
        elif run.invokes.pop(step_id, None) is not None:
            # The child keeps running; its result is no longer awaited.
            self._host._complete_step(
                run, step_id, INVOKE_TIMEOUT_MEMO, "timeout", tick
            )
