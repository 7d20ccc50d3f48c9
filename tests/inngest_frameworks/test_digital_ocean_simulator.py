"""``inngest_frameworks.digital_ocean_simulator``: a DigitalOcean Function's
``main`` behind a Flask app, as the platform's web front calls it."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from werkzeug.serving import make_server

pytest.importorskip("flask")

import inngest_proto as inngest
from inngest_frameworks import digital_ocean
from inngest_frameworks.digital_ocean_simulator import (
    FULL_PATH,
    DigitalOceanSimulator,
)
from inngest_transports.devserver.managed import ManagedDevServer
from inngest_transports.http import HttpTransport
from tests.inngest_frameworks._sync_hosts import (
    QuietWerkzeugHandler,
    make_app,
    running,
)
from tests.inngest_proto._comm_helpers import (
    APP_ID,
    FIRST,
    call_body,
)


class Recorder:
    """A ``main`` that records what it was called with and answers ``answer``."""

    def __init__(self, answer: object) -> None:
        self.answer = answer
        self.calls: list[tuple[Any, Any]] = []

    def __call__(self, event: Any, context: Any) -> Any:
        self.calls.append((event, context))
        return self.answer


def test_the_request_reaches_main_as_a_raw_web_event() -> None:
    main = Recorder({"body": "ok"})
    client = DigitalOceanSimulator(main).app.test_client()
    resp = client.post(f"{FULL_PATH}?a=1&b=x", data=b'{"k": 1}', headers={"X-Y": "z"})
    assert resp.status_code == 200
    ((event, context),) = main.calls
    http = event["http"]
    assert (http["method"], http["queryString"], http["body"]) == (
        "POST",
        "a=1&b=x",
        '{"k": 1}',
    )
    assert http["headers"]["x-y"] == "z"
    assert "isBase64Encoded" not in http
    # The function's URL, as the SDK rebuilds it, is where it was called.
    assert context.api_host == "http://localhost/"
    assert context.function_name == "/fn-00000000/fake-name"
    assert context.api_host.rstrip("/") + "/api/v1/web" + context.function_name == (
        "http://localhost" + FULL_PATH
    )


def test_a_body_that_is_not_utf8_arrives_base64_encoded() -> None:
    main = Recorder({"body": ""})
    DigitalOceanSimulator(main).app.test_client().post("/", data=b"\xff\x00")
    ((event, _),) = main.calls
    assert event["http"]["isBase64Encoded"] is True
    assert event["http"]["body"] == "/wA="


@pytest.mark.parametrize(
    ("body", "sent"),
    [("[1, 2]", b"[1, 2]"), ({"a": 1}, b'{"a": 1}'), ([1], b"[1]"), (None, b"")],
)
def test_a_string_body_is_sent_as_is_and_others_as_json(
    body: object, sent: bytes
) -> None:
    answer = {"body": body, "statusCode": 201, "headers": {"x-a": "b"}}
    resp = DigitalOceanSimulator(Recorder(answer)).app.test_client().get("/")
    assert (resp.status_code, resp.data, resp.headers["x-a"]) == (201, sent, "b")


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("text", "must return a dict"),
        ({"headers": []}, '"headers" must be a dict'),
        ({"statusCode": "200"}, '"statusCode" must be an int'),
    ],
)
def test_a_malformed_answer_is_a_clear_error(answer: object, message: str) -> None:
    app = DigitalOceanSimulator(Recorder(answer)).app
    app.testing = True  # errors propagate to the test client
    with pytest.raises(TypeError, match=message):
        app.test_client().get("/")


def test_our_digital_ocean_app_runs_steps_behind_it() -> None:
    client, functions, _ = make_app()
    app = DigitalOceanSimulator(digital_ocean.serve(client, functions)).app
    http = app.test_client()
    info = http.get(FULL_PATH).get_json()
    assert (info["mode"], info["function_count"]) == ("dev", 5)
    query = urlencode({"fnId": f"{APP_ID}-steps-sync", "stepId": "step"})
    resp = http.post(f"{FULL_PATH}?{query}", data=json.dumps(call_body()))
    assert resp.status_code == 206
    # The signed JSON text, not a JSON string of it.
    assert [op["id"] for op in json.loads(resp.data)] == [FIRST]


def test_a_dev_server_syncs_and_runs_a_function_through_it() -> None:
    transport = HttpTransport()
    with ManagedDevServer(port=0, in_process=True, environ={}) as dev:
        client = inngest.Inngest(
            app_id="do-app",
            is_production=False,
            api_base_url=dev.origin,
            event_api_base_url=dev.origin,
            environ={},
            transport=transport,
        )

        @client.create_function(
            fn_id="double", trigger=inngest.TriggerEvent(event="t/double")
        )
        def double(ctx: inngest.ContextSync) -> int:
            n = ctx.step.run("read", lambda: ctx.event.data["n"])
            return int(n) * 2

        app = DigitalOceanSimulator(digital_ocean.serve(client, [double])).app
        server = make_server(
            "127.0.0.1", 0, app, threaded=True, request_handler=QuietWerkzeugHandler
        )
        with running(server) as (base, http):
            assert http.put(base + FULL_PATH).status_code == 200
            (event_id,) = client.send_sync(
                inngest.Event(name="t/double", data={"n": 21})
            )
            deadline = time.monotonic() + 15
            while True:
                runs = http.get(f"{dev.origin}/v1/events/{event_id}/runs").json()
                if runs["data"] and runs["data"][0]["status"] != "Running":
                    break
                assert time.monotonic() < deadline, runs
                time.sleep(0.02)
        transport.close()
        assert (runs["data"][0]["status"], runs["data"][0]["output"]) == (
            "Completed",
            42,
        )
