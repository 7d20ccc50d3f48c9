"""A small HTTP/1.1 server (h11 on anyio) hosting an Inngest app without a framework.

::

    from inngest_transports.server import Server

    Server(client, [hello], port=8000).run()            # asyncio, Ctrl-C to stop
    Server(client, [hello]).run(backend="trio")

or, inside an event loop (asyncio or trio)::

    async with anyio.create_task_group() as tg:
        host, port = await tg.start(server.serve)
        ...
        await server.shutdown()

It answers the serve path (``serve_path``, ``INNGEST_SERVE_PATH`` or
``/api/inngest``) through the core and 404 elsewhere.  What it does on the
wire, and why:

* Keep-alive: several requests per connection; ``Connection: close`` and
  HTTP/1.0 are honoured (h11 tracks both).
* A body over ``max_body_bytes`` is not read: the reply is 413 and the
  connection is closed, since the unread rest cannot be skipped safely.
  Before closing, what the client still sends is read and dropped for a
  moment, so the 413 is not lost to a TCP reset.
* A connection waiting for its next request is closed after
  ``keep_alive_timeout``; a request must arrive whole within
  ``request_timeout`` of its first byte, else the connection is dropped,
  so a stalled client cannot hold a slot.
* Malformed HTTP is answered 400 (431 for oversized headers, 501 for a
  transfer coding other than chunked) and closed; so is framing a proxy
  might read differently (``Content-Length`` with ``Transfer-Encoding``,
  ``Transfer-Encoding`` on HTTP/1.0, folded header lines).
* Sync functions run in worker threads; a client that leaves mid-request
  costs nothing but the work already under way.
* :meth:`Server.shutdown` stops accepting, closes idle connections, lets
  requests in flight finish (up to ``shutdown_timeout``), then cancels.

It binds only where told (``127.0.0.1`` by default); it speaks plain HTTP,
so put a TLS-terminating proxy in front of it when exposed.
"""

from __future__ import annotations

import math
import signal
from collections.abc import Sequence
from typing import Any

import anyio
import anyio.abc

from inngest_proto import Framework, Function, Inngest

from ._announce import announce
from ._server_connection import Connection, Endpoint
from .serving import (
    Offload,
    comm_handler,
    route_path,
    streaming_enabled,
)

__all__ = ["FRAMEWORK", "Server"]

#: The ``framework`` this server reports in headers and at sync.
FRAMEWORK = Framework.H11


def _check_seconds(name: str, value: float, *, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float)) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        msg = f"{name} must be a positive number of seconds, got {value!r}"
        raise ValueError(msg)
    return float(value)


