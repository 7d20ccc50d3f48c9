"""``inngest_frameworks.digital_ocean``: ``main(event, context)`` called as
DigitalOcean calls a raw web function, with plain and base64 bodies."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import attrs
import pytest

import inngest_proto as inngest
from inngest_frameworks import digital_ocean
from inngest_proto.wire import compute_signature
from tests.fakes import FakeTransport
from tests.inngest_frameworks._sync_hosts import LIMIT, make_app
from tests.inngest_proto._comm_helpers import (
    APP_ID,
    FIRST,
    KEY,
    NOW,
    SECOND,
    call_body,
    make_client,
    make_functions,
    signature,
)

API_HOST = "https://faas-nyc1-2ef2e6cc.doserverless.co"
FUNCTION_NAME = "/fn-b094417f/sample/hello"
FUNCTION_URL = API_HOST + "/api/v1/web" + FUNCTION_NAME


@attrs.frozen
class Context:
    """The attributes of DigitalOcean's context object the SDK reads."""

    api_host: str = API_HOST
    function_name: str = FUNCTION_NAME


#: ``main``; called with malformed events too, so any event.
Main = Callable[[Any, Context], Any]


def _main(**kwargs: Any) -> tuple[Main, FakeTransport]:
    client, functions, transport = make_app()
    return digital_ocean.serve(
        client, functions, max_body_bytes=LIMIT, **kwargs
    ), transport


def _event(
    method: str,
    body: bytes | None = None,
    *,
    query: dict[str, str] | None = None,
    base64_body: bool = False,
    headers: dict[str, str] | None = None,
) -> dict[str, object]:
    http: dict[str, object] = {
        "method": method,
        "headers": {"content-type": "application/json", **(headers or {})},
        "queryString": urlencode(query or {}),
        "path": "",
    }
    if body is not None:
        http["body"] = base64.b64encode(body).decode() if base64_body else body.decode()
        http["isBase64Encoded"] = base64_body
    return {"http": http}


def _call_event(
    fn: str, steps: dict[str, Any] | None = None, **kwargs: Any
) -> dict[str, object]:
    body = json.dumps(call_body(steps=steps)).encode()
    query = {"fnId": f"{APP_ID}-{fn}", "stepId": "step"}
    return _event("POST", body, query=query, **kwargs)


def _answer(resp: Any, status: int) -> Any:
    assert set(resp) == {"body", "headers", "statusCode"}
    assert resp["statusCode"] == status, resp["body"]
    assert isinstance(resp["body"], str)
    assert resp["headers"]["content-type"] == "application/json"
    assert resp["headers"]["x-inngest-framework"] == "digitalocean"
    return json.loads(resp["body"])


def test_introspection() -> None:
    main, _ = _main()
    body = _answer(main(_event("GET"), Context()), 200)
    assert (body["mode"], body["function_count"]) == ("dev", 5)


@pytest.mark.parametrize("base64_body", [False, True])
@pytest.mark.parametrize("fn", ["steps-sync", "steps-async"])
def test_a_two_step_run_to_completion(fn: str, base64_body: bool) -> None:
    main, _ = _main()
    ops = _answer(main(_call_event(fn, base64_body=base64_body), Context()), 206)
    assert [(op["id"], op["data"]) for op in ops] == [(FIRST, "A")]
    event = _call_event(fn, {FIRST: {"data": "A"}}, base64_body=base64_body)
    ops = _answer(main(event, Context()), 206)
    assert [(op["id"], op["data"]) for op in ops] == [(SECOND, "B")]
    memos = {FIRST: {"data": "A"}, SECOND: {"data": "B"}}
    event = _call_event(fn, memos, base64_body=base64_body)
    assert _answer(main(event, Context()), 200) == {"first": "A", "second": "B"}


def test_put_syncs_the_function_url() -> None:
    main, transport = _main()
    transport.queue(inngest.OutboundResponse(200, {}, b'{"ok": true}'))
    _answer(main(_event("PUT", query={"deployId": "d1"}), Context()), 200)
    registered = json.loads(transport.sent[-1].body)
    assert registered["url"] == FUNCTION_URL
    assert registered["framework"] == "digitalocean"
    assert "deployId=d1" in transport.sent[-1].url


