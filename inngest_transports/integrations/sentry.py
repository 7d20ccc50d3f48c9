"""Sentry middleware: run tags on every event, and errors captured.

::

    import sentry_sdk
    from inngest_transports.integrations.sentry import SentryMiddleware

    sentry_sdk.init(dsn=...)
    client = inngest.Inngest(app_id="my-app", middleware=[SentryMiddleware])

For each call request the middleware forks a Sentry isolation scope (so
nothing leaks into the host's scope or the next request), tags it with the
run (``inngest.app.id``, ``inngest.function.id``, ``inngest.function.name``,
``inngest.run.id``, ``inngest.attempt``, ``inngest.event.id``,
``inngest.event.name``, ``inngest.event.count``) and adds an ``inngest``
context with the same plus every event name.  Anything captured while the
function runs carries them: errors the middleware captures, and the user's own
``sentry_sdk.capture_*`` calls or logging-integration events.

An error that reaches ``transform_output`` is captured, with ``inngest.step.id``
and ``inngest.step.op`` tags when a step raised it.  Like the official SDK's
``SentryMiddleware``, every attempt's error is captured (a retried step too),
and the client is flushed before each response, which suits short-lived
workers; pass ``flush=False`` through :meth:`SentryMiddleware.factory` on a
long-running server.

Requires ``sentry-sdk>=2.0`` (``pip install 'inngest-sansio[sentry]'``).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import partial
from typing import TYPE_CHECKING, Any

try:
    import sentry_sdk
except ImportError as err:  # pragma: no cover - depends on the environment
    msg = (
        "inngest_transports.integrations.sentry needs sentry-sdk 2.x: "
        "pip install 'inngest-sansio[sentry]'"
    )
    raise ImportError(msg) from err

from inngest_proto import MiddlewareSync, TransformOutputResult

from ._run_info import RunInfo

if TYPE_CHECKING:
    import inngest_proto as inngest

__all__ = ["SentryMiddleware"]


class SentryMiddleware(MiddlewareSync):
    """Tags Sentry events with the run and captures its errors.

    A sync middleware, so it serves sync and async functions alike.  Give the
    class itself as a middleware, or :meth:`factory` for options.
    """

    def __init__(
        self,
        client: inngest.Inngest,
        raw_request: object,
        *,
        flush: bool = True,
    ) -> None:
        super().__init__(client, raw_request)
        self._flush = flush
        self._scope_cm: AbstractContextManager[sentry_sdk.Scope] | None = None
        self._info: RunInfo | None = None

    @classmethod
    def factory(
        cls, *, flush: bool = True
    ) -> Callable[[inngest.Inngest, object], SentryMiddleware]:
        """A middleware factory with options.

        ``flush``: wait for Sentry to send queued events before each response
        (the official SDK always does; turn it off on long-running servers).
        """
        return partial(cls, flush=flush)

    def transform_input(
        self,
        ctx: inngest.Context | inngest.ContextSync,
        function: inngest.Function[Any],
        steps: Any,
    ) -> None:
        """Fork an isolation scope for this request and tag it with the run."""
        if not sentry_sdk.is_initialized():
            self.client.logger.warning(
                "inngest: SentryMiddleware is installed but the Sentry SDK is "
                "not initialized; call sentry_sdk.init() at startup"
            )
        info = RunInfo.of(self.client, ctx, function)
        self._info = info
        self._scope_cm = sentry_sdk.isolation_scope()
        scope = self._scope_cm.__enter__()
        for key, value in info.tags().items():
            scope.set_tag(key, value)
        scope.set_context(
            "inngest",
            {
                "app_id": info.app_id,
                "function_id": info.function_id,
                "function_name": info.function_name,
                "run_id": info.run_id,
                "attempt": info.attempt,
                "event_id": info.event_id,
                "event_names": list(info.event_names),
                "event_count": info.event_count,
            },
        )

    # The official SentryMiddleware names this parameter ``output`` although the
    # base hook says ``result``; apps that call it by keyword pass ``output=``,
    # so the name stays (the middleware manager passes it by position).
    def transform_output(self, output: TransformOutputResult) -> None:  # pyright: ignore[reportIncompatibleMethodOverride]
        """Capture the error of a step or of the function, if any."""
        if output.error is None:
            return
        tags: dict[str, str] = {}
        if output.step is not None:
            tags["inngest.step.id"] = output.step.id
            tags["inngest.step.op"] = output.step.op
        # Kwargs add to the request's scope for this event only.
        sentry_sdk.capture_exception(output.error, tags=tags)

    def before_response(self) -> None:
        """Flush (unless disabled) and leave this request's scope."""
        if self._flush:
            sentry_sdk.flush()
        scope_cm, self._scope_cm = self._scope_cm, None
        if scope_cm is not None:
            scope_cm.__exit__(None, None, None)
