"""The client: app identity, configuration, function registry, event sending."""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import re
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any, TypeVar

from . import _outbound
from ._checkpointing import Checkpointing, checkpointing_option
from ._errors import (
    EventKeyUnspecifiedError,
    FunctionConfigInvalidError,
    InngestError,
    LocalProtocolError,
    SendEventsError,
    TransportError,
)
from ._events import Event, SendEventsResult
from ._function import Function, FunctionHandler
from ._http_values import OutboundRequest, OutboundResponse
from ._middleware import MiddlewareManager, UninitializedMiddleware
from ._options import (
    Batch,
    Cancel,
    Concurrency,
    Debounce,
    Priority,
    RateLimit,
    Singleton,
    Throttle,
    Timeouts,
    TriggerCron,
    TriggerEvent,
)
from ._serializer import Serializer, default_serializer
from ._settings import Settings, resolve_settings
from ._transport import (
    DEFAULT_REQUEST_TIMEOUT,
    Transport,
    default_transport,
    send,
    send_sync,
)

__all__ = ["Inngest"]

T = TypeVar("T")

_SEED_ENTROPY_BYTES = 10


class Inngest:
    """An Inngest app: create functions with it, serve them, send events.

    Arguments left out come from the ``INNGEST_*`` environment variables
    (see the configuration docs).  ``transport`` performs network calls; the
    httpx transport is used when omitted and installed.
    """

    def __init__(
        self,
        *,
        app_id: str,
        api_base_url: str | None = None,
        app_version: str | None = None,
        env: str | None = None,
        event_api_base_url: str | None = None,
        event_key: str | None = None,
        is_production: bool | None = None,
        logger: logging.Logger | Any | None = None,
        middleware: Sequence[UninitializedMiddleware] | None = None,
        request_timeout: int | datetime.timedelta | None = None,
        serializer: Serializer | None = None,
        signing_key: str | None = None,
        signing_key_fallback: str | None = None,
        transport: Transport | None = None,
        environ: Mapping[str, str] | None = None,
        checkpointing: bool | Checkpointing = False,
    ) -> None:
        # Only "" is refused, as the server refuses an empty app name.
        if not isinstance(app_id, str) or not app_id:
            msg = (
                "Inngest(app_id=...) must be a non-empty string naming your app, "
                f"such as 'my-app'; got {app_id!r}"
            )
            raise LocalProtocolError(msg)
        if app_version is not None and not isinstance(app_version, str):
            msg = f"Inngest(app_version=...) must be a string, got {app_version!r}"
            raise LocalProtocolError(msg)
        if request_timeout is not None and (
            isinstance(request_timeout, bool)
            or not isinstance(request_timeout, int | datetime.timedelta)
        ):
            msg = (
                "Inngest(request_timeout=...) must be milliseconds (int) or a "
                f"timedelta, got {request_timeout!r}"
            )
            raise LocalProtocolError(msg)
        if request_timeout is not None and _seconds(request_timeout) <= 0:
            msg = (
                "Inngest(request_timeout=...) must be positive, got "
                f"{request_timeout!r}"
            )
            raise LocalProtocolError(msg)
        if transport is not None:
            _check_transport(transport, "Inngest(transport=...)")
        self.app_id = app_id
        self._app_version = app_version
        self.logger = logger or logging.getLogger("inngest")
        self.middleware: list[UninitializedMiddleware] = _middleware_list(
            middleware, "Inngest(middleware=...)", LocalProtocolError
        )
        self.request_timeout = request_timeout
        self.serializer: Serializer = _checked_serializer(serializer)
        try:
            #: Run consecutive steps in one call (``None``: off, the default).
            self.checkpointing = checkpointing_option(checkpointing)
        except TypeError as err:
            raise LocalProtocolError(str(err)) from None
        self._transport: Transport | None = transport
        self.settings: Settings = resolve_settings(
            os.environ if environ is None else environ,
            is_production=is_production,
            signing_key=signing_key,
            signing_key_fallback=signing_key_fallback,
            event_key=event_key,
            env_name=env,
            api_base_url=api_base_url,
            event_api_base_url=event_api_base_url,
        )
        self.is_production = self.settings.is_production

    # -- configuration, with the official SDK's property names ----------------------

    @property
    def api_origin(self) -> str:
        return self.settings.api_origin

    @property
    def event_api_origin(self) -> str:
        return self.settings.event_api_origin

    @property
    def env(self) -> str | None:
        return self.settings.env

    @property
    def event_key(self) -> str | None:
        return self.settings.event_key

    @property
    def signing_key(self) -> str | None:
        return self.settings.signing_key

    @property
    def signing_key_fallback(self) -> str | None:
        return self.settings.signing_key_fallback

    @property
    def app_version(self) -> str | None:
        return self._app_version

    @property
    def mode(self) -> str:
        """``"dev"`` or ``"cloud"``."""
        return self.settings.mode

    @property
    def transport(self) -> Transport:
        """What reaches Inngest: the one given, else the httpx transport.

        The httpx transport waits ``request_timeout`` (30 s by default) on
        each phase of a request.  Raises :class:`LocalProtocolError` when none
        was given and no default transport is installed (the ``http`` extra
        installs ``inngest_transports.http``, registered as the default).
        """
        if self._transport is None:
            self._transport = self.create_default_transport()
        return self._transport

    def create_default_transport(self) -> Transport:
        """The transport of a client given none: the installed default (the
        httpx one), waiting ``request_timeout``.

        Called once, on first use.  A subclass may make another:
        ``mocked.Inngest`` makes one that reaches nothing.
        """
        return default_transport(_seconds(self.request_timeout))

    @contextlib.contextmanager
    def using_transport(self, transport: Transport) -> Generator[None, None, None]:
        """Reach Inngest through ``transport`` inside the ``with`` block, and
        through the transport before it again after.

        For tools that answer the client's calls themselves for a while: the
        ``TestEngine`` routes the events a function sends to its executor.
        The client is one object: a call made from another thread meanwhile
        goes through ``transport`` too.
        """
        _check_transport(transport, "using_transport(...)")
        saved = self._transport
        self._transport = transport
        try:
            yield
        finally:
            self._transport = saved

    def set_logger(self, logger: logging.Logger | Any) -> None:
        self.logger = logger

    def add_middleware(self, middleware: UninitializedMiddleware) -> None:
        [checked] = _middleware_list(
            [middleware], "add_middleware(...)", LocalProtocolError
        )
        self.middleware = [*self.middleware, checked]

    # -- functions ------------------------------------------------------------------

    def create_function(
        self,
        *,
        fn_id: str,
        trigger: TriggerEvent | TriggerCron | Sequence[TriggerEvent | TriggerCron],
        batch_events: Batch | None = None,
        cancel: Sequence[Cancel] | None = None,
        concurrency: Sequence[Concurrency] | None = None,
        debounce: Debounce | None = None,
        idempotency: str | None = None,
        middleware: Sequence[UninitializedMiddleware] | None = None,
        name: str | None = None,
        on_failure: FunctionHandler[Any] | None = None,
        output_type: object = None,
        priority: Priority | None = None,
        rate_limit: RateLimit | None = None,
        retries: int | None = None,
        throttle: Throttle | None = None,
        timeouts: Timeouts | None = None,
        singleton: Singleton | None = None,
    ) -> Callable[[FunctionHandler[T]], Function[T]]:
        """Decorate an (async or sync) handler ``(ctx) -> output`` as a function.

        Options are validated here, so a mistake fails at import time.
        """
        triggers = list(trigger) if isinstance(trigger, list | tuple) else [trigger]

        def decorator(handler: FunctionHandler[T]) -> Function[T]:
            fn_middleware = _middleware_list(
                middleware,
                f"function {fn_id!r}: middleware",
                FunctionConfigInvalidError,
            )
            return Function(
                app_id=self.app_id,
                fn_id=fn_id,
                handler=handler,
                triggers=triggers,
                name=name,
                on_failure=on_failure,
                middleware=fn_middleware,
                output_type=output_type,
                batch_events=batch_events,
                # Lists are validated (and copied) by FunctionOptions, which
                # names the option when given something else.
                cancel=cancel,
                concurrency=concurrency,
                debounce=debounce,
                idempotency=idempotency,
                priority=priority,
                rate_limit=rate_limit,
                retries=retries,
                throttle=throttle,
                timeouts=timeouts,
                singleton=singleton,
            )

        return decorator

    # -- events ---------------------------------------------------------------------

    def _send_request(self, events: list[Event]) -> OutboundRequest:
        if self.settings.effective_event_key is None:
            msg = (
                "cannot send events without an event key in cloud mode: set the "
                "INNGEST_EVENT_KEY environment variable or pass event_key= to "
                "Inngest() (or use the Dev Server: INNGEST_DEV=1)"
            )
            raise EventKeyUnspecifiedError(msg)
        transport = self.transport
        return _outbound.build_send_events_request(
            events,
            settings=self.settings,
            now_ms=int(transport.now() * 1000),
            entropy=transport.random_bytes(_SEED_ENTROPY_BYTES),
        )

    @staticmethod
    def _as_list(events: object, where: str) -> list[Event]:
        if isinstance(events, Event):
            return [events]
        if not isinstance(events, Sequence) or isinstance(events, str | bytes):
            msg = (
                f"{where} takes an inngest.Event or a list of them, "
                f"got {type(events).__name__}"
            )
            raise TypeError(msg)
        items = list(events)
        for index, item in enumerate(items):
            if not isinstance(item, Event):
                msg = (
                    f"{where} takes inngest.Event values, got "
                    f"{type(item).__name__} at index {index}"
                )
                raise TypeError(msg)
        return items

    @classmethod
    def _send_failure(cls, req: OutboundRequest, err: Exception) -> Exception:
        """What a send raises when the transport raised ``err``.

        An SDK error from the transport (other than a transport failure)
        propagates unchanged; anything else becomes :class:`SendEventsError`,
        which is what callers of the official SDK catch.
        """
        if isinstance(err, InngestError) and not isinstance(err, TransportError):
            return err
        return cls._transport_failed(req, err)

    @staticmethod
    def _transport_failed(req: OutboundRequest, err: Exception) -> SendEventsError:
        # The event key is the credential in this URL: keep it out of messages.
        url = re.sub(r"/e/[^/?#]+", "/e/<event key>", req.url)
        detail = err.message if isinstance(err, InngestError) else str(err)
        msg = (
            f"sending events to {url} failed before the Event API replied: "
            f"{type(err).__name__}: {detail}"
        )
        return SendEventsError(msg)

    @staticmethod
    def _result(
        resp: OutboundResponse,
    ) -> tuple[list[str], SendEventsResult, SendEventsError | None]:
        """The ids, what ``after_send_events`` sees, and the error to raise.

        As in the official SDK, middleware sees a rejected send's result too
        (``error`` set) before :class:`SendEventsError` is raised.
        """
        try:
            ids = _outbound.parse_send_events_response(resp)
        except SendEventsError as err:
            return [], SendEventsResult(ids=list(err.ids), error=err.message), err
        return ids, SendEventsResult(ids=list(ids)), None

    async def send(
        self, events: Event | Sequence[Event], *, skip_middleware: bool = False
    ) -> list[str]:
        """Send one event or a list of events; returns the server's ids, in order.

        Raises :class:`SendEventsError` when the Event API rejects the events or
        cannot be reached (after the transport's retries).  Middleware sees
        the events before (and may change the list) and the result after.
        """
        mw = MiddlewareManager(()) if skip_middleware else self._mw()
        return await self._send_through(mw, events, "send()")

    async def _send_through(
        self,
        mw: MiddlewareManager,
        events: Event | Sequence[Event],
        where: str,
        *,
        after_any_failure: bool = False,
    ) -> list[str]:
        """:meth:`send` with ``mw`` as the middleware.

        ``step.send_event`` passes its call request's middleware (the client's
        and the function's) and ``after_any_failure``: as in the official SDK,
        that middleware sees a result even when no reply came.
        """
        items = self._as_list(events, where)
        if mw:
            await mw.call("before_send_events", items)
            items = self._as_list(items, f"before_send_events middleware: {where}")
        req = self._send_request(items)
        try:
            resp = await send(self.transport, req)
        # Not narrower: the transport is the user's to plug in, so
        # whatever it raises is a failed send, reported as such.
        except Exception as err:
            failure = self._send_failure(req, err)
            if mw and after_any_failure:
                await mw.call("after_send_events", _unsent(failure))
            if failure is err:
                raise
            raise failure from err
        ids, result, error = self._result(resp)
        if mw:
            await mw.call("after_send_events", result)
        if error is not None:
            raise error
        return ids

    def send_sync(
        self, events: Event | Sequence[Event], *, skip_middleware: bool = False
    ) -> list[str]:
        """Blocking twin of :meth:`send` (sync middleware only)."""
        mw = MiddlewareManager(()) if skip_middleware else self._mw()
        return self._send_through_sync(mw, events, "send_sync()")

    def _send_through_sync(
        self,
        mw: MiddlewareManager,
        events: Event | Sequence[Event],
        where: str,
        *,
        after_any_failure: bool = False,
    ) -> list[str]:
        """Blocking twin of :meth:`_send_through`."""
        items = self._as_list(events, where)
        if mw:
            mw.call_sync("before_send_events", items)
            items = self._as_list(items, f"before_send_events middleware: {where}")
        req = self._send_request(items)
        try:
            resp = send_sync(self.transport, req)
        # Not narrower: the transport is the user's to plug in, so
        # whatever it raises is a failed send, reported as such.
        except Exception as err:
            failure = self._send_failure(req, err)
            if mw and after_any_failure:
                mw.call_sync("after_send_events", _unsent(failure))
            if failure is err:
                raise
            raise failure from err
        ids, result, error = self._result(resp)
        if mw:
            mw.call_sync("after_send_events", result)
        if error is not None:
            raise error
        return ids

    def _mw(self) -> MiddlewareManager:
        return MiddlewareManager.create(self.middleware, self, None)


