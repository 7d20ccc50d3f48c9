"""The dev server's API on bad input, auth, apps that are down, and the CLI."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import anyio
import pytest

import inngest_proto as inngest
from inngest_proto._signing import hash_signing_key
from inngest_transports.devserver._cli import build_parser
from inngest_transports.devserver._sqlite_store import SQLiteStore, StoreError
from inngest_transports.http import HttpTransport
from inngest_transports.server import Server
from tests.fakes import synced_function

from ._harness import dev_api

pytestmark = pytest.mark.anyio

KEY = "signkey-test-" + "ab" * 16


async def test_events_are_validated() -> None:
    async with dev_api() as (_, http):
        assert (await http.get("/health")).json() == {"status": 200, "message": "OK"}
        ok = await http.post(
            "/e/KEY", json=[{"name": "a/b"}, {"name": "a/c", "id": "x"}]
        )
        assert ok.status_code == 200
        ids = ok.json()["ids"]
        assert len(ids) == 2
        assert all(len(i) == 26 for i in ids)
        stored = (await http.get(f"/v1/events/{ids[1]}")).json()["data"]
        assert (stored["id"], stored["name"], stored["user"]) == ("x", "a/c", {})
        first = (await http.get(f"/v1/events/{ids[0]}")).json()["data"]
        assert first["id"] == ids[0]  # defaulted to the internal id

        for bad, text in [
            ({"name": "inngest/function.failed"}, "reserved"),
            ({"name": "a/b", "data": [1]}, "data must be a JSON object"),
            ({"name": ""}, "event name is empty"),
            ({"name": "a/b", "ts": 5}, "between 1980 and 2100"),
        ]:
            resp = await http.post("/e/KEY", json=[{"name": "ok/first"}, bad])
            assert resp.status_code == 400
            body = resp.json()
            assert text in body["error"]
            assert body["ids"][1] == ""
            assert len(body["ids"][0]) == 26
        resp = await http.post("/e/KEY", content=b"not json")
        assert resp.status_code == 400
        assert "event object" in resp.json()["error"]
        assert (await http.post("/e/KEY", content=b"")).json()["ids"] == []
        # The server keeps serving.
        assert (await http.get("/v1/events?name=ok/first")).status_code == 200
        assert (await http.get("/v1/events/not-a-ulid")).status_code == 400
        assert (await http.get("/nowhere")).status_code == 404


async def test_a_store_failure_and_a_bug_are_told_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/e answers 500 both ways, but says the events went unstored only when
    the database failed."""
    with SQLiteStore(tmp_path / "dev.db") as store:
        await _tell_failures_apart(store, monkeypatch)


