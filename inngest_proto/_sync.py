"""GET (introspection) and PUT (sync) of the serve endpoint.

Decisions follow the official Python SDK 0.5.19
(docs/protocol/http.rst#introspection, docs/protocol/http.rst#sync-decision)
except where docs/differences.rst says otherwise: we send ``appName`` and
``deployType``, and a sync the server rejected is answered 500 with
``{message, modified: false}`` instead of a 200 that hides the failure.

Every refusal says what is wrong and what to change: a request that cannot be
answered gets a 4xx with ``{code, message, name}``, a failed registration a
500 with ``{message, modified: false}``; nothing a peer sends raises.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

from . import _json, _outbound
from ._converter import unstructure
from ._effects import Fetch
from ._errors import (
    BodyInvalidError,
    HeaderMissingError,
    InngestError,
    LocalProtocolError,
    ServerKindMismatchError,
    SignatureVerificationError,
    URLInvalidError,
)
from ._function_config import FunctionConfig
from ._http_values import IncomingRequest, OutboundResponse, Response
from ._responses import ResponseBuilder
from ._settings import Settings, resolve_settings
from ._signing import hash_event_key, hash_signing_key
from ._sync_models import (
    AuthenticatedIntrospection,
    InBandSyncResponse,
    RegisterRequest,
    UnauthenticatedIntrospection,
)

if TYPE_CHECKING:
    from ._client import Inngest
    from ._function import Function

__all__ = ["SyncHandler", "URLInvalidError"]

_AUTH_FAILED = (401, 403)
#: How much of a rejected URL an error message quotes.
_QUOTE_LIMIT = 200

_KIND_NAMES = {"cloud": "Cloud", "dev": "a Dev Server"}
_KIND_EXPECTED = {"cloud": "Cloud", "dev": "Dev Server"}

Verify = Callable[[IncomingRequest, float], str]
VerifyOptional = Callable[
    [IncomingRequest, float], tuple[str | None, SignatureVerificationError | None]
]


def _quote(value: str) -> str:
    text = repr(value)
    return text if len(text) <= _QUOTE_LIMIT else text[:_QUOTE_LIMIT] + "..."


def _split(url: str) -> SplitResult | None:
    """``urlsplit(url)``, or None when it is not a URL at all."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a bad port
    except ValueError:
        return None
    return parts


def _is_absolute_http(url: str) -> bool:
    parts = _split(url)
    return (
        parts is not None
        and parts.scheme.lower() in ("http", "https")
        and bool(parts.hostname)
    )


def _check_serve_origin(origin: str | None) -> None:
    if origin is not None and not _is_absolute_http(origin):
        msg = (
            f"the serve origin {_quote(origin)} (serve(serve_origin=...) or "
            "INNGEST_SERVE_ORIGIN) is not a URL; expected the app's public "
            "origin, e.g. 'https://my-app.example.com'"
        )
        raise LocalProtocolError(msg)


