"""The embedded dev server: HTTP front, driver, app syncing, test helpers.

::

    server = DevServer(port=0, apps=["http://127.0.0.1:8000/api/inngest"])
    async with anyio.create_task_group() as tg:
        url = await tg.start(server.serve)       # "http://127.0.0.1:<port>"
        ...
        run = await server.wait_for_run(run_id, timeout=5)
        await server.shutdown()

The HTTP front is the h11 connection handling of
:mod:`inngest_transports.server`, with :class:`DevEndpoint` answering
through :class:`~._api.DevApi` instead of an app.
"""

from __future__ import annotations

import logging
import math
import signal
import sys
import urllib.parse
from collections.abc import Sequence
from typing import Any

import anyio
import anyio.abc

from inngest_proto.executor import Run, ServerAuth
from inngest_proto.wire import Response, __version__
from inngest_transports._server_connection import (
    Connection,
    Request,
    StreamedAnswer,
    TakeOver,
)

from ._api import DevApi
from ._api_responses import error
from ._apps import SYNC_ATTEMPTS, SYNC_BACKOFF, Apps
from ._discovery import Discovery
from ._driver import Driver, Store
from ._gateway import DEFAULT_GATEWAY_PORT, Gateway, GatewayConfig
from ._guard import RequestGuard
from ._polling import PollSchedule

if sys.version_info < (3, 11):  # pragma: no cover - anyio brings the backport
    from exceptiongroup import BaseExceptionGroup

__all__ = ["DEFAULT_POLL_INTERVAL", "DEFAULT_PORT", "DevEndpoint", "DevServer"]

_log = logging.getLogger("inngest.devserver")
DEFAULT_PORT = 8288
#: Seconds between two polls of an app (``inngest dev``'s default).
DEFAULT_POLL_INTERVAL = 5.0
# Big enough for the 5 000 x 3 MiB of docs/protocol/devserver-api.rst#event-ingestion
# in spirit, not in full: a dev
# server holding 15 GB bodies in memory helps nobody.
_MAX_BODY_BYTES = 64 * 1024 * 1024
_KEEP_ALIVE_SECONDS = 5.0
_REQUEST_SECONDS = 30.0


class DevEndpoint:
    """What a :class:`Connection` of the dev server answers with."""

    def __init__(
        self, api: DevApi, guard: RequestGuard, logger: logging.Logger
    ) -> None:
        self._api = api
        self._guard = guard
        self.logger = logger
        self.default_host = "localhost"

    @property
    def max_body_bytes(self) -> int:
        return _MAX_BODY_BYTES

    def serves(self, url: str) -> bool:
        return True  # every path is routed (or answered 404) by the API

    def not_found(self, url: str) -> Response:
        return error(404, "Not found")

    def too_large(self, declared: int) -> Response:
        return error(413, f"Request body of {declared} bytes exceeds {_MAX_BODY_BYTES}")

    def streamed_answer(self, request: Request, url: str) -> StreamedAnswer | None:
        return None  # the API's answers are small and sent whole

    def take_over(self, request: Request, url: str) -> TakeOver | None:
        """Serves a WebSocket upgrade itself (realtime subscribers), or None."""
        headers = {name.lower(): value for name, value in request.headers}
        if self._guard.refusal(request.method, headers) is not None:
            return None  # :meth:`answer` says why
        return self._api.realtime.take_over(request.method, url, headers)

    async def answer(self, request: Request, url: str) -> Response:
        if not request.complete:
            return self.too_large(len(request.body))
        parts = urllib.parse.urlsplit(url)
        query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
        headers = {name.lower(): value for name, value in request.headers}
        refusal = self._guard.refusal(request.method, headers)
        if refusal is not None:
            self.logger.warning(
                "dev server: %s %s refused: %s", request.method, parts.path, refusal
            )
            return error(403, refusal)
        try:
            response = await self._api.handle(
                request.method,
                urllib.parse.unquote(parts.path),
                query,
                headers,
                request.body,
            )
        except Exception:
            # A bug in one handler answers 500; the server keeps serving.
            self.logger.exception("dev server: %s %s failed", request.method, url)
            response = error(500, "Internal server error")
        response.headers.update(self._guard.cors_headers(headers))
        return response


