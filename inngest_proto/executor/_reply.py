"""Reading the SDK's reply to a call request.

See docs/protocol/executor.rst#reading-the-reply and
docs/protocol/executor.rst#op-handling.

A reply becomes one of three outcomes: the function's output (200 and other
2xx), a list of ops (206), or a failed attempt with the error text the server
would record.  The retry headers are read here too, since a ``StepError`` op
obeys them as well as a failed attempt.

The retry headers can also fail a 2xx reply that is not 206, as the Inngest
server's driver does: ``X-Inngest-No-Retry: true`` makes it a failure that is
not retried (the JS SDK's connect worker answers a ``NonRetriableError``
with status ``DONE`` and ``no_retry``, which the gateway maps to 200), and a
readable ``Retry-After`` makes it a failure retried then.  So a failed run is
failed whatever the transport and the status code.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import attrs

from .. import _json
from .._converter import structure
from .._http_values import OutboundResponse, normalize_headers
from .._opcodes import Opcode, StepOp
from ._timing import parse_retry_after

__all__ = [
    "MAX_DATA_DEPTH",
    "MAX_REPLY_BYTES",
    "MAX_STEP_DATA_BYTES",
    "AttemptFailed",
    "FunctionOutput",
    "NestedTooDeep",
    "Reply",
    "StepOps",
    "StepTooLarge",
    "kept_body",
    "parse_op_list",
    "parse_ops",
    "parse_storable",
    "read_reply",
]

#: The error text of a 2xx reply without ``X-Inngest-SDK``.
NOT_SDK = "NOT_SDK: The response did not come from an Inngest SDK"
#: The error text of a failure the SDK said not to retry (the server's).
NON_RETRIABLE = "NonRetriableError"
#: The error text of a 2xx reply that asked to be retried later (the server's).
RETRY_AT = "retry at"
_PARTIAL = 206
_STREAMED = 201
_MAX_OPS = 1000
#: Most digits of a request version read (more are no version).
_MAX_DIGITS = 18
#: A reply body above this fails the attempt (docs/protocol/executor.rst#limits).
MAX_REPLY_BYTES = 8 * 1024 * 1024
#: One step's output (or input) above this makes the ops unparsable.
MAX_STEP_DATA_BYTES = 4 * 1024 * 1024
#: The real server's error code for an oversized reply.
OUTPUT_TOO_LARGE = "output_too_large"
#: How deep objects and arrays may nest in what the dev server stores: an
#: event's data, a step's output, a function's output (``{}`` is one level).
#: Inngest's decoder allows 10,000; Python's JSON, cattrs and CEL recurse
#: (a few frames a level, against a limit of 1,000 frames), so the dev server
#: refuses deeper values where they come in rather than fail to save them.
MAX_DATA_DEPTH = 100
#: The error of an attempt whose output nests deeper than that.
OUTPUT_TOO_DEEP = (
    f"output_too_deep: the output nests deeper than the {MAX_DATA_DEPTH} levels"
    " of objects and arrays the dev server stores"
)
# How much deeper than the data an op's fields may nest: an invoke's data is
# in ``opts.payload.data``.
_OP_FIELD_DEPTHS = {
    "data": MAX_DATA_DEPTH,
    "error": MAX_DATA_DEPTH,
    "opts": MAX_DATA_DEPTH + 2,
    "userland": MAX_DATA_DEPTH,
}
# The server matches opcode strings case-insensitively.  StepNotFound exists
# only in the TS SDK's enum: the server has no such op, and a reply carrying
# it is unparsable.
_OPCODES = {op.value.lower(): op for op in Opcode if op is not Opcode.STEP_NOT_FOUND}


@attrs.frozen
class FunctionOutput:
    value: Any


@attrs.frozen
class StepOps:
    ops: tuple[StepOp, ...]


@attrs.frozen
class AttemptFailed:
    #: The executor's error string (``invalid status code: 500``, ...).
    error: str
    #: The reply body (parsed JSON, else text); ``None`` without a body.
    body: Any = None


Outcome: TypeAlias = FunctionOutput | StepOps | AttemptFailed


@attrs.frozen
class Reply:
    outcome: Outcome
    #: ``X-Inngest-No-Retry``: ``True``/``False`` when sent, else ``None``.
    no_retry: bool | None
    retry_after: str | None
    request_version: int | None


def read_reply(response: OutboundResponse) -> Reply:
    status, headers, body = response.status, dict(response.headers), response.body
    if status == _STREAMED:
        status, headers, body = _unwrap_stream(headers, body)
    no_retry_header = headers.get("x-inngest-no-retry")
    no_retry = None if no_retry_header is None else no_retry_header.lower() == "true"
    version = _request_version(headers.get("x-inngest-req-version", ""))
    retry_after = headers.get("retry-after")
    outcome = _outcome(status, headers, body)
    if isinstance(outcome, FunctionOutput):
        # Only an answer that is not 206 can be failed by its headers: the
        # server reads a 206's headers for its StepError ops alone.
        if no_retry:
            outcome = AttemptFailed(NON_RETRIABLE, outcome.value)
        elif parse_retry_after(retry_after, 0.0) is not None:
            outcome = AttemptFailed(RETRY_AT, outcome.value)
    return Reply(
        outcome=outcome,
        no_retry=no_retry,
        retry_after=retry_after,
        request_version=version,
    )


def _request_version(value: str) -> int | None:
    # int() would raise for "--1", for digits that are not ASCII ("\u00b2",
    # which a Latin-1 header can hold) and past 4,300 digits.
    digits = value.removeprefix("-")
    if not (digits.isascii() and digits.isdigit() and len(digits) <= _MAX_DIGITS):
        return None
    return int(value)


def _outcome(status: int, headers: dict[str, str], body: bytes) -> Outcome:
    if len(body) > MAX_REPLY_BYTES:
        # Not parsed (nor kept): the point of the limit is to not hold it.
        return AttemptFailed(OUTPUT_TOO_LARGE)
    if not 200 <= status < 300:
        return AttemptFailed(f"invalid status code: {status}", kept_body(body))
    if "x-inngest-sdk" not in headers:
        # A proxy or a framework error page answered, not the SDK: retry.
        return AttemptFailed(NOT_SDK, kept_body(body))
    if status != _PARTIAL:
        try:
            return FunctionOutput(_loose_json(body))
        except NestedTooDeep:
            return AttemptFailed(OUTPUT_TOO_DEEP)
    try:
        return StepOps(parse_ops(body))
    except ValueError as err:
        return AttemptFailed(f"invalid opcodes: {err}", kept_body(body))


class NestedTooDeep(ValueError):
    """JSON nesting deeper than :data:`MAX_DATA_DEPTH`."""


def parse_storable(body: bytes) -> Any:
    """A JSON body as the dev server may store it: lone surrogates read as
    U+FFFD (as Go's decoder does), so SQLite and hashes can encode it.

    Raises :class:`NestedTooDeep` past :data:`MAX_DATA_DEPTH` levels, and
    ``ValueError`` (or ``UnicodeDecodeError``) if it is not JSON.
    """
    try:
        value = _json.loads_replacing_surrogates(body)
    except RecursionError:  # far deeper: the parser itself gave up
        value = None
    else:
        if not _json.deeper_than(value, MAX_DATA_DEPTH):
            return value
    msg = f"nested deeper than the {MAX_DATA_DEPTH} levels the dev server stores"
    raise NestedTooDeep(msg)


def _loose_json(body: bytes) -> Any:
    """Parsed JSON, or the text itself when it is not JSON (as the server
    keeps it); ``None`` without a body.  Raises :class:`NestedTooDeep`."""
    if not body:
        return None
    try:
        return parse_storable(body)
    except NestedTooDeep:
        raise
    except ValueError:
        return body.decode("utf-8", errors="replace")


def kept_body(body: bytes) -> Any:
    """A failed attempt's body as kept: parsed as the dev server may store
    it, else its text; ``None`` without a body."""
    try:
        return _loose_json(body)
    except NestedTooDeep:
        return body.decode("utf-8", errors="replace")


def parse_ops(body: bytes) -> tuple[StepOp, ...]:
    """The ops of a 206 body; raises :class:`ValueError` naming the problem."""
    try:
        raw = _json.loads_replacing_surrogates(body)  # empty bodies fail here
    except RecursionError:
        msg = f"the ops nest deeper than the {MAX_DATA_DEPTH} levels allowed"
        raise ValueError(msg) from None
    if isinstance(raw, dict):
        raw = [raw]  # legacy SDKs answer a single op object
    if not isinstance(raw, list):
        msg = f"expected an array of ops, got {_json.json_type(raw)}"
        raise ValueError(msg)
    if not raw:
        return (StepOp(id="", op=Opcode.NONE, name="", display_name=""),)
    # Only a body this large can hold a step this large: the common case
    # never re-serializes anything.
    return parse_op_list(raw, check_sizes=len(body) > MAX_STEP_DATA_BYTES)


def parse_op_list(raw: list[Any], *, check_sizes: bool = True) -> tuple[StepOp, ...]:
    """Parsed ops of a JSON array; raises :class:`ValueError` naming the problem.

    With ``check_sizes``, an op whose data is over :data:`MAX_STEP_DATA_BYTES`
    raises :class:`StepTooLarge`.
    """
    if len(raw) > _MAX_OPS:
        msg = f"{len(raw)} ops in one reply, more than the {_MAX_OPS} allowed"
        raise ValueError(msg)
    ops = tuple(_parse_op(item, index) for index, item in enumerate(raw))
    if check_sizes:
        for index, op in enumerate(ops):
            size = len(_json.dumps_compact(op.data))
            if size > MAX_STEP_DATA_BYTES:
                msg = (
                    f"op {index} ({op.id}) carries {size} bytes of data, more than"
                    f" the {MAX_STEP_DATA_BYTES} allowed per step"
                )
                raise StepTooLarge(msg)
    return ops


class StepTooLarge(ValueError):
    """A step's data is over the per-step limit."""


def _parse_op(item: Any, index: int) -> StepOp:
    if not isinstance(item, dict):
        msg = f"op {index} is {_json.json_type(item)}, not an object"
        raise ValueError(msg)
    op_name = item.get("op")
    opcode = _OPCODES.get(op_name.lower()) if isinstance(op_name, str) else None
    if opcode is None:
        msg = f"op {index} has unknown opcode {op_name!r}"
        raise ValueError(msg)
    if not isinstance(item.get("id"), str):
        msg = f"op {index} has no string id"
        raise ValueError(msg)
    if opcode is Opcode.STEP_ERROR and not isinstance(item.get("error"), dict):
        msg = f"op {index} is a StepError without an error object"
        raise ValueError(msg)
    for field, depth in _OP_FIELD_DEPTHS.items():
        if _json.deeper_than(item.get(field), depth):
            msg = (
                f"op {index} ({item['id']}) has {field} nested deeper than the"
                f" {MAX_DATA_DEPTH} levels allowed"
            )
            raise ValueError(msg)
    try:
        return structure({**item, "op": opcode.value}, StepOp)
    except (KeyError, TypeError, ValueError) as err:
        msg = f"op {index} is malformed: {err}"
        raise ValueError(msg) from None


def _unwrap_stream(
    headers: dict[str, str], body: bytes
) -> tuple[int, dict[str, str], bytes]:
    """A streamed reply's real status, headers and body.

    See docs/protocol/http.rst#streaming.

    The keepalive spaces before the wrapper are JSON whitespace.
    """
    try:
        wrapper = _json.loads(body)
    except (ValueError, RecursionError):
        return 500, headers, body
    if not isinstance(wrapper, dict) or not isinstance(wrapper.get("status"), int):
        return 500, headers, body
    inner = wrapper.get("body")
    if isinstance(inner, str):
        inner_body = inner.encode()
    else:
        inner_body = b"" if inner is None else _json.dumps_compact(inner)
    extra = wrapper.get("headers")
    if isinstance(extra, dict):
        headers = {
            **headers,
            **normalize_headers({str(k): str(v) for k, v in extra.items()}),
        }
    return wrapper["status"], headers, inner_body
