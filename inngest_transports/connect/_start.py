"""The two HTTP calls of Connect: ``/v0/connect/start`` and ``/v0/connect/flush``.

Both carry protobuf bodies and the hashed signing key as bearer (falling back
to the second key on 401/403, as every other API call does: the fallback is in
:func:`inngest_proto._transport.send`), plus ``x-inngest-env`` when set.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from google.protobuf.message import DecodeError

from inngest_proto import ErrorCode
from inngest_proto.connect import connect_pb2 as pb
from inngest_proto.errors import InngestError
from inngest_proto.settings import Settings, join_api_url
from inngest_proto.transport import Transport, send
from inngest_proto.wire import SDK_IDENTITY, OutboundRequest, auth_headers

__all__ = ["ConnectAuthError", "StartFailed", "flush_call", "start_call"]

_EXCERPT = 200


class ConnectAuthError(InngestError):
    """The API refused the signing key (401/403): retrying cannot help."""

    code = ErrorCode.UNAUTHORIZED


class StartFailed(Exception):
    """This start attempt failed; ``str()`` says why.  Try again later."""


def _request(settings: Settings, path: str, body: bytes) -> OutboundRequest:
    headers = {
        "content-type": "application/protobuf",
        "user-agent": SDK_IDENTITY,
        "x-inngest-sdk": SDK_IDENTITY,
    }
    if settings.env:
        headers["x-inngest-env"] = settings.env
    fallback: dict[str, str] | None = None
    if settings.is_cloud:
        primary, second = auth_headers(
            settings.signing_key, settings.signing_key_fallback
        )
        fallback = None if second is None else {**headers, **second}
        headers = {**headers, **primary}
    return OutboundRequest(
        method="POST",
        url=join_api_url(settings.api_origin, path),
        headers=headers,
        body=body,
        fallback_headers=fallback,
    )


def _excerpt(body: bytes) -> str:
    text = body[:_EXCERPT].decode("utf-8", "replace").strip()
    return f": {text}" if text else ""


async def start_call(
    transport: Transport,
    settings: Settings,
    *,
    rewrite: Callable[[str], str] | None = None,
) -> pb.StartResponse:
    """One start attempt (docs/protocol/connect.rst#start-call).

    Raises :class:`ConnectAuthError` for 401/403 and :class:`StartFailed`
    for everything worth retrying (no reply, another status, a bad body or
    gateway URL).  An exception from ``rewrite`` propagates: it is a bug.
    """
    request = _request(settings, "/v0/connect/start", b"")
    try:
        reply = await send(transport, request)
    except InngestError as err:
        raise StartFailed(f"no reply from {request.url}: {err.message}") from None
    except OSError as err:
        raise StartFailed(f"no reply from {request.url}: {err}") from None
    if reply.status in (401, 403):
        msg = (
            f"{request.url} refused the signing key (HTTP {reply.status}"
            f"{_excerpt(reply.body)}); check INNGEST_SIGNING_KEY (and "
            "INNGEST_SIGNING_KEY_FALLBACK) and INNGEST_ENV"
        )
        raise ConnectAuthError(msg)
    if reply.status != 200:
        raise StartFailed(
            f"{request.url} answered HTTP {reply.status}{_excerpt(reply.body)}"
        )
    answer = pb.StartResponse()
    try:
        answer.ParseFromString(reply.body)
    except (DecodeError, UnicodeDecodeError) as err:
        raise StartFailed(
            f"{request.url} answered an unreadable body ({err})"
        ) from None
    if rewrite is not None:
        answer.gateway_endpoint = rewrite(answer.gateway_endpoint)
    problem = gateway_problem(answer.gateway_endpoint)
    if problem is not None:
        raise StartFailed(problem)
    return answer


def gateway_problem(url: str) -> str | None:
    """Why ``url`` is not a usable gateway endpoint, or ``None``."""
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("ws", "wss") or not parts.hostname:
        return (
            f"the gateway endpoint {url[:_EXCERPT]!r} is not a ws:// or wss:// URL "
            "with a host (check rewrite_gateway_endpoint, if you pass one)"
        )
    return None


async def flush_call(
    transport: Transport, settings: Settings, sdk_response: bytes
) -> str | None:
    """POST one serialized ``SDKResponse`` to ``/v0/connect/flush``.

    Returns ``None`` when the API took it, else why not.
    """
    request = _request(settings, "/v0/connect/flush", sdk_response)
    try:
        reply = await send(transport, request)
    except InngestError as err:
        return err.message
    except OSError as err:
        return str(err)
    if reply.status != 200:
        return f"HTTP {reply.status}{_excerpt(reply.body)}"
    return None
