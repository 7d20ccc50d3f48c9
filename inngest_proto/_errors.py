"""Errors, split the way h11 does it, plus the user-facing errors of the official SDK.

* :class:`LocalProtocolError`: this process misused the API or is misconfigured
  (a bad option, a missing signing key).  Raised to the caller, never sent.
* :class:`RemoteProtocolError`: the peer sent something we cannot accept (bad
  body, bad signature).  The comm handler turns these into error responses.
* :class:`NonRetriableError`, :class:`RetryAfterError`, :class:`StepError`: what
  user code raises or catches, with the official SDK's names and arguments.

Every SDK error has a ``code`` (an :class:`ErrorCode`, the official SDK's wire
error codes), and, as in the official SDK, ``name``, ``stack``,
``is_retriable`` and ``include_stack``.
"""

from __future__ import annotations

import datetime
import enum
import json
import traceback
from collections.abc import Sequence
from typing import Any, ClassVar, TypedDict

__all__ = [
    "BodyInvalidError",
    "BodyTooLargeError",
    "ErrorCode",
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
    "ValidationError",
]


class ErrorCode(str, enum.Enum):
    """The ``code`` of every SDK error, as it goes on the wire.

    The official SDK's members, with its values, plus the codes of errors
    only this SDK raises.  A ``str`` enum (the official one is a plain
    ``Enum``), so ``err.code == "step_errored"`` and
    ``err.code is ErrorCode.STEP_ERRORED`` both hold, and ``str()`` and JSON
    give the wire value.
    """

    ASYNC_UNSUPPORTED = "async_unsupported"
    BODY_INVALID = "body_invalid"
    EVENT_KEY_UNSPECIFIED = "event_key_unspecified"
    FUNCTION_CONFIG_INVALID = "function_config_invalid"
    FUNCTION_NOT_FOUND = "function_not_found"
    HEADER_MISSING = "header_missing"
    NON_RETRIABLE_ERROR = "non_retriable_error"
    OUTPUT_UNSERIALIZABLE = "output_unserializable"
    QUERY_PARAM_MISSING = "query_param_missing"
    REGISTRATION_FAILED = "registration_failed"
    RETRY_AFTER_ERROR = "retry_after_error"
    SEND_EVENT_FAILED = "send_event_failed"
    SERVER_KIND_MISMATCH = "server_kind_mismatch"
    SIGNING_KEY_UNSPECIFIED = "signing_key_unspecified"
    SIG_VERIFICATION_FAILED = "sig_verification_failed"
    STEP_ERRORED = "step_errored"
    STEP_NESTED = "step_nested"
    STEP_UNEXPECTED = "step_unexpected"
    UNKNOWN = "unknown"
    URL_INVALID = "url_invalid"
    # Only this SDK's.
    BODY_TOO_LARGE = "body_too_large"
    EXPRESSION_INVALID = "expression_invalid"
    OUTPUT_DESERIALIZATION_FAILED = "output_deserialization_failed"
    REALTIME_FAILED = "realtime_failed"
    SIGNING_KEY_INVALID = "signing_key_invalid"
    UNAUTHORIZED = "unauthorized"

    def __str__(self) -> str:
        # The wire value, as a plain ``str`` would print; also what format()
        # and f-strings give on every Python version.
        return self.value


class InngestError(Exception):
    """Base of every error this SDK raises.

    ``is_retriable`` says whether the run may be retried after it (the
    official SDK's flag; :class:`NonRetriableError` and :class:`StepError`
    say no); ``stack`` is the traceback text, or ``None`` when the class
    sets ``include_stack = False``.
    """

    code: ClassVar[ErrorCode] = ErrorCode.UNKNOWN
    include_stack: ClassVar[bool] = True
    is_retriable: ClassVar[bool] = True

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    @property
    def name(self) -> str:
        """The error's class name, as reported on the wire."""
        return type(self).__name__

    @property
    def stack(self) -> str | None:
        """The traceback as text (what the official SDK reports), if kept."""
        if not self.include_stack:
            return None
        return "".join(traceback.format_exception(type(self), self, self.__traceback__))


class LocalProtocolError(InngestError):
    """You used the API in a way it does not support, or the config is wrong."""


class RemoteProtocolError(InngestError):
    """The peer sent something this SDK cannot accept."""

    #: HTTP status the comm handler answers with.
    status: ClassVar[int] = 500


# --- configuration ----------------------------------------------------------


class SigningKeyMissingError(LocalProtocolError):
    code = ErrorCode.SIGNING_KEY_UNSPECIFIED


class InvalidSigningKeyError(LocalProtocolError):
    code = ErrorCode.SIGNING_KEY_INVALID


class EventKeyUnspecifiedError(LocalProtocolError):
    code = ErrorCode.EVENT_KEY_UNSPECIFIED


