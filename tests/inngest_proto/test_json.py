"""The JSON helpers: depth without recursion, and lone surrogates read as
Go's decoder reads them."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from inngest_proto import _json

# Text with lone surrogates, pairs (json.dumps escapes non-BMP as a pair)
# and backslashes that only look like escapes.
_text = st.lists(
    st.one_of(
        st.characters(exclude_categories=()),
        st.sampled_from(["\\", "\\ud800", "\ud800", "\udfff", "\U0001f600"]),
    ),
    max_size=6,
).map("".join)
_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), _text),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(_text, inner, max_size=3)
    ),
    max_leaves=10,
)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def _replaced(value: Any) -> Any:
    """``value`` with each lone surrogate as U+FFFD (recursively: small)."""
    if isinstance(value, str):
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value)
    if isinstance(value, list):
        return [_replaced(v) for v in value]
    if isinstance(value, dict):
        return {_replaced(k): _replaced(v) for k, v in value.items()}
    return value


@given(_values, st.integers(min_value=0, max_value=6))
def test_deeper_than_measures_nesting(value: Any, limit: int) -> None:
    assert _json.deeper_than(value, limit) == (_depth(value) > limit)


def test_deeper_than_measures_past_the_recursion_limit() -> None:
    value: Any = []
    for _ in range(100_000):
        value = [value]
    assert _json.deeper_than(value, 100_000)
    assert not _json.deeper_than(value, 100_001)


@given(_values)
def test_lone_surrogates_become_replacement_characters(value: Any) -> None:
    text = json.dumps(value)
    read = _json.loads_replacing_surrogates(text.encode())
    # Adjacent high and low halves are a pair in JSON: parsed first.
    assert read == _replaced(json.loads(text))
    _json.dumps_utf8(read)  # every string has a UTF-8 form now


@given(_values)
def test_utf8_size_is_the_length_of_the_utf8_form(value: Any) -> None:
    # A lone surrogate counts three bytes, as U+FFFD does in UTF-8.
    assert _json.utf8_size(value) == len(_json.dumps_utf8(_replaced(value)))


def test_utf8_size_counts_a_lone_surrogate_as_three_bytes() -> None:
    # dumps_utf8 cannot encode it; the size is still measurable.
    assert _json.utf8_size({"a": "\ud800"}) == len('{"a":""}') + 3
