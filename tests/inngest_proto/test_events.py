"""The Event model: construction, wire shape, strict parsing.

See docs/protocol/events.rst#event-object.
"""

from __future__ import annotations

import json
import types
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import inngest_proto as inngest
from inngest_proto._converter import converter, unstructure
from inngest_proto._errors import BodyInvalidError, RemoteProtocolError
from inngest_proto._events import Event, parse_event
from inngest_proto._json import dumps_compact

# --- construction ------------------------------------------------------------------


def test_public_name() -> None:
    assert inngest.Event is Event


def test_defaults() -> None:
    event = Event(name="app/x")
    assert event.name == "app/x"
    assert event.data == {}
    assert event.id == ""
    assert event.ts == 0
    assert event.user is None
    assert event.v is None


def test_every_field() -> None:
    event = Event(
        name="app/x", data={"k": 1}, id="dedupe", ts=5, user={"u": 1}, v="2024-01"
    )
    assert (event.name, event.data, event.id, event.ts) == (
        "app/x",
        {"k": 1},
        "dedupe",
        5,
    )
    assert (event.user, event.v) == ({"u": 1}, "2024-01")


def test_keyword_only() -> None:
    with pytest.raises(TypeError):
        Event("app/x")  # type: ignore[call-arg]


def test_name_is_required() -> None:
    with pytest.raises(TypeError):
        Event()  # type: ignore[call-arg]


def test_empty_name_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"Event\.name must be a non-empty string"):
        Event(name="")


@pytest.mark.parametrize("name", [None, 3, b"app/x", ["app/x"]])
def test_name_must_be_a_string(name: Any) -> None:
    with pytest.raises(TypeError, match=r"Event\.name must be a string"):
        Event(name=name)


def test_data_none_becomes_an_empty_dict() -> None:
    assert Event(name="a", data=None).data == {}


def test_data_any_mapping_is_kept() -> None:
    data = types.MappingProxyType({"k": [1, 2]})
    assert Event(name="a", data=data).data is data


@pytest.mark.parametrize("data", [[], [("k", 1)], "x", 3, True, {1, 2}])
def test_data_must_be_a_mapping(data: Any) -> None:
    with pytest.raises(TypeError, match=r"Event\.data must be a dict"):
        Event(name="a", data=data)


@pytest.mark.parametrize("ts", ["1", 1.0, 1.5, True, False, None])
def test_ts_must_be_an_int(ts: Any) -> None:
    with pytest.raises(TypeError, match=r"Event\.ts must be an int"):
        Event(name="a", ts=ts)


@pytest.mark.parametrize("event_id", [None, 3, b"x"])
def test_id_must_be_a_string(event_id: Any) -> None:
    with pytest.raises(TypeError, match=r"Event\.id must be a string"):
        Event(name="a", id=event_id)


@pytest.mark.parametrize("user", [[], "x", 3])
def test_user_must_be_a_mapping(user: Any) -> None:
    with pytest.raises(TypeError, match=r"Event\.user must be a dict or None"):
        Event(name="a", user=user)


@pytest.mark.parametrize("v", [1, b"1"])
def test_v_must_be_a_string(v: Any) -> None:
    with pytest.raises(TypeError, match=r"Event\.v must be a string or None"):
        Event(name="a", v=v)


def test_frozen_and_compared_by_value() -> None:
    event = Event(name="a", data={"k": 1})
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.name = "b"  # type: ignore[misc]
    assert event == Event(name="a", data={"k": 1})
    assert event != Event(name="a", data={"k": 2})
    assert attrs.evolve(event, ts=7).ts == 7


def test_evolve_validates() -> None:
    with pytest.raises(TypeError, match=r"Event\.ts"):
        attrs.evolve(Event(name="a"), ts="now")  # type: ignore[arg-type]


# --- wire shape --------------------------------------------------------------------


def test_unstructure_minimal() -> None:
    assert unstructure(Event(name="a")) == {"data": {}, "name": "a"}


def test_unstructure_full_in_key_order() -> None:
    raw = unstructure(
        Event(name="a", data={"k": 1}, id="i", ts=9, user={"u": 2}, v="1")
    )
    assert raw == {
        "data": {"k": 1},
        "id": "i",
        "name": "a",
        "ts": 9,
        "user": {"u": 2},
        "v": "1",
    }
    assert list(raw) == ["data", "id", "name", "ts", "user", "v"]


@pytest.mark.parametrize(
    ("event", "absent"),
    [
        (Event(name="a", ts=1), {"id", "user", "v"}),
        (Event(name="a", id="i"), {"ts", "user", "v"}),
        (Event(name="a", id="i", ts=1), {"user", "v"}),
        (Event(name="a", id="i", ts=1, user={}), {"v"}),
        (Event(name="a", id="i", ts=1, v=""), {"user"}),
    ],
)
def test_unstructure_omits_unset(event: Event, absent: set[str]) -> None:
    raw = unstructure(event)
    assert not absent & set(raw)
    assert {"data", "name"} <= set(raw)


def test_unstructure_copies_data() -> None:
    data = types.MappingProxyType({"k": 1})
    raw = unstructure(Event(name="a", data=data, user=types.MappingProxyType({})))
    assert type(raw["data"]) is dict
    assert type(raw["user"]) is dict
    assert json.loads(dumps_compact(raw)) == {"data": {"k": 1}, "name": "a", "user": {}}


