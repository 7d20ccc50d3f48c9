"""The call request body the executor POSTs to run a function.

Parsed by hand, once per request, strictly: every field has one expected type
and a wrong one is reported by name.  The memo map (``steps``) is kept as the
parsed dict itself, never copied or pre-processed, so a request with K memos
costs O(K) to parse and each step's lookup is O(1).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import repeat
from typing import Any

import attrs

from ._errors import BodyInvalidError
from ._events import Event, parse_event
from ._json import json_type

__all__ = ["CallContext", "CallRequest", "parse_call_request"]


@attrs.frozen
class CallContext:
    run_id: str
    attempt: int = 0
    max_attempts: int | None = None
    disable_immediate_execution: bool = False
    use_api: bool = False
    #: Hashed step ids in the order their memos were saved.
    stack: tuple[str, ...] = ()
    stack_current: int = 0
    fn_id: str | None = None
    env: str | None = None
    step_id: str | None = None
    qi_id: str | None = None
    request_id: str | None = None
    job_id: str | None = None
    generation_id: int | None = None


@attrs.frozen
class CallRequest:
    event: Event
    events: tuple[Event, ...]
    steps: Mapping[str, Any]
    ctx: CallContext
    use_api: bool = False
    version: int | None = None

    @property
    def needs_api_fetch(self) -> bool:
        """True when memos or events must be fetched from the API (``use_api``)."""
        return self.use_api or self.ctx.use_api


def _expect(value: Any, kind: type | tuple[type, ...], where: str, what: str) -> Any:
    if (isinstance(value, bool) and kind is int) or not isinstance(value, kind):
        msg = f"{where} must be {what}, got {json_type(value)}"
        raise BodyInvalidError(msg)
    return value


def _parse_ctx(raw: Any) -> CallContext:
    if type(raw) is not dict:
        _expect(raw, dict, "ctx", "a JSON object")
    run_id = raw.get("run_id")
    if type(run_id) is not str:
        run_id = _expect(run_id, str, "ctx.run_id", "a string")
    attempt = raw.get("attempt", 0)
    if type(attempt) is not int:
        _expect(attempt, int, "ctx.attempt", "an integer")
    stack_raw = raw.get("stack")
    stack: tuple[str, ...] = ()
    current = 0
    if stack_raw is not None:
        if type(stack_raw) is not dict:
            _expect(stack_raw, dict, "ctx.stack", "a JSON object")
        ids = stack_raw.get("stack")
        if ids is not None:
            if type(ids) is not list:
                _expect(ids, list, "ctx.stack.stack", "an array of step ids")
            # One pass in C for the usual all-strings stack (parsed JSON has
            # no str subclasses); the slow loop only to name the bad item.
            if not all(map(isinstance, ids, repeat(str))):
                for index, item in enumerate(ids):
                    where = f"ctx.stack.stack[{index}]"
                    _expect(item, str, where, "a step id string")
            stack = tuple(ids)
        current = stack_raw.get("current")
        current = 0 if current is None else current
        if type(current) is not int:
            _expect(current, int, "ctx.stack.current", "an integer")
    optional: dict[str, Any] = {}
    for key, kind, what in _OPTIONAL_CTX:
        value = raw.get(key)
        if value is not None:
            # ``type() is``: a bool is not an integer here, and it is quick.
            if type(value) is not kind:
                _expect(value, kind, f"ctx.{key}", what)
            optional[key] = value
    return CallContext(
        run_id=run_id,
        attempt=attempt,
        disable_immediate_execution=optional.pop("disable_immediate_execution", False),
        use_api=optional.pop("use_api", False),
        stack=stack,
        stack_current=current,
        **optional,
    )


#: ``ctx`` keys that may be absent or ``null``: (key, JSON type, its name).
_OPTIONAL_CTX = (
    ("max_attempts", int, "an integer"),
    ("disable_immediate_execution", bool, "a boolean"),
    ("use_api", bool, "a boolean"),
    ("fn_id", str, "a string"),
    ("env", str, "a string"),
    ("step_id", str, "a string"),
    ("qi_id", str, "a string"),
    ("request_id", str, "a string"),
    ("job_id", str, "a string"),
    ("generation_id", int, "an integer"),
)


def parse_call_request(raw: Any) -> CallRequest:
    """Validate a parsed call-request body; raises :class:`BodyInvalidError`."""
    if type(raw) is not dict:
        _expect(raw, dict, "the request body", "a JSON object")
    if "event" not in raw:
        msg = "the request body has no `event`; is this an Inngest call request?"
        raise BodyInvalidError(msg)
    event = parse_event(raw["event"], "event")
    events_raw = raw.get("events")
    if events_raw is None:
        events: tuple[Event, ...] = ()
    else:
        if type(events_raw) is not list:
            _expect(events_raw, list, "events", "an array of events")
        if len(events_raw) == 1 and events_raw[0] == raw["event"]:
            events = (event,)  # the usual case: the one event, parsed once
        else:
            events = tuple(
                parse_event(item, f"events[{i}]") for i, item in enumerate(events_raw)
            )
    steps = raw.get("steps")
    if steps is None:
        steps = {}
    if type(steps) is not dict:
        _expect(steps, dict, "steps", "a JSON object of memos")
    if "ctx" not in raw:
        msg = "the request body has no `ctx`; is this an Inngest call request?"
        raise BodyInvalidError(msg)
    ctx = _parse_ctx(raw["ctx"])
    use_api = raw.get("use_api", False)
    if type(use_api) is not bool:
        _expect(use_api, bool, "use_api", "a boolean")
    version = raw.get("version")
    if version is not None and type(version) is not int:
        _expect(version, int, "version", "an integer")
    return CallRequest(
        event=event,
        events=events or (event,),
        steps=steps,
        ctx=ctx,
        use_api=use_api,
        version=version,
    )
