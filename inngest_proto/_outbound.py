"""Requests the SDK makes to Inngest, built and parsed without doing I/O.

Each ``build_*`` function returns an :class:`OutboundRequest` for a transport
to send (retrying and falling back to the second signing key as the request
says); each ``parse_*`` function reads the transport's
:class:`OutboundResponse`.  Time and randomness are parameters.
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from ._converter import unstructure
from ._errors import (
    BodyInvalidError,
    ErrorCode,
    EventKeyUnspecifiedError,
    RemoteProtocolError,
    SendEventsError,
)
from ._events import Event, parse_event
from ._http_values import OutboundRequest, OutboundResponse
from ._json import dumps_compact, loads
from ._settings import Settings, join_api_url
from ._signing import hash_signing_key
from ._version import REQUEST_VERSION, SDK_IDENTITY

if TYPE_CHECKING:
    from ._call_request import CallContext
    from ._opcodes import StepOp

__all__ = [
    "EVENT_ID_SEED_ENTROPY_BYTES",
    "RunDataFetchError",
    "auth_headers",
    "base_headers",
    "build_fetch_actions_request",
    "build_fetch_batch_request",
    "build_register_request",
    "build_send_events_request",
    "event_id_seed",
    "parse_fetch_actions_response",
    "parse_fetch_batch_response",
    "parse_send_events_response",
]

#: Size of the random part of ``X-Inngest-Event-Id-Seed``.
EVENT_ID_SEED_ENTROPY_BYTES = 10
_EXCERPT_CHARS = 200


class RunDataFetchError(RemoteProtocolError):
    """Fetching a run's events or step results from the API failed (``use_api``).

    ``http_status`` is the API's status (``None`` when the reply was a 2xx
    with an unusable body); the call request then fails with a 500.
    """

    code = ErrorCode.UNKNOWN

    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


# --- headers -----------------------------------------------------------------


def base_headers(
    settings: Settings | str | None, framework: str | None = None
) -> dict[str, str]:
    """Headers on every SDK → Inngest request.

    See docs/protocol/http.rst#headers-on-sdk-requests.

    ``settings`` may be a :class:`Settings` or just the environment name
    (``None`` for none); ``X-Inngest-Env`` is sent only when one is set.
    """
    env_name = settings.env if isinstance(settings, Settings) else settings
    headers = {
        "content-type": "application/json",
        "x-inngest-sdk": SDK_IDENTITY,
        "x-inngest-req-version": REQUEST_VERSION,
        "user-agent": SDK_IDENTITY,
    }
    if env_name:
        headers["x-inngest-env"] = env_name
    if framework:
        headers["x-inngest-framework"] = framework
    return headers


def auth_headers(
    signing_key: str | None, fallback: str | None
) -> tuple[dict[str, str], dict[str, str] | None]:
    """``Authorization`` headers for the primary key and for the fallback key.

    The first dict is empty without a primary key; the second is ``None``
    without a fallback key.  Raises :class:`InvalidSigningKeyError` (from
    :func:`hash_signing_key`) for a key that is not hex after its prefix.
    """
    primary = (
        {"authorization": f"Bearer {hash_signing_key(signing_key)}"}
        if signing_key
        else {}
    )
    second = (
        {"authorization": f"Bearer {hash_signing_key(fallback)}"} if fallback else None
    )
    return primary, second


def _authed(
    headers: dict[str, str], settings: Settings
) -> tuple[dict[str, str], dict[str, str] | None]:
    primary, second = auth_headers(settings.signing_key, settings.signing_key_fallback)
    return (
        {**headers, **primary},
        None if second is None else {**headers, **second},
    )


def _excerpt(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    if len(text) > _EXCERPT_CHARS:
        text = text[:_EXCERPT_CHARS] + "..."
    return repr(text) if text else "(empty body)"


# --- sending events ----------------------------------------------------------


def event_id_seed(now_ms: int, entropy: bytes) -> str:
    """``X-Inngest-Event-Id-Seed``: ``<unix ms>,<standard base64 of 10 bytes>``."""
    if isinstance(now_ms, bool) or not isinstance(now_ms, int) or now_ms <= 0:
        msg = f"now_ms must be a positive int (Unix milliseconds), got {now_ms!r}"
        raise ValueError(msg)
    if len(entropy) != EVENT_ID_SEED_ENTROPY_BYTES:
        msg = (
            f"entropy must be {EVENT_ID_SEED_ENTROPY_BYTES} random bytes, "
            f"got {len(entropy)}"
        )
        raise ValueError(msg)
    return f"{now_ms},{base64.b64encode(entropy).decode('ascii')}"


def build_send_events_request(
    events: Sequence[Event] | Event,
    *,
    settings: Settings,
    now_ms: int,
    entropy: bytes,
) -> OutboundRequest:
    """``POST {event origin}/e/{event key}`` with the events as a JSON array.

    Events with ``ts == 0`` get ``now_ms``.  ``entropy`` is 10 random bytes
    from the caller; with ``now_ms`` it forms the event-id seed that lets the
    server dedupe retries, so build once and resend the same request.
    """
    event_key = settings.effective_event_key
    if event_key is None:
        msg = (
            "cannot send events without an event key in cloud mode: set the "
            "INNGEST_EVENT_KEY environment variable or pass event_key= to the "
            "client (or run against the Dev Server with INNGEST_DEV=1)"
        )
        raise EventKeyUnspecifiedError(msg)
    seed = event_id_seed(now_ms, entropy)
    if isinstance(events, Event):
        events = [events]
    body = [
        unstructure(attrs.evolve(event, ts=now_ms) if event.ts == 0 else event)
        for event in events
    ]
    headers = base_headers(settings)
    headers["x-inngest-event-id-seed"] = seed
    url = join_api_url(
        settings.event_api_origin, "/e/" + urllib.parse.quote(event_key, safe="")
    )
    return OutboundRequest(
        method="POST",
        url=url,
        headers=headers,
        body=dumps_compact(body),
        retry_on_5xx=True,
    )


def _send_hint(status: int) -> str:
    if status in (401, 403):
        return (
            "check the event key (INNGEST_EVENT_KEY or the event_key argument) "
            "and that it belongs to the environment you send to (INNGEST_ENV)"
        )
    if status == 400:
        return (
            "check the events: names must not start with 'inngest/', data must "
            "be a JSON object, and each event must stay within the size limit"
        )
    if status == 404:
        return "check the Event API origin (INNGEST_EVENT_API_BASE_URL)"
    if status >= 500:
        return "the Event API failed; sending the same request again is safe"
    return "check the Event API origin and event key"


def parse_send_events_response(resp: OutboundResponse) -> list[str]:
    """The ids the Event API assigned, one per event, in order.

    Raises :class:`SendEventsError` (with the ids it did accept) when the reply
    carries an ``error``, has status >= 400, or is not the expected JSON.
    """
    try:
        data = loads(resp.body)
    except ValueError:
        msg = (
            f"Event API answered HTTP {resp.status} with a non-JSON body "
            f"{_excerpt(resp.body)}; {_send_hint(resp.status)}"
        )
        raise SendEventsError(msg) from None
    if not isinstance(data, dict):
        msg = (
            f"Event API answered HTTP {resp.status} with JSON that is not an "
            f"object: {_excerpt(resp.body)}"
        )
        raise SendEventsError(msg)
    raw_ids = data.get("ids")
    ids = (
        [i for i in raw_ids if isinstance(i, str)] if isinstance(raw_ids, list) else []
    )
    body_status = data.get("status")
    status = resp.status
    if status < 400 and isinstance(body_status, int) and body_status >= 400:
        status = body_status
    error = data.get("error")
    if error is None and status < 400:
        if raw_ids is not None and not isinstance(raw_ids, list):
            msg = f"Event API reply has 'ids' that is not a list: {_excerpt(resp.body)}"
            raise SendEventsError(msg)
        return ids
    server_message = str(error) if error else str(data.get("message") or "")
    if not server_message:
        server_message = "no error message"
    msg = (
        f"Event API rejected the events (HTTP {status}): {server_message}; "
        f"{_send_hint(status)}"
    )
    if ids:
        msg += f" ({len(ids)} event(s) accepted)"
    raise SendEventsError(msg, ids)


# --- run data (use_api) --------------------------------------------------------


def _run_url(settings: Settings, run_id: str, what: str) -> str:
    if not run_id:
        msg = "run_id must be a non-empty string"
        raise ValueError(msg)
    quoted = urllib.parse.quote(run_id, safe="")
    return join_api_url(settings.api_origin, f"/v0/runs/{quoted}/{what}")


def _build_run_get(run_id: str, settings: Settings, what: str) -> OutboundRequest:
    headers, fallback = _authed(base_headers(settings), settings)
    return OutboundRequest(
        method="GET",
        url=_run_url(settings, run_id, what),
        headers=headers,
        fallback_headers=fallback,
    )


def build_fetch_batch_request(run_id: str, settings: Settings) -> OutboundRequest:
    """``GET {api origin}/v0/runs/{run_id}/batch``: the run's triggering events."""
    return _build_run_get(run_id, settings, "batch")


