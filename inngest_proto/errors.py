"""The SDK's exceptions, by name, for the packages built on the core.

The user-facing ones are also exported from :mod:`inngest_proto`; the rest
(a malformed request body, a failed transport) are what a transport or a
framework front raises or answers.
"""

from __future__ import annotations

from ._errors import (
    BodyInvalidError,
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
    TransportError,
    ValidationError,
)

__all__ = [
    "BodyInvalidError",
    "ErrorCode",
    "InngestError",
    "LocalProtocolError",
    "NonRetriableError",
    "OutputDeserializationError",
    "OutputUnserializableError",
    "RemoteProtocolError",
    "RetryAfterError",
    "SendEventsError",
    "StepError",
    "TransportError",
    "ValidationError",
]
