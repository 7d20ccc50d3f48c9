"""``AIGateway`` ops: the executor calls the model itself.

See docs/protocol/executor.rst#ai-and-http-gateway.

What the Inngest server does with an ``AIGateway`` op (``step.ai.infer``),
and so what this module does:

* It POSTs ``opts.body`` (JSON) to ``opts.url`` with ``Content-Type:
  application/json`` and the ``opts.auth_key`` placed as ``opts.format``
  asks (``anthropic``: ``X-Api-Key``; ``gemini``: a ``key`` query
  parameter; ``bedrock``: ``Authorization`` as is; anything else, OpenAI's
  ``Authorization: Bearer``), then ``opts.headers`` over those.  Go's HTTP
  library writes every header name in its canonical form (``X-Api-Key``,
  not ``x-api-key``), and so do we.
* The request belongs to the SDK call that reported the op: the server makes
  it while still handling that call's queue item, so it holds the call's
  concurrency slot, and when it fails (no reply, or a status above 299) with
  attempts left, the *call* is retried: the SDK runs again, reports the op
  again, and the request is made again.
* A 2xx reply is memoized as ``{"data": <the provider's JSON>}``; after the
  last attempt fails, ``{"error": {"name": "AIGatewayError", "message":
  "Error making AI request: ...", "data": <reply JSON>, "stack": <reply
  text>}}``.  Either way a discovery call follows at once.

A ``Gateway`` op (``step.fetch``) lives the same way: its request, memo
and failure are ``._fetch``'s; its request ids start ``gw-`` instead.

One deviation: the call's slot is freed when its reply arrives and taken
again for the request, so a call that waited for that slot may start in
between (the limit can be passed by one while the request runs).

The executor keeps no new state for this: the request sits in
``Run.in_flight`` under the call's queue item, with the step id in its
request id, so a persisted run needs no new fields and a crash simply
retries the call (which reports the op again).
"""

from __future__ import annotations

import contextlib
import urllib.parse
from collections.abc import Mapping
from typing import Any, Protocol

import attrs

from .. import _json
from .._http_values import OutboundRequest, OutboundResponse, canonical_header_name
from .._opcodes import Opcode, StepOp
from ._actions import CallAI
from ._fetch import (
    TOO_LARGE,
    fetch_failure_memo,
    fetch_request,
    fetch_success_memo,
    opts_url_and_headers,
)
from ._reply import MAX_REPLY_BYTES, NestedTooDeep, parse_storable
from ._runbook import RunBook, Tick
from ._state import Job, Run, TimerKind

__all__ = [
    "AIGateway",
    "GatewayHost",
    "ai_failure_memo",
    "ai_request",
    "ai_success_memo",
]

_PREFIX = "ai-"
#: The request ids of ``Gateway`` ops (``step.fetch``).
_FETCH_PREFIX = "gw-"
_PREFIXES = (_PREFIX, _FETCH_PREFIX)
# Request ids are ``ai-<ULID>-<hashed step id>`` (or ``gw-``); a ULID is 26
# characters.
_STEP_AT = len(_PREFIX) + 26 + 1
#: The server's body for a failure that had none (``handleGeneratorAIGateway``).
_NO_BODY = b'{"error":"Error making AI request"}'


def ai_request(opts: Mapping[str, Any] | None) -> OutboundRequest:
    """The provider request an ``AIGateway`` op's ``opts`` describe.

    Raises ``ValueError`` for opts the server could not parse either.
    """
    if not isinstance(opts, Mapping):
        msg = "the op has no opts (want url, format, auth_key, headers, body)"
        raise ValueError(msg)
    url, extra = opts_url_and_headers(opts)
    fmt = opts.get("format") or "openai-chat"
    auth_key = opts.get("auth_key") or ""
    if not isinstance(fmt, str) or not isinstance(auth_key, str):
        msg = "opts.format and opts.auth_key must be strings"
        raise ValueError(msg)
    headers = {"Content-Type": "application/json"}
    if fmt == "gemini":
        url = _with_query(url, "key", auth_key)
    elif not auth_key:
        pass  # "Bearer " alone is no credential, and not a valid header value
    elif fmt == "bedrock":
        headers["Authorization"] = auth_key
    elif fmt == "anthropic":
        headers["X-Api-Key"] = auth_key
    else:
        headers["Authorization"] = f"Bearer {auth_key}"
    # The server's intent is that the op's own headers win over the defaults.
    for name, value in extra.items():
        for existing in [h for h in headers if h.lower() == name.lower()]:
            del headers[existing]
        headers[canonical_header_name(name)] = value
    body = _json.dumps_compact(opts.get("body"))
    return OutboundRequest("POST", url, headers, body)


def _with_query(url: str, name: str, value: str) -> str:
    # As Go's url.Values: the pair is added (not replaced) and keys sorted.
    parts = urllib.parse.urlsplit(url)
    pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    pairs.append((name, value))
    pairs.sort(key=lambda pair: pair[0])
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(pairs)))


def ai_success_memo(response: OutboundResponse) -> dict[str, Any] | str:
    """``{"data": <JSON>}`` for a usable reply, else the failure's reason."""
    if len(response.body) > MAX_REPLY_BYTES:
        return TOO_LARGE
    if response.status > 299 or response.status < 200:
        return f"unsuccessful status code: {response.status}"
    try:
        return {"data": parse_storable(response.body)}
    except NestedTooDeep as err:
        return f"the response body is {err}"
    except ValueError:
        # The server cannot wrap a body that is not JSON either; it errors.
        return "the response body is not JSON"


