"""The step API: ``ctx.step`` (async :class:`Step`, sync :class:`StepSync`) and
``ctx.group`` (:class:`Group`, :class:`GroupSync`).

Every rule lives in :class:`~inngest_proto._engine.Execution` and in
:class:`_StepRules` below; the async and sync classes differ only in whether
they ``await`` the user's handler and the middleware.
"""

from __future__ import annotations

import datetime
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

from ._durations import format_iso_utc_ms, to_duration_string
from ._engine import (
    Execution,
    NestedStepInterrupt,
    ParallelCollector,
    ReportInterrupt,
    SkipInterrupt,
)
from ._errors import NonRetriableError, RetryAfterError
from ._events import Event, parse_event
from ._middleware import (
    MiddlewareManager,
    TransformOutputResult,
    TransformOutputStepInfo,
)
from ._opcodes import MISSING, Opcode, ParallelMode
from ._serializer import conversion_type, from_wire, to_wire
from ._step_ids import StepIdentity
from .experimental.ai import AI, AISync

if TYPE_CHECKING:
    # Type checkers only: the runtime needs neither (Python 3.10's typing has
    # no TypeVarTuple, and typing_extensions is not a dependency).
    from typing_extensions import TypeVarTuple, Unpack

    from ._client import Inngest
    from ._function import Function

    #: The handler's positional arguments: ``step.run(id, handler, *args)``
    #: checks ``args`` against ``handler``'s parameters, as the official
    #: SDK's types do.
    HandlerArgs = TypeVarTuple("HandlerArgs")

__all__ = ["Group", "GroupSync", "Step", "StepSync"]

T = TypeVar("T")

#: Errors that must fail the whole function rather than the step, as the
#: official SDK does: they describe the run, not one attempt of a step.
_BUBBLING = (NonRetriableError, RetryAfterError)


def _duration_or_none(value: int | datetime.timedelta | None, what: str) -> str | None:
    if value is None:
        return None
    try:
        return to_duration_string(value)
    except ValueError as err:
        raise ValueError(f"{what}: {err}") from None


