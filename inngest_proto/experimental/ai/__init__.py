"""AI steps: ``ctx.step.ai.infer(...)`` and ``ctx.step.ai.wrap(...)``.

``infer`` does not make the request in this process: the step reports an
``AIGateway`` op and the Inngest server calls the model, retrying as a step
does, so the call costs no compute here and its response is memoized.

``wrap`` runs the app's own client call (an OpenAI or Anthropic SDK call, say)
as a ``step.run``: retried on error, its output memoized.  As the TypeScript
SDK does, the op carries ``opts`` ``{"type": "step.ai.wrap", "input":
[...]}`` so Inngest can show the call's arguments next to its output.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from ..._engine import ReportInterrupt
from ..._opcodes import Opcode

# The provider modules are attributes of the package from its first import,
# as in the official SDK (``ai.openai.Adapter`` with no import of its own).
# They hold only constants and plain classes, so this costs nothing.
from . import anthropic, deepseek, gemini, grok, openai

if TYPE_CHECKING:
    from ..._steps import Step, StepSync

__all__ = [
    "AI",
    "AISync",
    "BaseAdapter",
    "anthropic",
    "deepseek",
    "gemini",
    "grok",
    "openai",
    "to_jsonable",
]


class BaseAdapter(Protocol):
    """What ``infer`` needs from a provider adapter (see ``openai.Adapter``)."""

    def auth_key(self) -> str: ...

    def format(self) -> str: ...

    def headers(self) -> dict[str, str]: ...

    def on_call(self, body: dict[str, Any]) -> None: ...

    def url_infer(self) -> str: ...


def _infer_opts(adapter: BaseAdapter, body: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(body, dict):
        msg = "step.ai.infer body must be a dict (the provider's request body)"
        raise TypeError(msg)
    body = dict(body)
    adapter.on_call(body)
    return {
        "auth_key": adapter.auth_key(),
        "body": body,
        "format": adapter.format(),
        "headers": dict(adapter.headers()),
        "type": "step.ai.infer",
        "url": adapter.url_infer(),
    }


def to_jsonable(value: Any) -> Any:
    """``value`` with pydantic-style models (``model_dump``) turned into dicts.

    Provider SDKs return pydantic models; they are dumped in JSON mode, found
    by duck typing so the core needs no pydantic.  Containers are walked;
    anything else is returned as is.
    """
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):
        return dump(mode="json")
    if isinstance(value, dict):
        return {key: to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    return value


def _input_value(value: Any) -> Any:
    """One recorded argument: JSON as is, or else its ``repr`` (for display)."""
    value = to_jsonable(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(key): _input_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_input_value(item) for item in value]
    return repr(value)


def _wrap_opts(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    # The TypeScript SDK records its positional arguments; keyword arguments,
    # which Python clients mostly take, follow as one object.
    recorded = [_input_value(arg) for arg in args]
    if kwargs:
        recorded.append(_input_value(kwargs))
    return {"type": "step.ai.wrap", "input": recorded}


_WRAPPED_OPS = frozenset(
    {Opcode.STEP_RUN, Opcode.STEP_PLANNED, Opcode.STEP_ERROR, Opcode.STEP_FAILED}
)


def _label(interrupt: ReportInterrupt, step_id: str, opts: dict[str, Any]) -> None:
    """Give the op ``run`` reported for ``step_id`` the ``step.ai.wrap`` opts."""
    for i, op in enumerate(interrupt.ops):
        userland = op.userland or {}
        if op.op in _WRAPPED_OPS and userland.get("id") == step_id:
            interrupt.ops[i] = attrs.evolve(op, opts={**(op.opts or {}), **opts})


def _check_fn(fn: object) -> None:
    if not callable(fn):
        msg = (
            "step.ai.wrap(step_id, fn, *args, **kwargs) needs a callable fn, "
            f"got {type(fn).__name__}"
        )
        raise TypeError(msg)


class AI:
    """``ctx.step.ai`` for async functions."""

    __slots__ = ("_step",)

    def __init__(self, step: Step) -> None:
        self._step = step

    async def infer(
        self, step_id: str, *, adapter: BaseAdapter, body: dict[str, Any]
    ) -> Any:
        """Have the Inngest server call the model; returns the provider's response."""
        return await self._step._report_ai(step_id, _infer_opts(adapter, body))

    async def wrap(
        self,
        step_id: str,
        fn: Callable[..., Any],
        /,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """Run ``fn(*args, **kwargs)`` (sync or async) as a step; memoize its output.

        Use it for a call made with the provider's own client, e.g.
        ``await ctx.step.ai.wrap("ask", client.chat.completions.create,
        model="gpt-4o", messages=[...])``.  A pydantic model the call returns
        is stored (and returned, now and on replay) as its JSON dict.
        """
        _check_fn(fn)
        opts = _wrap_opts(args, kwargs)

        async def call() -> Any:
            output = fn(*args, **kwargs)
            if inspect.isawaitable(output):
                output = await output
            return to_jsonable(output)

        try:
            return await self._step.run(step_id, call)
        except ReportInterrupt as interrupt:
            _label(interrupt, step_id, opts)
            raise


class AISync:
    """``ctx.step.ai`` for sync functions."""

    __slots__ = ("_step",)

    def __init__(self, step: StepSync) -> None:
        self._step = step

    def infer(self, step_id: str, *, adapter: BaseAdapter, body: dict[str, Any]) -> Any:
        """Have the Inngest server call the model; returns the provider's response."""
        return self._step._report_ai(step_id, _infer_opts(adapter, body))

    def wrap(
        self, step_id: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> Any:
        """Run ``fn(*args, **kwargs)`` as a step; memoize its output.

        Use it for a call made with the provider's own client, e.g.
        ``ctx.step.ai.wrap("ask", client.chat.completions.create,
        model="gpt-4o", messages=[...])``.  A pydantic model the call returns
        is stored (and returned, now and on replay) as its JSON dict.
        """
        _check_fn(fn)
        if inspect.iscoroutinefunction(fn):
            msg = (
                f'step.ai.wrap("{step_id}") got an async fn in a sync function; '
                "use an async function with `await ctx.step.ai.wrap(...)`"
            )
            raise TypeError(msg)
        opts = _wrap_opts(args, kwargs)

        def call() -> Any:
            output = fn(*args, **kwargs)
            # An awaitable is left for run() to refuse, with its own message.
            return output if inspect.isawaitable(output) else to_jsonable(output)

        try:
            return self._step.run(step_id, call)
        except ReportInterrupt as interrupt:
            _label(interrupt, step_id, opts)
            raise
