"""A run's timeline items from what :mod:`._history` recorded.

The items' shape is in docs/protocol/devserver-api.rst#timeline-items.

A step's memo, when the run has one, decides how the step ended; the
recorded attempts say how it got there.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from inngest_proto.executor import Run, RunStatus

__all__ = [
    "FUNCTION_ITEM_ID",
    "Attempt",
    "StepRecord",
    "error_line",
    "error_view",
    "function_item",
    "step_item",
]

#: The timeline item of the function's own attempts and result.
FUNCTION_ITEM_ID = "function"
_OPEN_STATUS = {"sleep": "sleeping", "wait": "waiting", "invoke": "waiting"}
_ENDED = ("completed", "failed", "cancelled")


@attrs.define
class Attempt:
    """One try of a step (or of the function): a call and what it said."""

    attempt: int
    started_at: float | None
    ended_at: float | None
    status: str  # "completed" | "failed"
    output: Any = None
    error: dict[str, Any] | None = None


@attrs.define
class StepRecord:
    """A step as the replies reported it; its memo decides how it ended."""

    id: str
    name: str
    kind: str
    #: When it was first reported (planned, or its first attempt began).
    seen_at: float
    attempts: list[Attempt] = attrs.field(factory=list)
    deadline: float | None = None
    wait: dict[str, Any] | None = None
    invoke: dict[str, Any] | None = None
    #: When its memo was first seen (sleeps, waits, invokes, AI).
    ended_at: float | None = None
    #: What the step does that is likely a mistake (a wait's ``if`` that
    #: cannot compile), shown with it.
    warnings: list[str] = attrs.field(factory=list)


def error_view(error: Any) -> dict[str, Any] | None:
    """``{"name", "message", "stack"}`` of any error object (or text)."""
    if error is None:
        return None
    if not isinstance(error, dict):
        return {"name": "Error", "message": str(error), "stack": None}
    name, message, stack = error.get("name"), error.get("message"), error.get("stack")
    return {
        "name": name if isinstance(name, str) and name else "Error",
        "message": message if isinstance(message, str) else str(error.get("error", "")),
        "stack": stack if isinstance(stack, str) else None,
    }


def error_line(error: Any) -> str:
    """``Name: message`` of :func:`error_view`, as the server's String() writes
    an error on one line (logs)."""
    view = error_view(error) or {"name": "Error", "message": ""}
    name, message = view["name"], view["message"]
    return f"{name}: {message}" if message else str(name)


def _memo_parts(memo: Any) -> tuple[Any, dict[str, Any] | None]:
    """A memo's output and error: ``{"data"}``/``{"error"}`` are unwrapped."""
    if isinstance(memo, dict) and memo and set(memo) <= {"data", "error"}:
        return memo.get("data"), error_view(memo.get("error"))
    return memo, None


def _attempt_json(a: Attempt) -> dict[str, Any]:
    return {
        "attempt": a.attempt,
        "started_at": a.started_at,
        "ended_at": a.ended_at,
        "duration_ms": _duration(a.started_at, a.ended_at),
        "status": a.status,
        "output": a.output,
        "error": a.error,
    }


def _duration(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return round(max(end - start, 0.0) * 1000, 3)


def step_item(step: StepRecord, run: Run, in_flight: Iterable[str]) -> dict[str, Any]:
    output: Any = None
    error: dict[str, Any] | None = None
    last = step.attempts[-1] if step.attempts else None
    ended = step.ended_at
    if step.id in run.steps:
        output, error = _memo_parts(run.steps[step.id])
        status = "failed" if error is not None else "completed"
        if ended is None:
            # A sleep's discovery may wait for a concurrency slot.
            ended = step.deadline if step.kind == "sleep" else None
        if last is not None and ended is None:
            ended = last.ended_at
    elif last is not None and last.status == "completed":
        status, output = "completed", last.output  # memo lost (never here)
    elif not run.is_running:
        failed = last is not None and run.status is RunStatus.FAILED
        status = "failed" if failed else "cancelled"
        error = last.error if last is not None else None
        # It stopped when the run ended (a cancelled sleep or wait has no
        # attempt to say when), not never.
        ended = last.ended_at if failed and last is not None else run.ended_at
    elif step.id in in_flight:
        status = "running"
    elif last is not None:
        status, error = "retrying", last.error
    else:
        status = _OPEN_STATUS.get(step.kind, "running")
    started = step.attempts[0].started_at if step.attempts else None
    if step.attempts or step.seen_at:
        started = min(step.seen_at, started) if started is not None else step.seen_at
    return {
        "id": step.id,
        "name": step.name,
        "kind": step.kind,
        "status": status,
        "started_at": started or None,
        "ended_at": ended if status in _ENDED else None,
        "duration_ms": _duration(started or None, ended) if status in _ENDED else None,
        "attempts": [_attempt_json(a) for a in step.attempts],
        "output": output,
        "error": error,
        "deadline": step.deadline,
        "wait": step.wait,
        "invoke": step.invoke,
        "warnings": list(step.warnings),
    }


def function_item(fn: StepRecord, run: Run, in_flight: Iterable[str]) -> dict[str, Any]:
    last = fn.attempts[-1] if fn.attempts else None
    output: Any = None
    error: dict[str, Any] | None = None
    if run.status is RunStatus.COMPLETED:
        status, output = "completed", run.output
    elif run.status is RunStatus.FAILED:
        status, error = "failed", error_view(run.error)
    elif run.status is RunStatus.CANCELLED:
        status = "cancelled"
    elif last is not None and last.status == "failed":
        status, error = "retrying", last.error
    else:
        status = "running"
    started = fn.seen_at or run.created_at
    ended = run.ended_at
    return {
        "id": FUNCTION_ITEM_ID,
        "name": fn.name,
        "kind": "function",
        "status": status,
        "started_at": started,
        "ended_at": ended,
        "duration_ms": _duration(started, ended),
        "attempts": [_attempt_json(a) for a in fn.attempts],
        "output": output,
        "error": error,
        "deadline": None,
        "wait": None,
        "invoke": None,
        "warnings": [],
    }
