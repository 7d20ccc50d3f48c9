"""Reading the functions an app registers, in every shape the SDKs send.

A sync (``POST /fn/register``, or a connect worker's hello) lists function
configs as JSON.  The server decodes them with Go's ``encoding/json`` into
structs of its own, so it takes more than the canonical shape this package
writes (:class:`~.._function_config.FunctionConfig`):

* keys match case-insensitively at every level (the Go SDK sends
  ``"Singleton"``, and scopes as ``"Fn"``);
* ``concurrency`` is a number (``{limit: N}`` in function scope, the
  TypeScript SDK's shorthand), one object, a list of objects, or the Go SDK's
  ``{"step": [...], "fn": [...]}``;
* ``triggers`` may be empty or absent (a TypeScript function triggered only
  by ``invoke`` lists none);
* a step's ``runtime.type`` may be absent (from the URL's scheme), its
  ``retries`` ``null`` or ``{}`` (0), and a function-level ``retries``
  number stands in when the step has none;
* ``priority: {}`` or ``{"run": null}`` is no priority, an empty
  ``debounce.key`` or ``idempotency`` is none, ``throttle.limit: 0`` is 1
  and ``throttle.burst: 0`` the default, a ``singleton`` without ``mode``
  skips, and empty duration strings are absent;
* a concurrency ``limit`` of 0 is no limit, and a ``cancel`` without an
  event name never cancels (both are taken, as the server takes them).

:func:`read_function_config` turns one of them into the canonical model, or
raises :class:`InvalidFunctionConfig` listing every problem: which function,
which field, what is wrong.  Expressions are not compiled here (the core has
no CEL); :func:`expressions_of` lists each expression of a config, with the
check registration makes on it, for the caller to compile.
"""

from __future__ import annotations

import datetime
import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NoReturn, TypeVar

import attrs
import cattrs

from .. import _json
from .._converter import strip_none, structure
from .._durations import parse_duration, parse_iso_time
from .._errors import FunctionConfigInvalidError
from .._function_config import (
    MAX_CONCURRENCY_ENTRIES,
    MAX_RETRIES,
    FunctionConfig,
    StepConfig,
    StepRetries,
    StepRuntime,
    Trigger,
)
from .._options import (
    MAX_EVENT_NAME_LENGTH,
    Batch,
    Cancel,
    Concurrency,
    Debounce,
    Priority,
    RateLimit,
    Singleton,
    Throttle,
    Timeouts,
    TriggerCron,
    TriggerEvent,
)
from ..expressions import ExpressionCheck
from ._cron import CronError, parse_jitter, validate_for_sync

__all__ = [
    "FLOW_CONTROL_KEYS",
    "MAX_CANCELS",
    "MAX_CONCURRENCY_LIMITS",
    "MAX_TRIGGERS",
    "ConfigProblem",
    "ExpressionCheck",
    "ExpressionUse",
    "InvalidFunctionConfig",
    "expressions_of",
    "read_function_config",
]

MAX_TRIGGERS = 10
MAX_CONCURRENCY_LIMITS = MAX_CONCURRENCY_ENTRIES
MAX_CANCELS = 5
_RUNTIME_SCHEMES = frozenset({"http", "https", "ws", "wss"})
_SCOPES = ("fn", "env", "account")
_MODES = ("skip", "cancel")
_MIN_DEBOUNCE = datetime.timedelta(seconds=1)
_MAX_DEBOUNCE = datetime.timedelta(days=7)
_MAX_RATE_LIMIT_PERIOD = datetime.timedelta(hours=24)
_MIN_BATCH_TIMEOUT = datetime.timedelta(seconds=1)
_MIN_BATCH_SIZE = 2
# Go's time.ParseDuration (batch timeouts) has no day or week unit.
_GO_DURATION_UNITS = re.compile(r"[dw]")

T = TypeVar("T")


