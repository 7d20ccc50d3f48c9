"""The official SDK's realtime helpers (``inngest==0.5.19``) against our dev server.

``inngest.experimental.realtime`` mints a subscription token and publishes
through our dev server's ``/v1/realtime`` routes; our subscriber, holding
that token, receives exactly what was published to its topic, in order.
The official blocking helpers run in a worker thread (their async twins
are tied to asyncio), so the test runs on asyncio and trio alike.  Skipped
where the official SDK is absent (it lives in the ``official`` tox env).
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import anyio
import anyio.to_thread
import pytest

_PYDANTIC_CONFIG = "Support for class-based `config` is deprecated"
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", _PYDANTIC_CONFIG, DeprecationWarning)
    inngest = pytest.importorskip("inngest")
    official_realtime = pytest.importorskip("inngest.experimental.realtime")

from inngest_transports.devserver import DevServer  # noqa: E402
from inngest_transports.realtime import subscribe  # noqa: E402

from ._compat import close_official_client  # noqa: E402

pytestmark = pytest.mark.anyio


async def _in_thread(fn: Any, *args: Any) -> Any:
    return await anyio.to_thread.run_sync(functools.partial(fn, *args))


@pytest.mark.parametrize("signing_key", [None, "signkey-prod-" + "7e" * 32])
async def test_official_publish_reaches_our_subscriber(
    signing_key: str | None,
) -> None:
    # With a signing key, a production client: tokens and publishing need
    # the key, and tokens are signed with a secret derived from it.
    dev = DevServer(port=0, poll=False, signing_key=signing_key)
    async with anyio.create_task_group() as tg:
        url = await tg.start(dev.serve)
        client = inngest.Inngest(
            app_id="official-realtime",
            is_production=signing_key is not None,
            signing_key=signing_key,
            api_base_url=url,
            event_api_base_url=url,
        )
        try:
            token = await _in_thread(
                official_realtime.get_subscription_token_sync,
                client,
                "user:7",
                ["progress"],
            )
            assert token["channel"] == "user:7"
            assert token["topics"] == ["progress"]
            async with subscribe(url, token) as messages:
                for i in range(3):
                    await _in_thread(
                        official_realtime.publish_sync,
                        client,
                        "user:7",
                        "progress",
                        {"i": i},
                    )
                    # Not covered by the token: must not arrive.
                    await _in_thread(
                        official_realtime.publish_sync,
                        client,
                        "user:7",
                        "other",
                        {"i": -1},
                    )
                await _in_thread(
                    official_realtime.publish_sync, client, "user:7", "progress", {}
                )
                got = []
                with anyio.fail_after(5):
                    for _ in range(4):
                        message = await messages.receive()
                        assert message is not None
                        got.append((message.channel, message.topic, message.data))
            assert got == [
                ("user:7", "progress", {"i": 0}),
                ("user:7", "progress", {"i": 1}),
                ("user:7", "progress", {"i": 2}),
                ("user:7", "progress", {}),
            ]
        finally:
            close_official_client(client)
            await dev.shutdown()
