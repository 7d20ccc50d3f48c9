"""Connect frames to typed messages and back.

See docs/protocol/connect.rst#websocket and docs/protocol/connect.rst#messages.

A frame is one ``ConnectMessage``: a ``kind`` and the serialized payload message
that kind carries (:data:`PAYLOAD_CLASSES`), or nothing for signal-only kinds.
"""

from __future__ import annotations

from typing import TypeAlias

from google.protobuf.message import DecodeError, Message

from . import connect_pb2 as pb

__all__ = [
    "PAYLOAD_CLASSES",
    "ConnectProtocolError",
    "Kind",
    "decode",
    "encode",
]

Kind: TypeAlias = pb.GatewayMessageType

#: Every kind, with the message its payload holds (``None``: no payload).
PAYLOAD_CLASSES: dict[int, type[Message] | None] = {
    pb.GATEWAY_HELLO: None,
    pb.WORKER_CONNECT: pb.WorkerConnectRequestData,
    pb.GATEWAY_CONNECTION_READY: pb.GatewayConnectionReadyData,
    pb.GATEWAY_EXECUTOR_REQUEST: pb.GatewayExecutorRequestData,
    pb.WORKER_READY: None,
    pb.WORKER_REQUEST_ACK: pb.WorkerRequestAckData,
    pb.WORKER_REPLY: pb.SDKResponse,
    pb.WORKER_REPLY_ACK: pb.WorkerReplyAckData,
    pb.WORKER_PAUSE: None,
    pb.WORKER_HEARTBEAT: None,
    pb.GATEWAY_HEARTBEAT: None,
    pb.GATEWAY_CLOSING: None,
    pb.WORKER_REQUEST_EXTEND_LEASE: pb.WorkerRequestExtendLeaseData,
    pb.WORKER_REQUEST_EXTEND_LEASE_ACK: pb.WorkerRequestExtendLeaseAckData,
    pb.SYNC_FAILED: pb.SystemError,  # unverified: neither official SDK reads it
    pb.WORKER_STATUS: pb.WorkerStatusData,
}


class ConnectProtocolError(ValueError):
    """A Connect frame that is not a valid ``connect.v1`` message."""


#: What parsing raises: the C backends say DecodeError for everything, the
#: pure-Python one lets a string field's UnicodeDecodeError through.
_PARSE_ERRORS = (DecodeError, UnicodeDecodeError)


def _kind_name(kind: int) -> str:
    return pb.GatewayMessageType.Name(kind) if kind in PAYLOAD_CLASSES else str(kind)


def encode(kind: Kind, payload: Message | None) -> bytes:
    """The frame (a serialized ``ConnectMessage``) for ``kind`` and its payload.

    Raises ``ValueError`` for an unknown kind and ``TypeError`` when the payload
    is not the message class ``kind`` carries (or is given for a signal-only one).
    """
    if kind not in PAYLOAD_CLASSES:
        msg = f"unknown Connect message kind {kind}"
        raise ValueError(msg)
    expected = PAYLOAD_CLASSES[kind]
    if expected is None and payload is not None:
        msg = f"{_kind_name(kind)} carries no payload, got {type(payload).__name__}"
        raise TypeError(msg)
    if expected is not None and type(payload) is not expected:
        msg = (
            f"{_kind_name(kind)} carries {expected.__name__}, "
            f"got {type(payload).__name__}"
        )
        raise TypeError(msg)
    body = b"" if payload is None else payload.SerializeToString()
    frame: bytes = pb.ConnectMessage(kind=kind, payload=body).SerializeToString()
    return frame


def decode(data: bytes) -> tuple[Kind, Message | None]:
    """The kind and the parsed payload of one frame.

    Signal-only kinds give ``None`` (a payload they carry anyway is ignored).
    Raises :class:`ConnectProtocolError` when ``data`` is not a
    ``ConnectMessage``, the kind is unknown, or the payload does not parse as
    the kind's message.
    """
    try:
        envelope = pb.ConnectMessage.FromString(data)
    except _PARSE_ERRORS as error:
        msg = f"not a Connect message ({len(data)} bytes): {error}"
        raise ConnectProtocolError(msg) from error
    kind = envelope.kind
    if kind not in PAYLOAD_CLASSES:
        msg = f"unknown Connect message kind {kind}"
        raise ConnectProtocolError(msg)
    cls = PAYLOAD_CLASSES[kind]
    if cls is None:
        return kind, None
    try:
        payload = cls.FromString(envelope.payload)
    except _PARSE_ERRORS as error:
        msg = (
            f"{_kind_name(kind)} payload is not a {cls.__name__} "
            f"({len(envelope.payload)} bytes): {error}"
        )
        raise ConnectProtocolError(msg) from error
    return kind, payload