class SyncHandler:
    """Introspection and sync for one serve endpoint.

    Raises :class:`LocalProtocolError` when the serve origin is not a URL.
    """

    def __init__(
        self,
        *,
        client: Inngest,
        functions: Sequence[Function[Any]],
        framework: str,
        responses: ResponseBuilder,
        serve_origin: str | None,
        serve_path: str | None,
        public_path: str | None,
        enable_unauthed_sync: bool | None = None,
    ) -> None:
        self._client = client
        self._unauthed_sync_ok = (
            client.settings.enable_unauthed_sync
            if enable_unauthed_sync is None
            else bool(enable_unauthed_sync)
        )
        self._functions = list(functions)
        self._framework = framework
        self._responses = responses
        # serve() arguments win over INNGEST_SERVE_ORIGIN / INNGEST_SERVE_PATH,
        # which the client's settings already hold.
        overrides = resolve_settings(
            {},
            is_production=client.settings.is_production,
            serve_origin=serve_origin,
            serve_path=serve_path,
            public_path=public_path,
        )
        self._serve_origin = overrides.serve_origin or client.settings.serve_origin
        _check_serve_origin(self._serve_origin)
        self._serve_path = overrides.serve_path or client.settings.serve_path
        self._public_path = overrides.public_path
        # Introspection reports what was passed to serve(), not the env vars.
        self._declared_origin = serve_origin
        self._declared_path = serve_path

    @property
    def _settings(self) -> Settings:
        return self._client.settings

    # -- URLs and configs -------------------------------------------------------------

    def advertised_url(self, request_url: str) -> str:
        """The app URL to sync: the request's, with the serve overrides applied.

        Raises :class:`URLInvalidError` when the result is not an absolute
        http(s) URL (a request URL with a bogus host and no serve origin).
        """
        parts = _split(request_url)
        scheme, netloc, path = (
            (parts.scheme, parts.netloc, parts.path) if parts else ("", "", "")
        )
        if self._serve_origin:
            origin = urlsplit(self._serve_origin)
            scheme, netloc = origin.scheme, origin.netloc
        if self._serve_path:
            path = self._serve_path
        if self._public_path:
            path = self._public_path
        url = urlunsplit((scheme, netloc, path, "", ""))
        if not _is_absolute_http(url):
            msg = (
                f"cannot sync: the app URL {_quote(url)}, built from the request "
                f"URL {_quote(request_url)}, is not an absolute http(s) URL; set "
                "INNGEST_SERVE_ORIGIN (or serve(serve_origin=...)) to the app's "
                "public origin, e.g. 'https://my-app.example.com'"
            )
            raise URLInvalidError(msg)
        return url

    def configs(self, url: str) -> list[FunctionConfig]:
        out: list[FunctionConfig] = []
        for function in self._functions:
            out.extend(function.get_configs(url))
        return out

    # -- GET ------------------------------------------------------------------

    def introspect(
        self, request: IncomingRequest, now: float, verify: Verify
    ) -> Response:
        settings = self._settings
        server_kind = request.headers.get("x-inngest-server-kind")
        if settings.is_dev:
            if server_kind == "cloud":
                return self._responses.json(403, {}, signing_key=None, now=now)
            body = unstructure(self._unauthenticated())
            return self._responses.json(200, body, signing_key=None, now=now)
        try:
            key = verify(request, now)
        except SignatureVerificationError as err:
            return self._responses.unauthorized(err)
        if server_kind == "dev":
            return self._responses.json(403, {}, signing_key=key, now=now)
        body = unstructure(self._authenticated())
        return self._responses.json(200, body, signing_key=key, now=now)

    def _function_count(self) -> int:
        # Failure handlers are not counted, as the official SDK does.
        return len(self._functions)

    def _unauthenticated(self) -> UnauthenticatedIntrospection:
        settings = self._settings
        return UnauthenticatedIntrospection(
            function_count=self._function_count(),
            has_event_key=settings.event_key is not None,
            has_signing_key=settings.signing_key is not None,
            has_signing_key_fallback=settings.signing_key_fallback is not None,
            mode=settings.mode,
        )

    def _authenticated(self) -> AuthenticatedIntrospection:
        settings = self._settings
        return AuthenticatedIntrospection(
            api_origin=settings.api_origin,
            app_id=self._client.app_id,
            env=settings.env,
            event_api_origin=settings.event_api_origin,
            event_key_hash=(
                hash_event_key(settings.event_key) if settings.event_key else None
            ),
            framework=self._framework,
            function_count=self._function_count(),
            has_event_key=settings.event_key is not None,
            has_signing_key=settings.signing_key is not None,
            has_signing_key_fallback=settings.signing_key_fallback is not None,
            mode=settings.mode,
            serve_origin=self._declared_origin,
            serve_path=self._declared_path,
            signing_key_fallback_hash=(
                hash_signing_key(settings.signing_key_fallback)
                if settings.signing_key_fallback
                else None
            ),
            signing_key_hash=(
                hash_signing_key(settings.signing_key) if settings.signing_key else None
            ),
        )

    # -- PUT ------------------------------------------------------------------

    def sync(
        self, request: IncomingRequest, now: float, verify: VerifyOptional
    ) -> Generator[Any, Any, Response]:
        settings = self._settings
        headers = request.headers
        server_kind = headers.get("x-inngest-server-kind")
        key: str | None = None
        problem: SignatureVerificationError | None = None
        if settings.is_cloud:
            key, problem = verify(request, now)
            if headers.get("x-inngest-sync-kind") == "in_band":
                if key is None:
                    return self._responses.unauthorized(
                        _refusal(problem, "an in-band sync must be signed")
                    )
                return self._in_band(request, now, key)
            if key is None and not self._unauthed_sync_ok:
                return self._responses.unauthorized(
                    _refusal(
                        problem,
                        "unsigned syncs are refused since "
                        "INNGEST_ENABLE_UNAUTHED_SYNC is false; sync from the "
                        "Inngest dashboard or unset it",
                    )
                )
        if server_kind and server_kind != settings.mode:
            err = ServerKindMismatchError(
                f"Sync rejected since it's from "
                f"{_KIND_NAMES.get(server_kind, server_kind)} "
                f"but expected {_KIND_EXPECTED[settings.mode]}"
            )
            return self._responses.json(
                err.status,
                {"code": err.code, "message": err.message},
                signing_key=key,
                now=now,
            )
        try:
            return (yield from self._out_of_band(request, now, key, server_kind))
        except URLInvalidError as err:
            return self._responses.error(err, signing_key=key, now=now)

    def _out_of_band(
        self,
        request: IncomingRequest,
        now: float,
        key: str | None,
        server_kind: str | None,
    ) -> Generator[Any, Any, Response]:
        url = self.advertised_url(request.url)
        payload = RegisterRequest(
            app_id=self._client.app_id,
            app_version=self._client.app_version,
            framework=self._framework,
            functions=self.configs(url),
            url=url,
        )
        register = _outbound.build_register_request(
            _json.dumps_compact(unstructure(payload)),
            settings=self._settings,
            framework=self._framework,
            expected_server_kind=server_kind,
            deploy_id=request.query.get("deployId"),
        )
        try:
            (reply,) = yield Fetch((register,), label="register")
        except InngestError as err:
            return self._failed_sync(err.message, key, now)
        # Not narrower: the transport is pluggable; whatever it raises means
        # the register call got no reply.
        except Exception as err:
            return self._failed_sync(
                f"could not reach {register.url} to register the app "
                f"({type(err).__name__}: {err}); check INNGEST_API_BASE_URL "
                "and that the Inngest server is running",
                key,
                now,
            )
        return self._register_reply(reply, register.url, key, now)

    def _register_reply(
        self, reply: OutboundResponse, url: str, key: str | None, now: float
    ) -> Response:
        try:
            body = _json.loads(reply.body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            body = None
        if not isinstance(body, dict):
            return self._failed_sync(
                f"registration failed: {url} answered {reply.status} with a "
                "body that is not a JSON object; check that INNGEST_API_BASE_URL "
                "points at Inngest (or the Dev Server)",
                key,
                now,
            )
        if reply.status >= 400 or body.get("error"):
            reason = (
                body.get("error") or body.get("message") or f"status {reply.status}"
            )
            message = f"registration failed: {reason}"
            if reply.status in _AUTH_FAILED:
                message += (
                    f" ({reply.status}); check that INNGEST_SIGNING_KEY (or "
                    "INNGEST_SIGNING_KEY_FALLBACK) is this environment's signing key"
                )
            return self._failed_sync(message, key, now)
        return self._responses.json(
            200,
            body,
            signing_key=key,
            now=now,
            extra={"x-inngest-sync-kind": "out_of_band"},
        )

    def _failed_sync(self, message: str, key: str | None, now: float) -> Response:
        self._client.logger.error("inngest: %s", message)
        return self._responses.json(
            500,
            {"message": message, "modified": False},
            signing_key=key,
            now=now,
            extra={"x-inngest-sync-kind": "out_of_band"},
        )

    def _in_band(self, request: IncomingRequest, now: float, key: str) -> Response:
        try:
            body = _json.loads(request.body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("url"), str):
            err = BodyInvalidError(
                'an in-band sync body must be {"url": "<app URL>"}; only Inngest '
                "Cloud sends in-band syncs: sync from the dashboard, or drop the "
                "x-inngest-sync-kind header to sync out-of-band"
            )
            return self._responses.error(err, signing_key=key, now=now)
        if not _is_absolute_http(body["url"]):
            err = BodyInvalidError(
                f"the in-band sync body's url {_quote(body['url'])} is not an "
                'absolute http(s) URL; expected {"url": "https://<app host>/<path>"}'
            )
            return self._responses.error(err, signing_key=key, now=now)
        try:
            url = self.advertised_url(body["url"])
        except URLInvalidError as err:
            return self._responses.error(err, signing_key=key, now=now)
        settings = self._settings
        answer = InBandSyncResponse(
            app_id=self._client.app_id,
            app_version=self._client.app_version,
            env=settings.env,
            framework=self._framework,
            functions=self.configs(url),
            inspection=self._authenticated(),
            url=url,
        )
        return self._responses.json(
            200,
            unstructure(answer),
            signing_key=key,
            now=now,
            extra={"x-inngest-sync-kind": "in_band"},
        )


def _refusal(
    problem: SignatureVerificationError | None, why: str
) -> SignatureVerificationError:
    """The 401 reason: why this sync needs a signature, and what was wrong."""
    if problem is None:
        return HeaderMissingError(why)
    return type(problem)(f"{why}: {problem.message}")
