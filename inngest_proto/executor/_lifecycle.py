"""A run's lifecycle: the inputs that move it, and the internal events it publishes.

:data:`RUN_LIFECYCLE` is the transition table: every status a run can move
to, from which status, on which input, and what the move emits.  It is the
one place that says so: the run book moves a run only through
:func:`transition`, which refuses any move the table does not list, and the
actions a move emits are made from its row (:func:`lifecycle_actions`), as
the events the executor publishes for it are.

The rest are the internal events the executor publishes and the memos they
become; shapes follow docs/protocol/executor.rst#invoke,
docs/protocol/executor.rst#lifecycle-events and
docs/protocol/events.rst#internal-events.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import attrs

from ._actions import Action, RunFinished, RunStarted
from ._state import Run, RunStatus

__all__ = [
    "FUNCTION_CANCELLED",
    "FUNCTION_FAILED",
    "FUNCTION_FINISHED",
    "FUNCTION_INVOKED",
    "INVOKE_TIMEOUT_MEMO",
    "RUN_LIFECYCLE",
    "InvalidTransition",
    "RunInput",
    "Transition",
    "failure_error",
    "finished_data",
    "invoke_memo",
    "invoked_event",
    "lifecycle_actions",
    "missing_function_finished",
    "reported_error_name",
    "transition",
]

FUNCTION_FINISHED = "inngest/function.finished"
FUNCTION_FAILED = "inngest/function.failed"
FUNCTION_CANCELLED = "inngest/function.cancelled"
FUNCTION_INVOKED = "inngest/function.invoked"


class RunInput(str, enum.Enum):
    """What moves a run (the rows of :data:`RUN_LIFECYCLE`)."""

    #: An event, a cron tick, a batch, a debounce or an invoke made the run;
    #: its first call waits for flow control (or its event's ``ts``).
    SCHEDULED = "scheduled"
    #: A durable endpoint or a checkpointing app made the run itself: the
    #: app is already running it.
    OPENED = "opened"
    #: The run's first call goes out.
    FIRST_CALL = "first_call"
    #: The function returned (a 200 reply, a ``RunComplete`` op, an
    #: endpoint's or checkpoint's end).
    RETURNED = "returned"
    #: The last attempt failed, the error was not to be retried, or the
    #: executor could not go on (an invalid op, an unregistered function).
    FAILED = "failed"
    #: The API, a cancel event, a timeout or a singleton cancelled the run.
    CANCELLED = "cancelled"


@attrs.frozen
class Transition:
    """One row of the table: ``source`` + ``input`` -> ``target``.

    ``source`` ``None``: the run does not exist yet.  ``actions`` are the
    kinds of driver action the move emits, made from the run once it has
    moved (:func:`lifecycle_actions`); ``events`` the internal events it
    publishes (a run whose own event is ``function.finished`` or
    ``function.failed`` publishes none, so failure handlers cannot loop).
    A :class:`~._actions.CallSDK` is no row's: every call emits one, whether
    it moves the run or not.
    """

    source: RunStatus | None
    input: RunInput
    target: RunStatus
    actions: tuple[type[RunStarted | RunFinished], ...] = ()
    events: tuple[str, ...] = ()


#: The run lifecycle, as data: the only moves a run makes.
RUN_LIFECYCLE: tuple[Transition, ...] = (
    Transition(None, RunInput.SCHEDULED, RunStatus.QUEUED, (RunStarted,)),
    Transition(None, RunInput.OPENED, RunStatus.RUNNING, (RunStarted,)),
    # The first call's CallSDK is the call's own (see Transition).
    Transition(RunStatus.QUEUED, RunInput.FIRST_CALL, RunStatus.RUNNING),
    # An opened run's first call from the executor (after the app handed it
    # over, e.g. at a sleep): it was running already.
    Transition(RunStatus.RUNNING, RunInput.FIRST_CALL, RunStatus.RUNNING),
    Transition(
        RunStatus.RUNNING,
        RunInput.RETURNED,
        RunStatus.COMPLETED,
        (RunFinished,),
        (FUNCTION_FINISHED,),
    ),
    Transition(
        RunStatus.RUNNING,
        RunInput.FAILED,
        RunStatus.FAILED,
        (RunFinished,),
        (FUNCTION_FINISHED, FUNCTION_FAILED),
    ),
    *(
        Transition(
            source,
            RunInput.CANCELLED,
            RunStatus.CANCELLED,
            (RunFinished,),
            (FUNCTION_FINISHED, FUNCTION_CANCELLED),
        )
        for source in (RunStatus.QUEUED, RunStatus.RUNNING)
    ),
)

_TABLE = {(t.source, t.input): t for t in RUN_LIFECYCLE}


class InvalidTransition(LookupError):
    """A move :data:`RUN_LIFECYCLE` does not list: a bug in the executor."""


def transition(source: RunStatus | None, what: RunInput) -> Transition:
    """The row for ``what`` happening to a run in ``source``; raises
    :class:`InvalidTransition` when the table has none."""
    found = _TABLE.get((source, what))
    if found is None:
        where = "a new run" if source is None else f"a {source.value} run"
        msg = f"no run lifecycle transition for {what.value!r} on {where}"
        raise InvalidTransition(msg)
    return found


def _started(run: Run) -> Action:
    return RunStarted(run.run_id, run.function_id, tuple(e["id"] for e in run.events))


def _finished(run: Run) -> Action:
    return RunFinished(run.run_id, run.status, run.output, run.error)


_MAKERS: dict[type[RunStarted | RunFinished], Callable[[Run], Action]] = {
    RunStarted: _started,
    RunFinished: _finished,
}


def lifecycle_actions(row: Transition, run: Run) -> list[Action]:
    """The actions ``row`` emits, for ``run`` as the move left it (its status,
    and for a final move its output and error)."""
    return [_MAKERS[kind](run) for kind in row.actions]


_TIMEOUT_MESSAGE = "Timed out waiting for invoked function to complete"
INVOKE_TIMEOUT_MEMO: dict[str, Any] = {
    "error": {
        "error": f"InngestInvokeTimeoutError: {_TIMEOUT_MESSAGE}",
        "name": "InngestInvokeTimeoutError",
        "message": _TIMEOUT_MESSAGE,
    }
}


def failure_error(error_text: str, body: Any) -> dict[str, Any]:
    """The standard error of a failed run: ``{"error", "name", "message", "stack"?}``.

    ``name``/``message``/``stack`` come from the SDK's error body, or from an
    ``error`` or ``body`` object inside it (other SDKs wrap theirs).
    """
    source = _error_source(body)
    name = source.get("name")
    message = source.get("message")
    out: dict[str, Any] = {
        "error": error_text,
        "name": name if isinstance(name, str) and name else "Error",
        "message": message if isinstance(message, str) and message else error_text,
    }
    stack = source.get("stack")
    if isinstance(stack, str):
        out["stack"] = stack
    return out


def reported_error_name(body: Any) -> str | None:
    """The error class the SDK's error body names, if it names one."""
    name = _error_source(body).get("name")
    return name if isinstance(name, str) and name else None


