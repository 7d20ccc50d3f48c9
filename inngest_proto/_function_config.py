"""Function configs: what a sync tells Inngest about each function.

:class:`FunctionOptions` holds what ``create_function`` was given (all but the
handlers), validated once.  :meth:`FunctionOptions.to_configs` turns it into
the wire :class:`FunctionConfig` list for one serve URL: the function itself
and, when it has an on-failure handler, the ``<id>-failure`` function that
the ``inngest/function.failed`` event triggers.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any, Literal, NoReturn, TypeAlias

import attrs

from ._converter import register_wire_model
from ._errors import FunctionConfigInvalidError
from ._options import (
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

__all__ = [
    "FUNCTION_FAILED_EVENT",
    "MAX_CONCURRENCY_ENTRIES",
    "MAX_RETRIES",
    "ROOT_STEP_ID",
    "FunctionConfig",
    "FunctionOptions",
    "StepConfig",
    "StepRetries",
    "StepRuntime",
    "Trigger",
    "build_function_configs",
    "failure_function_id",
    "fully_qualified_id",
]

Trigger: TypeAlias = TriggerEvent | TriggerCron

#: The one step every function config declares, and the ``stepId`` in its URL.
ROOT_STEP_ID = "step"
#: The internal event that triggers on-failure handlers.
FUNCTION_FAILED_EVENT = "inngest/function.failed"
#: Most retries the server allows (attempts = retries + 1).
MAX_RETRIES = 20
#: Most concurrency constraints a function may have.
MAX_CONCURRENCY_ENTRIES = 2


# --- wire models ------------------------------------------------------------


@attrs.frozen(kw_only=True)
class StepRetries:
    """``attempts`` is the number of *retries* (the user's ``retries=``)."""

    attempts: int


@attrs.frozen(kw_only=True)
class StepRuntime:
    type: Literal["http", "ws"]
    url: str


@attrs.frozen(kw_only=True)
class StepConfig:
    id: str
    name: str
    retries: StepRetries | None = None
    runtime: StepRuntime


@attrs.frozen(kw_only=True)
class FunctionConfig:
    """One function as a sync payload lists it (keys in the official SDK's order)."""

    batch_events: Batch | None = None
    cancel: list[Cancel] | None = None
    concurrency: list[Concurrency] | None = None
    debounce: Debounce | None = None
    id: str
    idempotency: str | None = None
    name: str
    priority: Priority | None = None
    rate_limit: RateLimit | None = None
    steps: dict[str, StepConfig]
    throttle: Throttle | None = None
    timeouts: Timeouts | None = None
    singleton: Singleton | None = None
    triggers: list[Trigger]


register_wire_model(StepRetries)
register_wire_model(StepRuntime)
register_wire_model(StepConfig)
register_wire_model(
    FunctionConfig, renames={"batch_events": "batchEvents", "rate_limit": "rateLimit"}
)


# --- ids and URLs -----------------------------------------------------------


def fully_qualified_id(app_id: str, fn_id: str) -> str:
    """The id Inngest knows a function by: ``<app_id>-<fn_id>``."""
    return f"{app_id}-{fn_id}"


def failure_function_id(app_id: str, fn_id: str) -> str:
    """The id of a function's on-failure handler: ``<app_id>-<fn_id>-failure``."""
    return f"{fully_qualified_id(app_id, fn_id)}-failure"


def _root_step(serve_url: str, composite_id: str, retries: int | None) -> StepConfig:
    query = urllib.parse.urlencode({"fnId": composite_id, "stepId": ROOT_STEP_ID})
    url = f"{serve_url}?{query}"
    return StepConfig(
        id=ROOT_STEP_ID,
        name=ROOT_STEP_ID,
        retries=None if retries is None else StepRetries(attempts=retries),
        runtime=StepRuntime(type="ws" if url.startswith("wss://") else "http", url=url),
    )


# --- options ----------------------------------------------------------------


def _to_triggers(value: Trigger | Sequence[Trigger]) -> tuple[Trigger, ...]:
    if isinstance(value, list | tuple):
        return tuple(value)
    return (value,)  # type: ignore[return-value]


def _to_tuple(value: Sequence[Any] | None) -> tuple[Any, ...] | None:
    return tuple(value) if isinstance(value, list | tuple) else value  # type: ignore[return-value]


_Validator: TypeAlias = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def _fail(opts: object, attr: attrs.Attribute[Any], problem: str) -> NoReturn:
    fn_id = getattr(opts, "fn_id", "?")
    msg = f"function {fn_id!r}: {attr.name} {problem}"
    raise FunctionConfigInvalidError(msg)


def _option_of(cls: type[Any]) -> _Validator:
    def check(opts: object, attr: attrs.Attribute[Any], value: object) -> None:
        if value is not None and not isinstance(value, cls):
            _fail(opts, attr, f"must be an inngest.{cls.__name__}, got {value!r}")

    return check


def _list_of(cls: type[Any], *, max_len: int | None = None) -> _Validator:
    def check(opts: object, attr: attrs.Attribute[Any], value: object) -> None:
        if value is None:
            return
        if not isinstance(value, tuple) or not all(isinstance(v, cls) for v in value):
            _fail(
                opts, attr, f"must be a list of inngest.{cls.__name__}, got {value!r}"
            )
        if max_len is not None and len(value) > max_len:
            _fail(opts, attr, f"accepts at most {max_len} entries, got {len(value)}")

    return check


def _check_fn_id(opts: object, attr: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        msg = f"fn_id must be a non-empty string such as 'send-welcome', got {value!r}"
        raise FunctionConfigInvalidError(msg)
    # An empty fn_id is taken when there is a name, as by the official SDK
    # and the server (the id is then "<app_id>-"); without one the function
    # has no name, which the server refuses.
    if not value and not getattr(opts, "name", None):
        msg = (
            "fn_id must be a non-empty string such as 'send-welcome' (the "
            "function's name defaults to it, and Inngest requires a name), got ''"
        )
        raise FunctionConfigInvalidError(msg)


def _check_triggers(opts: object, attr: attrs.Attribute[Any], value: object) -> None:
    # No trigger is allowed: such a function runs only when invoked.
    assert isinstance(value, tuple)
    for trigger in value:
        if not isinstance(trigger, TriggerEvent | TriggerCron):
            _fail(opts, attr, f"must be TriggerEvent or TriggerCron, got {trigger!r}")


def _check_text(opts: object, attr: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, str):
        _fail(opts, attr, f"must be a string or None, got {value!r}")


def _check_retries(opts: object, attr: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    # More than MAX_RETRIES is sent as given: the server caps it.
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(opts, attr, f"must be an int of 0 or more, got {value!r}")
    if value < 0:
        _fail(opts, attr, f"must be 0 or more (0: no retries), got {value}")


@attrs.frozen(kw_only=True)
class FunctionOptions:
    """Everything ``create_function`` takes except the handlers, validated.

    ``triggers`` takes one trigger or a list (``create_function``'s
    ``trigger``); ``name`` defaults to ``fn_id``.  ``retries`` is the number
    of retries after the first attempt (server default when ``None``).
    """

    fn_id: str = attrs.field(validator=_check_fn_id)
    triggers: tuple[Trigger, ...] = attrs.field(
        converter=_to_triggers, validator=_check_triggers
    )
    name: str | None = attrs.field(default=None, validator=_check_text)
    retries: int | None = attrs.field(default=None, validator=_check_retries)
    batch_events: Batch | None = attrs.field(default=None, validator=_option_of(Batch))
    cancel: tuple[Cancel, ...] | None = attrs.field(
        default=None, converter=_to_tuple, validator=_list_of(Cancel)
    )
    concurrency: tuple[Concurrency, ...] | None = attrs.field(
        default=None,
        converter=_to_tuple,
        validator=_list_of(Concurrency, max_len=MAX_CONCURRENCY_ENTRIES),
    )
    debounce: Debounce | None = attrs.field(
        default=None, validator=_option_of(Debounce)
    )
    idempotency: str | None = attrs.field(default=None, validator=_check_text)
    priority: Priority | None = attrs.field(
        default=None, validator=_option_of(Priority)
    )
    rate_limit: RateLimit | None = attrs.field(
        default=None, validator=_option_of(RateLimit)
    )
    throttle: Throttle | None = attrs.field(
        default=None, validator=_option_of(Throttle)
    )
    timeouts: Timeouts | None = attrs.field(
        default=None, validator=_option_of(Timeouts)
    )
    singleton: Singleton | None = attrs.field(
        default=None, validator=_option_of(Singleton)
    )

    @property
    def display_name(self) -> str:
        """``name``, or ``fn_id`` when no name was given."""
        return self.name or self.fn_id

    def to_configs(
        self, *, app_id: str, serve_url: str, has_on_failure: bool
    ) -> list[FunctionConfig]:
        """The function's configs for ``serve_url``, with the failure handler's.

        ``serve_url`` is the advertised URL without query string; each config's
        runtime URL adds ``fnId`` and ``stepId``.
        """
        if not isinstance(app_id, str) or not app_id:
            msg = f"app_id must be a non-empty string, got {app_id!r}"
            raise FunctionConfigInvalidError(msg)
        composite_id = fully_qualified_id(app_id, self.fn_id)
        main = FunctionConfig(
            batch_events=self.batch_events,
            cancel=None if self.cancel is None else list(self.cancel),
            concurrency=None if self.concurrency is None else list(self.concurrency),
            debounce=self.debounce,
            id=composite_id,
            idempotency=self.idempotency,
            name=self.display_name,
            priority=self.priority,
            rate_limit=self.rate_limit,
            steps={ROOT_STEP_ID: _root_step(serve_url, composite_id, self.retries)},
            throttle=self.throttle,
            timeouts=self.timeouts,
            singleton=self.singleton,
            triggers=list(self.triggers),
        )
        if not has_on_failure:
            return [main]
        failure_id = failure_function_id(app_id, self.fn_id)
        on_failure = FunctionConfig(
            # The official SDK sends these two as empty lists.
            cancel=[],
            concurrency=[],
            id=failure_id,
            name=f"{self.display_name} (failure)",
            steps={ROOT_STEP_ID: _root_step(serve_url, failure_id, 0)},
            triggers=[
                TriggerEvent(
                    event=FUNCTION_FAILED_EVENT,
                    expression=f"event.data.function_id == '{composite_id}'",
                )
            ],
        )
        return [main, on_failure]


def build_function_configs(
    *,
    app_id: str,
    fn_id: str,
    name: str | None,
    triggers: Trigger | Sequence[Trigger],
    retries: int | None,
    has_on_failure: bool,
    serve_url: str,
    batch_events: Batch | None = None,
    cancel: Sequence[Cancel] | None = None,
    concurrency: Sequence[Concurrency] | None = None,
    debounce: Debounce | None = None,
    idempotency: str | None = None,
    priority: Priority | None = None,
    rate_limit: RateLimit | None = None,
    throttle: Throttle | None = None,
    timeouts: Timeouts | None = None,
    singleton: Singleton | None = None,
) -> list[FunctionConfig]:
    """Shorthand for ``FunctionOptions(...).to_configs(...)``."""
    options = FunctionOptions(
        fn_id=fn_id,
        triggers=triggers,
        name=name,
        retries=retries,
        batch_events=batch_events,
        cancel=cancel,
        concurrency=concurrency,
        debounce=debounce,
        idempotency=idempotency,
        priority=priority,
        rate_limit=rate_limit,
        throttle=throttle,
        timeouts=timeouts,
        singleton=singleton,
    )
    return options.to_configs(
        app_id=app_id, serve_url=serve_url, has_on_failure=has_on_failure
    )
