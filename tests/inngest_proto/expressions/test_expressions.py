"""Inngest expressions on cel-python: the examples of
docs/protocol/expressions.rst#examples, keys,
interpolation, compile errors, and the executor driven by the real matchers."""

from __future__ import annotations

import contextlib
import datetime
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import inngest_proto as inngest
from inngest_proto import InngestError, LocalProtocolError
from inngest_proto.expressions import (
    Evaluation,
    Expression,
    ExpressionError,
    check_expression,
    compile_expression,
    evaluate_key,
    evaluate_value,
    explain_match,
    interpolate_event,
    matches,
    policy_violations,
    trigger_matcher,
    wait_matcher,
    wait_warning,
)
from inngest_proto.functions import hash_step_id
from tests.inngest_proto.executor._harness import START, Harness

#: The time of evaluation, what ``now()`` answers.
NOW = START

# --- the examples: (id, expression, activation, value Inngest's Go gives) -------


def D(data: dict[str, Any]) -> dict[str, Any]:
    """The activation of most examples: an event with this ``data``."""
    return {"event": {"data": data}}


# fmt: off
EXAMPLES: list[tuple[str, str, dict[str, Any], Any]] = [
    ("E01", "event.data.name", D({"name": "Tester McTestyFace"}), "Tester McTestyFace"),
    ("E02", "5 + 4", D({}), 9),
    ("E03", "event.data.name + '-' + event.data.foo",
     D({"name": "Tester McTestyFace"}), "Tester McTestyFace-"),
    ("E04", "uppercase(event.data.name) + ' is my name'",
     D({"name": "Tester McTestyFace"}), "TESTER MCTESTYFACE is my name"),
    ("E05", "b64decode(\"aGkgdGhlcmUh\") == \"hi there!\"", D({}), True),
    ("E06", "json_parse(b64decode(event.data.encoded)).nested.data == \"yea\"",
     D({"encoded": "eyJuZXN0ZWQiOnsiZGF0YSI6InllYSJ9fQ=="}), True),
    ("E07", "event.data.a == event.data.b",
     D({"a": {"eval": "ok", "num": 1.161}, "b": {"eval": "ok", "num": 1.161}}), True),
    ("E08", "null > 0", D({"nope": None}), False),
    ("E09", "size(event.data.nope) > 0", D({"nope": None}), False),
    ("E10", "event.data.int > event.data.unknown", D({"int": 2}), True),
    ("E11", "event.data.something == null", D({"something": "hi"}), False),
    ("E12", "event.data.float > null && event.data.int > null",
     D({"float": 3.141, "int": 8}), True),
    ("E13", "event.data.int > 3.141 && event.data.float <= 2",
     D({"int": 8, "float": 1.111}), True),
    ("E14", "event.data.another == null", D({}), True),
    ("E15", "event.data.foo != '' && 'item' in event.data.issue.fields.tags",
     D({}), False),
    ("E16", "event['data'].foo != '' && event['data'].bar != true",
     D({"foo": "hi"}), True),
    ("E17", "event.data.title.matches('^[a-z\\\\d]{0,10}$')",
     D({"title": "nope"}), True),
    ("E18", "event.data.some.unknown.contains(event.data.title)",
     D({"title": "nope"}), False),
    ("E19", "size(event.data.action) == 6", D({"action": "opened"}), True),
    ("E20", "int(async.status) == 200", {"async": {"status": "200"}}, True),
    ("E21", "event.data.tags.exists(x, x == 'a')", D({"tags": ["a", "b", "c"]}), True),
    ("E22", "event.data.issue in ['Bug', 'Issue', 'Epic'] == true",
     D({"issue": "Bug"}), True),
    ("E23", "event.data.nonexistent in ['LOL', 'Issue', 'Epic'] == false",
     D({"issue": "Bug"}), True),
    ("E24", "[1, 2, 3].all(x, x > 0) && event.status == '200'",
     {"event": {"status": "200"}}, True),
    ("E25", "async.status == 200",
     {"event": {"foo": "bar"}, "async": {"status": "200"}}, False),
    ("E26", "date(event.from) + duration('6h35m10s') == date('2020-01-01T18:35:10')",
     {"event": {"from": "2020-01-01T12:00:00"}}, True),
    ("E27", "event.data.ingressId || event.data.userId",
     D({"ingressId": "IN_Mwj9Dm8r9QP2", "userId": "e67a"}), "IN_Mwj9Dm8r9QP2"),
    ("E28", "event.data.missing || event.data.userId",
     D({"userId": "user-123"}), "user-123"),
    ("E29", "event.data.a && event.data.b", D({"a": "first", "b": "second"}), "second"),
    ("E30",
     "event.data.primaryCandidateId ? event.data.primaryCandidateId : "
     "event.data.candidateId",
     D({"candidateId": "candidate-123"}), "candidate-123"),
    ("E31", "event.data.nonexistent", D({"ingressId": "x"}), False),
    ("E32", "event.data.id == async.data.id",
     {"event": {"data": {"id": 123}}, "async": {"data": {"id": 123}}}, True),
    ("E33", "lowercase(event.priority) == 'urgent'",
     {"event": {"priority": "URGENT"}}, True),
    ("E34", "event.data.user_id + '-' + event.data.account_id",
     D({"user_id": "u1", "account_id": "a9"}), "u1-a9"),
    ("E35", "event.data.count == 1", D({"count": 1.0}), True),
    ("E36", "event.data.tags.exists(x, x == 'd') == false",
     D({"tags": ["a", "b", "c"]}), True),
    ("E37", "event.data.flagA || event.data.flagB",
     D({"flagA": False, "flagB": True}), True),
    ("E38", "event.data.test == true && event.data.issue.field.another != 'another'",
     D({"test": True, "issue": None}), True),
    ("E39", "event.data.float <= null && event.data.int < null",
     D({"float": 3.141, "int": 8}), False),
    ("E40", "event.data.action > 0", D({"action": None}), False),
    ("E41", "event.data.name == async.first.result.name", D({"name": "no"}), False),
    ("E42", "event.nonexistent.exists(x, x == 'a')", {"event": {}}, False),
    ("E43", "size(event.data.tags) == 0", D({}), True),
    ("E44", "'hello'.contains('llo')", D({}), True),
    ("E45", "event.data.tags.exists(x, x == 'd' || x == 'a')",
     D({"tags": ["a", "b", "c"]}), True),
    ("E46", "event.data.a || event.data.b", D({}), False),
    ("E47", "event.data.empty || event.data.userId",
     D({"empty": "", "userId": "user-123"}), "user-123"),
    ("E48", "event.data.a && event.data.b", D({"a": "", "b": "second"}), ""),
    ("E49",
     "event.data.name + '-' + event.data.number + '-' + event.data.bool + '-' + "
     "event.data.list + '-' + event.data.obj + '-' + event.data.missing",
     D({"name": "hi", "number": 9.1, "bool": True, "list": [3, "ok?", True],
        "obj": {"name": "inngest"}}),
     "hi-9.1-true-[3 ok? true]-map[name:inngest]-"),
    ("E50", "event.data.ingressId + event.data.missing",
     D({"ingressId": "IN_Mwj9Dm8r9QP2"}), "IN_Mwj9Dm8r9QP2"),
    ("E51",
     "!((has(event.data.a) && event.data.a) || (has(event.data.b) && event.data.b) || "
     "(has(event.data.c) && event.data.c))",
     D({"a": False, "b": False, "c": False}), True),
    ("E52",
     "!((has(event.data.a) && event.data.a) || (has(event.data.b) && event.data.b) || "
     "(has(event.data.c) && event.data.c))",
     D({"a": True, "b": False, "c": False}), False),
    ("E53",
     "async.first.foo != 'test' && (async.first.bar == true || async.second.baz == "
     "true)",
     {"async": {"first": {"foo": "test"}}}, False),
    ("E54",
     "event.first.foo == 'test' && event.second.bar != true && event.second.baz != "
     "true",
     {"event": {"first": {"foo": "test"}, "second": {"foo": "test"}}}, True),
    ("E55", "event.data.issue.field.another == 'another'", D({"issue": None}), False),
    ("E56", "event.data.something == null", D({"something": None}), True),
    ("E57", "size(event.data.tags) > 2", D({"tags": ["a", "b", "c"]}), True),
    ("E58", "event.id",
     {"event": {"id": "01KMMJM9P2JQWH09SKMQM4J1DF", "data": {}}},
     "01KMMJM9P2JQWH09SKMQM4J1DF"),
]
# fmt: on


