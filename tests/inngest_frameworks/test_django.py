"""``inngest_frameworks.django``: the shared checks on Django's WSGI handler
(served by Werkzeug) with the sync and the async view, and on its ASGI
handler (served by uvicorn); then the view choice, CSRF exemption and the
request handed to middleware.

Django is configured once per process by ``tests.django_site``, whose
``urlpatterns`` each test routes to the app it needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import django  # type: ignore[import-untyped,unused-ignore]
import httpx
import pytest
import uvicorn
from django.conf import settings  # type: ignore[import-untyped,unused-ignore]
from werkzeug.serving import make_server

import inngest_proto as inngest
from inngest_frameworks import django as inngest_django
from tests.django_site import ASGIHandler, URLPattern, WSGIHandler
from tests.django_site import route as _route
from tests.fakes import FakeTransport
from tests.inngest_frameworks._sync_hosts import (
    CHECKS,
    LIMIT,
    SERVE_PATH,
    TIMEOUT,
    QuietWerkzeugHandler,
    Served,
    assert_sdk_response,
    make_app,
    post_call,
    running,
)
from tests.inngest_proto._comm_helpers import call_body, make_client


def _is_async(pattern: URLPattern) -> bool:
    return asyncio.iscoroutinefunction(pattern.callback)


@contextlib.contextmanager
def _uvicorn(app: Any) -> Iterator[tuple[str, httpx.Client]]:
    """uvicorn in a daemon thread, on a socket bound here (port 0)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, daemon=True
    )
    thread.start()
    deadline = time.monotonic() + TIMEOUT
    while not server.started:  # startup takes milliseconds
        assert thread.is_alive(), "uvicorn stopped"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.002)
    try:
        # A connection per request: on a kept-alive one each reply here waits
        # ~40 ms for a delayed ACK (Nagle), which adds up over the checks.
        no_keepalive = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(timeout=TIMEOUT, limits=no_keepalive) as http:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}", http
    finally:
        server.should_exit = True
        thread.join(TIMEOUT)
        sock.close()


@contextlib.contextmanager
def _wsgi() -> Iterator[tuple[str, httpx.Client]]:
    server = make_server(
        "127.0.0.1",
        0,
        WSGIHandler(),
        threaded=True,
        request_handler=QuietWerkzeugHandler,
    )
    with running(server) as served:
        yield served


# --- the shared checks --------------------------------------------------------

#: Where the checks run: Django's handler and the view ``serve`` chose.
_HOSTS = ("wsgi, sync view", "wsgi, async view", "asgi, async view", "asgi, sync view")


def _applies(host: str, check: str) -> bool:
    if check == "async function" and host.endswith("sync view"):
        return host.endswith("async view")  # a sync-only app has none
    # Over ASGI Django reads the whole body before the view and drops the
    # request of a client that left, so these raw-socket checks are WSGI's
    # (413 over ASGI is checked below).
    return not (
        host.startswith("asgi") and check in ("body limit", "client leaves mid-body")
    )


