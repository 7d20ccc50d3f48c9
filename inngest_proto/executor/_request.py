"""The call request the executor POSTs to an app.

See docs/protocol/executor.rst#the-call-request.
"""

from __future__ import annotations

import functools
import urllib.parse
from typing import Any

from .._http_values import OutboundRequest
from .._jcs import canonicalize
from .._signing import compute_signature
from ._checkpoint import queue_item_ref
from ._state import Job, Run

__all__ = ["MAX_REQUEST_BYTES", "build_call_request", "target_url"]

#: A call request body above this sends ``use_api`` instead of the state.
MAX_REQUEST_BYTES = 4 * 1024 * 1024


def target_url(runtime_url: str, step_id: str) -> str:
    """``runtime_url`` (which carries ``fnId`` and ``stepId``) with ``stepId`` set.

    The query's other parameters are kept, re-encoded, in their order, and
    ``stepId`` goes last.
    """
    head, rest, fragment = _split_runtime_url(runtime_url)
    return f"{head}?{rest}stepId={urllib.parse.quote_plus(step_id)}{fragment}"


@functools.lru_cache(maxsize=1024)
def _split_runtime_url(runtime_url: str) -> tuple[str, str, str]:
    """What every call's URL keeps of ``runtime_url``: the URL before its
    query, the query without ``stepId`` (ending in ``&`` unless empty), and
    the ``#fragment``.  Cached: a function's calls all share one runtime
    URL, and parsing and re-encoding its query cost more than the rest of
    the URL's work."""
    parts = urllib.parse.urlsplit(runtime_url)
    query = [
        (name, value)
        for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        if name != "stepId"
    ]
    rest = urllib.parse.urlencode(query)
    head = urllib.parse.urlunsplit(parts._replace(query="", fragment=""))
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    return head, f"{rest}&" if rest else "", fragment


def build_call_request(
    *,
    run: Run,
    job: Job,
    runtime_url: str,
    fn_uuid: str,
    max_attempts: int,
    request_id: str,
    signing_key: str | None,
    now: float,
    max_body_bytes: int = MAX_REQUEST_BYTES,
) -> OutboundRequest:
    """The POST for one dispatch of ``job``.

    The body is JCS-canonical, as the server signs it; memos go in stack order
    (canonicalization sorts the keys anyway; ``ctx.stack`` carries the order).
    A body over ``max_body_bytes`` leaves the memos out, then the events
    too, and sets ``use_api``: the SDK fetches them from ``/v0/runs``
    (docs/protocol/http.rst#large-runs).
    """
    current = run.stack.index(job.follows) + 1 if job.follows in run.stack else 0
    ctx: dict[str, Any] = {
        "attempt": job.attempt,
        "disable_immediate_execution": run.force_step_plan,
        "env": "",
        "fn_id": fn_uuid,
        "job_id": job.job_id,
        "max_attempts": max_attempts,
        "qi_id": queue_item_ref(job.job_id),
        "request_id": request_id,
        "run_id": run.run_id,
        "stack": {"current": current, "stack": list(run.stack)},
        "step_id": "step",
        "use_api": False,
    }
    body: dict[str, Any] = {
        "ctx": ctx,
        "defers": {},
        "event": run.event,
        "events": run.events,
        "steps": {step_id: run.steps[step_id] for step_id in run.stack},
        # Python reads the top-level flag, TypeScript the one in ctx: send both.
        "use_api": False,
        "version": run.request_version,
    }
    raw = canonicalize(body)
    if len(raw) > max_body_bytes:
        body["steps"] = {}
        body["use_api"] = ctx["use_api"] = True
        raw = canonicalize(body)
        if len(raw) > max_body_bytes:
            body["events"] = []  # ``event`` stays: SDKs read it from the body
            raw = canonicalize(body)
    headers = {
        "content-type": "application/json",
        "x-inngest-step-id": job.target,
        "x-inngest-req-version": str(run.request_version),
        "x-run-id": run.run_id,
        "x-request-id": request_id,
        "x-inngest-job-id": job.job_id,
    }
    if signing_key:
        t = int(now)
        headers["x-inngest-signature"] = (
            f"t={t}&s={compute_signature(raw, signing_key, t)}"
        )
    return OutboundRequest(
        method="POST",
        url=target_url(runtime_url, job.target),
        headers=headers,
        body=raw,
    )
