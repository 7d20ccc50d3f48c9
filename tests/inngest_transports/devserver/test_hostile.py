"""Hostile events and outputs against a dev server with a store: each is
stored or refused with a clear 4xx, and the server keeps serving."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest

from inngest_transports.devserver import DevServer
from inngest_transports.devserver._store import SQLiteStore

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def serving() -> AsyncIterator[tuple[DevServer, httpx.AsyncClient]]:
    with SQLiteStore(":memory:") as store:
        dev = DevServer(port=0, poll=False, store=store)
        async with anyio.create_task_group() as tg:
            url = await tg.start(dev.serve)
            async with httpx.AsyncClient(base_url=url, timeout=10) as http:
                yield dev, http
            await dev.shutdown()


async def _alive(http: httpx.AsyncClient) -> None:
    resp = await http.post("/e/key", json={"name": "t/after"})
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize(
    ("event", "where"),
    [
        ({"name": "t/\ud800"}, "event name"),
        ({"name": "t/ok", "id": "\udc00x"}, "event id"),
        ({"name": "t/ok", "data": {"k": ["\udbff"]}}, "the event"),
        ({"name": "t/ok", "user": {"\ud800": 1}}, "the event"),
    ],
)
async def test_a_lone_surrogate_is_refused_with_the_reason(
    event: dict[str, Any], where: str
) -> None:
    # json.dumps escapes the surrogate as JSON allows: \\ud800.
    body = json.dumps([{"name": "t/first"}, event]).encode()
    async with serving() as (_, http):
        resp = await http.post("/e/key", content=body)
        assert resp.status_code == 400, resp.text
        error = resp.json()["error"]
        assert error.startswith(f"{where} holds a lone surrogate (U+D")
        assert "surrogate" in error
        assert resp.json()["ids"][1] == ""
        await _alive(http)