class FunctionConfigInvalidError(LocalProtocolError):
    """An option or function config is invalid.

    ``field`` names the offending field when one is to blame.
    """

    code = ErrorCode.FUNCTION_CONFIG_INVALID

    def __init__(self, message: str = "", *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# --- requests we reject -----------------------------------------------------


class SignatureVerificationError(RemoteProtocolError):
    code = ErrorCode.SIG_VERIFICATION_FAILED
    status = 401


class HeaderMissingError(SignatureVerificationError):
    code = ErrorCode.HEADER_MISSING


class SignatureExpiredError(SignatureVerificationError):
    """The signature's timestamp is outside the accepted window."""


class BodyInvalidError(RemoteProtocolError):
    code = ErrorCode.BODY_INVALID
    status = 400


class QueryParamMissingError(RemoteProtocolError):
    code = ErrorCode.QUERY_PARAM_MISSING


class FunctionNotFoundError(RemoteProtocolError):
    code = ErrorCode.FUNCTION_NOT_FOUND


class UnsupportedProbeError(RemoteProtocolError):
    code = ErrorCode.UNKNOWN


class BodyTooLargeError(RemoteProtocolError):
    """The request body is larger than the comm handler's ``max_body_bytes``."""

    code = ErrorCode.BODY_TOO_LARGE
    status = 413


class URLInvalidError(RemoteProtocolError):
    """The app URL to advertise at sync is not an absolute http(s) URL."""

    code = ErrorCode.URL_INVALID
    status = 400


class ServerKindMismatchError(RemoteProtocolError):
    code = ErrorCode.SERVER_KIND_MISMATCH
    status = 400


# --- errors in or around user code -------------------------------------------


class OutputUnserializableError(InngestError):
    code = ErrorCode.OUTPUT_UNSERIALIZABLE
    is_retriable = False


class OutputDeserializationError(InngestError):
    """A stored output does not fit the type the code now declares for it."""

    code = ErrorCode.OUTPUT_DESERIALIZATION_FAILED


class StepNestedError(InngestError):
    code = ErrorCode.STEP_NESTED


class StepUnexpectedError(InngestError):
    code = ErrorCode.STEP_UNEXPECTED
    include_stack = False


class SendEventsError(InngestError):
    """The Event API refused some events; ``ids`` holds those it accepted."""

    code = ErrorCode.SEND_EVENT_FAILED

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

    code = ErrorCode.NON_RETRIABLE_ERROR
    is_retriable = False

    def __init__(self, message: str | None = None, quiet: bool = False) -> None:
        super().__init__(message or "")
        self.quiet = quiet


class RetryAfterError(InngestError):
    """Raise to retry, but not before ``retry_after``.

    ``retry_after`` is milliseconds (``int``) or a ``timedelta`` from now, or
    an absolute ``datetime``.
    """

    code = ErrorCode.RETRY_AFTER_ERROR

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

    code = ErrorCode.STEP_ERRORED
    # Raised once the step has exhausted its retries.
    is_retriable = False

    def __init__(
        self,
        message: str,
        name: str,
        stack: str | None,
        data: Any = None,
    ) -> None:
        super().__init__(message)
        self._name = name
        self._stack = stack
        self.data = data

    @property
    def name(self) -> str:
        """The original error's name."""
        return self._name

    @property
    def stack(self) -> str | None:
        """The original error's stack, as the failed step reported it."""
        return self._stack

    def __str__(self) -> str:
        return f"{self.name}: {self.message}" if self.message else self.name


# --- invalid model values -----------------------------------------------------


class ErrorDetails(TypedDict):
    """One problem of a :class:`ValidationError`, shaped as pydantic's."""

    type: str
    loc: tuple[str | int, ...]
    msg: str
    input: Any


class ValidationError(ValueError, TypeError):
    """A model (``Event``, ``SendEventsResult``) got values it cannot hold.

    What the official SDK's pydantic models raise as
    ``pydantic.ValidationError``, with the same reading API: ``title`` (the
    model's name), ``errors()`` (a list of ``{type, loc, msg, input}``),
    ``error_count()`` and ``json()``.  Catch it instead of pydantic's.  A
    ``ValueError`` as pydantic's is, and a ``TypeError`` as this SDK's
    models raised for a wrongly typed value before.
    """

    def __init__(self, title: str, errors: Sequence[ErrorDetails]) -> None:
        self._title = title
        self._errors = [ErrorDetails(**error) for error in errors]
        super().__init__(self._render())

    @property
    def title(self) -> str:
        """The name of the model that refused the input."""
        return self._title

    def errors(
        self,
        *,
        include_url: bool = True,
        include_context: bool = True,
        include_input: bool = True,
    ) -> list[ErrorDetails]:
        """Each problem as ``{type, loc, msg, input}`` (``input`` optional).

        ``include_url`` and ``include_context`` are accepted for pydantic's
        signature; these errors carry neither.
        """
        del include_url, include_context
        if include_input:
            return [ErrorDetails(**error) for error in self._errors]
        return [
            {key: value for key, value in error.items() if key != "input"}  # type: ignore[misc]
            for error in self._errors
        ]

    def error_count(self) -> int:
        return len(self._errors)

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from title and errors (the message is derived from them).
        return (type(self), (self._title, self._errors))

    def json(self, *, indent: int | None = None, include_input: bool = True) -> str:
        """The errors as JSON text (inputs that are not JSON as their repr)."""
        return json.dumps(
            self.errors(include_input=include_input), indent=indent, default=repr
        )

    def _render(self) -> str:
        count = len(self._errors)
        lines = [
            f"{count} validation error{'s' if count != 1 else ''} for {self._title}"
        ]
        for error in self._errors:
            lines.append(".".join(str(part) for part in error["loc"]) or "(input)")
            value = error["input"]
            lines.append(
                f"  {error['msg']} [type={error['type']}, "
                f"input_value={value!r}, input_type={type(value).__name__}]"
            )
        return "\n".join(lines)
