"""Durable endpoints in the executor core: parsing, the run's life, re-entry."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inngest_proto import OutboundResponse
from inngest_proto.executor import (
    CallSDK,
    CheckpointRejected,
    EmitEvent,
    Executor,
    RunFinished,
    RunStarted,
    RunStatus,
    SetTimer,
    endpoint_function_uuid,
    output_token,
    output_token_run,
    parse_endpoint_run,
    parse_endpoint_steps,
)

RUN = "01KAAAAAAAAAAAAAAAAAAAAAAA"
NOW = 1_767_225_600.0
KEY = "signkey-test-" + "ab" * 16


def _new_run(**fields: Any) -> dict[str, Any]:
    return {
        "run_id": RUN,
        "event": {
            "name": "inngest/http.request",
            "data": {
                "domain": "http://127.0.0.1:3000",
                "method": "PUT",
                "path": "/orders/7",
                "query_params": "x=1",
                "body": "{}",
                "content_type": "application/json",
                "ip": "",
                "fn": "",
            },
        },
        "steps": [{"id": "a", "op": "StepRun", "name": "a", "data": 1}],
        "request_version": 2,
        "retries": 2,
        **fields,
    }


def _start(executor: Executor, **fields: Any) -> list[Any]:
    start = parse_endpoint_run(json.dumps(_new_run(**fields)).encode())
    return executor.start_endpoint_run(start, NOW)


def _steps(ops: list[dict[str, Any]]) -> Any:
    return parse_endpoint_steps(json.dumps({"steps": ops}).encode(), RUN)


def test_a_new_run_publishes_its_event_then_starts_without_a_call() -> None:
    executor = Executor()
    actions = _start(executor)
    assert [type(a) for a in actions] == [EmitEvent, RunStarted]
    event = actions[0].event
    assert event["name"] == "inngest/http.request"
    assert actions[1].event_ids == (event["id"],)
    run = executor.get_run(RUN)
    assert run is not None
    assert (run.function_id, run.endpoint_attempts) == ("PUT /orders/7", 3)
    assert run.steps == {"a": {"data": 1}}
    assert run.request_version == 2
    with pytest.raises(CheckpointRejected) as taken:
        _start(executor)
    assert taken.value.status == 409


def test_run_complete_ends_the_run_with_the_response() -> None:
    executor = Executor()
    _start(executor, steps=[])
    done = {"id": "c", "op": "RunComplete", "data": {"status": 404, "body": "no"}}
    (finished, *_) = [
        a
        for a in executor.endpoint_steps(_steps([done]), NOW)
        if isinstance(a, RunFinished)
    ]
    assert finished.status is RunStatus.COMPLETED
    assert finished.output == {"status": 404, "headers": {}, "body": "no"}

    executor = Executor()
    _start(executor, steps=[])
    done["data"] = {"status": 502, "body": '{"message":"bad gateway"}'}
    actions = executor.endpoint_steps(_steps([done]), NOW)
    (finished,) = [a for a in actions if isinstance(a, RunFinished)]
    assert finished.status is RunStatus.FAILED
    assert finished.error is not None
    assert finished.error["error"] == "invalid status code: 502"
    assert finished.error["message"] == "bad gateway"
    with pytest.raises(CheckpointRejected, match="already finished"):
        executor.endpoint_steps(_steps([]), NOW)

    # The body is read as a call's failed reply is: a lone surrogate escape
    # becomes U+FFFD, so the error can be stored and encoded.
    executor = Executor()
    _start(executor, steps=[])
    done["data"] = {"status": 500, "body": '{"message":"\\ud800 down"}'}
    actions = executor.endpoint_steps(_steps([done]), NOW)
    (finished,) = [a for a in actions if isinstance(a, RunFinished)]
    assert finished.error is not None
    assert finished.error["message"] == "\ufffd down"


def test_a_sleep_hands_over_and_the_endpoint_is_called_again() -> None:
    executor = Executor(signing_key=KEY)
    _start(executor)
    sleep = {"id": "z", "op": "Sleep", "name": "z", "opts": {"duration": "5s"}}
    (timer,) = [
        a
        for a in executor.endpoint_steps(_steps([sleep]), NOW)
        if isinstance(a, SetTimer)
    ]
    assert timer.at == NOW + 5
    (call,) = [
        a
        for a in executor.timer_fired(timer.timer_id, NOW + 5)
        if isinstance(a, CallSDK)
    ]
    request = call.request
    assert (request.method, request.url) == (
        "PUT",
        "http://127.0.0.1:3000/orders/7?x=1",
    )
    assert request.body == b"{}"
    assert request.headers["x-run-id"] == RUN
    assert request.headers["x-inngest-signature"].startswith(f"t={int(NOW + 5)}&s=")
    assert request.headers["x-inngest-req-version"] == "2"
    done = {"id": "c", "op": "RunComplete", "data": {"status": 200, "body": "ok"}}
    reply = OutboundResponse(
        206, [("x-inngest-sdk", "js:v4")], json.dumps(done).encode()
    )
    actions = executor.call_finished(RUN, call.request_id, reply, NOW + 6)
    (finished,) = [a for a in actions if isinstance(a, RunFinished)]
    assert finished.output["body"] == "ok"


def test_a_lone_surrogate_in_the_request_is_read_as_go_reads_it() -> None:
    # ``json.dumps`` writes "\ud800" as the escape; UTF-8 cannot encode it,
    # so kept as is it broke the call that resumes the run.
    executor = Executor()
    new_run = _new_run()
    new_run["event"]["data"]["body"] = "\ud800{}"
    executor.start_endpoint_run(parse_endpoint_run(json.dumps(new_run).encode()), NOW)
    sleep = {"id": "z", "op": "Sleep", "name": "z", "opts": {"duration": "5s"}}
    actions = executor.endpoint_steps(_steps([sleep]), NOW)
    (timer,) = [a for a in actions if isinstance(a, SetTimer)]
    (call,) = [
        a
        for a in executor.timer_fired(timer.timer_id, NOW + 5)
        if isinstance(a, CallSDK)
    ]
    assert call.request.body == "\ufffd{}".encode()


def test_a_step_error_is_retried_by_calling_the_endpoint() -> None:
    executor = Executor(retry_scale=0)
    _start(executor, steps=[], retries=1)
    error = {"id": "f", "op": "StepError", "name": "f", "error": {"message": "boom"}}
    (timer,) = [
        a
        for a in executor.endpoint_steps(_steps([error]), NOW)
        if isinstance(a, SetTimer)
    ]
    (call,) = [
        a for a in executor.timer_fired(timer.timer_id, NOW) if isinstance(a, CallSDK)
    ]
    assert call.request.headers["x-inngest-signature"] == ""  # dev mode: empty
    # The second attempt was the last one: its StepError fails the step.
    reply = OutboundResponse(
        206, [("x-inngest-sdk", "js:v4")], json.dumps([error]).encode()
    )
    actions = executor.call_finished(RUN, call.request_id, reply, NOW)
    run = executor.get_run(RUN)
    assert run is not None
    assert run.steps["f"] == {"error": {"message": "boom"}}
    assert any(isinstance(a, CallSDK) for a in actions)  # on, with the error memo


def test_steps_are_checked_against_the_run() -> None:
    executor = Executor()
    with pytest.raises(CheckpointRejected) as missing:
        executor.endpoint_steps(_steps([]), NOW)
    assert missing.value.status == 404
    _start(executor)
    run = executor.get_run(RUN)
    assert run is not None
    body = json.dumps({"fn_id": endpoint_function_uuid(run.event)}).encode()
    executor.endpoint_steps(parse_endpoint_steps(body, RUN), NOW)
    other = parse_endpoint_steps(json.dumps({"fn_id": "other"}).encode(), RUN)
    with pytest.raises(CheckpointRejected, match="not of function"):
        executor.endpoint_steps(other, NOW)


def test_output_tokens_name_one_run_for_an_hour() -> None:
    token = output_token(RUN, "env", NOW)
    assert output_token_run(token, NOW + 10) == RUN
    assert output_token_run(token, NOW + 3601) is None
    assert output_token_run(token[:-2] + "xx", NOW) is None
    assert output_token_run("", NOW) is None


_values = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=6),
    st.lists(st.integers() | st.text(max_size=4), max_size=2),
    st.dictionaries(
        st.sampled_from(["name", "data", "id", "op", "domain"]),
        st.none()
        | st.text(max_size=4)
        | st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
        max_size=3,
    ),
)


def _status(parse: Any, body: bytes) -> int:
    try:
        parse(body)
    except CheckpointRejected as err:
        return err.status
    return 200


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "run_id": _values,
            "event": _values,
            "steps": _values,
            "retries": _values,
            "request_version": _values,
            "fn_id": _values,
        },
    ),
    st.booleans(),
)
def test_any_body_is_parsed_or_refused_cleanly(raw: dict[str, Any], good: bool) -> None:
    body = json.dumps({**_new_run(), **raw} if good else raw).encode()
    assert _status(parse_endpoint_run, body) in (200, 400, 413)
    assert _status(lambda b: parse_endpoint_steps(b, RUN), body) in (200, 400, 413)
