"""The official SDK's README examples, on our package with only imports changed.

``readme_app`` is served by Flask on werkzeug over real HTTP on 127.0.0.1;
its functions run to completion through ``tests.executor_sim``, and its
client sends events to a stub Event API, as in the README.
"""

from __future__ import annotations

import importlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any, ClassVar

import httpx
import pytest
from werkzeug.serving import make_server

import inngest_proto as inngest
from tests.executor_sim import drive


class _EventAPI(BaseHTTPRequestHandler):
    received: ClassVar[list[Any]] = []

    def do_POST(self) -> None:
        events = json.loads(self.rfile.read(int(self.headers["content-length"])))
        type(self).received.extend(events)
        body = json.dumps(
            {"ids": [f"id-{i}" for i in range(len(events))], "status": 200}
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def event_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EventAPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def readme_app(event_api: str) -> ModuleType:
    # The README's client reads its origins from the environment, as apps do.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("INNGEST_BASE_URL", event_api)
        env.delenv("INNGEST_DEV", raising=False)
        return importlib.reload(importlib.import_module("tests.examples.readme_app"))


@pytest.fixture(scope="module")
def app_url(readme_app: ModuleType) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, readme_app.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/api/inngest"
    server.shutdown()


def _post(url: str) -> Any:
    def post(query: str, body: bytes) -> tuple[int, Any]:
        reply = httpx.post(f"{url}?{query}", content=body, timeout=5)
        return reply.status_code, reply.json()

    return post


def test_the_app_is_served(app_url: str) -> None:
    body = httpx.get(app_url, timeout=5).json()
    assert body["function_count"] == 3
    assert body["mode"] == "dev"


def test_basic_function(app_url: str) -> None:
    run = drive(
        _post(app_url),
        "flask_example-find_person",
        {"name": "app/person.find", "data": {"person_id": 1}},
    )
    assert run.output["name"] == "Luke Skywalker"
    assert run.calls == 1


def test_step_run_in_a_loop_with_arguments(app_url: str) -> None:
    run = drive(
        _post(app_url),
        "flask_example-find_ships",
        {"name": "app/ships.find", "data": {"person_id": 1}},
    )
    assert run.output == {
        "person_name": "Luke Skywalker",
        "ship_names": ["X-wing", "Imperial shuttle"],
    }
    # One call per step (fetch_person, fetch_ship, fetch_ship:1), then the end.
    assert run.calls == 4


def test_async_function_on_a_sync_framework(app_url: str) -> None:
    run = drive(
        _post(app_url),
        "flask_example-find_person_async",
        {"name": "app/person.find.async", "data": {"person_id": 1}},
    )
    assert run.output["starships"] == ["ships/12", "ships/22"]


def test_send_sync_outside_a_function(readme_app: ModuleType) -> None:
    ids = readme_app.inngest_client.send_sync(
        inngest.Event(name="app/test", data={"person_id": 1})
    )
    assert ids == ["id-0"]
    assert _EventAPI.received[-1]["name"] == "app/test"


@pytest.mark.anyio
async def test_send_outside_a_function(readme_app: ModuleType) -> None:
    ids = await readme_app.inngest_client.send(
        inngest.Event(name="app/test", data={"person_id": 1})
    )
    assert ids == ["id-0"]
