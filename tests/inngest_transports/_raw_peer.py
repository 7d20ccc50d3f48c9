"""Raw peers on 127.0.0.1: a few lines on a socket, for tests whose server
must answer what no well-behaved server library would (or read requests
exactly as they came)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import h11


@asynccontextmanager
async def serving(
    handle: Callable[[anyio.abc.SocketStream], Awaitable[None]],
) -> AsyncIterator[int]:
    """Gives each connection to a free port of 127.0.0.1 (yielded) to
    ``handle``, until the block ends."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        try:
            yield port
        finally:
            tg.cancel_scope.cancel()


async def read_h11_request(
    stream: anyio.abc.ByteStream, conn: h11.Connection
) -> tuple[h11.Request, bytes]:
    """The next request on ``stream`` and its whole body, read with ``conn``
    (an ``h11.SERVER``)."""
    request: h11.Request | None = None
    body = b""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive())
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            break
    assert request is not None
    return request, body
