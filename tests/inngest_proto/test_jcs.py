"""RFC 8785 canonical JSON: vectors from the RFC and signing, ECMAScript numbers.

Signing canonicalizes request bodies: docs/protocol/http.rst#request-signatures.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inngest_proto._jcs import _write_value, canonicalize, format_number

GOLDEN = Path(__file__).parent.parent / "fixtures" / "golden"


def _signature_vectors() -> list[dict[str, Any]]:
    vectors = json.loads((GOLDEN / "auth_vectors.json").read_text("utf-8"))
    return [v for v in vectors["signatures"] if v["body_utf8"]]


def test_auth_md_b4_vector() -> None:
    body = '{"b":1.0,"a":"é€","c":[1e2, -0.0]}'
    assert canonicalize(json.loads(body)) == '{"a":"é€","b":1,"c":[100,0]}'.encode()


@pytest.mark.parametrize("vector", _signature_vectors())
def test_golden_canonical_bodies(vector: dict[str, Any]) -> None:
    parsed = json.loads(vector["body_utf8"])
    expected = vector["jcs_canonical_body_utf8"].encode("utf-8")
    assert canonicalize(parsed) == expected


def test_rfc8785_section_3_2_example() -> None:
    source = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, '
        "0.000000000000000000000000001],"
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],'
        '"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonicalize(json.loads(source)) == expected.encode("utf-8")


def test_members_sort_by_utf16_code_units() -> None:
    # RFC 8785 §3.2.3: U+1F600 is the surrogate pair D83D DE00, so it sorts
    # before U+FB33 although its code point is larger.
    names = ["\u20ac", "\r", "\ufb33", "1", "\U0001f600", "\u0080", "\u00f6"]
    result = canonicalize(dict.fromkeys(names, 0)).decode("utf-8")
    expected_order = ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]
    members = ",".join(f"{json.dumps(n, ensure_ascii=False)}:0" for n in expected_order)
    assert result == "{" + members + "}"
    assert result.startswith('{"\\r":0,"1":0,"\u0080":0')


def test_nested_structures_and_literals() -> None:
    value = {"z": [1, {"b": None, "a": [True, False]}], "a": {}, "m": [], "s": ""}
    assert (
        canonicalize(value)
        == b'{"a":{},"m":[],"s":"","z":[1,{"a":[true,false],"b":null}]}'
    )
    assert canonicalize(("x", 2)) == b'["x",2]'
    assert canonicalize("plain") == b'"plain"'
    assert canonicalize(None) == b"null"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"', '"\\""'),
        ("\\", '"\\\\"'),
        ("\b\t\n\f\r", '"\\b\\t\\n\\f\\r"'),
        ("\x00\x01\x1f", '"\\u0000\\u0001\\u001f"'),
        ("\x0b", '"\\u000b"'),
        ("\x7f", '"\x7f"'),
        ("/", '"/"'),
        ("\u2028\u2029", '"\u2028\u2029"'),
        ("é€😀", '"é€😀"'),
        ("<script>&'", '"<script>&\'"'),
    ],
)
def test_string_escapes_only_what_jcs_requires(text: str, expected: str) -> None:
    assert canonicalize(text) == expected.encode("utf-8")


def test_lone_surrogates_are_rejected() -> None:
    with pytest.raises(ValueError, match="lone UTF-16 surrogate"):
        canonicalize(json.loads('"\\ud800"'))
    with pytest.raises(ValueError, match="lone UTF-16 surrogate"):
        canonicalize({"\udc00": 1})


# --- numbers ----------------------------------------------------------------


def _double(bits: int) -> float:
    return float(struct.unpack(">d", bits.to_bytes(8, "big"))[0])


# RFC 8785 Appendix B: IEEE 754 bit patterns and their ECMAScript form.
RFC_NUMBER_SAMPLES = [
    (0x0000000000000000, "0"),
    (0x8000000000000000, "0"),
    (0x0000000000000001, "5e-324"),
    (0x8000000000000001, "-5e-324"),
    (0x7FEFFFFFFFFFFFFF, "1.7976931348623157e+308"),
    (0xFFEFFFFFFFFFFFFF, "-1.7976931348623157e+308"),
    (0x4340000000000000, "9007199254740992"),
    (0xC340000000000000, "-9007199254740992"),
    (0x4430000000000000, "295147905179352830000"),
    (0x44B52D02C7E14AF5, "9.999999999999997e+22"),
    (0x44B52D02C7E14AF6, "1e+23"),
    (0x44B52D02C7E14AF7, "1.0000000000000001e+23"),
    (0x444B1AE4D6E2EF4E, "999999999999999700000"),
    (0x444B1AE4D6E2EF4F, "999999999999999900000"),
    (0x444B1AE4D6E2EF50, "1e+21"),
    (0x3EB0C6F7A0B5ED8C, "9.999999999999997e-7"),
    (0x3EB0C6F7A0B5ED8D, "0.000001"),
    (0x41B3DE4355555553, "333333333.3333332"),
    (0x41B3DE4355555554, "333333333.33333325"),
    (0x41B3DE4355555555, "333333333.3333333"),
    (0x41B3DE4355555556, "333333333.3333334"),
    (0x41B3DE4355555557, "333333333.33333343"),
    (0xBECBF647612F3696, "-0.0000033333333333333333"),
    (0x43143FF3C1CB0959, "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "expected"), RFC_NUMBER_SAMPLES)
def test_rfc8785_number_samples(bits: int, expected: str) -> None:
    assert format_number(_double(bits)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "0"),
        (-0.0, "0"),
        (0.0, "0"),
        (1.0, "1"),
        (-1.0, "-1"),
        (1e2, "100"),
        (0.1, "0.1"),
        (-1.5, "-1.5"),
        (4.35, "4.35"),
        (0.002, "0.002"),
        (123.456, "123.456"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (-1e21, "-1e+21"),
        (1.5e21, "1.5e+21"),
        (1e-6, "0.000001"),
        (1.5e-6, "0.0000015"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (-1e-7, "-1e-7"),
        (1e300, "1e+300"),
        (2.0**60, "1152921504606847000"),
        (9007199254740993.0, "9007199254740992"),
        (1234567.0, "1234567"),
        (0.5, "0.5"),
        (100.25, "100.25"),
    ],
)
def test_floats_print_like_ecmascript(value: float, expected: str) -> None:
    assert format_number(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "0"),
        (-7, "-7"),
        (2**53, "9007199254740992"),
        (-(2**53), "-9007199254740992"),
        (2**53 + 1, "9007199254740992"),  # rounds to the nearest double, as JS does
        (2**60, "1152921504606847000"),
        (12345678901234567890, "12345678901234567000"),
        (10**21, "1e+21"),
        (10**21 - 1, "1e+21"),
        (-(10**22), "-1e+22"),
        (10**308, "1e+308"),
    ],
)
def test_integers_print_as_their_nearest_double(value: int, expected: str) -> None:
    assert format_number(value) == expected


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 10**309, -(10**400)])
def test_non_finite_numbers_are_rejected(value: float) -> None:
    with pytest.raises(ValueError, match="cannot canonicalize JSON"):
        format_number(value)
    with pytest.raises(ValueError, match="cannot canonicalize JSON"):
        canonicalize({"x": [value]})


def test_non_json_values_are_rejected() -> None:
    with pytest.raises(TypeError, match="set"):
        canonicalize({"x": {1, 2}})
    with pytest.raises(TypeError, match="object keys must be strings"):
        canonicalize({1: "a"})
    with pytest.raises(TypeError, match="bool"):
        format_number(True)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_round_trip(value: float) -> None:
    text = format_number(value)
    assert float(text) == value
    # Also valid JSON; digits without a point or exponent name the double too.
    assert json.loads(text, parse_int=float) == value


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_layout_follows_ecmascript_rules(value: float) -> None:
    text = format_number(value)
    magnitude = abs(value)
    uses_exponent = "e" in text
    assert uses_exponent == (magnitude != 0 and not 1e-6 <= magnitude < 1e21)
    mantissa = text.split("e")[0]
    if "." in mantissa:
        assert not mantissa.endswith("0")  # shortest form, no padding
    assert not text.startswith("-0") or text.startswith("-0.")
    assert "+" not in text or uses_exponent


@given(st.integers(min_value=-(2**1000), max_value=2**1000))
def test_integers_match_their_double(value: int) -> None:
    assert float(format_number(value)) == float(value)


# Strings without lone surrogates: those have no UTF-8 form (tested above).
TEXT = st.text(st.characters(exclude_categories=["Cs"]))
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: x != 0)
    | TEXT,
    lambda children: st.lists(children) | st.dictionaries(TEXT, children),
    max_leaves=30,
)


@given(JSON_VALUES)
def test_canonical_form_parses_back_and_is_idempotent(value: Any) -> None:
    canonical = canonicalize(value)
    # parse_int=float: "47985194723569010" is JCS for the double 4.798519472356901e16.
    assert json.loads(canonical, parse_int=float) == value
    assert canonicalize(json.loads(canonical)) == canonical


# Without floats or astral-plane keys, JCS is what Python's json module writes
# compactly with sorted keys: an independent check of escaping and layout.
BMP_TEXT = st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"]))
SIMPLE_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | BMP_TEXT,
    lambda children: st.lists(children) | st.dictionaries(BMP_TEXT, children),
    max_leaves=30,
)


@given(SIMPLE_JSON_VALUES)
def test_agrees_with_sorted_compact_json_dumps(value: Any) -> None:
    expected = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    assert canonicalize(value) == expected.encode("utf-8")


# The fast path (the json module) and the writer agree wherever both apply:
# values with astral-plane keys, floats and big integers go to the writer.
ASTRAL_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=4)
MIXED_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | ASTRAL_TEXT,
    lambda children: (
        st.lists(children)
        | st.tuples(children, children)
        | st.dictionaries(ASTRAL_TEXT, children)
    ),
    max_leaves=30,
)


@given(MIXED_JSON_VALUES)
def test_the_fast_path_writes_what_the_writer_writes(value: Any) -> None:
    parts: list[str] = []
    _write_value(value, parts)
    assert canonicalize(value) == "".join(parts).encode("utf-8")


def test_astral_keys_sort_by_utf16_with_the_fast_path_too() -> None:
    # U+10000 is D800 DC00 in UTF-16: before U+E000, though its code point
    # is above it.  Plain values elsewhere must not tempt the fast path.
    value = {"\ue000": 1, "\U00010000": 2, "list": [1, "a", None, True]}
    expected = '{"list":[1,"a",null,true],"\U00010000":2,"\ue000":1}'
    assert canonicalize(value) == expected.encode()


@pytest.mark.parametrize(
    "value",
    [{"a": "\ud800"}, ["x", "\udfff"], {"\ud800": 1}],
    ids=["in a value", "in a list", "in a key"],
)
def test_lone_surrogates_are_rejected_on_the_fast_path_too(value: Any) -> None:
    with pytest.raises(ValueError, match="lone UTF-16 surrogate"):
        canonicalize(value)


def test_subclasses_of_str_and_int_are_written_as_json() -> None:
    class Name(str):
        pass

    class Count(int):
        pass

    assert canonicalize({Name("b"): Count(2), "a": Name("x")}) == b'{"a":"x","b":2}'
