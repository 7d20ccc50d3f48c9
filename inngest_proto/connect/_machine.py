"""One Connect WebSocket connection, as a state machine without I/O.

The protocol is described in docs/protocol/connect.rst.

In the h11 manner: the transport hands in each binary frame it reads
(:meth:`Connection.receive_data`) and the time, takes the resulting events
with :meth:`Connection.next_event`, writes the frames those events carry,
and calls :meth:`Connection.tick` at :meth:`Connection.deadline` for the
timed work (heartbeats, lease extensions, handshake and reply timeouts).
Nothing here reads a clock, sleeps or touches a socket.

States and what moves between them are in :data:`TRANSITIONS`, one table:

* ``CONNECTING``: the socket is open; waiting for ``GATEWAY_HELLO``, then
  (after ``WORKER_CONNECT`` went out) for ``GATEWAY_CONNECTION_READY``.
* ``ACTIVE``: executor requests arrive, are acknowledged and replied to.
* ``DRAINING``: the gateway said ``GATEWAY_CLOSING``; the worker opens a new
  connection, this one only finishes what it has (acks, leases, replies).
* ``CLOSED``: nothing more is read or sent.

Reconnecting is the worker's business (a new :class:`Connection` per
socket); :func:`reconnect_delay` is its backoff.
"""

from __future__ import annotations

import enum
import hashlib
from collections import deque
from typing import Any, TypeAlias

import attrs
from google.protobuf.message import Message

from .._durations import parse_duration
from . import connect_pb2 as pb
from ._codec import ConnectProtocolError, decode, encode

