"""The connect.v1 messages and the frame codec against the recorded session.

Every frame of ``connect_session.json`` (official Python SDK 0.5.19) and every
HTTP start body decodes to the golden's decoded view, and both the decoded
message and one built from that view encode back to the very same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given
from hypothesis import strategies as st

from inngest_proto.connect import connect_pb2 as pb
from inngest_proto.connect._codec import (
    PAYLOAD_CLASSES,
    ConnectProtocolError,
    decode,
    encode,
)

GOLDEN = Path(__file__).parent.parent.parent / "fixtures" / "golden"
SESSION: dict[str, Any] = json.loads(
    (GOLDEN / "connect_session.json").read_text("utf-8")
)
FRAMES = [entry for entry in SESSION["timeline"] if "frame_hex" in entry]
HTTP_BODIES = [entry for entry in SESSION["timeline"] if "body_hex" in entry]
SIGNAL_KINDS = [kind for kind, cls in PAYLOAD_CLASSES.items() if cls is None]


def _strip_decoded(view: Any) -> Any:
    """The golden view without the ``*_decoded_json`` helper keys."""
    if isinstance(view, dict):
        return {
            key: _strip_decoded(value)
            for key, value in view.items()
            if not key.endswith("_decoded_json")
        }
    if isinstance(view, list):
        return [_strip_decoded(item) for item in view]
    return view


def _check_decoded_json(view: Any, message: Any) -> int:
    """``*_decoded_json`` keys equal the JSON in the message's bytes field."""
    checked = 0
    if isinstance(view, dict):
        for key, value in view.items():
            if key.endswith("_decoded_json"):
                raw = getattr(message, key.removesuffix("_decoded_json"))
                assert json.loads(raw) == value, key
                checked += 1
            else:
                checked += _check_decoded_json(value, getattr(message, key))
    elif isinstance(view, list):
        assert len(view) == len(message)
        for item, sub in zip(view, message, strict=True):
            checked += _check_decoded_json(item, sub)
    return checked


def _from_view(cls: type[Message], view: dict[str, Any]) -> Message:
    message = cls()
    json_format.ParseDict(_strip_decoded(view), message)
    return message


def test_the_session_has_every_kind_the_python_sdk_exchanges() -> None:
    kinds = {entry["kind"] for entry in FRAMES}
    assert len(FRAMES) == 28
    assert kinds == {
        "GATEWAY_HELLO",
        "WORKER_CONNECT",
        "GATEWAY_CONNECTION_READY",
        "WORKER_HEARTBEAT",
        "GATEWAY_HEARTBEAT",
        "GATEWAY_EXECUTOR_REQUEST",
        "WORKER_REQUEST_ACK",
        "WORKER_REQUEST_EXTEND_LEASE",
        "WORKER_REQUEST_EXTEND_LEASE_ACK",
        "WORKER_REPLY",
        "WORKER_REPLY_ACK",
        "GATEWAY_CLOSING",
        "WORKER_PAUSE",
    }
    assert len(HTTP_BODIES) == 4


@pytest.mark.parametrize(
    "entry", FRAMES, ids=[f"{i}-{entry['kind']}" for i, entry in enumerate(FRAMES)]
)
def test_golden_frame_decodes_to_the_view_and_encodes_back(
    entry: dict[str, Any],
) -> None:
    raw = bytes.fromhex(entry["frame_hex"])
    kind, payload = decode(raw)
    assert kind == entry["kind_number"]
    assert pb.GatewayMessageType.Name(kind) == entry["kind"]
    cls = PAYLOAD_CLASSES[kind]
    if cls is None:
        assert payload is None
        assert "payload" not in entry
    else:
        assert isinstance(payload, cls)
        expected = _from_view(cls, entry["payload"])
        assert payload == expected
        # Fields the view does not show are unset (optional ones absent).
        shown = set(_strip_decoded(entry["payload"]))
        assert {field.name for field, _ in payload.ListFields()} <= shown
        _check_decoded_json(entry["payload"], payload)
        # Built from the view's fields, the frame is byte-identical too.
        assert encode(kind, expected) == raw
    assert encode(kind, payload) == raw


@pytest.mark.parametrize(
    "entry", HTTP_BODIES, ids=[f"{i}" for i in range(len(HTTP_BODIES))]
)
def test_golden_start_bodies(entry: dict[str, Any]) -> None:
    raw = bytes.fromhex(entry["body_hex"])
    cls: type[Message] = (
        pb.StartRequest if "StartRequest" in entry["http"] else pb.StartResponse
    )
    message = cls.FromString(raw)
    assert message == _from_view(cls, entry["payload"])
    assert message.SerializeToString() == raw


