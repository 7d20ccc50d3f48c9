"""Middleware: hooks around a call request, with the official SDK's names.

Order within one call request (the spec's order):
``transform_input`` -> ``before_memoization`` -> (replay) -> ``after_memoization``
-> ``before_execution`` -> (new code) -> ``after_execution`` ->
``transform_output`` -> ``before_response``.  ``before_send_events`` and
``after_send_events`` wrap every ``client.send`` (the client's middleware)
and every ``step.send_event`` (the call request's: the client's and the
function's).  The memoization hooks come from the
TypeScript SDK; the official Python SDK lacks them, and they default to no-ops.

A middleware is given as a factory ``(client, raw_request) -> instance`` (a
class works); a fresh instance serves each request.  Once the factory returns,
the instance's read-only ``request_headers`` holds the call request's HTTP
headers (names lower-cased), e.g. for a W3C ``traceparent``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ._errors import LocalProtocolError
from ._opcodes import Opcode

if TYPE_CHECKING:
    from ._client import Inngest
    from ._context import Context, ContextSync
    from ._events import Event
    from ._function import Function
    from ._server_timing import ServerTimings

__all__ = [
    "Middleware",
    "MiddlewareManager",
    "MiddlewareSync",
    "TransformOutputResult",
    "TransformOutputStepInfo",
    "UninitializedMiddleware",
]


# Plain dataclasses, as the official SDK's: middleware written for it may
# inspect these with ``vars()``, ``dataclasses.asdict`` or ``fields``.


@dataclasses.dataclass
class TransformOutputStepInfo:
    """The step a :class:`TransformOutputResult` is about.

    ``op`` is an :class:`Opcode` (a ``str`` enum: it also equals its wire
    value).  Changing these fields changes nothing, as in the official SDK;
    the invoke's ``opts`` dict may be changed in place.
    """

    id: str
    op: Opcode
    opts: dict[str, Any] | None


@dataclasses.dataclass
class TransformOutputResult:
    """What a function or step produced; middleware may replace ``output``."""

    error: BaseException | None
    output: Any
    step: TransformOutputStepInfo | None = None

    def has_output(self) -> bool:
        return self.error is None


#: What ``request_headers`` gives before (or without) a request: nothing.
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


# Middleware and MiddlewareSync each hold their few shared lines (the headers,
# __init__) rather than inherit them from a common base: users subclass these,
# and a user's middleware should inherit code through one class only.


class Middleware:
    """Async middleware: override the hooks you need."""

    # Set by MiddlewareManager.create right after the factory returns, so a
    # user's factory keeps the official ``(client, raw_request)`` signature.
    _inngest_request_headers: Mapping[str, str] = _NO_HEADERS

    def __init__(self, client: Inngest, raw_request: object) -> None:
        self.client = client
        self.raw_request = raw_request

    @property
    def request_headers(self) -> Mapping[str, str]:
        """The call request's HTTP headers, names lower-cased; read-only.

        Filled once the factory has returned (so not yet inside
        ``__init__``); empty for middleware built for ``client.send`` or when
        the host passed no headers.
        """
        return self._inngest_request_headers

    async def transform_input(
        self, ctx: Context | ContextSync, function: Function[Any], steps: Any
    ) -> None:
        """Before the function runs; may change ``ctx`` in place."""

    async def before_memoization(self) -> None:
        """Before memoized steps are replayed."""

    async def after_memoization(self) -> None:
        """Once every memoized step has been replayed."""

    async def before_execution(self) -> None:
        """Before new (not memoized) code runs."""

    async def after_execution(self) -> None:
        """After new code ran (a step handler or the function's end)."""

    async def transform_output(self, result: TransformOutputResult) -> None:
        """After a function or step returns; may set ``result.output``."""

    async def before_response(self) -> None:
        """Right before the response is sent back to Inngest."""

    async def before_send_events(self, events: list[Event]) -> None:
        """Before events are sent; may change them in place."""

    async def after_send_events(self, result: Any) -> None:
        """After events were sent."""


class MiddlewareSync:
    """Sync middleware: usable by sync and async functions alike."""

    # Set by MiddlewareManager.create right after the factory returns, so a
    # user's factory keeps the official ``(client, raw_request)`` signature.
    _inngest_request_headers: Mapping[str, str] = _NO_HEADERS

    def __init__(self, client: Inngest, raw_request: object) -> None:
        self.client = client
        self.raw_request = raw_request

    @property
    def request_headers(self) -> Mapping[str, str]:
        """The call request's HTTP headers, names lower-cased; read-only.

        Filled once the factory has returned (so not yet inside
        ``__init__``); empty for middleware built for ``client.send`` or when
        the host passed no headers.
        """
        return self._inngest_request_headers

    def transform_input(
        self, ctx: Context | ContextSync, function: Function[Any], steps: Any
    ) -> None:
        """Before the function runs; may change ``ctx`` in place."""

    def before_memoization(self) -> None:
        """Before memoized steps are replayed."""

    def after_memoization(self) -> None:
        """Once every memoized step has been replayed."""

    def before_execution(self) -> None:
        """Before new (not memoized) code runs."""

    def after_execution(self) -> None:
        """After new code ran (a step handler or the function's end)."""

    def transform_output(self, result: TransformOutputResult) -> None:
        """After a function or step returns; may set ``result.output``."""

    def before_response(self) -> None:
        """Right before the response is sent back to Inngest."""

    def before_send_events(self, events: list[Event]) -> None:
        """Before events are sent; may change them in place."""

    def after_send_events(self, result: Any) -> None:
        """After events were sent."""


UninitializedMiddleware = Callable[[Any, object], Middleware | MiddlewareSync]

#: Every hook name, in call order (tests check both bases define them).
HOOKS = (
    "transform_input",
    "before_memoization",
    "after_memoization",
    "before_execution",
    "after_execution",
    "transform_output",
    "before_response",
    "before_send_events",
    "after_send_events",
)


#: Hooks that run in reverse middleware order.
_UNWINDING = frozenset({"after_execution", "after_send_events", "transform_output"})


class MiddlewareManager:
    """Calls a request's middleware in order; async and sync fronts."""

    __slots__ = ("_items", "_timings")

    def __init__(
        self,
        items: Sequence[Middleware | MiddlewareSync],
        timings: ServerTimings | None = None,
    ) -> None:
        self._items = tuple(items)
        self._timings = timings

    def timed(self, timings: ServerTimings | None) -> MiddlewareManager:
        """This request's middleware, each hook's time recorded in ``timings``."""
        if timings is None or not self._items:
            return self
        return MiddlewareManager(self._items, timings)

    @classmethod
    def create(
        cls,
        factories: Sequence[UninitializedMiddleware],
        client: Any,
        raw_request: object,
        request_headers: Mapping[str, str] | None = None,
    ) -> MiddlewareManager:
        """One fresh instance per factory, for one request.

        ``request_headers`` (any case; stored lower-cased) become each
        instance's read-only ``request_headers``.
        """
        if not factories:
            return _NONE  # the usual case: nothing to build, one shared empty
        headers: Mapping[str, str] = _NO_HEADERS
        if request_headers:
            headers = MappingProxyType(
                {name.lower(): value for name, value in request_headers.items()}
            )
        items = []
        for factory in factories:
            item = factory(client, raw_request)
            if not isinstance(item, Middleware | MiddlewareSync):
                msg = (
                    f"middleware {factory!r} built {type(item).__name__}; "
                    "subclass inngest.Middleware or inngest.MiddlewareSync"
                )
                raise LocalProtocolError(msg)
            item._inngest_request_headers = headers
            items.append(item)
        return cls(items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def _in_order(self, hook: str) -> tuple[Middleware | MiddlewareSync, ...]:
        # Like nested wrappers: the first middleware sees the input first and
        # the output last, as in the official SDK.
        return self._items[::-1] if hook in _UNWINDING else self._items

    async def call(self, hook: str, *args: Any) -> None:
        timings = self._timings
        started = 0.0 if timings is None else timings.now()
        try:
            for item in self._in_order(hook):
                result = getattr(item, hook)(*args)
                if isinstance(item, Middleware):
                    await result
        finally:
            if timings is not None:
                timings.middleware_ran(hook, started)

    def call_sync(self, hook: str, *args: Any) -> None:
        timings = self._timings
        started = 0.0 if timings is None else timings.now()
        try:
            for item in self._in_order(hook):
                if isinstance(item, Middleware):
                    msg = (
                        f"{type(item).__name__} is async middleware and cannot "
                        "run with a sync function; use inngest.MiddlewareSync"
                    )
                    raise LocalProtocolError(msg)
                getattr(item, hook)(*args)
        finally:
            if timings is not None:
                timings.middleware_ran(hook, started)


#: The manager of a request without middleware (immutable: safe to share).
_NONE = MiddlewareManager(())
