"""What the official-SDK compatibility suites share: a dev server, a served app.

Each suite builds an app with the official SDK (``inngest==0.5.19``), serves
it from a background thread (FastAPI on uvicorn, or Flask on werkzeug), and
runs our :class:`DevServer` on an anyio blocking portal; :func:`running_compat`
wires them together as a user would (environment variables, then a sync) and
yields a :class:`Compat` to drive them.  Importing it skips the importing
test module where the official SDK or a framework is absent.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Generic, Protocol, TypeVar

import pytest

#: The official SDK's pydantic models use v1-style ``class Config``; pydantic
#: warns when each of its modules is imported, and our ``filterwarnings =
#: error`` would make that fatal.
PYDANTIC_CONFIG = "Support for class-based `config` is deprecated"
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", PYDANTIC_CONFIG, DeprecationWarning)
    # Skipped, not failed, where the official SDK or a framework is absent.
    for _name in ("inngest", "fastapi", "flask", "uvicorn"):
        pytest.importorskip(_name)
    # Imported by name (not importorskip's module object) for mypy.
    import fastapi
    import flask
    import inngest
    from inngest import fast_api as inngest_fast_api
    from inngest import flask as inngest_flask

import anyio.from_thread  # noqa: E402
import httpx  # noqa: E402
import werkzeug.serving  # noqa: E402

from inngest_proto._signing import hash_signing_key  # noqa: E402
from inngest_proto.executor import Run  # noqa: E402
from inngest_transports.devserver import DevServer, GatewayConfig  # noqa: E402
from tests.dev_api import DevApiReader, dev_server_thread  # noqa: E402
from tests.inngest_frameworks._async_hosts import uvicorn_server  # noqa: E402

#: Retry backoff of seconds becomes milliseconds: the retry test stays fast.
RETRY_SCALE = 0.0001
#: Seconds a run may take; the longest scenario (a 1 s wait timeout) is far below.
RUN_TIMEOUT = 15.0
HOST = "127.0.0.1"


class ServedApp(Protocol):
    """An app of the official SDK: its client and functions."""

    @property
    def client(self) -> inngest.Inngest: ...

    @property
    def functions(self) -> list[inngest.Function[Any]]: ...


AppT = TypeVar("AppT", bound=ServedApp)


class Compat(DevApiReader, Generic[AppT]):
    """A running dev server and official app, driven as a user would."""

    def __init__(
        self,
        dev: DevServer,
        portal: anyio.from_thread.BlockingPortal,
        app: AppT,
        signing_key: str | None = None,
    ) -> None:
        self.dev = dev
        self.portal = portal
        self.app = app
        # With a signing key, the API wants it (or its hash) as a bearer token.
        headers = {}
        if signing_key is not None:
            headers["authorization"] = f"Bearer {hash_signing_key(signing_key)}"
        http = httpx.Client(base_url=dev.url, timeout=5, headers=headers)
        super().__init__(http, RUN_TIMEOUT)

    def send(self, name: str, data: dict[str, Any] | None = None) -> str:
        (event_id,) = self.send_many(name, [data or {}])
        return event_id

    def send_many(self, name: str, data: Sequence[dict[str, Any]]) -> list[str]:
        """Send one event per item of ``data`` in one request (``/e`` routes
        them in order before it answers); their ids, in the same order."""
        ids = self.app.client.send_sync(
            [inngest.Event(name=name, data=item) for item in data]
        )
        assert all(isinstance(i, str) for i in ids)
        assert len(ids) == len(data)
        return list(ids)

    def wait_for_runs(
        self, event_id: str, count: int = 1, timeout: float = RUN_TIMEOUT
    ) -> list[Run]:
        """:meth:`DevServer.wait_for_runs`, from this (the test's) thread."""
        return self.portal.call(self.dev.wait_for_runs, event_id, count, timeout)

    def wait_until(
        self, check: Callable[[], bool], timeout: float = RUN_TIMEOUT
    ) -> None:
        """Block until ``check()`` (run in the dev server's thread) holds."""
        self.portal.call(self.dev.driver.wait_until, check, timeout)

    def events(self, name: str) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self.get(f"/v1/events?name={name}")["data"]
        return data

    def wait_until_waiting(self, event_id: str) -> None:
        """Block until the run of ``event_id`` sits in ``wait_for_event``.

        The ``/v1`` API does not show pending waits, so this one
        synchronization reads the dev server itself (in its own thread).
        """

        def waiting() -> bool:
            return any(r.waits for r in self.dev.runs_for_event(event_id))

        self.wait_until(waiting)


def _dev_server(
    signing_key: str | None = None,
    connect: GatewayConfig | None = None,
    retry_scale: float = RETRY_SCALE,
) -> AbstractContextManager[tuple[DevServer, anyio.from_thread.BlockingPortal]]:
    return dev_server_thread(
        host=HOST, retry_scale=retry_scale, signing_key=signing_key, connect=connect
    )


@contextmanager
def serve_fastapi(app: ServedApp) -> Iterator[str]:
    web = fastapi.FastAPI()
    inngest_fast_api.serve(web, app.client, app.functions)
    with uvicorn_server(web, lifespan="off") as base_url:
        yield f"{base_url}/api/inngest"


@contextmanager
def serve_flask(app: ServedApp) -> Iterator[str]:
    web = flask.Flask(__name__)
    inngest_flask.serve(web, app.client, app.functions)
    # Threaded: a step's request may be in flight while another arrives.
    server = werkzeug.serving.make_server(HOST, 0, web, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="werkzeug", daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_port}/api/inngest"
    finally:
        server.shutdown()
        thread.join(10)


@contextmanager
def running_compat(
    app_id: str,
    build: Callable[[inngest.Inngest], AppT],
    serve: Callable[[AppT], Any],
    *,
    signing_key: str | None = None,
) -> Iterator[Compat[AppT]]:
    """A dev server and the app ``build`` makes, served by ``serve`` and synced.

    With ``signing_key``, the dev server has that key and the app runs in
    production (cloud) mode with it, as it would against Inngest Cloud.
    """
    with (
        _dev_server(signing_key) as (dev, portal),
        pytest.MonkeyPatch.context() as mp,
    ):
        for name in (
            "INNGEST_DEV",
            "INNGEST_API_BASE_URL",
            "INNGEST_EVENT_API_BASE_URL",
            "INNGEST_EVENT_KEY",
            "INNGEST_SIGNING_KEY",
            "INNGEST_SIGNING_KEY_FALLBACK",
            "INNGEST_ENV",
        ):
            mp.delenv(name, raising=False)
        # What a user of the official SDK sets to use a local server; read
        # when the client is created, so set before.
        mp.setenv("INNGEST_BASE_URL", dev.url)
        if signing_key is None:
            mp.setenv("INNGEST_DEV", "1")
        else:
            mp.setenv("INNGEST_SIGNING_KEY", signing_key)
            mp.setenv("INNGEST_EVENT_KEY", "official-event-key")
        client = inngest.Inngest(app_id=app_id, is_production=signing_key is not None)
        app = build(client)
        with serve(app) as url:
            synced = portal.call(dev.sync_app, url)
            assert synced["state"] == "synced", synced
            compat = Compat(dev, portal, app, signing_key)
            try:
                yield compat
            finally:
                compat.http.close()
                close_official_client(client)


def close_official_client(client: inngest.Inngest) -> None:
    """Close the official client's keep-alive connections.

    inngest 0.5.19 has no ``close()``: its ``httpx.Client`` (``send_sync``,
    ``/fn/register``, and steps' ``send_event`` off the creating thread) would
    be garbage-collected with a socket open, a ResourceWarning that our
    ``filterwarnings = error`` turns into a failure of the whole session.
    """
    client._http_client._http_client_sync.close()
