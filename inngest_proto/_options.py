"""The option classes ``create_function`` takes, named as in the official SDK.

Each is a frozen attrs class validated at construction (bad values raise
:class:`FunctionConfigInvalidError` naming the field) and registered with the
one converter, which renders it in the wire shape of a function config:
camelCase keys, durations as ``"<n><unit>"`` strings, ``None`` fields left out.

Durations are milliseconds (``int``) or a :class:`datetime.timedelta`, at least
one second and a whole number of seconds, as in the official SDK.

They have the official models' pydantic methods (``model_dump`` & co., see
:mod:`._model_api`); invalid input to ``model_validate`` raises
:class:`FunctionConfigInvalidError` as the constructor does, and as the
official options do.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, NoReturn, TypeAlias

import attrs

from ._converter import register_wire_model
from ._durations import parse_duration, to_duration_string
from ._errors import ErrorDetails, FunctionConfigInvalidError
from ._model_api import ModelMethods

__all__ = [
    "Batch",
    "Cancel",
    "Concurrency",
    "ConcurrencyScope",
    "Debounce",
    "Duration",
    "Priority",
    "RateLimit",
    "Singleton",
    "SingletonMode",
    "Throttle",
    "Timeouts",
    "TriggerCron",
    "TriggerEvent",
]

#: The longest event name the Inngest server accepts in a trigger.
MAX_EVENT_NAME_LENGTH = 255

#: Milliseconds, or a timedelta.
Duration: TypeAlias = int | datetime.timedelta
ConcurrencyScope: TypeAlias = Literal["fn", "env", "account"]
SingletonMode: TypeAlias = Literal["skip", "cancel"]

_SCOPES = ("fn", "env", "account")
_MODES = ("skip", "cancel")


# --- validators -------------------------------------------------------------


def _fail(inst: object, attr: attrs.Attribute[Any], problem: str) -> NoReturn:
    msg = f"{type(inst).__name__}.{attr.name} {problem}"
    raise FunctionConfigInvalidError(msg, field=attr.name)


def _required(
    hint: str,
) -> Callable[[object, attrs.Attribute[Any], object], None]:
    """A non-empty string; ``hint`` says what to pass (the server refuses "")."""

    def check(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, str) or not value:
            _fail(inst, attr, f"must be a non-empty string: {hint}; got {value!r}")

    return check


def _event_name(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    _required("an event name such as 'app/user.created'")(inst, attr, value)
    assert isinstance(value, str)
    if len(value) > MAX_EVENT_NAME_LENGTH:
        _fail(
            inst,
            attr,
            f"is {len(value)} characters long; the Inngest server takes event "
            f"names of at most {MAX_EVENT_NAME_LENGTH}",
        )


def _str(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        _fail(inst, attr, f"must be a string, got {value!r}")


def _opt_text(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, str):
        _fail(inst, attr, f"must be a string or None, got {value!r}")


def _positive_int(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        _fail(inst, attr, f"must be a positive int, got {value!r}")


def _non_negative_int(
    hint: str,
) -> Callable[[object, attrs.Attribute[Any], object], None]:
    """An int >= 0; ``hint`` says what 0 means."""

    def check(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            _fail(inst, attr, f"must be a positive int or 0 ({hint}), got {value!r}")

    return check


def _opt_non_negative_int(
    inst: object, attr: attrs.Attribute[Any], value: object
) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        _fail(inst, attr, f"must be a non-negative int or None, got {value!r}")


def _duration(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | datetime.timedelta):
        _fail(inst, attr, f"must be milliseconds (int) or a timedelta, got {value!r}")
    try:
        to_duration_string(value)
    except ValueError as err:
        _fail(inst, attr, f"is not a valid duration ({value!r}): {err}")


def _opt_duration(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _duration(inst, attr, value)


def _jitter(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, str):
        if not value:
            _fail(inst, attr, "must not be an empty string")
    else:
        _opt_duration(inst, attr, value)


def _one_of(*choices: str) -> Callable[[object, attrs.Attribute[Any], object], None]:
    def check(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
        if value not in choices:
            _fail(inst, attr, f"must be one of {', '.join(choices)}; got {value!r}")

    return check


def _opt_one_of(
    *choices: str,
) -> Callable[[object, attrs.Attribute[Any], object], None]:
    check = _one_of(*choices)

    def opt_check(inst: object, attr: attrs.Attribute[Any], value: object) -> None:
        if value is not None:
            check(inst, attr, value)

    return opt_check


# --- the classes ------------------------------------------------------------


def _option_error(name: str, errors: list[ErrorDetails]) -> Exception:
    """Invalid input to an option's ``model_validate``: as the official options,
    :class:`FunctionConfigInvalidError` with ``"<field>: <problem>"`` of the
    first error."""
    first = errors[0]
    field = str(first["loc"][0]) if first["loc"] else None
    return FunctionConfigInvalidError(f"{name}.{field}: {first['msg']}", field=field)


@attrs.frozen(kw_only=True)
class TriggerEvent(ModelMethods):
    """Run the function for every event named ``event`` (``expression``: CEL filter)."""

    _model_error = staticmethod(_option_error)

    event: str = attrs.field(validator=_event_name)
    expression: str | None = attrs.field(default=None, validator=_opt_text)


@attrs.frozen(kw_only=True)
class TriggerCron(ModelMethods):
    """Run the function on a schedule.

    ``cron`` is a 5-field cron expression, optionally prefixed ``TZ=<zone> ``.
    ``jitter`` is sent as given when a string (e.g. ``"5m"``); a duration is
    rendered like the others.
    """

    _model_error = staticmethod(_option_error)

    cron: str = attrs.field(
        validator=_required("a cron schedule such as '0 * * * *' or 'TZ=UTC 0 9 * * 1'")
    )
    jitter: str | Duration | None = attrs.field(default=None, validator=_jitter)


@attrs.frozen(kw_only=True)
class Batch(ModelMethods):
    """Collect up to ``max_size`` events, or for ``timeout``, into one run.

    The server requires ``timeout`` although the official SDK lets you omit it.
    """

    _model_error = staticmethod(_option_error)

    max_size: int = attrs.field(validator=_positive_int)
    timeout: Duration | None = attrs.field(default=None, validator=_opt_duration)
    key: str | None = attrs.field(default=None, validator=_opt_text)
    if_exp: str | None = attrs.field(default=None, validator=_opt_text)


@attrs.frozen(kw_only=True)
class Cancel(ModelMethods):
    """Cancel a run when ``event`` arrives.

    In ``if_exp``, ``event`` is the triggering event and ``async`` the cancel one.
    An empty ``event`` is accepted, as by the Inngest server: no event has
    that name, so it never cancels.
    """

    _model_error = staticmethod(_option_error)

    event: str = attrs.field(validator=_str)
    if_exp: str | None = attrs.field(default=None, validator=_opt_text)
    timeout: Duration | None = attrs.field(default=None, validator=_opt_duration)


@attrs.frozen(kw_only=True)
class Concurrency(ModelMethods):
    """At most ``limit`` steps running at once, per ``key`` within ``scope``.

    A ``limit`` of 0 is no limit, as the Inngest server reads it.
    """

    _model_error = staticmethod(_option_error)

    key: str | None = attrs.field(default=None, validator=_opt_text)
    limit: int = attrs.field(validator=_non_negative_int("0 is no limit"))
    scope: ConcurrencyScope | None = attrs.field(
        default=None, validator=_opt_one_of(*_SCOPES)
    )


@attrs.frozen(kw_only=True)
class Debounce(ModelMethods):
    """Run once with the last event after ``period`` of quiet (at most ``timeout``)."""

    _model_error = staticmethod(_option_error)

    key: str | None = attrs.field(default=None, validator=_opt_text)
    period: Duration = attrs.field(validator=_duration)
    timeout: Duration | None = attrs.field(default=None, validator=_opt_duration)


@attrs.frozen(kw_only=True)
class Priority(ModelMethods):
    """``run``: CEL expression giving seconds to move a run ahead (or back) in line."""

    _model_error = staticmethod(_option_error)

    run: str = attrs.field(
        validator=_required(
            "an expression giving seconds, such as 'event.data.priority'; "
            "leave priority out for none"
        )
    )


@attrs.frozen(kw_only=True)
class RateLimit(ModelMethods):
    """Start at most ``limit`` runs per ``period`` (per ``key``); drop the rest."""

    _model_error = staticmethod(_option_error)

    key: str | None = attrs.field(default=None, validator=_opt_text)
    limit: int = attrs.field(validator=_positive_int)
    period: Duration = attrs.field(validator=_duration)


@attrs.frozen(kw_only=True)
class Throttle(ModelMethods):
    """Start at most ``limit`` runs per ``period`` (per ``key``); queue the rest.

    A ``limit`` of 0 is sent as given; the Inngest server reads it as 1.
    """

    _model_error = staticmethod(_option_error)

    key: str | None = attrs.field(default=None, validator=_opt_text)
    limit: int = attrs.field(validator=_non_negative_int("the server reads 0 as 1"))
    period: Duration = attrs.field(validator=_duration)
    # 0 is valid (only ``limit`` runs start at once), as in Go and the
    # official SDK; None (absent on the wire) means the same.
    burst: int | None = attrs.field(default=1, validator=_opt_non_negative_int)


@attrs.frozen(kw_only=True)
class Timeouts(ModelMethods):
    """Cancel a run not started within ``start`` or not finished within ``finish``."""

    _model_error = staticmethod(_option_error)

    start: Duration | None = attrs.field(default=None, validator=_opt_duration)
    finish: Duration | None = attrs.field(default=None, validator=_opt_duration)


@attrs.frozen(kw_only=True)
class Singleton(ModelMethods):
    """One run per ``key`` at a time; a new one is skipped or cancels the old one."""

    _model_error = staticmethod(_option_error)

    key: str | None = attrs.field(default=None, validator=_opt_text)
    mode: SingletonMode = attrs.field(validator=_one_of(*_MODES))


# --- wire shape -------------------------------------------------------------


def _render(value: Duration | None) -> str | None:
    return None if value is None else to_duration_string(value)


def _render_jitter(value: str | Duration | None) -> str | None:
    return value if value is None or isinstance(value, str) else _render(value)


def _render_batch_timeout(value: Duration | None) -> str | None:
    # The server reads batchEvents.timeout with Go's time.ParseDuration, which
    # knows no "d" or "w": whole days go out as hours ("1d" -> "24h").
    text = _render(value)
    if text is not None and text[-1] in "dw":
        text = f"{parse_duration(text) // datetime.timedelta(hours=1)}h"
    return text


def _parse(value: Any, _: Any) -> datetime.timedelta:
    if not isinstance(value, str):
        msg = f"a duration must be a string like '5m', got {value!r}"
        raise TypeError(msg)
    return parse_duration(value)


def _parse_jitter(value: Any, _: Any) -> str:
    if not isinstance(value, str):
        msg = f"jitter must be a string, got {value!r}"
        raise TypeError(msg)
    return value


def _register_option(
    cls: type[Any],
    *,
    renames: Mapping[str, str] | None = None,
    durations: Iterable[str] = (),
    render: Mapping[str, Callable[[Any], Any]] | None = None,
    parse: Mapping[str, Callable[[Any, Any], Any]] | None = None,
    absent_is_none: Iterable[str] = (),
) -> None:
    """Wire shape of an option; ``durations`` name its duration fields."""
    durations = list(durations)
    register_wire_model(
        cls,
        renames=renames,
        unstruct_hooks={**dict.fromkeys(durations, _render), **(render or {})},
        struct_hooks={**dict.fromkeys(durations, _parse), **(parse or {})},
        absent_is_none=absent_is_none,
    )


_register_option(TriggerEvent)
_register_option(
    TriggerCron, render={"jitter": _render_jitter}, parse={"jitter": _parse_jitter}
)
_register_option(
    Batch,
    renames={"max_size": "maxSize", "if_exp": "if"},
    render={"timeout": _render_batch_timeout},
    parse={"timeout": _parse},
)
_register_option(Cancel, renames={"if_exp": "if"}, durations=["timeout"])
_register_option(Concurrency)
_register_option(Debounce, durations=["period", "timeout"])
_register_option(Priority)
_register_option(RateLimit, durations=["period"])
_register_option(Throttle, durations=["period"], absent_is_none=["burst"])
_register_option(Timeouts, durations=["start", "finish"])
_register_option(Singleton)
