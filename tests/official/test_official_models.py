"""The models' pydantic methods against the official SDK's (``inngest==0.5.19``).

For each model apps build (``Event``, the triggers and options, and
``SendEventsResult``), hypothesis draws constructor arguments both SDKs
accept; both build the model, and every ``model_dump`` combination
(``mode``, ``by_alias``, ``exclude_none``, ``exclude_unset``,
``exclude_defaults``), ``model_dump_json`` (parsed), ``model_fields_set``,
``model_validate`` / ``model_validate_json`` and ``model_copy(update=...)``
must give the same results.  Invalid input must fail in both, with the
error a user catches: our :class:`inngest_proto.ValidationError` where the
official SDK raises pydantic's (same ``loc`` and ``type``), and
``FunctionConfigInvalidError`` (naming the same field) where it raises that.
Skipped where the official SDK is absent (``official`` tox env).
"""

from __future__ import annotations

import datetime
import itertools
import json
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import inngest_proto
from inngest_proto._errors import FunctionConfigInvalidError

#: The official SDK's pydantic models use v1-style ``class Config``; pydantic
#: warns at import, and our ``filterwarnings = error`` would make it fatal.
_PYDANTIC_CONFIG = "Support for class-based `config` is deprecated"
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", _PYDANTIC_CONFIG, DeprecationWarning)
    pytest.importorskip("inngest")
    import inngest
    import pydantic
    from inngest._internal import errors as official_errors

# --- what both SDKs accept ----------------------------------------------------

_text = st.text(st.characters(codec="utf-8"), max_size=12)
_name = _text.filter(bool)
_opt_text = st.none() | _text
_positive = st.integers(min_value=1, max_value=10**9)
_seconds = st.integers(min_value=1, max_value=10**7)
_durations = st.one_of(
    _seconds.map(lambda s: s * 1000),
    _seconds.map(lambda s: datetime.timedelta(seconds=s)),
)
_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text
)
_json = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3)
    ),
    max_leaves=8,
)


def _not_whole_days(value: int | datetime.timedelta) -> bool:
    # batchEvents.timeout in whole days is rendered in hours on purpose (the
    # server's Go parser knows no "d"): test_batch_timeout_in_days has it.
    seconds = (
        value.total_seconds() if isinstance(value, datetime.timedelta) else value / 1000
    )
    return seconds % 86_400 != 0


#: Model name -> (required arguments, optional arguments).
_ARGUMENTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "Event": (
        {"name": _name},
        {
            "data": st.none() | st.dictionaries(_text, _json, max_size=4),
            "id": _text,
            "ts": st.integers(min_value=0, max_value=2**53),
        },
    ),
    "TriggerEvent": ({"event": _name}, {"expression": _opt_text}),
    "TriggerCron": ({"cron": _name}, {"jitter": st.none() | _name}),
    "Batch": (
        {"max_size": _positive},
        {
            "timeout": st.none() | _durations.filter(_not_whole_days),
            "key": _opt_text,
            "if_exp": _opt_text,
        },
    ),
    "Cancel": (
        {"event": _name},
        {"if_exp": _opt_text, "timeout": st.none() | _durations},
    ),
    "Concurrency": (
        {"limit": _positive},
        {"key": _opt_text, "scope": st.sampled_from([None, "fn", "env", "account"])},
    ),
    "Debounce": (
        {"period": _durations},
        {"key": _opt_text, "timeout": st.none() | _durations},
    ),
    "Priority": ({"run": _name}, {}),
    "RateLimit": ({"limit": _positive, "period": _durations}, {"key": _opt_text}),
    "Throttle": (
        {"limit": _positive, "period": _durations},
        {"key": _opt_text, "burst": st.none() | st.integers(0, 100)},
    ),
    "Timeouts": (
        {},
        {"start": st.none() | _durations, "finish": st.none() | _durations},
    ),
    "Singleton": ({"mode": st.sampled_from(["skip", "cancel"])}, {"key": _opt_text}),
    "SendEventsResult": ({}, {"error": _opt_text, "ids": st.lists(_text, max_size=3)}),
}


def _arguments(model: str) -> st.SearchStrategy[dict[str, Any]]:
    required, optional = _ARGUMENTS[model]
    return st.fixed_dictionaries(required, optional=optional)


def _classes(model: str) -> tuple[Any, Any]:
    return getattr(inngest, model), getattr(inngest_proto, model)


_DUMP_OPTIONS = [
    dict(
        zip(
            ("mode", "by_alias", "exclude_none", "exclude_unset", "exclude_defaults"),
            combo,
            strict=True,
        )
    )
    for combo in itertools.product(("python", "json"), *([(False, True)] * 4))
]

_MODELS = sorted(_ARGUMENTS)