class _StepRules:
    """What the async and sync step APIs share: ids, opts, memo shapes."""

    __slots__ = ("_client", "_exe", "_last_conversion", "_mw")

    def __init__(self, exe: Execution, client: Inngest, mw: MiddlewareManager) -> None:
        self._exe = exe
        self._client = client
        self._mw = mw
        #: (handler, its conversion type) of the last ``run`` without an
        #: ``output_type``: a loop of steps calls one handler again and again.
        self._last_conversion: tuple[object, object] = (None, None)

    def _conversion_type(
        self, handler: Callable[..., Any], output_type: object
    ) -> object:
        if output_type is None:
            last_handler, last_type = self._last_conversion
            if handler is last_handler:
                return last_type
            typ = conversion_type(handler)
            self._last_conversion = (handler, typ)
            return typ
        return conversion_type(handler, output_type)

    def _sleep_name(self, until: datetime.datetime) -> str:
        if not isinstance(until, datetime.datetime):
            msg = "sleep_until needs a datetime"
            raise TypeError(msg)
        return format_iso_utc_ms(until)

    def _sleep_until_for(self, duration: int | datetime.timedelta) -> datetime.datetime:
        if isinstance(duration, bool) or not isinstance(
            duration, int | datetime.timedelta
        ):
            msg = "sleep duration must be milliseconds (int) or a timedelta"
            raise TypeError(msg)
        if isinstance(duration, int):
            duration = datetime.timedelta(milliseconds=duration)
        return self._exe.now + duration

    def _wait_opts(
        self, event: str, if_exp: str | None, timeout: int | datetime.timedelta
    ) -> dict[str, Any]:
        if not isinstance(event, str) or not event:
            msg = "wait_for_event needs the name of the event to wait for"
            raise ValueError(msg)
        return {
            "if": if_exp,
            "timeout": _duration_or_none(timeout, "wait_for_event timeout"),
        }

    def _invoke_opts(
        self,
        app_id: str | None,
        function_id: str,
        data: Mapping[str, Any] | None,
        timeout: int | datetime.timedelta | None,
        v: str | None,
    ) -> dict[str, Any]:
        if not isinstance(function_id, str) or not function_id:
            msg = "invoke needs the id of the function to invoke"
            raise ValueError(msg)
        app = self._client.app_id if app_id is None else app_id
        return {
            "function_id": f"{app}-{function_id}",
            "payload": {"data": None if data is None else dict(data), "v": v},
            "timeout": _duration_or_none(timeout, "invoke timeout"),
        }

    @staticmethod
    def _as_event(memo: Any) -> Event | None:
        # The server stores the matched event itself; anything else means the
        # run's state is damaged, which a retry may not fix but must not hide.
        return None if memo is None else parse_event(memo, "the matched event")

    def _from_wire(
        self, ident: StepIdentity, memo: Any, typ: object, output_type: object
    ) -> Any:
        return from_wire(
            self._client.serializer,
            memo,
            typ,
            f'step "{ident.user_id}"',
            annotated=output_type is None,
        )

    def _to_wire(self, ident: StepIdentity, output: Any, typ: object) -> Any:
        return to_wire(self._client.serializer, output, typ, f'step "{ident.user_id}"')

    def _invoked_output(self, function: Function[Any], output: Any) -> Any:
        return from_wire(
            self._client.serializer,
            output,
            function.declared_output_type,
            f'invoked function "{function.id}"',
            annotated=function.output_type is None,
        )

    def _failed(self, ident: StepIdentity, err: Exception) -> TransformOutputResult:
        op = Opcode.STEP_FAILED if self._exe.is_last_attempt else Opcode.STEP_ERROR
        return TransformOutputResult(
            error=err,
            output=None,
            step=TransformOutputStepInfo(id=ident.user_id, op=op, opts=None),
        )

    @staticmethod
    def _invoking(ident: StepIdentity, opts: dict[str, Any]) -> TransformOutputResult:
        # As the official SDK: middleware sees the invoke's opts and may change
        # them in place (encryption rewrites ``payload.data``).
        return TransformOutputResult(
            error=None,
            output=None,
            step=TransformOutputStepInfo(id=ident.user_id, op=Opcode.INVOKE, opts=opts),
        )

    def _output_result(self, ident: StepIdentity, output: Any) -> TransformOutputResult:
        return TransformOutputResult(
            error=None,
            output=output,
            step=TransformOutputStepInfo(
                id=ident.user_id, op=Opcode.STEP_RUN, opts=None
            ),
        )