def test_http_stub_bodies_are_start_responses() -> None:
    for call in SESSION["http_calls_to_api"]:
        assert call["request"]["path"] == "/v0/connect/start"
        assert call["request"]["body_raw"] is None  # empty StartRequest
        raw = bytes.fromhex(call["stub_response"]["body"]["_hex"])
        response = pb.StartResponse.FromString(raw)
        assert response.gateway_endpoint == "ws://127.0.0.1:8289/v0/connect"
        assert response.SerializeToString() == raw


def test_golden_details_that_matter_to_a_worker() -> None:
    by_kind: dict[str, list[Any]] = {}
    for entry in FRAMES:
        by_kind.setdefault(entry["kind"], []).append(
            decode(bytes.fromhex(entry["frame_hex"]))[1]
        )
    connect = by_kind["WORKER_CONNECT"][0]
    assert isinstance(connect, pb.WorkerConnectRequestData)
    assert connect.HasField("environment")
    assert connect.HasField("max_worker_concurrency")
    assert connect.max_worker_concurrency == 10
    assert not connect.HasField("platform")
    assert not connect.HasField("started_at")
    assert not connect.apps[0].HasField("app_version")
    assert connect.system_attributes.mem_bytes == 25276510208
    statuses = [reply.status for reply in by_kind["WORKER_REPLY"]]
    assert statuses == [pb.NOT_COMPLETED, pb.DONE, pb.ERROR]
    lease_ack = by_kind["WORKER_REQUEST_EXTEND_LEASE_ACK"][0]
    assert lease_ack.HasField("new_lease_id")
    request = by_kind["GATEWAY_EXECUTOR_REQUEST"][0]
    assert request.HasField("step_id")
    assert request.job_id == "golden-connect-job-1"


# -- errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\xff", id="bad-tag"),
        pytest.param(b"\x08", id="truncated-varint"),
        pytest.param(b"\x08\x06\x12\x05ab", id="truncated-payload"),
        pytest.param(
            b"\x08\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", id="long-varint"
        ),
    ],
)
def test_decode_rejects_bytes_that_are_not_a_message(data: bytes) -> None:
    with pytest.raises(ConnectProtocolError, match="not a Connect message"):
        decode(data)


def test_decode_rejects_an_unknown_kind() -> None:
    data = pb.ConnectMessage(kind=99).SerializeToString()  # type: ignore[arg-type]
    with pytest.raises(ConnectProtocolError, match="unknown Connect message kind 99"):
        decode(data)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"\xff\xff", id="garbage"),
        pytest.param(b"\x0a\x05ab", id="truncated-string"),
        pytest.param(b"\x0a\x01\xff", id="invalid-utf8"),
    ],
)
def test_decode_rejects_a_payload_that_is_not_the_kinds_message(
    payload: bytes,
) -> None:
    data = pb.ConnectMessage(kind=pb.WORKER_REPLY_ACK, payload=payload)
    with pytest.raises(
        ConnectProtocolError,
        match="WORKER_REPLY_ACK payload is not a WorkerReplyAckData",
    ):
        decode(data.SerializeToString())


def test_the_error_is_a_value_error() -> None:
    assert issubclass(ConnectProtocolError, ValueError)


def test_decode_ignores_a_payload_on_a_signal_only_kind() -> None:
    data = pb.ConnectMessage(kind=pb.GATEWAY_CLOSING, payload=b"\x0a\x01x")
    assert decode(data.SerializeToString()) == (pb.GATEWAY_CLOSING, None)


def test_decode_gives_a_default_message_for_an_empty_payload() -> None:
    kind, payload = decode(encode(pb.WORKER_REPLY_ACK, pb.WorkerReplyAckData()))
    assert kind == pb.WORKER_REPLY_ACK
    assert payload == pb.WorkerReplyAckData()


def test_encode_checks_the_kind_and_payload() -> None:
    with pytest.raises(ValueError, match="unknown Connect message kind 42"):
        encode(42, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="WORKER_REPLY carries SDKResponse, got"):
        encode(pb.WORKER_REPLY, pb.WorkerReplyAckData())
    with pytest.raises(
        TypeError, match="WORKER_REPLY carries SDKResponse, got NoneType"
    ):
        encode(pb.WORKER_REPLY, None)
    with pytest.raises(TypeError, match="WORKER_HEARTBEAT carries no payload"):
        encode(pb.WORKER_HEARTBEAT, pb.WorkerReplyAckData())


def test_every_kind_has_an_entry() -> None:
    assert set(PAYLOAD_CLASSES) == set(pb.GatewayMessageType.values())