@attrs.frozen
class ConfigProblem:
    """One reason a function config is refused."""

    #: The function's id (its name, or ``#<index>`` in the sync, without one).
    function: str
    #: Where in the config, as a path (``concurrency[0].key``); empty for
    #: the config as a whole.
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.field}: " if self.field else ""
        return f"function {self.function!r}: {where}{self.message}"


class InvalidFunctionConfig(ValueError):
    """A function config registration refuses; ``problems`` says why."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


@attrs.frozen
class ExpressionUse:
    """An expression in a config, where it is, and how registration checks it."""

    field: str
    text: str
    check: ExpressionCheck


class _Problem(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _fail(field: str, message: str) -> NoReturn:
    raise _Problem(field, message)


# --- plain values ------------------------------------------------------------------


def _fold(value: Any, field: str, known: Iterable[str]) -> dict[str, Any]:
    """An object with its keys spelled as ``known`` spells them.

    Go matches keys case-insensitively; an exact match is taken as it is,
    and a later key wins over an earlier one, as there.  Unknown keys are
    kept (and ignored by the converter).
    """
    if not isinstance(value, dict):
        _fail(field, f"must be an object, got {_json.json_type(value)}")
    by_lower = {key.lower(): key for key in known}
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = str(key)
        out[name if name in by_lower.values() else by_lower.get(name.lower(), name)] = (
            item
        )
    return out


def _integer(value: Any, field: str) -> int:
    # JSON has one number type: 2.0 is 2, 2.5 is no count.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(field, f"must be a whole number, got {_json.json_type(value)}")
    return value


def _text(value: Any, field: str, *, empty_is_none: bool = False) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        _fail(field, f"must be a string, got {_json.json_type(value)}")
    if empty_is_none and not value.strip():
        return None
    return value


def _required_text(value: Any, field: str) -> str:
    text = _text(value, field, empty_is_none=True)
    if text is None:
        _fail(field, "is required")
    return text


def _duration(value: Any, field: str, *, required: bool = False) -> str | None:
    text = _text(value, field, empty_is_none=True)
    if text is None:
        if required:
            _fail(field, "is required")
        return None
    try:
        parse_duration(text)
    except ValueError as err:
        _fail(field, str(err))
    return text


def _is_time(text: str) -> bool:
    try:
        parse_iso_time(text)
    except ValueError:
        return False
    return True


def _structure(data: Mapping[str, Any], cls: type[T], field: str) -> T:
    """``data`` (wire shape, types already checked) as ``cls``."""
    try:
        # On the wire an absent field is left out rather than null.
        return structure(strip_none(data), cls)
    except (FunctionConfigInvalidError, ValueError, TypeError) as err:
        _fail(field, str(err))
    except cattrs.BaseValidationError as err:
        # The options' own validators say what is wrong; keep the first.
        messages = cattrs.transform_error(
            err, path=field, format_exception=lambda exc, _: str(exc)
        )
        where, _, path = messages[0].rpartition(" @ ") if messages else ("", "", "")
        _fail(path or field, where or str(err))


# --- the fields ----------------------------------------------------------------------


def _steps(value: Any, function_retries: Any) -> dict[str, StepConfig]:
    if not isinstance(value, dict) or len(value) != 1:
        count = len(value) if isinstance(value, dict) else 0
        _fail("steps", f"a function needs exactly one step, got {count}")
    ((key, raw),) = value.items()
    field = f"steps.{key}"
    step = _fold(raw, field, ("id", "name", "runtime", "retries"))
    runtime = _fold(step.get("runtime"), f"{field}.runtime", ("type", "url"))
    url = _required_text(runtime.get("url"), f"{field}.runtime.url")
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in _RUNTIME_SCHEMES:
        _fail(f"{field}.runtime.url", f"{url!r} must be an http(s) or ws(s) URL")
    kind = _text(runtime.get("type"), f"{field}.runtime.type", empty_is_none=True)
    if kind is None:
        kind = "ws" if scheme in ("ws", "wss") else "http"
    if kind not in ("http", "ws"):
        _fail(f"{field}.runtime.type", f"must be http or ws, got {kind!r}")
    retries = step.get("retries")
    attempts: int | None = None
    if retries is not None:
        given = _fold(retries, f"{field}.retries", ("attempts",)).get("attempts")
        attempts = 0 if given is None else _integer(given, f"{field}.retries.attempts")
    elif function_retries is not None:
        attempts = _integer(function_retries, "retries")
    step_id = _text(step.get("id"), f"{field}.id", empty_is_none=True) or str(key)
    return {
        str(key): StepConfig(
            id=step_id,
            name=_text(step.get("name"), f"{field}.name", empty_is_none=True)
            or step_id,
            retries=None
            if attempts is None
            else StepRetries(attempts=min(max(attempts, 0), MAX_RETRIES)),
            runtime=StepRuntime(type=kind, url=url),  # type: ignore[arg-type]
        )
    }


def _triggers(value: Any) -> list[Trigger]:
    if not isinstance(value, list):
        _fail("triggers", f"must be a list, got {_json.json_type(value)}")
    if len(value) > MAX_TRIGGERS:
        _fail("triggers", f"at most {MAX_TRIGGERS} triggers are allowed")
    out: list[Trigger] = []
    seen: set[tuple[str, str | None]] = set()
    for index, raw in enumerate(value):
        field = f"triggers[{index}]"
        trigger = _fold(raw, field, ("event", "expression", "cron", "jitter"))
        event, cron = trigger.get("event"), trigger.get("cron")
        if (event is None) == (cron is None):
            _fail(field, "a trigger needs an event name or a cron schedule (not both)")
        key: tuple[str, str | None]
        if event is not None:
            name = _required_text(event, f"{field}.event")
            if len(name) > MAX_EVENT_NAME_LENGTH:
                longest = MAX_EVENT_NAME_LENGTH
                _fail(f"{field}.event", f"is longer than {longest} characters")
            expression = _text(trigger.get("expression"), f"{field}.expression")
            out.append(TriggerEvent(event=name, expression=expression))
            key = (f"event {name}", expression)
        else:
            schedule = _required_text(cron, f"{field}.cron")
            jitter = _text(trigger.get("jitter"), f"{field}.jitter", empty_is_none=True)
            try:
                validate_for_sync(schedule)
            except CronError as err:
                _fail(f"{field}.cron", str(err))
            try:
                parse_jitter(jitter)
            except CronError as err:
                _fail(f"{field}.jitter", str(err))
            out.append(TriggerCron(cron=schedule, jitter=jitter))
            key = (f"cron {schedule}", None)  # jitter aside: one schedule once
        if key in seen:
            _fail(field, f"duplicate trigger ({key[0]})")
        seen.add(key)
    return out


def _concurrency(value: Any) -> list[Concurrency]:
    field = "concurrency"
    if isinstance(value, int | float) and not isinstance(value, bool):
        # The TypeScript SDK's shorthand: a limit for the function.
        entries: list[Any] = [{"limit": value}]
        paths = [field]
    elif isinstance(value, dict):
        folded = _fold(value, field, ("fn", "step", "limit", "key", "scope", "hash"))
        if folded.get("fn") or folded.get("step"):
            # The Go SDK's {"fn": [...], "step": [...]}: "step" are the limits
            # this executor knows; "fn" limits hold a slot for a whole run.
            if folded.get("fn"):
                _fail(
                    "concurrency.fn",
                    "run-level (fn) concurrency limits are not supported by this "
                    "dev server; use step limits",
                )
            entries = folded["step"]
            if not isinstance(entries, list):
                _fail("concurrency.step", "must be a list of objects")
            paths = [f"concurrency.step[{i}]" for i in range(len(entries))]
        else:
            entries, paths = [value], [field]
    elif isinstance(value, list):
        entries, paths = value, [f"{field}[{i}]" for i in range(len(value))]
    else:
        _fail(
            field,
            "must be a number, an object or a list of objects, "
            f"got {_json.json_type(value)}",
        )
    if len(entries) > MAX_CONCURRENCY_LIMITS:
        _fail(
            field,
            f"at most {MAX_CONCURRENCY_LIMITS} concurrency limits are allowed, "
            f"got {len(entries)}",
        )
    out = []
    for raw, path in zip(entries, paths, strict=True):
        entry = _fold(raw, path, ("limit", "key", "scope", "hash"))
        if entry.get("limit") is None:
            _fail(f"{path}.limit", "is required")
        limit = _integer(entry["limit"], f"{path}.limit")
        if limit < 0:
            # 0 is no limit, as the server reads it; a negative has no meaning.
            _fail(f"{path}.limit", f"must be 0 (no limit) or more, got {limit}")
        key = _text(entry.get("key"), f"{path}.key")
        scope = _text(entry.get("scope"), f"{path}.scope", empty_is_none=True)
        if scope is not None:
            scope = scope.lower()
            if scope not in _SCOPES:
                _fail(f"{path}.scope", f"must be fn, env or account, got {scope!r}")
        if scope not in (None, "fn") and key is None:
            _fail(f"{path}.key", f"is required for {scope}-scoped limits")
        out.append(
            _structure({"limit": limit, "key": key, "scope": scope}, Concurrency, path)
        )
    return out


def _throttle(value: Any) -> Throttle:
    field = "throttle"
    raw = _fold(value, field, ("limit", "period", "burst", "key"))
    # The server reads a missing or zero limit as 1, and a zero burst as
    # the default.
    limit = _integer(raw.get("limit") or 1, f"{field}.limit")
    burst = raw.get("burst")
    burst = None if not burst else _integer(burst, f"{field}.burst")
    data = {
        "limit": limit,
        "period": _duration(raw.get("period"), f"{field}.period", required=True),
        "burst": burst,
        "key": _text(raw.get("key"), f"{field}.key", empty_is_none=True),
    }
    return _structure(data, Throttle, field)


def _rate_limit(value: Any) -> RateLimit:
    field = "rateLimit"
    raw = _fold(value, field, ("limit", "period", "key"))
    if raw.get("limit") is None:
        _fail(f"{field}.limit", "is required")
    limit = _integer(raw["limit"], f"{field}.limit")
    if limit < 1:
        _fail(f"{field}.limit", f"must be greater than 0, got {limit}")
    period = _duration(raw.get("period"), f"{field}.period", required=True)
    assert period is not None
    if parse_duration(period) > _MAX_RATE_LIMIT_PERIOD:
        _fail(f"{field}.period", f"must be at most 24h, got {period!r}")
    data = {"limit": limit, "period": period, "key": _text(raw.get("key"), field)}
    return _structure(data, RateLimit, field)


def _debounce(value: Any) -> Debounce:
    field = "debounce"
    raw = _fold(value, field, ("key", "period", "timeout"))
    period = _duration(raw.get("period"), f"{field}.period", required=True)
    assert period is not None
    if not _MIN_DEBOUNCE <= parse_duration(period) <= _MAX_DEBOUNCE:
        _fail(f"{field}.period", f"must be from 1s to 7d, got {period!r}")
    data = {
        "key": _text(raw.get("key"), f"{field}.key", empty_is_none=True),
        "period": period,
        "timeout": _duration(raw.get("timeout"), f"{field}.timeout"),
    }
    return _structure(data, Debounce, field)


def _batch(value: Any) -> Batch:
    field = "batchEvents"
    raw = _fold(value, field, ("maxSize", "timeout", "key", "if"))
    if raw.get("maxSize") is None:
        _fail(f"{field}.maxSize", "is required")
    size = _integer(raw["maxSize"], f"{field}.maxSize")
    if size < _MIN_BATCH_SIZE:
        _fail(f"{field}.maxSize", f"must be at least {_MIN_BATCH_SIZE}, got {size}")
    timeout = _duration(raw.get("timeout"), f"{field}.timeout", required=True)
    assert timeout is not None
    if _GO_DURATION_UNITS.search(timeout):
        _fail(f"{field}.timeout", f"{timeout!r}: use h, m or s (no d or w) here")
    if parse_duration(timeout) < _MIN_BATCH_TIMEOUT:
        _fail(f"{field}.timeout", f"must be at least 1s, got {timeout!r}")
    data = {
        "maxSize": size,
        "timeout": timeout,
        "key": _text(raw.get("key"), f"{field}.key", empty_is_none=True),
        "if": _text(raw.get("if"), f"{field}.if", empty_is_none=True),
    }
    return _structure(data, Batch, field)


def _priority(value: Any) -> Priority | None:
    raw = _fold(value, "priority", ("run",))
    run = _text(raw.get("run"), "priority.run", empty_is_none=True)
    return None if run is None else Priority(run=run)


def _cancels(value: Any) -> list[Cancel]:
    if not isinstance(value, list):
        _fail("cancel", f"must be a list, got {_json.json_type(value)}")
    if len(value) > MAX_CANCELS:
        _fail("cancel", f"at most {MAX_CANCELS} cancellations are allowed")
    out = []
    for index, item in enumerate(value):
        field = f"cancel[{index}]"
        raw = _fold(item, field, ("event", "if", "timeout"))
        timeout = _text(raw.get("timeout"), f"{field}.timeout", empty_is_none=True)
        if timeout is not None and _is_time(timeout):
            # The TypeScript SDK sends a Date as an ISO time; the server
            # cancels until then.  Our Cancel holds a duration only.
            _fail(
                f"{field}.timeout",
                f"{timeout!r} is a point in time; this dev server takes a "
                "duration here (such as '1h')",
            )
        data = {
            # The server takes an empty (or absent) event: no event has that
            # name, so it never cancels.
            "event": _text(raw.get("event"), f"{field}.event") or "",
            "if": _text(raw.get("if"), f"{field}.if", empty_is_none=True),
            "timeout": _duration(timeout, f"{field}.timeout"),
        }
        out.append(_structure(data, Cancel, field))
    return out


def _timeouts(value: Any) -> Timeouts:
    raw = _fold(value, "timeouts", ("start", "finish"))
    data = {
        "start": _duration(raw.get("start"), "timeouts.start"),
        "finish": _duration(raw.get("finish"), "timeouts.finish"),
    }
    return _structure(data, Timeouts, "timeouts")


def _singleton(value: Any) -> Singleton:
    raw = _fold(value, "singleton", ("key", "mode"))
    mode = _text(raw.get("mode"), "singleton.mode", empty_is_none=True)
    mode = "skip" if mode is None else mode.lower()  # Go's zero value skips
    if mode not in _MODES:
        _fail("singleton.mode", f"must be skip or cancel, got {mode!r}")
    key = _text(raw.get("key"), "singleton.key", empty_is_none=True)
    return Singleton(key=key, mode=mode)  # type: ignore[arg-type]


#: The flow-control keys of a synced function's config, as the wire spells
#: them (what a host shows as a function's flow control).
FLOW_CONTROL_KEYS = (
    "concurrency",
    "throttle",
    "rateLimit",
    "debounce",
    "batchEvents",
    "priority",
    "cancel",
    "singleton",
    "timeouts",
    "idempotency",
)
_FUNCTION_KEYS = ("id", "name", "triggers", "steps", "retries", *FLOW_CONTROL_KEYS)


def _slug(name: str) -> str:
    out = "".join(c if c.isalnum() else "-" for c in name.lower())
    return "-".join(part for part in out.split("-") if part)


def read_function_config(raw: Any, *, index: int = 0) -> FunctionConfig:
    """One function of a sync as the canonical model; see the module docstring.

    ``index`` is its place in the sync, to name a function without an id.
    Raises :class:`InvalidFunctionConfig` with every problem found.
    """
    try:
        fields = _fold(raw, "", _FUNCTION_KEYS)
    except _Problem as problem:
        label = f"#{index}"
        raise InvalidFunctionConfig(
            [ConfigProblem(label, "", problem.message)]
        ) from None
    name, fn_id = fields.get("name"), fields.get("id")
    if not isinstance(fn_id, str) or not fn_id:
        fn_id = _slug(name) if isinstance(name, str) else ""
    label = fn_id or f"#{index}"
    problems: list[ConfigProblem] = []
    values: dict[str, Any] = {}

    def read(key: str, attr: str, reader: Any, *args: Any) -> None:
        value = fields.get(key)
        if value is None and key not in ("steps", "triggers"):
            return
        try:
            values[attr] = reader(value, *args)
        except _Problem as problem:
            problems.append(ConfigProblem(label, problem.field, problem.message))

    if not isinstance(name, str) or not name:
        problems.append(ConfigProblem(label, "name", "a function name is required"))
    read("steps", "steps", _steps, fields.get("retries"))
    read("triggers", "triggers", lambda v: [] if v is None else _triggers(v))
    read("concurrency", "concurrency", _concurrency)
    read("throttle", "throttle", _throttle)
    read("rateLimit", "rate_limit", _rate_limit)
    read("debounce", "debounce", _debounce)
    read("batchEvents", "batch_events", _batch)
    read("priority", "priority", _priority)
    read("cancel", "cancel", _cancels)
    read("timeouts", "timeouts", _timeouts)
    read("singleton", "singleton", _singleton)
    read(
        "idempotency",
        "idempotency",
        lambda v: _text(v, "idempotency", empty_is_none=True),
    )
    if values.get("batch_events") is not None:
        for attr, what in (
            ("cancel", "cancellation"),
            ("debounce", "debouncing"),
            ("singleton", "singletons"),
            ("priority", "priority.run"),
        ):
            if values.get(attr):
                problems.append(
                    ConfigProblem(
                        label, "batchEvents", f"batching and {what} cannot be combined"
                    )
                )
    if problems:
        raise InvalidFunctionConfig(problems)
    return FunctionConfig(id=fn_id, name=str(name), **values)


def expressions_of(config: FunctionConfig) -> list[ExpressionUse]:
    """Every expression in ``config``, with the check registration makes.

    Trigger expressions and the keys the server type-checks get ``types``;
    concurrency keys, ``priority.run`` and the throttle and singleton keys
    must only parse; a ``cancel`` ``if`` follows the restrictive policy.
    """
    out: list[ExpressionUse] = []

    def add(field: str, text: str | None, check: ExpressionCheck) -> None:
        if text is not None:
            out.append(ExpressionUse(field, text, check))

    for i, trigger in enumerate(config.triggers):
        if isinstance(trigger, TriggerEvent):
            add(f"triggers[{i}].expression", trigger.expression, "types")
    for i, limit in enumerate(config.concurrency or ()):
        add(f"concurrency[{i}].key", limit.key, "syntax")
    if config.throttle is not None:
        add("throttle.key", config.throttle.key, "syntax")
    if config.rate_limit is not None:
        add("rateLimit.key", config.rate_limit.key, "types")
    add("idempotency", config.idempotency, "types")
    if config.debounce is not None:
        add("debounce.key", config.debounce.key, "types")
    if config.batch_events is not None:
        add("batchEvents.key", config.batch_events.key, "types")
        add("batchEvents.if", config.batch_events.if_exp, "types")
    if config.priority is not None:
        add("priority.run", config.priority.run, "syntax")
    for i, cancel in enumerate(config.cancel or ()):
        add(f"cancel[{i}].if", cancel.if_exp, "restrictive")
    if config.singleton is not None:
        add("singleton.key", config.singleton.key, "syntax")
    return out
