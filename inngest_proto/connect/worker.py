"""One worker's Connect connection as a state machine, and what it asks for.

The transport feeds it frames and the time and carries out what it returns
(:class:`SendFrame`, the events that say a request arrived or a lease was
lost).  Needs ``protobuf`` (the ``connect`` extra).
"""

from __future__ import annotations

from ._machine import (
    Connection,
    FlushReply,
    GatewayDraining,
    HandshakeComplete,
    HandshakeTimedOut,
    HeartbeatsMissed,
    LeaseLost,
    ReplyAcknowledged,
    RequestReceived,
    SendFrame,
    reconnect_delay,
)

__all__ = [
    "Connection",
    "FlushReply",
    "GatewayDraining",
    "HandshakeComplete",
    "HandshakeTimedOut",
    "HeartbeatsMissed",
    "LeaseLost",
    "ReplyAcknowledged",
    "RequestReceived",
    "SendFrame",
    "reconnect_delay",
]