class Step(_StepRules):
    """Async step API (``ctx.step`` in an ``async def`` function)."""

    __slots__ = ()

    @property
    def ai(self) -> AI:
        """``step.ai.infer``; built on access so Step holds no cycle through it."""
        return AI(self)

    async def _replay(self, step_id: str) -> tuple[StepIdentity, Any]:
        ident, memo = self._exe.replay(step_id)
        if memo is MISSING or self._exe.memos_done:
            await self._maybe_new_code()
        return ident, memo

    async def _maybe_new_code(self) -> None:
        if self._exe.reached_new_code() and self._mw:
            await self._mw.call("after_memoization")
            await self._mw.call("before_execution")

    # An async function may also run a plain (sync) handler: the second
    # overload. The official SDK's async ``run`` takes only the first.
    @overload
    async def run(
        self,
        step_id: str,
        handler: Callable[[Unpack[HandlerArgs]], Awaitable[T]],
        *handler_args: Unpack[HandlerArgs],
        output_type: object = None,
    ) -> T: ...

    @overload
    async def run(
        self,
        step_id: str,
        handler: Callable[[Unpack[HandlerArgs]], T],
        *handler_args: Unpack[HandlerArgs],
        output_type: object = None,
    ) -> T: ...

    async def run(
        self,
        step_id: str,
        handler: Callable[[Unpack[HandlerArgs]], Any],
        *handler_args: Unpack[HandlerArgs],
        output_type: object = None,
    ) -> Any:
        """Run ``handler(*handler_args)`` once, retrying on error; memoize its output.

        The output must be JSON-serializable.
        """
        # ``_replay`` inlined: this line runs for every replayed step, and
        # awaiting it made a coroutine for each.
        exe = self._exe
        ident, memo = exe.replay(step_id)
        if memo is MISSING or exe.memos_done:
            await self._maybe_new_code()
        typ = self._conversion_type(handler, output_type)
        if memo is not MISSING:
            return (
                memo if typ is None else self._from_wire(ident, memo, typ, output_type)
            )
        self._exe.should_run_now(ident)
        with self._exe.running_step(ident.user_id):
            try:
                output = handler(*handler_args)
                if inspect.isawaitable(output):
                    output = await output
            except _BUBBLING:
                raise
            except NestedStepInterrupt:
                raise self._exe.step_nested(ident) from None
            # Not narrower: a step's code is the user's and may raise anything;
            # every exception is the step's error.
            except Exception as err:
                if self._mw:
                    # Before step_raised, which drops the traceback.
                    await self._mw.call("after_execution")
                    await self._mw.call("transform_output", self._failed(ident, err))
                raise self._exe.step_raised(ident, err) from None
        output = wire = self._to_wire(ident, output, typ)
        if self._mw:
            await self._mw.call("after_execution")
            result = self._output_result(ident, output)
            await self._mw.call("transform_output", result)
            output = result.output
        ckpt = self._exe.checkpointer
        if ckpt is not None and ckpt.has_room():
            # The call goes on.  The value is what a replay would give.
            await ckpt.add(self._exe.ran_op(ident, output))
            return self._from_wire(ident, wire, typ, output_type)
        raise self._exe.step_ran(ident, output)

    async def sleep(self, step_id: str, duration: int | datetime.timedelta) -> None:
        """Pause the run for ``duration`` (milliseconds or a timedelta)."""
        await self.sleep_until(step_id, self._sleep_until_for(duration))

    async def sleep_until(self, step_id: str, until: datetime.datetime) -> None:
        """Pause the run until ``until`` (naive datetimes are local time)."""
        name = self._sleep_name(until)
        ident, memo = await self._replay(step_id)
        if memo is not MISSING:
            return
        raise self._exe.report(ident, Opcode.SLEEP, name=name)

    async def wait_for_event(
        self,
        step_id: str,
        *,
        event: str,
        if_exp: str | None = None,
        timeout: int | datetime.timedelta,
    ) -> Event | None:
        """Wait for ``event`` (matching ``if_exp``); ``None`` after ``timeout``."""
        opts = self._wait_opts(event, if_exp, timeout)
        ident, memo = await self._replay(step_id)
        if memo is not MISSING:
            return self._as_event(memo)
        raise self._exe.report(ident, Opcode.WAIT_FOR_EVENT, name=event, opts=opts)

    async def invoke(
        self,
        step_id: str,
        *,
        function: Function[T],
        data: Mapping[str, Any] | None = None,
        timeout: int | datetime.timedelta | None = None,
        v: str | None = None,
    ) -> T:
        """Run another function of this app and return its output."""
        output = await self.invoke_by_id(
            step_id,
            app_id=self._client.app_id,
            function_id=function.local_id,
            data=data,
            timeout=timeout,
            v=v,
        )
        return self._invoked_output(function, output)  # type: ignore[no-any-return]

    async def invoke_by_id(
        self,
        step_id: str,
        *,
        app_id: str | None = None,
        function_id: str,
        data: Mapping[str, Any] | None = None,
        timeout: int | datetime.timedelta | None = None,
        v: str | None = None,
    ) -> Any:
        """Run a function by id (of this app unless ``app_id``); return its output."""
        opts = self._invoke_opts(app_id, function_id, data, timeout, v)
        ident, memo = await self._replay(step_id)
        if memo is not MISSING:
            return memo
        if self._mw:
            await self._mw.call("transform_output", self._invoking(ident, opts))
        raise self._exe.report(ident, Opcode.INVOKE, opts=opts)

    async def send_event(self, step_id: str, events: Event | list[Event]) -> list[str]:
        """Send events as a step, so a retry does not send them twice.

        The call request's middleware (the client's and the function's) sees
        the events before and the result after, even a failed send's.
        """
        return await self.run(step_id, self._send_events, events)

    async def _send_events(self, events: Event | list[Event]) -> list[str]:
        return await self._client._send_through(
            self._mw, events, "step.send_event()", after_any_failure=True
        )

    async def _report_ai(self, step_id: str, opts: dict[str, Any]) -> Any:
        ident, memo = await self._replay(step_id)
        if memo is not MISSING:
            return memo
        raise self._exe.report(ident, Opcode.AI_GATEWAY, opts=opts)


