"""OpenTelemetry middleware: a span per call request and per step it runs.

::

    from inngest_transports.integrations.opentelemetry import (
        OpenTelemetryMiddleware,
    )

    client = inngest.Inngest(app_id="my-app", middleware=[OpenTelemetryMiddleware])
    # or, with a provider of your own instead of the global one:
    mw = OpenTelemetryMiddleware.factory(tracer_provider=provider)

Spans (only ``opentelemetry-api`` is used; the application configures the SDK):

* ``inngest.run <function id>`` for each call request, from
  ``transform_input`` to ``before_response``, with ``inngest.app.id``,
  ``inngest.function.id``, ``inngest.function.name``, ``inngest.run.id``,
  ``inngest.attempt``, ``inngest.event.id``, ``inngest.event.name``,
  ``inngest.event.names`` and ``inngest.event.count``.  Its parent is the W3C
  ``traceparent`` / ``tracestate`` of the call request, unless the current span
  already belongs to that trace (a framework's server span from its own
  instrumentation), which then stays the parent; with no ``traceparent`` the
  current span is the parent.  While the function runs this span is current,
  so spans the user's code makes nest under it.
* ``inngest.step <step id>`` for a ``step.run`` executed in this request, a
  child of the run span, with ``inngest.step.id``, ``inngest.step.op`` and
  ``inngest.run.id``.  Steps replayed from memos make no span.

An error that reaches ``transform_output`` is recorded on the step's span (or
the run's, for the function's own error) with status ERROR.

The step span is written once the step is over, from the time new code began
(``before_execution``) to the step's end (``after_execution``): the hooks do
not say which step is about to run.  On a run's first request new code begins
at the function's start, so that step span also covers the code before the
step; and a span the step's handler opens is a child of the run span.

Requires ``opentelemetry-api>=1.20`` (``pip install
'inngest-sansio[opentelemetry]'``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextvars import Token
from functools import partial
from typing import TYPE_CHECKING, Any

try:
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import (
        TraceContextTextMapPropagator,
    )
except ImportError as err:  # pragma: no cover - depends on the environment
    msg = (
        "inngest_transports.integrations.opentelemetry needs opentelemetry-api: "
        "pip install 'inngest-sansio[opentelemetry]'"
    )
    raise ImportError(msg) from err

from inngest_proto import MiddlewareSync, TransformOutputResult

from ._run_info import RunInfo

if TYPE_CHECKING:
    import inngest_proto as inngest

__all__ = ["OpenTelemetryMiddleware"]

#: The instrumentation scope the spans are reported under.
TRACER_NAME = "inngest_transports.integrations.opentelemetry"

# W3C Trace Context whatever the global propagator is: it is what Inngest sends.
_W3C = TraceContextTextMapPropagator()


class OpenTelemetryMiddleware(MiddlewareSync):
    """Traces each call request and the steps it runs.

    A sync middleware, so it serves sync and async functions alike.  Give the
    class itself as a middleware (the global tracer provider), or
    :meth:`factory` for a provider of your own.
    """

    def __init__(
        self,
        client: inngest.Inngest,
        raw_request: object,
        *,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        super().__init__(client, raw_request)
        self._tracer = trace.get_tracer(TRACER_NAME, tracer_provider=tracer_provider)
        self._info: RunInfo | None = None
        self._run_span: trace.Span | None = None
        self._token: Token[otel_context.Context] | None = None
        self._failed: BaseException | None = None
        # Unix ns of before_execution / after_execution: the step span's bounds.
        self._new_code_at: int | None = None
        self._new_code_until: int | None = None

    @classmethod
    def factory(
        cls, *, tracer_provider: trace.TracerProvider | None = None
    ) -> Callable[[inngest.Inngest, object], OpenTelemetryMiddleware]:
        """A middleware factory; ``tracer_provider`` defaults to the global one."""
        return partial(cls, tracer_provider=tracer_provider)

    def transform_input(
        self,
        ctx: inngest.Context | inngest.ContextSync,
        function: inngest.Function[Any],
        steps: Any,
    ) -> None:
        """Start the run span and make it current."""
        info = RunInfo.of(self.client, ctx, function)
        self._info = info
        parent, kind = _parent(self.request_headers)
        span = self._tracer.start_span(
            f"inngest.run {info.function_id}",
            context=parent,
            kind=kind,
            attributes=info.attributes(),
        )
        self._run_span = span
        self._token = otel_context.attach(trace.set_span_in_context(span, parent))

    def before_execution(self) -> None:
        """New code begins: a step span, if a step runs, starts here."""
        self._new_code_at = time.time_ns()

    def after_execution(self) -> None:
        """New code ended (a step's handler returned, or the function)."""
        self._new_code_until = time.time_ns()

    def transform_output(self, result: TransformOutputResult) -> None:
        """Write the step's span; note an error for the run span."""
        run_span, info = self._run_span, self._info
        if run_span is None or info is None:
            return
        if result.step is None:
            if result.error is not None:
                self._failed = result.error
            return
        end = self._new_code_until or time.time_ns()
        start = self._new_code_at or end
        self._new_code_at = self._new_code_until = None
        span = self._tracer.start_span(
            f"inngest.step {result.step.id}",
            context=trace.set_span_in_context(run_span),
            start_time=start,
            attributes={
                "inngest.step.id": result.step.id,
                "inngest.step.op": result.step.op,
                "inngest.run.id": info.run_id,
            },
        )
        if result.error is not None:
            _record_error(span, result.error)
        span.end(end_time=end)

    def before_response(self) -> None:
        """End the run span and restore the context it replaced."""
        span, self._run_span = self._run_span, None
        if span is None:
            return
        if self._failed is not None:
            _record_error(span, self._failed)
        span.end()
        token, self._token = self._token, None
        if token is not None:
            otel_context.detach(token)


def _parent(
    headers: Mapping[str, str],
) -> tuple[otel_context.Context, trace.SpanKind]:
    """The run span's parent context and kind.

    SERVER when the parent came over the wire, INTERNAL when it is a span of
    this process (an instrumented framework's, or the caller's).
    """
    current = otel_context.get_current()
    if "traceparent" not in headers:
        return current, trace.SpanKind.INTERNAL
    # Extracted into an empty context: only what the headers say.
    only_headers = _W3C.extract(headers, context=otel_context.Context())
    remote = trace.get_current_span(only_headers)
    remote_ctx = remote.get_span_context()
    current_ctx = trace.get_current_span(current).get_span_context()
    if not remote_ctx.is_valid or (
        current_ctx.is_valid and current_ctx.trace_id == remote_ctx.trace_id
    ):
        return current, trace.SpanKind.INTERNAL
    # Keep the rest of the current context (baggage), swap in the remote span.
    return trace.set_span_in_context(remote, current), trace.SpanKind.SERVER


def _record_error(span: trace.Span, error: BaseException) -> None:
    span.record_exception(error)
    span.set_status(
        trace.Status(trace.StatusCode.ERROR, f"{type(error).__name__}: {error}")
    )
