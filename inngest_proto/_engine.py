"""The execution engine: replay a user function against its memos, once per call.

One :class:`Execution` lives for one call request.  The step methods (async in
``Step``, sync in ``StepSync``) ask it, for each step the user code reaches,
whether the step is memoized (return the value), must be skipped (another step
is targeted), planned (parallel discovery, ``disable_immediate_execution``),
or run now.  When the call has something to report it ends the user function
by raising an interrupt, a ``BaseException`` so that a user's ``except
Exception`` cannot swallow it, which :func:`outcome_of` turns into the result.

Nothing here awaits or blocks: the async path uses no event-loop primitive,
so it runs under asyncio and trio alike, and the sync path shares every rule.
"""

from __future__ import annotations

import datetime
from collections.abc import Generator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import attrs

from ._call_request import CallRequest
from ._durations import format_iso_utc_ms
from ._errors import (
    InngestError,
    NonRetriableError,
    RetryAfterError,
    StepError,
    StepNestedError,
    StepUnexpectedError,
)
from ._opcodes import (
    MISSING,
    Opcode,
    ParallelMode,
    StepOp,
    error_body,
    format_stack,
    unwrap_memo,
)
from ._step_ids import StepIdentity, hash_step_id

if TYPE_CHECKING:
    from ._checkpointing import Checkpointer

__all__ = [
    "Execution",
    "FunctionFailed",
    "FunctionReturned",
    "Outcome",
    "StepsReported",
    "failure_outcome",
]


# --- outcomes ------------------------------------------------------------------


@attrs.frozen
class FunctionReturned:
    """The function finished: answer 200 with ``output``."""

    output: Any


@attrs.frozen
class StepsReported:
    """The call stopped at new steps: answer 206 with ``ops``."""

    ops: tuple[StepOp, ...]
    no_retry: bool = False


@attrs.frozen
class FunctionFailed:
    """The function raised: answer 500 with ``body``.

    ``error`` is kept for middleware (``transform_output``) and logging; its
    traceback was already rendered into ``body``.
    """

    error: BaseException
    body: dict[str, Any]
    no_retry: bool = False
    retry_after: str | None = None


Outcome = FunctionReturned | StepsReported | FunctionFailed


# --- interrupts (control flow through user code) --------------------------------


class ReportInterrupt(BaseException):
    """Stop the user function: these ops are what this call reports."""

    def __init__(self, ops: list[StepOp], no_retry: bool = False) -> None:
        super().__init__()
        self.ops = ops
        self.no_retry = no_retry


class SkipInterrupt(BaseException):
    """A step other than the targeted one was reached."""

    def __init__(self, user_id: str) -> None:
        super().__init__(user_id)
        self.user_id = user_id


class NestedStepInterrupt(BaseException):
    """A step was called from inside another step's handler."""


def _userland(ident: StepIdentity) -> dict[str, Any]:
    return {"id": ident.user_id, "index": ident.repeat}


# ``tuple.__new__`` skips the named tuple's Python-level ``__new__``.
_identity = tuple.__new__

# --- the per-call state ------------------------------------------------------------


