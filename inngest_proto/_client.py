"""The client: app identity, configuration, function registry, event sending."""

from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from . import _outbound
from ._errors import LocalProtocolError
from ._events import Event
from ._function import Function, FunctionHandler
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
from ._settings import Settings, resolve_settings
from ._transport import Transport, default_transport, send, send_sync

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
        serializer: object = None,
        signing_key: str | None = None,
        signing_key_fallback: str | None = None,
        transport: Transport | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if not isinstance(app_id, str) or not app_id.strip():
            msg = "Inngest(app_id=...) must be a non-empty string naming your app"
            raise LocalProtocolError(msg)
        self.app_id = app_id
        self._app_version = app_version
        self.logger = logger or logging.getLogger("inngest")
        self.middleware: list[UninitializedMiddleware] = list(middleware or [])
        self.request_timeout = request_timeout
        self.serializer = serializer
        self._transport = transport
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
        if self._transport is None:
            self._transport = default_transport()
        return self._transport

    def set_logger(self, logger: logging.Logger | Any) -> None:
        self.logger = logger

    def add_middleware(self, middleware: UninitializedMiddleware) -> None:
        self.middleware = [*self.middleware, middleware]

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
            return Function(
                app_id=self.app_id,
                fn_id=fn_id,
                handler=handler,
                triggers=triggers,
                name=name,
                on_failure=on_failure,
                middleware=list(middleware or []),
                output_type=output_type,
                batch_events=batch_events,
                cancel=None if cancel is None else list(cancel),
                concurrency=None if concurrency is None else list(concurrency),
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

    def _send_request(self, events: list[Event]) -> Any:
        transport = self.transport
        return _outbound.build_send_events_request(
            events,
            settings=self.settings,
            now_ms=int(transport.now() * 1000),
            entropy=transport.random_bytes(_SEED_ENTROPY_BYTES),
        )

    @staticmethod
    def _as_list(events: Event | Sequence[Event]) -> list[Event]:
        items = [events] if isinstance(events, Event) else list(events)
        for item in items:
            if not isinstance(item, Event):
                msg = f"send() takes inngest.Event values, got {type(item).__name__}"
                raise TypeError(msg)
        return items

    async def send(
        self, events: Event | Sequence[Event], *, skip_middleware: bool = False
    ) -> list[str]:
        """Send one or more events; returns the server's event ids, in order."""
        items = self._as_list(events)
        mw = MiddlewareManager(()) if skip_middleware else self._mw()
        if mw:
            await mw.call("before_send_events", items)
        resp = await send(self.transport, self._send_request(items))
        ids = _outbound.parse_send_events_response(resp)
        if mw:
            await mw.call("after_send_events", ids)
        return ids

    def send_sync(
        self, events: Event | Sequence[Event], *, skip_middleware: bool = False
    ) -> list[str]:
        """Blocking twin of :meth:`send`."""
        items = self._as_list(events)
        mw = MiddlewareManager(()) if skip_middleware else self._mw()
        if mw:
            mw.call_sync("before_send_events", items)
        resp = send_sync(self.transport, self._send_request(items))
        ids = _outbound.parse_send_events_response(resp)
        if mw:
            mw.call_sync("after_send_events", ids)
        return ids

    def _mw(self) -> MiddlewareManager:
        return MiddlewareManager.create(self.middleware, self, None)