def _unsent(err: Exception) -> SendEventsResult:
    """The ``SendEventsResult`` of a send that got no reply."""
    message = err.message if isinstance(err, InngestError) else str(err)
    return SendEventsResult(ids=[], error=message)


def _seconds(request_timeout: int | datetime.timedelta | None) -> float:
    """``request_timeout`` (milliseconds or a timedelta) in seconds."""
    if request_timeout is None:
        return DEFAULT_REQUEST_TIMEOUT
    if isinstance(request_timeout, datetime.timedelta):
        return request_timeout.total_seconds()
    return request_timeout / 1000


_E = TypeVar("_E", bound=LocalProtocolError)


def _middleware_list(
    value: object, where: str, error: type[_E]
) -> list[UninitializedMiddleware]:
    """``value`` as a list of middleware factories, or ``error`` saying why not."""
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        msg = (
            f"{where} must be a list of middleware classes (subclasses of "
            f"inngest.Middleware or inngest.MiddlewareSync), got {value!r}"
        )
        raise error(msg)
    for item in value:
        if not callable(item):
            msg = (
                f"{where} must be middleware classes (subclasses of "
                f"inngest.Middleware or inngest.MiddlewareSync) or factories "
                f"(client, raw_request) -> middleware, got {item!r}"
            )
            raise error(msg)
    return list(value)


def _checked_serializer(serializer: object) -> Serializer:
    if serializer is None:
        return default_serializer()
    if not (
        callable(getattr(serializer, "serialize", None))
        and callable(getattr(serializer, "deserialize", None))
    ):
        msg = (
            "Inngest(serializer=...) needs serialize(obj, typ) and "
            f"deserialize(obj, typ) methods, got {type(serializer).__name__}"
        )
        raise LocalProtocolError(msg)
    return serializer  # type: ignore[return-value]


def _check_transport(transport: object, where: str) -> None:
    if not isinstance(transport, Transport):
        msg = (
            f"{where} must implement inngest.Transport (request, request_sync, "
            f"now, random_bytes), got {type(transport).__name__}"
        )
        raise LocalProtocolError(msg)