class Execution:
    """Replay state of one call request.

    ``target`` is the hashed step id from ``stepId`` (``None`` when it is
    ``step``, meaning no targeting); ``now`` is the time the request arrived,
    used for relative sleeps and ``RetryAfterError`` deltas.
    """

    __slots__ = (
        "_in_parallel",
        "_in_step",
        "_memo_total",
        "_memos",
        "_new_code_signalled",
        "_used_memos",
        "_uses",
        "attempt",
        "checkpointer",
        "disable_immediate_execution",
        "max_attempts",
        "memos_done",
        "now",
        "replaying",
        "step_id",
        "target",
    )

    def __init__(
        self,
        request: CallRequest,
        *,
        target: str | None,
        now: datetime.datetime,
        memos: Mapping[str, Any] | None = None,
    ) -> None:
        self._memos: Mapping[str, Any] = request.steps if memos is None else memos
        self._used_memos = 0
        self._memo_total = -1
        #: Set when the step just replayed used the last memo: what follows
        #: is new code.
        self.memos_done = False
        #: Uses of each user id so far in this call (the ``:n`` repeat rule).
        self._uses: dict[str, int] = {}
        self._in_parallel = False
        self._in_step = False
        self._new_code_signalled = False
        #: Whether user code is only re-running what earlier requests did:
        #: true until the first step without a memo (or the last memo) is
        #: reached.  Replay-safe logging drops what is logged meanwhile.
        self.replaying = bool(self._memos)
        #: The user id of the step whose handler is running, if any.
        self.step_id: str | None = None
        #: Set when this call may run several steps (``Checkpointer``).
        self.checkpointer: Checkpointer | None = None
        self.target = target
        self.now = now
        self.attempt = request.ctx.attempt
        self.max_attempts = request.ctx.max_attempts
        self.disable_immediate_execution = request.ctx.disable_immediate_execution

    # -- replay --------------------------------------------------------------------

    def replay(self, user_id: str) -> tuple[StepIdentity, Any]:
        """Identify the next step and return its memoized value, or ``MISSING``.

        Raises :class:`StepError` when the memo is a failure, so the user's
        code sees the original error where the step was called.

        This runs for every step of every call, so the ``:n`` repeat rule
        (see :mod:`._step_ids`) is inlined: a replayed step costs a few dict
        operations and one SHA-1.
        """
        if self._in_step:
            raise NestedStepInterrupt
        uses = self._uses
        try:
            used = uses.get(user_id)
        except TypeError:  # unhashable: refused just below, with a clear error
            used = None
        if used is None:
            if not isinstance(user_id, str) or not user_id:
                msg = "a step id must be a non-empty string"
                raise TypeError(msg)
            uses[user_id] = 1
            hashed = hash_step_id(user_id)
        else:
            uses[user_id] = used + 1
            hashed = hash_step_id(f"{user_id}:{used}")
        ident = _identity(StepIdentity, (user_id, hashed, used))
        raw = self._memos.get(hashed, MISSING)
        if raw is MISSING:
            return ident, MISSING
        self._used_memos += 1
        if self._memo_total < 0:
            # Counted at the first replay, after middleware's
            # ``transform_input`` (which may drop memos) has run.
            self._memo_total = len(self._memos)
        if self._used_memos >= self._memo_total:
            self.memos_done = True
        # The usual memo, ``{"data": value}``, unwrapped here without a call.
        if type(raw) is dict and len(raw) == 1 and "data" in raw:
            return ident, raw["data"]
        return ident, unwrap_memo(raw)

    def reached_new_code(self) -> bool:
        """True exactly once: when the first step without a memo is reached.

        That is where memoized replay ends and new work begins, the moment
        middleware's ``before_execution`` hook fires.
        """
        self.replaying = False
        if self._new_code_signalled:
            return False
        self._new_code_signalled = True
        return True

    # -- deciding what a new step does ---------------------------------------------

    def _op(
        self,
        ident: StepIdentity,
        op: Opcode,
        *,
        name: str | None = None,
        opts: dict[str, Any] | None = None,
        data: Any = None,
        error: dict[str, Any] | None = None,
    ) -> StepOp:
        return StepOp(
            id=ident.hashed,
            op=op,
            name=ident.user_id if name is None else name,
            display_name=ident.user_id,
            opts=opts,
            userland=_userland(ident),
            error=error,
            data=data,
        )

    def should_run_now(self, ident: StepIdentity) -> bool:
        """For a new ``step.run``: run it here (True) or interrupt to plan/skip.

        Never returns False: when the step must not run it raises.
        """
        self._check_target(ident)
        targeted = self.target is not None
        if not targeted and (self._in_parallel or self.disable_immediate_execution):
            raise ReportInterrupt([self._op(ident, Opcode.STEP_PLANNED)])
        return True

    def report(
        self,
        ident: StepIdentity,
        op: Opcode,
        *,
        name: str | None = None,
        opts: dict[str, Any] | None = None,
    ) -> ReportInterrupt:
        """For a new non-run step (sleep, wait, invoke, AI): the op to report."""
        self._check_target(ident)
        return ReportInterrupt([self._op(ident, op, name=name, opts=opts)])

    def _check_target(self, ident: StepIdentity) -> None:
        if self.target is not None and self.target != ident.hashed:
            raise SkipInterrupt(ident.user_id)

    # -- running a step's handler ---------------------------------------------------

    def running_step(self, step_id: str | None = None) -> _RunningStep:
        """While the ``with`` block runs, a step's handler is running."""
        return _RunningStep(self, step_id)

    def ran_op(self, ident: StepIdentity, output: Any) -> StepOp:
        return self._op(ident, Opcode.STEP_RUN, data=output)

    def step_ran(self, ident: StepIdentity, output: Any) -> ReportInterrupt:
        return ReportInterrupt([self.ran_op(ident, output)])

    @property
    def is_last_attempt(self) -> bool:
        return self.max_attempts is not None and self.attempt + 1 >= self.max_attempts

    def step_raised(self, ident: StepIdentity, err: Exception) -> ReportInterrupt:
        """A step handler raised: ``StepError`` (retry) or ``StepFailed`` (last)."""
        op = Opcode.STEP_FAILED if self.is_last_attempt else Opcode.STEP_ERROR
        # Skip our own frame so the stack starts in the user's handler.
        body = error_body(err, code="unknown", stack=None)
        body["stack"] = _stack_without_first_frame(err)
        _drop_traceback(err)
        return ReportInterrupt([self._op(ident, op, error=body)])

    def step_nested(self, ident: StepIdentity) -> ReportInterrupt:
        err = StepNestedError("Nested steps are not supported.")
        body = {
            "code": err.code,
            "message": err.message,
            "name": type(err).__name__,
            "stack": f"{type(err).__name__}: {err.message}\n",
        }
        op = self._op(ident, Opcode.STEP_ERROR, error=body)
        return ReportInterrupt([op], no_retry=True)

    # -- parallel groups ------------------------------------------------------------

    @contextmanager
    def parallel_group(self) -> Generator[None, None, None]:
        if self._in_parallel:
            msg = "group.parallel cannot be nested inside another group.parallel"
            raise InngestError(msg)
        self._in_parallel = True
        try:
            yield
        finally:
            self._in_parallel = False


