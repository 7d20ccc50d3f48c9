"""AI inference as a step: ``ctx.step.ai.infer(step_id, adapter=..., body=...)``.

The request is not made by this process: the step reports an ``AIGateway``
op and the Inngest server calls the model, retrying as a step does, so the
call costs no compute here and its response is memoized.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..._steps import Step, StepSync

__all__ = ["AI", "AISync", "BaseAdapter"]


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


class AISync:
    """``ctx.step.ai`` for sync functions."""

    __slots__ = ("_step",)

    def __init__(self, step: StepSync) -> None:
        self._step = step

    def infer(self, step_id: str, *, adapter: BaseAdapter, body: dict[str, Any]) -> Any:
        """Have the Inngest server call the model; returns the provider's response."""
        return self._step._report_ai(step_id, _infer_opts(adapter, body))