def build_fetch_actions_request(run_id: str, settings: Settings) -> OutboundRequest:
    """``GET {api origin}/v0/runs/{run_id}/actions``: the run's memoized steps."""
    return _build_run_get(run_id, settings, "actions")


def _parse_run_data(resp: OutboundResponse, what: str) -> Any:
    if resp.status >= 400:
        hint = ""
        if resp.status in (401, 403):
            hint = (
                "; check the signing key (INNGEST_SIGNING_KEY) and the "
                "environment (INNGEST_ENV)"
            )
        elif resp.status == 404:
            hint = "; check the API origin (INNGEST_API_BASE_URL)"
        msg = (
            f"fetching the run's {what} failed: HTTP {resp.status} "
            f"{_excerpt(resp.body)}{hint}"
        )
        raise RunDataFetchError(msg, resp.status)
    try:
        return loads(resp.body)
    except ValueError:
        msg = (
            f"fetching the run's {what}: HTTP {resp.status} reply is not JSON: "
            f"{_excerpt(resp.body)}"
        )
        raise RunDataFetchError(msg, resp.status) from None


def parse_fetch_batch_response(resp: OutboundResponse) -> list[Event]:
    """The events of ``GET /v0/runs/{id}/batch``; raises :class:`RunDataFetchError`."""
    data = _parse_run_data(resp, "batch")
    if not isinstance(data, list):
        msg = f"the run's batch is not a JSON array: {_excerpt(resp.body)}"
        raise RunDataFetchError(msg, resp.status)
    events = []
    for index, raw in enumerate(data):
        try:
            events.append(parse_event(raw, where=f"batch[{index}]"))
        except BodyInvalidError as exc:
            raise RunDataFetchError(
                f"the run's batch has an invalid event: {exc.message}", resp.status
            ) from exc
    return events