class StepSync(_StepRules):
    """Sync step API (``ctx.step`` in a plain ``def`` function)."""

    __slots__ = ()

    @property
    def ai(self) -> AISync:
        """``step.ai.infer``; built on access so StepSync holds no cycle through it."""
        return AISync(self)

    def _replay(self, step_id: str) -> tuple[StepIdentity, Any]:
        ident, memo = self._exe.replay(step_id)
        if memo is MISSING or self._exe.memos_done:
            self._at_new_code()
        return ident, memo

    def _at_new_code(self) -> None:
        if self._exe.reached_new_code() and self._mw:
            self._mw.call_sync("after_memoization")
            self._mw.call_sync("before_execution")

    def run(
        self,
        step_id: str,
        handler: Callable[[Unpack[HandlerArgs]], T],
        *handler_args: Unpack[HandlerArgs],
        output_type: object = None,
    ) -> T:
        """Run ``handler(*handler_args)`` once, retrying on error; memoize it."""
        # ``_replay`` inlined: this line runs for every replayed step.
        exe = self._exe
        ident, memo = exe.replay(step_id)
        if memo is MISSING or exe.memos_done:
            self._at_new_code()
        typ = self._conversion_type(handler, output_type)
        if memo is not MISSING:
            if typ is None:
                return memo  # type: ignore[no-any-return]
            return self._from_wire(ident, memo, typ, output_type)  # type: ignore[no-any-return]
        self._exe.should_run_now(ident)
        with self._exe.running_step(ident.user_id):
            try:
                output = handler(*handler_args)
            except _BUBBLING:
                raise
            except NestedStepInterrupt:
                raise self._exe.step_nested(ident) from None
            # Not narrower: a step's code is the user's and may raise anything;
            # every exception is the step's error.
            except Exception as err:
                if self._mw:
                    # Before step_raised, which drops the traceback.
                    self._mw.call_sync("after_execution")
                    self._mw.call_sync("transform_output", self._failed(ident, err))
                raise self._exe.step_raised(ident, err) from None
        if inspect.isawaitable(output):
            close = getattr(output, "close", None)
            if close is not None:
                close()
            msg = (
                f'step "{step_id}" returned an awaitable in a sync function; '
                "use an async function with `await ctx.step.run(...)`"
            )
            raise TypeError(msg)
        output = wire = self._to_wire(ident, output, typ)
        if self._mw:
            self._mw.call_sync("after_execution")
            result = self._output_result(ident, output)
            self._mw.call_sync("transform_output", result)
            output = result.output
        ckpt = self._exe.checkpointer
        if ckpt is not None and ckpt.has_room():
            # The call goes on.  The value is what a replay would give.
            ckpt.add_sync(self._exe.ran_op(ident, output))
            return self._from_wire(ident, wire, typ, output_type)  # type: ignore[no-any-return]
        raise self._exe.step_ran(ident, output)

    def sleep(self, step_id: str, duration: int | datetime.timedelta) -> None:
        """Pause the run for ``duration`` (milliseconds or a timedelta)."""
        self.sleep_until(step_id, self._sleep_until_for(duration))

    def sleep_until(self, step_id: str, until: datetime.datetime) -> None:
        """Pause the run until ``until`` (naive datetimes are local time)."""
        name = self._sleep_name(until)
        ident, memo = self._replay(step_id)
        if memo is not MISSING:
            return
        raise self._exe.report(ident, Opcode.SLEEP, name=name)

    def wait_for_event(
        self,
        step_id: str,
        *,
        event: str,
        if_exp: str | None = None,
        timeout: int | datetime.timedelta,
    ) -> Event | None:
        """Wait for ``event`` (matching ``if_exp``); ``None`` after ``timeout``."""
        opts = self._wait_opts(event, if_exp, timeout)
        ident, memo = self._replay(step_id)
        if memo is not MISSING:
            return self._as_event(memo)
        raise self._exe.report(ident, Opcode.WAIT_FOR_EVENT, name=event, opts=opts)

    def invoke(
        self,
        step_id: str,
        *,
        function: Function[T],
        data: Mapping[str, Any] | None = None,
        timeout: int | datetime.timedelta | None = None,
        v: str | None = None,
    ) -> T:
        """Run another function of this app and return its output."""
        output = self.invoke_by_id(
            step_id,
            app_id=self._client.app_id,
            function_id=function.local_id,
            data=data,
            timeout=timeout,
            v=v,
        )
        return self._invoked_output(function, output)  # type: ignore[no-any-return]

    def invoke_by_id(
        self,
        step_id: str,
        *,
        app_id: str | None = None,
        function_id: str,
        data: Mapping[str, Any] | None = None,
        timeout: int | datetime.timedelta | None = None,
        v: str | None = None,
    ) -> Any:
        """Run a function by id (of this app unless ``app_id``); return its output."""
        opts = self._invoke_opts(app_id, function_id, data, timeout, v)
        ident, memo = self._replay(step_id)
        if memo is not MISSING:
            return memo
        if self._mw:
            self._mw.call_sync("transform_output", self._invoking(ident, opts))
        raise self._exe.report(ident, Opcode.INVOKE, opts=opts)

    def send_event(self, step_id: str, events: Event | list[Event]) -> list[str]:
        """Send events as a step, so a retry does not send them twice."""
        return self.run(step_id, self._send_events, events)

    def _send_events(self, events: Event | list[Event]) -> list[str]:
        return self._client._send_through_sync(
            self._mw, events, "step.send_event()", after_any_failure=True
        )

    def _report_ai(self, step_id: str, opts: dict[str, Any]) -> Any:
        ident, memo = self._replay(step_id)
        if memo is not MISSING:
            return memo
        raise self._exe.report(ident, Opcode.AI_GATEWAY, opts=opts)


