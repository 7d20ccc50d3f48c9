"""The JSON answers of the dev server's API, shared by its route handlers."""

from __future__ import annotations

import time
from typing import Any

from inngest_proto import json_codec
from inngest_proto.wire import Response

from ._rfc3339 import rfc3339

__all__ = ["JSON_HEADERS", "envelope", "error", "json_response"]

# ``x-inngest-server-kind`` is added to every answer by ``DevApi.handle``;
# CORS headers are added by the server's guard, for local pages only.
JSON_HEADERS = {"content-type": "application/json"}


def json_response(status: int, body: Any) -> Response:
    return Response(status, dict(JSON_HEADERS), json_codec.dumps_compact(body))


def error(status: int, message: str, data: Any = None) -> Response:
    """The server's generic error body ("publicerr").

    See docs/protocol/devserver-api.rst#errors-and-auth.
    """
    return json_response(status, {"error": message, "data": data, "status": status})


def envelope(data: Any) -> Response:
    """The v1 envelope: ``{"data": ..., "metadata": {"fetched_at": ...}}``."""
    return json_response(
        200, {"data": data, "metadata": {"fetched_at": rfc3339(time.time())}}
    )