def test_unstructure_matches_the_golden_send_body() -> None:
    events = [
        Event(name="golden/user.signup", data={"user_id": 7}, ts=1795472024201),
        Event(
            name="golden/user.signup",
            data={"user_id": 8},
            id="my-dedupe-id",
            ts=1700000000000,
        ),
    ]
    assert dumps_compact([unstructure(e) for e in events]) == (
        b'[{"data":{"user_id":7},"name":"golden/user.signup","ts":1795472024201},'
        b'{"data":{"user_id":8},"id":"my-dedupe-id","name":"golden/user.signup",'
        b'"ts":1700000000000}]'
    )


# --- parsing -----------------------------------------------------------------------


def test_parse_an_event_as_the_server_sends_it() -> None:
    raw = {
        "data": {"user_id": 7},
        "id": "01JGOLDEN",
        "name": "app/x",
        "ts": 1735689600000,
        "user": {},
    }
    assert parse_event(raw) == Event(
        name="app/x", data={"user_id": 7}, id="01JGOLDEN", ts=1735689600000, user={}
    )


def test_parse_minimal_and_nulls_mean_defaults() -> None:
    assert parse_event({"name": "a"}) == Event(name="a")
    nulls = {"name": "a", "data": None, "id": None, "ts": None, "user": None, "v": None}
    assert parse_event(nulls) == Event(name="a")


def test_parse_ignores_unknown_keys() -> None:
    raw = {"name": "a", "meta": {"sessions": []}, "extra": 1}
    assert parse_event(raw) == Event(name="a")


def test_parse_keeps_v() -> None:
    assert parse_event({"name": "a", "v": "2"}).v == "2"


def test_structure_hook_is_parse_event() -> None:
    assert converter.structure({"name": "a", "ts": 3}, Event) == Event(name="a", ts=3)
    with pytest.raises(BodyInvalidError, match=r"event\.ts"):
        converter.structure({"name": "a", "ts": "3"}, Event)


@pytest.mark.parametrize("raw", [None, [], "event", 3, True])
def test_parse_needs_an_object(raw: Any) -> None:
    with pytest.raises(BodyInvalidError, match=r"^event must be a JSON object, got"):
        parse_event(raw)


WRONG_TYPES = [
    ("name", None),
    ("name", ""),
    ("name", 3),
    ("name", ["a"]),
    ("name", {"a": 1}),
    ("name", True),
    ("data", []),
    ("data", "x"),
    ("data", 3),
    ("data", False),
    ("data", 0),
    ("id", 3),
    ("id", 0),
    ("id", False),
    ("id", []),
    ("id", {}),
    ("ts", "1735689600000"),
    ("ts", 1735689600000.0),
    ("ts", 1.5),
    ("ts", True),
    ("ts", False),
    ("ts", ""),
    ("ts", []),
    ("ts", {}),
    ("user", []),
    ("user", "x"),
    ("user", 0),
    ("v", 1),
    ("v", []),
    ("v", False),
]


@pytest.mark.parametrize(("field", "value"), WRONG_TYPES)
def test_parse_wrong_types_name_the_field(field: str, value: Any) -> None:
    raw: dict[str, Any] = {"name": "a", "data": {}, "id": "i", "ts": 1}
    raw[field] = value
    with pytest.raises(BodyInvalidError) as info:
        parse_event(raw, where="events[2]")
    message = info.value.message
    assert message.startswith(f"events[2].{field} must be")
    assert ", got " in message
    assert info.value.code == "body_invalid"
    assert isinstance(info.value, RemoteProtocolError)
    assert info.value.status == 400


def test_parse_missing_name() -> None:
    with pytest.raises(
        BodyInvalidError, match=r"event\.name must be a non-empty string"
    ):
        parse_event({"data": {}})


def test_parse_error_says_what_it_got() -> None:
    with pytest.raises(BodyInvalidError, match=r"got the number 1\.5"):
        parse_event({"name": "a", "ts": 1.5})
    with pytest.raises(BodyInvalidError, match="got a string"):
        parse_event({"name": "a", "ts": "1"})
    with pytest.raises(BodyInvalidError, match="got an empty string"):
        parse_event({"name": ""})
    with pytest.raises(BodyInvalidError, match="got an array"):
        parse_event({"name": "a", "data": []})


# --- round trip --------------------------------------------------------------------

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4)
    ),
    max_leaves=12,
)
_json_objects = st.dictionaries(st.text(), _json_values, max_size=5)

events = st.builds(
    Event,
    name=st.text(min_size=1),
    data=_json_objects,
    id=st.text(),
    ts=st.integers(min_value=0, max_value=2**53),
    user=st.none() | _json_objects,
    v=st.none() | st.text(),
)


@settings(max_examples=300, deadline=None)
@given(events)
def test_round_trip(event: Event) -> None:
    raw = unstructure(event)
    assert parse_event(raw) == event
    # Through JSON text too, as it travels.
    assert parse_event(json.loads(dumps_compact(raw))) == event
    assert unstructure(parse_event(raw)) == raw