class Server:
    """Serves ``functions`` of ``client`` over HTTP/1.1 at ``host:port``.

    ``serve_path``, ``serve_origin``, ``public_path``, ``enable_unauthed_sync``,
    ``streaming`` and ``max_body_bytes`` mean what they mean for every
    framework's ``serve()``.  ``keep_alive_timeout`` closes idle connections,
    ``request_timeout`` is the time a client has to send a whole request,
    ``max_connections`` caps open connections (more wait in the listen
    backlog) and ``shutdown_timeout`` bounds :meth:`shutdown`.

    Misconfiguration raises here, not on the first request.
    """

    def __init__(
        self,
        client: Inngest,
        functions: Sequence[Function[Any]],
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        serve_path: str | None = None,
        serve_origin: str | None = None,
        public_path: str | None = None,
        enable_unauthed_sync: bool | None = None,
        streaming: object = None,
        max_body_bytes: int | None = None,
        keep_alive_timeout: float = 5.0,
        request_timeout: float = 30.0,
        max_connections: int = 512,
        shutdown_timeout: float = 10.0,
    ) -> None:
        if not isinstance(port, int) or not 0 <= port <= 65535:
            msg = f"port must be 0 (any free port) to 65535, got {port!r}"
            raise ValueError(msg)
        if not isinstance(max_connections, int) or max_connections < 1:
            msg = f"max_connections must be 1 or more, got {max_connections!r}"
            raise ValueError(msg)
        self._keep_alive_timeout = _check_seconds(
            "keep_alive_timeout", keep_alive_timeout
        )
        self._request_timeout = _check_seconds("request_timeout", request_timeout)
        self._shutdown_timeout = _check_seconds(
            "shutdown_timeout", shutdown_timeout, allow_zero=True
        )
        self._endpoint = Endpoint(
            comm_handler(
                client,
                functions,
                framework=FRAMEWORK,
                enable_unauthed_sync=enable_unauthed_sync,
                public_path=public_path,
                serve_origin=serve_origin,
                serve_path=serve_path,
                max_body_bytes=max_body_bytes,
            ),
            path=route_path(client, serve_path),
            streaming=streaming_enabled(client, streaming),
            offload=Offload.for_client(client),
            logger=client.logger,
        )
        self._logger = client.logger
        self._host = host
        self._port = port
        self._max_connections = max_connections
        self._bound: tuple[str, int] | None = None
        self._connections: set[Connection] = set()
        # Events belong to the running event loop, so serve() makes them.
        self._stop: anyio.Event | None = None
        self._stopped: anyio.Event | None = None
        self._changed: anyio.Event | None = None
        self._stopping = False
        # run() says it is ready where its user sees it (see ._announce).
        self._announce = False

    # -- public -----------------------------------------------------------------

    @property
    def url(self) -> str:
        """The endpoint's URL; with ``port=0``, the bound port once serving."""
        host, port = self._bound or (self._host, self._port)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}{self._endpoint.path}"

    @property
    def active_connections(self) -> int:
        """Connections open now (idle keep-alive ones included)."""
        return len(self._connections)

    async def serve(
        self,
        *,
        task_status: anyio.abc.TaskStatus[tuple[str, int]] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve until :meth:`shutdown` (or cancellation).

        Reports the bound ``(host, port)`` through ``task_status``, so
        ``await task_group.start(server.serve)`` returns once connections
        are accepted.  Raises :class:`OSError` when the address is taken.
        """
        if self._stop is not None:
            msg = "this Server is already serving; make another to serve twice"
            raise RuntimeError(msg)
        self._stop, self._stopped = anyio.Event(), anyio.Event()
        try:
            await self._serve(self._stop, task_status)
        finally:
            self._stopped.set()
            self._stop = self._stopped = self._changed = None
            self._bound = None
            self._stopping = False

    async def shutdown(self) -> None:
        """Stop gracefully; returns once :meth:`serve` has returned.

        New connections are refused at once, idle ones closed; requests in
        flight finish (each answered with ``Connection: close``) for up to
        ``shutdown_timeout`` seconds, then are cancelled.  Does nothing when
        the server is not serving.
        """
        stop, stopped = self._stop, self._stopped
        if stop is None or stopped is None:
            return
        stop.set()
        await stopped.wait()

    def run(
        self, *, backend: str = "asyncio", backend_options: dict[str, Any] | None = None
    ) -> None:
        """Serve until SIGINT or SIGTERM, then shut down gracefully.

        A second signal stops at once.  ``backend`` is ``"asyncio"`` or
        ``"trio"``, as for :func:`anyio.run`.  Once listening it says where,
        in one line (``inngest: serving at URL``) through the client's
        logger at INFO, or on stderr when logging is not configured.
        """
        self._announce = True
        anyio.run(
            self._serve_until_signalled,
            backend=backend,
            backend_options=backend_options,
        )

    # -- serving ----------------------------------------------------------------

    async def _serve(
        self, stop: anyio.Event, task_status: anyio.abc.TaskStatus[tuple[str, int]]
    ) -> None:
        listener = await anyio.create_tcp_listener(
            local_host=self._host, local_port=self._port
        )
        async with listener:
            sockets = [
                one
                for one in listener.listeners
                if isinstance(one, anyio.abc.SocketListener)
            ]
            local = sockets[0].extra(anyio.abc.SocketAttribute.local_address)  # noqa: S610
            assert isinstance(local, tuple)
            self._bound = host, port = str(local[0]), int(local[1])
            self._endpoint.default_host = (
                f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            )
            slots = anyio.Semaphore(self._max_connections)
            async with anyio.create_task_group() as connections:
                async with anyio.create_task_group() as accepting:
                    for sock in sockets:
                        accepting.start_soon(self._accept, sock, slots, connections)
                    self._say("inngest: serving at %s", self.url)
                    task_status.started(self._bound)
                    await stop.wait()
                    self._stopping = True
                    # Closed now, not when serve() returns: connecting fails at
                    # once instead of hanging in the backlog until the drain
                    # ends.  Closing (not cancelling) is what ends a pending
                    # accept cleanly: on asyncio a cancelled accept can still
                    # complete and lose the socket it accepted.
                    await listener.aclose()
                    accepting.cancel_scope.cancel()  # loops waiting for a slot
                await self._drain()
                connections.cancel_scope.cancel()

    def _say(self, message: str, *args: object) -> None:
        if self._announce:
            announce(self._logger, message, *args)
        else:
            self._logger.info(message, *args)

    async def _accept(
        self,
        listener: anyio.abc.SocketListener,
        slots: anyio.Semaphore,
        connections: anyio.abc.TaskGroup,
    ) -> None:
        while True:
            # A slot first: past max_connections, clients wait in the backlog.
            await slots.acquire()
            try:
                stream = await listener.accept()
            except anyio.ClosedResourceError:
                slots.release()
                return
            except OSError as err:
                # Out of file descriptors, usually: back off rather than spin.
                slots.release()
                self._logger.warning("inngest: accept failed: %s", err)
                await anyio.sleep(0.1)
                continue
            except BaseException:
                slots.release()
                raise
            connections.start_soon(self._connection, stream, slots)

    async def _connection(
        self, stream: anyio.abc.SocketStream, slots: anyio.Semaphore
    ) -> None:
        conn = Connection(
            stream, self._endpoint, self._keep_alive_timeout, self._request_timeout
        )
        self._connections.add(conn)
        if self._stopping:  # accepted as the listener closed
            conn.close_when_idle()
        try:
            await conn.run()
        finally:
            self._connections.discard(conn)
            slots.release()
            if self._changed is not None:
                self._changed.set()

    async def _drain(self) -> None:
        for conn in list(self._connections):
            conn.close_when_idle()
        with anyio.move_on_after(self._shutdown_timeout):
            while self._connections:
                self._changed = anyio.Event()
                await self._changed.wait()
        if self._connections:
            self._logger.warning(
                "inngest: shutdown_timeout (%ss) passed; cancelling %d connection(s)",
                self._shutdown_timeout,
                len(self._connections),
            )

    async def _serve_until_signalled(
        self,
        *,
        task_status: anyio.abc.TaskStatus[tuple[str, int]] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        async with anyio.create_task_group() as tg:
            await tg.start(self._watch_signals, tg.cancel_scope)
            await self.serve(task_status=task_status)
            tg.cancel_scope.cancel()

    async def _watch_signals(
        self,
        scope: anyio.CancelScope,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        try:
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                task_status.started()
                async for signum in signals:
                    stop = self._stop
                    if stop is None or stop.is_set():
                        scope.cancel()
                        return
                    self._say(
                        "inngest: %s: finishing requests in flight (again to quit)",
                        signal.Signals(signum).name,
                    )
                    stop.set()
        except (NotImplementedError, ValueError):
            # No signal handling here (Windows' asyncio, or not the main
            # thread): Ctrl-C then interrupts as usual, without draining.
            task_status.started()
