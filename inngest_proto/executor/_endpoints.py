"""Durable endpoints: runs that an app's own HTTP handler starts and drives.

The TypeScript SDK's ``inngest.endpoint()`` wraps an ordinary HTTP handler.
Each request to it becomes a run that no event triggered: the SDK mints the
run id, runs the steps inline, and reports them ("sync" checkpointing) with

* ``POST /v1/checkpoint``: a new run, its trigger an ``inngest/http.request``
  event describing the request, often with the first steps already done;
* ``POST /v1/checkpoint/{runId}/steps``: more steps of that run.

Steps that finished are saved as memos and nothing more: the SDK goes on by
itself.  A ``RunComplete`` op ends the run with the HTTP response the
handler gave (status, headers, body).  Any op the SDK cannot finish inline
(a sleep, a wait, an invoke, parallel steps, a step error to retry) hands the
run to the executor, which from then on calls the endpoint *again*: the same
method, URL, query and body as the original request, with ``X-Run-ID`` and a
signature (empty in dev mode) marking it as a call from Inngest, as the real
server does.  The SDK then fetches the run's state from the API and answers
with ops, as any call does.  The client that made the original request was
redirected meanwhile to ``/v1/http/runs/{runId}/output?token=``, which waits
for the run to end and answers with the handler's response; the token is a
run-claim JWT (issued here, checked by :func:`output_token_run`).

Everything here is pure: parsing, the re-entry request, the run-claim token
and what a ``RunComplete`` means.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import attrs

from .. import _json
from .._function_config import MAX_RETRIES
from .._http_values import OutboundRequest
from .._opcodes import StepOp
from .._signing import compute_signature
from ..realtime import DEV_JWT_SECRET, InvalidTokenError, decode_jwt, encode_jwt
from ._checkpoint import CheckpointRejected
from ._ids import function_uuid
from ._lifecycle import failure_error
from ._registry import DEFAULT_RETRIES
from ._reply import MAX_STEP_DATA_BYTES, StepTooLarge, kept_body, parse_op_list
from ._state import Job, Run, RunStatus

__all__ = [
    "HTTP_REQUEST_EVENT",
    "EndpointRun",
    "EndpointSteps",
    "api_result",
    "build_endpoint_request",
    "endpoint_app_uuid",
    "endpoint_function_uuid",
    "output_token",
    "output_token_run",
    "parse_endpoint_run",
    "parse_endpoint_steps",
    "run_complete_outcome",
]

#: The trigger event of a durable endpoint's run.
HTTP_REQUEST_EVENT = "inngest/http.request"
# ``event.data`` fields (all strings) of an ``inngest/http.request`` event.
_REQUEST_FIELDS = (
    "domain",
    "method",
    "path",
    "fn",
    "ip",
    "content_type",
    "query_params",
    "body",
)
_ULID_CHARS = frozenset("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
# The run-claim JWT, as the real server issues it (same dev-mode secret as
# realtime tokens, its own issuer and subject).
_CLAIMS_ISSUER = "api.inngest.com"
_CLAIMS_SUBJECT = "run-claim"
_CLAIMS_TTL = 3600


@attrs.frozen
class EndpointRun:
    """``POST /v1/checkpoint``: a run the SDK started, with its first steps."""

    run_id: str
    #: ``inngest/http.request`` with the request in ``data`` (every field a string).
    event: dict[str, Any]
    ops: tuple[StepOp, ...]
    #: Attempts each step gets: the SDK's ``retries`` + 1.
    max_attempts: int
    request_version: int

    @property
    def function_slug(self) -> str:
        """The function's slug: ``fn``, else ``"<METHOD> <path>"``."""
        return function_slug(self.event)


@attrs.frozen
class EndpointSteps:
    """``POST /v1/checkpoint/{runId}/steps``: later steps of such a run."""

    run_id: str
    #: ``fn_id`` echoed from the new-run answer; empty when left out.
    fn_id: str
    ops: tuple[StepOp, ...]


def function_slug(event: dict[str, Any]) -> str:
    data = event.get("data") or {}
    fn = data.get("fn")
    if isinstance(fn, str) and fn:
        return fn
    return f"{data.get('method', '')} {data.get('path', '')}"


def endpoint_app_uuid(event: dict[str, Any]) -> str:
    """The app of an endpoint: one per domain (scheme, host and port)."""
    return function_uuid(str((event.get("data") or {}).get("domain", "")))