def parse_fetch_actions_response(resp: OutboundResponse) -> dict[str, Any]:
    """The memoized steps of ``GET /v0/runs/{id}/actions`` (same shape as ``steps``)."""
    data = _parse_run_data(resp, "actions")
    if not isinstance(data, dict):
        msg = f"the run's actions are not a JSON object: {_excerpt(resp.body)}"
        raise RunDataFetchError(msg, resp.status)
    return data


# --- sync ----------------------------------------------------------------------


def build_register_request(
    payload_body: bytes,
    *,
    settings: Settings,
    framework: str | None,
    expected_server_kind: str | None,
    deploy_id: str | None,
) -> OutboundRequest:
    """``POST {api origin}/fn/register[?deployId=...]`` (out-of-band sync).

    ``expected_server_kind`` is the incoming PUT's ``X-Inngest-Server-Kind``
    (header omitted when ``None``); ``deploy_id`` its ``deployId`` query param.
    """
    path = "/fn/register"
    if deploy_id:
        path += "?" + urllib.parse.urlencode({"deployId": deploy_id})
    headers = base_headers(settings, framework)
    if expected_server_kind:
        headers["x-inngest-expected-server-kind"] = expected_server_kind
    headers, fallback = _authed(headers, settings)
    return OutboundRequest(
        method="POST",
        url=join_api_url(settings.api_origin, path),
        headers=headers,
        body=payload_body,
        fallback_headers=fallback,
    )


def build_checkpoint_request(
    settings: Settings, ctx: CallContext, ops: Sequence[StepOp]
) -> OutboundRequest:
    """``POST {api origin}/v1/checkpoint/{run_id}/async``: steps a call ran.

    The body names the run, the function (its UUID, ``ctx.fn_id``) and the
    queue item whose attempts the server resets
    (docs/protocol/executor.rst#async-checkpoints).
    """
    if not ctx.run_id:
        msg = "a checkpoint needs the call's run_id"
        raise ValueError(msg)
    body: dict[str, Any] = {
        "run_id": ctx.run_id,
        "fn_id": ctx.fn_id or "",
        "qi_id": ctx.qi_id or "",
        "steps": [unstructure(op) for op in ops],
    }
    if ctx.request_id:
        body["request_id"] = ctx.request_id
    if ctx.generation_id:
        body["generation_id"] = ctx.generation_id
    headers, fallback = _authed(base_headers(settings), settings)
    quoted = urllib.parse.quote(ctx.run_id, safe="")
    return OutboundRequest(
        method="POST",
        url=join_api_url(settings.api_origin, f"/v1/checkpoint/{quoted}/async"),
        headers=headers,
        body=dumps_compact(body),
        fallback_headers=fallback,
    )
