"""Typed outputs: the default and pydantic serializers, and where types come from."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import uuid
from typing import Annotated, Any, Literal, Optional, TypedDict, TypeVar

import attrs
import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

import inngest_proto as inngest
from inngest_proto import _serializer
from inngest_proto._serializer import (
    declared_output_type,
    default_serializer,
    from_wire,
    is_plain_json_type,
    to_wire,
)


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Customer(pydantic.BaseModel):
    id: int
    email: str
    joined: datetime.datetime
    tags: list[str] = []


@dataclasses.dataclass
class Line:
    sku: str
    price: decimal.Decimal
    ref: uuid.UUID
    color: Color


@attrs.frozen
class Order:
    customer: Customer
    lines: list[Line]
    level: Level
    due: datetime.date
    window: datetime.timedelta
    note: str | None = None


class Plain(TypedDict):
    a: int


def _order() -> Order:
    return Order(
        customer=Customer(
            id=7,
            email="a@example.com",
            joined=datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
            tags=["vip"],
        ),
        lines=[
            Line("x-1", decimal.Decimal("19.990"), uuid.UUID(int=42), Color.BLUE),
        ],
        level=Level.HIGH,
        due=datetime.date(2026, 2, 1),
        window=datetime.timedelta(hours=36, microseconds=5),
    )


def _round_trip(value: Any, typ: Any) -> Any:
    serializer = default_serializer()
    wire = serializer.serialize(value, typ)
    # What Inngest stores is JSON text: go through it as the server would.
    return serializer.deserialize(json.loads(json.dumps(wire)), typ)


def test_a_nested_structure_of_every_supported_kind_round_trips() -> None:
    order = _order()
    assert _round_trip(order, Order) == order
    assert _round_trip([order, order], list[Order]) == [order, order]
    assert _round_trip({"k": order}, dict[str, Order]) == {"k": order}
    assert _round_trip((1, "a"), tuple[int, str]) == (1, "a")
    assert _round_trip(None, Optional[Order]) is None  # noqa: UP045 - the old spelling too


def test_the_wire_form_is_readable_json() -> None:
    wire: Any = default_serializer().serialize(_order(), Order)
    assert wire["customer"]["joined"] == "2026-01-02T03:04:05Z"  # pydantic's own form
    assert wire["lines"][0] == {
        "sku": "x-1",
        "price": "19.990",
        "ref": "00000000-0000-0000-0000-00000000002a",
        "color": "blue",
    }
    assert wire["level"] == 2
    assert wire["due"] == "2026-02-01"
    assert wire["window"] == 129600.000005


@given(
    st.datetimes(timezones=st.sampled_from([None, datetime.timezone.utc])),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.uuids(),
    st.dates(),
    st.sampled_from(Color),
)
def test_scalars_round_trip_exactly(
    when: datetime.datetime,
    amount: decimal.Decimal,
    ident: uuid.UUID,
    day: datetime.date,
    color: Color,
) -> None:
    assert _round_trip(when, datetime.datetime) == when
    assert _round_trip(amount, decimal.Decimal) == amount
    assert str(_round_trip(amount, decimal.Decimal)) == str(amount)  # every digit
    assert _round_trip(ident, uuid.UUID) == ident
    assert _round_trip(day, datetime.date) == day
    assert _round_trip(color, Color) is color


def test_a_utc_z_suffix_is_read_on_every_python() -> None:
    value = default_serializer().deserialize("2026-03-04T05:06:07Z", datetime.datetime)
    assert value == datetime.datetime(2026, 3, 4, 5, 6, 7, tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize(
    "typ",
    [
        None,
        Any,
        object,
        int,
        str,
        dict,
        list,
        dict[str, Any],
        list[dict[str, int]],
        Optional[int],  # noqa: UP045
        int | None,
        Literal["a", "b"],
        Plain,
    ],
)
def test_json_types_pass_through_untouched(typ: Any) -> None:
    assert is_plain_json_type(typ)
    value = {"a": [1, 2]}
    assert to_wire(default_serializer(), value, typ, "x") is value
    assert from_wire(default_serializer(), value, typ, "x") is value


@pytest.mark.parametrize("typ", [Order, list[Order], datetime.datetime, tuple[int]])
def test_types_with_a_json_form_are_not_plain(typ: Any) -> None:
    assert not is_plain_json_type(typ)


def test_the_pydantic_serializer_round_trips_and_caches_adapters() -> None:
    serializer = inngest.PydanticSerializer()
    customer = _order().customer
    _serializer._adapter.cache_clear()
    for _ in range(3):
        wire = serializer.serialize(customer, Customer)
        assert serializer.deserialize(wire, Customer) == customer
        assert serializer.deserialize([wire], list[Customer]) == [customer]
    info = _serializer._adapter.cache_info()
    assert info.currsize == 2
    assert info.hits == 7  # nine calls, two types
    assert info.maxsize == _serializer._CACHE_SIZE


def test_an_unhashable_annotation_is_cached_by_identity() -> None:
    meta = pydantic.Field(description="x")
    typ = Annotated[int, meta]
    _serializer._adapter.cache_clear()
    serializer = inngest.PydanticSerializer()
    assert serializer.deserialize("5", typ) == 5
    assert serializer.deserialize("6", typ) == 6
    assert _serializer._adapter.cache_info().hits >= 1


# -- where the type comes from ------------------------------------------------------


def _returns_order() -> Order:
    return _order()


class _Service:
    def load(self) -> Customer:
        return _order().customer


def test_the_type_is_the_return_annotation_resolved_once_per_code_object() -> None:
    assert declared_output_type(_returns_order) is Order
    assert declared_output_type(_Service().load) is Customer

    def make() -> list[Order]:
        return []

    made = [make for _ in range(3)]
    _serializer._hint_cache.clear()
    assert all(declared_output_type(fn) == list[Order] for fn in made)
    assert len(_serializer._hint_cache) == 1


def test_no_annotation_or_an_unresolvable_one_means_no_type() -> None:
    class Local:  # only the enclosing function can name it
        pass

    def local() -> Local:
        return Local()

    assert declared_output_type(lambda: 1) is None
    assert declared_output_type(local) is None
    assert declared_output_type(len) is None


def test_a_value_that_does_not_fit_its_type_names_the_step() -> None:
    with pytest.raises(inngest.OutputUnserializableError) as caught:
        to_wire(default_serializer(), object(), Customer, 'step "load"')
    assert 'step "load" returned object' in str(caught.value)
    assert "Customer" in str(caught.value)


def test_a_stored_output_that_no_longer_fits_says_so() -> None:
    with pytest.raises(inngest.OutputDeserializationError) as caught:
        from_wire(default_serializer(), {"id": "x"}, Customer, 'step "load"')
    message = str(caught.value)
    assert 'the stored output of step "load" is not a valid Customer' in message
    assert "did its type change" in message


def test_a_client_serializer_must_have_both_methods() -> None:
    with pytest.raises(inngest.LocalProtocolError, match=r"serialize\(obj, typ\)"):
        inngest.Inngest(app_id="a", is_production=False, serializer=object())  # type: ignore[arg-type]
    client = inngest.Inngest(app_id="a", is_production=False)
    assert isinstance(client.serializer, inngest.DefaultSerializer)
    assert client.serializer is default_serializer()  # one set of hooks for all


_T = TypeVar("_T")


def _identity(value: _T) -> _T:
    return value


def _wrapped(value: _T) -> list[_T]:
    return [value]


def test_an_annotation_with_a_type_variable_means_no_type() -> None:
    # ``-> T`` in decorators and wrappers says nothing about the value.
    assert declared_output_type(_identity) is None
    assert declared_output_type(_wrapped) is None

    def unresolved_path(value: Any) -> Any:
        return value

    unresolved_path.__annotations__ = {"return": _T}  # as without __future__
    assert declared_output_type(unresolved_path) is None
    nested: object = dict[str, _T]  # type: ignore[valid-type]
    unresolved_path.__annotations__ = {"return": nested}
    assert declared_output_type(unresolved_path) is None


def test_an_annotated_type_that_cannot_be_rebuilt_gives_the_stored_json() -> None:
    class Opaque:  # no structure hook: the default serializer cannot build it
        pass

    stored = {"id": "x"}
    for typ in (Customer, Opaque):
        got = from_wire(default_serializer(), stored, typ, "s", annotated=True)
        assert got is stored
    with pytest.raises(inngest.OutputDeserializationError):
        from_wire(default_serializer(), stored, Opaque, 's "s"')
