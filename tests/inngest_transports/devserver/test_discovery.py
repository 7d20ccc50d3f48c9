"""Finding apps on this machine (``inngest dev``'s discovery), and event keys."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx
import pytest

import inngest_proto as inngest
from inngest_transports.devserver import DevServer, _discovery
from inngest_transports.devserver._discovery import Discovery
from inngest_transports.http import HttpTransport
from inngest_transports.server import Server

pytestmark = pytest.mark.anyio


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def _app(dev_url: str = "http://127.0.0.1:9") -> AsyncIterator[int]:
    """An app on the framework-free server, on a free port of 127.0.0.1,
    that registers with the dev server at ``dev_url``."""
    transport = HttpTransport()
    client = inngest.Inngest(
        app_id="found",
        is_production=False,
        api_base_url=dev_url,
        event_api_base_url=dev_url,
        transport=transport,
    )

    @client.create_function(fn_id="hello", trigger=inngest.TriggerEvent(event="x/y"))
    async def hello(ctx: inngest.Context) -> str:
        return "hi"

    server = Server(client, [hello], host="127.0.0.1", port=0)
    async with anyio.create_task_group() as tg:
        _, port = await tg.start(server.serve)
        try:
            yield port
        finally:
            await server.shutdown()
            await transport.aclose()


@pytest.fixture
async def app_port() -> AsyncIterator[int]:
    async with _app() as port:
        yield port


async def test_scan_finds_the_app_and_nothing_else(app_port: int) -> None:
    discovery = Discovery(own_ports=(), ports=[app_port, _closed_port()])
    try:
        assert await discovery.scan() == [f"http://127.0.0.1:{app_port}/api/inngest"]
    finally:
        await discovery.aclose()


async def test_scan_skips_the_servers_own_ports(app_port: int) -> None:
    discovery = Discovery(own_ports=[app_port], ports=[app_port])
    try:
        assert await discovery.scan() == []
    finally:
        await discovery.aclose()


async def test_a_dev_server_with_discovery_syncs_the_app(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Only the test's app: the machine's real 3000s and 8000s are not scanned.
    monkeypatch.setattr(_discovery, "DISCOVERY_PORTS", ())
    for enabled in (False, True):
        dev = DevServer(port=0, poll=False, poll_interval=0.05, discovery=enabled)
        async with anyio.create_task_group() as tg:
            dev_url = await tg.start(dev.serve)
            async with _app(dev_url) as app_port:
                monkeypatch.setenv("PORT", str(app_port))
                url = f"http://127.0.0.1:{app_port}/api/inngest"
                with anyio.move_on_after(1 if enabled else 0.2):
                    while not dev.apps.functions():
                        await anyio.sleep(0.01)
            await dev.shutdown()
        assert (url in dev.apps.by_url) is enabled
        if enabled:
            assert dev.apps.by_url[url].name == "found"
            assert [fn.id for _, fn in dev.apps.functions()] == ["found-hello"]


async def test_event_keys_when_given_are_required() -> None:
    for keys, accepted in (((), True), (("k1", "k2"), False)):
        dev = DevServer(port=0, poll=False, event_keys=keys)
        async with anyio.create_task_group() as tg:
            url = await tg.start(dev.serve)
            async with httpx.AsyncClient(base_url=url) as http:
                wrong = await http.post("/e/other", json={"name": "x/y"})
                right = await http.post("/e/k2", json={"name": "x/y"})
                info = (await http.get("/dev")).json()
            await dev.shutdown()
        assert right.status_code == 200
        assert info["isMissingEventKeys"] is accepted
        if accepted:
            assert wrong.status_code == 200
        else:
            assert wrong.status_code == 401
            assert wrong.json() == {
                "status": 401,
                "message": "",
                "error": "Event key not found",
            }
        assert len(dev.driver.list_events()) == (2 if accepted else 1)
