"""The Connect connection state machine, on a virtual clock.

See docs/protocol/connect.rst, from #handshake to #shutdown.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inngest_proto.connect import connect_pb2 as pb
from inngest_proto.connect._codec import ConnectProtocolError, decode, encode
from inngest_proto.connect._machine import (
    TRANSITIONS,
    Connection,
    ConnectionState,
    Event,
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

Kind = pb.GatewayMessageType
T0 = 1_000.0
APP = "my-app"


def connect_data() -> pb.WorkerConnectRequestData:
    return pb.WorkerConnectRequestData(
        connection_id="01CONN",
        instance_id="worker-1",
        apps=[pb.AppConfiguration(app_name=APP, functions=b"[]")],
        framework="connect",
        sdk_language="py",
    )


def drain(conn: Connection) -> list[Event]:
    events = []
    while (event := conn.next_event()) is not None:
        events.append(event)
    return events


def sent(events: list[Event]) -> list[tuple[int, Any]]:
    """The frames among ``events``, decoded."""
    return [decode(e.data) for e in events if isinstance(e, SendFrame)]


def ready(heartbeat: str = "10s", lease: str = "30s") -> bytes:
    data = pb.GatewayConnectionReadyData(
        heartbeat_interval=heartbeat, extend_lease_interval=lease
    )
    return encode(Kind.GATEWAY_CONNECTION_READY, data)


def request(request_id: str = "R1", app: str = APP, lease: str = "L1") -> bytes:
    data = pb.GatewayExecutorRequestData(
        request_id=request_id,
        account_id="acct",
        env_id="env",
        app_id="app-uuid",
        app_name=app,
        function_slug=f"{APP}-fn",
        step_id="step",
        request_payload=b'{"event": {}}',
        run_id="RUN1",
        lease_id=lease,
    )
    return encode(Kind.GATEWAY_EXECUTOR_REQUEST, data)


def active(now: float = T0) -> Connection:
    conn = Connection(connect_data(), now=now)
    conn.receive_data(encode(Kind.GATEWAY_HELLO, None), now)
    conn.receive_data(ready(), now)
    drain(conn)
    return conn


# -- handshake ----------------------------------------------------------------------


def test_the_handshake_sends_worker_connect_then_heartbeats() -> None:
    conn = Connection(connect_data(), now=T0)
    assert conn.state.value == "connecting"
    conn.receive_data(b"", T0)  # GATEWAY_HELLO is the empty message
    ((kind, payload),) = sent(drain(conn))
    assert kind == Kind.WORKER_CONNECT
    assert payload.connection_id == "01CONN"
    conn.receive_data(ready(heartbeat="10s", lease="5s"), T0)
    events = drain(conn)
    assert conn.state is ConnectionState.ACTIVE
    assert HandshakeComplete(10.0, 5.0) in events
    assert [k for k, _ in sent(events)] == [Kind.WORKER_HEARTBEAT]
    assert conn.deadline() == T0 + 10


@pytest.mark.parametrize("interval", ["", "soon", "0s", "-5s"])
def test_an_unreadable_extend_interval_falls_back_to_5_seconds(interval: str) -> None:
    # A quarter of the gateway's 20 s lease: a longer fallback would lose it.
    conn = Connection(connect_data(), now=T0)
    conn.receive_data(b"", T0)
    conn.receive_data(ready(lease=interval), T0)
    assert HandshakeComplete(10.0, 5.0) in drain(conn)
    conn.receive_data(request(lease="L1"), T0)
    drain(conn)
    conn.tick(T0 + 5)
    assert lease_ids(drain(conn)) == ["L1"]


def test_a_gateway_that_never_finishes_the_handshake_times_out() -> None:
    conn = Connection(connect_data(), now=T0)
    conn.receive_data(b"", T0)
    drain(conn)
    assert conn.deadline() == T0 + 10
    conn.tick(T0 + 9)
    assert drain(conn) == []
    conn.tick(T0 + 10)
    assert drain(conn) == [HandshakeTimedOut()]
    assert conn.state is ConnectionState.CLOSED


@pytest.mark.parametrize(
    "frame",
    [
        ready(),  # READY before HELLO
        request(),  # a request before the handshake
        encode(Kind.WORKER_HEARTBEAT, None),  # a worker-bound kind
    ],
)
def test_out_of_order_frames_are_protocol_errors(frame: bytes) -> None:
    conn = Connection(connect_data(), now=T0)
    with pytest.raises(ConnectProtocolError):
        conn.receive_data(frame, T0)


# -- requests, acks, replies --------------------------------------------------------


@pytest.mark.parametrize("version", ["\u00b2", "9" * 5000, str(2**32), "-1", ""])
def test_a_reply_with_an_unusable_request_version_sends_zero(version: str) -> None:
    conn = active()
    conn.receive_data(request(), T0)
    drain(conn)
    conn.reply(
        "R1",
        status=200,
        body=b"1",
        headers={"x-inngest-req-version": version},
        sdk_version="inngest-py:v0.1.0",
        now=T0 + 1,
    )
    ((_, response),) = sent(drain(conn))
    assert response.request_version == 0


def test_a_request_is_acked_at_once_and_its_reply_sent_and_acked() -> None:
    conn = active()
    conn.receive_data(request(), T0)
    events = drain(conn)
    ((kind, ack),) = sent(events)
    assert kind == Kind.WORKER_REQUEST_ACK
    assert (ack.request_id, ack.step_id, ack.run_id) == ("R1", "step", "RUN1")
    (received,) = [e for e in events if isinstance(e, RequestReceived)]
    assert received.request.request_payload == b'{"event": {}}'
    assert conn.in_flight == {"R1"}

    conn.reply(
        "R1",
        status=206,
        body=b"[]",
        headers={"x-inngest-req-version": "2", "retry-after": "5"},
        sdk_version="inngest-py:v0.1.0",
        now=T0 + 1,
    )
    ((kind, response),) = sent(drain(conn))
    assert kind == Kind.WORKER_REPLY
    assert response.status == pb.SDKResponseStatus.NOT_COMPLETED
    assert (response.body, response.retry_after, response.request_version) == (
        b"[]",
        "5",
        2,
    )
    assert response.run_id == "RUN1"
    assert not conn.idle
    ack_frame = encode(Kind.WORKER_REPLY_ACK, pb.WorkerReplyAckData(request_id="R1"))
    conn.receive_data(ack_frame, T0 + 1)
    assert drain(conn) == [ReplyAcknowledged("R1")]
    assert conn.idle


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, pb.SDKResponseStatus.DONE),
        (206, pb.SDKResponseStatus.NOT_COMPLETED),
        (500, pb.SDKResponseStatus.ERROR),
        (400, pb.SDKResponseStatus.ERROR),
    ],
)
def test_http_statuses_map_to_sdk_response_statuses(status: int, expected: int) -> None:
    conn = active()
    conn.receive_data(request(), T0)
    drain(conn)
    conn.reply("R1", status=status, body=b"{}", headers={}, sdk_version="v", now=T0)
    ((_, response),) = sent(drain(conn))
    assert response.status == expected


def test_requests_for_other_apps_or_while_paused_are_not_acked() -> None:
    conn = active()
    conn.receive_data(request(app="someone-else"), T0)
    assert drain(conn) == []
    conn.pause()
    assert [k for k, _ in sent(drain(conn))] == [Kind.WORKER_PAUSE]
    conn.receive_data(request(), T0)
    assert drain(conn) == []


def test_an_unacked_reply_is_handed_over_for_the_flush_endpoint() -> None:
    conn = active()
    conn.receive_data(request(), T0)
    drain(conn)
    conn.reply("R1", status=200, body=b"1", headers={}, sdk_version="v", now=T0)
    drain(conn)
    conn.tick(T0 + 30)
    flushed = [e for e in drain(conn) if isinstance(e, FlushReply)]
    assert [f.request_id for f in flushed] == ["R1"]
    response = pb.SDKResponse.FromString(flushed[0].sdk_response)
    assert response.body == b"1"
    assert conn.idle


def test_a_reply_after_the_socket_closed_goes_to_flush() -> None:
    conn = active()
    conn.receive_data(request(), T0)
    drain(conn)
    assert conn.close() == {}
    conn.reply("R1", status=200, body=b"1", headers={}, sdk_version="v", now=T0)
    (flush,) = drain(conn)
    assert isinstance(flush, FlushReply)


# -- leases and heartbeats -----------------------------------------------------------


def lease_ids(events: list[Event]) -> list[str]:
    """The lease ids of the extensions among ``events``."""
    extend = Kind.WORKER_REQUEST_EXTEND_LEASE
    return [p.lease_id for k, p in sent(events) if k == extend]


def test_leases_are_extended_with_the_newest_lease_id_until_lost() -> None:
    conn = active()
    conn.receive_data(request(lease="L1"), T0)
    drain(conn)
    beat = encode(Kind.GATEWAY_HEARTBEAT, None)
    conn.receive_data(beat, T0 + 29)
    conn.tick(T0 + 30)
    extensions = [
        p for k, p in sent(drain(conn)) if k == Kind.WORKER_REQUEST_EXTEND_LEASE
    ]
    assert [e.lease_id for e in extensions] == ["L1"]
    renewed = pb.WorkerRequestExtendLeaseAckData(request_id="R1", new_lease_id="L2")
    conn.receive_data(encode(Kind.WORKER_REQUEST_EXTEND_LEASE_ACK, renewed), T0 + 30)
    conn.receive_data(beat, T0 + 59)
    conn.tick(T0 + 60)
    extensions = [
        p for k, p in sent(drain(conn)) if k == Kind.WORKER_REQUEST_EXTEND_LEASE
    ]
    assert [e.lease_id for e in extensions] == ["L2"]
    lost = pb.WorkerRequestExtendLeaseAckData(request_id="R1")
    conn.receive_data(encode(Kind.WORKER_REQUEST_EXTEND_LEASE_ACK, lost), T0 + 60)
    assert drain(conn) == [LeaseLost("R1")]
    assert conn.in_flight == frozenset()
    # Its reply is dropped: another worker owns the request now.
    conn.reply("R1", status=200, body=b"1", headers={}, sdk_version="v", now=T0)
    assert drain(conn) == []


def test_a_released_request_is_neither_extended_nor_replied() -> None:
    conn = active()
    conn.receive_data(request(lease="L1"), T0)
    drain(conn)
    assert conn.release("R1") is True
    assert conn.release("R1") is False
    assert conn.in_flight == frozenset()
    conn.receive_data(encode(Kind.GATEWAY_HEARTBEAT, None), T0 + 29)
    conn.tick(T0 + 30)
    kinds = [k for k, _ in sent(drain(conn))]
    assert Kind.WORKER_REQUEST_EXTEND_LEASE not in kinds
    conn.reply("R1", status=200, body=b"1", headers={}, sdk_version="v", now=T0)
    assert drain(conn) == []


def test_unanswered_heartbeats_end_the_connection() -> None:
    conn = active()  # one heartbeat went out with READY, unanswered
    conn.tick(T0 + 10)
    assert [k for k, _ in sent(drain(conn))] == [Kind.WORKER_HEARTBEAT]
    conn.tick(T0 + 20)
    assert drain(conn) == [HeartbeatsMissed()]
    assert conn.state is ConnectionState.CLOSED


def test_answered_heartbeats_keep_it_going() -> None:
    conn = active()
    for n in range(1, 6):
        conn.receive_data(encode(Kind.GATEWAY_HEARTBEAT, None), T0 + 10 * n - 1)
        conn.tick(T0 + 10 * n)
        assert [k for k, _ in sent(drain(conn))] == [Kind.WORKER_HEARTBEAT]
    assert conn.state is ConnectionState.ACTIVE


def test_gateway_closing_drains_but_replies_and_leases_go_on() -> None:
    conn = active()
    conn.receive_data(request(), T0)
    drain(conn)
    conn.receive_data(encode(Kind.GATEWAY_CLOSING, None), T0 + 1)
    assert drain(conn) == [GatewayDraining()]
    assert conn.state is ConnectionState.DRAINING
    conn.receive_data(request("R2"), T0 + 1)  # not ours to take any more
    assert drain(conn) == []
    conn.reply("R1", status=200, body=b"1", headers={}, sdk_version="v", now=T0 + 2)
    assert [k for k, _ in sent(drain(conn))] == [Kind.WORKER_REPLY]


def test_reconnect_delays_grow_then_stay_capped_and_differ_by_worker() -> None:
    delays = [reconnect_delay(n, "w1") for n in range(10)]
    assert delays == sorted(delays[:7]) + delays[7:]
    assert all(60 <= d <= 72 for d in delays[6:])
    assert reconnect_delay(3, "w1") != reconnect_delay(3, "w2")
    assert 1 <= reconnect_delay(0, "w1") <= 1.2


# -- every (state, message) pair ---------------------------------------------------


def in_state(state: ConnectionState) -> Connection:
    if state is ConnectionState.CONNECTING:
        return Connection(connect_data(), now=T0)
    conn = active()
    if state is ConnectionState.DRAINING:
        conn.receive_data(encode(Kind.GATEWAY_CLOSING, None), T0)
    elif state is ConnectionState.CLOSED:
        conn.close()
    drain(conn)
    return conn


_frames = st.one_of(
    st.binary(max_size=64),
    st.builds(
        lambda kind, payload: pb.ConnectMessage(
            kind=kind, payload=payload
        ).SerializeToString(),
        st.sampled_from(list(Kind.values())),
        st.binary(max_size=32),
    ),
    st.sampled_from(
        [
            b"",
            ready(),
            request(),
            encode(Kind.GATEWAY_HEARTBEAT, None),
            encode(Kind.GATEWAY_CLOSING, None),
            encode(Kind.WORKER_REPLY_ACK, pb.WorkerReplyAckData(request_id="R1")),
        ]
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    state=st.sampled_from(list(ConnectionState)), frames=st.lists(_frames, max_size=6)
)
def test_every_frame_in_every_state_transitions_or_is_a_protocol_error(
    state: ConnectionState, frames: list[bytes]
) -> None:
    conn = in_state(state)
    for frame in frames:
        before = conn.state
        try:
            kind, _ = decode(frame)
        except ConnectProtocolError:
            with pytest.raises(ConnectProtocolError):
                conn.receive_data(frame, T0)
            continue
        if (before, kind) not in TRANSITIONS:
            with pytest.raises(ConnectProtocolError):
                conn.receive_data(frame, T0)
            continue
        try:
            conn.receive_data(frame, T0)
        except ConnectProtocolError:
            continue  # a listed pair may still be refused (a second HELLO)
        drain(conn)
        assert conn.state in ConnectionState


def test_a_new_connection_adopts_a_run_and_extends_its_lease() -> None:
    old = active()
    old.receive_data(request(lease="L1"), T0)
    drain(old)
    old.close()  # the socket died while the run goes on
    handed = old.hand_over("R1")
    assert handed is not None
    new = active(T0 + 1)
    new.adopt(*handed, now=T0 + 1)
    assert old.hand_over("R1") is None
    new.receive_data(encode(Kind.GATEWAY_HEARTBEAT, None), T0 + 30)
    new.tick(T0 + 31)
    assert lease_ids(drain(new)) == ["L1"]
    new.reply("R1", status=200, body=b"1", headers={}, sdk_version="v", now=T0 + 31)
    assert [k for k, _ in sent(drain(new))] == [Kind.WORKER_REPLY]


def test_a_redelivered_running_request_is_acked_under_its_new_lease_only() -> None:
    conn = active()
    conn.receive_data(request(lease="L1"), T0)
    drain(conn)
    conn.receive_data(request(lease="L2"), T0 + 1)
    events = drain(conn)
    assert [k for k, _ in sent(events)] == [Kind.WORKER_REQUEST_ACK]
    assert not any(isinstance(e, RequestReceived) for e in events)  # not run twice
    conn.receive_data(encode(Kind.GATEWAY_HEARTBEAT, None), T0 + 29)
    conn.tick(T0 + 30)
    assert lease_ids(drain(conn)) == ["L2"]
