"""The models' pydantic methods (``model_dump`` & co.), without the official SDK.

``tests/official/test_official_models.py`` checks the same methods against
the official SDK's models; these tests pin the results and the rules behind
them where the official SDK is not installed.
"""

from __future__ import annotations

import copy
import datetime
import json
import pickle
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import inngest_proto as inngest
from inngest_proto._converter import structure, unstructure
from inngest_proto._errors import FunctionConfigInvalidError
from inngest_proto._events import parse_event

# --- strategies ------------------------------------------------------------------

_texts = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)
_opt_texts = st.none() | _texts
_positive = st.integers(min_value=1, max_value=10**6)
_durations = st.one_of(
    st.integers(min_value=1, max_value=10**6).map(lambda s: s * 1000),
    st.integers(min_value=1, max_value=10**6).map(
        lambda s: datetime.timedelta(seconds=s)
    ),
)
_opt_durations = st.none() | _durations
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | _texts,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(_texts, inner, max_size=3)
    ),
    max_leaves=6,
)

#: Models whose fields all dump as the values they take (no durations).
_PLAIN_MODELS = [
    st.builds(
        inngest.Event,
        name=_texts,
        data=st.dictionaries(_texts, _json, max_size=3),
        id=st.text(max_size=5),
        ts=st.integers(min_value=0, max_value=2**53),
        user=st.none() | st.dictionaries(_texts, _json, max_size=2),
        v=_opt_texts,
    ),
    st.builds(inngest.TriggerEvent, event=_texts, expression=_opt_texts),
    st.builds(inngest.TriggerCron, cron=_texts, jitter=_opt_texts),
    st.builds(
        inngest.Concurrency,
        limit=_positive,
        key=_opt_texts,
        scope=st.sampled_from([None, "fn", "env", "account"]),
    ),
    st.builds(inngest.Priority, run=_texts),
    st.builds(
        inngest.Singleton, key=_opt_texts, mode=st.sampled_from(["skip", "cancel"])
    ),
    st.builds(inngest.SendEventsResult, error=_opt_texts, ids=st.lists(_texts)),
]
_PLAIN = st.one_of(_PLAIN_MODELS)

#: Options with durations (dumped as "5m" strings, as the official models do).
_TIMED_MODELS = [
    st.builds(
        inngest.Batch,
        max_size=_positive,
        timeout=_opt_durations,
        key=_opt_texts,
        if_exp=_opt_texts,
    ),
    st.builds(inngest.Cancel, event=_texts, if_exp=_opt_texts, timeout=_opt_durations),
    st.builds(
        inngest.Debounce, period=_durations, key=_opt_texts, timeout=_opt_durations
    ),
    st.builds(inngest.RateLimit, limit=_positive, period=_durations, key=_opt_texts),
    st.builds(
        inngest.Throttle,
        limit=_positive,
        period=_durations,
        key=_opt_texts,
        burst=st.none() | st.integers(0, 50),
    ),
    st.builds(inngest.Timeouts, start=_opt_durations, finish=_opt_durations),
    st.builds(inngest.TriggerCron, cron=_texts, jitter=_durations),
]
_TIMED = st.one_of(_TIMED_MODELS)
#: Two models of one class.
_PAIRS = st.sampled_from(_PLAIN_MODELS + _TIMED_MODELS).flatmap(
    lambda models: st.tuples(models, models)
)

_OPTIONS = st.one_of(_PLAIN, _TIMED).filter(
    lambda m: not isinstance(m, inngest.Event | inngest.SendEventsResult)
)


# --- dumps ---------------------------------------------------------------------------


def test_dump_shapes() -> None:
    batch = inngest.Batch(
        max_size=5, timeout=datetime.timedelta(minutes=90), if_exp="true"
    )
    assert batch.model_dump() == {
        "max_size": 5,
        "timeout": "90m",
        "key": None,
        "if_exp": "true",
    }
    assert batch.model_dump(by_alias=True, exclude_none=True) == {
        "maxSize": 5,
        "timeout": "90m",
        "if": "true",
    }
    assert batch.model_dump(exclude_unset=True) == {
        "max_size": 5,
        "timeout": "90m",
        "if_exp": "true",
    }
    assert batch.model_dump(include={"max_size"}, exclude={"timeout"}) == {
        "max_size": 5
    }
    assert batch.model_dump(exclude={"key": True, "if_exp": True}) == {
        "max_size": 5,
        "timeout": "90m",
    }
    throttle = inngest.Throttle(limit=2, period=60_000, burst=1)
    assert throttle.model_dump(exclude_defaults=True) == {"limit": 2, "period": "1m"}
    assert throttle.model_dump(exclude_unset=True) == {
        "limit": 2,
        "period": "1m",
        "burst": 1,
    }


