"""A function: its options, its handler (and on-failure handler), and how to run it."""

from __future__ import annotations

import datetime
import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._call_request import CallRequest
from ._checkpointing import Checkpointer
from ._context import Context, ContextSync
from ._engine import (
    INTERRUPTS,
    Execution,
    FunctionFailed,
    FunctionReturned,
    Outcome,
    failure_outcome,
    interrupted_outcome,
)
from ._errors import FunctionConfigInvalidError
from ._function_config import FunctionConfig, FunctionOptions, failure_function_id
from ._logging import LoggingRun, ReplaySafeLogger, RunLog
from ._memos import StepMemos
from ._middleware import (
    MiddlewareManager,
    TransformOutputResult,
    UninitializedMiddleware,
)
from ._opcodes import error_body
from ._serializer import declared_output_type, to_wire
from ._step_context import BoundStep
from ._steps import Group, GroupSync, Step, StepSync

if TYPE_CHECKING:
    from ._client import Inngest
    from ._server_timing import ServerTimings

__all__ = [
    "Function",
    "FunctionHandler",
    "is_async_handler",
    "run_handler",
    "run_handler_sync",
]

T = TypeVar("T")

FunctionHandler = Callable[[Context], Awaitable[T]] | Callable[[ContextSync], T]


def _check_handler(handler: object, what: str) -> None:
    if not callable(handler):
        msg = f"{what} must be a function taking ctx, got {type(handler).__name__}"
        raise FunctionConfigInvalidError(msg)


class Function(Generic[T]):
    """A durable function, as returned by ``client.create_function(...)(handler)``."""

    def __init__(
        self,
        *,
        app_id: str,
        fn_id: str,
        handler: FunctionHandler[T],
        triggers: Sequence[Any],
        name: str | None = None,
        on_failure: FunctionHandler[Any] | None = None,
        middleware: Sequence[UninitializedMiddleware] = (),
        output_type: object = None,
        **options: Any,
    ) -> None:
        _check_handler(handler, "the function handler")
        if on_failure is not None:
            _check_handler(on_failure, "on_failure")
        self._options = FunctionOptions(
            fn_id=fn_id, triggers=list(triggers), name=name, **options
        )
        self._app_id = app_id
        self._handler = handler
        self._on_failure = on_failure
        self.middleware = list(middleware)
        self.output_type = output_type
        self.id = f"{app_id}-{fn_id}"
        self.on_failure_fn_id = (
            failure_function_id(app_id, fn_id) if on_failure is not None else None
        )

    @property
    def local_id(self) -> str:
        """The id given to ``create_function`` (without the app id)."""
        return self._options.fn_id

    @property
    def name(self) -> str:
        return self._options.display_name

    @property
    def options(self) -> FunctionOptions:
        return self._options

    @property
    def is_handler_async(self) -> bool:
        return is_async_handler(self._handler)

    @property
    def is_on_failure_handler_async(self) -> bool | None:
        return None if self._on_failure is None else is_async_handler(self._on_failure)

    def get_id(self) -> str:
        return self.id

    @property
    def declared_output_type(self) -> object:
        """``output_type=``, else the handler's return annotation (or ``None``)."""
        if self.output_type is not None:
            return self.output_type
        return declared_output_type(self._handler)

    def output_type_of(self, handler: Callable[..., Any]) -> object:
        """The type that ``handler``'s output is serialized as."""
        if handler is self._handler:
            return self.declared_output_type
        return declared_output_type(handler)

    def get_configs(self, serve_url: str) -> list[FunctionConfig]:
        """Configs to sync: this function's and its failure handler's."""
        return self._options.to_configs(
            app_id=self._app_id,
            serve_url=serve_url,
            has_on_failure=self._on_failure is not None,
        )

    def handlers(self) -> dict[str, Callable[..., Any]]:
        """Composite id -> handler, for every function id this object serves."""
        out: dict[str, Callable[..., Any]] = {self.id: self._handler}
        if self._on_failure is not None and self.on_failure_fn_id is not None:
            out[self.on_failure_fn_id] = self._on_failure
        return out

    def __repr__(self) -> str:
        return f"<Function {self.id}>"


