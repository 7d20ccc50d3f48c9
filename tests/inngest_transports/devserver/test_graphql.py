"""``POST /v0/gql``: the queries SDK test harnesses send, and hostile ones."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import anyio
import pytest
from graphql import get_introspection_query

import inngest_proto as inngest
from inngest_proto._signing import hash_signing_key
from inngest_transports.devserver._graphql import MAX_BODY_BYTES, MAX_DEPTH, MAX_TOKENS

from ._harness import APP_ID, Harness, dev_api, harness
from .test_api import KEY

pytestmark = pytest.mark.anyio

# The queries of the official Python SDK's test harness, verbatim in shape.
EVENT_RUNS = """
query GetEventRuns($eventId: ID!) {
  event(query: { eventId: $eventId }) { functionRuns { id } }
}"""
RUN = """
query GetRun($runId: String!) { run(runID: $runId) { output status } }"""
TRIGGER = """
query GetRunTrigger($runId: String!) { runTrigger(runID: $runId) { payloads } }"""
TRACE = """
query GetRunTrace($runId: String!) {
  run(runID: $runId) { trace { childrenSpans { name outputID } } }
}"""
SPAN_OUTPUT = """
query GetSpanOutput($outputId: String!) {
  runTraceSpanOutputByID(outputID: $outputId) {
    data
    error { message name stack }
  }
}"""


def _functions(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    @client.create_function(fn_id="two", trigger=inngest.TriggerEvent(event="t/two"))
    async def two(ctx: inngest.Context) -> dict[str, Any]:
        a = await ctx.step.run("a", lambda: "A")
        b = await ctx.step.run("b", lambda: a + "B")
        return {"a": a, "b": b}

    def refuse() -> None:
        raise ValueError("nope")

    @client.create_function(
        fn_id="bad", trigger=inngest.TriggerEvent(event="t/bad"), retries=0
    )
    async def bad(ctx: inngest.Context) -> None:
        await ctx.step.run("refuse", refuse)

    return [two, bad]


async def _gql(h: Harness, query: str, **variables: Any) -> dict[str, Any]:
    resp = await h.http.post("/v0/gql", json={"query": query, "variables": variables})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def _finished(h: Harness, event_id: str) -> tuple[str, dict[str, Any]]:
    """Polls as the harness does: the event's run, then its status."""
    with anyio.fail_after(5):
        while True:
            runs = (await _gql(h, EVENT_RUNS, eventId=event_id))["event"][
                "functionRuns"
            ]
            if runs:
                break
            await anyio.sleep(0.01)
        (run,) = runs
        while True:
            got = (await _gql(h, RUN, runId=run["id"]))["run"]
            if got["status"] not in ("RUNNING", "QUEUED"):
                return run["id"], got
            await anyio.sleep(0.01)


async def test_a_run_as_the_sdk_test_harness_reads_it() -> None:
    async with harness(_functions) as h:
        event_id = await h.send("t/two", {"n": 1})
        run_id, run = await _finished(h, event_id)
        assert run["status"] == "COMPLETED"
        assert json.loads(run["output"]) == {"a": "A", "b": "AB"}

        (payload,) = (await _gql(h, TRIGGER, runId=run_id))["runTrigger"]["payloads"]
        event = json.loads(payload)
        assert (event["name"], event["data"]) == ("t/two", {"n": 1})

        spans = (await _gql(h, TRACE, runId=run_id))["run"]["trace"]["childrenSpans"]
        assert [s["name"] for s in spans] == ["a", "b"]
        outputs = [
            (await _gql(h, SPAN_OUTPUT, outputId=s["outputID"]))[
                "runTraceSpanOutputByID"
            ]
            for s in spans
        ]
        assert outputs == [
            {"data": '"A"', "error": None},
            {"data": '"AB"', "error": None},
        ]


async def test_a_failed_run_and_its_failed_step() -> None:
    async with harness(_functions) as h:
        run_id, run = await _finished(h, await h.send("t/bad"))
        assert run["status"] == "FAILED"
        assert json.loads(run["output"])["message"] == "nope"
        (span,) = (await _gql(h, TRACE, runId=run_id))["run"]["trace"]["childrenSpans"]
        assert span["name"] == "refuse"
        out = (await _gql(h, SPAN_OUTPUT, outputId=span["outputID"]))[
            "runTraceSpanOutputByID"
        ]
        assert out["data"] is None
        assert (out["error"]["name"], out["error"]["message"]) == (
            "ValueError",
            "nope",
        )


async def test_apps_functions_and_events() -> None:
    async with harness(_functions) as h:
        event_id = await h.send("t/two")
        await _finished(h, event_id)
        data = await _gql(
            h,
            """{
              apps { name method connected functionCount functions { slug } }
              functions { slug name triggers { type value } app { name } }
              events(query: {}) { id name payload functionRuns { status } }
              connect: apps(filter: {method: CONNECT}) { id }
            }""",
        )
        (app,) = data["apps"]
        assert app["name"] == APP_ID
        assert (app["method"], app["connected"], app["functionCount"]) == (
            "SERVE",
            True,
            2,
        )
        assert {f["slug"] for f in app["functions"]} == {
            f"{APP_ID}-two",
            f"{APP_ID}-bad",
        }
        two = next(f for f in data["functions"] if f["slug"] == f"{APP_ID}-two")
        assert two["triggers"] == [{"type": "EVENT", "value": "t/two"}]
        assert two["app"] == {"name": APP_ID}
        sent = next(e for e in data["events"] if e["id"] == event_id)
        assert sent["name"] == "t/two"
        assert sent["functionRuns"] == [{"status": "COMPLETED"}]
        assert data["connect"] == []