async def _tell_failures_apart(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with dev_api(store=store) as (dev, http):

        def full(*args: Any, **kwargs: Any) -> None:
            raise StoreError("dev.db: database or disk is full")

        with monkeypatch.context() as patch:
            patch.setattr(dev.driver._store, "append_events", full)
            resp = await http.post("/e/KEY", json={"name": "a/b"})
        assert resp.status_code == 500
        assert resp.json()["error"] == "Could not store the events"

        def bug(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError("a bug in routing")

        with monkeypatch.context() as patch:
            patch.setattr(dev.driver.executor, "receive_event", bug)
            resp = await http.post("/e/KEY", json={"name": "a/c"})
        assert resp.status_code == 500
        assert resp.json()["error"] == "Internal server error"


async def test_seeded_ids_are_reproducible() -> None:
    seed = "1700000000000,AAAAAAAAAAAAAA=="
    async with dev_api() as (_, http):
        headers = {"x-inngest-event-id-seed": seed}
        first = await http.post(
            "/e/K", json=[{"name": "a"}, {"name": "b"}], headers=headers
        )
        again = await http.post(
            "/e/K", json=[{"name": "a"}, {"name": "b"}], headers=headers
        )
        assert first.json()["ids"] == again.json()["ids"]
        assert len(set(first.json()["ids"])) == 2


async def test_register_validation() -> None:
    async with dev_api() as (dev, http):
        body = {
            "appname": "app",
            "url": "http://127.0.0.1:9/api/inngest",
            "functions": [synced_function()],
        }
        ok = await http.post("/fn/register", json=body)
        assert ok.status_code == 200, ok.text
        reply = ok.json()
        assert reply["ok"] is True
        assert reply["modified"] is True
        again = (await http.post("/fn/register", json=body)).json()
        assert again["modified"] is False
        assert again["app_id"] == reply["app_id"]
        assert list(dev.driver.executor.functions) == ["app-fn"]

        cases: list[tuple[bytes, dict[str, str], str]] = [
            (b"{", {}, "Invalid request"),
            (json.dumps({"functions": []}).encode(), {}, "App ID required"),
            (
                json.dumps({"appName": "app", "functions": [{"id": "x"}]}).encode(),
                {},
                "At least one function is invalid",
            ),
            (
                json.dumps(
                    {"appName": "app", "functions": [synced_function("ftp://h/x")]}
                ).encode(),
                {},
                "At least one function is invalid",
            ),
            (
                json.dumps(body).encode(),
                {"x-inngest-expected-server-kind": "cloud"},
                "Expected server kind dev, got cloud",
            ),
        ]
        for raw, headers, text in cases:
            resp = await http.post("/fn/register", content=raw, headers=headers)
            assert resp.status_code == 400
            assert text in resp.json()["error"]
            assert resp.headers["x-inngest-server-kind"] == "dev"
        assert list(dev.driver.executor.functions) == ["app-fn"]
        removed = await http.delete("/fn/remove", params={"url": str(body["url"])})
        assert removed.status_code == 200
        assert list(dev.driver.executor.functions) == []


async def test_register_takes_the_typescript_and_go_shapes() -> None:
    """``concurrency: 1`` (TypeScript), ``{limit, key}``, and Go's key spellings."""
    shorthand = {**synced_function(), "id": "app-a", "concurrency": 1}
    single = {
        **synced_function(),
        "id": "app-b",
        "concurrency": {"limit": 1, "key": "event.data.user"},
        "triggers": [],
    }
    go = {
        "Name": "c",
        "ID": "app-c",
        "Triggers": [{"Event": "t/c"}],
        "Concurrency": {"step": [{"limit": 2, "scope": "Fn", "hash": ""}]},
        "Singleton": {"Key": "event.data.user"},
        "steps": {
            "step": {
                "id": "step",
                "name": "c",
                "runtime": {"url": "http://127.0.0.1:9/x"},
            }
        },
    }
    body = {
        "appName": "app",
        "url": "http://127.0.0.1:9/api/inngest",
        "functions": [shorthand, single, go],
    }
    async with dev_api() as (dev, http):
        resp = await http.post("/fn/register", json=body)
        assert resp.status_code == 200, resp.text
        functions = dev.driver.executor.functions
        assert [c.limit for c in functions["app-a"].config.concurrency or ()] == [1]
        (keyed,) = functions["app-b"].config.concurrency or []
        assert (keyed.limit, keyed.key) == (1, "event.data.user")
        config = functions["app-c"].config
        assert [c.limit for c in config.concurrency or ()] == [2]
        assert config.singleton is not None
        assert config.singleton.mode == "skip"


async def test_a_refused_sync_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The reply, the log, the app (API and web UI, after a restart too)."""
    url = "http://127.0.0.1:9/api/inngest"
    good = {"appName": "app", "url": url, "functions": [synced_function()]}
    bad_fn = {**synced_function(), "concurrency": "5", "throttle": {"limit": 1}}
    bad = {**good, "functions": [bad_fn]}
    db = tmp_path / "dev.db"
    with SQLiteStore(db) as store:
        async with dev_api(store=store) as (dev, http):
            assert (await http.post("/fn/register", json=good)).status_code == 200
            caplog.set_level(logging.WARNING, logger="inngest.devserver")
            resp = await http.post("/fn/register", json=bad)
            assert resp.status_code == 400
            body = resp.json()
            assert body["status"] == 400
            assert body["error"].startswith("At least one function is invalid: ")
            assert "function 'app-fn': concurrency: must be a number" in body["error"]
            assert "function 'app-fn': throttle.period: is required" in body["error"]
            assert body["data"]["errors"] == [
                {
                    "function": "app-fn",
                    "field": "concurrency",
                    "message": "must be a number, an object or a list of objects, "
                    "got a string",
                },
                {
                    "function": "app-fn",
                    "field": "throttle.period",
                    "message": "is required",
                },
            ]
            assert "throttle.period: is required" in caplog.text
            # The app keeps its last good functions, and shows the error.
            assert list(dev.driver.executor.functions) == ["app-fn"]
            (app,) = (await http.get("/v1/apps")).json()["data"]
            assert app["state"] == "error"
            assert "throttle.period: is required" in app["error"]
            (shown,) = (await http.get("/ui/api/apps")).json()["data"]
            assert shown["status"] == "error"
            assert "concurrency: must be a number" in shown["error"]
    with SQLiteStore(db) as store:
        async with dev_api(store=store) as (dev, http):
            (app,) = (await http.get("/v1/apps")).json()["data"]
            assert (app["state"], app["functions"]) == ("error", ["app-fn"])
            assert "throttle.period: is required" in app["error"]
            assert (await http.post("/fn/register", json=good)).status_code == 200
            (app,) = (await http.get("/v1/apps")).json()["data"]
            assert (app["state"], app["error"]) == ("synced", None)
    with SQLiteStore(db) as store:
        async with dev_api(store=store) as (dev, http):
            (app,) = (await http.get("/v1/apps")).json()["data"]
            assert (app["state"], app["error"]) == ("synced", None)


async def test_a_sync_put_reports_why_the_register_was_refused() -> None:
    """The app answers the PUT, but its functions were refused: say why."""
    async with dev_api() as (dev, http):
        client = inngest.Inngest(
            app_id="batchy",
            environ={"INNGEST_DEV": "1", "INNGEST_BASE_URL": str(http.base_url)},
        )

        @client.create_function(
            fn_id="fn",
            trigger=inngest.TriggerEvent(event="t/x"),
            batch_events=inngest.Batch(max_size=5),  # no timeout: refused
        )
        def fn(ctx: inngest.ContextSync) -> None:
            pass

        app = Server(client, [fn], port=0)
        async with anyio.create_task_group() as tg:
            await tg.start(app.serve)
            try:
                synced = await dev.sync_app(app.url)
            finally:
                if isinstance(client.transport, HttpTransport):
                    await client.transport.aclose()
                await app.shutdown()
        assert synced["state"] == "error"
        assert synced["error"] == (
            "function 'batchy-fn': batchEvents.timeout: is required"
        )


@pytest.mark.parametrize(
    ("extra", "field", "text"),
    [
        (
            {"triggers": [{"event": "t/x", "expression": "event.data.ok =="}]},
            "triggers[0].expression",
            "syntax error",
        ),
        (
            {"triggers": [{"event": "t/x", "expression": "user.id == 1"}]},
            "triggers[0].expression",
            "undeclared reference to 'user'",
        ),
        (
            {"concurrency": [{"limit": 1, "key": "event.data.("}]},
            "concurrency[0].key",
            "syntax",
        ),
        (
            {"throttle": {"limit": 1, "period": "1m", "key": "]"}},
            "throttle.key",
            "syntax",
        ),
        (
            {"rateLimit": {"limit": 1, "period": "1m", "key": "usr.id"}},
            "rateLimit.key",
            "'usr'",
        ),
        ({"idempotency": "event.data.("}, "idempotency", "syntax"),
        ({"debounce": {"period": "5s", "key": "nope(1)"}}, "debounce.key", "'nope'"),
        (
            {"batchEvents": {"maxSize": 2, "timeout": "5s", "if": "event.data.a &&"}},
            "batchEvents.if",
            "syntax",
        ),
        (
            {"batchEvents": {"maxSize": 2, "timeout": "5s", "key": "events.x"}},
            "batchEvents.key",
            "'events'",
        ),
        ({"priority": {"run": "event.data.p +"}}, "priority.run", "syntax"),
        (
            {"cancel": [{"event": "t/c", "if": 'async.data.name.endsWith("x")'}]},
            "cancel[0].if",
            "function calls are disallowed (uses 'endsWith')",
        ),
        (
            {"cancel": [{"event": "t/c", "if": "async.data.id =="}]},
            "cancel[0].if",
            "syntax",
        ),
        ({"singleton": {"mode": "skip", "key": ")"}}, "singleton.key", "syntax"),
    ],
)
async def test_expressions_that_cannot_compile_are_refused(
    extra: dict[str, Any], field: str, text: str
) -> None:
    body = {
        "appName": "app",
        "url": "http://127.0.0.1:9/a",
        "functions": [{**synced_function(), **extra}],
    }
    async with dev_api() as (dev, http):
        resp = await http.post("/fn/register", json=body)
        assert resp.status_code == 400, resp.text
        (problem,) = resp.json()["data"]["errors"]
        assert (problem["function"], problem["field"]) == ("app-fn", field)
        assert problem["message"].startswith("invalid expression: ")
        assert text in problem["message"]
        assert dev.driver.executor.functions == {}


async def test_expressions_that_the_real_server_accepts_are_accepted() -> None:
    """Concurrency keys and ``priority.run`` must only parse there."""
    extra = {
        "concurrency": [{"limit": 1, "key": "user.id"}],
        "priority": {"run": "user.p"},
        "cancel": [{"event": "t/c", "if": "int(async.data.n) > event.data.n"}],
    }
    body = {
        "appName": "app",
        "url": "http://127.0.0.1:9/a",
        "functions": [{**synced_function(), **extra}],
    }
    async with dev_api() as (_, http):
        resp = await http.post("/fn/register", json=body)
        assert resp.status_code == 200, resp.text


async def test_an_app_that_is_down() -> None:
    with anyio.fail_after(5):
        # Port 9 (discard) on loopback: nothing listens there.
        async with dev_api(sync_attempts=2, sync_backoff=0.01) as (_, http):
            resp = await http.post(
                "/v0/apps/sync", params={"url": "http://127.0.0.1:9/api/inngest"}
            )
            assert resp.status_code == 502
            app = resp.json()
            assert app["state"] == "unreachable"
            assert "unreachable" in app["error"]
            apps = (await http.get("/v1/apps")).json()["data"]
            assert [a["state"] for a in apps] == ["unreachable"]
            bad = await http.post("/v0/apps/sync", params={"url": "nope"})
            assert bad.status_code == 400


async def test_a_signing_key_requires_a_bearer() -> None:
    async with dev_api(signing_key=KEY) as (_, http):
        assert (await http.get("/v1/events")).status_code == 401
        for token in (hash_signing_key(KEY), "signkey-test-" + hash_signing_key(KEY)):
            headers = {"authorization": f"Bearer {token}"}
            assert (await http.get("/v1/events", headers=headers)).status_code == 200
        # A token that is not ASCII is refused, not a crash.
        latin = {b"authorization": "Bearer \u00e9".encode("latin-1")}
        assert (await http.get("/v1/events", headers=latin)).status_code == 401
        # The event API and health stay open (event keys are not configured).
        assert (await http.post("/e/k", json={"name": "a"})).status_code == 200
        assert (await http.get("/health")).status_code == 200


def test_cli_flags() -> None:
    args = build_parser().parse_args(
        [
            "-u",
            "localhost:3000/api/inngest",
            "-u",
            "http://h/x",
            "-p",
            "9999",
            "--no-discovery",
            "--no-poll",
            "--retry-scale",
            "0.5",
            "--db",
            "x.db",
        ]
    )
    assert args.sdk_url == ["localhost:3000/api/inngest", "http://h/x"]
    assert (args.port, args.host, args.no_poll, args.retry_scale) == (
        9999,
        "127.0.0.1",
        True,
        0.5,
    )


async def test_signals_answer_404_when_no_run_waits_and_400_for_bad_bodies() -> None:
    async with dev_api() as (_, http):
        nobody = await http.post("/v1/signals", json={"signal": "s", "data": 1})
        assert nobody.status_code == 404
        assert nobody.json()["error"] == "No signal found"
        for body in (b"{", b"[]", b'{"signal": ""}', b'{"data": 1}'):
            bad = await http.post("/v1/signals", content=body)
            assert bad.status_code == 400, body
