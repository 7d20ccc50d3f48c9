"""What each run did, step by step, for the web UI's timelines.

The executor keeps a run's memos (its outcome per step), not how it got there:
which attempts failed, with what, when a sleep began.  The driver tells a
:class:`RunHistory` about every call it makes and every reply it gets; the
history keeps that per run, in memory (at most :data:`MAX_RUNS` runs; with a
store, only until the run ended and was saved), and
turns it into the timeline items of the UI's JSON API
(docs/protocol/devserver-api.rst#timeline-items).  Like the executor it reads no
clock: times come in as arguments (Unix seconds).

With a store the history is kept with the runs: :meth:`RunHistory.take_changes`
hands over the records that changed since the last save (the driver saves
them in the same transaction as the executor's state), and
:meth:`RunHistory.restore` puts saved ones back after a restart, so a
timeline reads the same before and after.  Calls in flight are not kept: a
restart retries them, and the retry is recorded anew.

A run whose history was lost (evicted, or saved by a version that did not
keep it) still gets a timeline from its memos, with no attempts or times.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from inngest_proto.executor import (
    AttemptFailed,
    FunctionOutput,
    Reply,
    Run,
    failure_error,
    resolve_time,
)
from inngest_proto.expressions import wait_warning
from inngest_proto.functions import ROOT_STEP_ID, Opcode, StepOp
from inngest_proto.wire import structure, unstructure

from ._timeline import (
    FUNCTION_ITEM_ID,
    Attempt,
    StepRecord,
    error_view,
    function_item,
    step_item,
)

__all__ = ["MAX_RUNS", "RunHistory"]

_log = logging.getLogger("inngest.devserver")

#: Runs whose history is kept; the oldest go first.
MAX_RUNS = 1000
_INVOKE_DEFAULT_TIMEOUT = 365 * 24 * 3600.0
_KINDS = {
    Opcode.SLEEP: "sleep",
    Opcode.WAIT_FOR_EVENT: "wait",
    Opcode.WAIT_FOR_SIGNAL: "wait",
    Opcode.INVOKE: "invoke",
    Opcode.AI_GATEWAY: "ai",
}
# ``opts.type`` of step.run-like ops that are really something else.
_TYPE_KINDS = {"step.sendEvent": "send", "step.ai.wrap": "ai"}
_STEP_OPS = frozenset(
    {Opcode.STEP_RUN, Opcode.STEP, Opcode.STEP_ERROR, Opcode.STEP_FAILED}
)
_SHOWN = _STEP_OPS | set(_KINDS) | {Opcode.STEP_PLANNED}


@attrs.define
class _Call:
    attempt: int
    target: str
    started_at: float


@attrs.define
class _RunRecord:
    steps: dict[str, StepRecord] = attrs.field(factory=dict)
    function: StepRecord | None = None
    calls: dict[str, _Call] = attrs.field(factory=dict)

    def saved(self) -> dict[str, Any]:
        """What is kept of it: its steps in order and the function's
        attempts, as JSON values (calls in flight are not kept)."""
        return {
            "steps": [unstructure(step) for step in self.steps.values()],
            "function": None if self.function is None else unstructure(self.function),
        }

    @classmethod
    def from_saved(cls, raw: Mapping[str, Any]) -> _RunRecord:
        """The record :meth:`saved` returned; raises what cattrs raises
        for anything else."""
        steps = [structure(step, StepRecord) for step in raw["steps"]]
        function = raw.get("function")
        return cls(
            steps={step.id: step for step in steps},
            function=None if function is None else structure(function, StepRecord),
        )


class RunHistory:
    """Per-run call history, fed by the driver; see the module docstring.

    :attr:`version` goes up on every change, so the UI can poll it cheaply;
    the driver also :meth:`bump`\\ s it for what is not recorded here
    (events, syncs).
    """

    def __init__(self, max_runs: int = MAX_RUNS) -> None:
        self._max_runs = max_runs
        self._runs: OrderedDict[str, _RunRecord] = OrderedDict()
        # Runs whose record changed since :meth:`take_changes`.
        self._changed: set[str] = set()
        self.version = 0
        #: When each app (by URL) last synced.
        self.synced_at: dict[str, float] = {}

    def __len__(self) -> int:
        """How many runs' records are in memory."""
        return len(self._runs)

    def bump(self) -> None:
        self.version += 1

    def drop_changes(self) -> None:
        """Forget which records changed: nothing keeps them (no store), so
        they are not written out as :meth:`take_changes` would."""
        self._changed.clear()

    def take_changes(self) -> dict[str, str]:
        """The records changed since the last call, as JSON texts to keep
        (see :meth:`restore`), by run id."""
        changed, self._changed = self._changed, set()
        return {
            run_id: json.dumps(self._runs[run_id].saved(), separators=(",", ":"))
            for run_id in sorted(changed)
            if run_id in self._runs
        }

    def restore(self, run_id: str, saved: str) -> None:
        """Put back a record :meth:`take_changes` handed over, as the newest
        (restore runs in the order they were created).

        Raises ``ValueError`` if ``saved`` is not such a record.
        """
        try:
            record = _RunRecord.from_saved(json.loads(saved))
        # Not narrower: JSON raises ValueError or RecursionError, cattrs its
        # validation errors (exception groups), a wrong shape KeyError,
        # TypeError or AttributeError.
        except Exception as err:
            msg = f"run {run_id}: its saved history is unreadable: {err!r}"
            raise ValueError(msg) from err
        self._runs[run_id] = record
        while len(self._runs) > self._max_runs:
            self._runs.popitem(last=False)

    def forget(self, run_id: str) -> None:
        """Drop a run's record from memory (its run ended and was saved, or
        left the retention); :meth:`timeline` can still show it from what
        was saved."""
        self._runs.pop(run_id, None)
        self._changed.discard(run_id)

    def _record(self, run_id: str) -> _RunRecord:
        self._changed.add(run_id)
        record = self._runs.get(run_id)
        if record is None:
            record = self._runs[run_id] = _RunRecord()
            while len(self._runs) > self._max_runs:
                self._runs.popitem(last=False)
        return record

    # -- inputs --------------------------------------------------------------------

    def app_synced(self, url: str, now: float) -> None:
        self.synced_at[url] = now
        self.bump()

    def run_started(self, run_id: str) -> None:
        self._record(run_id)
        self.bump()

    def run_finished(self, run_id: str) -> None:
        """The run ended; its calls in flight no longer count."""
        record = self._runs.get(run_id)
        if record is not None:
            record.calls.clear()
        self.bump()

    def call_started(
        self,
        run_id: str,
        request_id: str,
        *,
        attempt: int,
        target: str,
        now: float,
        memos: Mapping[str, Any] | None = None,
    ) -> None:
        """A call went out: ``ctx.attempt``, the ``stepId`` query, the memos sent.

        A memo of a sleep, wait or invoke the call carries means that step
        ended (at the latest) now.
        """
        record = self._record(run_id)
        record.calls[request_id] = _Call(attempt, target, now)
        memos = memos or {}
        for step in record.steps.values():
            if step.ended_at is None and step.kind != "run" and step.id in memos:
                step.ended_at = now
        self.bump()

    def call_failed(self, run_id: str, request_id: str, text: str, now: float) -> None:
        """The call got no reply (connection refused, timeout)."""
        record, call = self._ended_call(run_id, request_id)
        if record is not None and call is not None:
            error = error_view(failure_error(text, None))
            self._failed_attempt(record, call, error, now)
        self.bump()

    def call_finished(
        self, run_id: str, request_id: str, reply: Reply, now: float
    ) -> None:
        """The app answered: ops, the function's output, or an error
        (``reply``: its answer as :func:`~inngest_proto.executor.read_reply`
        read it, once for the executor and this record)."""
        record, call = self._ended_call(run_id, request_id)
        if record is None or call is None:
            self.bump()
            return
        outcome = reply.outcome
        if isinstance(outcome, FunctionOutput):
            fn = _function_step(record, call.started_at)
            fn.attempts.append(
                Attempt(call.attempt, call.started_at, now, "completed", outcome.value)
            )
        elif isinstance(outcome, AttemptFailed):
            error = error_view(failure_error(outcome.error, outcome.body))
            self._failed_attempt(record, call, error, now)
        else:
            for op in outcome.ops:
                self._op(run_id, record, op, call, now)
        self.bump()

    def _ended_call(
        self, run_id: str, request_id: str
    ) -> tuple[_RunRecord | None, _Call | None]:
        """The record and the call that ended, if the call was recorded.

        A call of a run whose record is not here (it ended and was forgotten,
        say cancelled while the call was out) changes nothing: a new, empty
        record would be saved over the run's saved one.
        """
        record = self._runs.get(run_id)
        if record is None or request_id not in record.calls:
            return record, None
        self._changed.add(run_id)
        return record, record.calls.pop(request_id)

    def checkpoint(self, run_id: str, ops: Iterable[StepOp], now: float) -> None:
        """Steps an SDK checkpointed during a call: completed steps too."""
        record = self._record(run_id)
        for op in ops:
            if op.op in (Opcode.STEP_RUN, Opcode.STEP):
                self._op(run_id, record, op, _Call(0, op.id, now), now)
        self.bump()

    def endpoint_ops(self, run_id: str, ops: Iterable[StepOp], now: float) -> None:
        """Ops a durable endpoint reported from its own request, each shown
        as if the first attempt of a call had answered it."""
        record = self._record(run_id)
        for op in ops:
            self._op(run_id, record, op, _Call(0, op.id, now), now)
        self.bump()

    def _failed_attempt(
        self, record: _RunRecord, call: _Call, error: dict[str, Any] | None, now: float
    ) -> None:
        # A call that targeted a step failed that step; else the function.
        step = record.steps.get(call.target)
        if step is None or call.target == ROOT_STEP_ID:
            step = _function_step(record, call.started_at)
        step.attempts.append(
            Attempt(call.attempt, call.started_at, now, "failed", None, error)
        )

    def _op(
        self, run_id: str, record: _RunRecord, op: StepOp, call: _Call, now: float
    ) -> None:
        if op.op is Opcode.RUN_COMPLETE:
            fn = _function_step(record, call.started_at)
            fn.attempts.append(
                Attempt(call.attempt, call.started_at, now, "completed", op.data)
            )
            return
        if op.op not in _SHOWN:
            return  # lazy and bookkeeping ops: nothing to show
        step = record.steps.get(op.id)
        if step is None:
            step = record.steps[op.id] = _new_step(op, now)
        if op.op in _STEP_OPS:
            _step_attempt(step, op, call, now)
        elif op.op in _KINDS and step.deadline is None and step.ended_at is None:
            _open(step, op, now)
            for warning in step.warnings:
                _log.warning("run %s, step %s: %s", run_id, step.id, warning)

    # -- the timeline --------------------------------------------------------------

    def timeline(self, run: Run, saved: str | None = None) -> list[dict[str, Any]]:
        """The run's timeline items, in order of first appearance.

        ``saved``: the record :meth:`take_changes` handed over, for a run
        no longer in memory.  See docs/protocol/devserver-api.rst#timeline-items.
        """
        record = self._runs.get(run.run_id)
        if record is None and saved is not None:
            try:
                record = _RunRecord.from_saved(json.loads(saved))
            # As in restore: the shape is checked by parsing it.
            except Exception as err:
                _log.warning(
                    "run %s: its saved history is unreadable: %r", run.run_id, err
                )
        record = record or _RunRecord()
        in_flight = {call.target for call in record.calls.values()}
        items = [step_item(s, run, in_flight) for s in record.steps.values()]
        # Steps with a memo but no history (a restart lost it): memo only.
        for step_id in run.stack:
            if step_id not in record.steps:
                items.append(
                    step_item(StepRecord(step_id, step_id, "run", 0.0), run, ())
                )
        if record.function is not None or not run.is_running:
            fn = record.function or StepRecord(FUNCTION_ITEM_ID, "function", "", 0.0)
            items.append(function_item(fn, run, in_flight))
        return items