async def _post(http: Any, body: bytes | dict[str, Any]) -> tuple[int, dict[str, Any]]:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    resp = await http.post("/v0/gql", content=content)
    return resp.status_code, resp.json()


async def test_hostile_queries_get_clear_errors() -> None:
    async with dev_api() as (_, http):
        cases: list[tuple[bytes | dict[str, Any], int, str]] = [
            (b"{not json", 400, "could not be decoded"),
            (b"[1]", 400, "not an object"),
            ({"query": ""}, 422, "no operation"),
            ({"query": "{ apps { name }", "variables": []}, 400, "variables"),
            ({"query": "{ apps { name } }", "operationName": 5}, 400, "operationName"),
            ({"query": "{ apps { name "}, 422, "Syntax Error"),
            ({"query": "{ nothing }"}, 422, "Cannot query field 'nothing'"),
            ({"query": "{ run(runID: 5) { id } }"}, 422, "String cannot represent"),
            # A fragment that spreads itself: refused, not followed forever.
            (
                {
                    "query": "{ apps { ...F } }"
                    " fragment F on App { functions { app { ...F } } }"
                },
                422,
                "Cannot spread fragment 'F' within itself",
            ),
            (b" " * (MAX_BODY_BYTES + 1), 413, "request body over"),
            (
                {"query": "{" + " apps { name }" * 2000 + "}"},
                422,
                f"more than {MAX_TOKENS} tokens",
            ),
        ]
        for body, status, text in cases:
            got, answer = await _post(http, body)
            assert got == status, (
                body if isinstance(body, dict) else body[:40],
                answer,
            )
            assert answer["data"] is None
            assert text in answer["errors"][0]["message"], answer

        # Deep nesting: refused before it is validated or run.
        deep = "{ apps { " + "functions { app { " * 8 + "name" + " } }" * 8 + " } }"
        got, answer = await _post(http, {"query": deep})
        assert got == 422
        assert f"deeper than {MAX_DEPTH}" in answer["errors"][0]["message"]
        code = answer["errors"][0]["extensions"]["code"]
        assert code == "GRAPHQL_VALIDATION_FAILED"

        # Fragments that fan out (each spreads the next twice) are measured
        # once each: answered at once, not after 2**40 walks.
        names = [f"F{i}" for i in range(40)]
        fragments = " ".join(
            f"fragment {a} on App {{ ...{b} name: id ...{b} }}"
            for a, b in itertools.pairwise(names)
        )
        fan = "{ apps { ...F0 } } " + fragments + " fragment F39 on App { id }"
        started = time.monotonic()
        got, answer = await _post(http, {"query": fan})
        assert time.monotonic() - started < 2
        assert got in (200, 422)

        # Field errors: 200, with the error next to null data.
        got, answer = await _post(http, {"query": '{ run(runID: "x") { id } }'})
        assert got == 200
        assert answer["data"] == {"run": None}
        assert "error parsing runID" in answer["errors"][0]["message"]
        for output_id in ["%%%", "", "bm90aGluZw"]:
            got, answer = await _post(
                http,
                {
                    "query": "{ runTraceSpanOutputByID(outputID: "
                    f'"{output_id}") {{ data }} }}'
                },
            )
            assert got == 200
            assert answer["data"] is None
            assert answer["errors"]
        got, answer = await _post(
            http,
            {
                "query": "{ event(query: "
                '{eventId: "01ARZ3NDEKTSV4RRFFQ69G5FAV"}) { id } }'
            },
        )
        assert (got, answer["data"]) == (200, {"event": None})

        # Tools (GraphiQL) introspect; the standard query fits the limits.
        got, answer = await _post(http, {"query": get_introspection_query()})
        assert got == 200, answer
        types = {t["name"] for t in answer["data"]["__schema"]["types"]}
        assert {"FunctionRunV2", "RunTraceSpan", "FunctionRunStatus"} <= types

        # Still serving.
        got, answer = await _post(http, {"query": "{ apps { name } }"})
        assert (got, answer) == (200, {"data": {"apps": []}})


async def test_graphql_needs_the_key_when_the_server_has_one() -> None:
    async with dev_api(signing_key=KEY) as (_, http):
        query = {"query": "{ apps { name } }"}
        assert (await http.post("/v0/gql", json=query)).status_code == 401
        bearer = {"authorization": f"Bearer {hash_signing_key(KEY)}"}
        ok = await http.post("/v0/gql", json=query, headers=bearer)
        assert (ok.status_code, ok.json()) == (200, {"data": {"apps": []}})
