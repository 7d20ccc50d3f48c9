"""The informational Server-Timing header, measured with an injected timer."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest

import inngest_proto as inngest
from inngest_proto._signing import compute_signature
from tests.fakes import FakeTransport

NOW = 1735689600.0
KEY = "signkey-test-" + "ab" * 32
TIMING = re.compile(r"^[a-z_]+;dur=\d+(, [a-z_]+;dur=\d+)*$")


def ticking(step: float) -> Callable[[], float]:
    """A clock that advances ``step`` seconds each time it is read."""
    now = [0.0]

    def read() -> float:
        now[0] += step
        return now[0]

    return read


def app(**client_args: object) -> tuple[inngest.CommHandler, FakeTransport]:
    transport = FakeTransport(now=NOW)
    client = inngest.Inngest(app_id="app", transport=transport, **client_args)  # type: ignore[arg-type]

    @client.create_function(fn_id="f", trigger=inngest.TriggerEvent(event="e"))
    def fn(ctx: inngest.ContextSync) -> int:
        return 1

    return inngest.CommHandler(
        client=client, functions=[fn], framework="wsgi"
    ), transport


def call(
    url: str = "http://h/api/inngest?fnId=app-f&stepId=step", use_api: bool = False
) -> inngest.IncomingRequest:
    body = json.dumps(
        {
            "ctx": {"run_id": "r", "attempt": 0, "use_api": use_api},
            "event": {"name": "e", "data": {}},
            "steps": {},
            "use_api": use_api,
        }
    ).encode()
    return inngest.IncomingRequest(
        "POST", url, {}, body, {"fnId": "app-f", "stepId": "step"}
    )


def test_no_timer_no_header() -> None:
    handler, _ = app(environ={"INNGEST_DEV": "1"})
    assert "server-timing" not in handler.handle_sync(call(), now=NOW).headers


def test_a_call_reports_the_whole_request_and_the_function() -> None:
    handler, _ = app(environ={"INNGEST_DEV": "1"})
    response = handler.handle_sync(call(), now=NOW, timer=ticking(0.005))
    value = response.headers["server-timing"]
    assert TIMING.match(value)
    names = [part.split(";")[0] for part in value.split(", ")]
    assert names == ["comm_handler", "function"]
    # Each effect reads the timer twice (5 ms apart); the whole request spans more.
    assert "function;dur=5" in value


def test_use_api_and_register_are_named() -> None:
    handler, transport = app(environ={"INNGEST_DEV": "1"})
    transport.queue(
        inngest.OutboundResponse(200, {}, b"[]"),
        inngest.OutboundResponse(200, {}, b"{}"),
    )
    value = handler.handle_sync(
        call(use_api=True), now=NOW, timer=ticking(0.001)
    ).headers["server-timing"]
    assert [p.split(";")[0] for p in value.split(", ")] == [
        "comm_handler",
        "use_api",
        "function",
    ]
    transport.queue(inngest.OutboundResponse(200, {}, b'{"ok": true}'))
    sync = inngest.IncomingRequest("PUT", "http://h/api/inngest", {}, b"")
    value = handler.handle_sync(sync, now=NOW, timer=ticking(0.001)).headers[
        "server-timing"
    ]
    assert [p.split(";")[0] for p in value.split(", ")] == ["comm_handler", "register"]


@pytest.mark.anyio
async def test_async_driver_and_signature_cover_only_the_body() -> None:
    handler, _ = app(environ={}, signing_key=KEY)
    request = call()
    t = int(NOW)
    signed = inngest.IncomingRequest(
        "POST",
        request.url,
        {"x-inngest-signature": f"t={t}&s={compute_signature(request.body, KEY, t)}"},
        request.body,
        request.query,
    )
    response = await handler.handle(signed, now=NOW, timer=ticking(0.001))
    assert response.status == 200
    assert TIMING.match(response.headers["server-timing"])
    fields = dict(
        p.split("=") for p in response.headers["x-inngest-signature"].split("&")
    )
    assert fields["s"] == compute_signature(response.body, KEY, int(fields["t"]))


def test_even_a_401_is_timed() -> None:
    handler, _ = app(environ={}, signing_key=KEY)
    response = handler.handle_sync(call(), now=NOW, timer=ticking(0.001))
    assert response.status == 401
    assert response.headers["server-timing"].startswith("comm_handler;dur=")
