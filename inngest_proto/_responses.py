"""Building the serve endpoint's responses: headers, bodies, signatures.

Every response but a 401 carries the SDK headers (the server treats a reply
without ``X-Inngest-SDK`` as not coming from an SDK); a response to a request
verified with a key is signed with that key over the exact body bytes.
"""

from __future__ import annotations

from typing import Any

from . import _json
from ._errors import InngestError, RemoteProtocolError
from ._http_values import Response
from ._signing import sign_response
from ._version import REQUEST_VERSION, SDK_IDENTITY

__all__ = ["ResponseBuilder", "sdk_error_body"]

JSON = "application/json"


def sdk_error_body(err: InngestError) -> dict[str, Any]:
    """``{code, message, name}`` for errors the SDK raises before user code runs."""
    return {"code": err.code, "message": err.message, "name": type(err).__name__}


class ResponseBuilder:
    """Headers shared by every response of one serve endpoint, built once."""

    __slots__ = ("_base",)

    def __init__(self, *, framework: str, env: str | None, mode: str) -> None:
        base = {
            "content-type": JSON,
            "x-inngest-sdk": SDK_IDENTITY,
            "x-inngest-req-version": REQUEST_VERSION,
            "user-agent": SDK_IDENTITY,
        }
        if env:
            base["x-inngest-env"] = env
        base["x-inngest-framework"] = framework
        # Python sends its own mode here (TypeScript echoes the request's).
        base["x-inngest-expected-server-kind"] = mode
        base["x-inngest-sdk-handled"] = "true"
        self._base = base

    def build(
        self,
        status: int,
        body: bytes,
        *,
        signing_key: str | None,
        now: float,
        extra: dict[str, str] | None = None,
        server_timing: str | None = None,
    ) -> Response:
        headers = dict(self._base)
        if extra:
            headers.update(extra)
        if server_timing:
            headers["server-timing"] = server_timing
        if signing_key is not None:
            headers["x-inngest-signature"] = sign_response(body, signing_key, int(now))
        return Response(status, headers, body)

    def json(
        self,
        status: int,
        value: Any,
        *,
        signing_key: str | None,
        now: float,
        extra: dict[str, str] | None = None,
        server_timing: str | None = None,
    ) -> Response:
        return self.build(
            status,
            _json.dumps(value),
            signing_key=signing_key,
            now=now,
            extra=extra,
            server_timing=server_timing,
        )

    def error(
        self,
        err: RemoteProtocolError | InngestError,
        *,
        signing_key: str | None,
        now: float,
    ) -> Response:
        status = err.status if isinstance(err, RemoteProtocolError) else 500
        return self.json(status, sdk_error_body(err), signing_key=signing_key, now=now)

    @staticmethod
    def unauthorized(err: InngestError) -> Response:
        """401: only the bare headers, so nothing about the app leaks.

        The body says why (missing, malformed, expired or mismatched
        signature) and what to check; the official SDK sends only
        ``{"message": "Unauthorized"}``.
        """
        body = {"message": "Unauthorized", "code": err.code, "detail": err.message}
        return Response(
            401,
            {"content-type": JSON, "x-inngest-sdk-handled": "true"},
            _json.dumps(body),
        )

    def stream_envelope(self, response: Response) -> bytes:
        """The final chunk of a streamed (201) reply: the real response, wrapped.

        The server reads ``status``, merges ``headers`` (so no-retry and
        retry-after must be inside) and un-double-encodes ``body``.
        """
        inner = {
            name: value
            for name, value in response.headers.items()
            if name
            not in (
                "x-inngest-sdk-handled",
                "x-inngest-expected-server-kind",
                "x-inngest-signature",
            )
        }
        return _json.dumps(
            {
                "body": response.body.decode(),
                "headers": inner,
                "status": response.status,
            }
        )

    def stream_start_headers(self) -> dict[str, str]:
        """Headers of a streamed reply's 201 status line."""
        return dict(self._base)
