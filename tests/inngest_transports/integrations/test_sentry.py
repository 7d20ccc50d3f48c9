"""SentryMiddleware: run tags on events, captured errors, scopes that do not leak.

Sentry is initialised with an in-memory transport (no DSN, no network, no
default integrations) and reset after each test.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

import inngest_proto as inngest
from inngest_transports.integrations.sentry import SentryMiddleware
from tests.inngest_proto._comm_helpers import APP_ID, make_client
from tests.inngest_transports.devserver._harness import APP_ID as E2E_APP_ID
from tests.inngest_transports.devserver._harness import harness

from ._app import CASES, MEMO_FIRST, RUN_ID, Boom, Flavour, make_app, post

pytestmark = pytest.mark.anyio

RUN_TAGS = {
    "inngest.app.id": APP_ID,
    "inngest.function.id": "two-sync",
    "inngest.function.name": "two-sync",
    "inngest.run.id": RUN_ID,
    "inngest.attempt": "0",
    "inngest.event.id": "01JEVENT",
    "inngest.event.name": "t/steps",
    "inngest.event.count": "1",
}


class MemoryTransport(Transport):
    """Keeps every event payload instead of sending it."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        for item in envelope.items:
            if item.type == "event" and item.payload.json is not None:
                self.events.append(item.payload.json)


@pytest.fixture
def events() -> Iterator[list[dict[str, Any]]]:
    transport = MemoryTransport()
    sentry_sdk.init(
        transport=transport,
        default_integrations=False,
        auto_enabling_integrations=False,
    )
    try:
        yield transport.events
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.Scope.get_global_scope().set_client(None)


def _tags(event: dict[str, Any]) -> dict[str, str]:
    tags = event.get("tags", {})
    # Older sentry-sdk releases send tags as [key, value] pairs.
    return dict(tags) if isinstance(tags, list) else tags


@pytest.mark.parametrize(("flavour", "driver"), CASES)
async def test_events_inside_the_run_carry_its_tags_and_context(
    events: list[dict[str, Any]], flavour: Flavour, driver: Any
) -> None:
    handler = make_app(
        [SentryMiddleware.factory(flush=False)],
        body=lambda: sentry_sdk.capture_message("inside"),
    )
    await post(handler, f"two-{flavour}", driver)
    sentry_sdk.capture_message("outside")
    inside, outside = events
    assert inside["message"] == "inside"
    tags = {**RUN_TAGS, "inngest.function.id": f"two-{flavour}"}
    tags["inngest.function.name"] = f"two-{flavour}"
    assert _tags(inside) == tags
    assert inside["contexts"]["inngest"] == {
        "app_id": APP_ID,
        "function_id": f"two-{flavour}",
        "function_name": f"two-{flavour}",
        "run_id": RUN_ID,
        "attempt": 0,
        "event_id": "01JEVENT",
        "event_names": ["t/steps"],
        "event_count": 1,
    }
    # The request's isolation scope is gone once it is answered.
    assert outside["message"] == "outside"
    assert _tags(outside) == {}
    assert "inngest" not in outside.get("contexts", {})


async def test_no_event_when_nothing_fails(events: list[dict[str, Any]]) -> None:
    handler = make_app([SentryMiddleware])
    await post(handler, "two-sync", "sync")
    await post(handler, "two-sync", "sync", steps=MEMO_FIRST)
    assert events == []


def _hooks_middleware() -> SentryMiddleware:
    client = make_client()

    @client.create_function(fn_id="f", trigger=inngest.TriggerEvent(event="t/e"))
    def f(ctx: inngest.ContextSync) -> None:
        pass

    mw = SentryMiddleware(client, None, flush=False)
    ctx: Any = type(
        "Ctx",
        (),
        {
            "run_id": "r1",
            "attempt": 3,
            "event": inngest.Event(name="t/a", id="e1"),
            "events": [
                inngest.Event(name="t/a", id="e1"),
                inngest.Event(name="t/b", id="e2"),
                inngest.Event(name="t/a", id="e3"),
            ],
        },
    )()
    mw.transform_input(ctx, f, None)
    return mw


