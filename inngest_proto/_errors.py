"""Errors, split the way h11 does it, plus the user-facing errors of the official SDK.

* :class:`LocalProtocolError`: this process misused the API or is misconfigured
  (a bad option, a missing signing key).  Raised to the caller, never sent.
* :class:`RemoteProtocolError`: the peer sent something we cannot accept (bad
  body, bad signature).  The comm handler turns these into error responses.
* :class:`NonRetriableError`, :class:`RetryAfterError`, :class:`StepError`: what
  user code raises or catches, with the official SDK's names and arguments.

Every SDK error has a ``code`` matching the official SDK's wire error codes.
"""

from __future__ import annotations

import datetime
from typing import Any, ClassVar

__all__ = [
    "BodyInvalidError",
    "BodyTooLargeError",
    "EventKeyUnspecifiedError",
    "FunctionConfigInvalidError",
    "FunctionNotFoundError",
    "HeaderMissingError",
    "InngestError",
    "InvalidSigningKeyError",
    "LocalProtocolError",
    "NonRetriableError",
    "OutputDeserializationError",
    "OutputUnserializableError",
    "QueryParamMissingError",
    "RemoteProtocolError",
    "RetryAfterError",
    "SendEventsError",
    "ServerKindMismatchError",
    "SignatureExpiredError",
    "SignatureVerificationError",
    "SigningKeyMissingError",
    "StepError",
    "StepNestedError",
    "StepUnexpectedError",
    "TransportError",
    "URLInvalidError",
    "UnsupportedProbeError",
]


class InngestError(Exception):
    """Base of every error this SDK raises."""

    code: ClassVar[str] = "unknown"

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class LocalProtocolError(InngestError):
    """You used the API in a way it does not support, or the config is wrong."""


class RemoteProtocolError(InngestError):
    """The peer sent something this SDK cannot accept."""

    #: HTTP status the comm handler answers with.
    status: ClassVar[int] = 500


# --- configuration ----------------------------------------------------------


class SigningKeyMissingError(LocalProtocolError):
    code = "signing_key_unspecified"


class InvalidSigningKeyError(LocalProtocolError):
    code = "signing_key_invalid"


class EventKeyUnspecifiedError(LocalProtocolError):
    code = "event_key_unspecified"


class FunctionConfigInvalidError(LocalProtocolError):
    code = "function_config_invalid"


# --- requests we reject -----------------------------------------------------


class SignatureVerificationError(RemoteProtocolError):
    code = "sig_verification_failed"
    status = 401


class HeaderMissingError(SignatureVerificationError):
    code = "header_missing"


class SignatureExpiredError(SignatureVerificationError):
    """The signature's timestamp is outside the accepted window."""


class BodyInvalidError(RemoteProtocolError):
    code = "body_invalid"
    status = 400


class QueryParamMissingError(RemoteProtocolError):
    code = "query_param_missing"


class FunctionNotFoundError(RemoteProtocolError):
    code = "function_not_found"


class UnsupportedProbeError(RemoteProtocolError):
    code = "unknown"


class BodyTooLargeError(RemoteProtocolError):
    """The request body is larger than the comm handler's ``max_body_bytes``."""

    code = "body_too_large"
    status = 413


class URLInvalidError(RemoteProtocolError):
    """The app URL to advertise at sync is not an absolute http(s) URL."""

    code = "url_invalid"
    status = 400


class ServerKindMismatchError(RemoteProtocolError):
    code = "server_kind_mismatch"
    status = 400


# --- errors in or around user code -------------------------------------------


class OutputUnserializableError(InngestError):
    code = "output_unserializable"


class OutputDeserializationError(InngestError):
    """A stored output does not fit the type the code now declares for it."""

    code = "output_deserialization_failed"


class StepNestedError(InngestError):
    code = "step_nested"


class StepUnexpectedError(InngestError):
    code = "step_unexpected"


class SendEventsError(InngestError):
    """The Event API refused some events; ``ids`` holds those it accepted."""

    code = "send_event_failed"

    def __init__(self, message: str, ids: list[str] | None = None) -> None:
        super().__init__(message)
        self.ids = list(ids or [])


class TransportError(InngestError):
    """No attempt at a request got an HTTP reply (raised by transports).

    ``url`` and ``method`` name the request, ``attempts`` is how many were
    made, ``last_error`` is the final underlying error (also ``__cause__``).
    """

    def __init__(
        self,
        message: str,
        *,
        url: str,
        method: str,
        attempts: int,
        last_error: BaseException,
    ) -> None:
        super().__init__(message)
        self.url = url
        self.method = method
        self.attempts = attempts
        self.last_error = last_error


class NonRetriableError(InngestError):
    """Raise to fail the run now, without further retries."""

    code = "non_retriable_error"

    def __init__(self, message: str | None = None, quiet: bool = False) -> None:
        super().__init__(message or "")
        self.quiet = quiet


class RetryAfterError(InngestError):
    """Raise to retry, but not before ``retry_after``.

    ``retry_after`` is milliseconds (``int``) or a ``timedelta`` from now, or
    an absolute ``datetime``.
    """

    code = "retry_after_error"

    def __init__(
        self,
        message: str | None,
        retry_after: int | datetime.timedelta | datetime.datetime,
        quiet: bool = False,
    ) -> None:
        super().__init__(message or "")
        if isinstance(retry_after, bool) or not isinstance(
            retry_after, int | datetime.timedelta | datetime.datetime
        ):
            msg = "retry_after must be milliseconds (int), a timedelta or a datetime"
            raise TypeError(msg)
        self.retry_after = retry_after
        self.quiet = quiet


class StepError(InngestError):
    """A step failed for good; raised when its memoized error is replayed.

    Catch it to recover; left uncaught it fails the run without retries.
    ``name``, ``message`` and ``stack`` are those of the original error.
    """

    code = "step_errored"

    def __init__(
        self,
        message: str,
        name: str,
        stack: str | None,
        data: Any = None,
    ) -> None:
        super().__init__(message)
        self.name = name
        self.stack = stack
        self.data = data

    def __str__(self) -> str:
        return f"{self.name}: {self.message}" if self.message else self.name