class DevServer:
    """An Inngest dev server in this process, on asyncio or trio.

    ``apps`` are URLs to sync at start (``-u``).  ``retry_scale`` scales the
    executor's retry backoff (``0.001`` for tests).  ``signing_key`` makes
    the server act as Inngest Cloud does (apps must run in cloud mode): it
    says ``X-Inngest-Server-Kind: cloud``, signs sync and call requests, and
    its API routes require the key as a bearer token.  ``event_keys``, when
    given, are the only keys ``POST /e/{key}`` accepts.  ``poll``
    re-syncs every app each ``poll_interval`` seconds (without it, only apps
    not synced yet are retried), each app on its own schedule, backing off
    while it cannot be reached (see :mod:`._polling`).  ``discovery`` looks
    for apps on this machine's usual ports, as ``inngest dev`` does (see
    :mod:`._discovery`; off by default here, on for the CLI).  Connect
    workers reach the gateway on ``connect_gateway_port`` (default 8289, or
    a free port when ``port`` is 0), with ``connect``'s timings (lease,
    heartbeat, drain).  ``store`` (a
    :class:`~._sqlite_store.SQLiteStore`, which the caller opens and closes) makes
    the server durable: events, runs and synced apps survive a restart, even
    a ``kill -9``; without one everything is in memory.  It answers only
    requests for its own names (``localhost``, loopback addresses, ``host``,
    and ``allowed_hosts``): see :mod:`._guard`.  ``keep_events`` bounds the
    events kept to the newest that many (older ones are deleted from the
    store; without a store the newest 10,000 are kept); by default a store
    keeps them all.  ``keep_runs`` and ``keep_runs_for`` (seconds) bound the
    runs that ended kept: the newest that many, ended that recently (see
    docs/devserver.rst#runs-and-memory); by default a store keeps them all, and
    without a store the 1,000 that ended last are kept.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        apps: Sequence[str] = (),
        retry_scale: float = 1.0,
        signing_key: str | None = None,
        event_keys: Sequence[str] = (),
        poll: bool = True,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        discovery: bool = False,
        store: Store | None = None,
        sync_attempts: int = SYNC_ATTEMPTS,
        sync_backoff: float = SYNC_BACKOFF,
        connect_gateway_port: int | None = None,
        connect: GatewayConfig | None = None,
        allowed_hosts: Sequence[str] = (),
        keep_events: int | None = None,
        keep_runs: int | None = None,
        keep_runs_for: float | None = None,
    ) -> None:
        if keep_events is not None and keep_events < 1:
            msg = f"keep_events must be at least 1, not {keep_events}"
            raise ValueError(msg)
        self._host, self._port = host, port
        #: Which ``Host`` names it answers to (DNS rebinding).
        self.guard = RequestGuard(host, allowed_hosts)
        self._app_urls = [_normalize_url(url) for url in apps]
        if not poll_interval > 0:
            msg = f"poll_interval must be a positive number of seconds: {poll_interval}"
            raise ValueError(msg)
        self._poll, self._poll_interval = poll, poll_interval
        self._discovery = discovery
        #: The signing key's rules: with one, this server acts as Inngest Cloud.
        self.auth = ServerAuth(signing_key)
        self.driver = Driver(
            retry_scale=retry_scale,
            signing_key=signing_key,
            store=store,
            keep_events=keep_events,
            keep_runs=keep_runs,
            keep_runs_for=keep_runs_for,
        )
        self.apps = Apps(
            self.driver,
            auth=self.auth,
            sync_attempts=sync_attempts,
            sync_backoff=sync_backoff,
        )
        if store is not None:
            # Before the driver runs: events it routes at start need them.
            self.apps.restore(store.apps())
        if connect_gateway_port is None:
            # Tests on port 0 get a free gateway port too.
            connect_gateway_port = DEFAULT_GATEWAY_PORT if port else 0
        self.gateway = Gateway(
            self.driver,
            self.apps,
            host=host,
            port=connect_gateway_port,
            config=connect,
        )
        self.driver.connect = self.gateway.call
        self.api = DevApi(
            self.driver,
            self.apps,
            self._sync_for_api,
            auth=self.auth,
            info={"version": __version__, "startOpts": {"urls": self._app_urls}},
            gateway=self.gateway,
            event_keys=event_keys,
        )
        self._endpoint = DevEndpoint(self.api, self.guard, _log)
        self._bound: tuple[str, int] | None = None
        self._stop: anyio.Event | None = None
        self._stopped: anyio.Event | None = None

    # -- serving -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server's origin; with ``port=0``, the bound port once serving."""
        host, port = self._bound or (self._host, self._port)
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def ui_url(self) -> str:
        """The web UI's address; with a signing key, its sign-in link."""
        token = self.api.ui_login.token
        if token is None:
            return f"{self.url}/"
        return f"{self.url}/ui/login?token={token}"

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[str] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve until :meth:`shutdown`; reports :attr:`url` once listening."""
        if self._stop is not None:
            msg = "this DevServer is already serving"
            raise RuntimeError(msg)
        self._stop, self._stopped = anyio.Event(), anyio.Event()
        try:
            listener = await anyio.create_tcp_listener(
                local_host=self._host, local_port=self._port
            )
            async with listener, anyio.create_task_group() as tg:
                sockets = [
                    s
                    for s in listener.listeners
                    if isinstance(s, anyio.abc.SocketListener)
                ]
                local = sockets[0].extra(anyio.abc.SocketAttribute.local_address)  # noqa: S610
                assert isinstance(local, tuple)
                self._bound = str(local[0]), int(local[1])
                self.guard.bound(self._bound[0])
                self._endpoint.default_host = self.url.removeprefix("http://")
                await tg.start(self.driver.run)
                await tg.start(self.gateway.serve)
                for sock in sockets:
                    tg.start_soon(self._accept, sock, tg)
                _log.info("dev server listening at %s", self.url)
                if self.auth.enabled:
                    _log.info("web UI (signing-key mode): %s", self.ui_url)
                task_status.started(self.url)
                for url in self._app_urls:
                    tg.start_soon(self.sync_app, url)
                tg.start_soon(self._poll_apps)
                if self._discovery:
                    own_ports = {self._bound[1], self.gateway.port}
                    tg.start_soon(self._discover_apps, own_ports)
                await self._stop.wait()
                tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self.apps.aclose()
            self._stopped.set()
            self._stop = self._stopped = None
            self._bound = None

    async def shutdown(self) -> None:
        """Stop serving; returns once :meth:`serve` has returned."""
        stop, stopped = self._stop, self._stopped
        if stop is None or stopped is None:
            return
        stop.set()
        await stopped.wait()

    def run(self, *, backend: str = "asyncio") -> None:
        """Serve until SIGINT/SIGTERM (the CLI).

        A failure to start (a port already in use) is raised as itself, not
        inside the task groups' exception groups, so the caller can say what
        went wrong instead of printing a traceback.
        """
        try:
            anyio.run(self._serve_until_signalled, backend=backend)
        except BaseExceptionGroup as group:
            raise _sole_error(group) from None

    async def _serve_until_signalled(self) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._watch_signals)
            await self.serve()
            tg.cancel_scope.cancel()

    async def _watch_signals(self) -> None:
        try:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    await self.shutdown()
                    return
        except (NotImplementedError, ValueError):
            return  # no signal handling here: Ctrl-C interrupts as usual

    async def _accept(
        self, listener: anyio.abc.SocketListener, tg: anyio.abc.TaskGroup
    ) -> None:
        while True:
            try:
                stream = await listener.accept()
            except anyio.ClosedResourceError:
                return
            except OSError as err:
                _log.warning("dev server: accept failed: %s", err)
                await anyio.sleep(0.1)
                continue
            conn = Connection(
                stream, self._endpoint, _KEEP_ALIVE_SECONDS, _REQUEST_SECONDS
            )
            tg.start_soon(conn.run)

    # -- apps --------------------------------------------------------------------------

    async def sync_app(self, url: str) -> dict[str, Any]:
        """PUT the sync request to the app at ``url`` (retried while it is
        down); returns the app as ``GET /v1/apps`` lists it."""
        app = await self.apps.sync(_normalize_url(url))
        return app.describe()

    async def _sync_for_api(self, url: str) -> dict[str, Any]:
        return await self.sync_app(url)

    async def _poll_apps(self) -> None:
        """Re-sync apps, each in its own task (see :class:`PollSchedule`)."""
        schedule = PollSchedule(self._poll_interval)
        async with anyio.create_task_group() as polls:
            while True:
                now = anyio.current_time()
                for url in schedule.start(self._pollable(), now):
                    polls.start_soon(self._poll_one, schedule, url)
                # Apps added meanwhile are noticed within an interval.
                wake = min(schedule.next_due() or math.inf, now + self._poll_interval)
                await anyio.sleep(max(wake - now, 0.0))

    def _pollable(self) -> list[str]:
        return [
            app.url
            for app in self.apps.by_url.values()
            # Connect apps are registered by their workers' sockets.
            if not app.is_connect and (self._poll or app.state != "synced")
        ]

    async def _poll_one(self, schedule: PollSchedule, url: str) -> None:
        # One attempt: the schedule's backoff does the retrying.
        app = await self.apps.sync(url, attempts=1)
        schedule.finished(url, reachable=app.state != "unreachable")

    async def _discover_apps(self, own_ports: set[int]) -> None:
        """Sync apps found on this machine's usual ports, every interval."""
        discovery = Discovery(own_ports)
        try:
            while True:
                for url in await discovery.scan():
                    if url not in self.apps.by_url:
                        _log.info("found an app at %s", url)
                        await self.apps.sync(url)
                await anyio.sleep(self._poll_interval)
        finally:
            with anyio.CancelScope(shield=True):
                await discovery.aclose()

    # -- test helpers ------------------------------------------------------------------

    def get_run(self, run_id: str) -> Run | None:
        return self.driver.get_run(run_id)

    def runs_for_event(self, event_id: str) -> list[Run]:
        """Runs triggered by the event with this internal id (what ``/e``
        and ``client.send`` return)."""
        return self.driver.runs_for_event(event_id)

    async def wait_for_run(self, run_id: str, timeout: float = 10.0) -> Run:
        """The run once it has finished (and, with a store, once that is
        committed); :class:`TimeoutError` otherwise."""

        def done() -> bool:
            run = self.get_run(run_id)
            return run is not None and not run.is_running

        await self.driver.wait_until(done, timeout)
        await self.driver.durable()
        run = self.get_run(run_id)
        assert run is not None
        return run

    async def wait_for_runs(
        self, event_id: str, count: int = 1, timeout: float = 10.0
    ) -> list[Run]:
        """The runs of an event once ``count`` have started and all finished
        (and, with a store, once that is committed)."""

        def done() -> bool:
            runs = self.runs_for_event(event_id)
            return len(runs) >= count and not any(r.is_running for r in runs)

        await self.driver.wait_until(done, timeout)
        await self.driver.durable()
        return self.runs_for_event(event_id)


def _normalize_url(url: str) -> str:
    """``http://`` is prefixed when the URL has no scheme, as ``-u`` does."""
    return url if "://" in url else f"http://{url}"


def _sole_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one error inside nested task-group groups, or the group if several."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        error = pending.pop()
        if isinstance(error, BaseExceptionGroup):
            pending.extend(error.exceptions)
        else:
            leaves.append(error)
    return leaves[0] if len(leaves) == 1 else group