def test_event_dump_keeps_defaults_and_hides_wire_only_fields() -> None:
    event = inngest.Event(name="app/x", data={"n": (1, 2)})
    # The wire leaves out id "" and ts 0; a dump keeps them, as the official
    # model has them.  user and v (not in the official model) stay out while
    # None, even without exclude_none.
    assert event.model_dump() == {
        "name": "app/x",
        "data": {"n": (1, 2)},
        "id": "",
        "ts": 0,
    }
    assert event.model_dump(mode="json") == {
        "name": "app/x",
        "data": {"n": [1, 2]},
        "id": "",
        "ts": 0,
    }
    with_user = inngest.Event(name="app/x", user={"id": 1}, v="2")
    assert with_user.model_dump(exclude_unset=True) == {
        "name": "app/x",
        "user": {"id": 1},
        "v": "2",
    }


def test_dump_json_is_compact_utf8_or_indented() -> None:
    event = inngest.Event(name="é", ts=5)
    assert event.model_dump_json() == '{"name":"é","data":{},"id":"","ts":5}'
    assert event.model_dump_json(indent=2) == (
        '{\n  "name": "é",\n  "data": {},\n  "id": "",\n  "ts": 5\n}'
    )
    assert inngest.SendEventsResult(ids=["a"]).model_dump_json() == (
        '{"error":null,"ids":["a"]}'
    )


def test_dump_refuses_an_unknown_mode() -> None:
    with pytest.raises(ValueError, match="mode"):
        inngest.Priority(run="1").model_dump(mode="yaml")


@given(_OPTIONS)
def test_options_wire_dump_is_the_converter_form(option: Any) -> None:
    # by_alias + exclude_none + mode="json" is exactly what goes on the wire,
    # and the converter reads it back to the same model.
    dumped = option.model_dump(by_alias=True, exclude_none=True, mode="json")
    assert dumped == unstructure(option)
    again = structure(dumped, type(option))
    assert again.model_dump() == option.model_dump()


@given(_PLAIN)
def test_plain_models_round_trip(model: Any) -> None:
    cls = type(model)
    assert cls.model_validate(model.model_dump()) == model
    assert cls.model_validate(model.model_dump(mode="json")).model_dump(
        mode="json"
    ) == model.model_dump(mode="json")
    assert cls.model_validate_json(model.model_dump_json()).model_dump(
        mode="json"
    ) == model.model_dump(mode="json")
    assert json.loads(model.model_dump_json()) == model.model_dump(mode="json")


@given(st.one_of(_PLAIN, _TIMED))
def test_copy_without_update_is_equal(model: Any) -> None:
    copied = model.model_copy()
    assert copied == model
    assert copied is not model
    assert copied.model_fields_set == model.model_fields_set
    assert model.model_copy(deep=True) == model


@given(_PAIRS)
def test_copy_with_every_field_updated_is_the_other_model(
    pair: tuple[Any, Any],
) -> None:
    model, other = pair
    update = {a.name: getattr(other, a.name) for a in attrs.fields(type(model))}
    assert model.model_copy(update=update) == other


# --- fields set ----------------------------------------------------------------------


def test_fields_set_are_the_arguments_given() -> None:
    assert inngest.Batch(max_size=1).model_fields_set == {"max_size"}
    # Given, even at the default value.
    assert inngest.Throttle(limit=1, period=1000, burst=1).model_fields_set == {
        "limit",
        "period",
        "burst",
    }
    assert inngest.SendEventsResult().model_fields_set == set()
    assert inngest.Event.model_validate(
        {"name": "a", "ts": 0, "extra": 1}
    ).model_fields_set == {"name", "ts"}


def test_fields_set_of_a_copy_adds_the_update() -> None:
    batch = inngest.Batch(max_size=1)
    copied = batch.model_copy(update={"key": "k", "not_a_field": 1})
    assert copied.model_fields_set == {"max_size", "key"}
    assert copied.key == "k"
    assert batch.model_fields_set == {"max_size"}


@pytest.mark.parametrize(
    "rebuild",
    [copy.copy, copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))],
    ids=["copy", "deepcopy", "pickle"],
)
def test_fields_set_of_a_model_rebuilt_without_its_arguments(rebuild: Any) -> None:
    # Rebuilt without the constructor: the fields away from their default
    # (and the required ones) count as set.
    throttle = rebuild(inngest.Throttle(limit=1, period=1000, burst=1, key="k"))
    assert throttle == inngest.Throttle(limit=1, period=1000, key="k")
    assert throttle.model_fields_set == {"limit", "period", "key"}


def test_fields_set_of_a_parsed_event() -> None:
    event = parse_event({"name": "a", "data": {"x": 1}, "id": "", "ts": 5})
    assert event.model_fields_set == {"name", "data", "ts"}


# --- validation --------------------------------------------------------------------


def test_validate_returns_a_model_as_is_and_ignores_unknown_keys() -> None:
    event = inngest.Event(name="a")
    assert inngest.Event.model_validate(event) is event
    assert inngest.Priority.model_validate(
        {"run": "1", "other": 2}
    ) == inngest.Priority(run="1")
    assert inngest.Event.model_validate({"name": "a", "data": None}).data == {}


