"""Typed events: declare an event once, as a name and a data class.

::

    @attrs.frozen
    class Signup:
        user_id: str
        plan: Plan  # an enum

    SIGNUP = inngest.EventType("app/user.signed_up", Signup)

    await client.send(SIGNUP.create(Signup("u1", Plan.PRO)))     # typed send

    @client.create_function(fn_id="welcome", trigger=SIGNUP.trigger())
    async def welcome(ctx: inngest.Context) -> None:
        signup = SIGNUP.parse(ctx.event)                          # typed event
        signup.data.plan                                          # a Plan

The data class may be anything the serializer handles (pydantic models,
dataclasses, attrs classes, ``TypedDict``...) as long as it is written as a
JSON object, which is what Inngest requires of event data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

import attrs

from ._errors import NonRetriableError
from ._events import Event
from ._options import TriggerEvent
from ._serializer import Serializer, default_serializer

__all__ = ["EventType", "TypedEvent"]

D = TypeVar("D")


@attrs.frozen(kw_only=True)
class TypedEvent(Generic[D]):
    """A received event whose ``data`` is the declared type."""

    name: str
    data: D
    id: str
    ts: int
    user: Mapping[str, Any] | None = None
    v: str | None = None


class EventType(Generic[D]):
    """One event's name and data type, for sending, triggering and reading it.

    ``serializer`` writes and reads the data (the default serializer unless
    given; pass the client's if it has its own).
    """

    __slots__ = ("_serializer", "data_type", "name")

    def __init__(
        self, name: str, data_type: type[D], *, serializer: Serializer | None = None
    ) -> None:
        if not isinstance(name, str) or not name:
            msg = "EventType needs the event's name, a non-empty string"
            raise ValueError(msg)
        self.name = name
        self.data_type = data_type
        self._serializer = serializer or default_serializer()

    def __repr__(self) -> str:
        return f"EventType({self.name!r}, {getattr(self.data_type, '__name__', '?')})"

    def create(
        self,
        data: D,
        *,
        id: str = "",
        ts: int = 0,
        user: Mapping[str, Any] | None = None,
        v: str | None = None,
    ) -> Event:
        """An :class:`Event` to ``send``, its data written as JSON."""
        try:
            wire = self._serializer.serialize(data, self.data_type)
        # Not narrower: the serializer is the user's (pydantic, cattrs...),
        # and each raises its own errors for data it cannot handle.
        except Exception as err:
            msg = (
                f"{self.name}: cannot write {type(data).__name__} as "
                f"{self._type_name}: {err}"
            )
            raise TypeError(msg) from err
        if not isinstance(wire, Mapping):
            msg = (
                f"{self.name}: event data must be a JSON object, but "
                f"{self._type_name} is written as {type(wire).__name__}"
            )
            raise TypeError(msg)
        return Event(name=self.name, data=wire, id=id, ts=ts, user=user, v=v)

    def trigger(self, *, expression: str | None = None) -> TriggerEvent:
        """A trigger on this event (``expression``: a CEL filter)."""
        return TriggerEvent(event=self.name, expression=expression)

    def parse(self, event: Event) -> TypedEvent[D]:
        """``event`` with its data read as the declared type.

        An event of another name, or data that does not fit, raises
        :class:`NonRetriableError`: retrying would read the same event again.
        """
        if event.name != self.name:
            msg = f"expected a {self.name} event, got {event.name}"
            raise NonRetriableError(msg)
        try:
            data: Any = self._serializer.deserialize(dict(event.data), self.data_type)
        # Not narrower: the serializer is the user's (pydantic, cattrs...),
        # and each raises its own errors for data it cannot handle.
        except Exception as err:
            msg = (
                f"{self.name} event {event.id or '(no id)'}: its data is not a "
                f"valid {self._type_name}: {err}"
            )
            raise NonRetriableError(msg) from err
        return TypedEvent(
            name=event.name,
            data=data,
            id=event.id,
            ts=event.ts,
            user=event.user,
            v=event.v,
        )

    @property
    def _type_name(self) -> str:
        return getattr(self.data_type, "__qualname__", None) or repr(self.data_type)