__all__ = [
    "TRANSITIONS",
    "Connection",
    "ConnectionState",
    "Event",
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

Kind = pb.GatewayMessageType
#: The Python SDK's fixed heartbeat; the READY message may say otherwise.
DEFAULT_HEARTBEAT_SECONDS = 10.0
#: How often to extend leases when the READY message gives no readable
#: interval: a quarter of the gateway's 20 s lease, as the TypeScript SDK.
DEFAULT_EXTEND_LEASE_SECONDS = 5.0
HANDSHAKE_TIMEOUT_SECONDS = 10.0
#: Unanswered heartbeats after which the connection counts as dead (TS: 2).
MAX_MISSED_HEARTBEATS = 2
_BACKOFF_SECONDS = (1, 2, 5, 10, 20, 30, 60)


class ConnectionState(enum.Enum):
    CONNECTING = "connecting"
    ACTIVE = "active"
    DRAINING = "draining"
    CLOSED = "closed"


# -- events the transport acts on ---------------------------------------------------


@attrs.frozen
class SendFrame:
    """Write ``data`` as one binary WebSocket frame."""

    data: bytes


@attrs.frozen
class HandshakeComplete:
    heartbeat_interval: float
    extend_lease_interval: float


@attrs.frozen
class RequestReceived:
    """Run this request (already acknowledged); answer with :meth:`Connection.reply`."""

    request: pb.GatewayExecutorRequestData


@attrs.frozen
class ReplyAcknowledged:
    request_id: str


@attrs.frozen
class LeaseLost:
    """Another worker may run this request now: drop it, do not reply."""

    request_id: str


@attrs.frozen
class GatewayDraining:
    """Open a new connection; this one only finishes its work."""


@attrs.frozen
class HandshakeTimedOut:
    """The gateway did not finish the handshake in time: reconnect."""


@attrs.frozen
class HeartbeatsMissed:
    """The gateway stopped answering heartbeats: reconnect."""


@attrs.frozen
class FlushReply:
    """A reply the gateway did not acknowledge: POST ``sdk_response`` (a
    serialized ``SDKResponse``) to ``/v0/connect/flush``."""

    request_id: str
    sdk_response: bytes


Event: TypeAlias = (
    SendFrame
    | HandshakeComplete
    | RequestReceived
    | ReplyAcknowledged
    | LeaseLost
    | GatewayDraining
    | HandshakeTimedOut
    | HeartbeatsMissed
    | FlushReply
)


@attrs.define
class _Lease:
    request: pb.GatewayExecutorRequestData
    lease_id: str


@attrs.define
class _Unacked:
    response: bytes
    sent_at: float


#: (state, incoming kind) -> handler name.  A pair not listed is a protocol
#: error: the gateway sent what it must not, or a worker-bound kind.
TRANSITIONS: dict[tuple[ConnectionState, Kind], str] = {
    (ConnectionState.CONNECTING, Kind.GATEWAY_HELLO): "_on_hello",
    (ConnectionState.CONNECTING, Kind.GATEWAY_CONNECTION_READY): "_on_ready",
    (ConnectionState.CONNECTING, Kind.GATEWAY_HEARTBEAT): "_on_heartbeat",
    **{
        (state, kind): handler
        for state in (ConnectionState.ACTIVE, ConnectionState.DRAINING)
        for kind, handler in (
            (Kind.GATEWAY_HELLO, "_ignore"),  # a stray hello after the handshake
            (Kind.GATEWAY_EXECUTOR_REQUEST, "_on_request"),
            (Kind.WORKER_REPLY_ACK, "_on_reply_ack"),
            (Kind.WORKER_REQUEST_EXTEND_LEASE_ACK, "_on_lease_ack"),
            (Kind.GATEWAY_HEARTBEAT, "_on_heartbeat"),
            (Kind.GATEWAY_CLOSING, "_on_closing"),
            (Kind.SYNC_FAILED, "_ignore"),
        )
    },
}


class Connection:
    """The protocol of one connection; see the module docstring.

    ``connect`` is the ``WORKER_CONNECT`` payload (its ``connection_id`` and
    tokens from the start call); ``apps`` the app ids requests may name.
    """

    def __init__(
        self,
        connect: pb.WorkerConnectRequestData,
        *,
        now: float,
        handshake_timeout: float = HANDSHAKE_TIMEOUT_SECONDS,
    ) -> None:
        self.state = ConnectionState.CONNECTING
        self._connect = connect
        self._apps = {app.app_name for app in connect.apps}
        self._events: deque[Event] = deque()
        self._hello_seen = False
        self._handshake_deadline = now + handshake_timeout
        self._heartbeat_interval = DEFAULT_HEARTBEAT_SECONDS
        self._lease_interval = DEFAULT_EXTEND_LEASE_SECONDS
        self._next_heartbeat: float | None = None
        self._next_lease_extension: float | None = None
        self._missed_heartbeats = 0
        self._paused = False
        #: Requests running, by id, with their current lease.
        self._leases: dict[str, _Lease] = {}
        #: Replies sent and not yet acknowledged, by request id.
        self._unacked: dict[str, _Unacked] = {}

    # -- input ------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> None:
        """One binary frame from the gateway; raises ConnectProtocolError."""
        kind, payload = decode(data)
        handler = TRANSITIONS.get((self.state, kind))
        if handler is None:
            name = pb.GatewayMessageType.Name(kind)
            msg = f"{name} is not expected while {self.state.value}"
            raise ConnectProtocolError(msg)
        getattr(self, handler)(payload, now)

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def deadline(self) -> float | None:
        """When :meth:`tick` has work next, ``None`` if never."""
        if self.state is ConnectionState.CLOSED:
            return None
        if self.state is ConnectionState.CONNECTING:
            return self._handshake_deadline
        times = [self._next_heartbeat]
        if self._leases:
            times.append(self._next_lease_extension)
        times.extend(u.sent_at + self._lease_interval for u in self._unacked.values())
        return min((t for t in times if t is not None), default=None)

    def tick(self, now: float) -> None:
        """Do the timed work due at ``now``."""
        if self.state is ConnectionState.CLOSED:
            return
        if self.state is ConnectionState.CONNECTING:
            if now >= self._handshake_deadline:
                self.state = ConnectionState.CLOSED
                self._events.append(HandshakeTimedOut())
            return
        if self._next_heartbeat is not None and now >= self._next_heartbeat:
            if self._missed_heartbeats >= MAX_MISSED_HEARTBEATS:
                self.state = ConnectionState.CLOSED
                self._events.append(HeartbeatsMissed())
                return
            self._missed_heartbeats += 1
            self._send(Kind.WORKER_HEARTBEAT, None)
            self._next_heartbeat = now + self._heartbeat_interval
        if (
            self._leases
            and self._next_lease_extension is not None
            and now >= self._next_lease_extension
        ):
            for lease in self._leases.values():
                self._send(Kind.WORKER_REQUEST_EXTEND_LEASE, _extend(lease))
            self._next_lease_extension = now + self._lease_interval
        for request_id, unacked in list(self._unacked.items()):
            if now >= unacked.sent_at + self._lease_interval:
                del self._unacked[request_id]
                self._events.append(FlushReply(request_id, unacked.response))

    # -- the worker's side --------------------------------------------------------

    def reply(
        self,
        request_id: str,
        *,
        status: int,
        body: bytes,
        headers: dict[str, str],
        sdk_version: str,
        now: float,
    ) -> None:
        """Send the reply to a request (an HTTP-shaped answer).

        See docs/protocol/connect.rst#executor-requests.
        """
        lease = self._leases.pop(request_id, None)
        if lease is None:
            return  # unknown, or its lease was lost: another worker has it
        request = lease.request
        response = pb.SDKResponse(
            request_id=request.request_id,
            account_id=request.account_id,
            env_id=request.env_id,
            app_id=request.app_id,
            status=_STATUSES.get(status, pb.SDKResponseStatus.ERROR),
            body=body,
            no_retry=headers.get("x-inngest-no-retry", "").lower() == "true",
            sdk_version=sdk_version,
            request_version=_request_version(headers),
            system_trace_ctx=request.system_trace_ctx,
            user_trace_ctx=request.user_trace_ctx,
            run_id=request.run_id,
        )
        if "retry-after" in headers:
            response.retry_after = headers["retry-after"]
        raw = response.SerializeToString()
        self._unacked[request_id] = _Unacked(raw, now)
        if self.state is ConnectionState.CLOSED:
            # No socket to send on: the reply goes over HTTP.
            del self._unacked[request_id]
            self._events.append(FlushReply(request_id, raw))
            return
        self._events.append(SendFrame(encode(Kind.WORKER_REPLY, response)))

    def release(self, request_id: str) -> bool:
        """Stop extending a request's lease without replying here: the gateway
        delivered it again on a newer connection, which will answer it.
        Returns whether this connection held it."""
        return self._leases.pop(request_id, None) is not None

    def hand_over(
        self, request_id: str
    ) -> tuple[pb.GatewayExecutorRequestData, str] | None:
        """Give up a running request (and its current lease id) so that a
        newer connection can :meth:`adopt` it: this one has ended."""
        lease = self._leases.pop(request_id, None)
        return None if lease is None else (lease.request, lease.lease_id)

    def adopt(
        self, request: pb.GatewayExecutorRequestData, lease_id: str, now: float
    ) -> None:
        """Take over a request still running from an ended connection: extend its lease
        from here and reply here (docs/protocol/connect.rst#drain), so a step that
        outlives its socket does not lose its lease and run twice."""
        if not self._leases:
            self._next_lease_extension = now + self._lease_interval
        self._leases[request.request_id] = _Lease(request, lease_id)

    def pause(self) -> None:
        """Shutting down: ask the gateway for no more requests.

        See docs/protocol/connect.rst#shutdown.
        """
        self._paused = True
        if self.state in (ConnectionState.ACTIVE, ConnectionState.DRAINING):
            self._send(Kind.WORKER_PAUSE, None)

    def close(self) -> dict[str, bytes]:
        """The socket is gone; returns the replies still unacknowledged
        (request id -> serialized ``SDKResponse``) for ``/v0/connect/flush``."""
        self.state = ConnectionState.CLOSED
        pending = {rid: u.response for rid, u in self._unacked.items()}
        self._unacked.clear()
        return pending

    @property
    def in_flight(self) -> frozenset[str]:
        """Requests acknowledged and not yet replied to."""
        return frozenset(self._leases)

    @property
    def idle(self) -> bool:
        """Nothing running and every reply acknowledged."""
        return not self._leases and not self._unacked

    # -- handlers (named in TRANSITIONS) ------------------------------------------

    def _ignore(self, payload: object, now: float) -> None:
        return

    def _on_hello(self, payload: object, now: float) -> None:
        if self._hello_seen:
            raise ConnectProtocolError("GATEWAY_HELLO sent twice")
        self._hello_seen = True
        self._send(Kind.WORKER_CONNECT, self._connect)

    def _on_ready(self, payload: object, now: float) -> None:
        if not self._hello_seen:
            raise ConnectProtocolError("GATEWAY_CONNECTION_READY before GATEWAY_HELLO")
        assert isinstance(payload, pb.GatewayConnectionReadyData)
        self._heartbeat_interval = _seconds(
            payload.heartbeat_interval, DEFAULT_HEARTBEAT_SECONDS
        )
        self._lease_interval = _seconds(
            payload.extend_lease_interval, DEFAULT_EXTEND_LEASE_SECONDS
        )
        self.state = ConnectionState.ACTIVE
        self._events.append(
            HandshakeComplete(self._heartbeat_interval, self._lease_interval)
        )
        # The first heartbeat right away, as the Python SDK does.
        self._send(Kind.WORKER_HEARTBEAT, None)
        self._missed_heartbeats = 1
        self._next_heartbeat = now + self._heartbeat_interval
        self._next_lease_extension = now + self._lease_interval
        if self._paused:
            self._send(Kind.WORKER_PAUSE, None)

    def _on_heartbeat(self, payload: object, now: float) -> None:
        self._missed_heartbeats = 0

    def _on_request(self, payload: object, now: float) -> None:
        assert isinstance(payload, pb.GatewayExecutorRequestData)
        if self._paused or self.state is ConnectionState.DRAINING:
            return  # not ours to run any more: no ack, the gateway reroutes it
        if payload.app_name not in self._apps:
            return
        running = self._leases.get(payload.request_id)
        ack = pb.WorkerRequestAckData(**_request_fields(payload))
        self._send(Kind.WORKER_REQUEST_ACK, ack)
        if running is not None:
            # Delivered again while it runs here: acknowledged, under the new
            # lease, and not run twice.
            running.lease_id = payload.lease_id
            return
        if not self._leases:
            self._next_lease_extension = now + self._lease_interval
        self._leases[payload.request_id] = _Lease(payload, payload.lease_id)
        self._events.append(RequestReceived(payload))

    def _on_reply_ack(self, payload: object, now: float) -> None:
        assert isinstance(payload, pb.WorkerReplyAckData)
        if self._unacked.pop(payload.request_id, None) is not None:
            self._events.append(ReplyAcknowledged(payload.request_id))

    def _on_lease_ack(self, payload: object, now: float) -> None:
        assert isinstance(payload, pb.WorkerRequestExtendLeaseAckData)
        lease = self._leases.get(payload.request_id)
        if lease is None:
            return
        if payload.HasField("new_lease_id") and payload.new_lease_id:
            lease.lease_id = payload.new_lease_id
            return
        del self._leases[payload.request_id]
        self._events.append(LeaseLost(payload.request_id))

    def _on_closing(self, payload: object, now: float) -> None:
        self.state = ConnectionState.DRAINING
        self._events.append(GatewayDraining())

    def _send(self, kind: Kind, payload: Message | None) -> None:
        self._events.append(SendFrame(encode(kind, payload)))


_STATUSES = {
    200: pb.SDKResponseStatus.DONE,
    206: pb.SDKResponseStatus.NOT_COMPLETED,
    500: pb.SDKResponseStatus.ERROR,
}


def _request_fields(request: pb.GatewayExecutorRequestData) -> dict[str, Any]:
    """What an ack and a lease extension repeat of the request they answer."""
    fields: dict[str, Any] = {
        "request_id": request.request_id,
        "account_id": request.account_id,
        "env_id": request.env_id,
        "app_id": request.app_id,
        "function_slug": request.function_slug,
        "system_trace_ctx": request.system_trace_ctx,
        "user_trace_ctx": request.user_trace_ctx,
        "run_id": request.run_id,
    }
    if request.HasField("step_id"):  # optional: absent stays absent
        fields["step_id"] = request.step_id
    return fields


def _extend(lease: _Lease) -> pb.WorkerRequestExtendLeaseData:
    return pb.WorkerRequestExtendLeaseData(
        **_request_fields(lease.request), lease_id=lease.lease_id
    )


def _request_version(headers: dict[str, str]) -> int:
    value = headers.get("x-inngest-req-version", "")
    # A uint32 field: int() would raise for "\u00b2" or 5,000 digits, and
    # protobuf for a number that does not fit.
    digits = value.lstrip("0") or "0"
    if not (value.isascii() and value.isdigit() and len(digits) <= 10):
        return 0
    number = int(digits)
    return number if number < 2**32 else 0


def _seconds(text: str, default: float) -> float:
    """A Go duration from the gateway (``10s``); the default when unreadable."""
    try:
        seconds = parse_duration(text).total_seconds()
    except ValueError:
        return default
    return seconds if seconds > 0 else default


def reconnect_delay(attempt: int, seed: str) -> float:
    """Seconds before reconnect ``attempt`` (0-based): capped, jittered.

    1, 2, 5, 10, 20, 30, then 60 s for ever (never giving up), each plus up
    to 20% jitter derived from ``seed`` (a worker's instance id and the
    attempt), so a fleet of workers does not reconnect in step.
    """
    base = _BACKOFF_SECONDS[min(max(attempt, 0), len(_BACKOFF_SECONDS) - 1)]
    digest = hashlib.sha256(f"{seed}:{attempt}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return base * (1 + 0.2 * fraction)
