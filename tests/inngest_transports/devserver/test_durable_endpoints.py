"""Durable endpoints: the sync checkpoint routes, hit as the TypeScript SDK does.

Each body below has the shape ``inngest.endpoint()`` (inngest-js 4.x) sends:
``checkpointNewRun`` to ``POST /v1/checkpoint``, ``checkpointSteps`` to
``POST /v1/checkpoint/{runId}/steps``; the endpoint itself is a stub that
answers the executor's re-entry calls as the SDK would.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from inngest_proto._signing import hash_signing_key
from inngest_proto.executor import output_token
from inngest_transports.devserver import DevServer
from inngest_transports.devserver._sqlite_store import SQLiteStore

from .._stub import Reply, Stub
from ._harness import RETRY_SCALE, dev_api
from .test_api import KEY

pytestmark = pytest.mark.anyio

RUN_ID = "01JGZ8Y4N8W2Y6KQ3A9E5V7T1C"


def _hash(step_id: str) -> str:
    return hashlib.sha1(step_id.encode()).hexdigest()


def _op(op: str, step: str, **fields: Any) -> dict[str, Any]:
    """An op the SDK reports for step ``step``, named and shown as ``step``
    unless ``fields`` say otherwise."""
    return {"id": _hash(step), "op": op, "name": step, "displayName": step, **fields}


def _step_run(name: str, data: Any) -> dict[str, Any]:
    timing = {"start": 1767225600000, "end": 1767225600005}
    return _op("StepRun", name, opts={"type": "step"}, data=data, timing=timing)


def _run_complete(status: int, body: str, **headers: str) -> dict[str, Any]:
    return {
        "op": "RunComplete",
        "id": _hash("complete"),
        "data": {"headers": headers, "status": status, "body": body, "version": 2},
    }


def _new_run(domain: str, steps: list[dict[str, Any]], **data: str) -> dict[str, Any]:
    """What ``checkpointNewRun`` POSTs."""
    return {
        "run_id": RUN_ID,
        "event": {
            "name": "inngest/http.request",
            "data": {
                "content_type": "application/json",
                "domain": domain,
                "ip": "",
                "method": "POST",
                "path": "/api/hello",
                "query_params": "name=ada",
                "body": '{"greeting":"hi"}',
                "fn": "hello",
                **data,
            },
        },
        "steps": steps,
        "ts": 1767225600000,
        "request_version": 2,
        "retries": 1,
    }


def _steps(fn_id: str, app_id: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    """What ``checkpointSteps`` POSTs."""
    return {
        "fn_id": fn_id,
        "app_id": app_id,
        "run_id": RUN_ID,
        "steps": steps,
        "ts": 1767225600100,
    }


def serving(
    **options: Any,
) -> AbstractAsyncContextManager[tuple[DevServer, httpx.AsyncClient]]:
    options.setdefault("retry_scale", RETRY_SCALE)
    return dev_api(**options)


@asynccontextmanager
async def endpoint() -> AsyncIterator[Stub]:
    stub = Stub()
    stub.thread.start()
    try:
        yield stub
    finally:
        stub.release.set()
        stub.server.shutdown()
        stub.server.server_close()


async def test_a_run_that_ends_inline() -> None:
    async with serving() as (dev, http):
        new = await http.post(
            "/v1/checkpoint", json=_new_run("http://127.0.0.1:9", [_step_run("a", 1)])
        )
        assert new.status_code == 200, new.text
        data = new.json()["data"]
        assert data["run_id"] == RUN_ID
        assert data["token"]
        assert data["realtime_token"]
        ok = await http.post(
            f"/v1/checkpoint/{RUN_ID}/steps",
            json=_steps(data["fn_id"], data["app_id"], [_step_run("b", 2)]),
        )
        assert (ok.status_code, ok.content) == (200, b"")
        done = _run_complete(
            200, '{"hello":"ada"}', **{"content-type": "application/json"}
        )
        ok = await http.post(
            f"/v1/checkpoint/{RUN_ID}/steps",
            json=_steps(data["fn_id"], data["app_id"], [done]),
        )
        assert ok.status_code == 200

        # Visible like any run: REST, the event that started it, GraphQL, UI.
        run = (await http.get(f"/v1/runs/{RUN_ID}")).json()["data"]
        assert (run["status"], run["function_slug"]) == ("Completed", "hello")
        assert run["output"]["body"] == '{"hello":"ada"}'
        event = (await http.get("/v1/events?name=inngest/http.request")).json()["data"][
            0
        ]
        assert event["data"]["path"] == "/api/hello"
        runs = (await http.get(f"/v1/events/{event['internal_id']}/runs")).json()[
            "data"
        ]
        assert [r["run_id"] for r in runs] == [RUN_ID]
        gql = await http.post(
            "/v0/gql",
            json={
                "query": "query($r: String!) { run(runID: $r) { status"
                " trace { childrenSpans { name } } } }",
                "variables": {"r": RUN_ID},
            },
        )
        got = gql.json()["data"]["run"]
        assert got["status"] == "COMPLETED"
        assert [s["name"] for s in got["trace"]["childrenSpans"]] == ["a", "b"]
        ui = (await http.get("/ui/api/runs")).json()["data"]
        assert [r["run_id"] for r in ui] == [RUN_ID]
        assert dev.driver.executor.get_run(RUN_ID).steps == {  # type: ignore[union-attr]
            _hash("a"): {"data": 1},
            _hash("b"): {"data": 2},
        }

        # The output, for a client holding the token: the handler's response.
        out = await http.get(
            f"/v1/http/runs/{RUN_ID}/output", params={"token": data["token"]}
        )
        assert out.status_code == 200
        assert out.headers["content-type"] == "application/json"
        assert out.json() == {"hello": "ada"}


async def test_a_sleep_hands_the_run_to_the_executor() -> None:
    async with endpoint() as stub, serving() as (dev, http):
        started = await http.post(
            "/v1/checkpoint", json=_new_run(stub.url, [_step_run("a", "A")])
        )
        data = started.json()["data"]
        sleep = _op("Sleep", "nap", name="10ms", opts={"duration": "10ms"})
        # The SDK answers the re-entry call with its last op, as it does.
        done = _run_complete(
            201, "made", **{"content-type": "text/plain", "x-made": "1"}
        )
        stub.script(
            Reply(206, json.dumps(done).encode(), {"x-inngest-sdk": "inngest-js:v4"})
        )
        client_response: list[httpx.Response] = []

        async def client_waits() -> None:
            client_response.append(
                await http.get(
                    f"/v1/checkpoint/{RUN_ID}/output", params={"token": data["token"]}
                )
            )

        async with anyio.create_task_group() as tg:
            tg.start_soon(client_waits)
            await anyio.sleep(0.05)
            assert not client_response  # the run is still sleeping
            ok = await http.post(
                f"/v1/checkpoint/{RUN_ID}/steps",
                json=_steps(data["fn_id"], data["app_id"], [sleep]),
            )
            assert ok.status_code == 200
        (out,) = client_response
        assert (out.status_code, out.text, out.headers["x-made"]) == (201, "made", "1")

        # The executor called the endpoint again: the client's request, marked.
        (call,) = stub.received
        assert (call.method, call.path) == ("POST", "/api/hello?name=ada")
        assert call.body == b'{"greeting":"hi"}'
        assert call.headers["x-run-id"] == RUN_ID
        assert call.headers["x-inngest-signature"] == ""  # present: from Inngest
        assert call.headers["content-type"] == "application/json"
        run = dev.driver.executor.get_run(RUN_ID)
        assert run is not None
        assert run.status.value == "Completed"
        assert list(run.steps) == [_hash("a"), _hash("nap")]

        # While it ran, the SDK could read the state it needs.
        # (Finished now: the state is gone, as on the real server.)
        gone = await http.get(f"/v0/runs/{RUN_ID}/actions")
        assert gone.status_code == 410


async def test_a_step_error_retries_through_the_endpoint_and_5xx_fails() -> None:
    async with endpoint() as stub, serving() as (dev, http):
        error = _op("StepError", "flaky", error={"name": "Error", "message": "boom"})
        done = _run_complete(503, '{"message":"down"}')
        stub.script(
            Reply(206, json.dumps([done]).encode(), {"x-inngest-sdk": "inngest-js:v4"})
        )
        new = await http.post("/v1/checkpoint", json=_new_run(stub.url, [error]))
        assert new.status_code == 200
        await dev.driver.wait_until(
            lambda: not dev.driver.executor.get_run(RUN_ID).is_running,  # type: ignore[union-attr]
            5,
        )
        run = (await http.get(f"/v1/runs/{RUN_ID}")).json()["data"]
        assert run["status"] == "Failed"
        (call,) = stub.received
        assert call.headers["x-run-id"] == RUN_ID


async def test_signed_reentry_and_auth() -> None:
    async with endpoint() as stub, serving(signing_key=KEY) as (_, http):
        body = _new_run(stub.url, [_step_run("a", 1)], method="GET", body="")
        assert (await http.post("/v1/checkpoint", json=body)).status_code == 401
        bearer = {"authorization": f"Bearer {hash_signing_key(KEY)}"}
        new = await http.post("/v1/checkpoint", json=body, headers=bearer)
        assert new.status_code == 200
        token = new.json()["data"]["token"]
        plan = _op("DiscoveryRequest", "p", name="", displayName="")
        done = _run_complete(200, "ok")
        stub.script(
            Reply(206, json.dumps([done]).encode(), {"x-inngest-sdk": "inngest-js:v4"})
        )
        steps = _steps("", "", [plan])
        assert (
            await http.post(f"/v1/checkpoint/{RUN_ID}/steps", json=steps)
        ).status_code == 401
        ok = await http.post(
            f"/v1/checkpoint/{RUN_ID}/steps", json=steps, headers=bearer
        )
        assert ok.status_code == 200
        # The output route takes the run's token instead of the key.
        out = await http.get(f"/v1/checkpoint/{RUN_ID}/output", params={"token": token})
        assert (out.status_code, out.text) == (200, "ok")
        (call,) = stub.received
        assert call.method == "GET"
        assert call.headers["x-inngest-signature"].startswith("t=")


async def test_hostile_requests_get_clear_errors() -> None:
    async with serving() as (dev, http):
        good = _new_run("http://127.0.0.1:9", [_step_run("a", 1)])
        cases: list[tuple[Any, int, str]] = [
            (b"{", 400, "not JSON"),
            (b"[]", 400, "expected an object"),
            (b"[" * 100_000 + b"]" * 100_000, 400, "not JSON"),
            ({**good, "run_id": "nope"}, 400, "invalid run ID"),
            ({**good, "run_id": 5}, 400, "invalid run ID"),
            ({**good, "event": []}, 400, "event must be an object"),
            ({**good, "event": {"data": 1}}, 400, "event.data must be an object"),
            (_new_run("file:///etc", []), 400, "domain must be http(s)"),
            (_new_run("http://h/with/path", []), 400, "domain must be http(s)"),
            (_new_run("http://h", [], method=5), 400, "method must be a string"),  # type: ignore[arg-type]
            ({**good, "steps": {}}, 400, "not an array"),
            ({**good, "steps": [{"op": "Nope", "id": "x"}]}, 400, "unknown opcode"),
            ({**good, "steps": [{"op": "StepRun"}]}, 400, "no string id"),
            (
                {**good, "steps": [_step_run("big", "x" * (4 * 1024 * 1024 + 1))]},
                413,
                "more than the",
            ),
        ]
        for body, status, text in cases:
            content = body if isinstance(body, bytes) else json.dumps(body).encode()
            resp = await http.post("/v1/checkpoint", content=content)
            assert resp.status_code == status, (
                resp.text,
                body if isinstance(body, dict) else "",
            )
            assert text in resp.json()["error"]
        assert dev.driver.executor.state.runs == {}

        assert (await http.post("/v1/checkpoint", json=good)).status_code == 200
        again = await http.post("/v1/checkpoint", json=good)
        assert (again.status_code, again.json()["error"]) == (409, "Run already exists")

        steps_cases: list[tuple[str, Any, int, str]] = [
            ("01JGZ8Y4N8W2Y6KQ3A9E5V7T1D", {}, 404, "not found"),
            (RUN_ID, {"run_id": "01JGZ8Y4N8W2Y6KQ3A9E5V7T1D"}, 400, "not the run"),
            (RUN_ID, {"fn_id": 3}, 400, "fn_id must be a string"),
            (RUN_ID, {"fn_id": "someone-else"}, 400, "is not of function"),
            ("x", {}, 400, "invalid run ID"),
        ]
        for run_id, body, status, text in steps_cases:
            resp = await http.post(f"/v1/checkpoint/{run_id}/steps", json=body)
            assert resp.status_code == status, resp.text
            assert text in resp.json()["error"]

        # Bad tokens: none, forged, another run's, expired.
        run = dev.driver.executor.get_run(RUN_ID)
        assert run is not None
        now = time.time()
        for token in [
            "",
            "a.b.c",
            output_token("01JGZ8Y4N8W2Y6KQ3A9E5V7T1D", "env", now),
            output_token(RUN_ID, "env", now - 7200),
        ]:
            out = await http.get(
                f"/v1/checkpoint/{RUN_ID}/output", params={"token": token}
            )
            assert out.status_code == 401

        # A run that does not end in time: the real server's answer.
        dev.api.endpoints.output_wait = 0.05
        token = output_token(RUN_ID, "env", now)
        out = await http.get(f"/v1/checkpoint/{RUN_ID}/output", params={"token": token})
        assert out.json() == {
            "status": "running",
            "message": "run did not end within 5 minutes",
        }

        # Finished runs take no more steps.
        dev.driver.cancel(RUN_ID)
        late = await http.post(f"/v1/checkpoint/{RUN_ID}/steps", json={})
        assert (late.status_code, "already finished" in late.json()["error"]) == (
            400,
            True,
        )
        assert (await http.get("/health")).status_code == 200


async def test_an_endpoint_run_survives_a_restart(tmp_path: Path) -> None:
    """A run handed to the executor keeps what it needs to call the endpoint."""
    db = tmp_path / "dev.db"
    async with endpoint() as stub:
        with SQLiteStore(db) as store:
            async with serving(store=store) as (_, http):
                body = _new_run(stub.url, [_step_run("a", "A")])
                data = (await http.post("/v1/checkpoint", json=body)).json()["data"]
                opts = {"event": "t/go", "timeout": "1h"}
                wait = _op("WaitForEvent", "w", name="t/go", opts=opts)
                steps = _steps(data["fn_id"], data["app_id"], [wait])
                ok = await http.post(f"/v1/checkpoint/{RUN_ID}/steps", json=steps)
                assert ok.status_code == 200
        done = _run_complete(200, "after restart")
        stub.script(
            Reply(206, json.dumps(done).encode(), {"x-inngest-sdk": "inngest-js:v4"})
        )
        with SQLiteStore(db) as store:
            async with serving(store=store) as (dev, http):
                run = dev.driver.executor.get_run(RUN_ID)
                assert run is not None
                assert run.endpoint_attempts == 2
                assert (await http.post("/e/KEY", json={"name": "t/go"})).is_success
                await dev.driver.wait_until(lambda: not run.is_running, 5)
                assert run.output["body"] == "after restart"
        (call,) = stub.received
        assert call.path == "/api/hello?name=ada"


async def test_a_run_that_left_memory_keeps_its_output_and_its_id(
    tmp_path: Path,
) -> None:
    with SQLiteStore(tmp_path / "dev.db") as store:
        async with serving(store=store) as (dev, http):
            body = _new_run("http://127.0.0.1:9", [_step_run("a", 1)])
            data = (await http.post("/v1/checkpoint", json=body)).json()["data"]
            done = _run_complete(200, "bye", **{"content-type": "text/plain"})
            steps = _steps(data["fn_id"], data["app_id"], [done])
            ok = await http.post(f"/v1/checkpoint/{RUN_ID}/steps", json=steps)
            assert ok.status_code == 200
            # Ended and saved: out of memory, served from the store.
            assert dev.driver.executor.get_run(RUN_ID) is None
            out = await http.get(
                f"/v1/http/runs/{RUN_ID}/output", params={"token": data["token"]}
            )
            assert (out.status_code, out.text) == (200, "bye")
            # Its id stays taken: a new run under it would overwrite it.
            again = await http.post("/v1/checkpoint", json=body)
            assert again.status_code == 409, again.text
            run = (await http.get(f"/v1/runs/{RUN_ID}")).json()["data"]
            assert (run["status"], run["output"]["body"]) == ("Completed", "bye")
            assert (await http.get("/health")).status_code == 200
