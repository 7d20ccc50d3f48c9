"""Signing-key mode: the dev server acts as Inngest Cloud, and is a boundary."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest

import inngest_proto as inngest
from inngest_proto._signing import hash_signing_key
from inngest_proto.realtime import (
    DEV_JWT_SECRET,
    JWT_ISSUER,
    RealtimeError,
    encode_jwt,
)
from inngest_transports.devserver import DevServer
from inngest_transports.http import HttpTransport
from inngest_transports.realtime import subscribe
from inngest_transports.server import Server

pytestmark = pytest.mark.anyio

KEY = "signkey-prod-" + "5e" * 32
BEARER = {"authorization": f"Bearer {hash_signing_key(KEY)}"}


def _functions(client: inngest.Inngest) -> list[inngest.Function[Any]]:
    @client.create_function(fn_id="hello", trigger=inngest.TriggerEvent(event="t/hi"))
    async def hello(ctx: inngest.Context) -> str:
        greeting = await ctx.step.run("greet", lambda: "hello")
        return f"{greeting} {ctx.event.data['who']}"

    return [hello]


@asynccontextmanager
async def _app(
    dev_url: str, *, production: bool, signing_key: str | None = KEY
) -> AsyncIterator[tuple[inngest.Inngest, Server]]:
    # Unsigned syncs refused: the server's PUT must be signed.
    environ = {"INNGEST_BASE_URL": dev_url, "INNGEST_ENABLE_UNAUTHED_SYNC": "false"}
    if not production:
        environ["INNGEST_DEV"] = "1"
    client = inngest.Inngest(
        app_id="cloudy",
        environ=environ,
        is_production=production,
        signing_key=signing_key,
        event_key="any-key",
        logger=logging.getLogger("tests.devserver"),
    )
    app = Server(client, _functions(client), port=0)
    async with anyio.create_task_group() as tg:
        await tg.start(app.serve)
        try:
            yield client, app
        finally:
            if isinstance(client.transport, HttpTransport):
                await client.transport.aclose()
            await app.shutdown()


@asynccontextmanager
async def _dev(**options: Any) -> AsyncIterator[DevServer]:
    dev = DevServer(port=0, poll=False, retry_scale=0.0001, **options)
    async with anyio.create_task_group() as tg:
        await tg.start(dev.serve)
        try:
            yield dev
        finally:
            await dev.shutdown()


async def test_a_cloud_mode_app_syncs_and_runs() -> None:
    async with (
        _dev(signing_key=KEY) as dev,
        _app(dev.url, production=True) as (client, app),
    ):
        synced = await dev.sync_app(app.url)
        assert (synced["state"], synced["error"]) == ("synced", None), synced
        (event_id,) = await client.send(inngest.Event(name="t/hi", data={"who": "A"}))
        (run,) = await dev.wait_for_runs(event_id, timeout=5)
        assert (run.status.value, run.output) == ("Completed", "hello A")


async def test_a_dev_mode_app_refuses_a_signing_key_server() -> None:
    # The PUT says "cloud": an app in dev mode turns it down, as it would
    # turn down Inngest Cloud.
    async with (
        _dev(signing_key=KEY, sync_attempts=1) as dev,
        _app(dev.url, production=False, signing_key=None) as (_, app),
    ):
        synced = await dev.sync_app(app.url)
        assert synced["state"] == "error"
        assert "from Cloud but expected Dev Server" in synced["error"]


async def test_the_api_says_which_kind_of_server_it_is() -> None:
    async with _dev(signing_key=KEY) as dev, httpx.AsyncClient() as http:
        resp = await http.get(f"{dev.url}/health")
        assert resp.headers["x-inngest-server-kind"] == "cloud"
        # A sync an SDK started for a dev server is not taken here.
        resp = await http.post(
            f"{dev.url}/fn/register",
            content=b"{}",
            headers={**BEARER, "x-inngest-expected-server-kind": "dev"},
        )
        assert resp.status_code == 400
        assert resp.json()["error"] == "Expected server kind cloud, got dev"
    async with _dev() as dev, httpx.AsyncClient() as http:
        resp = await http.get(f"{dev.url}/health")
        assert resp.headers["x-inngest-server-kind"] == "dev"


def _forged_token(*, publish: bool) -> str:
    """A realtime JWT as the server mints them, signed with the public secret
    of the real dev server (what anyone can compute)."""
    now = int(time.time())
    claims = {
        "iss": JWT_ISSUER,
        "exp": now + 60,
        "iat": now,
        "topics": [{"kind": "run", "channel": "secret", "name": "t"}],
        "publish": publish,
    }
    return encode_jwt(claims, DEV_JWT_SECRET)


async def test_realtime_tokens_cannot_be_forged() -> None:
    async with _dev(signing_key=KEY) as dev, httpx.AsyncClient() as http:
        # Publishing with a forged token is refused...
        resp = await http.post(
            f"{dev.url}/v1/realtime/publish",
            params={"channel": "secret", "topic": "t"},
            json={"x": 1},
            headers={"authorization": f"Bearer {_forged_token(publish=True)}"},
        )
        assert resp.status_code == 401
        # ...and so is reading another subscriber's stream.
        with pytest.raises(RealtimeError) as refused:
            async with subscribe(dev.url, _forged_token(publish=False)):
                pass
        assert refused.value.http_status == 401
        # A token the server minted (for the key's holder) is good.
        resp = await http.post(
            f"{dev.url}/v1/realtime/token",
            json=[{"kind": "run", "channel": "secret", "name": "t"}],
            headers=BEARER,
        )
        assert resp.status_code == 201
        async with subscribe(dev.url, resp.json()["jwt"]) as messages:
            resp = await http.post(
                f"{dev.url}/v1/realtime/publish",
                params={"channel": "secret", "topic": "t"},
                json={"x": 2},
                headers=BEARER,
            )
            assert resp.status_code == 200
            with anyio.fail_after(5):
                message = await messages.receive()
            assert message is not None
            assert message.data == {"x": 2}


# -- the web UI --------------------------------------------------------------------


async def test_the_web_ui_needs_the_key() -> None:
    async with _dev(signing_key=KEY) as dev, httpx.AsyncClient() as http:
        # Nothing of the UI without signing in: its API, its pages, its forms.
        resp = await http.get(f"{dev.url}/ui/api/runs")
        assert resp.status_code == 401
        assert resp.json()["login"] == "/ui/login"
        for path in ("/", "/ui/app.js", "/ui/plain"):
            resp = await http.get(f"{dev.url}{path}")
            assert (resp.status_code, resp.headers["location"]) == (303, "/ui/login")
        for path in ("/ui/api/events", "/ui/plain/events"):
            resp = await http.post(f"{dev.url}{path}", json={"name": "t/x"})
            assert resp.status_code in (303, 401)
        assert dev.driver.list_events() == []
        # A made-up session cookie, or a token from somewhere else, opens nothing.
        resp = await http.get(
            f"{dev.url}/ui/api/runs",
            headers={"cookie": "inngest_dev_ui=x; a=" + "0" * 64},
        )
        assert resp.status_code == 401
        resp = await http.get(f"{dev.url}/ui/login", params={"token": "0" * 64})
        assert resp.status_code == 401
        # The form, with a wrong key, then with the key.
        resp = await http.get(f"{dev.url}/ui/login")
        assert resp.status_code == 200
        assert 'name="key"' in resp.text
        resp = await http.post(f"{dev.url}/ui/login", data={"key": "signkey-prod-00"})
        assert resp.status_code == 401
        resp = await http.post(f"{dev.url}/ui/login", data={"key": KEY})
        assert resp.status_code == 303
        cookie = resp.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        session = {"cookie": cookie.split(";", 1)[0]}
        resp = await http.get(f"{dev.url}/ui/api/runs", headers=session)
        assert resp.status_code == 200
        # Scripts may use the bearer instead.
        assert (await http.get(f"{dev.url}/ui/api/runs", headers=BEARER)).is_success


async def test_the_printed_link_signs_in(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="inngest.devserver")
    async with _dev(signing_key=KEY) as dev, httpx.AsyncClient() as http:
        assert "/ui/login?token=" in dev.ui_url
        assert f"web UI (signing-key mode): {dev.ui_url}" in caplog.messages
        assert KEY.rsplit("-", 1)[1] not in dev.ui_url  # not the key itself
        resp = await http.get(dev.ui_url)
        assert (resp.status_code, resp.headers["location"]) == (303, "/")
        session = {"cookie": resp.headers["set-cookie"].split(";", 1)[0]}
        resp = await http.get(f"{dev.url}/ui/api/version", headers=session)
        assert resp.status_code == 200
        # Writes with the cookie alone come from the UI's own page only: a
        # page on another port of this host gets the cookie, not the right.
        own = dev.url.removeprefix("http://")
        resp = await http.post(
            f"{dev.url}/ui/api/events",
            json={"name": "t/ui", "data": {}},
            headers={**session, "origin": dev.url},
        )
        assert resp.status_code == 200, resp.text
        resp = await http.post(
            f"{dev.url}/ui/api/events",
            json={"name": "t/ui", "data": {}},
            headers={**session, "origin": "http://localhost:3000", "host": own},
        )
        assert resp.status_code == 401
        assert len(dev.driver.list_events()) == 1


async def test_without_a_key_the_web_ui_is_open() -> None:
    async with _dev() as dev, httpx.AsyncClient() as http:
        assert dev.ui_url == f"{dev.url}/"
        assert (await http.get(f"{dev.url}/ui/api/runs")).status_code == 200
        resp = await http.get(f"{dev.url}/ui/login")
        assert (resp.status_code, resp.headers["location"]) == (303, "/")
