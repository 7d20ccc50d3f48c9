"""Helpers to run a function for one call request, without the comm handler."""

from __future__ import annotations

import datetime
from collections.abc import Coroutine, Mapping
from typing import Any

import inngest_proto as inngest
from inngest_proto._call_request import CallRequest, parse_call_request
from inngest_proto._engine import Outcome
from inngest_proto._function import run_handler, run_handler_sync
from inngest_proto._middleware import MiddlewareManager

NOW = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)


def call_request(
    steps: Mapping[str, Any] | None = None,
    *,
    event: Mapping[str, Any] | None = None,
    attempt: int = 0,
    max_attempts: int | None = 4,
    disable_immediate_execution: bool = False,
) -> CallRequest:
    evt = dict(event or {"name": "test/event", "data": {}, "id": "evt-1", "ts": 1})
    return parse_call_request(
        {
            "ctx": {
                "attempt": attempt,
                "disable_immediate_execution": disable_immediate_execution,
                "max_attempts": max_attempts,
                "run_id": "run-1",
                "stack": {"current": 0, "stack": list(steps or {})},
                "use_api": False,
            },
            "event": evt,
            "events": [evt],
            "steps": dict(steps or {}),
            "use_api": False,
        }
    )


def drive(coro: Coroutine[Any, Any, Outcome]) -> Outcome:
    """Run a coroutine that awaits nothing real, without any event loop.

    The engine uses no event-loop primitive, so a function whose own code
    awaits only steps completes on the first ``send``.
    """
    try:
        coro.send(None)
    except StopIteration as stop:
        result: Outcome = stop.value
        return result
    coro.close()
    msg = "the coroutine suspended: it awaited something outside the engine"
    raise AssertionError(msg)


def run(
    client: inngest.Inngest,
    fn: inngest.Function[Any],
    request: CallRequest,
    *,
    target: str | None = None,
    failure_handler: bool = False,
    mw: MiddlewareManager | None = None,
) -> Outcome:
    """One call of ``fn`` (sync or async) for ``request``."""
    handlers = list(fn.handlers().values())
    handler = handlers[1] if failure_handler else handlers[0]
    args = (fn, handler, request)
    options: dict[str, Any] = {
        "client": client,
        "mw": mw if mw is not None else MiddlewareManager(()),
        "target": target,
        "now": NOW,
        "memos": request.steps,
    }
    if fn.is_handler_async:
        return drive(run_handler(*args, **options))
    return run_handler_sync(*args, **options)


def dev_client(**kwargs: Any) -> inngest.Inngest:
    return inngest.Inngest(app_id="app", is_production=False, environ={}, **kwargs)
