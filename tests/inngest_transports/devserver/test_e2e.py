"""End to end: our SDK's app, served over HTTP, run by the embedded dev server."""

from __future__ import annotations

import datetime
import json
import logging
from pathlib import Path
from typing import Any

import pytest

import inngest_proto as inngest
from inngest_proto.executor import Run, RunStatus
from inngest_transports.devserver import DevServer
from inngest_transports.devserver._sqlite_store import SQLiteStore

from ._harness import APP_ID, Harness, harness

pytestmark = pytest.mark.anyio


def _steps(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    @client.create_function(fn_id="two", trigger=inngest.TriggerEvent(event="t/two"))
    async def two(ctx: inngest.Context) -> dict[str, Any]:
        a = await ctx.step.run("a", lambda: "A")
        b = await ctx.step.run("b", lambda: a + "B")
        return {"a": a, "b": b, "n": ctx.event.data["n"]}

    @client.create_function(fn_id="nap", trigger=inngest.TriggerEvent(event="t/nap"))
    async def nap(ctx: inngest.Context) -> str:
        await ctx.step.sleep("zz", 100)
        return "rested"

    return [two, nap]


async def test_two_steps_and_a_sleep() -> None:
    async with harness(_steps) as h:
        run = await h.finished_run(await h.send("t/two", {"n": 7}))
        assert run["status"] == "Completed"
        assert run["output"] == {"a": "A", "b": "AB", "n": 7}
        assert run["ended_at"] is not None

        run = await h.finished_run(await h.send("t/nap"))
        assert run["status"] == "Completed"
        assert run["output"] == "rested"

        names = [e["name"] for e in (await h.get("/v1/events?limit=50"))["data"]]
        assert names.count("inngest/function.finished") == 2
        assert "t/two" in names
        apps = (await h.get("/v1/apps"))["data"]
        assert apps[0]["name"] == APP_ID
        fns = await h.get(f"/v1/apps/{APP_ID}/functions")
        assert {f["slug"] for f in fns} == {f"{APP_ID}-two", f"{APP_ID}-nap"}


def _waits(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    @client.create_function(fn_id="waiter", trigger=inngest.TriggerEvent(event="t/w"))
    async def waiter(ctx: inngest.Context) -> Any:
        got = await ctx.step.wait_for_event(
            "w",
            event="t/answer",
            if_exp="event.data.key == async.data.key",
            timeout=ctx.event.data["timeout"],
        )
        return None if got is None else got.data["v"]

    return [waiter]


async def test_wait_for_event_matched_and_timed_out() -> None:
    async with harness(_waits) as h:
        event_id = await h.send("t/w", {"key": "k1", "timeout": 10_000})
        await h.dev.driver.wait_until(
            lambda: any(r.waits for r in h.dev.runs_for_event(event_id)), 5
        )
        await h.send("t/answer", {"key": "other", "v": "no"})
        await h.send("t/answer", {"key": "k1", "v": "yes"})
        run = await h.finished_run(event_id)
        assert (run["status"], run["output"]) == ("Completed", "yes")

        # 1 s: the shortest timeout the SDK can express (whole seconds).
        run = await h.finished_run(await h.send("t/w", {"key": "k2", "timeout": 1000}))
        assert (run["status"], run["output"]) == ("Completed", None)


def _flows(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    @client.create_function(fn_id="child", trigger=inngest.TriggerEvent(event="t/c"))
    async def child(ctx: inngest.Context) -> int:
        return int(ctx.event.data["x"]) * 2

    @client.create_function(fn_id="parent", trigger=inngest.TriggerEvent(event="t/p"))
    async def parent(ctx: inngest.Context) -> Any:
        doubled = await ctx.step.invoke("call", function=child, data={"x": 21})
        both = await ctx.group.parallel(
            [
                lambda: ctx.step.run("left", lambda: "L"),
                lambda: ctx.step.run("right", lambda: "R"),
            ]
        )
        sent = await ctx.step.send_event("emit", inngest.Event(name="t/sent"))
        return {"doubled": doubled, "both": list(both), "sent": len(sent)}

    @client.create_function(fn_id="heard", trigger=inngest.TriggerEvent(event="t/sent"))
    async def heard(ctx: inngest.Context) -> str:
        return "heard"

    return [child, parent, heard]


async def test_invoke_parallel_and_send_event() -> None:
    async with harness(_flows) as h:
        run = await h.finished_run(await h.send("t/p"))
        assert run["status"] == "Completed"
        assert run["output"] == {"doubled": 42, "both": ["L", "R"], "sent": 1}
        sent = (await h.get("/v1/events?name=t/sent"))["data"]
        assert len(sent) == 1
        heard = await h.finished_run(sent[0]["internal_id"])
        assert (heard["status"], heard["output"]) == ("Completed", "heard")
        invoked = (await h.get("/v1/events?name=inngest/function.invoked"))["data"]
        assert invoked[0]["data"]["x"] == 21


def _failures(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    @client.create_function(
        fn_id="flaky", trigger=inngest.TriggerEvent(event="t/flaky"), retries=2
    )
    async def flaky(ctx: inngest.Context) -> int:
        if ctx.attempt < 2:
            msg = f"attempt {ctx.attempt}"
            raise RuntimeError(msg)
        return ctx.attempt

    async def cleanup(ctx: inngest.Context) -> str:
        return "cleaned " + str(ctx.event.data["error"]["message"])

    @client.create_function(
        fn_id="doomed",
        trigger=inngest.TriggerEvent(event="t/doomed"),
        on_failure=cleanup,
    )
    async def doomed(ctx: inngest.Context) -> None:
        raise inngest.NonRetriableError("no way")

    return [flaky, doomed]


async def test_retries_non_retriable_and_on_failure() -> None:
    async with harness(_failures) as h:
        run = await h.finished_run(await h.send("t/flaky"))
        assert (run["status"], run["output"]) == ("Completed", 2)

        run = await h.finished_run(await h.send("t/doomed"))
        assert run["status"] == "Failed"
        assert run["output"]["message"] == "no way"
        state = h.dev.driver.executor.state
        failure_id = f"{APP_ID}-doomed-failure"

        def handled() -> bool:
            return any(
                r.function_id == failure_id and not r.is_running
                for r in state.runs.values()
            )

        await h.dev.driver.wait_until(handled, 5)
        (handler,) = [r for r in state.runs.values() if r.function_id == failure_id]
        assert handler.status is RunStatus.COMPLETED
        assert handler.output == "cleaned no way"


def _slow(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    @client.create_function(fn_id="slow", trigger=inngest.TriggerEvent(event="t/slow"))
    async def slow(ctx: inngest.Context) -> str:
        await ctx.step.sleep("long", 60_000)
        return "never"

    return [slow]


async def _sleeping(h: Harness) -> tuple[str, Run]:
    """Send ``t/slow`` and wait until its run sleeps: the event id, the run."""
    event_id = await h.send("t/slow")
    await h.dev.driver.wait_until(
        lambda: any(r.timer_ids for r in h.dev.runs_for_event(event_id)), 5
    )
    (run,) = h.dev.runs_for_event(event_id)
    return event_id, run


async def test_cancel_and_run_data() -> None:
    async with harness(_slow) as h:
        event_id, run = await _sleeping(h)
        batch = await h.get(f"/v0/runs/{run.run_id}/batch")
        assert batch[0]["name"] == "t/slow"
        assert await h.get(f"/v0/runs/{run.run_id}/actions") == {}
        live = (await h.get(f"/v1/runs/{run.run_id}"))["data"]
        assert live["status"] == "Running"
        assert "output" not in live

        resp = await h.http.delete(f"/v1/runs/{run.run_id}")
        assert resp.status_code == 200
        done = await h.finished_run(event_id)
        assert (done["status"], done["output"]) == ("Cancelled", {})
        gone = await h.http.get(f"/v0/runs/{run.run_id}/batch")
        assert gone.status_code == 410
        assert (
            await h.http.delete("/v1/runs/01ARZ3NDEKTSV4RRFFQ69G5FAV")
        ).status_code == 404
        missing = await h.http.get("/v1/runs/01ARZ3NDEKTSV4RRFFQ69G5FAV")
        assert missing.status_code == 500


async def test_async_checkpoints_save_steps_through_the_api() -> None:
    async with harness(_slow) as h:
        _, run = await _sleeping(h)
        url = f"/v1/checkpoint/{run.run_id}/async"
        step = {"id": "cp", "op": "StepRun", "name": "cp", "data": {"n": 1}}
        ok = await h.http.post(url, json={"run_id": run.run_id, "steps": [step]})
        assert (ok.status_code, ok.content) == (200, b"")
        actions = await h.get(f"/v0/runs/{run.run_id}/actions")
        assert actions["cp"] == {"data": {"n": 1}}
        # The private-beta prefix is the same endpoint.
        beta = await h.http.post(f"/v1/http/runs/{run.run_id}/async", json={})
        assert beta.status_code == 200

        async def refused(path: str, body: Any, status: int = 400) -> str:
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            resp = await h.http.post(path, content=raw)
            assert resp.status_code == status, resp.text
            assert resp.json()["error"] == "Failed to checkpoint steps"
            return str(resp.json()["data"])

        sleep = {**step, "op": "Sleep"}
        assert "async steps" in await refused(url, {"steps": [sleep]})
        assert "not JSON" in await refused(url, b"{not json")
        unknown = "/v1/checkpoint/01ARZ3NDEKTSV4RRFFQ69G5FAV/async"
        assert "not found" in await refused(unknown, {"steps": []})
        big = {**step, "data": "x" * (4 * 1024 * 1024)}
        assert "allowed per step" in await refused(url, {"steps": [big]}, 413)
        # A sync (durable endpoint) checkpoint of this run is refused: it is
        # not an endpoint's run (test_durable_endpoints has the rest).
        sync = await h.http.post(f"/v1/checkpoint/{run.run_id}/steps", json={})
        assert sync.status_code == 400
        assert "not a durable endpoint's run" in sync.json()["error"]

        await h.http.delete(f"/v1/runs/{run.run_id}")
        assert "already finished" in await refused(url, {"steps": [step]})


BIG = 5 * 1024 * 1024 // 2


def _big(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    @client.create_function(fn_id="big", trigger=inngest.TriggerEvent(event="t/big"))
    async def big(ctx: inngest.Context) -> list[int]:
        a = await ctx.step.run("a", lambda: "a" * BIG)
        b = await ctx.step.run("b", lambda: "b" * BIG)
        return [len(a), len(b)]

    return [big]


async def test_a_state_over_4_mib_is_fetched_by_the_sdk(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with harness(_big) as h:
        with caplog.at_level(logging.INFO, logger="inngest.devserver"):
            run = await h.finished_run(await h.send("t/big"))
        assert (run["status"], run["output"]) == ("Completed", [BIG, BIG])
        fetched = f"run {run['run_id']}: the SDK fetched its actions (use_api)"
        assert fetched in caplog.messages


def _limited(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    @client.create_function(
        fn_id="limited",
        trigger=inngest.TriggerEvent(event="t/lim"),
        rate_limit=inngest.RateLimit(
            limit=1, period=datetime.timedelta(hours=1), key="event.data.user"
        ),
    )
    async def limited(ctx: inngest.Context) -> Any:
        return ctx.event.data["user"]

    @client.create_function(
        fn_id="tick", trigger=inngest.TriggerCron(cron="TZ=Europe/Paris 0 9 * * *")
    )
    async def tick(ctx: inngest.Context) -> None:
        return None

    return [limited, tick]


async def test_flow_control_keys_are_cel_and_crons_are_listed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with harness(_limited) as h:
        with caplog.at_level(logging.INFO, logger="inngest.devserver"):
            ids = [await h.send("t/lim", {"user": u}) for u in ("ann", "bob", "ann")]
            for event_id in ids[:2]:
                await h.finished_run(event_id)
        assert h.dev.runs_for_event(ids[2]) == []
        skipped = f"no run of {APP_ID}-limited for "
        assert any(
            m.startswith(skipped) and m.endswith(": rate limited")
            for m in caplog.messages
        )
        fns = {f["slug"]: f for f in await h.get(f"/v1/apps/{APP_ID}/functions")}
        assert fns[f"{APP_ID}-limited"]["config"]["rateLimit"] == {
            "key": "event.data.user",
            "limit": 1,
            "period": "1h",
        }
        (next_tick,) = fns[f"{APP_ID}-tick"]["next_cron_ticks"]
        # 09:00 in Paris is 07:00 or 08:00 UTC, depending on the season.
        assert next_tick[11:19] in ("07:00:00", "08:00:00")


def _snowman(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    @client.create_function(
        fn_id="\u2603\ufe0f", trigger=inngest.TriggerEvent(event="t/snow")
    )
    async def snowman(ctx: inngest.Context) -> str:
        return await ctx.step.run("s", lambda: "\u2744")

    return [snowman]


async def test_a_function_id_with_a_non_ascii_character_runs() -> None:
    # Its job id (the x-inngest-job-id header) holds the function id: the
    # header goes out as UTF-8 bytes, and our server takes it.
    async with harness(_snowman) as h:
        run = await h.finished_run(await h.send("t/snow"))
        assert (run["status"], run["output"]) == ("Completed", "\u2744")


def _batched(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    @client.create_function(
        fn_id="batch",
        trigger=inngest.TriggerEvent(event="t/batch"),
        batch_events=inngest.Batch(max_size=2, timeout=60_000),
    )
    async def batch(ctx: inngest.Context) -> list[Any]:
        return [e.data["n"] for e in ctx.events]

    return [batch]


async def test_every_event_of_a_batch_lists_its_run(tmp_path: Path) -> None:
    db = tmp_path / "dev.db"
    with SQLiteStore(db) as store:
        ids, run_id = await _batch_listed_under_each_event(store)
    # After a restart too: the listing is rebuilt from the stored runs.
    with SQLiteStore(db) as store:
        again = DevServer(port=0, poll=False, store=store)
        listed = [again.driver.runs_for_event(i) for i in ids]
        assert [[r.run_id for r in runs] for runs in listed] == [[run_id]] * 2


async def _batch_listed_under_each_event(store: SQLiteStore) -> tuple[list[str], str]:
    async with harness(_batched, store=store) as h:
        ids = await h.client.send(
            [inngest.Event(name="t/batch", data={"n": n}) for n in (1, 2)]
        )
        (run,) = await h.dev.wait_for_runs(ids[0])
        assert run.output == [1, 2]
        for event_id in ids:
            listed = (await h.get(f"/v1/events/{event_id}/runs"))["data"]
            assert [r["run_id"] for r in listed] == [run.run_id]
        events = (await h.get("/ui/api/events"))["data"]
        by_id = {e["internal_id"]: e for e in events}
        for event_id in ids:
            assert [r["run_id"] for r in by_id[event_id]["runs"]] == [run.run_id]
        return ids, run.run_id
