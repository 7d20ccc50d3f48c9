"""Our call requests have the shape of the official server's (golden transcripts)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import inngest_proto as inngest
from tests.inngest_proto.executor._harness import Harness

GOLDEN = Path(__file__).parents[2] / "fixtures" / "golden"


def shape(value: Any) -> Any:
    """Keys and JSON types, recursively; lists by the shape of their items."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return sorted({json.dumps(shape(item), sort_keys=True) for item in value})
    return type(value).__name__


def golden_requests(name: str) -> list[dict[str, Any]]:
    transcript = json.loads((GOLDEN / f"{name}.json").read_text())
    return [
        ex["request"]
        for ex in transcript["exchanges"]
        if ex["request"]["method"] == "POST"
        and isinstance(ex["request"].get("body"), dict)
        and "ctx" in ex["request"]["body"]
    ]


def envelope_shape(body: dict[str, Any]) -> Any:
    """The body's shape without the app-specific parts (event data, memos)."""
    out = shape(body)
    for event in [out["event"]]:
        event["data"] = "dict"
    out["events"] = "list"
    out["steps"] = "dict"
    return out


@pytest.mark.parametrize("name", ["exec_two_sequential_steps", "exec_sleep"])
def test_bodies_and_headers_match_the_golden_transcripts(name: str) -> None:
    golden = golden_requests(name)
    assert golden
    h = Harness()

    @h.client.create_function(fn_id="g", trigger=inngest.TriggerEvent(event="t/g"))
    def fn(ctx: inngest.ContextSync) -> str:
        ctx.step.run("one", lambda: 1)
        ctx.step.sleep("nap", 1000)
        return "done"

    h.serve(fn)
    h.send("t/g")
    h.run()
    ours = [json.loads(c.request.body) for c in h.calls]
    assert {json.dumps(envelope_shape(b), sort_keys=True) for b in ours} == {
        json.dumps(envelope_shape(req["body"]), sort_keys=True) for req in golden
    }
    ignored = {"host", "accept", "accept-encoding", "connection", "user-agent"}
    golden_headers = {
        name.lower()
        for req in golden
        for name, _ in req["headers"]
        if name.lower() not in ignored | {"content-length"}
    }
    for call in h.calls:
        assert set(call.request.headers) == golden_headers
    # The query string names the function and the step, as the server's does.
    assert golden[0]["path"].split("?")[1].startswith("fnId=")
    assert h.calls[0].request.url.split("?")[1] == "fnId=exec-app-g&stepId=step"
