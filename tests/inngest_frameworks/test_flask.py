"""``inngest_frameworks.flask``: the shared checks on a Flask app served by
Werkzeug, then what is Flask's own: the endpoint name, the request handed to
middleware, where functions run."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import flask
import pytest
from werkzeug.serving import make_server

import inngest_proto as inngest
from inngest_frameworks import flask as inngest_flask
from tests.inngest_frameworks._sync_hosts import (
    CHECKS,
    LIMIT,
    SERVE_PATH,
    QuietWerkzeugHandler,
    Served,
    assert_sdk_response,
    make_app,
    post_call,
    running,
)
from tests.inngest_proto._comm_helpers import make_client


@contextlib.contextmanager
def _serving(app: flask.Flask, served: Any, **fields: Any) -> Iterator[Served]:
    server = make_server(
        "127.0.0.1", 0, app, threaded=True, request_handler=QuietWerkzeugHandler
    )
    with running(server) as (base, http):
        yield Served(base + SERVE_PATH, served, "flask", http, **fields)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    client, functions, transport = make_app()
    app = flask.Flask(__name__)
    inngest_flask.serve(app, client, functions, max_body_bytes=LIMIT)
    with _serving(app, transport) as served:
        yield served


@pytest.mark.parametrize("check", list(CHECKS))
def test_flask_host(served: Served, check: str) -> None:
    CHECKS[check](served)


def test_the_official_endpoint_name_and_methods() -> None:
    client, functions, _ = make_app()
    app = flask.Flask(__name__)
    inngest_flask.serve(app, client, functions)
    with app.test_request_context():
        assert flask.url_for("inngest_api") == SERVE_PATH
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == "inngest_api")
    assert {"GET", "PUT", "POST"} <= set(rule.methods or ())


def test_a_custom_serve_path() -> None:
    client, functions, _ = make_app()
    app = flask.Flask(__name__)
    inngest_flask.serve(app, client, functions, serve_path="/hooks/inngest")
    resp = app.test_client().get("/hooks/inngest")
    assert resp.status_code == 200
    assert resp.headers["x-inngest-framework"] == "flask"


def test_misconfiguration_raises_at_serve() -> None:
    app = flask.Flask(__name__)
    with pytest.raises(inngest.InngestError, match="signing key"):
        inngest_flask.serve(app, make_client("cloud", env={}), [])
    assert not any(r.endpoint == "inngest_api" for r in app.url_map.iter_rules())


def test_functions_run_in_the_request_thread_and_see_the_request() -> None:
    """Sync functions run in the request's thread, async ones on a loop made
    there; middleware gets the Flask request, its body still readable."""
    client, _, transport = make_app()
    seen: list[tuple[str, bytes]] = []

    def middleware(client: Any, raw_request: object) -> inngest.MiddlewareSync:
        assert isinstance(raw_request, flask.Request)
        seen.append((raw_request.path, raw_request.get_data()))
        return inngest.MiddlewareSync(client, raw_request)

    client.add_middleware(middleware)
    threads: dict[str, str] = {}

    @client.create_function(
        fn_id="steps-sync", trigger=inngest.TriggerEvent(event="t/x")
    )
    def where_sync(ctx: inngest.ContextSync) -> str:
        threads["sync"] = threading.current_thread().name
        return "ok"

    @client.create_function(
        fn_id="steps-async", trigger=inngest.TriggerEvent(event="t/x")
    )
    async def where_async(ctx: inngest.Context) -> str:
        threads["async"] = threading.current_thread().name
        return "ok"

    app = flask.Flask(__name__)
    request_threads: list[str] = []
    app.before_request(lambda: request_threads.append(threading.current_thread().name))
    inngest_flask.serve(app, client, [where_sync, where_async])
    with _serving(app, transport, function_count=2) as served:
        for fn in ("steps-sync", "steps-async"):
            assert assert_sdk_response(served, post_call(served, fn), 200) == "ok"
    assert threads == {"sync": request_threads[0], "async": request_threads[1]}
    assert [path for path, _ in seen] == [SERVE_PATH, SERVE_PATH]
    assert all(body.startswith(b'{"ctx"') for _, body in seen)
