"""A run's timeline survives a SIGKILL of ``inngest-dev``: the names, kinds,
attempts, times, outputs and errors of its steps are stored with the run
and read back identical by the restarted process on the same SQLite file."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any

import anyio
import anyio.abc
import httpx
import pytest

import inngest_proto as inngest
from inngest_transports.http import HttpTransport
from inngest_transports.server import Server

from ._process import DevProcess, free_port

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        sys.platform == "win32", reason="relies on SIGKILL and POSIX process handling"
    ),
]

_APP_ID = "restart"
_DEADLINE = 20.0


def _functions(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    @client.create_function(fn_id="double", trigger=inngest.TriggerEvent(event="t/d"))
    async def double(ctx: inngest.Context) -> int:
        return int(ctx.event.data["x"]) * 2

    def flaky(attempt: int) -> str:
        if attempt == 0:
            msg = "not yet"
            raise ValueError(msg)
        return f"steady on attempt {attempt}"

    @client.create_function(
        fn_id="everything", trigger=inngest.TriggerEvent(event="t/all"), retries=2
    )
    async def everything(ctx: inngest.Context) -> Any:
        user = await ctx.step.run("load-user", lambda: {"id": 7, "name": "Ada"})
        steady = await ctx.step.run("flaky", flaky, ctx.attempt)
        await ctx.step.sleep("nap", 100)
        answer = await ctx.step.wait_for_event(
            "answer", event="t/answer", timeout=600_000
        )
        # 1 s: the shortest timeout the SDK can express (whole seconds).
        missed = await ctx.step.wait_for_event("missed", event="t/never", timeout=1000)
        doubled = await ctx.step.invoke("double", function=double, data={"x": 21})
        both = await ctx.group.parallel(
            [
                lambda: ctx.step.run("left", lambda: "L"),
                lambda: ctx.step.run("right", lambda: "R"),
            ]
        )
        sent = await ctx.step.send_event("announce", inngest.Event(name="t/heard"))
        return {
            "user": user,
            "steady": steady,
            "answer": None if answer is None else answer.data,
            "missed": missed,
            "doubled": doubled,
            "both": list(both),
            "sent": len(sent),
        }

    @client.create_function(fn_id="paused", trigger=inngest.TriggerEvent(event="t/p"))
    async def paused(ctx: inngest.Context) -> Any:
        first = await ctx.step.run("load-user", lambda: "Ada")
        await ctx.step.sleep("nap", 100)
        resumed = await ctx.step.wait_for_event(
            "resume", event="t/resume", timeout=600_000
        )
        return [first, None if resumed is None else resumed.data]

    return [double, everything, paused]


class _Dev:
    """``inngest-dev`` in a process of its own, and its HTTP API."""

    def __init__(self, tmp_path: Path, log: IO[bytes], http: httpx.AsyncClient):
        self.db = tmp_path / "dev.db"
        self.port = int(str(http.base_url.port))
        self.gateway_port = free_port()
        self.log = log
        self.http = http
        self.process: DevProcess | None = None

    def start(self, *args: str) -> None:
        gateway = ("--connect-gateway-port", str(self.gateway_port))
        retries = ("--retry-scale", "0.0001")
        self.process = DevProcess(
            self.db, self.port, self.log, *gateway, *retries, *args
        )

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    async def until(self, check: Callable[[], Awaitable[bool]], what: str) -> None:
        with anyio.fail_after(_DEADLINE):
            while True:
                try:
                    if await check():
                        return
                except httpx.TransportError:
                    pass  # not listening yet
                await anyio.sleep(0.02)

    async def healthy(self) -> bool:
        return (await self.http.get("/health")).status_code == 200

    async def send(self, name: str, data: dict[str, Any] | None = None) -> str:
        resp = await self.http.post("/e/key", json={"name": name, "data": data or {}})
        assert resp.status_code == 200, resp.text
        event_id: str = resp.json()["ids"][0]
        return event_id

    async def run(self, event_id: str) -> dict[str, Any] | None:
        """The UI API's detail of the one run of ``event_id``, if any."""
        runs = (await self.http.get(f"/v1/events/{event_id}/runs")).json()["data"]
        if len(runs) != 1:
            return None
        resp = await self.http.get(f"/ui/api/runs/{runs[0]['run_id']}")
        assert resp.status_code == 200, resp.text
        detail: dict[str, Any] = resp.json()["data"]
        return detail

    async def run_when(
        self, event_id: str, ready: Callable[[dict[str, Any]], bool], what: str
    ) -> dict[str, Any]:
        found: dict[str, Any] = {}

        async def check() -> bool:
            run = await self.run(event_id)
            if run is not None and ready(run):
                found.update(run)
                return True
            return False

        await self.until(check, what)
        return found