class _Hosts:
    """Each host started on first use and kept for the module: the checks
    are parametrized by (host, check) pairs, which pytest would otherwise
    not group by host."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self._stack = stack
        self._running: dict[str, tuple[URLPattern, Served]] = {}

    def get(self, kind: str) -> tuple[URLPattern, Served]:
        if kind not in self._running:
            self._running[kind] = self._start(kind)
        return self._running[kind]

    def _start(self, kind: str) -> tuple[URLPattern, Served]:
        server_kind, view = kind.split(", ")
        client, functions, transport = make_app()
        if view == "sync view":
            # Without async functions the official choice is the sync view
            # (with them, on Django 4 too: see the fallback test below).
            functions = [f for f in functions if not f.is_handler_async]
        pattern = inngest_django.serve(client, functions, max_body_bytes=LIMIT)
        assert _is_async(pattern) == (view == "async view")
        server = _uvicorn(ASGIHandler()) if server_kind == "asgi" else _wsgi()
        base, http = self._stack.enter_context(server)
        served = Served(
            base + SERVE_PATH,
            transport,
            "django",
            http,
            function_count=len(functions),
            json_405=True,
        )
        return pattern, served


@pytest.fixture(scope="module")
def hosts() -> Iterator[_Hosts]:
    with contextlib.ExitStack() as stack:
        yield _Hosts(stack)


@pytest.mark.parametrize(
    ("host", "check"),
    [(host, check) for host in _HOSTS for check in CHECKS if _applies(host, check)],
)
def test_django_host(hosts: _Hosts, host: str, check: str) -> None:
    pattern, served = hosts.get(host)
    _route(pattern)
    CHECKS[check](served)


def test_asgi_refuses_a_body_over_the_limit() -> None:
    client, functions, transport = make_app()
    _route(inngest_django.serve(client, functions, max_body_bytes=LIMIT))
    with _uvicorn(ASGIHandler()) as (base, http):
        served = Served(base + SERVE_PATH, transport, "django", http)
        resp = http.post(served.url, content=b"x" * (LIMIT + 1))
        assert assert_sdk_response(served, resp, 413)["code"] == "body_too_large"


# --- Django's own -------------------------------------------------------------


def test_the_pattern_is_a_csrf_exempt_route_without_leading_slash() -> None:
    client, functions, _ = make_app()
    pattern = inngest_django.serve(client, functions)
    assert str(pattern.pattern) == "api/inngest"
    assert pattern.callback.csrf_exempt is True
    custom = inngest_django.serve(client, functions, serve_path="/hooks/inngest")
    assert str(custom.pattern) == "hooks/inngest"


def test_django_4_gets_the_sync_view_and_still_runs_async_functions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Django 4's csrf_exempt would turn an async view into a sync one
    returning a coroutine; the sync view runs async functions on a loop of
    their own instead."""
    monkeypatch.setattr(django, "VERSION", (4, 2, 0, "final", 0))
    client, functions, transport = make_app()
    pattern = inngest_django.serve(client, functions)
    assert not _is_async(pattern)
    _route(pattern)
    with _wsgi() as (base, http):
        served = Served(base + SERVE_PATH, transport, "django", http, json_405=True)
        CHECKS["async function"](served)


@pytest.mark.parametrize("server", ["wsgi", "asgi"])
@pytest.mark.parametrize("view", ["sync", "async"])
def test_middleware_gets_the_request_with_its_body(
    server: str, view: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``request.body`` stays readable after the view read the stream, and
    DATA_UPLOAD_MAX_MEMORY_SIZE (Django's form limit) does not cap calls."""
    monkeypatch.setattr(settings, "DATA_UPLOAD_MAX_MEMORY_SIZE", 10)
    transport = FakeTransport()
    client = make_client("dev", transport=transport)
    seen: list[tuple[str, bytes]] = []

    def middleware(client: Any, raw_request: Any) -> inngest.MiddlewareSync:
        seen.append((raw_request.path, raw_request.body))
        return inngest.MiddlewareSync(client, raw_request)

    client.add_middleware(middleware)

    @client.create_function(
        fn_id="steps-sync", trigger=inngest.TriggerEvent(event="t/x")
    )
    def sync_fn(ctx: inngest.ContextSync) -> str:
        return "sync"

    @client.create_function(
        fn_id="steps-async", trigger=inngest.TriggerEvent(event="t/x")
    )
    async def async_fn(ctx: inngest.Context) -> str:
        return "async"

    functions: list[inngest.Function[Any]] = [sync_fn]
    if view == "async":
        functions.append(async_fn)
    pattern = inngest_django.serve(client, functions)
    assert _is_async(pattern) == (view == "async")
    _route(pattern)
    host = _uvicorn(ASGIHandler()) if server == "asgi" else _wsgi()
    with host as (base, http):
        served = Served(base + SERVE_PATH, transport, "django", http)
        for fn in ("steps-sync", "steps-async")[: len(functions)]:
            expected = fn.removeprefix("steps-")
            assert assert_sdk_response(served, post_call(served, fn), 200) == expected
    body = json.dumps(call_body()).encode()
    assert seen == [(SERVE_PATH, body)] * len(functions)


def test_a_disallowed_host_is_djangos_400() -> None:
    client, functions, _ = make_app()
    _route(inngest_django.serve(client, functions))
    with _wsgi() as (base, http):
        resp = http.get(base + SERVE_PATH, headers={"host": "evil.test"})
    assert resp.status_code == 400
    assert "x-inngest-sdk" not in resp.headers
