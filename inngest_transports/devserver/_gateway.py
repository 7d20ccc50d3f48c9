"""The dev server's Connect gateway: workers that dial out.

The protocol is described in docs/protocol/connect.rst.

``POST /v0/connect/start`` (:meth:`Gateway.start`) mints a connection id and
tokens; the worker then opens a WebSocket on the gateway's own port
(:mod:`._gateway_ws`), whose ``WORKER_CONNECT`` registers its apps like a
sync (URL ``ws://connect?app_name=<name>``, method ``connect``).

Calls: the driver hands every call whose runtime URL is ``ws(s)://`` to
:meth:`Gateway.call`, which picks a ready connection serving the app (within
the instance's ``max_worker_concurrency``, queueing at capacity), sends
``GATEWAY_EXECUTOR_REQUEST`` under a lease, and waits for the
``WORKER_REPLY`` (on any connection, or ``POST /v0/connect/flush``) while the
worker extends the lease.  A request goes to one connection, once: if that
connection dies the call waits for a late reply until the lease expires and
its grace passes (at most ``lease_seconds + lease_grace``, 25 s by default),
then fails with :class:`~._driver.WorkerLost`, and the executor retries it at
once on a worker still connected, one that did not let a lease expire if
there is one (no step runs twice because of us).
"""

from __future__ import annotations

import collections
import logging
import secrets
import time
import urllib.parse
import uuid
from collections import Counter
from typing import Any

import anyio
import anyio.abc
import attrs
from anyio.streams.stapled import MultiListener
from google.protobuf.message import DecodeError, Message

from inngest_proto import json_codec
from inngest_proto.connect import LeaseTimings, RequestLease
from inngest_proto.connect import connect_pb2 as pb
from inngest_proto.connect.frames import Kind
from inngest_proto.executor import CallSDK, ulid
from inngest_proto.wire import OutboundResponse

from ._apps import Apps
from ._driver import Driver, WorkerLost
from ._gateway_ws import SEND_FAILURES, SocketState, WorkerSocket
from ._ingest import InvalidSync, parse_sync
from ._rfc3339 import rfc3339

__all__ = [
    "ACCOUNT_ID",
    "DEFAULT_GATEWAY_PORT",
    "ENVIRONMENT_ID",
    "Gateway",
    "GatewayConfig",
    "NoWorker",
]

_log = logging.getLogger("inngest.devserver")
DEFAULT_GATEWAY_PORT = 8289
# The dev server's fixed ids (docs/protocol/devserver-api.rst#fixed-identifiers);
# ``_api`` re-exports them.
ACCOUNT_ID = "00000000-0000-4000-a000-000000000000"
ENVIRONMENT_ID = "00000000-0000-4000-b000-000000000000"
GATEWAY_GROUP = "gw-dev"
#: Per instance when WORKER_CONNECT gives no max_worker_concurrency
#: (docs/protocol/connect.rst#concurrency).
_DEFAULT_CONCURRENCY = 1000
#: Start calls whose socket never came; the oldest are forgotten first.
_MAX_STARTED = 1000
_STATUS = {pb.DONE: 200, pb.NOT_COMPLETED: 206, pb.ERROR: 500}


@attrs.frozen
class GatewayConfig:
    """The gateway's timings and limits (seconds); tests make them small.

    The lease timings default to those of :class:`~inngest_proto.connect.LeaseTimings`
    (Inngest's gateway of April 2025): a 20 s lease, extended
    every ``lease_seconds / 4`` unless ``lease_extend_interval`` says
    otherwise, and ``lease_grace`` for a late reply once it expired.
    """

    lease_seconds: float = 20.0
    lease_extend_interval: float | None = None
    lease_grace: float = 5.0
    heartbeat_interval: float = 10.0
    handshake_timeout: float = 5.0
    drain_delay: float = 5.0
    max_message_bytes: int = 8 * 1024 * 1024

    def _lease_timings(self) -> LeaseTimings:
        if self.lease_extend_interval is None:
            return LeaseTimings(self.lease_seconds, grace=self.lease_grace)
        return LeaseTimings(
            self.lease_seconds, self.lease_extend_interval, self.lease_grace
        )

    #: The three lease settings, checked (``ValueError`` when impossible).
    #: A Factory rather than ``@lease.default``, which pyright cannot type.
    lease: LeaseTimings = attrs.field(
        init=False, default=attrs.Factory(_lease_timings, takes_self=True)
    )


