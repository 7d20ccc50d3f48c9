"""The comm handler: one serve endpoint, as ``(request, now) -> response``.

It answers GET (introspection), PUT (sync) and POST (call requests) over the
plain values of :mod:`._http_values`.  The protocol logic is written once, as a
generator that *yields* the work it cannot do itself (send these requests,
run this handler) and receives the results; :meth:`CommHandler.handle` and
:meth:`CommHandler.handle_sync` are the thin async and sync drivers.  The
call requests (POST) are answered by the :class:`~._call_handler.CallHandler`
it holds, sync and introspection (PUT, GET) by the :class:`~._sync.SyncHandler`
it holds.  Nothing
reaching this module from a request can make it raise: every failure becomes
a JSON error response.

Limits and checks made here, before any work:

* A body larger than ``max_body_bytes`` (default :data:`DEFAULT_MAX_BODY_BYTES`,
  32 MiB) is answered 413 without being parsed or hashed.  The executor
  switches to ``use_api`` (fetching state from the API) well before 4 MiB, so
  only hand-made or hostile requests come near the default.  Framework glue
  should also refuse to *read* more than :attr:`CommHandler.max_body_bytes`
  when the ``Content-Length`` announces it.
* The signing key and fallback key are checked at construction: a key that
  is not ``signkey-<env>-<hex>`` (or bare hex) raises
  :class:`InvalidSigningKeyError` then, not at the first sync.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import partial
from typing import Any

from ._call_handler import CallHandler, Flow
from ._client import Inngest
from ._effects import Effect, Fetch, RunHandler
from ._engine import Outcome
from ._errors import (
    BodyTooLargeError,
    FunctionConfigInvalidError,
    InvalidSigningKeyError,
    LocalProtocolError,
    SignatureVerificationError,
    SigningKeyMissingError,
)
from ._function import Function, is_async_handler, run_handler, run_handler_sync
from ._function_config import FunctionConfig
from ._http_values import IncomingRequest, Response
from ._responses import ResponseBuilder
from ._server_timing import ServerTimings, Timer, timing_the_loop
from ._signing import hash_signing_key
from ._sync import SyncHandler
from ._transport import send, send_sync

__all__ = ["DEFAULT_MAX_BODY_BYTES", "BodyTooLargeError", "CommHandler", "Framework"]

#: Largest request body the comm handler accepts by default (32 MiB).
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024

_ALLOWED_METHODS = "GET, PUT, POST"


def _format_bytes(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


def _check_max_body_bytes(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = (
            "max_body_bytes must be a positive number of bytes, e.g. "
            f"{DEFAULT_MAX_BODY_BYTES} (32 MiB), got {value!r}"
        )
        raise LocalProtocolError(msg)
    return value


def _check_window(value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not value >= 0  # also rejects NaN
    ):
        msg = (
            "signature_window_seconds must be a number of seconds >= 0 "
            f"(0 disables the check), got {value!r}"
        )
        raise LocalProtocolError(msg)
    return math.inf if value == 0 else float(value)


def _check_signing_key(key: str | None, source: str) -> None:
    """Fail now, not at the first sync, when a configured key cannot be used."""
    if key is None:
        return
    try:
        hash_signing_key(key)
    except InvalidSigningKeyError as err:
        # The message describes the key's shape only; the secret is never echoed.
        raise InvalidSigningKeyError(f"{source}: {err.message}") from None


#: Runs a blocking callable off the event loop, e.g. ``anyio.to_thread.run_sync``.
RunSync = Callable[[Callable[[], Outcome]], Awaitable[Outcome]]
#: Runs a coroutine function to completion from sync code, e.g. ``anyio.run``.
RunAsync = Callable[[Callable[[], Awaitable[Outcome]]], Outcome]


def _stamped(response: Response, timings: ServerTimings | None) -> Response:
    if timings is None:
        return response
    # Added after signing: the signature covers the body, not headers.
    headers = {**response.headers, "server-timing": timings.header()}
    return Response(response.status, headers, response.body)


def _begin(timings: ServerTimings | None, effect: Effect) -> None:
    # Only the state fetch has an entry of its own, as in the official SDK.
    if timings is not None and isinstance(effect, Fetch) and effect.label == "use_api":
        timings.begin("use_api")


def _end(timings: ServerTimings | None, effect: Effect) -> None:
    if timings is not None and isinstance(effect, Fetch) and effect.label == "use_api":
        timings.end("use_api")


class Framework(str, enum.Enum):
    """The host an app is served from, as named in headers and sync payloads.

    Each framework module's ``FRAMEWORK`` is one of these.  The official
    SDK's members, with its values, plus the hosts only this SDK has
    (generic ASGI and WSGI, the h11 server).  A ``str`` enum (the official
    one is a plain ``Enum``), so it compares equal to, and prints as, its
    value.
    """

    CONNECT = "connect"
    DIGITAL_OCEAN = "digitalocean"
    DJANGO = "django"
    FAST_API = "fast_api"
    FLASK = "flask"
    TORNADO = "tornado"
    # Only this SDK's.
    ASGI = "asgi"
    H11 = "h11"
    WSGI = "wsgi"

    def __str__(self) -> str:
        return self.value


class CommHandler:
    """Serves ``functions`` of ``client`` at one endpoint.

    ``framework`` names the host (a :class:`Framework`, or any string) in
    headers and sync payloads.  ``serve_origin``/``serve_path`` override the
    URL advertised at sync (``INNGEST_SERVE_ORIGIN``/``INNGEST_SERVE_PATH``
    otherwise); ``public_path`` overrides only the advertised path.

    ``enable_unauthed_sync`` (cloud mode) overrides
    ``INNGEST_ENABLE_UNAUTHED_SYNC``: whether an unsigned out-of-band sync is
    accepted.  ``max_body_bytes`` caps the request body (default 32 MiB, see
    :data:`DEFAULT_MAX_BODY_BYTES`); a larger one is answered 413.

    ``verify_call_signatures=False`` skips the signature check of call
    requests (POST) and leaves their responses unsigned.  Only for transports that
    authenticate the executor themselves and carry no signatures: the Connect worker
    (docs/protocol/connect.rst#websocket).  HTTP hosts must keep the default.

    Raises :class:`SigningKeyMissingError` in cloud mode without a signing
    key, :class:`InvalidSigningKeyError` when the signing key or the fallback
    key is not hex, and :class:`FunctionConfigInvalidError` when ``functions``
    holds something else than functions or two with the same id.
    """

    def __init__(
        self,
        *,
        client: Inngest,
        functions: Sequence[Function[Any]],
        framework: Framework | str,
        serve_origin: str | None = None,
        serve_path: str | None = None,
        public_path: str | None = None,
        signature_window_seconds: float | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        enable_unauthed_sync: bool | None = None,
        verify_call_signatures: bool = True,
    ) -> None:
        if not isinstance(client, Inngest):
            msg = f"client must be an inngest.Inngest, got {type(client).__name__}"
            raise FunctionConfigInvalidError(msg)
        settings = client.settings
        if settings.is_cloud and not settings.signing_key:
            msg = (
                "a signing key is required in production (cloud) mode: set "
                "INNGEST_SIGNING_KEY or pass signing_key= to Inngest(); for local "
                "development set INNGEST_DEV=1 (or is_production=False)"
            )
            raise SigningKeyMissingError(msg)
        _check_signing_key(
            settings.signing_key, "INNGEST_SIGNING_KEY (or Inngest(signing_key=...))"
        )
        _check_signing_key(
            settings.signing_key_fallback,
            "INNGEST_SIGNING_KEY_FALLBACK (or Inngest(signing_key_fallback=...))",
        )
        self._max_body_bytes = _check_max_body_bytes(max_body_bytes)
        window = _check_window(
            settings.signature_window_seconds
            if signature_window_seconds is None
            else signature_window_seconds
        )
        if isinstance(functions, Function) or not isinstance(functions, Iterable):
            msg = (
                "functions must be a list of functions made by "
                f"client.create_function, got {type(functions).__name__}"
            )
            raise FunctionConfigInvalidError(msg)
        # A list, once: a generator must not be used up by the checks below.
        # The same function listed twice is served once, as by the official
        # SDK (which keys functions by id).
        functions = list({id(fn): fn for fn in functions}.values())
        # The plain value: it goes into headers and stored sync payloads.
        framework = str(framework)
        self._client = client
        self._settings = settings
        handlers: dict[str, tuple[Function[Any], Any]] = {}
        for index, function in enumerate(functions):
            if not isinstance(function, Function):
                msg = (
                    f"functions[{index}] is a {type(function).__name__}; serve() "
                    "takes the functions made by @client.create_function(...)"
                )
                raise FunctionConfigInvalidError(msg)
            for fn_id, handler in function.handlers().items():
                if fn_id in handlers:
                    # The official SDK keeps the last one silently; the server
                    # refuses two functions with one id in an app. Say which.
                    other = handlers[fn_id][0]
                    msg = (
                        f"the function id {fn_id!r} is used by {other!r} and "
                        f"{function!r}; give each function its own fn_id (an "
                        "on_failure handler's id is the function's id + "
                        "'-failure')"
                    )
                    raise FunctionConfigInvalidError(msg)
                handlers[fn_id] = (function, handler)
        self._responses = ResponseBuilder(
            framework=framework, env=settings.env, mode=settings.mode
        )
        self._calls = CallHandler(
            client=client,
            responses=self._responses,
            handlers=handlers,
            verify_calls=verify_call_signatures is not False,
            window=window,
        )
        self._sync = SyncHandler(
            client=client,
            functions=functions,
            framework=framework,
            responses=self._responses,
            serve_origin=serve_origin,
            serve_path=serve_path,
            public_path=public_path,
            enable_unauthed_sync=enable_unauthed_sync,
        )

    @property
    def responses(self) -> ResponseBuilder:
        return self._responses

    @property
    def max_body_bytes(self) -> int:
        """Largest request body answered normally; framework glue may enforce it
        early from ``Content-Length``."""
        return self._max_body_bytes

    @property
    def streaming(self) -> bool:
        """Whether calls should be answered as a streamed 201 with keepalives."""
        return self._settings.streaming_enabled

    def function_configs(self, url: str) -> list[FunctionConfig]:
        """The configs a sync registers, each function's once, with ``url``
        as its base: for a transport that registers the app itself (Connect)."""
        return self._sync.configs(url)

    # -- drivers --------------------------------------------------------------------

    async def handle(
        self,
        request: IncomingRequest,
        *,
        now: float,
        raw_request: object = None,
        timer: Timer | None = None,
        run_sync: RunSync | None = None,
    ) -> Response:
        """Answer one request; async functions are awaited.

        ``now`` is the Unix time the request arrived.  ``timer`` (e.g.
        ``time.perf_counter``) enables the ``Server-Timing`` header.  A sync
        function runs inline unless ``run_sync`` is given, e.g.
        ``anyio.to_thread.run_sync``, to keep it off the event loop.
        """
        if timer is None:
            return await self._handle(request, now, raw_request, None, run_sync)
        timings = ServerTimings(timer)
        answer = self._handle(request, now, raw_request, timings, run_sync)
        return _stamped(await timing_the_loop(answer, timings), timings)

    async def _handle(
        self,
        request: IncomingRequest,
        now: float,
        raw_request: object,
        timings: ServerTimings | None,
        run_sync: RunSync | None,
    ) -> Response:
        flow = self._flow(request, now, raw_request)
        value: Any = None
        error: Exception | None = None
        while True:
            try:
                effect = flow.throw(error) if error is not None else flow.send(value)
            except StopIteration as stop:
                response: Response = stop.value
                return response
            # Not narrower: the flow is this SDK's code and hands user errors
            # back as responses, so anything raised here is a bug, which must
            # become an error response, not a bare traceback.
            except Exception as err:
                return self._internal_error(err, now)
            error = None
            try:
                if isinstance(effect, Fetch):
                    _begin(timings, effect)
                    transport = self._client.transport
                    value = tuple([await send(transport, r) for r in effect.requests])
                elif run_sync is not None and not is_async_handler(effect.handler):
                    run = partial(self._run_sync_effect, effect, timings)
                    value = await run_sync(run)
                else:
                    value = await self._run_async_effect(effect, timings)
            # Not narrower: an effect runs user code or a pluggable transport,
            # whose errors go back into the flow that asked for it.
            except Exception as err:
                error = err
            finally:
                _end(timings, effect)

    def handle_sync(
        self,
        request: IncomingRequest,
        *,
        now: float,
        raw_request: object = None,
        timer: Timer | None = None,
        run_async: RunAsync | None = None,
    ) -> Response:
        """Blocking twin of :meth:`handle`, for sync frameworks.

        An async function needs ``run_async``, which runs a coroutine function
        to completion from this thread (e.g. ``anyio.run`` or ``asyncio.run``);
        without it, calling one is a clear, non-retriable error.
        """
        timings = None if timer is None else ServerTimings(timer)
        flow = self._flow(request, now, raw_request)
        value: Any = None
        error: Exception | None = None
        while True:
            try:
                effect = flow.throw(error) if error is not None else flow.send(value)
            except StopIteration as stop:
                return _stamped(stop.value, timings)
            # Not narrower: as in handle, anything the flow raises is a bug.
            except Exception as err:
                return _stamped(self._internal_error(err, now), timings)
            error = None
            try:
                if isinstance(effect, Fetch):
                    _begin(timings, effect)
                    transport = self._client.transport
                    value = tuple(send_sync(transport, r) for r in effect.requests)
                elif run_async is not None and is_async_handler(effect.handler):
                    value = run_async(partial(self._run_async_effect, effect, timings))
                else:
                    value = self._run_sync_effect(effect, timings)
            # Not narrower: an effect runs user code or a pluggable transport,
            # whose errors go back into the flow that asked for it.
            except Exception as err:
                error = err
            finally:
                _end(timings, effect)

    def _run_sync_effect(
        self, effect: RunHandler, timings: ServerTimings | None = None
    ) -> Outcome:
        mw = effect.mw.timed(timings)
        outcome = run_handler_sync(
            effect.function,
            effect.handler,
            effect.request,
            client=self._client,
            mw=mw,
            target=effect.target,
            now=effect.now,
            memos=effect.request.steps,
            timings=timings,
        )
        if mw:
            mw.call_sync("before_response")
        return outcome

    async def _run_async_effect(
        self, effect: RunHandler, timings: ServerTimings | None = None
    ) -> Outcome:
        mw = effect.mw.timed(timings)
        outcome = await run_handler(
            effect.function,
            effect.handler,
            effect.request,
            client=self._client,
            mw=mw,
            target=effect.target,
            now=effect.now,
            memos=effect.request.steps,
            timings=timings,
        )
        if mw:
            await mw.call("before_response")
        return outcome

    def _internal_error(self, err: Exception, now: float) -> Response:
        self._client.logger.exception("inngest: unexpected error in the comm handler")
        return self._responses.json(
            500,
            {
                "code": "unknown",
                "message": f"internal SDK error: {err}",
                "name": type(err).__name__,
            },
            signing_key=None,
            now=now,
        )

    # -- the protocol ---------------------------------------------------------------

    def _flow(self, request: IncomingRequest, now: float, raw_request: object) -> Flow:
        method = request.method.upper()
        if len(request.body) > self._max_body_bytes:
            # Before any parsing or hashing: a huge body costs nothing more.
            return self.too_large(len(request.body), now)
        if method == "POST":
            return (yield from self._calls.call(request, now, raw_request))
        if method == "PUT":
            return (yield from self._sync.sync(request, now, self._verify_optional))
        if method == "GET":
            return self._sync.introspect(request, now, self._calls.verify)
        return self._responses.json(
            405,
            {
                "code": "method_not_allowed",
                "message": (
                    f"{method[:32]!r} is not supported here: send GET to inspect "
                    "the app, PUT to sync it, POST to run a function"
                ),
                "name": "MethodNotAllowed",
            },
            signing_key=None,
            now=now,
            extra={"allow": _ALLOWED_METHODS},
        )

    def too_large(self, size: int, now: float) -> Response:
        """The 413 for a body of ``size`` bytes over :attr:`max_body_bytes`.

        Hosts that see an oversized ``Content-Length`` answer with this
        without reading the body at all.
        """
        limit = self._max_body_bytes
        err = BodyTooLargeError(
            f"the request body is {size} bytes, more than the limit of {limit} "
            f"bytes ({_format_bytes(limit)}); raise the limit with "
            "CommHandler(max_body_bytes=...) (the max_body_bytes argument of "
            "serve()) if Inngest really sends this much"
        )
        self._client.logger.warning("inngest: rejected a request: %s", err.message)
        return self._responses.error(err, signing_key=None, now=now)

    def _verify_optional(
        self, request: IncomingRequest, now: float
    ) -> tuple[str | None, SignatureVerificationError | None]:
        try:
            return self._calls.verify(request, now), None
        except SignatureVerificationError as err:
            return None, err
