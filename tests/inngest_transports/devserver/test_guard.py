"""What the dev server takes from browsers (``_guard``), in every mode."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inngest_transports.devserver._guard import RequestGuard

from ._harness import dev_api

pytestmark = pytest.mark.anyio


# -- Host (DNS rebinding) ------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1:8288",
        "127.0.0.1",
        "127.8.9.10:1",
        "localhost:8288",
        "LOCALHOST.",
        "app.localhost:3000",
        "[::1]:8288",
        "[::ffff:127.0.0.1]:8288",
        "devbox:8288",  # --host
        "inngest",  # --allow-host
        "10.1.2.3:8288",  # the address bound
    ],
)
def test_own_hosts(host: str) -> None:
    guard = RequestGuard("devbox", ["inngest"])
    guard.bound("10.1.2.3")
    assert guard.is_own_host(host)
    assert guard.refusal("GET", {"host": host}) is None


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:8288",
        "localhost.evil.example",
        "127.0.0.1.evil.example",
        "10.1.2.4:8288",
        "[::2]:8288",
        "",
        "127.0.0.1:notaport",
        "user@127.0.0.1",
        "127.0.0.1/path",
    ],
)
def test_foreign_hosts(host: str) -> None:
    guard = RequestGuard("devbox", ["inngest"])
    guard.bound("10.1.2.3")
    assert not guard.is_own_host(host)
    reason = guard.refusal("GET", {"host": host})
    assert reason is not None
    assert "DNS rebinding" in reason


def test_bound_to_every_interface_any_address_is_ours() -> None:
    guard = RequestGuard("0.0.0.0")
    assert guard.is_own_host("192.168.1.20:8288")
    assert guard.is_own_host("[fe80::1]:8288")
    # Addresses cannot be rebound; names can.
    assert not guard.is_own_host("devbox.lan:8288")


@given(st.text())
def test_any_host_header_is_judged_without_crashing(host: str) -> None:
    guard = RequestGuard("127.0.0.1")
    assert isinstance(guard.is_own_host(host), bool)
    guard.refusal("POST", {"host": host, "origin": host, "referer": host})


@pytest.mark.parametrize("signing_key", [None, "signkey-test-" + "ab" * 16])
async def test_a_foreign_host_is_refused_on_every_route(
    signing_key: str | None,
) -> None:
    async with dev_api(signing_key=signing_key) as (dev, http):
        evil = {"host": f"evil.example:{dev.url.rsplit(':', 1)[1]}"}
        for method, path in [
            ("GET", "/health"),
            ("GET", "/v1/events"),
            ("GET", "/ui/api/runs"),
            ("GET", "/"),
            ("POST", "/e/key"),
        ]:
            resp = await http.request(method, path, headers=evil, json={"name": "x"})
            assert resp.status_code == 403, (method, path)
            assert "--allow-host evil.example" in resp.json()["error"]
        assert dev.driver.list_events() == []
        # The realtime WebSocket is not upgraded either.
        upgrade = {
            **evil,
            "connection": "Upgrade",
            "upgrade": "websocket",
            "sec-websocket-version": "13",
            "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        }
        resp = await http.get("/v1/realtime/connect?token=x", headers=upgrade)
        assert resp.status_code == 403
        # Its own names are served.
        port = dev.url.rsplit(":", 1)[1]
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
            resp = await http.get("/health", headers={"host": host})
            assert resp.status_code == 200, host


async def test_allowed_hosts_are_served() -> None:
    async with dev_api(allowed_hosts=["inngest"]) as (_, http):
        resp = await http.get("/health", headers={"host": "inngest:8288"})
        assert resp.status_code == 200
        resp = await http.get("/health", headers={"host": "other:8288"})
        assert resp.status_code == 403


# -- cross-site writes and CORS ------------------------------------------------------

OWN = "127.0.0.1:8288"


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"origin": "http://evil.example:8288"},  # a rebound name, same port
        {"origin": "null"},  # sandboxed frames, file:// pages
        {"origin": ""},
        {"origin": "http://10.0.0.7:8288"},  # another machine's page
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "cross-site", "referer": "https://evil.example/x"},
        {"referer": "https://evil.example/page"},
    ],
)
def test_cross_site_writes_are_refused(headers: dict[str, str]) -> None:
    guard = RequestGuard("127.0.0.1")
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        reason = guard.refusal(method, {"host": OWN, **headers})
        assert reason is not None
        assert "cross-site" in reason
    # Reads are served (and get no CORS header, so the page cannot read them).
    assert guard.refusal("GET", {"host": OWN, **headers}) is None
    assert guard.cors_headers({"host": OWN, **headers}) == {}


@pytest.mark.parametrize(
    "headers",
    [
        {},  # SDKs, curl, scripts
        {"origin": f"http://{OWN}"},  # the server's own page
        {"origin": "http://localhost:3000"},  # a local app's page
        {"origin": "http://[::1]:5173"},
        {"sec-fetch-site": "same-origin"},
        {"sec-fetch-site": "none"},  # typed in the address bar
        {"referer": f"http://{OWN}/ui/plain"},
    ],
)
def test_local_and_non_browser_writes_are_served(headers: dict[str, str]) -> None:
    guard = RequestGuard("127.0.0.1")
    assert guard.refusal("POST", {"host": OWN, **headers}) is None


def test_cors_is_for_local_pages_only() -> None:
    guard = RequestGuard("127.0.0.1")
    local = guard.cors_headers({"host": OWN, "origin": "http://localhost:3000"})
    assert local["access-control-allow-origin"] == "http://localhost:3000"
    assert local["vary"] == "Origin"
    assert guard.cors_headers({"host": OWN}) == {}


@pytest.mark.parametrize("signing_key", [None, "signkey-test-" + "ab" * 16])
async def test_a_web_page_cannot_send_events_or_change_runs(
    signing_key: str | None,
) -> None:
    async with dev_api(signing_key=signing_key) as (dev, http):
        evil = {"origin": "https://evil.example"}
        form = {**evil, "content-type": "application/x-www-form-urlencoded"}
        text = {**evil, "content-type": "text/plain"}
        for method, path, headers, body in [
            ("POST", "/e/key", text, b'{"name": "t/x"}'),
            ("POST", "/ui/plain/events", form, b"name=t%2Fx&data=%7B%7D"),
            ("POST", "/ui/api/events", text, b'{"name": "t/x"}'),
            ("POST", "/ui/api/runs/01J0000000000000000000000A/cancel", text, b""),
            ("POST", "/ui/api/runs/01J0000000000000000000000A/rerun", text, b""),
            ("DELETE", "/v1/runs/01J0000000000000000000000A", evil, b""),
            ("POST", "/v0/apps/sync?url=http://127.0.0.1:9/", evil, b""),
        ]:
            resp = await http.request(method, path, headers=headers, content=body)
            assert resp.status_code == 403, (method, path, resp.text)
        assert dev.driver.list_events() == []
        assert dev.apps.by_url == {}
        # A preflight from that page is not allowed either...
        resp = await http.options("/e/key", headers=evil)
        assert "access-control-allow-origin" not in resp.headers
        # ...nor may it read what GETs answer.
        resp = await http.get("/v1/events", headers=evil)
        assert "access-control-allow-origin" not in resp.headers
        # SDKs (no Origin) and local pages still send events.
        resp = await http.post("/e/key", json={"name": "t/sdk"})
        assert resp.status_code == 200
        local = {"origin": "http://localhost:3000"}
        resp = await http.post("/e/key", json={"name": "t/page"}, headers=local)
        assert resp.status_code == 200
        assert resp.headers["access-control-allow-origin"] == "http://localhost:3000"
        assert len(dev.driver.list_events()) == 2


async def test_a_web_page_cannot_open_a_realtime_stream() -> None:
    async with dev_api() as (dev, http):
        # Without a signing key anyone can mint a token: the Origin decides.
        jwt = dev.api.realtime.mint([{"kind": "run", "channel": "c", "name": "t"}])
        upgrade = {
            "connection": "Upgrade",
            "upgrade": "websocket",
            "sec-websocket-version": "13",
            "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
            "origin": "https://evil.example",
        }
        resp = await http.get(f"/v1/realtime/connect?token={jwt}", headers=upgrade)
        assert resp.status_code == 403
        assert "cross-site" in resp.json()["error"]
