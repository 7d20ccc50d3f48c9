"""The executor's pure helpers, determinism, and state persistence."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import inngest_proto as inngest
from inngest_proto._converter import structure, unstructure
from inngest_proto._http_values import OutboundResponse
from inngest_proto._opcodes import Opcode
from inngest_proto.executor import Executor, ExecutorState, RunStatus
from inngest_proto.executor._ids import ulid
from inngest_proto.executor._lifecycle import (
    failure_error,
    invoke_memo,
    reported_error_name,
)
from inngest_proto.executor._matching import (
    name_patterns,
)
from inngest_proto.executor._reply import (
    MAX_DATA_DEPTH,
    MAX_REPLY_BYTES,
    MAX_STEP_DATA_BYTES,
    OUTPUT_TOO_DEEP,
    AttemptFailed,
    FunctionOutput,
    StepOps,
    parse_ops,
    read_reply,
)
from inngest_proto.executor._timing import backoff_seconds, parse_retry_after
from tests.inngest_proto.executor._harness import START, Harness, fake_reply

# --- ids ------------------------------------------------------------------------


@given(st.integers(0, 2**48 - 1), st.integers(0, 2**48 - 1), st.integers(0, 2**40))
def test_ulids_sort_by_time_then_counter(a_ms: int, b_ms: int, counter: int) -> None:
    first, second = ulid(a_ms, counter), ulid(b_ms, counter + 1)
    assert len(first) == 26
    assert (first < second) == ((a_ms, counter) < (b_ms, counter + 1))


@given(st.integers(-(2**60), 2**60), st.integers(-(2**90), 2**90))
def test_a_ulid_is_its_time_then_its_counter_in_crockford_base32(
    now_ms: int, counter: int
) -> None:
    crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    minted = ulid(now_ms, counter)
    value = 0
    for char in minted:
        value = value * 32 + crockford.index(char)
    # 48 bits of time (taken modulo 2**48) above 80 bits of counter.
    assert len(minted) == 26
    assert divmod(value, 2**80) == (now_ms % 2**48, counter % 2**80)


# --- replies --------------------------------------------------------------------


def test_reply_headers_are_read() -> None:
    reply = read_reply(
        fake_reply(
            500,
            {"message": "m"},
            {
                "X-Inngest-No-Retry": "TRUE",
                "Retry-After": "5",
                "x-inngest-req-version": "2",
            },
        )
    )
    assert reply.no_retry is True
    assert reply.retry_after == "5"
    assert reply.request_version == 2
    assert reply.outcome == AttemptFailed("invalid status code: 500", {"message": "m"})
    bare = read_reply(fake_reply(200, 1))
    assert (bare.no_retry, bare.retry_after, bare.request_version) == (None, None, None)
    assert bare.outcome == FunctionOutput(1)


@pytest.mark.parametrize("version", ["--1", "\u00b2", "9" * 5000, "1.5", "-"])
def test_an_unreadable_request_version_is_none(version: str) -> None:
    reply = read_reply(fake_reply(200, 1, {"x-inngest-req-version": version}))
    assert (reply.request_version, reply.outcome) == (None, FunctionOutput(1))


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        # A 2xx reply marked no-retry is a failure not to retry, whatever
        # its status (the gateway maps connect's DONE to 200).
        (200, {"x-inngest-no-retry": "true"}, AttemptFailed("NonRetriableError", 1)),
        (203, {"x-inngest-no-retry": "true"}, AttemptFailed("NonRetriableError", 1)),
        # A readable Retry-After on a 2xx reply is a failure retried then.
        (200, {"retry-after": "30"}, AttemptFailed("retry at", 1)),
        (
            200,
            {"x-inngest-no-retry": "true", "retry-after": "30"},
            AttemptFailed("NonRetriableError", 1),
        ),
        (200, {"retry-after": "whenever"}, FunctionOutput(1)),
        (200, {"x-inngest-no-retry": "false"}, FunctionOutput(1)),
    ],
)
def test_retry_headers_fail_a_2xx_reply(
    status: int, headers: dict[str, str], expected: Any
) -> None:
    assert read_reply(fake_reply(status, 1, headers)).outcome == expected


def test_retry_headers_do_not_fail_ops() -> None:
    # A 206's headers only steer its StepError ops.
    headers = {"x-inngest-no-retry": "true", "retry-after": "30"}
    reply = read_reply(fake_reply(206, [{"id": "a", "op": "Sleep"}], headers))
    assert isinstance(reply.outcome, StepOps)
    assert (reply.no_retry, reply.retry_after) == (True, "30")


def test_ops_parse_case_insensitively_and_a_single_object_is_one_op() -> None:
    (op,) = parse_ops(b'{"id": "x", "op": "steprun", "data": 3}')
    assert (op.op, op.data, op.display_name) == (Opcode.STEP_RUN, 3, "")
    (none,) = parse_ops(b"[]")
    assert none.op is Opcode.NONE
    with pytest.raises(ValueError, match="1001 ops"):
        parse_ops(json.dumps([{"id": "x", "op": "StepRun"}] * 1001).encode())
    with pytest.raises(ValueError, match="no string id"):
        parse_ops(b'[{"op": "StepRun"}]')
    assert isinstance(
        read_reply(fake_reply(206, [{"id": "a", "op": "Sleep"}])).outcome, StepOps
    )


def test_oversized_replies_and_steps_fail_the_attempt() -> None:
    # A step's data may be 4 MiB at most, a whole reply 8 MiB
    # (docs/protocol/executor.rst#limits).
    fits = "x" * (MAX_STEP_DATA_BYTES - 2)  # the JSON quotes make it exactly fit
    reply = read_reply(fake_reply(206, [{"id": "a", "op": "StepRun", "data": fits}]))
    assert isinstance(reply.outcome, StepOps)
    over = [{"id": "a", "op": "StepRun", "data": fits + "x"}]
    failed = read_reply(fake_reply(206, over)).outcome
    assert isinstance(failed, AttemptFailed)
    assert "allowed per step" in failed.error
    huge = read_reply(fake_reply(200, "x" * MAX_REPLY_BYTES)).outcome
    assert huge == AttemptFailed("output_too_large")


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _sdk_reply(status: int, body: bytes) -> OutboundResponse:
    return OutboundResponse(status, {"x-inngest-sdk": "py"}, body)


@pytest.mark.parametrize("depth", [MAX_DATA_DEPTH + 1, 400, 10_000])
def test_replies_nested_too_deep_fail_the_attempt(depth: int) -> None:
    deep = _nested(depth)
    assert read_reply(_sdk_reply(200, deep)).outcome == AttemptFailed(OUTPUT_TOO_DEEP)
    op = b'[{"id": "a", "op": "StepRun", "data": %s}]' % deep
    failed = read_reply(_sdk_reply(206, op)).outcome
    assert isinstance(failed, AttemptFailed)
    assert "invalid opcodes" in failed.error
    assert f"deeper than the {MAX_DATA_DEPTH} levels" in failed.error
    # The body is kept as text, which any store can hold.
    assert failed.body == op.decode()
    errored = read_reply(_sdk_reply(500, deep)).outcome
    assert errored == AttemptFailed("invalid status code: 500", deep.decode())


def test_replies_at_the_depth_limit_are_kept_parsed() -> None:
    deep = _nested(MAX_DATA_DEPTH)
    assert read_reply(_sdk_reply(200, deep)).outcome == FunctionOutput(json.loads(deep))
    # An invoke's data is two levels into its opts.
    invoke = {"payload": {"data": json.loads(deep)}, "function_id": "f"}
    op = {"id": "a", "op": "InvokeFunction", "opts": invoke}
    assert isinstance(read_reply(fake_reply(206, [op])).outcome, StepOps)


@pytest.mark.parametrize(
    "body", [b"not json", b"[1]", b'{"status": "200"}', b'{"no": "status"}']
)
def test_a_malformed_stream_wrapper_is_a_failed_attempt(body: bytes) -> None:
    reply = read_reply(OutboundResponse(201, {"x-inngest-sdk": "py"}, body))
    assert isinstance(reply.outcome, AttemptFailed)
    assert reply.outcome.error == "invalid status code: 500"


def test_a_stream_wrapper_with_a_json_body_object() -> None:
    body = json.dumps(
        {"status": 206, "body": [{"id": "a", "op": "StepRun", "data": 1}]}
    )
    reply = read_reply(OutboundResponse(201, {"x-inngest-sdk": "py"}, body.encode()))
    assert isinstance(reply.outcome, StepOps)


# --- timing ---------------------------------------------------------------------


def test_backoff_follows_the_table_and_scales() -> None:
    bases = [15, 30, 60, 120, 300, 600, 1200, 2400, 3600, 7200, 7200, 7200]
    for attempt, base in enumerate(bases):
        delay = backoff_seconds("job", attempt, 1.0)
        assert base <= delay <= base + 30
        assert backoff_seconds("job", attempt, 0.5) == pytest.approx(delay / 2)
    assert backoff_seconds("job", 3, 0.0) == 0.0
    # Jitter differs between jobs, but is the same for the same job and attempt.
    assert backoff_seconds("a", 0, 1.0) == backoff_seconds("a", 0, 1.0)
    assert len({backoff_seconds(str(i), 0, 1.0) for i in range(20)}) > 1


@pytest.mark.parametrize(
    "value", [None, "", "  ", "-5", "1.5", "soon", "Not a date at all", "\u00b2"]
)
def test_unreadable_retry_after(value: str | None) -> None:
    assert parse_retry_after(value, START) is None


# --- matching -------------------------------------------------------------------


def test_name_patterns() -> None:
    assert name_patterns("app/user.created") == {
        "app/user.created",
        "app/*",
        "app/user.*",
    }
    assert name_patterns("plain") == {"plain"}


# --- lifecycle shapes -----------------------------------------------------------


def test_failure_error_reads_nested_error_bodies() -> None:
    assert failure_error(
        "invalid status code: 500", {"error": {"name": "E", "message": "m"}}
    ) == {
        "error": "invalid status code: 500",
        "name": "E",
        "message": "m",
    }
    assert failure_error("x", "plain text") == {
        "error": "x",
        "name": "Error",
        "message": "x",
    }


def test_invoke_memo_prefers_error_and_keeps_null_results() -> None:
    assert invoke_memo({"data": {"error": {"n": 1}, "result": 2}}) == {
        "error": {"n": 1}
    }
    assert invoke_memo({"data": {"result": None}}) == {"data": None}
    odd = {"data": {"function_id": "x"}}
    assert invoke_memo(odd) is odd


# --- determinism and persistence ----------------------------------------------------


def scenario(h: Harness) -> None:
    @h.client.create_function(
        fn_id="f", trigger=inngest.TriggerEvent(event="t/go"), retries=2
    )
    def fn(ctx: inngest.ContextSync) -> Any:
        ctx.step.run("a", lambda: 1)
        ctx.step.sleep("s", 5000)
        if ctx.attempt == 0:
            raise ValueError("once")
        return ctx.step.wait_for_event("w", event="t/x", timeout=1000)

    h.serve(fn)


def test_the_same_inputs_give_the_same_actions() -> None:
    runs = []
    for _ in range(2):
        h = Harness(retry_scale=1.0)
        scenario(h)
        h.send("t/go", {"n": 1})
        h.run()
        runs.append(h.actions)
    assert runs[0] == runs[1]
    assert len(runs[0]) > 10


def test_state_survives_a_json_round_trip_mid_run() -> None:
    h = Harness(retry_scale=1.0)
    scenario(h)
    h.send("t/go", {"n": 1})
    h.drain()  # now sleeping
    saved = json.dumps(unstructure(h.executor.state))
    restored = structure(json.loads(saved), ExecutorState)
    assert restored == h.executor.state
    h.executor = Executor(retry_scale=1.0, state=restored)
    h.serve(*h.functions)
    h.run()
    (run,) = restored.runs.values()
    assert run.status is RunStatus.COMPLETED
    assert run.output is None


@pytest.mark.parametrize(
    ("body", "name"),
    [
        ({"name": "RuntimeError", "message": "m"}, "RuntimeError"),
        ({"error": {"name": "TypeError", "message": "m"}}, "TypeError"),
        ({"name": ""}, None),
        ({"name": 3}, None),
        ("text", None),
        (None, None),
    ],
)
def test_reported_error_name(body: Any, name: str | None) -> None:
    assert reported_error_name(body) == name
