"""A minimal stand-in for the Inngest executor, for tests that run functions
end to end over a real serve endpoint.

It POSTs call requests, stores what each reported step produced as the
server would (``{"data": ...}`` for a run step, ``null`` for a finished
sleep, a timed-out wait or an invoke without result), follows planned steps
with ``stepId`` targeting, and stops when the function answers 200.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import attrs

#: ``post(query, body) -> (status, parsed body)`` against the serve endpoint.
Post = Callable[[str, bytes], tuple[int, Any]]


@attrs.define
class RunResult:
    output: Any
    calls: int
    memos: dict[str, Any]


def call_body(
    event: Mapping[str, Any], memos: Mapping[str, Any], *, attempt: int = 0
) -> bytes:
    full_event = {"data": {}, "id": "01EVENT", "ts": 1735689600000, "user": {}, **event}
    return json.dumps(
        {
            "ctx": {
                "attempt": attempt,
                "disable_immediate_execution": False,
                "max_attempts": 4,
                "run_id": "01RUN",
                "stack": {"current": len(memos), "stack": list(memos)},
                "use_api": False,
            },
            "event": full_event,
            "events": [full_event],
            "steps": dict(memos),
            "use_api": False,
            "version": 2,
        }
    ).encode()


def _memo_for(op: Mapping[str, Any]) -> Any:
    if op["op"] == "StepRun":
        return {"data": op.get("data")}
    if op["op"] in ("StepError", "StepFailed"):
        return {"error": op["error"]}
    return None  # sleep finished, wait timed out, invoke returned nothing


def drive(
    post: Post, fn_id: str, event: Mapping[str, Any], *, max_calls: int = 50
) -> RunResult:
    """Run ``fn_id`` for ``event`` to completion; return its output."""
    memos: dict[str, Any] = {}
    pending: list[str] = []
    for calls in range(1, max_calls + 1):
        target = pending.pop(0) if pending else "step"
        query = urlencode({"fnId": fn_id, "stepId": target})
        status, body = post(query, call_body(event, memos))
        if status == 200:
            return RunResult(body, calls, memos)
        if status != 206:
            msg = f"call {calls} answered {status}: {body!r}"
            raise AssertionError(msg)
        for op in body:
            if op["op"] == "StepPlanned":
                pending.append(op["id"])
            else:
                memos[op["id"]] = _memo_for(op)
    msg = f"the run did not finish in {max_calls} calls"
    raise AssertionError(msg)
