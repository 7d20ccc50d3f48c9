"""Async checkpoints: steps an SDK reports while its call is still running.

An SDK that checkpoints (the TypeScript SDK does by default) runs several
``step.run``s within one call request and sends each finished step to
``POST /v1/checkpoint/{runId}/async`` as it goes
(docs/protocol/executor.rst#async-checkpoints).  The executor saves them as
memos at once, so a crash of the app mid-call loses none of them, and resets the
attempt counter of the queue item in flight: work that got checkpointed was
progress, not a failed try.  The call's own reply later repeats some of those
steps or finishes the run; duplicates are ignored there as here.

:func:`save_checkpoint` does this on the :class:`CheckpointBook` it is
given (the executor's run book).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping
from typing import Any, Protocol

import attrs

from .. import _json
from .._opcodes import Opcode, StepOp
from ._registry import RegisteredFunction
from ._reply import MAX_STEP_DATA_BYTES, StepTooLarge, parse_op_list
from ._state import ExecutorState, Run

__all__ = [
    "WAITING_OPS",
    "Checkpoint",
    "CheckpointBook",
    "CheckpointRejected",
    "parse_checkpoint",
    "queue_item_job_id",
    "queue_item_ref",
    "save_checkpoint",
    "step_memo",
]

# What the real server saves; the lazy ops are accepted and ignored.
_SAVED = frozenset({Opcode.STEP_RUN, Opcode.STEP})
_IGNORED = frozenset(
    {Opcode.STEP_PLANNED, Opcode.DEFER_ADD, Opcode.DEFER_ABORT, Opcode.NONE}
)
#: Ops that leave the call waiting on the server: they belong in the reply.
WAITING_OPS = frozenset(
    {
        Opcode.SLEEP,
        Opcode.WAIT_FOR_EVENT,
        Opcode.INVOKE,
        Opcode.AI_GATEWAY,
        Opcode.GATEWAY,
        Opcode.WAIT_FOR_SIGNAL,
    }
)
# The queue shard named in ``qi_id``; opaque to SDKs, which only echo it.
_SHARD = "dev"


class CheckpointRejected(ValueError):
    """A checkpoint the server refuses; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@attrs.frozen
class Checkpoint:
    run_id: str
    #: ``ctx.fn_id`` echoed back; empty when the SDK left it out.
    fn_id: str
    #: ``ctx.qi_id`` echoed back: which queue item's attempts to reset.
    queue_item: str
    ops: tuple[StepOp, ...]


def queue_item_ref(job_id: str) -> str:
    """The ``qi_id`` of a queue item, as call requests carry it."""
    return base64.b64encode(f"{job_id}::{_SHARD}".encode()).decode()


def queue_item_job_id(ref: str) -> str | None:
    """The job id inside a ``qi_id``; ``None`` when it is not one of ours."""
    try:
        text = base64.b64decode(ref, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    job_id, sep, shard = text.rpartition("::")
    return job_id if sep and shard == _SHARD else None


def step_memo(op: StepOp) -> Any:
    """The memo a finished step is saved as.

    See docs/protocol/executor.rst#memo-shapes.

    ``StepRun`` data is wrapped as ``{"data": ...}``; the legacy ``Step`` op
    is stored as given.
    """
    return {"data": op.data} if op.op is Opcode.STEP_RUN else op.data


class CheckpointBook(Protocol):
    """What saving a checkpoint uses of the run book."""

    @property
    def state(self) -> ExecutorState: ...

    @property
    def functions(self) -> Mapping[str, RegisteredFunction]: ...

    def touch(self, run: Run) -> None: ...

    def save_memo(self, run: Run, step_id: str, memo: Any) -> None: ...


def save_checkpoint(book: CheckpointBook, checkpoint: Checkpoint) -> None:
    """Save the steps of ``checkpoint`` to its run, and reset the attempts of
    the queue item it names.

    Raises :class:`CheckpointRejected` for a run that is not running (or not
    of the function named), as the server answers 400.
    """
    run = book.state.runs.get(checkpoint.run_id)
    fn = None if run is None else book.functions.get(run.function_id)
    if run is None or (
        checkpoint.fn_id and fn is not None and fn.uuid != checkpoint.fn_id
    ):
        msg = f"run {checkpoint.run_id} not found"
        raise CheckpointRejected(msg)
    if not run.is_running:
        msg = f"run {checkpoint.run_id} has already finished"
        raise CheckpointRejected(msg)
    book.touch(run)
    for op in checkpoint.ops:
        book.save_memo(run, op.id, step_memo(op))
    job_id = queue_item_job_id(checkpoint.queue_item)
    for job in run.in_flight.values():
        if job.job_id == job_id:
            # Checkpointed work is progress: a later failure of this call
            # starts counting its attempts afresh.
            job.attempt = 0


def parse_checkpoint(body: bytes, path_run_id: str) -> Checkpoint:
    """The checkpoint in a request body; raises :class:`CheckpointRejected`.

    The real server reads the run id from the body; an SDK puts the same id
    in the path, so a mismatch is a bug worth naming rather than guessing.
    """
    try:
        raw = _json.loads_replacing_surrogates(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise CheckpointRejected("invalid request body: not JSON") from None
    if not isinstance(raw, dict):
        msg = f"invalid request body: expected an object, got {_json.json_type(raw)}"
        raise CheckpointRejected(msg)
    run_id = raw.get("run_id", path_run_id)
    if not isinstance(run_id, str) or run_id != path_run_id:
        msg = f"invalid request body: run_id {run_id!r} is not the run in the path"
        raise CheckpointRejected(msg)
    fn_id = _string(raw, "fn_id")
    if fn_id:
        try:
            uuid.UUID(fn_id)
        except ValueError:
            msg = f"invalid request body: fn_id {fn_id!r} is not a UUID"
            raise CheckpointRejected(msg) from None
    steps = raw.get("steps", [])
    if not isinstance(steps, list):
        msg = f"invalid request body: steps is {_json.json_type(steps)}, not an array"
        raise CheckpointRejected(msg)
    try:
        ops = parse_op_list(steps, check_sizes=len(body) > MAX_STEP_DATA_BYTES)
    except StepTooLarge as err:
        raise CheckpointRejected(str(err), status=413) from None
    except ValueError as err:
        raise CheckpointRejected(f"invalid request body: {err}") from None
    if any(op.op in WAITING_OPS for op in ops):
        raise CheckpointRejected("cannot checkpoint async steps")
    for op in ops:
        if op.op not in _SAVED and op.op not in _IGNORED:
            raise CheckpointRejected(f"cannot checkpoint opcode: {op.op.value}")
    return Checkpoint(
        run_id=run_id,
        fn_id=fn_id,
        queue_item=_string(raw, "qi_id"),
        ops=tuple(op for op in ops if op.op in _SAVED),
    )


def _string(raw: dict[str, Any], name: str) -> str:
    value = raw.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        msg = f"invalid request body: {name} is {_json.json_type(value)}, not a string"
        raise CheckpointRejected(msg)
    return value