def test_validate_from_attributes() -> None:
    @attrs.define
    class Row:
        limit: int
        period: int

    assert inngest.RateLimit.model_validate(
        Row(limit=3, period=2000), from_attributes=True
    ) == inngest.RateLimit(limit=3, period=2000)
    with pytest.raises(inngest.ValidationError, match="model_type"):
        inngest.RateLimit.model_validate(Row(limit=3, period=2000))


def test_validate_by_wire_name_is_refused_as_by_the_official_models() -> None:
    with pytest.raises(FunctionConfigInvalidError) as caught:
        inngest.Batch.model_validate({"maxSize": 1})
    assert caught.value.field == "max_size"
    assert "Field required" in str(caught.value)


@pytest.mark.parametrize(
    ("model", "value", "loc", "kind"),
    [
        (inngest.Event, [1], (), "model_type"),
        (inngest.Event, {"data": {}}, ("name",), "missing"),
        (inngest.Event, {"name": 5}, ("name",), "string_type"),
        (inngest.Event, {"name": ""}, ("name",), "string_too_short"),
        (inngest.Event, {"name": "a", "ts": True}, ("ts",), "int_type"),
        (inngest.Event, {"name": "a", "user": []}, ("user",), "dict_type"),
        (inngest.SendEventsResult, {"ids": ["a", 2]}, ("ids", 1), "string_type"),
        (inngest.SendEventsResult, {"ids": ("a",)}, ("ids",), "list_type"),
        (inngest.Batch, "max_size", (), "model_type"),
    ],
)
def test_invalid_input_raises_a_validation_error(
    model: Any, value: Any, loc: tuple[Any, ...], kind: str
) -> None:
    with pytest.raises(inngest.ValidationError) as caught:
        model.model_validate(value)
    err = caught.value
    assert isinstance(err, ValueError)
    assert err.title == model.__name__
    assert err.error_count() == 1
    (detail,) = err.errors()
    assert (detail["loc"], detail["type"]) == (loc, kind)
    assert "input" in detail
    assert "input" not in err.errors(include_input=False)[0]
    assert json.loads(err.json())[0]["type"] == kind
    assert str(err).startswith(f"1 validation error for {model.__name__}\n")


def test_invalid_json() -> None:
    with pytest.raises(inngest.ValidationError) as caught:
        inngest.Event.model_validate_json(b"{bad")
    (detail,) = caught.value.errors()
    assert detail["type"] == "json_invalid"
    assert detail["input"] == b"{bad"


def test_invalid_options_raise_function_config_invalid() -> None:
    with pytest.raises(FunctionConfigInvalidError) as caught:
        inngest.Concurrency.model_validate({"limit": 1, "scope": "world"})
    assert caught.value.field == "scope"
    with pytest.raises(FunctionConfigInvalidError) as caught:
        inngest.Debounce.model_validate_json('{"period": "5s"}')
    assert caught.value.field == "period"


def test_validation_error_survives_pickling() -> None:
    with pytest.raises(inngest.ValidationError) as caught:
        inngest.Event(name=1)  # type: ignore[arg-type]
    again = pickle.loads(pickle.dumps(caught.value))
    assert again.errors() == caught.value.errors()
    assert str(again) == str(caught.value)


def test_constructor_errors_stay_type_errors() -> None:
    # Before the models had pydantic's API, a wrongly typed Event field
    # raised TypeError; code catching that keeps working.
    with pytest.raises(TypeError):
        inngest.Event(name="a", ts="1")  # type: ignore[arg-type]


# --- frozen ------------------------------------------------------------------------


def test_models_are_frozen_and_copied_with_updates() -> None:
    batch = inngest.Batch(max_size=1)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        batch.max_size = 2  # type: ignore[misc]
    assert batch.model_copy(update={"max_size": 2}).max_size == 2
    # The update is validated (pydantic's model_copy stores it as given).
    with pytest.raises(FunctionConfigInvalidError):
        batch.model_copy(update={"max_size": "2"})
    with pytest.raises(inngest.ValidationError):
        inngest.Event(name="a").model_copy(update={"ts": "now"})


def test_send_events_result_defaults() -> None:
    result = inngest.SendEventsResult()
    assert result.ids == []
    assert result.error is None
    assert result.ids is not inngest.SendEventsResult().ids


def test_dump_json_arguments() -> None:
    event = inngest.Event(name="é", data={"when": datetime.date(2030, 1, 2)})
    # fallback turns what JSON cannot hold into what it can, in mode="json".
    assert event.model_dump(mode="json", fallback=str)["data"] == {"when": "2030-01-02"}
    with pytest.raises(TypeError):
        event.model_dump(mode="json")
    assert event.model_dump_json(ensure_ascii=True, fallback=str) == (
        '{"name":"\\u00e9","data":{"when":"2030-01-02"},"id":"","ts":0}'
    )


def test_validate_arguments_change_nothing() -> None:
    # As on the official models: unknown keys stay ignored, validation strict.
    given = {"name": "a", "unknown": 1}
    assert inngest.Event.model_validate(given, extra="forbid") == inngest.Event(
        name="a"
    )
    with pytest.raises(inngest.ValidationError):
        inngest.Event.model_validate({"name": "a", "ts": "1"}, strict=False)