def test_a_signed_call_in_cloud_mode_keeps_its_signature() -> None:
    """The body is returned as the exact text signed, and mixed-case header
    names are read."""
    client = make_client("cloud", transport=FakeTransport(now=NOW))
    main = digital_ocean.serve(client, make_functions(client))
    body = json.dumps(call_body()).encode()
    now = int(time.time())  # checked against the real clock
    event = _event(
        "POST",
        body,
        query={"fnId": f"{APP_ID}-steps-sync", "stepId": "step"},
        headers={"X-Inngest-Signature": signature(body, KEY, now)},
        base64_body=True,
    )
    resp = main(event, Context())
    _answer(resp, 206)
    header = resp["headers"]["x-inngest-signature"]
    stamp = dict(part.split("=", 1) for part in header.split("&"))
    expected = compute_signature(resp["body"].encode(), KEY, int(stamp["t"]))
    assert stamp["s"] == expected


def test_an_unsigned_call_in_cloud_mode_is_401() -> None:
    client = make_client("cloud", transport=FakeTransport(now=NOW))
    main = digital_ocean.serve(client, make_functions(client))
    resp = main(_call_event("steps-sync"), Context())
    assert resp["statusCode"] == 401


def test_a_bad_body_is_400() -> None:
    main, _ = _main()
    event = _event("POST", b'{"event": ', query={"fnId": f"{APP_ID}-steps-sync"})
    assert _answer(main(event, Context()), 400)["code"] == "body_invalid"


def test_a_body_over_the_limit_is_413() -> None:
    main, _ = _main()
    event = _event("POST", b"x" * (LIMIT + 1), base64_body=True)
    assert _answer(main(event, Context()), 413)["code"] == "body_too_large"


def test_other_methods_are_405() -> None:
    main, _ = _main()
    body = _answer(main(_event("DELETE"), Context()), 405)
    assert body["code"] == "method_not_allowed"


MALFORMED: dict[str, tuple[object, str]] = {
    "no http": ({"fnId": "x"}, '"http"'),
    "http not an object": ({"http": "GET"}, '"http"'),
    "not a dict": ([], '"http"'),
    "no method": ({"http": {"headers": {}, "queryString": ""}}, '"method"'),
    "no headers": ({"http": {"method": "GET", "queryString": ""}}, '"headers"'),
    "no queryString": ({"http": {"method": "GET", "headers": {}}}, '"queryString"'),
    "POST without body": (
        {"http": {"method": "POST", "headers": {}, "queryString": ""}},
        '"body"',
    ),
    "body not a string": (
        {"http": {"method": "POST", "headers": {}, "queryString": "", "body": {}}},
        "not a string",
    ),
    "bad base64": (
        {
            "http": {
                "method": "POST",
                "headers": {},
                "queryString": "",
                "body": "not base64!",
                "isBase64Encoded": True,
            }
        },
        "not base64",
    ),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_events_that_are_not_raw_web_requests_are_400(name: str) -> None:
    main, _ = _main()
    event, words = MALFORMED[name]
    body = _answer(main(event, Context()), 400)
    assert body["code"] == "body_invalid"
    assert words in body["message"]


def test_a_get_needs_no_body() -> None:
    main, _ = _main()
    event: dict[str, object] = {
        "http": {"method": "get", "headers": {}, "queryString": ""}
    }
    _answer(main(event, Context()), 200)


def test_middleware_gets_the_event_and_context() -> None:
    client, functions, _ = make_app()
    seen: list[object] = []

    def middleware(client: Any, raw_request: object) -> inngest.MiddlewareSync:
        seen.append(raw_request)
        return inngest.MiddlewareSync(client, raw_request)

    client.add_middleware(middleware)
    main = digital_ocean.serve(client, functions)
    event, context = _call_event("steps-sync"), Context()
    _answer(main(event, context), 206)
    assert seen == [{"context": context, "event": event}]


def test_misconfiguration_raises_at_serve() -> None:
    with pytest.raises(inngest.InngestError, match="signing key"):
        digital_ocean.serve(make_client("cloud", env={}), [])
