"""Our app under each adapter and server, on 127.0.0.1, for the adapter suite.

A :class:`Host` starts the functions of a ``Replay`` behind one framework
module and one HTTP server and yields the base URL.  Servers that run their
own event loop do so in a background thread (an anyio blocking portal for
the trio and h11 ones), so the tests themselves stay synchronous.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from typing import Any

import anyio
import anyio.from_thread
import attrs
import fastapi
import flask
import tornado.web
from werkzeug.serving import make_server

from inngest_frameworks import asgi as inngest_asgi
from inngest_frameworks import django as inngest_django
from inngest_frameworks import fast_api as inngest_fast_api
from inngest_frameworks import flask as inngest_flask
from inngest_frameworks import tornado as inngest_tornado
from inngest_frameworks import wsgi as inngest_wsgi
from inngest_transports.server import Server
from tests.conformance.golden import Replay
from tests.inngest_frameworks._async_hosts import tornado_server, uvicorn_server

Start = Callable[[Replay], AbstractContextManager[str]]


@attrs.frozen
class Host:
    name: str
    #: What the adapter sends as ``x-inngest-framework``.
    framework: str
    #: Whether it can answer with a streamed 201.
    streams: bool
    start: Start


@contextmanager
def _werkzeug(app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _fast_api(replay: Replay) -> AbstractContextManager[str]:
    app = fastapi.FastAPI()
    inngest_fast_api.serve(app, replay.client, replay.functions)
    return uvicorn_server(app)


def _asgi_uvicorn(replay: Replay) -> AbstractContextManager[str]:
    return uvicorn_server(inngest_asgi.serve(replay.client, replay.functions))


@contextmanager
def _asgi_hypercorn_trio(replay: Replay) -> Iterator[str]:
    from hypercorn.config import Config  # noqa: PLC0415 - optional server
    from hypercorn.trio import serve  # noqa: PLC0415

    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    config.graceful_timeout = 0.1
    app = inngest_asgi.serve(replay.client, replay.functions)
    with anyio.from_thread.start_blocking_portal("trio") as portal:
        stop = portal.call(anyio.Event)
        task, binds = portal.start_task(
            partial(serve, app, config, shutdown_trigger=stop.wait)
        )
        try:
            yield str(binds[0])
        finally:
            portal.call(stop.set)
            task.result(5)


def _tornado(replay: Replay) -> AbstractContextManager[str]:
    app = tornado.web.Application()
    inngest_tornado.serve(app, replay.client, replay.functions)
    return tornado_server(app)


def _flask(replay: Replay) -> AbstractContextManager[str]:
    app = flask.Flask(__name__)
    inngest_flask.serve(app, replay.client, replay.functions)
    return _werkzeug(app)


def _django(replay: Replay) -> AbstractContextManager[str]:
    from tests import django_site  # noqa: PLC0415 - importing it configures Django

    name = django_site.own_urlconf(
        f"tests.adapters._urls_{id(replay)}",
        inngest_django.serve(replay.client, replay.functions),
    )
    django_app = django_site.WSGIHandler()

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        environ[django_site.URLCONF_KEY] = name
        return django_app(environ, start_response)

    return _werkzeug(app)


def _wsgi(replay: Replay) -> AbstractContextManager[str]:
    return _werkzeug(inngest_wsgi.serve(replay.client, replay.functions))


def _h11(backend: str) -> Start:
    @contextmanager
    def start(replay: Replay) -> Iterator[str]:
        server = Server(replay.client, replay.functions, host="127.0.0.1", port=0)
        with anyio.from_thread.start_blocking_portal(backend) as portal:
            task, (host, port) = portal.start_task(server.serve)
            try:
                yield f"http://{host}:{port}"
            finally:
                portal.call(server.shutdown)
                task.result(5)

    return start


HOSTS = (
    Host("fast_api-uvicorn", "fast_api", True, _fast_api),
    Host("asgi-uvicorn", "asgi", True, _asgi_uvicorn),
    Host("asgi-hypercorn-trio", "asgi", True, _asgi_hypercorn_trio),
    Host("tornado", "tornado", True, _tornado),
    Host("flask-werkzeug", "flask", False, _flask),
    Host("django-werkzeug", "django", False, _django),
    Host("wsgi-werkzeug", "wsgi", False, _wsgi),
    Host("h11-asyncio", "h11", True, _h11("asyncio")),
    Host("h11-trio", "h11", True, _h11("trio")),
)