def test_a_step_error_is_captured_with_the_step(events: list[dict[str, Any]]) -> None:
    mw = _hooks_middleware()
    step = inngest.TransformOutputStepInfo(
        id="charge", op=inngest.Opcode.STEP_ERROR, opts=None
    )
    mw.transform_output(
        inngest.TransformOutputResult(Boom("card declined"), None, step)
    )
    mw.transform_output(inngest.TransformOutputResult(None, "fine", step))
    mw.before_response()
    (event,) = events
    (exc,) = event["exception"]["values"]
    assert (exc["type"], exc["value"]) == ("Boom", "card declined")
    tags = _tags(event)
    assert tags["inngest.step.id"] == "charge"
    assert tags["inngest.step.op"] == "StepError"
    assert tags["inngest.run.id"] == "r1"
    assert tags["inngest.function.id"] == "f"
    assert tags["inngest.attempt"] == "3"
    assert tags["inngest.event.count"] == "3"
    assert event["contexts"]["inngest"]["event_names"] == ["t/a", "t/b"]


def test_a_function_error_is_captured_without_step_tags(
    events: list[dict[str, Any]],
) -> None:
    mw = _hooks_middleware()
    # By keyword, with the official SentryMiddleware's parameter name.
    mw.transform_output(output=inngest.TransformOutputResult(Boom("fn"), None))
    mw.before_response()
    (event,) = events
    tags = _tags(event)
    assert tags["inngest.run.id"] == "r1"
    assert "inngest.step.id" not in tags


def test_before_response_flushes_unless_disabled(
    events: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    flushed: list[object] = []
    monkeypatch.setattr(sentry_sdk, "flush", lambda *a, **k: flushed.append(a))
    client = make_client()
    SentryMiddleware(client, None).before_response()
    assert len(flushed) == 1
    SentryMiddleware.factory(flush=False)(client, None).before_response()
    assert len(flushed) == 1


async def test_warns_when_sentry_is_not_initialized(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler = make_app([SentryMiddleware])
    with caplog.at_level(logging.WARNING, logger="tests.comm"):
        await post(handler, "two-sync", "sync")
    assert any("sentry_sdk.init()" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("flavour", "driver"), CASES)
async def test_a_raising_step_is_captured_through_the_handler(
    events: list[dict[str, Any]], flavour: Flavour, driver: Any
) -> None:
    await post(make_app([SentryMiddleware]), f"boom-{flavour}", driver)
    assert len(events) == 1
    assert _tags(events[0])["inngest.step.id"] == "explode"


def _e2e_functions(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    @client.create_function(
        fn_id="reported",
        trigger=inngest.TriggerEvent(event="t/reported"),
        middleware=[SentryMiddleware.factory(flush=False)],
        retries=0,
    )
    async def reported(ctx: inngest.Context) -> str:
        await ctx.step.run("a", lambda: sentry_sdk.capture_message("in a") and "A")
        await ctx.step.run("b", lambda: "B")
        if ctx.event.data.get("fail"):
            await ctx.step.run("explode", _explode)
        return "done"

    return [reported]


def _explode() -> None:
    raise Boom("step broke")


async def test_end_to_end_events_carry_the_run(events: list[dict[str, Any]]) -> None:
    async with harness(_e2e_functions) as h:
        run = await h.finished_run(await h.send("t/reported"))
    assert (run["status"], run["output"]) == ("Completed", "done")
    (event,) = events
    tags = _tags(event)
    assert tags["inngest.run.id"] == run["run_id"]
    assert tags["inngest.function.id"] == "reported"
    assert tags["inngest.app.id"] == E2E_APP_ID
    assert tags["inngest.event.name"] == "t/reported"


async def test_end_to_end_a_raising_step_is_captured(
    events: list[dict[str, Any]],
) -> None:
    async with harness(_e2e_functions) as h:
        run = await h.finished_run(await h.send("t/reported", {"fail": True}))
    assert run["status"] == "Failed"
    # The step's own error; then (next request) the function's StepError,
    # as in the official SDK, without step tags.
    step_errors = [e for e in events if "inngest.step.id" in _tags(e)]
    assert len(step_errors) == 1
    (exc,) = step_errors[0]["exception"]["values"]
    assert exc["type"] == "Boom"
    # Captured before the SDK drops the traceback: the user's frame is there.
    assert exc["stacktrace"]["frames"][-1]["function"] == "_explode"
    tags = _tags(step_errors[0])
    assert tags["inngest.run.id"] == run["run_id"]
    assert tags["inngest.function.id"] == "reported"
    assert tags["inngest.step.id"] == "explode"
    assert tags["inngest.step.op"] == "StepFailed"
