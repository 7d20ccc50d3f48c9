"""A sans-IO Inngest SDK: the protocol core, with the official SDK's public API.

Import it as the official SDK is imported::

    import inngest_proto as inngest

    client = inngest.Inngest(app_id="my-app")

    @client.create_function(
        fn_id="hello", trigger=inngest.TriggerEvent(event="app/hello")
    )
    async def hello(ctx: inngest.Context) -> str:
        return await ctx.step.run("greet", lambda: "hi")

Serving it (``inngest_frameworks``) and reaching Inngest (``inngest_transports``)
are separate packages; this one performs no I/O.
"""

from __future__ import annotations

import enum
from typing import Any

from ._checkpointing import Checkpointing
from ._client import Inngest
from ._comm import CommHandler, Framework
from ._context import Context, ContextSync
from ._errors import (
    ErrorCode,
    InngestError,
    LocalProtocolError,
    NonRetriableError,
    OutputDeserializationError,
    OutputUnserializableError,
    RemoteProtocolError,
    RetryAfterError,
    SendEventsError,
    StepError,
    ValidationError,
)
from ._events import Event, SendEventsResult
from ._function import Function
from ._http_values import IncomingRequest, OutboundRequest, OutboundResponse, Response
from ._logging import ReplayFilter
from ._memos import MemoizedError, StepMemo, StepMemos
from ._middleware import (
    Middleware,
    MiddlewareSync,
    TransformOutputResult,
    TransformOutputStepInfo,
)
from ._opcodes import Opcode, ParallelMode
from ._options import (
    Batch,
    Cancel,
    Concurrency,
    Debounce,
    Priority,
    RateLimit,
    Singleton,
    Throttle,
    Timeouts,
    TriggerCron,
    TriggerEvent,
)
from ._serializer import DefaultSerializer, PydanticSerializer, Serializer
from ._steps import Group, GroupSync, Step, StepSync
from ._transport import Transport
from ._typed_events import EventType, TypedEvent
from ._version import __version__

#: Any JSON value.
JSON = Any


class Streaming(enum.Enum):
    """``serve(streaming=...)``: answer calls as a streamed 201 with keepalives."""

    DISABLE = "disable"
    FORCE = "force"


__all__ = [
    "JSON",
    "Batch",
    "Cancel",
    "Checkpointing",
    "CommHandler",
    "Concurrency",
    "Context",
    "ContextSync",
    "Debounce",
    "DefaultSerializer",
    "ErrorCode",
    "Event",
    "EventType",
    "Framework",
    "Function",
    "Group",
    "GroupSync",
    "IncomingRequest",
    "Inngest",
    "InngestError",
    "LocalProtocolError",
    "MemoizedError",
    "Middleware",
    "MiddlewareSync",
    "NonRetriableError",
    "Opcode",
    "OutboundRequest",
    "OutboundResponse",
    "OutputDeserializationError",
    "OutputUnserializableError",
    "ParallelMode",
    "Priority",
    "PydanticSerializer",
    "RateLimit",
    "RemoteProtocolError",
    "ReplayFilter",
    "Response",
    "RetryAfterError",
    "SendEventsError",
    "SendEventsResult",
    "Serializer",
    "Singleton",
    "Step",
    "StepError",
    "StepMemo",
    "StepMemos",
    "StepSync",
    "Streaming",
    "Throttle",
    "Timeouts",
    "TransformOutputResult",
    "TransformOutputStepInfo",
    "Transport",
    "TriggerCron",
    "TriggerEvent",
    "TypedEvent",
    "ValidationError",
    "__version__",
]