def _stack_without_first_frame(err: BaseException) -> str:
    return format_stack(err, skip_frames=1)


def _drop_traceback(err: BaseException) -> None:
    # The traceback holds the frames of this call, which hold the execution
    # state: dropping it once rendered avoids a per-request reference cycle.
    err.__traceback__ = None


# --- collecting a parallel group's ops -------------------------------------------


class ParallelCollector:
    """Gathers what each callable of a ``group.parallel`` reports."""

    __slots__ = ("mode", "no_retry", "ops")

    def __init__(self, mode: ParallelMode) -> None:
        if not isinstance(mode, ParallelMode):
            msg = "parallel_mode must be a ParallelMode (WAIT or RACE)"
            raise TypeError(msg)
        self.mode = mode
        self.ops: list[StepOp] = []
        self.no_retry = False

    def add(self, interrupt: ReportInterrupt) -> None:
        self.ops.extend(interrupt.ops)
        self.no_retry = self.no_retry or interrupt.no_retry

    def finish(self) -> None:
        """Raise the group's report if any callable had something to report."""
        if not self.ops:
            return
        ops = self.ops
        if self.mode is ParallelMode.RACE:
            ops = [
                attrs.evolve(op, opts={**(op.opts or {}), "parallelMode": "race"})
                for op in ops
            ]
        raise ReportInterrupt(ops, self.no_retry)


# --- turning how the user function ended into an outcome ------------------------


def interrupted_outcome(interrupt: BaseException) -> Outcome:
    """Outcome for an interrupt that escaped the user function."""
    if isinstance(interrupt, ReportInterrupt):
        return StepsReported(tuple(interrupt.ops), interrupt.no_retry)
    if isinstance(interrupt, SkipInterrupt):
        err = StepUnexpectedError(
            f'found step "{interrupt.user_id}" when targeting a different step'
        )
        return FunctionFailed(
            err,
            {
                "code": err.code,
                "message": err.message,
                "name": type(err).__name__,
                "stack": None,
            },
        )
    msg = "a step was called from inside a step, outside any step handler"
    return failure_outcome(StepNestedError(msg), now=None)


def failure_outcome(err: BaseException, *, now: datetime.datetime | None) -> Outcome:
    """Outcome for an exception raised by the user function."""
    body = error_body(err)
    _drop_traceback(err)
    if isinstance(err, StepError | NonRetriableError):
        return FunctionFailed(err, body, no_retry=True)
    if isinstance(err, RetryAfterError):
        return FunctionFailed(err, body, retry_after=_retry_at(err, now))
    return FunctionFailed(err, body)


def _retry_at(err: RetryAfterError, now: datetime.datetime | None) -> str:
    value = err.retry_after
    if isinstance(value, datetime.datetime):
        return format_iso_utc_ms(value)
    if now is None:
        msg = "a relative retry_after needs the request time"
        raise ValueError(msg)
    delta = (
        value
        if isinstance(value, datetime.timedelta)
        else datetime.timedelta(milliseconds=value)
    )
    return format_iso_utc_ms(now + delta)


#: The interrupts a driver must catch around the user function.
INTERRUPTS: tuple[type[BaseException], ...] = (
    ReportInterrupt,
    SkipInterrupt,
    NestedStepInterrupt,
)


class _RunningStep:
    """:meth:`Execution.running_step`'s block.  A class rather than a
    ``@contextmanager`` generator: every step that runs enters one, and this
    costs a third as much."""

    __slots__ = ("_exe", "_step_id")

    def __init__(self, exe: Execution, step_id: str | None) -> None:
        self._exe = exe
        self._step_id = step_id

    def __enter__(self) -> None:
        self._exe._in_step = True
        self._exe.step_id = self._step_id

    def __exit__(self, *exc_info: object) -> None:
        self._exe._in_step = False
        self._exe.step_id = None
