"""End to end: ``step.ai.infer`` and ``step.ai.wrap`` run by the embedded dev server.

The model provider is a fake OpenAI-compatible endpoint on 127.0.0.1 (h11
over anyio): the dev server makes the request itself, as Inngest does.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import h11
import pytest

import inngest_proto as inngest
from inngest_proto.experimental.ai import anthropic, openai

from .._raw_peer import read_h11_request, serving
from ._harness import harness

pytestmark = pytest.mark.anyio

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-test",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "4"}}],
}


class FakeProvider:
    """Answers each POST with the next ``(status, body)``; records requests."""

    def __init__(self, replies: list[tuple[int, Any]]) -> None:
        self._replies = replies
        #: ``(method, target, headers, body)``, header names lower-cased.
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        #: The header names of each request as they were on the wire.
        self.raw_names: list[list[str]] = []
        self.url = ""

    async def _handle(self, stream: anyio.abc.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        async with stream:
            request, body = await read_h11_request(stream, conn)
            headers = {k.decode().lower(): v.decode() for k, v in request.headers}
            self.raw_names.append(
                [name.decode() for name, _ in request.headers.raw_items()]
            )
            self.requests.append(
                (request.method.decode(), request.target.decode(), headers, body)
            )
            status, reply = self._replies.pop(0)
            raw = json.dumps(reply).encode()
            head = h11.Response(
                status_code=status,
                headers=[
                    ("content-type", "application/json"),
                    ("content-length", str(len(raw))),
                    ("connection", "close"),
                ],
            )
            for out in (head, h11.Data(data=raw), h11.EndOfMessage()):
                data = conn.send(out)
                if data:
                    await stream.send(data)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[FakeProvider]:
        async with serving(self._handle) as port:
            self.url = f"http://127.0.0.1:{port}/v1"
            yield self


MESSAGES = [{"role": "user", "content": "2+2?"}]


def _asking(
    provider: FakeProvider, **options: Any
) -> Callable[[inngest.Inngest], list[Any]]:
    def functions(client: inngest.Inngest) -> list[inngest.Function[Any]]:
        adapter = openai.Adapter(
            auth_key="sk-fake", model="gpt-test", base_url=provider.url
        )

        @client.create_function(
            fn_id="ask", trigger=inngest.TriggerEvent(event="ai/ask"), **options
        )
        async def ask(ctx: inngest.Context) -> Any:
            try:
                answer = await ctx.step.ai.infer(
                    "infer", adapter=adapter, body={"messages": MESSAGES}
                )
            except inngest.StepError as err:
                return {"caught": err.name, "message": err.message}
            # The memo is used on replay: the step after it sees the answer.
            said = await ctx.step.run(
                "read", lambda: answer["choices"][0]["message"]["content"]
            )
            return {"answer": answer, "said": said}

        return [ask]

    return functions


async def test_infer_is_requested_by_the_dev_server_and_memoized() -> None:
    async with (
        FakeProvider([(200, COMPLETION)]).running() as provider,
        harness(_asking(provider)) as h,
    ):
        run = await h.finished_run(await h.send("ai/ask"))
        assert run["status"] == "Completed", run
        assert run["output"] == {"answer": COMPLETION, "said": "4"}
    ((method, target, headers, body),) = provider.requests
    assert (method, target) == ("POST", "/v1/chat/completions")
    assert headers["authorization"] == "Bearer sk-fake"
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"messages": MESSAGES, "model": "gpt-test"}


async def test_a_failing_provider_is_retried() -> None:
    replies = [(500, {"error": {"message": "overloaded"}}), (200, COMPLETION)]
    async with (
        FakeProvider(replies).running() as provider,
        harness(_asking(provider)) as h,
    ):
        run = await h.finished_run(await h.send("ai/ask"))
        assert run["status"] == "Completed", run
        assert run["output"]["said"] == "4"
    assert len(provider.requests) == 2


async def test_after_the_last_attempt_the_error_is_raised_in_the_function() -> None:
    replies = [(500, {"error": {"message": "overloaded"}})] * 2
    async with (
        FakeProvider(replies).running() as provider,
        harness(_asking(provider, retries=1)) as h,
    ):
        run = await h.finished_run(await h.send("ai/ask"))
        assert run["status"] == "Completed", run
        assert run["output"] == {
            "caught": "AIGatewayError",
            "message": "Error making AI request: unsuccessful status code: 500",
        }
    assert len(provider.requests) == 2


async def test_a_sync_function_asks_anthropic_with_its_key_and_headers() -> None:
    message = {"id": "msg_1", "type": "message", "content": [{"text": "Hi"}]}
    async with FakeProvider([(200, message)]).running() as provider:
        adapter = anthropic.Adapter(
            auth_key="sk-ant-fake",
            model="claude-test",
            base_url=provider.url,
            headers={"x-my-header": "my-value", "x-user": "Zo\u00eb \u2603"},
        )

        def functions(client: inngest.Inngest) -> list[inngest.Function[Any]]:
            @client.create_function(
                fn_id="hi", trigger=inngest.TriggerEvent(event="ai/hi"), retries=0
            )
            def hi(ctx: inngest.ContextSync) -> Any:
                body = {"messages": [{"role": "user", "content": "Say hi"}]}
                return ctx.step.ai.infer("hi", adapter=adapter, body=body)

            return [hi]

        async with harness(functions) as h:
            run = await h.finished_run(await h.send("ai/hi"))
            assert run["status"] == "Completed", run
            assert run["output"] == message
    ((method, target, headers, body),) = provider.requests
    assert (method, target) == ("POST", "/v1/messages")
    assert headers["x-api-key"] == "sk-ant-fake"
    assert headers["x-my-header"] == "my-value"
    assert headers["x-user"] == "Zo\u00eb \u2603"  # sent as UTF-8
    assert "authorization" not in headers
    # Spelled as Go's HTTP library writes them, as the real server's are.
    (names,) = provider.raw_names
    assert {"Content-Type", "X-Api-Key", "X-My-Header"} <= set(names)
    assert json.loads(body)["model"] == "claude-test"


def _wrapping(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    calls: list[dict[str, Any]] = []

    class Completion:
        def __init__(self, content: str) -> None:
            self.content = content

        def model_dump(self, *, mode: str) -> dict[str, Any]:
            return {"content": self.content, "mode": mode}

    async def create(**kwargs: Any) -> Completion:
        calls.append(kwargs)
        return Completion(kwargs["messages"][-1]["content"].upper())

    @client.create_function(fn_id="wrap", trigger=inngest.TriggerEvent(event="ai/wrap"))
    async def wrap(ctx: inngest.Context) -> Any:
        out = await ctx.step.ai.wrap("ask", create, model="m", messages=MESSAGES)
        await ctx.step.sleep("then", 1)
        return {"out": out, "calls": len(calls)}

    return [wrap]


async def test_wrap_memoizes_the_dumped_output_across_calls() -> None:
    async with harness(_wrapping) as h:
        run = await h.finished_run(await h.send("ai/wrap"))
        assert run["status"] == "Completed", run
        # Called once, though the function was called three times.
        assert run["output"] == {"out": {"content": "2+2?", "mode": "json"}, "calls": 1}
