"""The event: what triggers functions, what ``send`` sends, what waits match."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ._converter import converter
from ._errors import BodyInvalidError

__all__ = ["Event", "parse_event"]


def _to_data(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return {} if value is None else value


def _check_data(_: object, __: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Mapping):
        msg = f"event data must be a dict, got {type(value).__name__}"
        raise TypeError(msg)


@attrs.frozen(kw_only=True)
class Event:
    """An event, as sent to the Event API and received in call requests.

    ``id`` is an optional idempotency key when sending (the server keeps one
    run per function per id for 24 h); ``ts`` is Unix milliseconds, filled
    with "now" by the client when left at 0.
    """

    name: str = attrs.field(validator=attrs.validators.instance_of(str))
    data: Mapping[str, Any] = attrs.field(
        factory=dict,
        converter=_to_data,
        validator=_check_data,
    )
    id: str = attrs.field(default="", validator=attrs.validators.instance_of(str))
    ts: int = attrs.field(default=0, validator=attrs.validators.instance_of(int))
    user: Mapping[str, Any] | None = None
    v: str | None = None

    def __attrs_post_init__(self) -> None:
        if not self.name:
            msg = "an event needs a non-empty name"
            raise ValueError(msg)


def _unstructure_event(event: Event) -> dict[str, Any]:
    out: dict[str, Any] = {"data": dict(event.data)}
    if event.id:
        out["id"] = event.id
    out["name"] = event.name
    if event.ts:
        out["ts"] = event.ts
    if event.user is not None:
        out["user"] = dict(event.user)
    if event.v is not None:
        out["v"] = event.v
    return out


def parse_event(raw: Any, where: str = "event") -> Event:
    """Build an :class:`Event` from parsed JSON, strictly, naming what is wrong.

    Written by hand rather than generated: it runs for every event of every
    call request, and cattrs would quietly coerce a numeric name to a string.
    """
    if not isinstance(raw, dict):
        msg = f"{where} must be a JSON object, got {type(raw).__name__}"
        raise BodyInvalidError(msg)
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        msg = f"{where}.name must be a non-empty string"
        raise BodyInvalidError(msg)
    data = raw.get("data")
    if data is None:
        data = {}
    elif not isinstance(data, dict):
        msg = f"{where}.data must be a JSON object"
        raise BodyInvalidError(msg)
    event_id = raw.get("id") or ""
    if not isinstance(event_id, str):
        msg = f"{where}.id must be a string"
        raise BodyInvalidError(msg)
    ts = raw.get("ts") or 0
    if isinstance(ts, bool) or not isinstance(ts, int):
        msg = f"{where}.ts must be an integer (Unix milliseconds)"
        raise BodyInvalidError(msg)
    user = raw.get("user")
    if user is not None and not isinstance(user, dict):
        msg = f"{where}.user must be a JSON object"
        raise BodyInvalidError(msg)
    v = raw.get("v")
    if v is not None and not isinstance(v, str):
        msg = f"{where}.v must be a string"
        raise BodyInvalidError(msg)
    return Event(name=name, data=data, id=event_id, ts=ts, user=user, v=v)


converter.register_unstructure_hook(Event, _unstructure_event)
converter.register_structure_hook(Event, lambda raw, _: parse_event(raw))
