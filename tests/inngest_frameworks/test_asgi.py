"""The generic ASGI endpoint over real HTTP: uvicorn (asyncio), hypercorn
(trio), and mounted in Starlette, Litestar and Quart."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from functools import partial
from typing import Any

import httpx
import pytest
import starlette.applications
import starlette.routing
import trio

import inngest_proto as inngest
from inngest_frameworks import asgi
from tests.fakes import FakeTransport
from tests.inngest_frameworks._async_hosts import (
    CHECKS,
    KEEPALIVE,
    PATH,
    SMALL_LIMIT,
    Host,
    call_body,
    call_params,
    check_introspection,
    check_streaming,
    check_two_steps,
    client_for,
    make_client,
    make_functions,
    register_ok,
    uvicorn_server,
)

METHODS = ["GET", "PUT", "POST"]

FRAMEWORK = "asgi"


def make_app(transport: FakeTransport | None = None, **kwargs: Any) -> asgi.InngestASGI:
    client = make_client(transport)
    return asgi.serve(client, make_functions(client), **kwargs)


@pytest.fixture(scope="module")
def url(transport: FakeTransport) -> Iterator[str]:
    with uvicorn_server(make_app(transport, max_body_bytes=SMALL_LIMIT)) as url:
        yield url


def test_a_path_below_the_endpoint_is_404(http: httpx.Client) -> None:
    assert http.post("/api/inngest/more").status_code == 404


def test_other_methods_are_answered_by_the_core(http: httpx.Client) -> None:
    resp = http.delete(PATH)
    assert resp.status_code == 405
    assert resp.headers["allow"] == "GET, PUT, POST"


def test_streaming() -> None:
    app = make_app(streaming=inngest.Streaming.FORCE)
    app.keepalive_interval = KEEPALIVE
    with uvicorn_server(app) as url, client_for(url) as http:
        check_streaming(http, "asgi")


def test_streaming_from_the_environment() -> None:
    client = make_client(INNGEST_STREAMING="force")
    assert asgi.serve(client, make_functions(client)).streaming


def test_serve_path() -> None:
    with (
        uvicorn_server(make_app(serve_path="/inngest")) as url,
        client_for(url) as http,
    ):
        assert http.get("/inngest").status_code == 200
        assert http.get("/inngest/").status_code == 200
        assert http.get(PATH).status_code == 404


def test_behind_a_prefix_stripping_proxy() -> None:
    """With a root_path (uvicorn --root-path), the endpoint still answers at its
    path, and the URL advertised at sync keeps the prefix."""
    transport = register_ok()
    app = make_app(transport)
    with (
        uvicorn_server(app, root_path="/prefix") as url,
        client_for(url) as http,
    ):
        assert http.put(PATH).status_code == 200
    assert json.loads(transport.sent[0].body)["url"] == url + "/prefix" + PATH


def test_websocket_and_unknown_scopes_are_refused() -> None:
    app = make_app()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: Any) -> None:
        sent.append(dict(message))

    async def main() -> None:
        await app({"type": "websocket", "path": PATH}, receive, send)
        assert sent == [{"type": "websocket.close", "code": 1008}]
        with pytest.raises(RuntimeError, match="'other'"):
            await app({"type": "other"}, receive, send)

    trio.run(main)


# --- mounted in frameworks ----------------------------------------------------------


def test_starlette_route() -> None:
    endpoint = make_app()
    app = starlette.applications.Starlette(
        routes=[starlette.routing.Route(PATH, endpoint=endpoint, methods=METHODS)]
    )
    with uvicorn_server(app) as url, client_for(url) as http:
        check_introspection(http, "asgi")
        check_two_steps(http)


def test_starlette_route_at_another_path() -> None:
    """Starlette routed the request here: its path is the framework's business."""
    endpoint = make_app()
    route = starlette.routing.Route(
        "/hooks/inngest", endpoint=endpoint, methods=METHODS
    )
    app = starlette.applications.Starlette(routes=[route])
    with uvicorn_server(app) as url, client_for(url) as http:
        assert http.get("/hooks/inngest").status_code == 200


def test_litestar_asgi_route() -> None:
    litestar = pytest.importorskip("litestar")
    endpoint = make_app()
    app = litestar.Litestar(
        route_handlers=[litestar.asgi(PATH, copy_scope=True)(endpoint)]
    )
    with uvicorn_server(app) as url, client_for(url) as http:
        check_introspection(http, "asgi")


def test_quart_asgi_app_wrapped() -> None:
    quart = pytest.importorskip("quart")
    endpoint = make_app()
    app = quart.Quart(__name__)
    quart_asgi = app.asgi_app

    # Quart's documented place for ASGI middleware is app.asgi_app; Any since
    # Quart types the scope as TypedDicts.
    async def dispatch(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == PATH:
            await endpoint(scope, receive, send)
        else:
            await quart_asgi(scope, receive, send)

    app.asgi_app = dispatch

    @app.get("/")
    async def index() -> str:
        return "quart"

    with uvicorn_server(app) as url, client_for(url) as http:
        check_introspection(http, "asgi")
        assert http.get("/").text == "quart"


# --- trio ----------------------------------------------------------------------------


def test_trio_with_hypercorn() -> None:
    """The endpoint uses only anyio: it serves on trio as on asyncio."""
    hypercorn_config = pytest.importorskip("hypercorn.config")
    hypercorn_trio = pytest.importorskip("hypercorn.trio")
    app = make_app(streaming=inngest.Streaming.FORCE)
    app.keepalive_interval = KEEPALIVE
    config = hypercorn_config.Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.graceful_timeout = 0.1

    async def main() -> None:
        shutdown = trio.Event()
        async with trio.open_nursery() as nursery:
            serve = partial(
                hypercorn_trio.serve, app, config, shutdown_trigger=shutdown.wait
            )
            binds: list[str] = await nursery.start(serve)
            async with httpx.AsyncClient(base_url=binds[0], timeout=5) as http:
                assert (await http.get(PATH)).status_code == 200
                loop_thread = threading.current_thread().name
                for fn, on_loop in (("where-sync", False), ("where-async", True)):
                    resp = await http.post(
                        PATH, params=call_params(fn), json=call_body()
                    )
                    assert resp.status_code == 201  # streamed
                    thread = json.loads(json.loads(resp.text)["body"])
                    assert (thread == loop_thread) is on_loop
                resp = await http.post(
                    PATH, params=call_params("sleeper"), json=call_body()
                )
                assert resp.text.startswith("  ")
                assert json.loads(resp.text)["body"] == '"slept"'
            shutdown.set()

    trio.run(main)


def test_no_errors_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A smoke run of the happy path leaves nothing at ERROR in the logs."""
    with (
        caplog.at_level(logging.WARNING),
        uvicorn_server(make_app()) as url,
        client_for(url) as http,
    ):
        check_two_steps(http)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("check", list(CHECKS))
def test_asgi_host(check: str, host: Host) -> None:
    CHECKS[check](host)
