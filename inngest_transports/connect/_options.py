"""The worker's states and the options read from the environment."""

from __future__ import annotations

import enum
import os
import socket

from inngest_proto.errors import LocalProtocolError

__all__ = ["ENV_MAX_CONCURRENCY", "ConnectionState", "hostname", "max_concurrency"]

ENV_MAX_CONCURRENCY = "INNGEST_CONNECT_MAX_WORKER_CONCURRENCY"


class ConnectionState(enum.Enum):
    """State of the connection to the Inngest server (the official names)."""

    ACTIVE = "ACTIVE"
    CLOSED = "CLOSED"
    CLOSING = "CLOSING"
    CONNECTING = "CONNECTING"
    PAUSED = "PAUSED"
    RECONNECTING = "RECONNECTING"


def max_concurrency(value: int | None) -> int | None:
    source = "max_worker_concurrency"
    if value is None:
        raw = os.environ.get(ENV_MAX_CONCURRENCY, "").strip()
        if not raw:
            return None
        source = ENV_MAX_CONCURRENCY
        try:
            value = int(raw)
        except ValueError:
            value = -1
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        msg = f"{source} must be a whole number >= 0, got {value!r}"
        raise LocalProtocolError(msg)
    return value


def hostname() -> str:
    return socket.gethostname() or "unknown-host"
