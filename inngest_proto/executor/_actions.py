"""What the executor asks its driver to do, as frozen values.

The driver performs actions in list order: it sends calls, sets and cancels
timers, stores emitted events and run results, and feeds every outcome back
(``call_finished``/``call_failed``, ``ai_finished``/``ai_failed``,
``timer_fired``).
"""

from __future__ import annotations

import enum
from typing import Any, TypeAlias

import attrs

from .._http_values import OutboundRequest
from ._state import RunStatus

__all__ = [
    "Action",
    "CallAI",
    "CallFailure",
    "CallSDK",
    "CancelTimer",
    "EmitEvent",
    "RunFinished",
    "RunSkipped",
    "RunStarted",
    "SetTimer",
    "WaitResumed",
]


@attrs.frozen
class CallSDK:
    """POST ``request`` to the app; answer with ``call_finished`` or ``call_failed``."""

    run_id: str
    request_id: str
    request: OutboundRequest


class CallFailure(enum.Enum):
    """Why a call got no reply, as the driver tells ``call_failed``.

    Either way the attempt failed and counts against the function's
    retries; the kind decides when the retry goes out.
    """

    #: The app could not be reached or did not answer (refused, reset,
    #: timed out): the function may have failed, so the retry waits for the
    #: backoff, as every failed attempt does.
    NO_REPLY = "no_reply"
    #: The Connect worker that took the call stopped responding (its lease
    #: expired): no outcome of the function was seen, the worker crashed,
    #: so the retry goes out at once, to a worker still connected.
    WORKER_LOST = "worker_lost"


@attrs.frozen
class CallAI:
    """Send ``request`` for the step ``step_id``: to a model provider
    (``step.ai.infer``) or wherever a ``step.fetch`` asks.

    The executor makes this request itself, as the Inngest server does for
    an ``AIGateway`` or ``Gateway`` op.  Answer with ``ai_finished`` (any
    HTTP status) or ``ai_failed`` (no reply: connection error, timeout).
    """

    run_id: str
    request_id: str
    step_id: str
    request: OutboundRequest


@attrs.frozen
class SetTimer:
    """Call ``timer_fired(timer_id, now)`` once ``now >= at`` (Unix seconds)."""

    timer_id: str
    at: float


@attrs.frozen
class CancelTimer:
    """The timer is no longer needed; firing it anyway is harmless."""

    timer_id: str


@attrs.frozen
class EmitEvent:
    """An event the executor published (lifecycle, invoke).

    The executor has already routed it to triggers, waits and invokes; the
    driver only stores it (so it shows up in ``/v1/events``).
    """

    event: dict[str, Any]


@attrs.frozen
class RunStarted:
    run_id: str
    function_id: str
    event_ids: tuple[str, ...]


@attrs.frozen
class RunSkipped:
    """Flow control made no run of ``function_id`` for these events.

    ``reason``: rate limited, a duplicate (idempotency), a singleton's lock
    was held.  Debounced and batched events are not skipped: they wait.
    """

    function_id: str
    event_ids: tuple[str, ...]
    reason: str


@attrs.frozen
class RunFinished:
    """``output``: the return value (Completed), the SDK error body (Failed),
    ``{}`` (Cancelled); ``error`` only when Failed."""

    run_id: str
    status: RunStatus
    output: Any
    error: dict[str, Any] | None = None


@attrs.frozen
class WaitResumed:
    """An event resumed a run's ``wait_for_event`` (its memo is the event).

    Nothing to perform: a driver may record it, to show which waits an
    event matched.  ``event_id`` is the event's ``id``.
    """

    run_id: str
    step_id: str
    event_id: str


Action: TypeAlias = (
    CallSDK
    | CallAI
    | SetTimer
    | CancelTimer
    | EmitEvent
    | RunStarted
    | RunFinished
    | RunSkipped
    | WaitResumed
)