def _error_source(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        return {}
    for key in ("error", "body"):
        inner = body.get(key)
        if isinstance(inner, dict) and "message" not in body:
            return inner
    return body


def correlation_id_of(run: Run) -> str | None:
    """The invoke correlation id a run was started with, if it was invoked."""
    meta = run.event.get("data", {}).get("_inngest")
    if run.event.get("name") == FUNCTION_INVOKED and isinstance(meta, dict):
        value = meta.get("correlation_id")
        return value if isinstance(value, str) else None
    return None


def finished_data(run: Run) -> dict[str, Any]:
    """``data`` of the finished/failed/cancelled events for a finished ``run``."""
    data: dict[str, Any] = {
        "function_id": run.function_id,
        "run_id": run.run_id,
        "event": run.event,
        "events": run.events,
    }
    if run.status is RunStatus.COMPLETED:
        data["result"] = run.output
    elif run.status is RunStatus.FAILED:
        data["error"] = run.error
        data["result"] = run.output
    correlation = correlation_id_of(run)
    if correlation is not None:
        data["correlation_id"] = correlation
    data["_inngest"] = {"status": run.status.value}
    return data


def invoked_event(
    *,
    opts: dict[str, Any],
    correlation_id: str,
    expire_ms: int,
    group_id: str,
    display_name: str,
    source_fn_uuid: str,
    source_app_uuid: str,
    new_id: str,
    now_ms: int,
) -> dict[str, Any]:
    """The ``inngest/function.invoked`` event for an ``InvokeFunction`` op."""
    payload = opts.get("payload")
    payload = payload if isinstance(payload, dict) else {}
    data = payload.get("data")
    user = payload.get("user")
    event: dict[str, Any] = {
        "name": FUNCTION_INVOKED,
        "id": payload.get("id") or new_id,
        "ts": now_ms,
        "data": {
            **(data if isinstance(data, dict) else {}),
            "_inngest": {
                "fn_id": str(opts.get("function_id", "")),
                "correlation_id": correlation_id,
                "expire": expire_ms,
                "gid": group_id,
                "name": display_name,
                "source_app_id": source_app_uuid,
                "source_fn_id": source_fn_uuid,
                "source_fn_v": 1,
            },
        },
        "user": user if isinstance(user, dict) else {},
    }
    if isinstance(payload.get("v"), str):
        event["v"] = payload["v"]
    return event


def missing_function_finished(
    fn_id: str,
    correlation_id: str | None,
    new_id: str,
    now_ms: int,
    *,
    message: str | None = None,
) -> dict[str, Any]:
    """The synthetic finished event that fails an invoke which cannot run:
    of an unknown function, or one flow control refused (``message``)."""
    data: dict[str, Any] = {
        "function_id": fn_id,
        "error": {
            "name": "Error",
            "message": message or f"could not find function with ID: {fn_id}",
        },
        "_inngest": {"status": RunStatus.FAILED.value},
    }
    if correlation_id is not None:
        data["correlation_id"] = correlation_id
    return {
        "name": FUNCTION_FINISHED,
        "id": new_id,
        "ts": now_ms,
        "data": data,
        "user": {},
    }


def invoke_memo(finished: dict[str, Any]) -> Any:
    """The caller's memo from the child's finished event.

    See docs/protocol/executor.rst#invoke, step 5.

    ``error`` is checked first; a ``null`` result still counts as a result.
    Neither key (the child returned an empty body): the whole event object,
    as the server does.
    """
    data = finished.get("data")
    if isinstance(data, dict):
        if "error" in data:
            return {"error": data["error"]}
        if "result" in data:
            return {"data": data["result"]}
    return finished
