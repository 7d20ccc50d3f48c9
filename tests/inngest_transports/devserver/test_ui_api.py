"""The web UI's JSON API, static files and no-JS pages, through a real dev server."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import pytest

import inngest_proto as inngest
from inngest_transports.devserver._sqlite_store import SQLiteStore
from inngest_transports.devserver._ui_api import UI_DIR

from ._harness import APP_ID, Harness, harness, throttled

pytestmark = pytest.mark.anyio


def _functions(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    go = inngest.TriggerEvent(event="t/go")

    @client.create_function(fn_id="three", trigger=go, retries=2)
    async def three(ctx: inngest.Context) -> str:
        a = await ctx.step.run("one", lambda: "1")
        b = await ctx.step.run("two", lambda: a + "2")
        return await ctx.step.run("three", lambda: b + "3")

    @client.create_function(fn_id="twin", trigger=go)
    async def twin(ctx: inngest.Context) -> str:
        return "twin"

    failures: dict[str, int] = {}

    def shaky(key: str) -> str:
        failures[key] = failures.get(key, 0) + 1
        if failures[key] <= 2:
            raise ValueError(f"flake {failures[key]}")
        return "steady"

    @client.create_function(
        fn_id="flaky",
        trigger=inngest.TriggerEvent(event="t/flaky"),
        concurrency=[inngest.Concurrency(limit=2)],
    )
    async def flaky(ctx: inngest.Context) -> str:
        return await ctx.step.run("shaky", shaky, ctx.event.id or "")

    @client.create_function(
        fn_id="doomed", trigger=inngest.TriggerEvent(event="t/doom"), retries=0
    )
    async def doomed(ctx: inngest.Context) -> None:
        await ctx.step.run("boom", _boom)

    @client.create_function(fn_id="nap", trigger=inngest.TriggerEvent(event="t/nap"))
    async def nap(ctx: inngest.Context) -> str:
        await ctx.step.sleep("zz", 600_000)
        return "rested"

    @client.create_function(fn_id="wait", trigger=inngest.TriggerEvent(event="t/w"))
    async def wait(ctx: inngest.Context) -> Any:
        got = await ctx.step.wait_for_event("w", event="t/answer", timeout=600_000)
        return None if got is None else got.data

    return [three, twin, flaky, doomed, nap, wait]


def _boom() -> None:
    raise RuntimeError("<b>no</b>")


async def _run(h: Harness, event_id: str, fn: str) -> dict[str, Any]:
    """The run of ``fn`` for ``event_id`` once it has finished, via the UI API."""
    runs = await h.dev.wait_for_runs(event_id, timeout=5)
    (run,) = [r for r in runs if r.function_id == f"{APP_ID}-{fn}"]
    body: dict[str, Any] = (await h.get(f"/ui/api/runs/{run.run_id}"))["data"]
    return body


async def _until(h: Harness, event_id: str, status: str) -> dict[str, Any]:
    """The one run of ``event_id`` once its first timeline item has ``status``."""

    def ready() -> bool:
        runs = h.dev.runs_for_event(event_id)
        return bool(runs) and any(
            item["status"] == status for item in h.dev.driver.timeline(runs[0])
        )

    await h.dev.driver.wait_until(ready, 5)
    (run,) = h.dev.runs_for_event(event_id)
    body: dict[str, Any] = (await h.get(f"/ui/api/runs/{run.run_id}"))["data"]
    return body


async def test_three_steps_timeline_and_run_list() -> None:
    async with harness(_functions) as h:
        version = (await h.get("/ui/api/version"))["version"]
        event_id = await h.send("t/go")
        run = await _run(h, event_id, "three")
        assert (await h.get("/ui/api/version"))["version"] > version
        assert run["status"] == "Completed"
        assert run["output"] == "123"
        assert run["error"] is None
        assert run["function_id"] == f"{APP_ID}-three"
        assert run["function_name"] == "three"
        assert run["ended_at"] >= run["started_at"] > time.time() - 60
        assert [e["name"] for e in run["events"]] == ["t/go"]
        steps = [i for i in run["timeline"] if i["kind"] != "function"]
        assert [(i["name"], i["kind"], i["status"]) for i in steps] == [
            ("one", "run", "completed"),
            ("two", "run", "completed"),
            ("three", "run", "completed"),
        ]
        assert [i["output"] for i in steps] == ["1", "12", "123"]
        for item in steps:
            (attempt,) = item["attempts"]
            assert attempt["attempt"] == 0
            assert attempt["status"] == "completed"
            assert attempt["duration_ms"] >= 0
            assert item["duration_ms"] is not None
            assert item["deadline"] is None
        assert run["timeline"][-1]["kind"] == "function"
        assert run["timeline"][-1]["output"] == "123"

        listed = (await h.get("/ui/api/runs"))["data"]
        twin = (await h.get(f"/ui/api/runs?function={APP_ID}-twin"))["data"]
        assert [r["function_id"] for r in twin] == [f"{APP_ID}-twin"]
        mine = next(r for r in listed if r["run_id"] == run["run_id"])
        assert mine["event_name"] == "t/go"
        assert mine["event_id"] == run["events"][0]["id"]
        assert mine["status"] == "Completed"
        assert (await h.get("/ui/api/runs?status=Running"))["data"] == []
        assert len((await h.get("/ui/api/runs?limit=1"))["data"]) == 1
        resp = await h.http.get("/ui/api/runs?status=Sleeping")
        assert resp.status_code == 400
        assert "status" in resp.json()["error"]
        resp = await h.http.get("/ui/api/runs/01ARZ3NDEKTSV4RRFFQ69G5FAV")
        assert resp.status_code == 404
        assert "error" in resp.json()


async def test_a_step_failing_twice_shows_three_attempts() -> None:
    async with harness(_functions) as h:
        run = await _run(h, await h.send("t/flaky"), "flaky")
        assert (run["status"], run["output"]) == ("Completed", "steady")
        (step, fn) = run["timeline"]
        assert (step["name"], step["status"], step["output"]) == (
            "shaky",
            "completed",
            "steady",
        )
        assert [(a["attempt"], a["status"]) for a in step["attempts"]] == [
            (0, "failed"),
            (1, "failed"),
            (2, "completed"),
        ]
        for n, attempt in enumerate(step["attempts"][:2], start=1):
            assert attempt["error"]["name"] == "ValueError"
            assert attempt["error"]["message"] == f"flake {n}"
            assert "Traceback" in attempt["error"]["stack"]
            assert attempt["output"] is None
        assert step["attempts"][2]["error"] is None
        assert fn["kind"] == "function"

        # A step that fails for good: the run's error, and a failed item.
        run = await _run(h, await h.send("t/doom"), "doomed")
        assert run["status"] == "Failed"
        assert run["output"] is None
        assert run["error"]["name"] == "RuntimeError"
        assert run["error"]["message"] == "<b>no</b>"
        boom = run["timeline"][0]
        assert (boom["name"], boom["status"]) == ("boom", "failed")
        assert boom["error"]["message"] == "<b>no</b>"
        assert [a["status"] for a in boom["attempts"]] == ["failed"]
        failed = (await h.get("/ui/api/runs?status=Failed"))["data"]
        assert [r["run_id"] for r in failed] == [run["run_id"]]


async def test_sleep_deadline_and_cancel() -> None:
    async with harness(_functions) as h:
        before = time.time()
        event_id = await h.send("t/nap")
        run = await _until(h, event_id, "sleeping")
        assert run["status"] == "Running"
        (nap,) = [i for i in run["timeline"] if i["kind"] == "sleep"]
        assert nap["name"] == "zz"
        assert before + 590 < nap["deadline"] < time.time() + 610
        assert nap["ended_at"] is None
        running = (await h.get("/ui/api/runs?status=Running"))["data"]
        assert [r["run_id"] for r in running] == [run["run_id"]]

        path = f"/ui/api/runs/{run['run_id']}/cancel"
        resp = await h.http.post(path)
        assert (resp.status_code, resp.json()) == (200, {"ok": True})
        after = (await h.get(f"/ui/api/runs/{run['run_id']}"))["data"]
        assert after["status"] == "Cancelled"
        assert after["timeline"][0]["status"] == "cancelled"
        # Cancelling again is a no-op; an unknown run is a 404.
        assert (await h.http.post(path)).status_code == 200
        resp = await h.http.post("/ui/api/runs/01ARZ3NDEKTSV4RRFFQ69G5FAV/cancel")
        assert resp.status_code == 404


async def test_wait_deadline_then_matched() -> None:
    async with harness(_functions) as h:
        before = time.time()
        event_id = await h.send("t/w")
        run = await _until(h, event_id, "waiting")
        (wait,) = [i for i in run["timeline"] if i["kind"] == "wait"]
        assert wait["wait"] == {"event": "t/answer", "if": None}
        assert before + 590 < wait["deadline"] < time.time() + 610
        await h.send("t/answer", {"ok": 1})
        run = await _run(h, event_id, "wait")
        assert (run["status"], run["output"]) == ("Completed", {"ok": 1})
        wait = run["timeline"][0]
        assert wait["status"] == "completed"
        assert wait["output"]["name"] == "t/answer"
        assert wait["ended_at"] is not None


@pytest.mark.parametrize("stored", [False, True], ids=["memory", "sqlite"])
async def test_event_page_lists_the_runs_started_and_the_waits_resumed(
    stored: bool,
) -> None:
    with contextlib.ExitStack() as closing:
        store = closing.enter_context(SQLiteStore(":memory:")) if stored else None
        await _event_page_lists({} if store is None else {"store": store})


async def _event_page_lists(options: dict[str, SQLiteStore]) -> None:
    async with harness(_functions, **options) as h:
        started_by = await h.send("t/w")
        waiting = await _until(h, started_by, "waiting")
        answer = await h.send("t/answer", {"ok": 2})
        await _run(h, started_by, "wait")

        page = (await h.get(f"/ui/api/events/{started_by}"))["data"]
        assert page["event"]["name"] == "t/w"
        assert [r["run_id"] for r in page["runs"]] == [waiting["run_id"]]
        assert page["resumed"] == []

        page = (await h.get(f"/ui/api/events/{answer}"))["data"]
        assert page["event"]["data"] == {"ok": 2}
        assert page["runs"] == []
        (resumed,) = page["resumed"]
        assert resumed["run_id"] == waiting["run_id"]
        assert resumed["step_name"] == "w"
        assert resumed["status"] == "Completed"
        html = (await h.http.get(f"/ui/plain/events/{answer}")).text
        assert f"/ui/plain/runs/{waiting['run_id']}" in html

        # The runs list finds the run by its trigger's id.
        runs = (await h.get(f"/ui/api/runs?event_id={started_by}"))["data"]
        assert [r["run_id"] for r in runs] == [waiting["run_id"]]


async def test_rerun_makes_a_new_run_of_only_that_function() -> None:
    async with harness(_functions) as h:
        event_id = await h.send("t/go")
        first = await _run(h, event_id, "three")
        await _run(h, event_id, "twin")
        resp = await h.http.post(f"/ui/api/runs/{first['run_id']}/rerun")
        assert resp.status_code == 200, resp.text
        new_id = resp.json()["run_id"]
        assert new_id != first["run_id"]
        new = await h.dev.wait_for_run(new_id, timeout=5)
        assert (new.status.value, new.output) == ("Completed", "123")
        assert new.events == [first["events"][0]]
        twins = (await h.get(f"/ui/api/runs?function={APP_ID}-twin"))["data"]
        assert len(twins) == 1
        (event,) = [
            e for e in (await h.get("/ui/api/events"))["data"] if e["name"] == "t/go"
        ]
        assert {r["run_id"] for r in event["runs"]} >= {first["run_id"], new_id}
        resp = await h.http.post("/ui/api/runs/01ARZ3NDEKTSV4RRFFQ69G5FAV/rerun")
        assert resp.status_code == 404


async def test_events_send_and_list() -> None:
    async with harness(_functions) as h:
        resp = await h.http.post("/ui/api/events", json={"name": "t/go", "data": {}})
        assert resp.status_code == 200, resp.text
        (internal,) = resp.json()["ids"]
        await h.dev.wait_for_runs(internal, count=2, timeout=5)
        events = (await h.get("/ui/api/events?limit=50"))["data"]
        (sent,) = [e for e in events if e["internal_id"] == internal]
        assert (sent["name"], sent["data"]) == ("t/go", {})
        assert isinstance(sent["ts"], int)
        assert sent["received_at"] > time.time() - 60
        runs = sorted((r["function_id"], r["status"]) for r in sent["runs"])
        assert runs == [
            (f"{APP_ID}-three", "Completed"),
            (f"{APP_ID}-twin", "Completed"),
        ]
        # Inngest's own events are hidden unless asked for: newest first,
        # the function.finished events came after it.
        assert not any(e["internal"] for e in events)
        shown = (await h.get("/ui/api/events?limit=50&internal=1"))["data"]
        assert shown[0]["name"] == "inngest/function.finished"
        assert shown[0]["internal"] is True
        assert len((await h.get("/ui/api/events?limit=1"))["data"]) == 1

        for body in (
            b"not json",
            b"[1]",
            b'{"data": {}}',
            b'{"name": ""}',
            b'{"name": 5}',
            b'{"name": "x", "data": [1]}',
            b'{"name": "inngest/function.finished"}',
        ):
            resp = await h.http.post("/ui/api/events", content=body)
            assert resp.status_code == 400, body
            assert isinstance(resp.json()["error"], str)


async def test_apps_functions_and_resync() -> None:
    async with harness(_functions) as h:
        (app,) = (await h.get("/ui/api/apps"))["data"]
        assert app["name"] == APP_ID
        assert app["url"] == h.app.url
        assert (app["status"], app["error"]) == ("synced", None)
        assert app["functions"] == 6
        assert app["synced_at"] > time.time() - 60
        assert app["sdk"]

        functions = {f["id"]: f for f in (await h.get("/ui/api/functions"))["data"]}
        flaky = functions[f"{APP_ID}-flaky"]
        assert flaky["name"] == "flaky"
        assert flaky["app"] == APP_ID
        assert flaky["triggers"] == [{"event": "t/flaky"}]
        assert flaky["config"]["concurrency"] == [{"limit": 2}]
        assert functions[f"{APP_ID}-three"]["config"]["retries"] == 2

        resp = await h.http.post("/ui/api/apps/resync", json={"url": h.app.url})
        assert (resp.status_code, resp.json()) == (200, {"state": "synced"})
        resp = await h.http.post("/ui/api/apps/resync", json={"url": "http://x/y"})
        assert resp.status_code == 404


async def test_static_files() -> None:
    async with harness(_functions) as h:
        resp = await h.http.get("/ui/nope.js")
        assert resp.status_code == 404
        resp = await h.http.get("/ui/..%2f_api.py")
        assert resp.status_code == 404
        resp = await h.http.get("/ui/api/nothing")
        assert resp.status_code == 404
        if not (UI_DIR / "index.html").is_file():
            pytest.skip("the front end's files are not there yet")
        resp = await h.http.get("/")
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/html")
        assert resp.headers["cache-control"] == "no-cache"
        assert "/ui/plain" in resp.text
        for name, kind in (("app.js", "javascript"), ("app.css", "text/css")):
            resp = await h.http.get(f"/ui/{name}")
            assert resp.status_code == 200
            assert kind in resp.headers["content-type"]


async def test_plain_pages_escape_and_send() -> None:
    async with harness(_functions) as h:
        payload = {"x": "<script>alert(1)</script>"}
        resp = await h.http.post(
            "/ui/api/events", json={"name": "t/go", "data": payload}
        )
        (internal,) = resp.json()["ids"]
        await h.dev.wait_for_runs(internal, count=2, timeout=5)
        page = await h.http.get("/ui/plain")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "<script>" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
        assert 'action="/ui/plain/events"' in page.text

        run = await _run(h, await h.send("t/doom"), "doomed")
        page = await h.http.get(f"/ui/plain/runs/{run['run_id']}")
        assert page.status_code == 200
        assert "Failed" in page.text
        assert "&lt;b&gt;no&lt;/b&gt;" in page.text
        assert "<b>no</b>" not in page.text
        assert "boom" in page.text
        assert (await h.http.get("/ui/plain/runs/nope")).status_code == 404

        form = {"name": "t/plain", "data": '{"k": "v"}'}
        resp = await h.http.post("/ui/plain/events", data=form)
        assert (resp.status_code, resp.headers["location"]) == (303, "/ui/plain")
        events = (await h.get("/ui/api/events"))["data"]
        assert [e["data"] for e in events if e["name"] == "t/plain"] == [{"k": "v"}]
        resp = await h.http.post("/ui/plain/events", data={"name": "x", "data": "{"})
        assert resp.status_code == 400
        assert resp.headers["content-type"].startswith("text/html")


async def test_a_run_not_started_yet_is_queued() -> None:
    async with harness(throttled) as h:
        first = await h.send("t/slow")
        await h.dev.wait_for_runs(first, timeout=5)
        # The throttle starts the second run ten minutes later.
        second = await h.send("t/slow")
        (run,) = h.dev.runs_for_event(second)
        ui = (await h.get(f"/ui/api/runs/{run.run_id}"))["data"]
        assert (ui["status"], ui["output"]) == ("Queued", None)
        queued = (await h.get("/ui/api/runs?status=Queued"))["data"]
        assert [r["run_id"] for r in queued] == [run.run_id]
        # The v1 API has no status before a run ends: Running, as the server's.
        rest = (await h.get(f"/v1/runs/{run.run_id}"))["data"]
        assert rest["status"] == "Running"
        assert "output" not in rest
        query = {"query": "query Q($id: String!) { run(runID: $id) { status } }"}
        resp = await h.http.post(
            "/v0/gql", json={**query, "variables": {"id": run.run_id}}
        )
        assert resp.json()["data"]["run"]["status"] == "QUEUED"
        # A queued run can be cancelled.
        cancel = await h.http.post(f"/ui/api/runs/{run.run_id}/cancel")
        assert cancel.status_code == 200
        after = (await h.get(f"/ui/api/runs/{run.run_id}"))["data"]
        assert after["status"] == "Cancelled"