# -- round trip ---------------------------------------------------------------

_text = st.text(st.characters(codec="utf-8"), max_size=20)
_bytes = st.binary(max_size=40)
_int64 = st.integers(-(2**63), 2**63 - 1)
_optional_text = st.none() | _text


def _without_none(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


@st.composite
def _worker_connect(draw: st.DrawFn) -> pb.WorkerConnectRequestData:
    apps = [
        pb.AppConfiguration(
            **_without_none(
                app_name=draw(_text),
                app_version=draw(_optional_text),
                functions=draw(_bytes),
            )
        )
        for _ in range(draw(st.integers(0, 3)))
    ]
    started = draw(st.none() | st.integers(0, 2**40))
    return pb.WorkerConnectRequestData(
        **_without_none(
            connection_id=draw(_text),
            instance_id=draw(_text),
            auth_data=pb.AuthData(session_token=draw(_text), sync_token=draw(_text)),
            capabilities=draw(_bytes),
            apps=apps,
            worker_manual_readiness_ack=draw(st.booleans()),
            system_attributes=pb.SystemAttributes(
                cpu_cores=draw(st.integers(-(2**31), 2**31 - 1)),
                mem_bytes=draw(_int64),
                os=draw(_text),
            ),
            environment=draw(_optional_text),
            framework=draw(_text),
            platform=draw(_optional_text),
            sdk_version=draw(_text),
            sdk_language=draw(_text),
            started_at=None if started is None else Timestamp(seconds=started),
            max_worker_concurrency=draw(st.none() | _int64),
        )
    )


@st.composite
def _executor_request(draw: st.DrawFn) -> pb.GatewayExecutorRequestData:
    strings = {
        name: draw(_text)
        for name in [
            "request_id",
            "account_id",
            "env_id",
            "app_id",
            "app_name",
            "function_id",
            "function_slug",
            "run_id",
            "lease_id",
            "job_id",
        ]
    }
    return pb.GatewayExecutorRequestData(
        **strings,
        **_without_none(step_id=draw(_optional_text)),
        request_payload=draw(_bytes),
        system_trace_ctx=draw(_bytes),
        user_trace_ctx=draw(_bytes),
    )


@st.composite
def _reply(draw: st.DrawFn) -> pb.SDKResponse:
    return pb.SDKResponse(
        request_id=draw(_text),
        account_id=draw(_text),
        env_id=draw(_text),
        app_id=draw(_text),
        status=draw(st.sampled_from([pb.NOT_COMPLETED, pb.DONE, pb.ERROR])),
        body=draw(_bytes),
        no_retry=draw(st.booleans()),
        **_without_none(retry_after=draw(_optional_text)),
        sdk_version=draw(_text),
        request_version=draw(st.integers(0, 2**32 - 1)),
        system_trace_ctx=draw(_bytes),
        user_trace_ctx=draw(_bytes),
        run_id=draw(_text),
    )


@st.composite
def _lease_ack(draw: st.DrawFn) -> pb.WorkerRequestExtendLeaseAckData:
    return pb.WorkerRequestExtendLeaseAckData(
        request_id=draw(_text),
        function_slug=draw(_text),
        **_without_none(new_lease_id=draw(_optional_text)),
    )


_frames = st.one_of(
    st.tuples(st.just(pb.WORKER_CONNECT), _worker_connect()),
    st.tuples(st.just(pb.GATEWAY_EXECUTOR_REQUEST), _executor_request()),
    st.tuples(st.just(pb.WORKER_REPLY), _reply()),
    st.tuples(st.just(pb.WORKER_REQUEST_EXTEND_LEASE_ACK), _lease_ack()),
    st.tuples(
        st.just(pb.GATEWAY_CONNECTION_READY),
        st.builds(
            pb.GatewayConnectionReadyData,
            heartbeat_interval=_text,
            extend_lease_interval=_text,
            status_interval=_text,
        ),
    ),
    st.tuples(
        st.just(pb.WORKER_STATUS),
        st.builds(
            pb.WorkerStatusData,
            in_flight_request_ids=st.lists(_text, max_size=3),
            shutdown_requested=st.booleans(),
        ),
    ),
    st.tuples(st.sampled_from(SIGNAL_KINDS), st.none()),
)


@given(_frames)
def test_round_trip(frame: tuple[pb.GatewayMessageType, Message | None]) -> None:
    kind, payload = frame
    data = encode(kind, payload)
    decoded_kind, decoded = decode(data)
    assert decoded_kind == kind
    assert decoded == payload
    assert encode(decoded_kind, decoded) == data
