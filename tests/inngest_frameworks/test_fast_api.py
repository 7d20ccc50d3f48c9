"""``inngest_frameworks.fast_api`` over real HTTP, on uvicorn."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import fastapi
import httpx
import pytest

import inngest_proto as inngest
from inngest_frameworks import asgi, fast_api
from tests.fakes import FakeTransport
from tests.inngest_frameworks._async_hosts import (
    CHECKS,
    KEEPALIVE,
    PATH,
    SMALL_LIMIT,
    Host,
    call,
    check_streaming,
    client_for,
    make_client,
    make_functions,
    uvicorn_server,
)

FRAMEWORK = "fast_api"


def make_app(
    transport: FakeTransport | None = None,
    client: inngest.Inngest | None = None,
    **kwargs: Any,
) -> fastapi.FastAPI:
    app = fastapi.FastAPI()

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    client = client or make_client(transport)
    fast_api.serve(app, client, make_functions(client), **kwargs)
    return app


@pytest.fixture(scope="module")
def url(transport: FakeTransport) -> Iterator[str]:
    with uvicorn_server(make_app(transport, max_body_bytes=SMALL_LIMIT)) as url:
        yield url


def test_the_app_still_routes(http: httpx.Client) -> None:
    assert http.get("/hello").json() == {"hello": "world"}


def test_other_methods_are_refused_by_the_route(http: httpx.Client) -> None:
    assert http.delete(PATH).status_code == 405


def test_not_in_the_openapi_schema(http: httpx.Client) -> None:
    assert PATH not in http.get("/openapi.json").json()["paths"]


def test_streaming(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asgi, "KEEPALIVE_INTERVAL_SECONDS", KEEPALIVE)
    app = make_app(streaming=inngest.Streaming.FORCE)
    with uvicorn_server(app) as url, client_for(url) as http:
        check_streaming(http, "fast_api")


def test_middleware_gets_a_fastapi_request_with_the_body() -> None:
    seen: list[tuple[str, bytes]] = []

    class Record(inngest.Middleware):
        async def transform_input(self, ctx: Any, function: Any, steps: Any) -> None:
            assert isinstance(self.raw_request, fastapi.Request)
            seen.append((self.raw_request.method, await self.raw_request.body()))

    client = inngest.Inngest(
        app_id="fw-app",
        environ={"INNGEST_DEV": "1"},
        middleware=[Record],
    )
    with uvicorn_server(make_app(client=client)) as url, client_for(url) as http:
        resp = call(http, "where-async")
    assert resp.status_code == 200
    ((method, body),) = seen
    assert method == "POST"
    assert json.loads(body)["ctx"]["run_id"] == "01JRUN"


def test_misconfiguration_fails_at_serve() -> None:
    client = inngest.Inngest(app_id="fw-app", environ={})  # cloud, no signing key
    with pytest.raises(inngest.InngestError, match="signing key"):
        fast_api.serve(fastapi.FastAPI(), client, [])


@pytest.mark.parametrize("check", list(CHECKS))
def test_fast_api_host(check: str, host: Host) -> None:
    CHECKS[check](host)