def is_async_handler(handler: object) -> bool:
    """Whether calling ``handler`` returns an awaitable (``async def``)."""
    try:
        return _is_async(handler)
    except TypeError:  # an unhashable callable object
        return _inspect_async(handler)


def _inspect_async(handler: object) -> bool:
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004 - async callable objects
    )


#: Asked on every call request; handlers live as long as the app.
_is_async = functools.lru_cache(maxsize=1024)(_inspect_async)


def _run_log(
    function: Function[Any],
    handler: Callable[..., Any],
    request: CallRequest,
    exe: Execution,
) -> RunLog:
    fn_id = function.id
    if handler is not function._handler and function.on_failure_fn_id is not None:
        fn_id = function.on_failure_fn_id
    return RunLog(
        exe, run_id=request.ctx.run_id, function_id=fn_id, attempt=request.ctx.attempt
    )


def _context_fields(
    request: CallRequest, client: Inngest, run: RunLog
) -> dict[str, Any]:
    """What ``Context`` and ``ContextSync`` share: everything but the step API."""
    return {
        "attempt": request.ctx.attempt,
        "event": request.event,
        "events": list(request.events),
        "job_id": request.ctx.job_id,
        "logger": ReplaySafeLogger(client.logger, run),
        "request_id": request.ctx.request_id,
        "run_id": request.ctx.run_id,
        "max_attempts": request.ctx.max_attempts,
    }


def _context(
    request: CallRequest,
    exe: Execution,
    client: Inngest,
    mw: MiddlewareManager,
    run: RunLog,
) -> Context:
    return Context(
        group=Group(exe),
        step=Step(exe, client, mw),
        **_context_fields(request, client, run),
    )


def _context_sync(
    request: CallRequest,
    exe: Execution,
    client: Inngest,
    mw: MiddlewareManager,
    run: RunLog,
) -> ContextSync:
    return ContextSync(
        group=GroupSync(exe),
        step=StepSync(exe, client, mw),
        **_context_fields(request, client, run),
    )


async def run_handler(
    function: Function[Any],
    handler: Callable[..., Any],
    request: CallRequest,
    *,
    client: Inngest,
    mw: MiddlewareManager,
    target: str | None,
    now: datetime.datetime,
    memos: Mapping[str, Any],
    timings: ServerTimings | None = None,
) -> Outcome:
    """Run an async handler for one call request.  A sync handler runs inline."""
    if not is_async_handler(handler):
        return run_handler_sync(
            function,
            handler,
            request,
            client=client,
            mw=mw,
            target=target,
            now=now,
            memos=memos,
            timings=timings,
        )
    if mw:
        memos = StepMemos.from_raw(memos)
    exe = Execution(request, target=target, now=now, memos=memos)
    exe.checkpointer = Checkpointer.for_call(client, request, target)
    run = _run_log(function, handler, request, exe)
    ctx = _context(request, exe, client, mw, run)
    with LoggingRun(run), BoundStep(ctx.step):
        outcome = await _drive(
            function, handler, ctx, exe, client, mw, memos, now, timings
        )
        if exe.checkpointer is not None:
            # Saved before the call is answered: the answer's next call
            # must find every step this one ran.
            outcome = await exe.checkpointer.finish(outcome)
    return outcome


