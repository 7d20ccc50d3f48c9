"""Parsing call requests strictly, and the op envelope both ways."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from inngest_proto import _json
from inngest_proto._call_request import parse_call_request
from inngest_proto._converter import structure, unstructure
from inngest_proto._errors import BodyInvalidError
from inngest_proto._opcodes import Opcode, StepOp
from inngest_proto.experimental.ai import anthropic, deepseek, gemini, grok, openai

GOLDEN = Path(__file__).parent.parent / "fixtures" / "golden"


def golden_body(name: str, index: int = 0) -> dict[str, Any]:
    data = json.loads((GOLDEN / f"{name}.json").read_text())
    body: dict[str, Any] = data["exchanges"][index]["request"]["body"]
    return body


def test_every_field_the_server_sends_is_read() -> None:
    request = parse_call_request(golden_body("exec_two_sequential_steps", 1))
    ctx = request.ctx
    assert (ctx.run_id, ctx.attempt, ctx.max_attempts) == (
        "01JGOLDENRUN00000000000001",
        0,
        4,
    )
    assert ctx.stack == ("e0996a37c13d44c3b06074939d43fa3759bd32c1",)
    assert ctx.stack_current == 1
    assert (ctx.fn_id, ctx.qi_id, ctx.job_id, ctx.step_id) == (
        "0b9a5b5e-1c1e-4c3a-9d43-000000000001",
        "golden-queue-item",
        "golden-job-1",
        "step",
    )
    assert request.version == 2
    assert request.event.name == "golden/two-steps"
    assert request.events == (request.event,)


@pytest.mark.parametrize(
    ("top", "ctx", "fetch"),
    [(False, False, False), (True, False, True), (False, True, True)],
)
def test_use_api_is_honoured_in_either_place(top: bool, ctx: bool, fetch: bool) -> None:
    body = golden_body("exec_no_steps")
    body["use_api"], body["ctx"]["use_api"] = top, ctx
    assert parse_call_request(body).needs_api_fetch is fetch


def test_null_stack_and_missing_optional_fields_are_accepted() -> None:
    body = {
        "event": {"name": "a"},
        "ctx": {"run_id": "r", "stack": {"stack": None}},
        "steps": None,
    }
    request = parse_call_request(body)
    assert request.ctx.stack == ()
    assert request.steps == {}
    assert request.ctx.max_attempts is None


def _mutated(path: list[str | int], value: Any) -> dict[str, Any]:
    body = copy.deepcopy(golden_body("exec_two_sequential_steps"))
    target: Any = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


@pytest.mark.parametrize(
    ("path", "value", "names"),
    [
        (["ctx", "run_id"], 5, "ctx.run_id"),
        (["ctx", "attempt"], "0", "ctx.attempt"),
        (["ctx", "attempt"], True, "ctx.attempt"),
        (["ctx", "max_attempts"], 1.5, "ctx.max_attempts"),
        (
            ["ctx", "disable_immediate_execution"],
            "no",
            "ctx.disable_immediate_execution",
        ),
        (["ctx", "stack"], [], "ctx.stack"),
        (["ctx", "stack", "stack"], "abc", "ctx.stack.stack"),
        (["ctx"], None, "ctx"),
        (["steps"], [], "steps"),
        (["events"], {}, "events"),
        (["events", 0, "ts"], "1", "events[0].ts"),
        (["event", "name"], 1, "event.name"),
        (["event", "data"], [1], "event.data"),
        (["event"], "x", "event"),
        (["use_api"], "yes", "use_api"),
        (["version"], "2", "version"),
    ],
)
def test_wrong_types_are_named(path: list[str | int], value: Any, names: str) -> None:
    with pytest.raises(BodyInvalidError, match=names.replace("[", r"\[")):
        parse_call_request(_mutated(path, value))


@pytest.mark.parametrize("missing", ["event", "ctx"])
def test_missing_sections_say_what_the_body_should_be(missing: str) -> None:
    body = golden_body("exec_no_steps")
    del body[missing]
    with pytest.raises(BodyInvalidError, match="Inngest call request"):
        parse_call_request(body)


def test_a_non_object_body_is_refused() -> None:
    with pytest.raises(BodyInvalidError, match="JSON object"):
        parse_call_request([1, 2])


@pytest.mark.parametrize("op", list(Opcode))
def test_every_opcode_parses_and_round_trips(op: Opcode) -> None:
    raw = {
        "displayName": "d",
        "id": "h",
        "name": "n",
        "op": op.value,
        "opts": {"k": 1},
        "userland": {"id": "d", "index": None},
        "data": [1],
    }
    parsed = structure(raw, StepOp)
    assert parsed.op is op
    assert unstructure(parsed) == raw


def test_an_op_from_another_sdk_with_timing_and_no_display_name() -> None:
    parsed = structure(
        {"id": "h", "op": "StepRun", "name": "n", "timing": {"a": 1, "b": 2}}, StepOp
    )
    assert parsed.display_name == "n"
    assert parsed.timing == {"a": 1, "b": 2}


@pytest.mark.parametrize(
    ("module", "fmt", "url"),
    [
        (openai, "openai-chat", "https://api.openai.com/v1/chat/completions"),
        (grok, "openai-chat", "https://api.x.ai/v1/chat/completions"),
        (deepseek, "openai-chat", "https://api.deepseek.com/v1/chat/completions"),
        (anthropic, "anthropic", "https://api.anthropic.com/v1/messages"),
        (
            gemini,
            "gemini",
            "https://generativelanguage.googleapis.com/v1beta/models/m:generateContent?key=k",
        ),
    ],
)
def test_ai_adapters(module: Any, fmt: str, url: str) -> None:
    adapter = module.Adapter(auth_key="k", model="m")
    assert (adapter.format(), adapter.url_infer(), adapter.auth_key()) == (
        fmt,
        url,
        "k",
    )
    body: dict[str, Any] = {}
    adapter.on_call(body)
    assert body == {"model": "m"}
    named = {"model": "other"}
    adapter.on_call(named)
    assert named == {"model": "other"}
    custom = module.Adapter(
        auth_key="k", model="m", base_url="http://proxy/v1/", headers={"a": "b"}
    )
    assert custom.url_infer().startswith("http://proxy/v1/")
    assert custom.headers() == {"a": "b"}
    with pytest.raises(ValueError, match="auth_key"):
        module.Adapter(auth_key="", model="m")


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a": -Infinity}'])
def test_non_json_constants_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not valid JSON"):
        _json.loads(text)


@pytest.mark.parametrize(
    "data",
    [
        b'{"a": [1, 2.5, "\\u00e9", null]}',
        '{"a": "\u00e9"}'.encode("utf-16"),
        '{"a": "\u00e9"}'.encode("utf-32-le"),
        b"\xef\xbb\xbf[1]",  # a UTF-8 BOM in bytes is accepted, as json does
        bytearray(b"[18446744073709551616]"),
        '"\ud800"'.encode("utf-8", "surrogatepass"),
        "[true]",
    ],
)
def test_loads_reads_what_json_loads_reads(data: bytes | bytearray | str) -> None:
    assert _json.loads(data) == json.loads(data)


@pytest.mark.parametrize(
    ("data", "error"),
    [("\ufeff[1]", ValueError), ("[1", ValueError), (b"", ValueError), (5, TypeError)],
)
def test_loads_refuses_what_json_loads_refuses(data: object, error: type) -> None:
    with pytest.raises(error):
        json.loads(data)  # type: ignore[arg-type]
    with pytest.raises(error):
        _json.loads(data)  # type: ignore[arg-type]


def test_stack_items_must_be_step_ids_and_messages_use_json_names() -> None:
    with pytest.raises(
        BodyInvalidError, match=r"ctx\.stack\.stack\[1\] .* got the number 5"
    ):
        parse_call_request(_mutated(["ctx", "stack", "stack"], ["a", 5]))
    with pytest.raises(BodyInvalidError, match=r"ctx\.stack\.current .* got a boolean"):
        parse_call_request(_mutated(["ctx", "stack", "current"], False))
    with pytest.raises(BodyInvalidError, match="got null"):
        parse_call_request(_mutated(["ctx", "run_id"], None))
