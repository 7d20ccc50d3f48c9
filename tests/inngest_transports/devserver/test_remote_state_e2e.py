"""End to end: a 1 MiB step output kept in a store, only its reference in the run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

import inngest_proto as inngest
from inngest_proto.functions import hash_step_id
from inngest_proto.remote_state import RemoteStateMiddleware, StateDriver, is_reference
from inngest_transports.remote_state import InMemoryDriver, S3Driver

from ._harness import harness

pytestmark = pytest.mark.anyio

BIG = "x" * (1 << 20)
BUCKET = "e2e-payloads"


@pytest.fixture(scope="module")
def s3_client() -> Iterator[Any]:
    server_mod = pytest.importorskip(
        "moto.server",
        reason="moto[server] is not installed: pip install 'moto[server]'",
    )
    boto3 = pytest.importorskip("boto3")
    server = server_mod.ThreadedMotoServer("127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        client = boto3.client(
            "s3",
            endpoint_url=f"http://{host}:{port}",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        client.create_bucket(Bucket=BUCKET)
        yield client
    finally:
        server.stop()


@pytest.fixture(params=["memory", "s3"])
def driver(request: pytest.FixtureRequest) -> StateDriver:
    if request.param == "memory":
        return InMemoryDriver()
    return S3Driver(bucket=BUCKET, client=request.getfixturevalue("s3_client"))


def _functions(driver: StateDriver) -> Any:
    def build(client: inngest.Inngest) -> list[inngest.Function[Any]]:
        @client.create_function(
            fn_id="big",
            trigger=inngest.TriggerEvent(event="t/big"),
            middleware=[RemoteStateMiddleware.factory(driver)],
        )
        async def big(ctx: inngest.Context) -> dict[str, Any]:
            payload = await ctx.step.run("big", lambda: BIG)
            small = await ctx.step.run("small", lambda: {"n": 1})
            # Runs on the last replay: both values come from memos.
            return {"len": len(payload), "same": payload == BIG, "small": small}

        @client.create_function(
            fn_id="sync-big",
            trigger=inngest.TriggerEvent(event="t/sync"),
            middleware=[RemoteStateMiddleware.factory(driver)],
        )
        def sync_big(ctx: inngest.ContextSync) -> int:
            payload = ctx.step.run("big", lambda: BIG)
            ctx.step.run("after", lambda: None)
            return len(payload)

        @client.create_function(
            fn_id="plain", trigger=inngest.TriggerEvent(event="t/p")
        )
        def plain(ctx: inngest.ContextSync) -> int:
            return len(ctx.step.run("big", lambda: BIG))

        return [big, sync_big, plain]

    return build


async def test_big_output_is_stored_as_a_reference(driver: StateDriver) -> None:
    async with harness(_functions(driver)) as h:
        event_id = await h.send("t/big")
        run = await h.finished_run(event_id)
        assert run["status"] == "Completed", run
        assert run["output"] == {"len": 1 << 20, "same": True, "small": {"n": 1}}

        (stored,) = h.dev.runs_for_event(event_id)
        big_memo = stored.steps[hash_step_id("big")]
        assert is_reference(big_memo["data"]), big_memo
        assert len(json.dumps(big_memo)) < 300
        assert stored.steps[hash_step_id("small")] == {"data": {"n": 1}}

        # A sync function: same store, replayed on the app server's thread.
        event_id = await h.send("t/sync")
        run = await h.finished_run(event_id)
        assert (run["status"], run["output"]) == ("Completed", 1 << 20)
        (stored,) = h.dev.runs_for_event(event_id)
        assert is_reference(stored.steps[hash_step_id("big")]["data"])


async def test_function_without_the_middleware_keeps_its_output_inline() -> None:
    driver = InMemoryDriver()
    async with harness(_functions(driver)) as h:
        event_id = await h.send("t/p")
        run = await h.finished_run(event_id)
        assert (run["status"], run["output"]) == ("Completed", 1 << 20)
        (stored,) = h.dev.runs_for_event(event_id)
        assert stored.steps[hash_step_id("big")] == {"data": BIG}
        assert len(driver) == 0