async def _drive(  # noqa: PLR0917 - the call's whole state
    function: Function[Any],
    handler: Callable[..., Any],
    ctx: Context,
    exe: Execution,
    client: Inngest,
    mw: MiddlewareManager,
    memos: Mapping[str, Any],
    now: datetime.datetime,
    timings: ServerTimings | None,
) -> Outcome:
    """Run the handler once (replaying memos) and say how the call ends."""
    if mw:
        await mw.call("transform_input", ctx, function, memos)
        await mw.call("before_memoization")
        if not memos and exe.reached_new_code():
            await mw.call("after_memoization")
            await mw.call("before_execution")
    if timings is not None:
        timings.begin("function")
    try:
        try:
            output = await handler(ctx)
        finally:
            if timings is not None:
                timings.end("function")
        # In the try: an output that cannot be serialized fails the attempt.
        output = to_wire(
            client.serializer,
            output,
            function.output_type_of(handler),
            f'function "{function.id}"',
        )
    except INTERRUPTS as interrupt:
        return interrupted_outcome(interrupt)
    # Not narrower: the user's function may raise anything, and every
    # exception is the run's error (retried, or the run fails).
    except Exception as err:
        if mw:
            # Before failure_outcome, which drops the traceback.
            await mw.call("after_execution")
            failed = TransformOutputResult(error=err, output=None)
            await mw.call("transform_output", failed)
        return failure_outcome(err, now=now)
    if mw:
        await mw.call("after_execution")
        result = TransformOutputResult(error=None, output=output)
        await mw.call("transform_output", result)
        output = result.output
    return FunctionReturned(output)


def run_handler_sync(
    function: Function[Any],
    handler: Callable[..., Any],
    request: CallRequest,
    *,
    client: Inngest,
    mw: MiddlewareManager,
    target: str | None,
    now: datetime.datetime,
    memos: Mapping[str, Any],
    timings: ServerTimings | None = None,
) -> Outcome:
    """Run a sync handler for one call request."""
    if is_async_handler(handler):
        msg = (
            f"{function.id} is an async function but was called through a sync "
            "handler (CommHandler.handle_sync or a sync framework); serve it "
            "with CommHandler.handle / an async framework, or make it a def"
        )
        err = FunctionConfigInvalidError(msg)
        # Retrying cannot help: the app is wired wrongly.
        return FunctionFailed(err, error_body(err, stack=None), no_retry=True)
    if mw:
        memos = StepMemos.from_raw(memos)
    exe = Execution(request, target=target, now=now, memos=memos)
    exe.checkpointer = Checkpointer.for_call(client, request, target)
    run = _run_log(function, handler, request, exe)
    ctx = _context_sync(request, exe, client, mw, run)
    with LoggingRun(run), BoundStep(ctx.step):
        outcome = _drive_sync(
            function, handler, ctx, exe, client, mw, memos, now, timings
        )
        if exe.checkpointer is not None:
            # Saved before the call is answered: the answer's next call
            # must find every step this one ran.
            outcome = exe.checkpointer.finish_sync(outcome)
    return outcome


def _drive_sync(  # noqa: PLR0917 - the call's whole state
    function: Function[Any],
    handler: Callable[..., Any],
    ctx: ContextSync,
    exe: Execution,
    client: Inngest,
    mw: MiddlewareManager,
    memos: Mapping[str, Any],
    now: datetime.datetime,
    timings: ServerTimings | None,
) -> Outcome:
    """Run the handler once (replaying memos) and say how the call ends."""
    if mw:
        mw.call_sync("transform_input", ctx, function, memos)
        mw.call_sync("before_memoization")
        if not memos and exe.reached_new_code():
            mw.call_sync("after_memoization")
            mw.call_sync("before_execution")
    if timings is not None:
        timings.begin("function")
    try:
        try:
            output = handler(ctx)
        finally:
            if timings is not None:
                timings.end("function")
        # In the try: an output that cannot be serialized fails the attempt.
        output = to_wire(
            client.serializer,
            output,
            function.output_type_of(handler),
            f'function "{function.id}"',
        )
    except INTERRUPTS as interrupt:
        return interrupted_outcome(interrupt)
    # Not narrower: the user's function may raise anything, and every
    # exception is the run's error (retried, or the run fails).
    except Exception as err:
        if mw:
            # Before failure_outcome, which drops the traceback.
            mw.call_sync("after_execution")
            failed = TransformOutputResult(error=err, output=None)
            mw.call_sync("transform_output", failed)
        return failure_outcome(err, now=now)
    if mw:
        mw.call_sync("after_execution")
        result = TransformOutputResult(error=None, output=output)
        mw.call_sync("transform_output", result)
        output = result.output
    return FunctionReturned(output)
