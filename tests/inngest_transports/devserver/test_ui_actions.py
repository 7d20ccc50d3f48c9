"""The web UI's actions and links through a real dev server: invoke, rerun
(from a step), bulk cancel and rerun, removing an app, re-syncing one,
flow control in words, cron ticks, why a run waited, the favicon."""

from __future__ import annotations

import re
import time
from typing import Any

import anyio
import pytest

import inngest_proto as inngest

from ._harness import APP_ID, Harness, harness, throttled

pytestmark = pytest.mark.anyio


def _functions(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    @client.create_function(fn_id="three", trigger=inngest.TriggerEvent(event="t/go"))
    async def three(ctx: inngest.Context) -> str:
        a = await ctx.step.run("one", lambda: "1")
        b = await ctx.step.run("two", lambda: a + "2")
        tail = str(ctx.event.data.get("tail", "3"))
        return await ctx.step.run("three", lambda: b + tail)

    @client.create_function(fn_id="parent", trigger=inngest.TriggerEvent(event="t/p"))
    async def parent(ctx: inngest.Context) -> Any:
        return await ctx.step.invoke("call", function=three, data={"tail": "!"})

    @client.create_function(fn_id="nap", trigger=inngest.TriggerEvent(event="t/nap"))
    async def nap(ctx: inngest.Context) -> str:
        await ctx.step.sleep("zz", 600_000)
        return "rested"

    @client.create_function(
        fn_id="ticker",
        trigger=inngest.TriggerCron(cron="*/5 * * * *"),
        throttle=inngest.Throttle(limit=2, period=60_000, burst=1, key="event.data.k"),
        concurrency=[inngest.Concurrency(limit=3)],
        retries=1,
    )
    async def ticker(ctx: inngest.Context) -> str:
        return "tick"

    return [three, parent, nap, ticker]


async def _finished(h: Harness, run_id: str) -> dict[str, Any]:
    await h.dev.wait_for_run(run_id, timeout=5)
    body: dict[str, Any] = (await h.get(f"/ui/api/runs/{run_id}"))["data"]
    return body


async def _run_of(h: Harness, event_id: str) -> str:
    """The one run ``event_id`` started, once it exists (finished or not)."""
    await h.dev.driver.wait_until(lambda: bool(h.dev.runs_for_event(event_id)), 5)
    (run,) = h.dev.runs_for_event(event_id)
    return run.run_id


async def test_invoke_a_function_with_a_payload() -> None:
    async with harness(_functions) as h:
        path = f"/ui/api/functions/{APP_ID}-three/invoke"
        resp = await h.http.post(path, json={"data": {"tail": "?"}})
        assert resp.status_code == 200, resp.text
        run = await _finished(h, resp.json()["run_id"])
        assert (run["status"], run["output"]) == ("Completed", "12?")
        assert run["events"][0]["name"] == "inngest/function.invoked"
        assert run["invoked_by"] == {"run_id": None, "step_id": None}
        # The event's own metadata cannot be forged through the payload.
        resp = await h.http.post(
            path, json={"data": {"_inngest": {"fn_id": f"{APP_ID}-nap"}}}
        )
        forged = (await h.get(f"/ui/api/runs/{resp.json()['run_id']}"))["data"]
        assert forged["function_id"] == f"{APP_ID}-three"

        resp = await h.http.post("/ui/api/functions/nope/invoke", json={})
        assert resp.status_code == 404
        for body in (b"[]", b'{"data": [1]}', b"{"):
            resp = await h.http.post(path, content=body)
            assert resp.status_code == 400, body


async def test_rerun_from_a_step_keeps_the_steps_before_it() -> None:
    async with harness(_functions) as h:
        first = await _finished(h, await _run_of(h, await h.send("t/go")))
        steps = {i["name"]: i for i in first["timeline"] if i["kind"] == "run"}
        resp = await h.http.post(
            f"/ui/api/runs/{first['run_id']}/rerun",
            json={"from_step": steps["two"]["id"]},
        )
        assert resp.status_code == 200, resp.text
        new = await _finished(h, resp.json()["run_id"])
        assert (new["status"], new["output"]) == ("Completed", "123")
        assert (new["rerun_of"], new["rerun_from_step"]) == (
            first["run_id"],
            steps["two"]["id"],
        )
        # Only "two" and "three" were called again.
        called = [
            i["name"] for i in new["timeline"] if i["kind"] == "run" and i["attempts"]
        ]
        assert called == ["two", "three"]
        # "one" is listed first, by its name, as reused from the original run.
        (one, *_) = new["timeline"]
        assert (one["name"], one["kind"], one["status"], one["output"]) == (
            "one",
            "run",
            "completed",
            "1",
        )
        assert one["reused_from"] == first["run_id"]
        assert "reused_from" not in new["timeline"][1]
        original = (await h.get(f"/ui/api/runs/{first['run_id']}"))["data"]
        assert original["reruns"] == [new["run_id"]]
        listed = (await h.get("/ui/api/runs"))["data"]
        assert {r["run_id"]: r["rerun_of"] for r in listed}[new["run_id"]] == (
            first["run_id"]
        )

        path = f"/ui/api/runs/{first['run_id']}/rerun"
        resp = await h.http.post(path, json={"from_step": "nope"})
        assert resp.status_code == 409
        assert "not a step the run saved" in resp.json()["error"]
        resp = await h.http.post(path, json={"from_step": 5})
        assert resp.status_code == 400


async def test_an_invoke_links_to_its_child_and_back() -> None:
    async with harness(_functions) as h:
        parent = await _finished(h, await _run_of(h, await h.send("t/p")))
        assert parent["output"] == "12!"
        (call,) = [i for i in parent["timeline"] if i["kind"] == "invoke"]
        child = (await h.get(f"/ui/api/runs/{call['child_run_id']}"))["data"]
        assert child["function_id"] == f"{APP_ID}-three"
        assert child["invoked_by"] == {
            "run_id": parent["run_id"],
            "step_id": call["id"],
        }
        assert parent["invoked_by"] is None


async def test_bulk_cancel_and_rerun_take_run_ids() -> None:
    async with harness(_functions) as h:
        naps = [await _run_of(h, await h.send("t/nap")) for _ in range(2)]
        done = (await _finished(h, await _run_of(h, await h.send("t/go"))))["run_id"]
        resp = await h.http.post(
            "/ui/api/runs/cancel", json={"run_ids": [*naps, done, "nope", naps[0]]}
        )
        assert resp.status_code == 200, resp.text
        assert [(r["run_id"], r["result"]) for r in resp.json()["data"]] == [
            (naps[0], "cancelled"),
            (naps[1], "cancelled"),
            (done, "already ended"),
            ("nope", "not found"),
        ]
        for run_id in naps:
            run = (await h.get(f"/ui/api/runs/{run_id}"))["data"]
            assert run["status"] == "Cancelled"

        resp = await h.http.post("/ui/api/runs/rerun", json={"run_ids": [done, "x"]})
        rerun, missing = resp.json()["data"]
        assert (rerun["result"], missing["result"]) == ("rerun", "not found")
        new = await _finished(h, rerun["new_run_id"])
        assert (new["output"], new["rerun_of"]) == ("123", done)

        for body in (b"{}", b'{"run_ids": "x"}', b'{"run_ids": [1]}', b"x"):
            resp = await h.http.post("/ui/api/runs/cancel", content=body)
            assert resp.status_code == 400, body
        many = {"run_ids": [str(i) for i in range(1001)]}
        assert (await h.http.post("/ui/api/runs/rerun", json=many)).status_code == 400


async def test_a_cancelled_sleep_ends_with_the_run() -> None:
    async with harness(_functions) as h:
        run_id = await _run_of(h, await h.send("t/nap"))

        def sleeping() -> bool:
            run = h.dev.get_run(run_id)
            return run is not None and bool(run.timer_ids)

        await h.dev.driver.wait_until(sleeping, 5)
        await h.http.post(f"/ui/api/runs/{run_id}/cancel")
        run = (await h.get(f"/ui/api/runs/{run_id}"))["data"]
        (nap,) = [i for i in run["timeline"] if i["kind"] == "sleep"]
        assert nap["status"] == "cancelled"
        assert nap["ended_at"] == run["ended_at"]
        assert nap["duration_ms"] is not None


async def test_functions_show_flow_control_in_words_and_next_cron_ticks() -> None:
    async with harness(_functions) as h:
        functions = {f["id"]: f for f in (await h.get("/ui/api/functions"))["data"]}
        ticker = functions[f"{APP_ID}-ticker"]
        flow = {f["setting"]: f["text"] for f in ticker["flow"]}
        assert flow["throttle"] == (
            "starts 2 runs per 1m (plus a burst of 1), per event.data.k;"
            " later runs wait their turn"
        )
        assert flow["concurrency"] == "3 steps at a time"
        assert flow["retries"] == "each step is retried up to 1 time after failing"
        ticks = ticker["next_ticks"]
        assert len(ticks) == 3
        assert time.time() < ticks[0] <= time.time() + 300
        assert all(int(t) % 300 == 0 for t in ticks)
        assert ticks == sorted(ticks)
        assert functions[f"{APP_ID}-nap"]["next_ticks"] == []
        assert functions[f"{APP_ID}-nap"]["flow"] == []


async def test_remove_an_app_and_resync_says_what_happened() -> None:
    async with harness(_functions) as h:
        resp = await h.http.post("/ui/api/apps/resync", json={"url": h.app.url})
        assert resp.json() == {"state": "synced"}
        resp = await h.http.post("/ui/api/apps/remove", json={"url": h.app.url})
        assert (resp.status_code, resp.json()) == (200, {"ok": True})
        assert (await h.get("/ui/api/apps"))["data"] == []
        assert (await h.get("/ui/api/functions"))["data"] == []
        resp = await h.http.post("/ui/api/apps/remove", json={"url": h.app.url})
        assert resp.status_code == 404
        resp = await h.http.post("/ui/api/apps/remove", content=b"[]")
        assert resp.status_code == 400


async def test_an_unreachable_app_says_so() -> None:
    async with harness(_functions) as h:
        h.dev.apps._attempts = 1
        await h.dev.sync_app("http://127.0.0.1:9/api/inngest")
        apps = {a["url"]: a for a in (await h.get("/ui/api/apps"))["data"]}
        down = apps["http://127.0.0.1:9/api/inngest"]
        assert (down["status"], down["name"], down["kind"]) == (
            "unreachable",
            "",
            "http",
        )
        assert down["error"]


async def test_a_throttled_run_says_why_it_waits() -> None:
    async with harness(throttled) as h:
        await _finished(h, await _run_of(h, await h.send("t/slow")))
        run_id = await _run_of(h, await h.send("t/slow"))
        run = (await h.get(f"/ui/api/runs/{run_id}"))["data"]
        (delay,) = run["delays"]
        assert delay["reason"] == "throttle"
        assert 590 < delay["seconds"] <= 600
        assert delay["until"] == pytest.approx(delay["since"] + delay["seconds"])


async def test_favicon() -> None:
    async with harness(_functions) as h:
        for path in ("/favicon.ico", "/ui/favicon.svg"):
            resp = await h.http.get(path)
            assert resp.status_code == 200, path
            assert resp.headers["content-type"] == "image/svg+xml"
            assert resp.content.startswith(b"<svg")
        index = (await h.http.get("/")).text
        assert 'rel="icon" href="/ui/favicon.svg"' in index
        assert (
            'rel="icon" href="/ui/favicon.svg"' in (await h.http.get("/ui/plain")).text
        )


async def test_the_plain_run_page_links_runs_and_says_why_it_waited() -> None:
    async with harness(_functions) as h:
        parent = await _finished(h, await _run_of(h, await h.send("t/p")))
        (call,) = [i for i in parent["timeline"] if i["kind"] == "invoke"]
        child = call["child_run_id"]
        page = (await h.http.get(f"/ui/plain/runs/{parent['run_id']}")).text
        assert f'child run <a href="/ui/plain/runs/{child}">' in page
        page = (await h.http.get(f"/ui/plain/runs/{child}")).text
        assert f'Invoked by <a href="/ui/plain/runs/{parent["run_id"]}">' in page
        resp = await h.http.post(f"/ui/api/runs/{child}/rerun")
        rerun = resp.json()["run_id"]
        page = (await h.http.get(f"/ui/plain/runs/{rerun}")).text
        assert f'Rerun of <a href="/ui/plain/runs/{child}">' in page
        page = (await h.http.get(f"/ui/plain/runs/{child}")).text
        assert f'Rerun as <a href="/ui/plain/runs/{rerun}">' in page


async def test_the_plain_run_page_says_a_run_was_throttled() -> None:
    async with harness(throttled) as h:
        await _finished(h, await _run_of(h, await h.send("t/slow")))
        run_id = await _run_of(h, await h.send("t/slow"))
        page = (await h.http.get(f"/ui/plain/runs/{run_id}")).text
        assert re.search(r"<p>Throttled for (59\d|600)\.\d s</p>", page), page


async def test_a_run_waiting_for_a_concurrency_slot_says_so_until_it_gets_one() -> None:
    release = anyio.Event()

    def single(client: inngest.Inngest) -> list[inngest.Function[Any]]:
        @client.create_function(
            fn_id="single",
            trigger=inngest.TriggerEvent(event="t/single"),
            concurrency=[inngest.Concurrency(limit=1)],
        )
        async def single_fn(ctx: inngest.Context) -> str:
            async def held() -> str:
                await release.wait()  # the test lets it go
                return "done"

            return await ctx.step.run("held", held)

        return [single_fn]

    async with harness(single) as h:
        first = await _run_of(h, await h.send("t/single"))
        second = await _run_of(h, await h.send("t/single"))

        def queued() -> bool:
            run = h.dev.get_run(second)
            return run is not None and bool(run.delays)

        await h.dev.driver.wait_until(queued, 5)
        run = (await h.get(f"/ui/api/runs/{second}"))["data"]
        (delay,) = run["delays"]
        assert (delay["reason"], delay["until"], delay["seconds"]) == (
            "concurrency",
            None,
            None,
        )
        release.set()
        await _finished(h, first)
        done = await _finished(h, second)
        # Its start waited; a later call of it may have waited again.
        waits = done["delays"]
        assert waits
        for wait in waits:
            assert wait["reason"] == "concurrency"
            assert wait["until"] >= wait["since"]
            assert wait["seconds"] >= 0
