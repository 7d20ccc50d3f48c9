"""Opcodes, the op envelope of a 206 response, error bodies and memo unwrapping."""

from __future__ import annotations

import enum
import traceback
from typing import Any

import attrs

from ._converter import converter
from ._errors import InngestError, StepError

__all__ = [
    "MISSING",
    "Opcode",
    "ParallelMode",
    "StepOp",
    "error_body",
    "format_stack",
    "unwrap_memo",
]


class Opcode(str, enum.Enum):
    """Every opcode on the wire.  We emit the first group; the rest we parse."""

    STEP_RUN = "StepRun"
    STEP_ERROR = "StepError"
    STEP_FAILED = "StepFailed"
    STEP_PLANNED = "StepPlanned"
    SLEEP = "Sleep"
    WAIT_FOR_EVENT = "WaitForEvent"
    INVOKE = "InvokeFunction"
    AI_GATEWAY = "AIGateway"
    RUN_COMPLETE = "RunComplete"
    # Emitted by other SDKs or used by the server only.
    STEP = "Step"
    GATEWAY = "Gateway"
    WAIT_FOR_SIGNAL = "WaitForSignal"
    SYNC_RUN_COMPLETE = "SyncRunComplete"
    DISCOVERY_REQUEST = "DiscoveryRequest"
    DEFER_ADD = "DeferAdd"
    DEFER_ABORT = "DeferAbort"
    STEP_NOT_FOUND = "StepNotFound"
    NONE = "None"


class ParallelMode(enum.Enum):
    """How the server continues after parallel steps (``group.parallel``)."""

    WAIT = "wait"
    RACE = "race"


@attrs.frozen
class StepOp:
    """One element of a 206 body.

    ``data`` is always sent (``null`` unless a ``StepRun``); ``error`` only on
    ``StepError``/``StepFailed``; ``opts`` is ``null`` when empty, as Python does.
    """

    id: str
    op: Opcode
    name: str
    display_name: str
    opts: dict[str, Any] | None = None
    userland: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    data: Any = None
    timing: dict[str, int] | None = None


def _unstructure_op(op: StepOp) -> dict[str, Any]:
    # Key order follows the official SDK so our bytes read like the goldens.
    out: dict[str, Any] = {
        "displayName": op.display_name,
        "id": op.id,
        "name": op.name,
        "op": op.op.value,
        "opts": op.opts,
        "userland": op.userland,
    }
    if op.error is not None:
        out["error"] = op.error
    out["data"] = op.data
    if op.timing is not None:
        out["timing"] = op.timing
    return out


def _structure_op(raw: Any, _: Any) -> StepOp:
    if not isinstance(raw, dict):
        msg = "an op must be a JSON object"
        raise TypeError(msg)
    return StepOp(
        id=str(raw["id"]),
        op=Opcode(raw["op"]),
        name=str(raw.get("name") or ""),
        display_name=str(raw.get("displayName") or raw.get("name") or ""),
        opts=raw.get("opts"),
        userland=raw.get("userland"),
        error=raw.get("error"),
        data=raw.get("data"),
        timing=raw.get("timing"),
    )


converter.register_unstructure_hook(StepOp, _unstructure_op)
converter.register_structure_hook(StepOp, _structure_op)


def format_stack(err: BaseException, *, skip_frames: int = 0) -> str:
    """The Python traceback text the official SDK reports as ``stack``."""
    tb = err.__traceback__
    for _ in range(skip_frames):
        if tb is None or tb.tb_next is None:
            break
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(err), err, tb))


def error_body(
    err: BaseException, *, code: str | None = None, stack: str | None = None
) -> dict[str, Any]:
    """``{code, message, name, stack}`` for an error, as Python serializes it."""
    if isinstance(err, StepError):
        # A replayed step failure reports the original error, not StepError.
        return {
            "code": code or err.code,
            "message": err.message,
            "name": err.name,
            "stack": err.stack,
        }
    if code is None:
        code = err.code if isinstance(err, InngestError) else "unknown"
    message = err.message if isinstance(err, InngestError) else str(err)
    return {
        "code": code,
        "message": message,
        "name": type(err).__name__,
        "stack": stack if stack is not None else format_stack(err),
    }


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


#: No memo for this step: it has not run yet.
MISSING: Any = _Missing()


def unwrap_memo(raw: Any) -> Any:
    """Return a memo's value, or raise :class:`StepError` for a failure memo.

    The official rule: an object whose only keys are ``data`` and/or ``error``
    is an envelope (``error`` needs string ``name`` and ``message``); anything
    else, including ``null`` (a finished sleep) and a raw event (a matched
    wait), is the value itself.
    """
    if type(raw) is not dict or len(raw) > 2:
        return raw
    if not raw:
        return None  # an empty envelope: no data, no error
    if "error" in raw:
        error = raw["error"]
        if len(raw) == 2 and "data" not in raw:
            return raw
        if error is None:
            return raw.get("data")
        if (
            type(error) is dict
            and isinstance(error.get("name"), str)
            and isinstance(error.get("message"), str)
        ):
            stack = error.get("stack")
            raise StepError(
                error["message"],
                error["name"],
                stack if isinstance(stack, str) else None,
                error.get("data"),
            )
        return raw
    if "data" in raw and len(raw) == 1:
        return raw["data"]
    return raw