def endpoint_function_uuid(event: dict[str, Any]) -> str:
    """The function of an endpoint: one per domain and slug."""
    domain = str((event.get("data") or {}).get("domain", ""))
    return function_uuid(f"{domain} {function_slug(event)}")


# -- parsing ---------------------------------------------------------------------------


def parse_endpoint_run(body: bytes) -> EndpointRun:
    """The new run in a request body; raises :class:`CheckpointRejected`."""
    raw = _object(body)
    run_id = _ulid(raw.get("run_id"))
    event = raw.get("event")
    if not isinstance(event, dict):
        raise CheckpointRejected("Invalid request body: event must be an object")
    name = event.get("name", HTTP_REQUEST_EVENT)
    if not isinstance(name, str) or not name:
        raise CheckpointRejected("Invalid request body: event.name must be a string")
    data = event.get("data")
    if not isinstance(data, dict):
        raise CheckpointRejected("Invalid request body: event.data must be an object")
    request: dict[str, Any] = {}
    for field in _REQUEST_FIELDS:
        value = data.get(field, "")
        if not isinstance(value, str):
            msg = f"Invalid request body: event.data.{field} must be a string"
            raise CheckpointRejected(msg)
        request[field] = value
    # The executor calls this domain back: only web URLs, and nothing else in it.
    parts = urllib.parse.urlsplit(request["domain"])
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
        msg = "Invalid request body: event.data.domain must be http(s)://host[:port]"
        raise CheckpointRejected(msg)
    if not request["path"].startswith("/"):
        request["path"] = "/" + request["path"]
    out: dict[str, Any] = {"name": name, "data": {**data, **request}, "user": {}}
    event_id, ts = event.get("id"), event.get("ts")
    if isinstance(event_id, str) and event_id:
        out["id"] = event_id
    if isinstance(ts, int) and not isinstance(ts, bool) and ts > 0:
        out["ts"] = ts
    if isinstance(event.get("v"), str):
        out["v"] = event["v"]
    retries = raw.get("retries")
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        retries = DEFAULT_RETRIES
    version = raw.get("request_version")
    if not isinstance(version, int) or isinstance(version, bool):
        version = -1
    return EndpointRun(
        run_id=run_id,
        event=out,
        ops=_ops(raw, len(body)),
        max_attempts=min(retries, MAX_RETRIES) + 1,
        request_version=version,
    )


def parse_endpoint_steps(body: bytes, path_run_id: str) -> EndpointSteps:
    """The steps in a request body; raises :class:`CheckpointRejected`."""
    raw = _object(body)
    run_id = _ulid(raw.get("run_id", path_run_id))
    if run_id != _ulid(path_run_id):
        msg = f"invalid request body: run_id {run_id!r} is not the run in the path"
        raise CheckpointRejected(msg)
    fn_id = raw.get("fn_id", "")
    if not isinstance(fn_id, str):
        raise CheckpointRejected("invalid request body: fn_id must be a string")
    return EndpointSteps(run_id=run_id, fn_id=fn_id, ops=_ops(raw, len(body)))


