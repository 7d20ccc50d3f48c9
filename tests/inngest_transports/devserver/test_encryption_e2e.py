"""End to end: the encryption middleware on an app run by the embedded dev server.

What the server stores (the event, every step output, the run's output) must
be ciphertext, while the functions see plain values.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import inngest_proto as inngest
from inngest_proto.encryption import Cipher, EncryptionMiddleware, is_encrypted

from ._harness import harness

pytestmark = pytest.mark.anyio

KEY = "e2e-secret-key"
SSN = "078-05-1120"


def _functions(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    client.add_middleware(EncryptionMiddleware.factory(KEY))

    @client.create_function(fn_id="enc", trigger=inngest.TriggerEvent(event="t/enc"))
    async def enc(ctx: inngest.Context) -> dict[str, Any]:
        ssn = ctx.event.data["encrypted"]["ssn"]
        a = await ctx.step.run("a", lambda: {"ssn": ssn, "n": [1, None, True]})
        b = await ctx.step.run("b", lambda: a["ssn"] + "!")
        await ctx.step.send_event(
            "fwd", inngest.Event(name="t/fwd", data={"encrypted": {"b": b}, "k": 1})
        )
        return {"a": a, "b": b, "plain": ctx.event.data["plain"]}

    @client.create_function(fn_id="sink", trigger=inngest.TriggerEvent(event="t/fwd"))
    def sink(ctx: inngest.ContextSync) -> Any:
        return [ctx.event.data["encrypted"]["b"], ctx.event.data["k"]]

    return [enc, sink]


def _readable(value: Any) -> bool:
    return SSN in json.dumps(value)


async def test_steps_outputs_and_events_are_stored_encrypted() -> None:
    cipher = Cipher(KEY)
    async with harness(_functions) as h:
        event_id = await h.send("t/enc", {"encrypted": {"ssn": SSN}, "plain": "p"})

        # The event reached the server with its one field encrypted.
        stored = (await h.get(f"/v1/events/{event_id}"))["data"]
        assert stored["data"]["plain"] == "p"
        assert is_encrypted(stored["data"]["encrypted"])
        assert not _readable(stored)

        run = await h.finished_run(event_id)
        assert run["status"] == "Completed", run
        # The output is ciphertext to the server, the right value to us.
        assert is_encrypted(run["output"])
        assert not _readable(run)
        a = {"ssn": SSN, "n": [1, None, True]}
        expected = {"a": a, "b": SSN + "!", "plain": "p"}
        assert cipher.decrypt(run["output"]) == expected

        # Every step output the server keeps is ciphertext too.
        state = h.dev.get_run(run["run_id"])
        assert state is not None
        memos = list(state.steps.values())
        assert len(memos) == 3
        assert not _readable(memos)
        assert all(is_encrypted(memo["data"]) for memo in memos)
        outputs = [cipher.decrypt(memo["data"]) for memo in memos]
        assert a in outputs
        assert SSN + "!" in outputs

        # step.send_event encrypted the forwarded event; the sink read it.
        (fwd,) = (await h.get("/v1/events?name=t/fwd"))["data"]
        assert is_encrypted(fwd["data"]["encrypted"])
        assert fwd["data"]["k"] == 1
        sink_run = await h.finished_run(fwd["internal_id"])
        assert sink_run["status"] == "Completed", sink_run
        assert cipher.decrypt(sink_run["output"]) == [SSN + "!", 1]


async def test_a_wrong_key_fails_the_run_with_a_clear_error() -> None:
    def other_key(client: inngest.Inngest) -> list[inngest.Function[Any]]:
        client.add_middleware(EncryptionMiddleware.factory("another-key"))

        @client.create_function(
            fn_id="reader", trigger=inngest.TriggerEvent(event="t/read"), retries=0
        )
        def reader(ctx: inngest.ContextSync) -> Any:
            return ctx.event.data["encrypted"]

        return [reader]

    async with harness(other_key) as h:
        # Sent without the app's middleware, encrypted with a key it lacks.
        encrypted = Cipher(KEY).encrypt("x")
        (event_id,) = await h.client.send(
            inngest.Event(name="t/read", data={"encrypted": encrypted}),
            skip_middleware=True,
        )
        run = await h.finished_run(event_id)
        assert run["status"] == "Failed", run
        assert "could not decrypt" in json.dumps(run["output"])
