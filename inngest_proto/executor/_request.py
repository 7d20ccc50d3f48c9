"""The call request the executor POSTs to an app.

See docs/protocol/executor.rst#the-call-request.
"""

from __future__ import annotations

import functools
import urllib.parse
from collections import OrderedDict
from typing import Any

from .._http_values import OutboundRequest
from .._jcs import canonical_object, canonicalize, member_sort_key
from .._signing import compute_signature
from ._checkpoint import queue_item_ref
from ._state import Job, Run

__all__ = ["MAX_REQUEST_BYTES", "CallBodies", "build_call_request", "target_url"]

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
    bodies: CallBodies | None = None,
) -> OutboundRequest:
    """The POST for one dispatch of ``job``.

    The body is JCS-canonical, as the server signs it; memos go in stack order
    (canonicalization sorts the keys anyway; ``ctx.stack`` carries the order).
    A body over ``max_body_bytes`` leaves the memos out, then the events
    too, and sets ``use_api``: the SDK fetches them from ``/v0/runs``
    (docs/protocol/http.rst#large-runs).  With ``bodies``, the events and
    memos written for the run's earlier calls are reused.
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
    raw = canonicalize(body) if bodies is None else bodies.canonical(run.run_id, body)
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


#: The call request body's keys in JCS order (UTF-16 code units).
_BODY_KEYS = ("ctx", "defers", "event", "events", "steps", "use_api", "version")
_BODY_KEY_PREFIXES = tuple(
    (b"{" if i == 0 else b",") + canonicalize(key) + b":"
    for i, key in enumerate(_BODY_KEYS)
)


class CallBodies:
    """The canonical events and memos of recent runs, kept between their calls.

    Every call request of a run carries its events and all its memos so
    far, so writing them anew made a run of N steps write O(N^2) memos.
    Here each is written once: a run's memos are only ever added (the first
    report of a step wins) and its events never change.  What is kept is
    checked by identity against what the body holds (a run loaded again, or
    a memo replaced, is written anew), and the runs called last are kept, up
    to ``max_bytes`` of written pieces.
    """

    def __init__(self, max_bytes: int = 16 * 1024 * 1024) -> None:
        self._runs: OrderedDict[str, _RunPieces] = OrderedDict()
        self._max_bytes = max_bytes
        self._bytes = 0

    def __len__(self) -> int:
        """How many runs' pieces are kept."""
        return len(self._runs)

    def forget(self, run_id: str) -> None:
        """``run_id`` ended: it makes no more calls, so its pieces go.  Only
        their written bytes count towards ``max_bytes``, not the events and
        memos they hold on to, so the pieces of runs that ended would fill
        memory with ten times that before the oldest were dropped."""
        pieces = self._runs.pop(run_id, None)
        if pieces is not None:
            self._bytes -= pieces.size

    def canonical(self, run_id: str, body: dict[str, Any]) -> bytes:
        """``canonicalize(body)`` for a call request body of ``run_id``."""
        pieces = self._runs.pop(run_id, None) or _RunPieces()
        self._bytes -= pieces.size
        try:
            events = pieces.events(body["events"])  # first: the event is one
            values = (
                canonicalize(body["ctx"]),
                _small(body["defers"]),
                pieces.event(body["event"]),
                events,
                pieces.steps(body["steps"]),
                _small(body["use_api"]),
                _small(body["version"]),
            )
        finally:
            if pieces.size <= self._max_bytes:
                self._runs[run_id] = pieces
                self._bytes += pieces.size
                while self._bytes > self._max_bytes:
                    _, oldest = self._runs.popitem(last=False)
                    self._bytes -= oldest.size
        joined = [
            part
            for pair in zip(_BODY_KEY_PREFIXES, values, strict=True)
            for part in pair
        ]
        return b"".join(joined) + b"}"


def _small(value: Any) -> bytes:
    """``canonicalize(value)`` for the body's flags and counters, without
    making an encoder for each."""
    if value is False:
        return b"false"
    if type(value) is int and -_MAX_SMALL_INT <= value <= _MAX_SMALL_INT:
        return str(value).encode()
    if type(value) is dict and not value:
        return b"{}"
    return canonicalize(value)


_MAX_SMALL_INT = 2**53


class _RunPieces:
    """A run's events and memos in JCS form, with the values they were made of."""

    __slots__ = ("_events", "_memos", "size")

    def __init__(self) -> None:
        #: (the events, each written) as last seen.
        self._events: tuple[tuple[Any, ...], tuple[bytes, ...]] = ((), ())
        #: By step id: (the memo, its sort key, ``"id":memo`` written).
        self._memos: dict[str, tuple[Any, bytes, bytes]] = {}
        self.size = 0

    def events(self, events: list[dict[str, Any]]) -> bytes:
        seen, written = self._events
        if len(seen) != len(events) or any(
            a is not b for a, b in zip(seen, events, strict=True)
        ):
            self.size -= sum(map(len, written))
            written = tuple(canonicalize(event) for event in events)
            self._events = (tuple(events), written)
            self.size += sum(map(len, written))
        return b"[" + b",".join(written) + b"]"

    def event(self, event: dict[str, Any]) -> bytes:
        seen, written = self._events
        if seen and seen[0] is event:
            return written[0]
        return canonicalize(event)

    def steps(self, memos: dict[str, Any]) -> bytes:
        kept = self._memos
        members = []
        for step_id, memo in memos.items():
            known = kept.get(step_id)
            if known is None or known[0] is not memo:
                if known is not None:
                    self.size -= len(known[2])
                member = canonicalize(step_id) + b":" + canonicalize(memo)
                known = kept[step_id] = (memo, member_sort_key(step_id), member)
                self.size += len(member)
            members.append((known[1], known[2]))
        return canonical_object(members)