def ai_failure_memo(reason: str, body: bytes) -> dict[str, Any]:
    """The memo after the last attempt failed (``AIGatewayError``)."""
    body = body[:MAX_REPLY_BYTES] or _NO_BODY
    text = body.decode("utf-8", "replace")
    error: dict[str, Any] = {
        "name": "AIGatewayError",
        "message": f"Error making AI request: {reason}",
    }
    # A body that is not JSON breaks the server's memo; ours has no "data".
    # Nor does a body nested too deep to store.
    with contextlib.suppress(ValueError):
        error["data"] = parse_storable(body)
    error["stack"] = text
    return {"error": error}


def _step_of(request_id: str) -> str:
    return request_id[_STEP_AT:]


class GatewayHost(Protocol):
    """What the AI gateway uses of the executor that holds it: the calls in
    flight (their concurrency slots), the step it ends, and failing a run."""

    def _occupied(self, run: Run) -> None: ...

    def _in_flight(
        self, run_id: str, request_id: str, tick: Tick
    ) -> tuple[Run, Job] | None: ...

    def _complete_step(
        self, run: Run, step_id: str, memo: Any, job_suffix: str, tick: Tick
    ) -> None: ...

    def _fail(self, run: Run, message: str, tick: Tick) -> None: ...


class AIGateway:
    """The ``AIGateway`` and ``Gateway`` ops: the requests made for them and
    what their outcomes do to the run.

    Held by the executor, which hands it each such op (:meth:`start`) and the
    two inputs about its request (:meth:`finished`, :meth:`failed`); it acts
    on runs through ``book`` and, beyond them, only through ``host``.
    """

    def __init__(self, book: RunBook, host: GatewayHost) -> None:
        self._book = book
        self._host = host

    # -- inputs ---------------------------------------------------------------------

    def finished(
        self,
        run_id: str,
        request_id: str,
        response: OutboundResponse,
        url: str,
        tick: Tick,
    ) -> None:
        """The :class:`CallAI` ``request_id`` got a reply (any status) from
        ``url`` (which a ``Gateway`` op's memo names)."""
        if request_id.startswith(_FETCH_PREFIX):
            memo = fetch_success_memo(url, response)
        else:
            memo = ai_success_memo(response)
        if isinstance(memo, str):
            self._outcome(run_id, request_id, None, (memo, response.body), tick)
        else:
            self._outcome(run_id, request_id, memo, None, tick)

    def failed(self, run_id: str, request_id: str, error_text: str, tick: Tick) -> None:
        """The :class:`CallAI` ``request_id`` got no reply (connection, timeout)."""
        self._outcome(run_id, request_id, None, (error_text, b""), tick)

    # -- transitions ----------------------------------------------------------------

    def start(self, run: Run, job: Job, op: StepOp, tick: Tick) -> None:
        """Make the request of an ``AIGateway`` or ``Gateway`` op reported by
        ``job``'s call."""
        host = self._host
        if op.id in run.steps or self._in_flight(run, op.id):
            return  # reported again by a discovery while its request runs
        fetch = op.op is Opcode.GATEWAY
        try:
            request = fetch_request(op.opts) if fetch else ai_request(op.opts)
        except ValueError as err:
            host._fail(run, f"invalid {op.op.value} op {op.id!r}: {err}", tick)
            return
        prefix = _FETCH_PREFIX if fetch else _PREFIX
        request_id = f"{prefix}{self._book.mint(tick.now)}-{op.id}"
        self._book.touch(run)
        # The call's queue item, kept to be retried if the request fails.
        run.in_flight[request_id] = attrs.evolve(job)
        host._occupied(run)
        tick.out.append(CallAI(run.run_id, request_id, op.id, request))

    def _in_flight(self, run: Run, step_id: str) -> bool:
        return any(
            rid.startswith(_PREFIXES) and _step_of(rid) == step_id
            for rid in run.in_flight
        )

    def _outcome(
        self,
        run_id: str,
        request_id: str,
        memo: dict[str, Any] | None,
        failure: tuple[str, bytes] | None,
        tick: Tick,
    ) -> None:
        if not request_id.startswith(_PREFIXES):
            return  # not a request of ours: ignored like a stale reply
        found = self._host._in_flight(run_id, request_id, tick)
        if found is None:
            return  # the run ended (e.g. cancelled) meanwhile: discard
        run, job = found
        step_id = _step_of(request_id)
        if failure is not None:
            if job.attempt + 1 < self._book.max_attempts(run):
                self._retry_call(run, job, tick)
                return
            if request_id.startswith(_FETCH_PREFIX):
                memo = fetch_failure_memo(failure[0])
            else:
                memo = ai_failure_memo(*failure)
        self._host._complete_step(run, step_id, memo, "discover", tick)

    def _retry_call(self, run: Run, job: Job, tick: Tick) -> None:
        """Retry the call that reported the op, once even if several ops fail."""
        for timer_id in run.timer_ids:
            timer = self._book.state.timers.get(timer_id)
            if (
                timer is not None
                and timer.kind is TimerKind.RETRY
                and timer.job is not None
                and timer.job.job_id == job.job_id
                and timer.job.attempt == job.attempt + 1
            ):
                return
        self._book.retry(run, job, None, tick)