def _without_kept_defaults(theirs: Any, dumped: dict[str, Any]) -> dict[str, Any]:
    # exclude_defaults: pydantic keeps a field that has a field serializer
    # (the durations) even at its default; ours leaves it out, as any other
    # (docs/differences.rst).
    cls = type(theirs)
    serialized = {
        name
        for decorator in cls.__pydantic_decorators__.field_serializers.values()
        for name in decorator.info.fields
    }
    return {
        key: value
        for key, value in dumped.items()
        if not (
            key in serialized and getattr(theirs, key) == cls.model_fields[key].default
        )
    }


def _official_dump(theirs: Any, options: dict[str, Any]) -> dict[str, Any]:
    dumped: dict[str, Any] = theirs.model_dump(**options)
    if options["exclude_defaults"]:
        dumped = _without_kept_defaults(theirs, dumped)
    return dumped


def _check_same(theirs: Any, ours: Any) -> None:
    assert ours.model_fields_set == theirs.model_fields_set
    for options in _DUMP_OPTIONS:
        assert ours.model_dump(**options) == _official_dump(theirs, options), options
    for options in _DUMP_OPTIONS[16:]:  # the mode="json" half
        dump = {key: value for key, value in options.items() if key != "mode"}
        theirs_json = json.loads(theirs.model_dump_json(**dump))
        if options["exclude_defaults"]:
            theirs_json = _without_kept_defaults(theirs, theirs_json)
        assert json.loads(ours.model_dump_json(**dump)) == theirs_json, options
    assert json.loads(ours.model_dump_json(indent=2)) == json.loads(
        theirs.model_dump_json(indent=2)
    )


def _json_ready(arguments: dict[str, Any]) -> bool:
    try:
        json.dumps(arguments, allow_nan=False)
    except TypeError:
        return False  # a timedelta: JSON has none
    return True


# --- valid input -----------------------------------------------------------------


@pytest.mark.parametrize("model", _MODELS)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_same_dumps(model: str, data: st.DataObject) -> None:
    arguments = data.draw(_arguments(model))
    official, ours = _classes(model)
    _check_same(official(**arguments), ours(**arguments))


@pytest.mark.parametrize("model", _MODELS)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_same_validation_of_valid_input(model: str, data: st.DataObject) -> None:
    arguments = data.draw(_arguments(model))
    official, ours = _classes(model)
    theirs_model = official.model_validate(arguments)
    ours_model = ours.model_validate(arguments)
    _check_same(theirs_model, ours_model)
    # Unknown keys are ignored by both.
    _check_same(
        official.model_validate({**arguments, "unknown": 1}),
        ours.model_validate({**arguments, "unknown": 1}),
    )
    # A model is returned as it is.
    assert ours.model_validate(ours_model) is ours_model
    if _json_ready(arguments):
        text = json.dumps(arguments)
        _check_same(official.model_validate_json(text), ours.model_validate_json(text))
        _check_same(
            official.model_validate_json(text.encode()),
            ours.model_validate_json(text.encode()),
        )


@pytest.mark.parametrize("model", _MODELS)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_same_copies(model: str, data: st.DataObject) -> None:
    arguments = data.draw(_arguments(model))
    official, ours = _classes(model)
    # pydantic's model_copy stores updates as given, ours validates them
    # (docs/differences.rst): the update holds values as validated.
    drawn = data.draw(_arguments(model))
    valid = official(**drawn)
    update = {name: getattr(valid, name) for name in drawn}
    theirs_model = official(**arguments)
    ours_model = ours(**arguments)
    for deep in (False, True):
        theirs_copy = theirs_model.model_copy(update=update, deep=deep)
        ours_copy = ours_model.model_copy(update=update, deep=deep)
        _check_same(theirs_copy, ours_copy)
        assert ours_copy is not ours_model
    _check_same(theirs_model.model_copy(), ours_model.model_copy())
    # The original is untouched.
    _check_same(theirs_model, ours_model)


@pytest.mark.parametrize("model", _MODELS)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_same_for_pydantic_arguments(model: str, data: st.DataObject) -> None:
    arguments = data.draw(_arguments(model))
    official, ours = _classes(model)
    theirs_model = official(**arguments)
    ours_model = ours(**arguments)
    names = sorted(official.model_fields)
    chosen = data.draw(st.sets(st.sampled_from(names)))
    for by_alias in (False, True):
        for key in ("include", "exclude"):
            for given_as in (chosen, dict.fromkeys(chosen, True)):
                dump: dict[str, Any] = {key: given_as, "by_alias": by_alias}
                assert ours_model.model_dump(**dump) == theirs_model.model_dump(
                    **dump
                ), dump
    ascii_text = ours_model.model_dump_json(ensure_ascii=True)
    assert ascii_text.isascii()
    assert json.loads(ascii_text) == json.loads(
        theirs_model.model_dump_json(ensure_ascii=True)
    )
    # Accepted, and no change on the official models (pydantic hands the
    # input to their own constructor): unknown keys stay ignored.
    extra_input = {**arguments, "unknown": 1}
    validate_options: list[dict[str, Any]] = [
        {"extra": "forbid"},
        {"strict": False},
        {"by_alias": True, "by_name": True},
    ]
    for validate in validate_options:
        _check_same(
            official.model_validate(extra_input, **validate),
            ours.model_validate(extra_input, **validate),
        )