def _item(run: dict[str, Any], name: str) -> dict[str, Any]:
    items: list[dict[str, Any]] = run["timeline"]
    (item,) = [i for i in items if i["name"] == name]
    return item


def _status_of(name: str, status: str) -> Callable[[dict[str, Any]], bool]:
    return lambda run: any(
        i["name"] == name and i["status"] == status for i in run["timeline"]
    )


@asynccontextmanager
async def _app(dev_url: str) -> AsyncIterator[Server]:
    client = inngest.Inngest(
        app_id=_APP_ID,
        environ={"INNGEST_DEV": "1", "INNGEST_BASE_URL": dev_url},
        logger=logging.getLogger("tests.devserver"),
    )
    app = Server(client, _functions(client), port=0)
    async with anyio.create_task_group() as tg:
        await tg.start(app.serve)
        try:
            yield app
        finally:
            if isinstance(client.transport, HttpTransport):
                await client.transport.aclose()
            await app.shutdown()


async def test_every_kind_of_step_has_the_same_timeline_after_a_sigkill(
    tmp_path: Path,
) -> None:
    port = free_port()
    dev_url = f"http://127.0.0.1:{port}"
    with (tmp_path / "dev.log").open("wb") as log:
        async with (
            httpx.AsyncClient(base_url=dev_url, timeout=10) as http,
            _app(dev_url) as app,
        ):
            dev = _Dev(tmp_path, log, http)
            try:
                dev.start("-u", app.url)
                await dev.until(dev.healthy, "the dev server")

                async def synced() -> bool:
                    apps = (await http.get("/v1/apps")).json()["data"]
                    return [a["state"] for a in apps] == ["synced"]

                await dev.until(synced, "the sync")
                everything = await dev.send("t/all")
                await dev.run_when(everything, _status_of("answer", "waiting"), "wait")
                await dev.send("t/answer", {"v": "yes"})
                done = await dev.run_when(
                    everything, lambda r: r["status"] == "Completed", "the run"
                )
                paused = await dev.send("t/p")
                waiting = await dev.run_when(
                    paused, _status_of("resume", "waiting"), "the paused run"
                )
                _check_everything(done)

                dev.kill()
                dev.start()
                await dev.until(dev.healthy, "the restart")
                after = await dev.run(everything)
                assert after is not None
                assert after["timeline"] == done["timeline"]
                after_waiting = await dev.run(paused)
                assert after_waiting is not None
                assert after_waiting["timeline"] == waiting["timeline"]

                # The paused run goes on; what it did before the kill stays.
                await dev.send("t/resume", {"v": 1})
                resumed = await dev.run_when(
                    paused, lambda r: r["status"] == "Completed", "the resumed run"
                )
                before = {i["id"]: i for i in waiting["timeline"]}
                for step in ("load-user", "nap"):
                    assert _item(resumed, step) == before[_item(resumed, step)["id"]]
                names = [i["name"] for i in resumed["timeline"]]
                assert names == ["load-user", "nap", "resume", "function"]
            finally:
                dev.stop()
    assert b"Traceback" not in (tmp_path / "dev.log").read_bytes()


def _check_everything(run: dict[str, Any]) -> None:
    """What the timeline recorded before the kill: the test's premise."""
    items = [(i["name"], i["kind"], i["status"]) for i in run["timeline"]]
    assert items == [
        ("load-user", "run", "completed"),
        ("flaky", "run", "completed"),
        ("nap", "sleep", "completed"),
        ("answer", "wait", "completed"),
        ("missed", "wait", "completed"),
        ("double", "invoke", "completed"),
        ("left", "run", "completed"),
        ("right", "run", "completed"),
        # Our SDK sends events in a plain step.run.
        ("announce", "run", "completed"),
        ("function", "function", "completed"),
    ], items
    flaky = _item(run, "flaky")
    assert [a["status"] for a in flaky["attempts"]] == ["failed", "completed"]
    assert flaky["attempts"][0]["error"]["message"] == "not yet"
    assert _item(run, "answer")["output"]["data"] == {"v": "yes"}
    assert _item(run, "missed")["output"] is None
    assert _item(run, "double")["output"] == 42
    for item in run["timeline"]:
        assert item["started_at"] is not None, item
        assert item["ended_at"] is not None, item
