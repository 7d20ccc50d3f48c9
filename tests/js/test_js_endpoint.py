"""A durable endpoint (``inngest.endpoint()``) of the TypeScript SDK on our dev server.

The node app serves ``/endpoint``: a plain HTTP handler whose two
``step.run`` calls make it durable.  The SDK starts the run itself and
checkpoints its steps to the server (``/v1/checkpoint``), then answers the
request with the handler's response.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ._jsapp import JsApp, running_js_app


@pytest.fixture(scope="module")
def js() -> Iterator[JsApp]:
    with running_js_app("serve") as js:
        yield js


def test_durable_endpoint_runs_and_records_its_steps(js: JsApp) -> None:
    resp = httpx.get(f"{js.app_url}/endpoint?n=4", timeout=20)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"a": 5, "b": 50}
    runs = js.stats()["stepRuns"]
    assert (runs["endpoint/first"], runs["endpoint/second"]) == (1, 1)
    # The run the SDK started shows on the server, finished.
    (event,) = js.events("inngest/http.request")
    assert js.finished_run(event["internal_id"])["status"] == "Completed"
