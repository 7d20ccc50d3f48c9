"""Async checkpoints: steps an SDK reports while its call is still running.

An SDK that checkpoints (the TypeScript SDK does by default) runs several
``step.run``s within one call request and sends each finished step to
``POST /v1/checkpoint/{runId}/async`` as it goes
(docs/protocol/executor.rst#async-checkpoints).  The executor saves them as
memos at once, so a crash of the app mid-call loses none of them, and resets the
attempt counter of the queue item in flight: work that got checkpointed was
progress, not a failed try.  The call's own reply later repeats some of those
steps or finishes the run; duplicates are ignored there as here.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any

import attrs

from .. import _json
from .._opcodes import Opcode, StepOp
from ._reply import MAX_STEP_DATA_BYTES, StepTooLarge, parse_op_list

__all__ = [
    "WAITING_OPS",
    "Checkpoint",
    "CheckpointRejected",
    "parse_checkpoint",
    "queue_item_job_id",
    "queue_item_ref",
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