def same(actual: Any, expected: Any) -> bool:
    """Equal, and a bool only where Go gives a bool (``True == 1`` in Python)."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected
    if isinstance(expected, (int, float)):
        return isinstance(actual, (int, float)) and actual == expected
    return type(actual) is type(expected) and bool(actual == expected)


@pytest.mark.parametrize(
    ("expression", "activation", "expected"),
    [pytest.param(e, a, v, id=i) for i, e, a, v in EXAMPLES],
)
def test_the_examples_evaluate_as_inngest_does(
    expression: str, activation: dict[str, Any], expected: Any
) -> None:
    value = compile_expression(expression).evaluate(activation)
    assert same(value, expected), value


def test_there_are_58_examples() -> None:
    assert len({i for i, *_ in EXAMPLES}) == 58


# --- leniency beyond the table -------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "data", "expected"),
    [
        # Unknown paths: equal to null only, ordered by position.
        ("event.data.missing == null", {}, True),
        ("event.data.missing != null", {}, False),
        ("event.data.missing != 'x'", {}, True),
        ("event.data.missing < 1", {}, True),
        ("1 < event.data.missing", {}, False),
        ("event.data.missing >= 1", {}, False),
        ("size(event.data.missing) == 0", {}, True),
        ("event.data.missing.size() == 0", {}, True),
        ("event.data.missing + event.data.other", {}, False),
        ("!event.data.missing", {}, False),
        ("event.data.missing.all(x, x > 0)", {}, False),
        ("has(event.data.missing)", {}, False),
        ("has(event.data.present)", {"present": None}, True),
        ("event.data.s.startsWith(event.data.missing)", {"s": "abc"}, False),
        ("lowercase(event.data.missing) == ''", {}, False),
        # Errors inside an operand are unknown to the enclosing operator.
        ("1 / 0 == null", {}, True),
        ("event.data.list[5] == null", {"list": [1]}, True),
        ("event.data.list[0] == 1", {"list": [1]}, True),
        # Null orders as the other side's zero value.
        ("event.data.n < 'a'", {"n": None}, True),
        ("null <= null", {}, True),
        # Mixed numbers.
        ("event.data.n + 1", {"n": 1.5}, 2.5),
        ("event.data.n * 2 == 3", {"n": 1.5}, True),
        ("event.data.n - 1 == 0.5", {"n": 1.5}, True),
        ("5 + 4", {}, 9),
        ("'200' == 200", {}, False),
        ("true == 1", {}, False),
        (
            "event.data.a == event.data.b",
            {"a": [1, {"x": 2}], "b": [1.0, {"x": 2.0}]},
            True,
        ),
        # Go %v concatenation.
        ("'n=' + event.data.n", {"n": 3.0}, "n=3"),
        ("'x' + event.data.big", {"big": 1e21}, "x1e+21"),
        ("'x' + event.data.v", {"v": None}, "xNULL_VALUE"),
        ("'x' + event.data.l", {"l": [None, 1.5]}, "x[<nil> 1.5]"),
        # JavaScript-style logic on non-booleans; CEL's on booleans.
        ("event.data.a || 'default'", {"a": 0}, "default"),
        ("event.data.a || 'default'", {"a": []}, []),
        ("event.data.a && 'yes'", {"a": 1}, "yes"),
        ("event.data.missing || true", {}, True),
        ("true || event.data.missing", {}, True),
        ("event.data.missing && false", {}, False),
        ("event.data.c ? 'a' : 'b'", {"c": "yes"}, "a"),
        ("event.data.c ? 'a' : 'b'", {"c": ""}, "b"),
        ("event.data.c ? 'a' : 'b'", {"c": True}, "a"),
        # Macros.
        ("event.data.l.map(x, x * 2)", {"l": [1, 2]}, [2, 4]),
        ("event.data.l.filter(x, x > 1)", {"l": [1, 2, 3]}, [2, 3]),
        ("event.data.l.exists_one(x, x == 2)", {"l": [1, 2, 3]}, True),
        ("event.data.m.exists(k, k == 'a')", {"m": {"a": 1}}, True),
        ("[1, 'a'].exists(x, x == 'a')", {}, True),
        ("'a' in event.data.m", {"m": {"a": 1}}, True),
        # Custom functions.
        ("uppercase(event.data.s)", {"s": "abc"}, "ABC"),
        ("json_parse(event.data.j).a[1]", {"j": '{"a": [1, 2]}'}, 2),
        ("b64decode('aGk') == 'hi'", {}, True),
        ("date(event.data.t) == date('2020-01-01T00:00:00Z')", {"t": 1577836800}, True),
        (
            "date(event.data.t) == date('2020-01-01T00:00:00Z')",
            {"t": 1577836800000},
            True,
        ),
        ("date('Wed, 01 Jan 2020 00:00:00 GMT') == date('2020-01-01')", {}, True),
        ("now_plus('1d') > now() && now_minus('1w') < now()", {}, True),
        ("now_plus('bogus') > now()", {}, False),
        # A date out of the platform's range is an error inside the operand.
        ("date(event.data.t) > date(0) || true", {"t": 1e20}, True),
        ("int(event.data.s) == 42", {"s": "42"}, True),
    ],
)
def test_leniency(expression: str, data: dict[str, Any], expected: Any) -> None:
    value = compile_expression(expression).evaluate({"event": {"data": data}}, now=NOW)
    assert same(value, expected), value


def test_a_timestamp_result_is_a_datetime() -> None:
    value = compile_expression("date('2020-01-01T12:00:00Z')").evaluate({})
    assert value == datetime.datetime(2020, 1, 1, 12, tzinfo=datetime.timezone.utc)


# --- time is a value ---------------------------------------------------------------


def test_now_is_the_time_given() -> None:
    expression = compile_expression("now()")
    moment = datetime.datetime.fromtimestamp(NOW, datetime.timezone.utc)
    assert expression.evaluate({}, now=NOW) == moment
    later = compile_expression("now_plus('1h')").evaluate({}, now=NOW + 60)
    assert later == moment + datetime.timedelta(hours=1, minutes=1)
    earlier = compile_expression("now_minus('1d')").evaluate({}, now=NOW)
    assert earlier == moment - datetime.timedelta(days=1)
    # The matchers evaluate at the time they are given, not the clock's.
    ts = {"data": {"at": NOW - 3600}}
    assert trigger_matcher("now_minus('30m') > date(event.data.at)", ts, NOW)
    assert not trigger_matcher("now_minus('2h') > date(event.data.at)", ts, NOW)
    assert evaluate_value("now()", {}, NOW) == moment
    assert evaluate_key("now() == date(0)", {}, 0.0) == "true"
    assert wait_matcher("now() > date(async.data.at)", {}, ts, NOW)


def test_without_a_time_now_fails_rather_than_read_the_clock() -> None:
    for text in (
        "now() > date(0)",
        "now_plus('1h') > date(0)",
        "now_minus('1h') == null",
    ):
        result = explain_match(text, {})
        assert result.error == "now() needs the time of evaluation, and none was given"
        with pytest.raises(ExpressionError, match="now\\(\\) needs the time"):
            compile_expression(text).value({})


@pytest.mark.parametrize(
    "text", ["date('now')", "timestamp('now')", "date('12:00')", "timestamp('12:00')"]
)
def test_dates_that_would_need_the_clock_do_not_parse(text: str) -> None:
    # pendulum, which cel-python parses timestamps with, answers "now" and a
    # time of day from the clock; Inngest's date() parses neither.
    result = explain_match(text, {}, now=NOW)
    assert result.error is not None
    assert result.value is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("date('2020-01-01')", datetime.datetime(2020, 1, 1)),
        ("date('2020-01-01T10:00:00')", datetime.datetime(2020, 1, 1, 10)),
        ("timestamp('2020-01-01T10:00:00Z')", datetime.datetime(2020, 1, 1, 10)),
        (
            "date('2020-01-01T10:00:00+02:00')",
            datetime.datetime(2020, 1, 1, 8),
        ),
        ("date('Wed, 01 Jan 2020 10:00:00 GMT')", datetime.datetime(2020, 1, 1, 10)),
    ],
)
def test_dates_parse_without_the_clock(text: str, expected: datetime.datetime) -> None:
    value = compile_expression(text).evaluate({})
    assert value == expected.replace(tzinfo=datetime.timezone.utc)


# --- compiling --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem", "column"),
    [
        ("event.data.id ==", "syntax error", 15),
        ("event.data.id == 'x", "syntax error", 18),
        ("user.email == 'x'", "undeclared reference to 'user'", 1),
        ("events[0].data", "undeclared reference to 'events'", 1),
        ("event.name == x", "undeclared reference to 'x'", 15),
        # A macro's variable is bound in its predicate only.
        ("event.data.l.all(x, x > 0) || x", "undeclared reference to 'x'", 31),
        ("lowerAscii(event.name)", "undeclared function 'lowerAscii'", 1),
        ("event.name.split('/')", "undeclared function 'split'", 12),
        ("event.data.l.reduce(r, i, 0, r + i)", "undeclared function 'reduce'", 14),
        ("has(event['data'])", "has() takes one field selection", 1),
        ("event.data.l.all(1, true)", "all() takes a variable and an expression", 14),
    ],
)
def test_compile_errors_name_the_problem_and_position(
    text: str, problem: str, column: int
) -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression(text)
    error = info.value
    assert error.problem.startswith(problem)
    assert (error.line, error.column) == (1, column)
    assert problem in str(error)
    assert f"column {column}" in str(error)
    assert text in str(error)
    assert isinstance(error, LocalProtocolError)
    assert isinstance(error, InngestError)


def test_too_deep_and_non_string_expressions_do_not_compile() -> None:
    with pytest.raises(ExpressionError, match="nested too deeply"):
        compile_expression("(" * 40 + "1" + ")" * 40)
    with pytest.raises(ExpressionError, match="must be a string"):
        compile_expression(42)  # type: ignore[arg-type]


def test_macro_variables_and_type_names_are_declared() -> None:
    assert compile_expression("event.data.l.all(item, item > 0)").evaluate(
        {"event": {"data": {"l": [1]}}}
    )
    assert compile_expression("type(event.data.n) == double").evaluate(
        {"event": {"data": {"n": 1.5}}}
    )


def test_compilation_is_cached_by_text() -> None:
    first = compile_expression("event.data.cached == 1")
    assert compile_expression("event.data.cached == 1") is first
    assert isinstance(first, Expression)
    assert repr(first) == "Expression('event.data.cached == 1')"
    with pytest.raises(ExpressionError) as one:
        compile_expression("cached ==")
    with pytest.raises(ExpressionError) as two:
        compile_expression("cached ==")
    assert one.value is two.value


# --- matching ---------------------------------------------------------------------


def test_only_boolean_true_matches_and_the_reason_is_kept() -> None:
    event = {"event": {"data": {"name": "x", "n": 0}}}
    assert matches("event.data.name == 'x'", event)
    cases = {
        "event.data.name == 'y'": "the expression is false",
        "event.data.name": "the expression returned str, not a bool",
        "event.data.missing": "the expression depends on an attribute missing",
        "event.data.name.matches('[')": "match error",
        "event.data ==": "syntax error",
    }
    for text, reason in cases.items():
        result = explain_match(text, event)
        assert isinstance(result, Evaluation)
        assert result.matched is False
        assert result.value is not True
        assert result.reason is not None
        assert result.reason.startswith(reason), (text, result)
        assert not matches(text, event)
    assert explain_match("true", {}).reason is None


def test_activations_must_be_json_like() -> None:
    expression = compile_expression("event.data.x == 1")
    with pytest.raises(ExpressionError, match="cannot be used"):
        expression.run({"event": {"data": {"x": object()}}})
    with pytest.raises(ExpressionError, match="not an identifier"):
        expression.run({"not-a-name": 1})
    with pytest.raises(ExpressionError, match="out of range"):
        expression.run({"event": {"data": {"x": 10**400}}})
    # The executor's matchers raise ExpressionError and nothing else: the
    # executor decides what a failure means (tests/inngest_proto/executor).
    with pytest.raises(ExpressionError, match="cannot be used"):
        trigger_matcher("event.data.x == 1", {"data": {"x": object()}}, NOW)
    with pytest.raises(ExpressionError):
        wait_matcher("event.data.x == 1", {"data": {"x": object()}}, {}, NOW)
    with pytest.raises(ExpressionError, match="syntax error"):
        wait_matcher("event ==", {}, {}, NOW)
    # matches() never raises: a failure is no match.
    assert not matches("event.data.x == 1", {"event": {"data": {"x": object()}}})


@pytest.mark.parametrize(
    ("evaluate", "problem"),
    [
        (lambda: trigger_matcher("event.data.x / 0", {"data": {"x": 1}}, NOW), "zero"),
        (lambda: evaluate_key("event.data.x / 0", {"data": {"x": 1}}, NOW), "zero"),
        (lambda: evaluate_value("event.data.x / 0", {"data": {"x": 1}}, NOW), "zero"),
        (
            lambda: wait_matcher("async.data.x / 0", {}, {"data": {"x": 1}}, NOW),
            "zero",
        ),
    ],
    ids=["trigger", "key", "value", "wait"],
)
def test_evaluation_errors_raise_expression_error(
    evaluate: Callable[[], object], problem: str
) -> None:
    # Inngest's evaluator returns an error, not false: the caller decides.
    with pytest.raises(ExpressionError, match=f"evaluation failed: .*{problem}"):
        evaluate()


def test_the_trigger_matcher_sees_the_event() -> None:
    fail = {"name": "inngest/function.failed", "data": {"function_id": "app-fn"}}
    assert trigger_matcher("event.data.function_id == 'app-fn'", fail, NOW)
    assert not trigger_matcher("event.data.function_id == 'other'", fail, NOW)
    assert trigger_matcher("event.name.startsWith('inngest/')", fail, NOW)
    assert not trigger_matcher("async.data.x == 1", fail, NOW)


def test_the_wait_matcher_treats_missing_event_fields_as_null() -> None:
    text = "event.data.id == async.data.id && event.data.foo == async.data.foo"
    run_event = {"name": "t/go", "data": {"id": "ab_1"}}
    assert wait_matcher(text, run_event, {"data": {"id": "ab_1"}}, NOW)
    assert wait_matcher(text, run_event, {"data": {"id": "ab_1", "foo": None}}, NOW)
    assert not wait_matcher(text, run_event, {"data": {"id": "ab_1", "foo": 1}}, NOW)
    assert not wait_matcher(text, run_event, {"data": {"id": "ab_2"}}, NOW)
    # In a trigger the same missing field is unknown, which is not ``1``.
    assert not trigger_matcher("event.data.foo == 1", run_event, NOW)
    assert wait_matcher(None, run_event, {}, NOW)
    assert wait_matcher(
        "event.data.issue.field == async.data.field",
        {"data": {"issue": None}},
        {"data": {}},
        NOW,
    )


# --- docs/protocol/expressions.rst#interpolation --------------------------------

INTERPOLATIONS = [
    # (expression, event data, ours, Inngest's stored text)
    (
        "event.data.id == async.data.id && async.data.val <= event.data.value",
        {"id": "ab_1", "value": 1295},
        '"ab_1" == async.data.id && async.data.val <= 1295',
        '"ab_1" == async.data.id && async.data.val <= 1295',
    ),
    (
        "event.data.id == async.data.id && async.data.val <= event.data.value",
        {"id": "ab_1", "value": 1295.0},
        '"ab_1" == async.data.id && async.data.val <= 1295.0',
        '"ab_1" == async.data.id && async.data.val <= 1295.0',
    ),
    (
        "event.data.id == async.data.id && 500 <= event.data.value",
        {"id": "ab_1", "value": 1295},
        '"ab_1" == async.data.id',
        '"ab_1" == async.data.id',
    ),
    (
        "event.data.id == async.data.id && event.data.foo == async.data.foo",
        {"id": "ab_1"},
        '"ab_1" == async.data.id && null == async.data.foo',
        'async.data.id == "ab_1" && async.data.foo == null',
    ),
    (
        "event.data.id == async.data.id && event.data.foo == 1",
        {"id": "ab_1"},
        "false",
        'async.data.id == "ab_1" && null == 1',
    ),
]
CANDIDATES: list[dict[str, Any]] = [
    {"data": {}},
    {"data": {"id": "ab_1"}},
    {"data": {"id": "ab_1", "val": 1000}},
    {"data": {"id": "ab_1", "val": 2000}},
    {"data": {"id": "ab_1", "foo": None}},
    {"data": {"id": "ab_1", "foo": 1}},
    {"data": {"id": "ab_2", "val": 1}},
]


@pytest.mark.parametrize(("text", "data", "ours", "inngest"), INTERPOLATIONS)
def test_interpolation_matches_inngest(
    text: str, data: dict[str, Any], ours: str, inngest: str
) -> None:
    event = {"name": "t/go", "data": data}
    assert interpolate_event(text, event) == ours
    for candidate in CANDIDATES:
        # Inngest's stored text, ours and the direct matcher agree.
        expected = matches(inngest, {"async": candidate})
        assert matches(ours, {"async": candidate}) is expected
        assert wait_matcher(text, event, candidate, NOW) is expected


def test_interpolation_keeps_what_is_not_constant() -> None:
    event = {"data": {"n": -5, "tag": 'a"b\n', "tags": ["a"], "when": "2020-01-01"}}
    cases = {
        "async.data.n > event.data.n - 1": "async.data.n > (-6)",
        "async.data.tags.exists(x, x == event.data.tag)": (
            'async.data.tags.exists(x, x == "a\\"b\\u000a")'
        ),
        "event.data.tags.exists(x, x == 'a') || async.x": "true",
        "event.data.tags.size() == async.n": "1 == async.n",
        "async.t < date(event.data.when)": 'async.t < date("2020-01-01")',
        "async.t < now() && event.data.n < 0": "async.t < now()",
        "event.data == async.data": (
            '{"n": -5, "tag": "a\\"b\\u000a", "tags": ["a"], "when": "2020-01-01"}'
            " == async.data"
        ),
        "async.x == 1": "async.x == 1",
    }
    for text, expected in cases.items():
        stored = interpolate_event(text, event)
        assert stored == expected
        compile_expression(stored)


# --- docs/protocol/expressions.rst#keys -----------------------------------------


@pytest.mark.parametrize(
    ("text", "data", "key"),
    [
        ("event.data.id", {"id": "abc"}, "abc"),
        ("event.data.id", {"id": 123}, "123"),
        ("event.data.id", {"id": 123.0}, "123"),
        ("event.data.id", {"id": 1.5}, "1.5"),
        ("event.data.id", {"id": True}, "true"),
        ("event.data.id", {}, "false"),
        ("event.data.id", {"id": None}, "NULL_VALUE"),
        ("event.data.obj", {"obj": {"b": 2.0, "a": "x"}}, "map[a:x b:2]"),
        ("event.data.list", {"list": [3, "ok?", True]}, "[3 ok? true]"),
        ("event.data.user + '-' + event.data.acct", {"user": "u1", "acct": 9}, "u1-9"),
        ("event.data.a || event.data.b", {"b": "fallback"}, "fallback"),
        ("event.data.missing.deeper", {}, "false"),
        # A failed evaluation ("1 / 0") raises: test_evaluation_errors_raise...
    ],
)
def test_keys_render_as_go_does(text: str, data: dict[str, Any], key: str) -> None:
    assert evaluate_key(text, {"name": "t/e", "data": data}, NOW) == key


def test_keys_group_events_into_buckets() -> None:
    events: list[dict[str, Any]] = [
        {"data": {"customer": 1}},
        {"data": {"customer": 1.0}},
        {"data": {"customer": 2}},
        {"data": {}},
        {"data": {"other": "x"}},
    ]
    buckets: dict[str, list[int]] = {}
    for index, event in enumerate(events):
        buckets.setdefault(evaluate_key("event.data.customer", event, NOW), []).append(
            index
        )
    assert buckets == {"1": [0, 1], "2": [2], "false": [3, 4]}
    with pytest.raises(ExpressionError):
        evaluate_key("event.data.customer ==", events[0], NOW)


# --- robustness -----------------------------------------------------------------------

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["a", "b", "data", "id", "x"]), inner, max_size=3
        )
    ),
    max_leaves=12,
)
# Event data is always an object: the Event API refuses anything else.
_events = st.fixed_dictionaries(
    {
        "data": st.dictionaries(
            st.sampled_from(["a", "b", "x", "id"]), _json, max_size=4
        )
    },
    optional={"name": st.text(max_size=5)},
)
_atoms = st.sampled_from(
    [
        "event",
        "async",
        "event.data",
        "event.data.a",
        "async.data.a",
        "event.data.x.id",
        "event['data']",
        "event.data.a[0]",
        "null",
        "true",
        "1",
        "-2.5",
        "'s'",
        "b'b'",
        "[1, 'a']",
        "{'a': 1}",
        "now()",
        "x",
    ]
)
_unary = st.sampled_from(["", "!", "-", "size", "lowercase", "int", "string", "date"])
_binary = st.sampled_from(
    ["==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "&&", "||", "in"]
)


@st.composite
def _expressions(draw: st.DrawFn, depth: int = 3) -> str:
    if depth == 0 or draw(st.booleans()):
        return draw(_atoms)
    choice = draw(st.integers(0, 4))
    left = draw(_expressions(depth - 1))
    if choice == 0:
        op = draw(_unary)
        return f"{op}({left})"
    if choice == 1:
        return f"({left} ? {draw(_expressions(depth - 1))} : {draw(_expressions(0))})"
    if choice == 2:
        macro = draw(st.sampled_from(["all", "exists", "exists_one", "map", "filter"]))
        return f"({left}).{macro}(x, {draw(_expressions(depth - 1))})"
    if choice == 3:
        method = draw(st.sampled_from(["contains", "startsWith", "matches", "size"]))
        return f"({left}).{method}({draw(_expressions(0))})"
    return f"({left} {draw(_binary)} {draw(_expressions(depth - 1))})"


_texts = _expressions() | st.text(
    alphabet=st.sampled_from(list("event.data[]()'\"!=<>&|?:+-*/%,0123456789 abxyz\\")),
    max_size=30,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_texts, event=_events, candidate=_events)
def test_evaluation_only_ever_raises_expression_error(
    text: str, event: dict[str, Any], candidate: dict[str, Any]
) -> None:
    try:
        expression = compile_expression(text)
    except ExpressionError:
        assert not matches(text, {"event": event})
        return
    result = expression.run({"event": event, "async": candidate})
    json.dumps(result.value, default=str)  # plain data
    assert isinstance(matches(text, {"event": event}), bool)
    # The executor's matchers give their type or raise ExpressionError.
    for call, kind in (
        (lambda: wait_matcher(text, event, candidate, NOW), bool),
        (lambda: trigger_matcher(text, event, NOW), bool),
        (lambda: evaluate_key(text, event, NOW), str),
    ):
        with contextlib.suppress(ExpressionError):
            assert isinstance(call(), kind)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_expressions(), event=_events, candidate=_events)
def test_an_interpolated_wait_compiles_and_is_what_the_matcher_uses(
    text: str, event: dict[str, Any], candidate: dict[str, Any]
) -> None:
    try:
        compile_expression(text)
    except ExpressionError:
        return
    stored = interpolate_event(text, event)
    # What Inngest stores mentions only ``async`` and is itself valid.
    assert "event" not in stored.replace("async", "")
    compile_expression(stored)
    expected = explain_match(stored, {"async": candidate}, now=NOW)
    if expected.error is not None:
        with pytest.raises(ExpressionError):
            wait_matcher(text, event, candidate, NOW)
    else:
        assert wait_matcher(text, event, candidate, NOW) is expected.matched


# --- the executor with these matchers ------------------------------------------------

WAIT = hash_step_id("wait")


def test_the_executor_resumes_a_wait_on_a_matching_event() -> None:
    h = Harness(trigger_matcher=trigger_matcher, wait_matcher=wait_matcher)

    @h.client.create_function(
        fn_id="waiter",
        trigger=inngest.TriggerEvent(event="t/go", expression="event.data.go == true"),
    )
    def fn(ctx: inngest.ContextSync) -> Any:
        found = ctx.step.wait_for_event(
            "wait",
            event="t/approved",
            if_exp="event.data.id == async.data.id",
            timeout=datetime.timedelta(hours=1),
        )
        return None if found is None else found.data

    h.serve(fn)
    h.send("t/go", {"id": 7, "go": False})  # filtered out by the trigger
    assert h.runs("waiter") == []
    h.send("t/go", {"id": 7, "go": True})
    h.drain()
    run = h.only_run("waiter")
    assert WAIT in run.waits
    h.now += 5
    h.send("t/approved", {"id": 8})  # other id
    h.send("t/approved", {})  # no id: unknown, not a match
    h.send("t/approved", {"id": "7"})  # a string is not the number 7
    h.send("t/approved", {"id": 7.0, "ok": True})  # 7.0 == 7
    h.run()
    assert run.output == {"id": 7.0, "ok": True}
    assert h.now == 1_767_225_600.0 + 5  # resumed, not timed out


def test_the_executor_times_out_when_nothing_matches() -> None:
    h = Harness(trigger_matcher=trigger_matcher, wait_matcher=wait_matcher)

    @h.client.create_function(
        fn_id="waiter", trigger=inngest.TriggerEvent(event="t/go")
    )
    def fn(ctx: inngest.ContextSync) -> Any:
        found = ctx.step.wait_for_event(
            "wait",
            event="t/approved",
            if_exp="event.data.id == async.data.id",
            timeout=datetime.timedelta(minutes=1),
        )
        return "timed out" if found is None else found.data

    h.serve(fn)
    h.send("t/go", {"id": "a"})
    h.drain()
    h.send("t/approved", {"id": "b"})
    h.send("t/approved", {"id": None})
    h.run()
    assert h.only_run("waiter").output == "timed out"


# --- registration's checks ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "violations"),
    [
        ("event.data.foo == 1", []),
        ("event.data.name", []),
        ("event.data.action == 'opened'", []),
        ("int(event.data.n) >= 3 && async.data.kind in ['a', 'b']", []),
        (
            'event.name.endsWith("foo")',
            ["function calls are disallowed (uses 'endsWith')"],
        ),
        ("has(event.data.isPreview)", ["macros are disallowed (uses 'has')"]),
        ("5 + 4", ["function calls are disallowed (uses '+')"]),
        ("event.data.xs.exists(x, x > 1)", ["macros are disallowed (uses 'exists')"]),
        (
            "uppercase(event.data.name) + ' is my name'",
            [
                "function calls are disallowed (uses '+')",
                "function calls are disallowed (uses 'uppercase')",
            ],
        ),
    ],
)
def test_the_restrictive_policy(text: str, violations: list[str]) -> None:
    assert policy_violations(text) == violations


@pytest.mark.parametrize(
    ("text", "passes"),
    [
        ("user.id", {"syntax"}),  # parses; names an undeclared variable
        ("event.data.x ==", set()),
        ("event.data.id == async.data.id", {"syntax", "types", "restrictive"}),
        ("event.data.n + 1 > async.data.n", {"syntax", "types"}),
    ],
)
def test_check_expression_by_kind(text: str, passes: set[str]) -> None:
    for check in ("syntax", "types", "restrictive"):
        if check in passes:
            check_expression(text, check)
        else:
            with pytest.raises(ExpressionError):
                check_expression(text, check)


def test_wait_warnings() -> None:
    assert wait_warning("async.data.id == event.data.id") is None
    compile_error = wait_warning("async.data.id = 1")
    assert compile_error is not None
    assert compile_error.startswith("the if expression does not compile")
    assert wait_warning("has(async.data.x)") == (
        "the if expression breaks Inngest's policy for waits: "
        "macros are disallowed (uses 'has')"
    )
