"""The event: what triggers functions, what ``send`` sends, what waits match;
and what a send reports to middleware."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, NoReturn

import attrs

from ._converter import converter, register_wire_model
from ._errors import BodyInvalidError, ValidationError
from ._json import json_type
from ._model_api import ModelMethods

__all__ = ["Event", "SendEventsResult", "parse_event"]


def _to_data(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return {} if value is None else value


def _invalid(
    inst: object,
    attr: attrs.Attribute[Any],
    kind: str,
    problem: str,
    value: object,
    *,
    index: int | None = None,
) -> NoReturn:
    model = type(inst).__name__
    msg = f"{model}.{attr.name} {problem}, got {type(value).__name__}"
    loc = (attr.name,) if index is None else (attr.name, index)
    raise ValidationError(
        model, [{"type": kind, "loc": loc, "msg": msg, "input": value}]
    )


def _check_name(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        _invalid(inst, attr, "string_type", "must be a string", value)
    if not value:
        _invalid(inst, attr, "string_too_short", "must be a non-empty string", value)


def _check_data(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Mapping):
        _invalid(inst, attr, "dict_type", "must be a dict (or None)", value)


def _check_str(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        _invalid(inst, attr, "string_type", "must be a string", value)


def _check_ts(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        _invalid(inst, attr, "int_type", "must be an int (Unix milliseconds)", value)


def _check_user(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, Mapping):
        _invalid(inst, attr, "dict_type", "must be a dict or None", value)


def _check_opt_str(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, str):
        _invalid(inst, attr, "string_type", "must be a string or None", value)


@attrs.frozen(kw_only=True)
class Event(ModelMethods):
    """An event, as sent to the Event API and received in call requests.

    ``id`` is an optional idempotency key when sending (the server keeps one
    run per function per id for 24 h); ``ts`` is Unix milliseconds, filled
    with "now" by the client when left at 0.  ``data=None`` means ``{}``.
    An invalid value raises :class:`ValidationError` (a ``ValueError`` and a
    ``TypeError``), naming the field.

    ``user`` and ``v`` are wire fields the official model does not have:
    ``model_dump()`` leaves them out while they are ``None``.
    """

    _model_hidden_when_none: ClassVar[frozenset[str]] = frozenset({"user", "v"})

    name: str = attrs.field(validator=_check_name)
    data: Mapping[str, Any] = attrs.field(
        factory=dict,
        converter=_to_data,
        validator=_check_data,
    )
    id: str = attrs.field(default="", validator=_check_str)
    ts: int = attrs.field(default=0, validator=_check_ts)
    user: Mapping[str, Any] | None = attrs.field(default=None, validator=_check_user)
    v: str | None = attrs.field(default=None, validator=_check_opt_str)


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
    ``null`` (or a missing key) means the default for ``data`` (``{}``),
    ``id`` (``""``), ``ts`` (``0``), ``user`` and ``v`` (``None``); any other
    value of the wrong JSON type raises :class:`BodyInvalidError`.
    """
    if not isinstance(raw, dict):
        msg = f"{where} must be a JSON object, got {json_type(raw)}"
        raise BodyInvalidError(msg)
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        got = "an empty string" if name == "" else json_type(name)
        msg = f"{where}.name must be a non-empty string, got {got}"
        raise BodyInvalidError(msg)
    data = raw.get("data")
    if data is None:
        data = {}
    elif not isinstance(data, dict):
        msg = f"{where}.data must be a JSON object, got {json_type(data)}"
        raise BodyInvalidError(msg)
    event_id = raw.get("id")
    if event_id is None:
        event_id = ""
    elif not isinstance(event_id, str):
        msg = f"{where}.id must be a string, got {json_type(event_id)}"
        raise BodyInvalidError(msg)
    ts = raw.get("ts")
    if ts is None:
        ts = 0
    elif isinstance(ts, bool) or not isinstance(ts, int):
        msg = f"{where}.ts must be an integer (Unix ms), got {json_type(ts)}"
        raise BodyInvalidError(msg)
    user = raw.get("user")
    if user is not None and not isinstance(user, dict):
        msg = f"{where}.user must be a JSON object, got {json_type(user)}"
        raise BodyInvalidError(msg)
    v = raw.get("v")
    if v is not None and not isinstance(v, str):
        msg = f"{where}.v must be a string, got {json_type(v)}"
        raise BodyInvalidError(msg)
    return _checked_event(name, data, event_id, ts, user, v)


_new = object.__new__
_set = object.__setattr__


def _checked_event(  # noqa: PLR0917 - the six fields, in order
    name: str,
    data: dict[str, Any],
    event_id: str,
    ts: int,
    user: dict[str, Any] | None,
    v: str | None,
) -> Event:
    # ``parse_event`` has checked every field already: build the frozen
    # instance without running the validators a second time (this runs for
    # each event of each call request).
    event: Event = _new(Event)
    _set(event, "name", name)
    _set(event, "data", data)
    _set(event, "id", event_id)
    _set(event, "ts", ts)
    _set(event, "user", user)
    _set(event, "v", v)
    return event


converter.register_unstructure_hook(Event, _unstructure_event)
converter.register_structure_hook(Event, lambda raw, _: parse_event(raw))


def _check_ids(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, list):
        _invalid(inst, attr, "list_type", "must be a list of strings", value)
    for index, item in enumerate(value):
        if not isinstance(item, str):
            _invalid(inst, attr, "string_type", "must hold strings", item, index=index)


@attrs.frozen(kw_only=True)
class SendEventsResult(ModelMethods):
    """What a send did: the ids of the events stored, and the error if any.

    What ``after_send_events`` middleware receives.
    """

    error: str | None = attrs.field(default=None, validator=_check_opt_str)
    ids: list[str] = attrs.field(factory=list, validator=_check_ids)


register_wire_model(SendEventsResult)
