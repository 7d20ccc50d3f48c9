"""The Connect worker: serve functions over an outbound WebSocket.

Instead of exposing ``/api/inngest``, the worker dials out to Inngest and
receives its call requests over a persistent connection (wsproto over anyio,
on asyncio and trio).  The API is the official SDK's::

    conn = connect([(client, [fn_a, fn_b])])
    await conn.start()  # returns when the worker stops

``pip install 'inngest-sansio[connect]'``.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Sequence
from typing import Any

from inngest_proto import Inngest
from inngest_proto.connect.worker import reconnect_delay as _reconnect_delay
from inngest_proto.functions import Function
from inngest_proto.transport import Transport

from ._start import ConnectAuthError
from ._worker import ConnectionState, WorkerConnection

__all__ = ["ConnectAuthError", "ConnectionState", "WorkerConnection", "connect"]


def connect(
    apps: Sequence[tuple[Inngest, Sequence[Function[Any]]]],
    *,
    instance_id: str | None = None,
    rewrite_gateway_endpoint: Callable[[str], str] | None = None,
    shutdown_signals: Sequence[signal.Signals] | None = None,
    max_worker_concurrency: int | None = None,
    shutdown_timeout: float = 7200.0,
    reconnect_delay: Callable[[int, str], float] = _reconnect_delay,
    transport: Transport | None = None,
) -> WorkerConnection:
    """Create a persistent connection to Inngest (start it with ``start()``).

    ``apps``: (client, functions) pairs; all clients must share the API
    origin, environment, mode and signing key.  ``instance_id``: a stable id
    for this worker (default: the hostname); the server applies
    ``max_worker_concurrency`` (default ``INNGEST_CONNECT_MAX_WORKER_CONCURRENCY``)
    across all connections of one instance id.  ``rewrite_gateway_endpoint``
    maps the gateway URL the API hands out (e.g. to reach it through a
    proxy).  ``shutdown_signals`` (default SIGTERM and SIGINT, honoured only
    when created on the main thread; ``[]`` for none) pause the worker,
    let in-flight runs finish (at most ``shutdown_timeout`` seconds) and
    stop it.

    Extensions over the official API: ``shutdown_timeout``;
    ``reconnect_delay(attempt, instance_id) -> seconds``, the backoff;
    ``transport``, what sends the start and flush calls.
    """
    return WorkerConnection(
        apps,
        instance_id=instance_id,
        rewrite_gateway_endpoint=rewrite_gateway_endpoint,
        shutdown_signals=shutdown_signals,
        max_worker_concurrency=max_worker_concurrency,
        shutdown_timeout=shutdown_timeout,
        reconnect_delay=reconnect_delay,
        transport=transport,
    )