def test_batch_timeout_in_days() -> None:
    # The one deliberate difference in a dump (docs/differences.rst): the
    # server parses batchEvents.timeout with Go's time.ParseDuration.
    one_day = datetime.timedelta(days=1)
    assert inngest.Batch(max_size=2, timeout=one_day).model_dump()["timeout"] == "1d"
    assert (
        inngest_proto.Batch(max_size=2, timeout=one_day).model_dump()["timeout"]
        == "24h"
    )


# --- invalid input -----------------------------------------------------------------

_INVALID: list[tuple[str, str, Any]] = [
    ("Event", "python", [1]),
    ("Event", "python", "name"),
    ("Event", "python", {"ts": 1}),
    ("Event", "python", {"name": 1}),
    ("Event", "python", {"name": "a", "ts": 1.5}),
    ("Event", "python", {"name": "a", "ts": "1"}),
    ("Event", "python", {"name": "a", "id": None}),
    ("Event", "python", {"name": "a", "data": 5}),
    ("Event", "json", "{bad"),
    ("Event", "json", "[1]"),
    ("Event", "json", '{"name": "a", "ts": 1.5}'),
    ("Event", "json", '{"data": {}}'),
    ("SendEventsResult", "python", {"ids": "x"}),
    ("SendEventsResult", "python", {"error": 1}),
    ("SendEventsResult", "python", {"ids": [1]}),
    ("SendEventsResult", "python", None),
    ("Batch", "python", [1]),
    ("Batch", "json", "{bad"),
    ("Batch", "python", {"maxSize": 1}),
    ("Batch", "python", {"max_size": "x"}),
    ("Batch", "python", {"max_size": 2, "timeout": "1s"}),
    ("Batch", "json", '{"max_size": 2, "timeout": "1s"}'),
    ("Cancel", "python", {"event": "a", "timeout": "x"}),
    ("Cancel", "python", {"if_exp": "true"}),
    ("Concurrency", "python", {"limit": 1, "scope": "x"}),
    ("Concurrency", "python", {"limit": "1"}),
    ("Debounce", "python", {"period": 1.5}),
    ("Priority", "python", {}),
    ("RateLimit", "python", {"limit": 1, "period": None}),
    ("Singleton", "python", {"mode": "x"}),
    ("Throttle", "python", {"limit": 1}),
    ("Throttle", "json", '{"limit": 1, "period": "1s"}'),
    ("Timeouts", "python", {"start": "1s"}),
    ("TriggerCron", "python", {"cron": None}),
    ("TriggerEvent", "python", {"event": 1}),
    ("TriggerEvent", "python", {"expression": "true"}),
]


def _raised(make: Callable[[], object]) -> Exception:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            made = make()
        except Exception as err:  # whatever each SDK raises, to compare
            return err
    pytest.fail(f"accepted: {made!r}")


@pytest.mark.parametrize(("model", "how", "value"), _INVALID)
def test_same_errors_for_invalid_input(model: str, how: str, value: Any) -> None:
    official, ours = _classes(model)
    method = "model_validate" if how == "python" else "model_validate_json"
    theirs = _raised(lambda: getattr(official, method)(value))
    mine = _raised(lambda: getattr(ours, method)(value))
    if isinstance(theirs, pydantic.ValidationError):
        assert isinstance(mine, inngest_proto.ValidationError), repr(mine)
        assert isinstance(mine, ValueError)
        assert mine.title == theirs.title
        assert [(e["loc"], e["type"]) for e in mine.errors()] == [
            (e["loc"], e["type"]) for e in theirs.errors()
        ]
        assert [e["input"] for e in mine.errors()] == [
            e["input"] for e in theirs.errors()
        ]
        assert mine.error_count() == theirs.error_count()
    else:
        assert isinstance(theirs, official_errors.FunctionConfigInvalidError), repr(
            theirs
        )
        assert isinstance(mine, FunctionConfigInvalidError), repr(mine)
        field = str(theirs).split(":", 1)[0]
        assert mine.field == field
        assert mine.code.value == theirs.code.value


@pytest.mark.parametrize(
    ("model", "arguments"),
    [
        ("Event", {"name": 1}),
        ("Event", {"name": "a", "data": 5}),
        ("Event", {"name": "a", "ts": None}),
        ("SendEventsResult", {"ids": ("a",)}),
    ],
)
def test_constructors_raise_a_validation_error(model: str, arguments: Any) -> None:
    official, ours = _classes(model)
    theirs = _raised(lambda: official(**arguments))
    mine = _raised(lambda: ours(**arguments))
    assert isinstance(theirs, pydantic.ValidationError)
    assert isinstance(mine, inngest_proto.ValidationError)
    assert [e["loc"] for e in mine.errors()] == [e["loc"] for e in theirs.errors()]
