"""The comm handler's configuration: the body size limit and the functions.

Bodies over ``max_body_bytes`` are a 413 before any signature check; the
functions list, the client and the function ids are checked when the handler
is built.  Each async test runs the request through both drivers (``handle``
and ``handle_sync``) on asyncio and trio.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import inngest_proto as inngest
from inngest_proto._comm import DEFAULT_MAX_BODY_BYTES
from inngest_proto._errors import (
    FunctionConfigInvalidError,
    LocalProtocolError,
)
from tests.fakes import FakeTransport
from tests.inngest_proto._comm_helpers import (
    APP_ID,
    DRIVERS,
    KEY,
    MODES,
    NOW,
    Driver,
    Mode,
    assert_error,
    call,
    call_body,
    encode,
    make_client,
    make_functions,
    make_handler,
    request,
    serve,
)

# --- body size limit ----------------------------------------------------------


def test_default_body_limit_is_32_mib() -> None:
    assert DEFAULT_MAX_BODY_BYTES == 32 * 1024 * 1024
    assert make_handler().max_body_bytes == DEFAULT_MAX_BODY_BYTES
    assert make_handler(max_body_bytes=10).max_body_bytes == 10


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "1024", None])
def test_body_limit_must_be_a_positive_int(bad: Any) -> None:
    with pytest.raises(LocalProtocolError, match="max_body_bytes"):
        make_handler(max_body_bytes=bad)


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", ["POST", "PUT", "GET"])
async def test_oversized_body_is_413(method: str, mode: Mode, driver: Driver) -> None:
    transport = FakeTransport(now=NOW)
    handler = make_handler(mode, transport=transport, max_body_bytes=1024)
    body = call_body(event={"name": "t/steps", "data": {"pad": "x" * 2000}})
    # Signed or not: the size is checked before the signature.
    for sign in (KEY if mode == "cloud" else None, None):
        req = request(
            method, body=body, query={"fnId": f"{APP_ID}-steps-sync"}, sign=sign
        )
        resp = await serve(handler, req, driver)
        err = assert_error(
            resp,
            413,
            "body_too_large",
            f"{len(req.body)} bytes",
            "1024 bytes (1 KiB)",
            "max_body_bytes",
            mode=mode,
        )
        assert err["name"] == "BodyTooLargeError"
        assert "x-inngest-signature" not in resp.headers
    assert transport.sent == []


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_body_at_the_limit_is_served(driver: Driver) -> None:
    raw = encode(call_body())
    handler = make_handler(max_body_bytes=len(raw))
    assert (await serve(handler, call(body=raw), driver)).status == 206
    handler = make_handler(max_body_bytes=len(raw) - 1)
    assert (await serve(handler, call(body=raw), driver)).status == 413


# --- functions checked at construction ----------------------------------------


def test_duplicate_function_ids() -> None:
    client = make_client()

    def build() -> inngest.Function[Any]:
        @client.create_function(fn_id="same", trigger=inngest.TriggerEvent(event="e"))
        def same(ctx: inngest.ContextSync) -> None:
            return None

        return same

    first, second = build(), build()
    with pytest.raises(FunctionConfigInvalidError, match="'comm-app-same'") as caught:
        inngest.CommHandler(client=client, functions=[first, second], framework="t")
    assert "give each function its own fn_id" in caught.value.message


def test_failure_handler_id_clashing_with_a_function() -> None:
    client = make_client()

    def nothing(ctx: inngest.ContextSync) -> None:
        return None

    main = client.create_function(
        fn_id="main", trigger=inngest.TriggerEvent(event="e"), on_failure=nothing
    )(nothing)
    clash = client.create_function(
        fn_id="main-failure", trigger=inngest.TriggerEvent(event="e")
    )(nothing)
    with pytest.raises(FunctionConfigInvalidError, match="comm-app-main-failure"):
        inngest.CommHandler(client=client, functions=[main, clash], framework="t")


@pytest.mark.parametrize("bad", [object(), "fn", None, lambda ctx: None])
def test_non_function_in_functions(bad: object) -> None:
    client = make_client()
    functions = [*make_functions(client), bad]
    with pytest.raises(FunctionConfigInvalidError) as caught:
        inngest.CommHandler(
            client=client,
            functions=functions,  # type: ignore[arg-type]
            framework="t",
        )
    message = caught.value.message
    assert "functions[5]" in message
    assert "create_function" in message


def test_functions_must_be_a_list() -> None:
    client = make_client()
    (function, *_) = make_functions(client)
    for bad in (function, 3):
        with pytest.raises(FunctionConfigInvalidError, match="must be a list"):
            inngest.CommHandler(
                client=client,
                functions=bad,  # type: ignore[arg-type]
                framework="t",
            )


def _generated(client: inngest.Inngest) -> Iterator[inngest.Function[Any]]:
    yield from make_functions(client)


def test_functions_may_be_any_iterable() -> None:
    transport = FakeTransport(now=NOW)
    client = make_client(transport=transport)
    handler = inngest.CommHandler(
        client=client,
        functions=list(_generated(client)),
        framework="t",
    )
    generated = inngest.CommHandler(
        client=client,
        functions=_generated(client),  # type: ignore[arg-type]
        framework="t",
    )
    # Served and synced alike: the generator is not used up by the checks.
    for comm in (handler, generated):
        assert comm.handle_sync(call(), now=NOW).status == 206
        transport.queue(inngest.OutboundResponse(200, {}, b'{"ok": true}'))
        assert comm.handle_sync(request("PUT"), now=NOW).status == 200
    first, second = (json.loads(r.body) for r in transport.sent)
    assert len(first["functions"]) == len(second["functions"]) == 5


def test_client_must_be_an_inngest() -> None:
    with pytest.raises(FunctionConfigInvalidError, match=r"inngest\.Inngest"):
        inngest.CommHandler(
            client=object(),  # type: ignore[arg-type]
            functions=[],
            framework="t",
        )


def test_framework_enum_goes_out_as_its_plain_value() -> None:
    transport = FakeTransport(now=NOW)
    client = make_client(transport=transport)
    comm = inngest.CommHandler(
        client=client,
        functions=make_functions(client),
        framework=inngest.Framework.FLASK,
    )
    header = comm.handle_sync(call(), now=NOW).headers["x-inngest-framework"]
    # A plain str, not the enum: it is written into headers and stored payloads.
    assert type(header) is str
    assert header == "flask"
    transport.queue(inngest.OutboundResponse(200, {}, b'{"ok": true}'))
    assert comm.handle_sync(request("PUT"), now=NOW).status == 200
    (sync,) = transport.sent
    assert sync.headers["x-inngest-framework"] == "flask"
    assert type(sync.headers["x-inngest-framework"]) is str
    assert json.loads(sync.body)["framework"] == "flask"


def test_framework_enum_is_a_str_enum() -> None:
    plain: str = "fast_api"
    assert plain == inngest.Framework.FAST_API
    assert str(inngest.Framework.DIGITAL_OCEAN) == "digitalocean"
    assert f"{inngest.Framework.DJANGO}" == "django"
    assert inngest.Framework("tornado") is inngest.Framework.TORNADO
