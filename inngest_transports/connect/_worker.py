"""The Connect worker: lifecycle, reconnects, executions, shutdown.

:meth:`WorkerConnection.start` runs until the worker stops: it makes the
start call, opens a :class:`Session` per gateway socket and opens a new one
whenever a socket ends (a drain, an error, a handshake timeout, missed
heartbeats), after :func:`reconnect_delay` and for ever, logging why each
time.  Only an explicit close, a shutdown signal or a refused signing key
(401/403: :class:`ConnectAuthError` is raised) end it.

User code runs off the I/O tasks: async functions as tasks on the loop,
sync ones in worker threads, so heartbeats and lease extensions keep going
while a step blocks.  Executions belong to the worker, not to a socket: one
whose socket drained or died moves to the next socket (its lease extensions
and its reply with it, as the official worker answers on its newest socket),
and replies through ``/v0/connect/flush`` when its reply was left
unacknowledged on a socket that is gone.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import anyio
import anyio.to_thread
import attrs

from inngest_proto import Inngest
from inngest_proto.connect import connect_pb2 as pb
from inngest_proto.connect.worker import Connection, reconnect_delay
from inngest_proto.errors import LocalProtocolError
from inngest_proto.functions import Function
from inngest_proto.transport import Transport
from inngest_proto.wire import SDK_IDENTITY
from inngest_transports.http import HttpTransport

from .._announce import announce
from ._apps import Apps
from ._options import ConnectionState, hostname, max_concurrency
from ._session import Session
from ._socket import SocketClosed, WebSocket
from ._start import StartFailed, flush_call, start_call

__all__ = ["ConnectionState", "WorkerConnection"]

SUBPROTOCOL = "v0.connect.inngest.com"
#: How long shutdown waits for the gateway to acknowledge the last replies.
_ACK_WAIT_SECONDS = 2.0


@attrs.define
class _Execution:
    session: Session
    scope: anyio.CancelScope = attrs.field(factory=anyio.CancelScope)
    lease_lost: bool = False


class WorkerConnection:
    """A persistent outbound connection to Inngest; made by :func:`connect`."""

    def __init__(
        self,
        apps: Sequence[tuple[Inngest, Sequence[Function[Any]]]],
        *,
        instance_id: str | None = None,
        rewrite_gateway_endpoint: Callable[[str], str] | None = None,
        shutdown_signals: Sequence[signal.Signals] | None = None,
        max_worker_concurrency: int | None = None,
        shutdown_timeout: float = 7200.0,
        reconnect_delay: Callable[[int, str], float] = reconnect_delay,
        transport: Transport | None = None,
        handshake_timeout: float = 10.0,
        drain_grace: float = 1.0,
    ) -> None:
        self._apps = Apps(apps)
        self._log = self._apps.logger
        self._instance_id = instance_id or hostname()
        self._rewrite = rewrite_gateway_endpoint
        if shutdown_signals is None:
            shutdown_signals = [signal.SIGTERM, signal.SIGINT]
        # Installed by start(), and only if it runs on the main thread.
        self._signals = list(shutdown_signals)
        self._concurrency = max_concurrency(max_worker_concurrency)
        self._connect_data = self._apps.connect_data(
            instance_id=self._instance_id,
            max_worker_concurrency=self._concurrency,
        )
        self._shutdown_timeout = shutdown_timeout
        self._delay = reconnect_delay
        self._handshake_timeout = handshake_timeout
        self._drain_grace = drain_grace
        self._transport = transport
        self._state = ConnectionState.CONNECTING
        self._started = False
        self._closing = False
        self._signal: anyio.Event | None = None
        self._tg: anyio.abc.TaskGroup | None = None
        self._reconnect_scope: anyio.CancelScope | None = None
        self._current: Session | None = None
        self._sessions: set[Session] = set()
        self._executions: dict[str, _Execution] = {}
        self._flushing = 0
        self._limiter: anyio.CapacityLimiter | None = None

    # -- the official API -------------------------------------------------------------

    def get_connection_id(self) -> str:
        if self._current is None:
            raise LocalProtocolError("connection not established")
        return self._current.connection_id

    def get_state(self) -> ConnectionState:
        return self._state

    async def wait_for_state(self, state: ConnectionState) -> None:
        await self._wait_until(lambda: self._state is state)

    async def closed(self) -> None:
        """Wait until the worker has stopped."""
        await self._wait_until(lambda: self._state is ConnectionState.CLOSED)

    async def close(self, *, wait: bool = False) -> None:
        """Pause, finish in-flight runs, close; ``wait`` until that is done."""
        self._request_close()
        if wait:
            await self.closed()

    async def start(self) -> None:
        """Run the worker; returns when it stopped, raises if it must stop."""
        if self._started:
            raise LocalProtocolError("start() runs once per WorkerConnection")
        self._started = True
        owned = self._transport is None
        if self._transport is None:
            self._transport = HttpTransport(timeout=5.0, max_attempts=3)
        if self._concurrency:
            self._limiter = anyio.CapacityLimiter(self._concurrency)
        fatal: BaseException | None = None
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                if self._signals and self._may_install_signal_handlers():
                    tg.start_soon(self._watch_signals)
                with anyio.CancelScope() as scope:
                    self._reconnect_scope = scope
                    if not self._closing:
                        try:
                            await self._reconnect_loop(tg)
                        # Not narrower: a ConnectAuthError ends the worker, and
                        # so does a bug, after the same orderly shutdown.
                        except Exception as err:
                            fatal = err
                            self._log.error("inngest connect: stopping: %s", err)
                await self._shutdown()
                tg.cancel_scope.cancel()
        # Not narrower: whatever stops the worker is said, not only raised (and
        # it is re-raised): a worker beside a web app often runs where nobody
        # reads what it raises.
        except Exception as err:
            self._log.error("inngest connect: stopped by an error: %r", err)
            raise
        finally:
            if owned:
                aclose = getattr(self._transport, "aclose", None)
                if aclose is not None:
                    with anyio.CancelScope(shield=True):
                        await aclose()
            self._set_state(ConnectionState.CLOSED)
        if fatal is not None:
            raise fatal

    # -- the reconnect loop -----------------------------------------------------------

    async def _reconnect_loop(self, tg: anyio.abc.TaskGroup) -> None:
        attempt = 0
        while True:
            session = await self._open(attempt)
            if session is None:
                attempt += 1
                continue
            self._sessions.add(session)
            tg.start_soon(self._run_session, session)
            await self._wait_until(partial(_handshake_over, session))
            if not session.ready:
                await self._backoff(attempt, f"the handshake failed: {session.reason}")
                attempt += 1
                continue
            attempt = 0
            self._current = session
            self._adopt_orphans(session)
            self._set_state(ConnectionState.ACTIVE)
            # Said even when logging is not configured: see _announce.
            announce(
                self._log,
                "inngest connect: connected to %s (%s)",
                session.gateway,
                session.connection_id,
            )
            await self._wait_until(partial(_gone_or_draining, session))
            self._set_state(ConnectionState.RECONNECTING)
            if not session.ended:
                self._log.info(
                    "inngest connect: the gateway is draining connection %s; "
                    "opening a new one",
                    session.connection_id,
                )
                tg.start_soon(self._retire, session)
                continue
            await self._backoff(
                attempt, f"connection {session.connection_id} lost: {session.reason}"
            )
            attempt += 1

    async def _open(self, attempt: int) -> Session | None:
        """A new session, started and connected; ``None`` after a logged failure."""
        assert self._transport is not None
        try:
            start = await start_call(
                self._transport, self._apps.settings, rewrite=self._rewrite
            )
        except StartFailed as err:
            await self._backoff(attempt, f"the start call failed: {err}")
            return None
        try:
            ws = await WebSocket.connect(
                start.gateway_endpoint,
                subprotocol=SUBPROTOCOL,
                timeout=self._handshake_timeout,
            )
        except SocketClosed as err:
            await self._backoff(attempt, f"the gateway is unreachable: {err}")
            return None
        data = pb.WorkerConnectRequestData()
        data.CopyFrom(self._connect_data)
        data.connection_id = start.connection_id
        data.auth_data.session_token = start.session_token
        data.auth_data.sync_token = start.sync_token
        conn = Connection(
            data, now=time.monotonic(), handshake_timeout=self._handshake_timeout
        )
        session = Session(self, conn, ws, start.connection_id)
        session.gateway = start.gateway_endpoint
        return session

    async def _backoff(self, attempt: int, reason: str) -> None:
        delay = self._delay(attempt, self._instance_id)
        self._set_state(
            ConnectionState.RECONNECTING
            if self._current is not None
            else ConnectionState.CONNECTING
        )
        self._log.warning(
            "inngest connect: %s; reconnecting in %.2f s (attempt %d)",
            reason,
            delay,
            attempt + 1,
        )
        await anyio.sleep(delay)

    async def _run_session(self, session: Session) -> None:
        try:
            await session.run()
        finally:
            self._sessions.discard(session)
            self.changed()

    async def _retire(self, old: Session) -> None:
        """Close a draining socket once its replacement is up.

        See docs/protocol/connect.rst#drain.

        Its runs in flight move to the replacement, which extends their
        leases and carries their replies, as the official worker's do (it
        drops a draining socket at once and answers on the new one); the old
        socket only gets ``drain_grace`` to have its last replies
        acknowledged.
        """
        await self._wait_until(
            lambda: (
                old.ended
                or self._closing
                or (self._current is not old and self._state is ConnectionState.ACTIVE)
            )
        )
        current = self._current
        if current is not None and current is not old and not current.ended:
            for rid, execution in self._executions.items():
                if execution.session is old:
                    self._move(rid, execution, current)
            current.pump()
            old.pump()
        with anyio.move_on_after(self._drain_grace):
            await self._wait_until(lambda: old.ended or old.conn.idle)
        old.stop("drained: a new connection took over")

    # -- the Host protocol (called by sessions) -------------------------------------

    def on_request(
        self, session: Session, request: pb.GatewayExecutorRequestData
    ) -> None:
        rid = request.request_id
        running = self._executions.get(rid)
        if running is not None:
            # Delivered again on a newer socket while it runs: answer there.
            if running.session is not session:
                running.session.conn.release(rid)
                running.session = session
            return
        execution = _Execution(session)
        self._executions[rid] = execution
        assert self._tg is not None
        self._tg.start_soon(self._execute, execution, request)

    def _adopt_orphans(self, session: Session) -> None:
        """Runs whose socket died keep their leases on the new one."""
        for rid, execution in self._executions.items():
            if execution.session is session or not execution.session.ended:
                continue
            self._move(rid, execution, session)
        session.pump()

    @staticmethod
    def _move(rid: str, execution: _Execution, to: Session) -> None:
        """A run in flight, and its lease, from its socket to ``to``."""
        moved = execution.session.conn.hand_over(rid)
        if moved is not None:
            to.conn.adopt(*moved, now=time.monotonic())
            to.reschedule()
            execution.session = to

    def on_lease_lost(self, session: Session, request_id: str) -> None:
        execution = self._executions.get(request_id)
        if execution is not None and execution.session is session:
            self._log.warning(
                "inngest connect: lost the lease of request %s; dropping it "
                "(another worker may run it)",
                request_id,
            )
            execution.lease_lost = True
            execution.scope.cancel()

    def flush(self, request_id: str, sdk_response: bytes) -> None:
        assert self._tg is not None
        self._flushing += 1
        self._tg.start_soon(self._flush, request_id, sdk_response)

    def changed(self) -> None:
        if self._signal is not None:
            self._signal.set()
            self._signal = None

    # -- work ---------------------------------------------------------------------

    async def _execute(
        self, execution: _Execution, request: pb.GatewayExecutorRequestData
    ) -> None:
        rid = request.request_id
        run_sync = partial(
            anyio.to_thread.run_sync, abandon_on_cancel=True, limiter=self._limiter
        )
        response = None
        try:
            with execution.scope:
                response = await self._apps.run(request, run_sync)
        finally:
            self._executions.pop(rid, None)
            self.changed()
        # The scope swallows its own cancellation, which comes only with a
        # lost lease: then there is no response, and no one to send it to.
        if execution.lease_lost or response is None:
            return
        session = execution.session
        session.conn.reply(
            rid,
            status=response.status,
            body=response.body,
            headers={k.lower(): v for k, v in response.headers.items()},
            sdk_version=SDK_IDENTITY,
            now=time.monotonic(),
        )
        session.pump()

    async def _flush(self, request_id: str, sdk_response: bytes) -> None:
        assert self._transport is not None
        try:
            problem = await flush_call(
                self._transport, self._apps.settings, sdk_response
            )
            if problem is None:
                self._log.info(
                    "inngest connect: reply to %s sent over HTTP (flush)", request_id
                )
            else:
                self._log.error(
                    "inngest connect: could not flush the reply to %s: %s",
                    request_id,
                    problem,
                )
        finally:
            self._flushing -= 1
            self.changed()

    # -- shutdown -------------------------------------------------------------------

    def _request_close(self) -> None:
        if self._closing:
            return
        self._closing = True
        if not self._started:
            self._set_state(ConnectionState.CLOSED)
            return
        self._set_state(ConnectionState.CLOSING)
        if self._reconnect_scope is not None:
            self._reconnect_scope.cancel()
        self.changed()

    def _may_install_signal_handlers(self) -> bool:
        """Python installs signal handlers on the main thread only.

        A worker started elsewhere (beside a web app, in a thread of its
        own) runs without them, as the official worker does; the host stops
        it with :meth:`close`.
        """
        if threading.current_thread() is threading.main_thread():
            return True
        self._log.info(
            "inngest connect: not on the main thread: no handlers for %s; "
            "stop the worker with close()",
            ", ".join(signal.Signals(s).name for s in self._signals),
        )
        return False

    async def _watch_signals(self) -> None:
        with contextlib.ExitStack() as stack:
            try:
                received = stack.enter_context(
                    anyio.open_signal_receiver(*self._signals)
                )
            except (ValueError, RuntimeError, NotImplementedError, OSError) as err:
                # E.g. an event loop that cannot receive signals here.
                self._log.warning(
                    "inngest connect: cannot handle shutdown signals (%s); "
                    "stop the worker with close()",
                    err,
                )
                return
            async for signum in received:
                self._log.info(
                    "inngest connect: %s received: pausing, finishing in-flight "
                    "runs, then exiting",
                    signal.Signals(signum).name,
                )
                self._request_close()

    async def _shutdown(self) -> None:
        self._closing = True
        self._set_state(ConnectionState.CLOSING)
        for session in list(self._sessions):
            session.conn.pause()
            session.pump()
        with anyio.move_on_after(self._shutdown_timeout):
            await self._wait_until(lambda: not self._executions)
        if self._executions:
            self._log.warning(
                "inngest connect: %d run(s) still in flight after %g s; abandoning",
                len(self._executions),
                self._shutdown_timeout,
            )
            for execution in self._executions.values():
                execution.lease_lost = True
                execution.scope.cancel()
        with anyio.move_on_after(_ACK_WAIT_SECONDS):
            await self._wait_until(
                lambda: all(s.ended or s.conn.idle for s in self._sessions)
            )
        for session in list(self._sessions):
            session.stop("shutting down")
        await self._wait_until(lambda: not self._sessions)
        with anyio.move_on_after(self._shutdown_timeout):
            await self._wait_until(lambda: self._flushing == 0)

    # -- helpers --------------------------------------------------------------------

    def _set_state(self, state: ConnectionState) -> None:
        if self._state is ConnectionState.CLOSED:
            return
        if self._closing and state in (
            ConnectionState.ACTIVE,
            ConnectionState.RECONNECTING,
            ConnectionState.CONNECTING,
        ):
            return
        if state is not self._state:
            self._state = state
            self.changed()

    async def _wait_until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            if self._signal is None:
                self._signal = anyio.Event()
            await self._signal.wait()


def _handshake_over(session: Session) -> bool:
    return session.ready or session.ended


def _gone_or_draining(session: Session) -> bool:
    return session.ended or session.draining