class Group:
    """``ctx.group`` for async functions."""

    __slots__ = ("_exe",)

    def __init__(self, exe: Execution) -> None:
        self._exe = exe

    async def parallel(
        self,
        callables: Sequence[Callable[[], Awaitable[T]]],
        parallel_mode: ParallelMode = ParallelMode.WAIT,
    ) -> tuple[T, ...]:
        """Run steps in parallel: ``callables`` are e.g. ``lambda: step.run(...)``.

        Returns their outputs, in order, once all have finished.
        """
        collector = ParallelCollector(parallel_mode)
        outputs: list[T] = []
        with self._exe.parallel_group():
            for callable_ in callables:
                try:
                    outputs.append(await callable_())
                except ReportInterrupt as interrupt:
                    collector.add(interrupt)
                except SkipInterrupt:
                    pass
        collector.finish()
        return tuple(outputs)


class GroupSync:
    """``ctx.group`` for sync functions."""

    __slots__ = ("_exe",)

    def __init__(self, exe: Execution) -> None:
        self._exe = exe

    def parallel(
        self,
        callables: Sequence[Callable[[], T]],
        parallel_mode: ParallelMode = ParallelMode.WAIT,
    ) -> tuple[T, ...]:
        """Run steps in parallel: ``callables`` are e.g. ``lambda: step.run(...)``."""
        collector = ParallelCollector(parallel_mode)
        outputs: list[T] = []
        with self._exe.parallel_group():
            for callable_ in callables:
                try:
                    outputs.append(callable_())
                except ReportInterrupt as interrupt:
                    collector.add(interrupt)
                except SkipInterrupt:
                    pass
        collector.finish()
        return tuple(outputs)
