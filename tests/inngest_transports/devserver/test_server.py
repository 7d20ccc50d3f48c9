"""The dev server's HTTP front (``_server``): framing it refuses."""

from __future__ import annotations

import anyio
import pytest

from inngest_transports.devserver import DevServer
from tests.inngest_transports._framing import Abuse, abuses, assert_refused, exchange

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("abuse", abuses("/e/key"), ids=lambda abuse: abuse.name)
async def test_framing_abuse_is_refused_and_the_connection_closed(
    abuse: Abuse,
) -> None:
    dev = DevServer(port=0, poll=False)
    async with anyio.create_task_group() as tg:
        url = await tg.start(dev.serve)
        try:
            port = int(url.rsplit(":", 1)[1])
            assert_refused(await exchange(port, abuse.data), abuse.status)
            # Nothing was stored: the smuggled bytes were never a request.
            assert dev.driver.list_events() == []
            reply = await exchange(
                port,
                b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            )
            assert reply.startswith(b"HTTP/1.1 200 ")
        finally:
            await dev.shutdown()
