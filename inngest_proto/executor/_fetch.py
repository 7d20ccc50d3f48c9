"""``Gateway`` ops: the executor makes a step's HTTP request itself (``step.fetch``).

What the Inngest server does with a ``Gateway`` op, which the TypeScript
SDK's ``step.fetch`` reports, and so what this module describes (the op's
life, retries and concurrency are the ``AIGateway`` op's, see ``._ai``):

* It sends ``opts.method`` (``GET`` when absent) to ``opts.url`` with
  ``opts.headers`` (names in Go's canonical form) and ``opts.body``, a
  string, as the request body.
* Any reply, whatever its status, is the step's result, memoized as
  ``{"data": {"url", "headers", "body", "status_code"}}``: the headers map
  each name to its values joined by ``,`` and the body is the reply's text.
  The SDK builds a ``Response`` from it.
* No reply (connection refused, timeout) or one over the size limit fails
  the attempt: the call is retried while attempts remain, then the memo is
  ``{"error": {"name": "GatewayError", "message": "Error making gateway
  request: ..."}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._http_values import OutboundRequest, OutboundResponse, canonical_header_name
from ._reply import MAX_REPLY_BYTES

__all__ = [
    "TOO_LARGE",
    "fetch_failure_memo",
    "fetch_request",
    "fetch_success_memo",
    "opts_url_and_headers",
]

#: Why a gateway reply over :data:`MAX_REPLY_BYTES` fails the attempt.
TOO_LARGE = "http response size is greater than the limit"


def opts_url_and_headers(opts: Mapping[str, Any]) -> tuple[str, Mapping[str, str]]:
    """The ``url`` and ``headers`` of a gateway op's ``opts``, read as the
    ``Gateway`` and ``AIGateway`` ops both read them.

    Raises ``ValueError`` naming what is wrong.
    """
    url = opts.get("url")
    if not isinstance(url, str) or not url:
        msg = "opts.url must be the URL to request"
        raise ValueError(msg)
    headers = opts.get("headers") or {}
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        msg = "opts.headers must map header names to string values"
        raise ValueError(msg)
    return url, headers


def fetch_request(opts: Mapping[str, Any] | None) -> OutboundRequest:
    """The request a ``Gateway`` op's ``opts`` describe.

    Raises ``ValueError`` for opts the server could not parse either.
    """
    if not isinstance(opts, Mapping):
        msg = "the op has no opts (want url, method, headers, body)"
        raise ValueError(msg)
    url, headers = opts_url_and_headers(opts)
    method = opts.get("method") or "GET"
    if not isinstance(method, str):
        msg = "opts.method must be a string"
        raise ValueError(msg)
    body = opts.get("body")
    if body is not None and not isinstance(body, str):
        msg = "opts.body must be a string"
        raise ValueError(msg)
    return OutboundRequest(
        method.upper(),
        url,
        {canonical_header_name(name): value for name, value in headers.items()},
        (body or "").encode(),
    )


def fetch_success_memo(url: str, response: OutboundResponse) -> dict[str, Any] | str:
    """``{"data": {url, headers, body, status_code}}``, or why the reply is
    unusable (the attempt then fails)."""
    if len(response.body) > MAX_REPLY_BYTES:
        return TOO_LARGE
    return {
        "data": {
            "url": url,
            "headers": {
                canonical_header_name(name): value
                for name, value in response.headers.items()
            },
            "body": response.body.decode("utf-8", "replace"),
            "status_code": response.status,
        }
    }


def fetch_failure_memo(reason: str) -> dict[str, Any]:
    """The memo after the last attempt failed (``GatewayError``)."""
    return {
        "error": {
            "name": "GatewayError",
            "message": f"Error making gateway request: {reason}",
        }
    }
