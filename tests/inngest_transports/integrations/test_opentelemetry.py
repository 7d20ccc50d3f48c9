"""OpenTelemetryMiddleware: run and step spans, parents, errors, replay.

Spans go to an in-memory exporter of a TracerProvider given to the
middleware (the global provider is never set).  Call requests go through the
comm handler directly, so each test controls the headers and memos; the last
test runs a function through the dev server.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode

import inngest_proto as inngest
from inngest_transports.integrations.opentelemetry import OpenTelemetryMiddleware
from tests.inngest_proto._comm_helpers import APP_ID, make_client
from tests.inngest_transports.devserver._harness import harness

from ._app import CASES, MEMO_BOTH, MEMO_FIRST, RUN_ID, Boom, Flavour, make_app, post

pytestmark = pytest.mark.anyio

TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
PARENT_ID = 0xB7AD6B7169203331
TRACEPARENT = f"00-{TRACE_ID:032x}-{PARENT_ID:016x}-01"


@pytest.fixture
def provider() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    yield tp, exporter
    tp.shutdown()


def _app(provider: tuple[TracerProvider, InMemorySpanExporter]) -> Any:
    return make_app([OpenTelemetryMiddleware.factory(tracer_provider=provider[0])])


def _names(spans: Any) -> list[str]:
    return [s.name for s in spans]


def _one(spans: Any, name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, (name, _names(spans))
    assert isinstance(found[0], ReadableSpan)
    return found[0]


@pytest.mark.parametrize(("flavour", "driver"), CASES)
async def test_each_request_spans_only_the_step_it_runs(
    provider: Any, flavour: Flavour, driver: Any
) -> None:
    _, exporter = provider
    handler = _app(provider)
    fn = f"two-{flavour}"

    await post(handler, fn, driver)
    spans = exporter.get_finished_spans()
    assert _names(spans) == ["inngest.step first", f"inngest.run two-{flavour}"]
    run, step = _one(spans, f"inngest.run {fn}"), _one(spans, "inngest.step first")
    assert step.parent is not None
    assert step.parent.span_id == run.context.span_id
    assert step.context.trace_id == run.context.trace_id
    assert step.attributes == {
        "inngest.step.id": "first",
        "inngest.step.op": "StepRun",
        "inngest.run.id": RUN_ID,
    }
    assert step.start_time is not None
    assert step.end_time is not None
    assert run.start_time is not None
    assert run.end_time is not None
    assert run.start_time <= step.start_time <= step.end_time <= run.end_time

    # "first" is replayed from its memo: only "second" gets a span.
    exporter.clear()
    await post(handler, fn, driver, steps=MEMO_FIRST)
    assert _names(exporter.get_finished_spans()) == [
        "inngest.step second",
        f"inngest.run {fn}",
    ]

    # Everything memoized: the function returns, no step runs.
    exporter.clear()
    await post(handler, fn, driver, steps=MEMO_BOTH)
    (run,) = exporter.get_finished_spans()
    assert run.name == f"inngest.run {fn}"
    assert run.status.status_code == StatusCode.UNSET


async def test_run_span_attributes(provider: Any) -> None:
    _, exporter = provider
    await post(_app(provider), "two-sync", "sync")
    run = _one(exporter.get_finished_spans(), "inngest.run two-sync")
    assert run.attributes == {
        "inngest.app.id": APP_ID,
        "inngest.function.id": "two-sync",
        "inngest.function.name": "two-sync",
        "inngest.run.id": RUN_ID,
        "inngest.attempt": 0,
        "inngest.event.id": "01JEVENT",
        "inngest.event.name": "t/steps",
        "inngest.event.names": ("t/steps",),
        "inngest.event.count": 1,
    }
    assert run.instrumentation_scope is not None
    assert run.instrumentation_scope.name == (
        "inngest_transports.integrations.opentelemetry"
    )


@pytest.mark.parametrize(("flavour", "driver"), CASES)
async def test_run_span_continues_the_traceparent_of_the_request(
    provider: Any, flavour: Flavour, driver: Any
) -> None:
    _, exporter = provider
    headers = {"TraceParent": TRACEPARENT, "tracestate": "vendor=abc,other=1"}
    await post(_app(provider), f"two-{flavour}", driver, headers=headers)
    spans = exporter.get_finished_spans()
    run = _one(spans, f"inngest.run two-{flavour}")
    assert run.parent is not None
    assert run.parent.is_remote
    assert (run.parent.trace_id, run.parent.span_id) == (TRACE_ID, PARENT_ID)
    assert run.context.trace_id == TRACE_ID
    assert dict(run.context.trace_state) == {"vendor": "abc", "other": "1"}
    assert run.kind == SpanKind.SERVER
    step = _one(spans, "inngest.step first")
    assert step.context.trace_id == TRACE_ID
    assert step.parent is not None
    assert step.parent.span_id == run.context.span_id


async def test_without_traceparent_the_current_span_is_the_parent(
    provider: Any,
) -> None:
    tp, exporter = provider
    handler = _app(provider)
    await post(handler, "two-sync", "sync")
    (root,) = [
        s for s in exporter.get_finished_spans() if s.name.startswith("inngest.run")
    ]
    assert root.parent is None
    assert root.kind == SpanKind.INTERNAL

    exporter.clear()
    with tp.get_tracer("test").start_as_current_span("host") as host:
        await post(handler, "two-sync", "sync")
    run = _one(exporter.get_finished_spans(), "inngest.run two-sync")
    assert run.parent is not None
    assert run.parent.span_id == host.get_span_context().span_id


async def test_a_span_of_the_same_trace_stays_the_parent(provider: Any) -> None:
    """An instrumented framework already continued the traceparent: nest in it."""
    tp, exporter = provider
    remote = trace.NonRecordingSpan(
        trace.SpanContext(
            TRACE_ID, PARENT_ID, is_remote=True, trace_flags=trace.TraceFlags(1)
        )
    )
    server_ctx = trace.set_span_in_context(remote)
    with tp.get_tracer("test").start_as_current_span("server", context=server_ctx) as s:
        await post(
            _app(provider), "two-sync", "sync", headers={"traceparent": TRACEPARENT}
        )
    run = _one(exporter.get_finished_spans(), "inngest.run two-sync")
    assert run.parent is not None
    assert run.parent.span_id == s.get_span_context().span_id
    assert run.kind == SpanKind.INTERNAL


@pytest.mark.parametrize("bad", ["garbage", "00-" + "0" * 32 + "-" + "0" * 16 + "-01"])
async def test_a_malformed_traceparent_is_ignored(provider: Any, bad: str) -> None:
    _, exporter = provider
    await post(_app(provider), "two-sync", "sync", headers={"traceparent": bad})
    run = _one(exporter.get_finished_spans(), "inngest.run two-sync")
    assert run.parent is None


@pytest.mark.parametrize(("flavour", "driver"), CASES)
async def test_the_run_span_is_current_while_the_function_runs(
    provider: Any, flavour: Flavour, driver: Any
) -> None:
    tp, exporter = provider
    handler = make_app(
        [OpenTelemetryMiddleware.factory(tracer_provider=tp)],
        body=lambda: tp.get_tracer("user").start_span("user work").end(),
    )
    before = otel_context.get_current()
    await post(handler, f"two-{flavour}", driver)
    # The request's context is gone once it is answered.
    assert otel_context.get_current() == before
    spans = exporter.get_finished_spans()
    run, user = _one(spans, f"inngest.run two-{flavour}"), _one(spans, "user work")
    assert user.parent is not None
    assert user.parent.span_id == run.context.span_id


def _hooks_middleware(provider: Any) -> OpenTelemetryMiddleware:
    """A middleware driven by hand, through transform_input."""
    client = make_client()

    @client.create_function(fn_id="f", trigger=inngest.TriggerEvent(event="t/e"))
    def f(ctx: inngest.ContextSync) -> None:
        pass

    mw = OpenTelemetryMiddleware(client, None, tracer_provider=provider[0])
    ctx: Any = type(
        "Ctx",
        (),
        {
            "run_id": "r1",
            "attempt": 2,
            "event": inngest.Event(name="t/e", id="e1"),
            "events": [inngest.Event(name="t/e", id="e1")],
        },
    )()
    mw.transform_input(ctx, f, None)
    return mw


def test_a_step_error_marks_the_step_span(provider: Any) -> None:
    _, exporter = provider
    mw = _hooks_middleware(provider)
    mw.before_execution()
    step = inngest.TransformOutputStepInfo(
        id="s", op=inngest.Opcode.STEP_ERROR, opts=None
    )
    mw.transform_output(inngest.TransformOutputResult(Boom("bad"), None, step))
    mw.before_response()
    step_span = _one(exporter.get_finished_spans(), "inngest.step s")
    assert step_span.status.status_code == StatusCode.ERROR
    assert step_span.status.description == "Boom: bad"
    (event,) = step_span.events
    assert event.name == "exception"
    assert event.attributes is not None
    assert str(event.attributes["exception.type"]).endswith("Boom")
    run = _one(exporter.get_finished_spans(), "inngest.run f")
    assert run.status.status_code == StatusCode.UNSET


def test_a_function_error_marks_the_run_span(provider: Any) -> None:
    _, exporter = provider
    mw = _hooks_middleware(provider)
    mw.transform_output(inngest.TransformOutputResult(Boom("fn"), None))
    mw.before_response()
    (run,) = exporter.get_finished_spans()
    assert run.status.status_code == StatusCode.ERROR
    assert run.attributes is not None
    assert run.attributes["inngest.attempt"] == 2


def test_hooks_without_transform_input_do_nothing(provider: Any) -> None:
    """A client-level instance built for client.send sees no run."""
    _, exporter = provider
    mw = OpenTelemetryMiddleware(make_client(), None, tracer_provider=provider[0])
    mw.before_execution()
    step = inngest.TransformOutputStepInfo(
        id="s", op=inngest.Opcode.STEP_RUN, opts=None
    )
    mw.transform_output(inngest.TransformOutputResult(None, 1, step))
    mw.before_response()
    assert exporter.get_finished_spans() == ()


@pytest.mark.parametrize(("flavour", "driver"), CASES)
async def test_a_raising_step_marks_its_span_through_the_handler(
    provider: Any, flavour: Flavour, driver: Any
) -> None:
    _, exporter = provider
    await post(_app(provider), f"boom-{flavour}", driver)
    step = _one(exporter.get_finished_spans(), "inngest.step explode")
    assert step.status.status_code == StatusCode.ERROR


def test_the_class_is_a_factory_with_the_global_provider() -> None:
    mw = OpenTelemetryMiddleware(make_client(), None)
    assert isinstance(mw, inngest.MiddlewareSync)
    assert mw.request_headers == {}


async def test_end_to_end_two_steps_through_the_dev_server(provider: Any) -> None:
    tp, exporter = provider

    def functions(client: inngest.Inngest) -> list[inngest.Function[Any]]:
        @client.create_function(
            fn_id="traced",
            trigger=inngest.TriggerEvent(event="t/traced"),
            middleware=[OpenTelemetryMiddleware.factory(tracer_provider=tp)],
        )
        async def traced(ctx: inngest.Context) -> str:
            a = await ctx.step.run("a", lambda: "A")
            b = await ctx.step.run("b", lambda: "B")
            return a + b

        return [traced]

    async with harness(functions) as h:
        run = await h.finished_run(await h.send("t/traced"))
    assert (run["status"], run["output"]) == ("Completed", "AB")

    spans = exporter.get_finished_spans()
    runs = [s for s in spans if s.name == "inngest.run traced"]
    steps = [s for s in spans if s.name.startswith("inngest.step")]
    # Three requests: run "a", run "b" (a replayed), return (both replayed).
    assert len(runs) == 3
    assert sorted(s.name for s in steps) == ["inngest.step a", "inngest.step b"]
    assert {s.attributes["inngest.run.id"] for s in runs if s.attributes} == {
        run["run_id"]
    }
    run_ids = {s.context.span_id for s in runs}
    for step in steps:
        assert step.parent is not None
        assert step.parent.span_id in run_ids
    assert steps[0].parent != steps[1].parent
