"""What the integrations report about a run, read once from ``transform_input``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    import inngest_proto as inngest


@attrs.frozen
class RunInfo:
    """The run a call request belongs to, as tag / attribute values."""

    app_id: str
    function_id: str
    function_name: str
    run_id: str
    attempt: int
    event_id: str
    event_name: str
    event_count: int
    #: Distinct event names in batch order: one unless the function batches.
    event_names: tuple[str, ...]

    @classmethod
    def of(
        cls,
        client: inngest.Inngest,
        ctx: inngest.Context | inngest.ContextSync,
        function: inngest.Function[Any],
    ) -> RunInfo:
        events = ctx.events or [ctx.event]
        return cls(
            app_id=client.app_id,
            # The id given to create_function, as the official middleware uses.
            function_id=function.local_id,
            function_name=function.name,
            run_id=ctx.run_id,
            attempt=ctx.attempt,
            event_id=ctx.event.id,
            event_name=ctx.event.name,
            event_count=len(events),
            event_names=tuple(dict.fromkeys(e.name for e in events)),
        )

    def attributes(self) -> dict[str, str | int | tuple[str, ...]]:
        """Keys ``inngest.*``; empty strings left out."""
        values: dict[str, str | int | tuple[str, ...]] = {
            "inngest.app.id": self.app_id,
            "inngest.function.id": self.function_id,
            "inngest.function.name": self.function_name,
            "inngest.run.id": self.run_id,
            "inngest.attempt": self.attempt,
            "inngest.event.id": self.event_id,
            "inngest.event.name": self.event_name,
            "inngest.event.names": self.event_names,
            "inngest.event.count": self.event_count,
        }
        return {k: v for k, v in values.items() if v != ""}

    def tags(self) -> dict[str, str]:
        """The scalar attributes as strings, for Sentry tags.

        ``inngest.event.names`` is left out: a batch's names could pass
        Sentry's 200-character limit on a tag value.
        """
        return {
            key: str(value)
            for key, value in self.attributes().items()
            if not isinstance(value, tuple)
        }
