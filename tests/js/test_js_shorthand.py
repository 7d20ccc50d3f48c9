"""Concurrency in its shorthand forms, set with the TypeScript SDK, on our dev server.

The app ``js-shorthand`` of ``tests/js/app`` sets ``concurrency: 1`` (a
number) and ``concurrency: {limit: 1, key: ...}`` (one object), which Inngest
reads as a list of one limit; the steps of its runs must never overlap.
Served over HTTP and as a connect worker.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._jsapp import JsApp, most_at_once, running_js_app

APP_ID = "js-shorthand"


@pytest.fixture(scope="module", params=["serve", "connect"])
def js(request: pytest.FixtureRequest) -> Iterator[JsApp]:
    with running_js_app(request.param, apps=(APP_ID,)) as js:
        yield js


def test_shorthand_synced_as_lists(js: JsApp) -> None:
    fns = {f["slug"]: f for f in js.get(f"/v1/apps/{APP_ID}/functions")}
    assert fns[f"{APP_ID}-conc-number"]["config"]["concurrency"] == [{"limit": 1}]
    assert fns[f"{APP_ID}-conc-object"]["config"]["concurrency"] == [
        {"limit": 1, "key": "event.data.k"}
    ]


def test_concurrency_number(js: JsApp) -> None:
    spans = js.outputs(js.send_many("js/conc.number", [{"n": n} for n in range(3)]))
    assert most_at_once(spans) == 1


def test_concurrency_object_with_a_key(js: JsApp) -> None:
    ids = js.send_many("js/conc.object", [{"k": k} for k in "aabb"])
    spans = js.outputs(ids)
    for key in "ab":
        assert most_at_once([s for s in spans if s["data"]["k"] == key]) == 1
    # Each key has its own slot: "a" and "b" ran side by side.
    assert most_at_once(spans) == 2
