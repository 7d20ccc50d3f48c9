"""Typed replay against the official SDK (``inngest==0.5.19``): where a return
annotation makes ours return something the official SDK does not, as listed
in ``docs/differences.rst``; and where both give the stored JSON.  Skipped
where the official SDK is absent (``official`` tox env)."""

from __future__ import annotations

import json
import time
import warnings
from typing import Any, TypeVar

import pydantic
import pytest

import inngest_proto
from inngest_proto._step_ids import hash_step_id

#: The official SDK's pydantic models use v1-style ``class Config``; pydantic
#: warns at import, and our ``filterwarnings = error`` would make it fatal.
_PYDANTIC_CONFIG = "Support for class-based `config` is deprecated"
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", _PYDANTIC_CONFIG, DeprecationWarning)
    pytest.importorskip("inngest")
    import inngest
    from inngest._internal import server_lib
    from inngest._internal.comm_lib.handler import CommHandler as TheirHandler
    from inngest._internal.comm_lib.models import CommRequest

T = TypeVar("T")


class Quote(pydantic.BaseModel):
    price: int


def pair() -> tuple[int, int]:
    return (1, 2)


def quote() -> Quote:
    return Quote(price=1)


def same(value: T) -> T:
    return value


def _call(fn_id: str, steps: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "ctx": {
                "run_id": "r",
                "attempt": 0,
                "use_api": False,
                "disable_immediate_execution": False,
                "stack": {"stack": list(steps)},
            },
            "event": {"name": "e", "data": {}},
            "events": [{"name": "e", "data": {}}],
            "steps": steps,
            "use_api": False,
        }
    ).encode()


def theirs(fn_id: str, steps: dict[str, Any]) -> tuple[int, Any]:
    client = inngest.Inngest(app_id="app", is_production=False)
    trigger = inngest.TriggerEvent(event="e")

    @client.create_function(fn_id="pair", trigger=trigger)
    def fn_pair(ctx: inngest.ContextSync) -> str:
        return type(ctx.step.run("pair", pair)).__name__

    @client.create_function(fn_id="quote", trigger=trigger)
    def fn_quote(ctx: inngest.ContextSync) -> str:
        return type(ctx.step.run("quote", quote)).__name__

    @client.create_function(fn_id="same", trigger=trigger)
    def fn_same(ctx: inngest.ContextSync) -> Any:
        return ctx.step.run("same", same, {"n": 1})

    handler = TheirHandler(
        client=client,
        enable_unauthed_sync=None,
        framework=server_lib.Framework.FLASK,
        functions=[fn_pair, fn_quote, fn_same],
        streaming=None,
    )
    request = CommRequest(
        body=_call(fn_id, steps),
        headers={},
        public_path=None,
        query_params={"fnId": f"app-{fn_id}", "stepId": "step"},
        raw_request=None,
        request_url="http://h/api/inngest",
        serve_origin=None,
        serve_path=None,
    )
    response = handler.post_sync(request)
    body = response.body_bytes()
    assert isinstance(body, bytes)
    return response.status_code, json.loads(body)


def ours(fn_id: str, steps: dict[str, Any]) -> tuple[int, Any]:
    client = inngest_proto.Inngest(app_id="app", is_production=False, environ={})
    trigger = inngest_proto.TriggerEvent(event="e")

    @client.create_function(fn_id="pair", trigger=trigger)
    def fn_pair(ctx: inngest_proto.ContextSync) -> str:
        return type(ctx.step.run("pair", pair)).__name__

    @client.create_function(fn_id="quote", trigger=trigger)
    def fn_quote(ctx: inngest_proto.ContextSync) -> str:
        return type(ctx.step.run("quote", quote)).__name__

    @client.create_function(fn_id="same", trigger=trigger)
    def fn_same(ctx: inngest_proto.ContextSync) -> Any:
        return ctx.step.run("same", same, {"n": 1})

    handler = inngest_proto.CommHandler(
        client=client, functions=[fn_pair, fn_quote, fn_same], framework="flask"
    )
    response = handler.handle_sync(
        inngest_proto.IncomingRequest(
            "POST",
            f"http://h/api/inngest?fnId=app-{fn_id}&stepId=step",
            {},
            _call(fn_id, steps),
            {"fnId": f"app-{fn_id}", "stepId": "step"},
        ),
        now=time.time(),
    )
    return response.status, json.loads(response.body)


def test_a_tuple_annotation_replays_as_a_tuple_where_they_give_a_list() -> None:
    steps = {hash_step_id("pair"): {"data": [1, 2]}}
    assert theirs("pair", steps) == (200, "list")
    assert ours("pair", steps) == (200, "tuple")


def test_a_model_annotation_runs_where_theirs_fails() -> None:
    status, body = theirs("quote", {})
    assert status == 500  # the model is not JSON: the official run fails
    status, body = ours("quote", {})
    assert status == 206
    assert body[0]["data"] == {"price": 1}
    # And it replays as the model.
    steps = {hash_step_id("quote"): {"data": {"price": 1}}}
    assert ours("quote", steps) == (200, "Quote")
    assert theirs("quote", steps) == (200, "dict")


def test_a_type_variable_annotation_gives_the_json_on_both() -> None:
    steps = {hash_step_id("same"): {"data": {"n": 1}}}
    assert ours("same", steps) == theirs("same", steps) == (200, {"n": 1})