class NoWorker(Exception):
    """No connection can take the call: it fails like an unreachable app."""


@attrs.define
class _Started:
    session_token: str
    sync_token: str


@attrs.define
class _Pending:
    """A request delivered to a worker, waiting for its reply."""

    request_id: str
    instance_id: str
    lease: RequestLease
    connection_id: str
    done: anyio.Event = attrs.field(factory=anyio.Event)
    reply: pb.SDKResponse | None = None
    acked: bool = False


class Gateway:
    """Connect workers of one dev server: sockets, routing, leases."""

    def __init__(
        self,
        driver: Driver,
        apps: Apps,
        *,
        host: str = "127.0.0.1",
        port: int = DEFAULT_GATEWAY_PORT,
        config: GatewayConfig | None = None,
    ) -> None:
        self._driver = driver
        self._apps = apps
        self._host, self._port = host, port
        self.config = config or GatewayConfig()
        self._bound: tuple[str, int] | None = None
        self._tasks: anyio.abc.TaskGroup | None = None
        self._started: dict[str, _Started] = {}
        self._sockets: dict[str, WorkerSocket] = {}
        self._pending: dict[str, _Pending] = {}
        self._load: Counter[str] = Counter()
        self._limits: dict[str, int] = {}
        #: Calls waiting for room, per app, first come first served.
        self._waiters: dict[str, collections.deque[anyio.Event]] = {}
        #: Worker instances that let a lease expire and sent nothing since:
        #: a call goes to them last (a hung worker would hold a retry for a
        #: whole lease again).
        self._unresponsive: set[str] = set()
        #: Requests delivered, in order (request id, connection id): tests
        #: check that none went out twice.
        self.deliveries: list[tuple[str, str]] = []

    # -- serving -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._bound[1] if self._bound else self._port

    @property
    def url(self) -> str:
        host = self._bound[0] if self._bound else self._host
        host = f"[{host}]" if ":" in host else host
        return f"ws://{host}:{self.port}/v0/connect"

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[str] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Accept worker sockets until cancelled; reports :attr:`url`."""
        listener = await self._listen()
        async with listener, anyio.create_task_group() as tg:
            self._tasks = tg
            sock = next(
                s for s in listener.listeners if isinstance(s, anyio.abc.SocketListener)
            )
            local = sock.extra(anyio.abc.SocketAttribute.local_address)  # noqa: S610
            assert isinstance(local, tuple)
            self._bound = str(local[0]), int(local[1])
            _log.info("connect gateway listening at %s", self.url)
            task_status.started(self.url)
            try:
                await listener.serve(self._accepted, tg)
            finally:
                self._tasks = None
                self._bound = None

    async def _accepted(self, stream: anyio.abc.SocketStream) -> None:
        await WorkerSocket(stream, self).run()

    async def _listen(self) -> MultiListener[anyio.abc.SocketStream]:
        """The configured port, or (like ``inngest dev``) the next free one."""
        for attempt in range(10 if self._port else 1):
            port = self._port + attempt if self._port else 0
            try:
                return await anyio.create_tcp_listener(
                    local_host=self._host, local_port=port
                )
            except OSError:
                if not self._port or attempt == 9:
                    raise
                _log.warning("connect gateway: port %d is busy", port)
        raise AssertionError  # pragma: no cover

    # -- HTTP: start, flush ------------------------------------------------------------

    def start(self, request_host: str | None) -> pb.StartResponse:
        """A ``POST /v0/connect/start``: a new connection id and its tokens."""
        connection_id = ulid(int(time.time() * 1000), secrets.randbits(80))
        started = _Started(secrets.token_urlsafe(24), secrets.token_urlsafe(24))
        self._started[connection_id] = started
        while len(self._started) > _MAX_STARTED:
            del self._started[next(iter(self._started))]
        host = self._bound[0] if self._bound else self._host
        if request_host:
            # The Host header's host, as the real server does; our port.
            host = urllib.parse.urlsplit(f"//{request_host}").hostname or host
        host = f"[{host}]" if ":" in host else host
        return pb.StartResponse(
            connection_id=connection_id,
            gateway_endpoint=f"ws://{host}:{self.port}/v0/connect",
            gateway_group=GATEWAY_GROUP,
            session_token=started.session_token,
            sync_token=started.sync_token,
        )

    def flush(self, body: bytes) -> pb.FlushResponse:
        """A ``POST /v0/connect/flush``: a reply the socket could not carry.

        Raises ``ValueError`` when ``body`` is not an ``SDKResponse``.
        """
        try:
            reply = pb.SDKResponse.FromString(body)
        except (DecodeError, UnicodeDecodeError) as err:
            msg = f"not an SDKResponse: {err}"
            raise ValueError(msg) from err
        if not reply.request_id:
            msg = "the SDKResponse has no request_id"
            raise ValueError(msg)
        self._take_reply(reply, "flush")
        return pb.FlushResponse(request_id=reply.request_id)

    # -- sockets (called by WorkerSocket) ----------------------------------------------

    def admit(
        self, sock: WorkerSocket, hello: pb.WorkerConnectRequestData
    ) -> str | None:
        """Check ``WORKER_CONNECT`` and register its apps; why not, or ``None``."""
        started = self._started.get(hello.connection_id)
        if started is None or hello.connection_id in self._sockets:
            return f"unknown connection id {hello.connection_id!r}"
        auth = hello.auth_data
        if not (
            secrets.compare_digest(auth.session_token, started.session_token)
            and secrets.compare_digest(auth.sync_token, started.sync_token)
        ):
            return "invalid session or sync token"
        if not hello.instance_id:
            return "instance_id is required"
        names: list[str] = []
        syncs = []
        for app in hello.apps:
            try:
                syncs.append(parse_sync(self._sync_body(hello, app)))
            except InvalidSync as err:
                self._apps.refuse(err)
                return f"app {app.app_name!r}: {err.message} ({err.detail})"
            names.append(app.app_name)
        del self._started[hello.connection_id]
        for sync in syncs:
            self._apps.register(sync)
        sock.connection_id, sock.instance_id = hello.connection_id, hello.instance_id
        sock.apps = tuple(names)
        sock.sdk = f"{hello.sdk_language}:v{hello.sdk_version.removeprefix('v')}"
        limit = _DEFAULT_CONCURRENCY
        if hello.HasField("max_worker_concurrency"):
            limit = hello.max_worker_concurrency
        self._limits[hello.instance_id] = limit
        self._sockets[hello.connection_id] = sock
        _log.info(
            "connect worker %s (%s) connected: %s",
            sock.connection_id,
            sock.instance_id,
            ", ".join(names) or "no apps",
        )
        return None

    @staticmethod
    def _sync_body(
        hello: pb.WorkerConnectRequestData, app: pb.AppConfiguration
    ) -> bytes:
        try:
            functions = json_codec.loads(app.functions) if app.functions else []
        except (ValueError, UnicodeDecodeError, RecursionError) as err:
            raise InvalidSync("Invalid request: functions", str(err)) from err
        body: dict[str, Any] = {
            "appName": app.app_name,
            "url": connect_app_url(app.app_name),
            "functions": functions,
            "sdk": f"{hello.sdk_language}:v{hello.sdk_version.removeprefix('v')}",
            "framework": hello.framework or "connect",
            "deployType": "connect",
        }
        if app.HasField("app_version"):
            body["appVersion"] = app.app_version
        return json_codec.dumps_compact(body)

    def forget(self, sock: WorkerSocket) -> None:
        """The socket closed; its requests keep their leases (late replies)."""
        if self._sockets.get(sock.connection_id) is sock:
            del self._sockets[sock.connection_id]
            _log.info("connect worker %s disconnected", sock.connection_id)
        if all(s.instance_id != sock.instance_id for s in self._sockets.values()):
            self._unresponsive.discard(sock.instance_id)
        self.changed()

    def changed(self) -> None:
        """Connections came, went or paused: wake every call queued for one."""
        for queue in self._waiters.values():
            while queue:
                queue.popleft().set()

    def _slot_freed(self, instance_id: str) -> None:
        """A call of ``instance_id`` ended: wake the first call waiting for
        each app it serves (not all of them: with a thousand queued calls,
        waking every one per reply made the queue quadratic)."""
        apps = {
            app
            for sock in self._sockets.values()
            if sock.instance_id == instance_id
            for app in sock.apps
        }
        for app in apps:
            self._slot_freed_for(app)

    async def handle(
        self, sock: WorkerSocket, kind: Kind, message: Message | None
    ) -> None:
        """One message from a worker after the handshake."""
        self._unresponsive.discard(sock.instance_id)  # it is alive
        if kind == pb.WORKER_HEARTBEAT:
            sock.heartbeat()
            await sock.send(pb.GATEWAY_HEARTBEAT)
        elif kind == pb.WORKER_READY:
            if sock.state is SocketState.CONNECTING:
                sock.mark(SocketState.READY)
        elif kind == pb.WORKER_PAUSE:
            sock.mark(SocketState.PAUSED)
        elif kind == pb.WORKER_REQUEST_ACK:
            assert isinstance(message, pb.WorkerRequestAckData)
            pending = self._pending.get(message.request_id)
            if pending is not None:
                pending.acked = True
        elif kind == pb.WORKER_REQUEST_EXTEND_LEASE:
            assert isinstance(message, pb.WorkerRequestExtendLeaseData)
            answer = self._extend(message, sock.instance_id)
            await sock.send(pb.WORKER_REQUEST_EXTEND_LEASE_ACK, answer)
        elif kind == pb.WORKER_REPLY:
            assert isinstance(message, pb.SDKResponse)
            self._take_reply(message, sock.connection_id)
            ack = pb.WorkerReplyAckData(request_id=message.request_id)
            await sock.send(pb.WORKER_REPLY_ACK, ack)
        else:
            _log.debug("connect gateway: ignored %s", pb.GatewayMessageType.Name(kind))

    def _extend(
        self, message: pb.WorkerRequestExtendLeaseData, instance_id: str
    ) -> pb.WorkerRequestExtendLeaseAckData:
        """The answer to an extension from a connection of ``instance_id``:
        with the lease id the worker holds now, or none (it lost the lease)."""
        ack = pb.WorkerRequestExtendLeaseAckData(
            request_id=message.request_id,
            account_id=message.account_id,
            env_id=message.env_id,
            app_id=message.app_id,
            function_slug=message.function_slug,
        )
        pending = self._pending.get(message.request_id)
        if pending is None or pending.reply is not None:
            return ack
        held = pending.lease.extend(
            message.lease_id, _new_id(), anyio.current_time(), by=instance_id
        )
        if held is not None:
            ack.new_lease_id = held
            _log.debug("connect gateway: extended the lease of %s", pending.request_id)
        return ack

    def _take_reply(self, reply: pb.SDKResponse, via: str) -> None:
        pending = self._pending.get(reply.request_id)
        if pending is None or pending.reply is not None:
            _log.info(
                "connect gateway: reply to %s via %s ignored (unknown, expired or"
                " duplicate)",
                reply.request_id,
                via,
            )
            return
        pending.reply = reply
        pending.done.set()

    # -- calls (called by the driver) --------------------------------------------------

    async def call(self, action: CallSDK) -> OutboundResponse:
        """Perform one call over a worker's socket; raises when it got no reply."""
        query = dict(
            urllib.parse.parse_qsl(urllib.parse.urlsplit(action.request.url).query)
        )
        fn_id = query.get("fnId", "")
        fn = self._driver.executor.functions.get(fn_id)
        if fn is None:
            raise NoWorker(f"function {fn_id!r} is not registered")
        app_query = dict(
            urllib.parse.parse_qsl(urllib.parse.urlsplit(fn.app_url).query)
        )
        app_name = app_query.get("app_name", "")
        sock = await self._pick(app_name)
        lease = RequestLease(
            _new_id(),
            holder=sock.instance_id,
            now=anyio.current_time(),
            timings=self.config.lease,
        )
        pending = _Pending(
            request_id=action.request_id,
            instance_id=sock.instance_id,
            lease=lease,
            connection_id=sock.connection_id,
        )
        app = self._apps.by_url.get(fn.app_url)
        request = pb.GatewayExecutorRequestData(
            request_id=action.request_id,
            account_id=ACCOUNT_ID,
            env_id=ENVIRONMENT_ID,
            app_id=app.app_id if app is not None else fn.app_uuid,
            app_name=app_name,
            function_id=fn.uuid,
            function_slug=fn_id,
            step_id=query.get("stepId", "step"),
            request_payload=action.request.body,
            run_id=action.run_id,
            lease_id=lease.lease_id,
            job_id=action.request.headers.get("x-inngest-job-id", ""),
        )
        self._pending[action.request_id] = pending
        self._load[sock.instance_id] += 1
        try:
            try:
                await sock.send(pb.GATEWAY_EXECUTOR_REQUEST, request)
            except SEND_FAILURES as err:
                # Nothing whole reached the worker: fail now, not at the lease.
                raise NoWorker(f"connection {sock.connection_id} closed") from err
            self.deliveries.append((action.request_id, sock.connection_id))
            reply = await self._wait_reply(pending)
        finally:
            del self._pending[action.request_id]
            self._load[pending.instance_id] -= 1
            self._slot_freed(pending.instance_id)
        return to_response(reply)

    async def _pick(self, app_name: str) -> WorkerSocket:
        """A ready connection serving ``app_name`` with room; waits at capacity."""
        while True:
            serving = [
                s for s in self._sockets.values() if s.routable and app_name in s.apps
            ]
            if not serving:
                raise NoWorker(f"no connect worker serves the app {app_name!r}")
            free = [s for s in serving if self._has_room(s.instance_id)]
            if free:
                return min(
                    free,
                    key=lambda s: (
                        s.instance_id in self._unresponsive,
                        self._in_flight(s),
                    ),
                )
            waiter = anyio.Event()
            self._waiters.setdefault(app_name, collections.deque()).append(waiter)
            try:
                await waiter.wait()
            except BaseException:
                queue = self._waiters.get(app_name)
                if waiter.is_set():
                    self._slot_freed_for(app_name)  # pass on the wake-up
                elif queue is not None and waiter in queue:
                    queue.remove(waiter)
                raise

    def _slot_freed_for(self, app_name: str) -> None:
        queue = self._waiters.get(app_name)
        while queue:
            waiter = queue.popleft()
            if not waiter.is_set():
                waiter.set()
                return

    def _has_room(self, instance_id: str) -> bool:
        limit = self._limits.get(instance_id, _DEFAULT_CONCURRENCY)
        return limit <= 0 or self._load[instance_id] < limit

    def _in_flight(self, sock: WorkerSocket) -> int:
        return sum(
            1 for p in self._pending.values() if p.connection_id == sock.connection_id
        )

    async def _wait_reply(self, pending: _Pending) -> pb.SDKResponse:
        """The reply, or :class:`~._driver.WorkerLost` once the lease expired
        and its grace passed (the give-up time moves with each extension)."""
        while pending.reply is None:
            left = pending.lease.give_up_at - anyio.current_time()
            if left <= 0:
                _log.info(
                    "connect gateway: the worker stopped responding to %s"
                    " (lease expired); the call fails and is retried",
                    pending.request_id,
                )
                if any(
                    s.instance_id == pending.instance_id for s in self._sockets.values()
                ):
                    # Still connected, yet silent: hung, not gone.
                    self._unresponsive.add(pending.instance_id)
                msg = (
                    "The worker stopped responding: its lease on request"
                    f" {pending.request_id} expired"
                )
                raise WorkerLost(msg)
            with anyio.move_on_after(left):
                await pending.done.wait()
        return pending.reply

    # -- drain, listing ----------------------------------------------------------------

    async def drain(self, connection_id: str) -> bool:
        """Send ``GATEWAY_CLOSING``, close the socket after ``drain_delay``."""
        sock = self._sockets.get(connection_id)
        if sock is None or self._tasks is None:
            return False
        sock.mark(SocketState.DRAINING)
        try:
            await sock.send(pb.GATEWAY_CLOSING)
        except SEND_FAILURES:  # already gone: nothing to drain
            return False

        async def close_later() -> None:
            await anyio.sleep(self.config.drain_delay)
            await sock.close(1001, "GATEWAY_DRAINING")

        self._tasks.start_soon(close_later)
        return True

    def kill(self, connection_id: str) -> bool:
        """Drop a connection abruptly, with no close frame (a test hook: the
        gateway crashing, or the network failing); ``False`` if unknown.
        Its requests keep their leases, as when a worker vanishes."""
        sock = self._sockets.get(connection_id)
        if sock is None:
            return False
        _log.info("connect gateway: killing connection %s", connection_id)
        sock.abort()
        return True

    def connections(self) -> list[dict[str, Any]]:
        """The connected workers, as ``GET /v0/connect/connections`` lists them."""
        return [
            {
                "id": sock.connection_id,
                "instance_id": sock.instance_id,
                "apps": list(sock.apps),
                "app_ids": [self._app_id(name) for name in sock.apps],
                "sdk": sock.sdk,
                "state": sock.state.value,
                "in_flight": self._in_flight(sock),
                "max_worker_concurrency": self._limits.get(sock.instance_id),
                "connected_at": rfc3339(sock.connected_at),
            }
            for sock in self._sockets.values()
        ]

    def heartbeat_ages(self) -> dict[str, float]:
        """Seconds since each connection's worker last sent a heartbeat (or
        connected), by connection id; call it from the event loop."""
        now = anyio.current_time()
        return {
            sock.connection_id: max(now - sock.last_heartbeat, 0.0)
            for sock in self._sockets.values()
        }

    def _app_id(self, app_name: str) -> str:
        app = self._apps.by_url.get(connect_app_url(app_name))
        return app.app_id if app is not None else ""


def connect_app_url(app_name: str) -> str:
    """The URL a connect app is known by.

    See docs/protocol/devserver-api.rst#connect-endpoints.
    """
    return f"ws://connect?{urllib.parse.urlencode({'app_name': app_name})}"


def is_connect_url(url: str) -> bool:
    return url.startswith(("ws://", "wss://"))


def to_response(reply: pb.SDKResponse) -> OutboundResponse:
    """A ``WORKER_REPLY`` as the HTTP reply the executor expects."""
    headers = {
        "content-type": "application/json",
        "x-inngest-sdk": reply.sdk_version,
        "x-inngest-no-retry": "true" if reply.no_retry else "false",
        "x-inngest-req-version": str(reply.request_version),
    }
    if reply.HasField("retry_after"):
        headers["retry-after"] = reply.retry_after
    return OutboundResponse(_STATUS.get(reply.status, 500), headers, reply.body)


def _new_id() -> str:
    return str(uuid.uuid4())
