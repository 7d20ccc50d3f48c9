"""``inngest_frameworks.tornado`` over real HTTP, on Tornado's HTTPServer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import tornado.httputil
import tornado.web

import inngest_proto as inngest
from inngest_frameworks import tornado as inngest_tornado
from tests.fakes import FakeTransport
from tests.inngest_frameworks._async_hosts import (
    CHECKS,
    KEEPALIVE,
    PATH,
    SMALL_LIMIT,
    Host,
    call,
    call_body,
    call_params,
    check_streaming,
    client_for,
    make_client,
    make_functions,
    tornado_server,
)

FRAMEWORK = "tornado"


class Hello(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write({"hello": "world"})


def make_app(
    transport: FakeTransport | None = None,
    client: inngest.Inngest | None = None,
    **kwargs: Any,
) -> tornado.web.Application:
    app = tornado.web.Application([("/hello", Hello)], **kwargs.pop("settings", {}))
    client = client or make_client(transport)
    inngest_tornado.serve(app, client, make_functions(client), **kwargs)
    return app


@pytest.fixture(scope="module")
def url(transport: FakeTransport) -> Iterator[str]:
    with tornado_server(make_app(transport, max_body_bytes=SMALL_LIMIT)) as url:
        yield url


def test_the_app_still_routes(http: httpx.Client) -> None:
    assert http.get("/hello").json() == {"hello": "world"}
    # The serve path is matched literally, not as a regular expression.
    assert http.get("/api/inngesX").status_code == 404


def test_streaming_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inngest_tornado.InngestHandler, "keepalive_interval", KEEPALIVE)
    client = make_client(INNGEST_STREAMING="force")
    with tornado_server(make_app(client=client)) as url, client_for(url) as http:
        check_streaming(http, "tornado")


def test_body_limit_above_the_servers_own() -> None:
    """The endpoint's limit wins over a smaller HTTPServer(max_body_size=...)."""
    server_cap = 1024
    body = call_body()
    body["event"]["data"] = {"pad": "x" * server_cap * 2}
    raw = json.dumps(body).encode()

    def chunked() -> Iterator[bytes]:
        yield raw[:100]
        yield raw[100:]

    params = call_params("where-async")
    with (
        tornado_server(make_app(), max_body_size=server_cap) as url,
        client_for(url) as http,
    ):
        for content in (raw, chunked()):
            resp = http.post(PATH, params=params, content=content)
            assert resp.status_code == 200, resp.text


def test_xsrf_cookies_do_not_block_inngest() -> None:
    app = make_app(settings={"xsrf_cookies": True})
    with tornado_server(app) as url, client_for(url) as http:
        assert call(http, "where-async").status_code == 200


def test_middleware_gets_the_tornado_request_with_the_body() -> None:
    seen: list[bytes] = []

    class Record(inngest.Middleware):
        async def transform_input(self, ctx: Any, function: Any, steps: Any) -> None:
            assert isinstance(self.raw_request, tornado.httputil.HTTPServerRequest)
            seen.append(self.raw_request.body)

    client = inngest.Inngest(
        app_id="fw-app", environ={"INNGEST_DEV": "1"}, middleware=[Record]
    )
    with tornado_server(make_app(client=client)) as url, client_for(url) as http:
        assert call(http, "where-async").status_code == 200
    assert json.loads(seen[0])["ctx"]["run_id"] == "01JRUN"


@pytest.mark.parametrize("check", list(CHECKS))
def test_tornado_host(check: str, host: Host) -> None:
    CHECKS[check](host)