# -- recording ---------------------------------------------------------------------


def _new_step(op: StepOp, now: float) -> StepRecord:
    kind = _KINDS.get(op.op, "run")
    opts = op.opts or {}
    if kind == "run" and isinstance(opts.get("type"), str):
        kind = _TYPE_KINDS.get(opts["type"], "run")
    name = op.display_name or op.name or op.id
    return StepRecord(op.id, name, kind, now)


def _function_step(record: _RunRecord, now: float) -> StepRecord:
    if record.function is None:
        record.function = StepRecord(FUNCTION_ITEM_ID, "function", "function", now)
    return record.function


def _step_attempt(step: StepRecord, op: StepOp, call: _Call, now: float) -> None:
    if any(a.status == "completed" for a in step.attempts):
        return  # checkpointed already, and repeated in the reply
    started, ended = call.started_at, now
    timing = op.timing or {}
    if isinstance(timing.get("a"), int) and isinstance(timing.get("b"), int):
        # The SDK timed the step itself (nanoseconds): more precise, if it
        # agrees with the call's window (clocks and units differ).
        a, b = timing["a"] / 1e9, timing["b"] / 1e9
        if started - 1 <= a <= a + b <= ended + 1:
            started, ended = a, a + b
    if op.op in (Opcode.STEP_RUN, Opcode.STEP):
        step.attempts.append(
            Attempt(call.attempt, started, ended, "completed", op.data)
        )
    else:
        error = error_view(op.error)
        step.attempts.append(
            Attempt(call.attempt, started, ended, "failed", None, error)
        )


def _open(step: StepRecord, op: StepOp, now: float) -> None:
    """A sleep, wait, invoke or AI call was reported: its deadline."""
    opts = op.opts or {}
    step.seen_at = min(step.seen_at, now)
    if step.kind == "sleep":
        step.deadline = _resolve(opts.get("duration") or op.name, now)
    elif step.kind == "wait":
        timeout = opts.get("timeout")
        step.deadline = _resolve(timeout, now) if timeout else now
        event = opts.get("event") or opts.get("signal") or op.name
        condition = opts.get("if")
        step.wait = {"event": event, "if": condition}
        if isinstance(condition, str):
            # As the real server, warn rather than refuse: the step shows why
            # no event resumes it.
            warning = wait_warning(condition)
            if warning is not None:
                step.warnings.append(warning)
    elif step.kind == "invoke":
        timeout = opts.get("timeout")
        step.deadline = (
            _resolve(timeout, now) if timeout else now + _INVOKE_DEFAULT_TIMEOUT
        )
        step.invoke = {"function_id": opts.get("function_id")}


def _resolve(text: object, now: float) -> float | None:
    try:
        return resolve_time(str(text), now)
    except ValueError:
        return None  # the executor fails the run for it