def _object(body: bytes) -> dict[str, Any]:
    # As Go's decoder reads it (and as ``parse_checkpoint`` does): a lone
    # surrogate becomes U+FFFD, so the request can be encoded to call the
    # endpoint again and the run stored.
    try:
        raw = _json.loads_replacing_surrogates(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise CheckpointRejected("Invalid request body: not JSON") from None
    if not isinstance(raw, dict):
        msg = f"Invalid request body: expected an object, got {_json.json_type(raw)}"
        raise CheckpointRejected(msg)
    return raw


def _ulid(value: Any) -> str:
    if (
        not isinstance(value, str)
        or len(value) != 26
        or not set(value.upper()) <= _ULID_CHARS
    ):
        raise CheckpointRejected(f"Invalid request body: invalid run ID: {value!r}")
    return value.upper()


def _ops(raw: dict[str, Any], size: int) -> tuple[StepOp, ...]:
    steps = raw.get("steps")
    if steps is None:
        return ()
    if not isinstance(steps, list):
        msg = f"Invalid request body: steps is {_json.json_type(steps)}, not an array"
        raise CheckpointRejected(msg)
    try:
        return parse_op_list(steps, check_sizes=size > MAX_STEP_DATA_BYTES)
    except StepTooLarge as err:
        raise CheckpointRejected(str(err), status=413) from None
    except ValueError as err:
        raise CheckpointRejected(f"Invalid request body: {err}") from None


# -- the run's end ---------------------------------------------------------------------


def run_complete_outcome(
    run: Run, data: Any
) -> tuple[RunStatus, Any, dict[str, Any] | None]:
    """Status, output and error of a run that a ``RunComplete`` op ends.

    A function's ``RunComplete`` carries its return value.  An endpoint's
    carries the HTTP response its handler gave, ``{"status", "headers",
    "body"}``: the run's output, failed when the status is 5xx, as the real
    server decides.
    """
    if run.endpoint_attempts is None:
        return RunStatus.COMPLETED, data, None
    result = api_result(data)
    if result is None:
        return RunStatus.COMPLETED, data, None
    status = result["status"]
    if status >= 500:
        # Read as a call's failed reply is (lone surrogates as U+FFFD).
        body = kept_body(result["body"].encode("utf-8", "replace"))
        error = failure_error(f"invalid status code: {status}", body)
        return RunStatus.FAILED, result, error
    return RunStatus.COMPLETED, result, None


def api_result(data: Any) -> dict[str, Any] | None:
    """``{"status", "headers", "body"}`` of an endpoint's response, else ``None``.

    The SDK sends it bare; a ``{"data": ...}`` wrapper is taken off too.
    """
    if isinstance(data, dict) and set(data) == {"data"}:
        data = data["data"]
    if not isinstance(data, dict):
        return None
    status = data.get("status")
    if not isinstance(status, int) or isinstance(status, bool) or status <= 0:
        return None
    headers = data.get("headers")
    body = data.get("body")
    return {
        "status": status,
        "headers": {
            str(k): str(v) for k, v in (headers or {}).items() if isinstance(v, str)
        }
        if isinstance(headers, dict)
        else {},
        "body": body if isinstance(body, str) else "",
    }


# -- calling the endpoint again --------------------------------------------------------


def build_endpoint_request(
    *,
    run: Run,
    job: Job,
    request_id: str,
    signing_key: str | None,
    now: float,
) -> OutboundRequest:
    """The request that resumes an endpoint's run: the original one, marked.

    ``X-Run-ID`` and ``X-Inngest-Signature`` (present even when empty) tell
    the SDK that Inngest is calling; it then fetches the run's steps from
    ``/v0/runs/{id}/actions`` instead of reading them from the body, which is
    the client's original body.
    """
    data = run.event.get("data") or {}
    method = str(data.get("method") or "POST").upper()
    url = f"{data.get('domain', '')}{data.get('path', '')}"
    query = str(data.get("query_params") or "")
    if query:
        url = f"{url}?{query}"
    body = str(data.get("body") or "").encode()
    signature = ""
    if signing_key:
        t = int(now)
        signature = f"t={t}&s={compute_signature(body, signing_key, t)}"
    headers = {
        "content-type": str(data.get("content_type") or "application/json"),
        "x-inngest-signature": signature,
        "x-run-id": run.run_id,
        "x-request-id": request_id,
        "x-inngest-job-id": job.job_id,
        "x-inngest-req-version": str(run.request_version),
    }
    if run.force_step_plan:
        headers["x-inngest-force-step-plan"] = "true"
    if job.target != "step":
        headers["x-inngest-step-id"] = job.target
    return OutboundRequest(method=method, url=url, headers=headers, body=body)


# -- the run-claim token ---------------------------------------------------------------


def output_token(run_id: str, environment_id: str, now: float) -> str:
    """A token that lets its holder read ``run_id``'s output for an hour."""
    claims = {
        "iss": _CLAIMS_ISSUER,
        "sub": _CLAIMS_SUBJECT,
        "exp": int(now) + _CLAIMS_TTL,
        "iat": int(now),
        "Env": environment_id,
        "RunID": run_id,
    }
    return encode_jwt(claims, DEV_JWT_SECRET)


def output_token_run(token: str, now: float) -> str | None:
    """The run a valid run-claim token grants, else ``None``."""
    try:
        claims = decode_jwt(token, DEV_JWT_SECRET, now, issuer=_CLAIMS_ISSUER)
    except InvalidTokenError:
        return None
    run_id = claims.get("RunID")
    if claims.get("sub") != _CLAIMS_SUBJECT or not isinstance(run_id, str):
        return None
    return run_id
