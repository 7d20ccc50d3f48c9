"""InProcessAPI: the client's transport answered by an executor in process."""

from __future__ import annotations

import json
from typing import Any

import inngest_proto as inngest
from inngest_proto._http_values import OutboundRequest
from inngest_proto.executor import Action, Executor, InProcessAPI
from tests.inngest_proto.executor._harness import START, Harness

BASE = "http://api.test"


def _api() -> tuple[InProcessAPI, list[dict[str, Any]], list[Action]]:
    accepted: list[dict[str, Any]] = []
    applied: list[Action] = []

    def accept(event: dict[str, Any]) -> str:
        accepted.append(event)
        return f"id-{len(accepted)}"

    api = InProcessAPI(
        Executor(),
        now=lambda: START,
        accept=accept,
        apply=applied.extend,
        random_bytes=bytes,
    )
    return api, accepted, applied


def test_sent_events_are_accepted_and_answered_with_their_ids() -> None:
    api, accepted, _ = _api()
    body = json.dumps([{"name": "a"}, {"name": "b"}]).encode()
    resp = api.request_sync(OutboundRequest("POST", f"{BASE}/e/key", {}, body))
    assert resp.status == 200
    assert json.loads(resp.body) == {"ids": ["id-1", "id-2"], "status": 200}
    assert [e["name"] for e in accepted] == ["a", "b"]
    assert (api.now(), api.random_bytes(3)) == (START, b"\0\0\0")


def _send(api: InProcessAPI, body: bytes) -> tuple[int, Any]:
    resp = api.request_sync(OutboundRequest("POST", f"{BASE}/e/key", {}, body))
    return resp.status, json.loads(resp.body)


def test_sent_events_are_checked_and_filled_in_as_the_dev_servers_are() -> None:
    api, accepted, _ = _api()
    events = [
        {"name": "a", "data": {"_inngest": {"x": 1}, "n": 1}},
        {"name": "inngest/function.finished"},
        {"name": "c"},
    ]
    status, body = _send(api, json.dumps(events).encode())
    # Those before the invalid one are taken; its id stays empty.
    assert (status, body["ids"]) == (400, ["id-1", ""])
    assert body["error"] == (
        "event name is reserved for internal use: inngest/function.finished"
    )
    assert accepted == [
        {"name": "a", "data": {"n": 1}, "user": {}, "ts": int(START * 1000)}
    ]


def test_one_event_may_be_sent_as_an_object_and_nonsense_is_refused() -> None:
    api, accepted, _ = _api()
    assert _send(api, b'{"name": "a", "id": "mine"}') == (
        200,
        {"ids": ["id-1"], "status": 200},
    )
    assert accepted[0]["id"] == "mine"
    status, body = _send(api, b"42")
    assert status == 400
    assert body["error"].startswith("Request body must contain an event object")
    assert _send(api, b"  ") == (200, {"ids": [], "status": 200})
    assert len(accepted) == 1


def test_run_data_of_an_unknown_run_or_kind_is_404() -> None:
    api, _, _ = _api()
    for what in ("batch", "actions", "other"):
        url = f"{BASE}/v0/runs/nope/{what}?x=1"
        assert api.request_sync(OutboundRequest("GET", url, {}, b"")).status == 404
    assert api.fetched == []


def test_a_bad_checkpoint_is_refused_with_its_reason() -> None:
    api, accepted, applied = _api()
    url = f"{BASE}/v1/checkpoint/run-1/async"
    resp = api.request_sync(OutboundRequest("POST", url, {}, b"{not json"))
    assert resp.status >= 400
    assert "not JSON" in json.loads(resp.body)["error"]
    assert (accepted, applied, api.checkpoints) == ([], [], [])


def test_the_batch_and_steps_of_a_run_are_read_back() -> None:
    h = Harness()

    @h.client.create_function(fn_id="fn", trigger=inngest.TriggerEvent(event="t/go"))
    def fn(ctx: inngest.ContextSync) -> None:
        ctx.step.run("s", lambda: 1)
        ctx.step.sleep("z", 60)

    h.serve(fn)
    h.send("t/go", {"n": 1})
    h.drain()
    run = h.only_run("fn")
    base = f"{BASE}/v0/runs/{run.run_id}"
    batch = h.api.request_sync(OutboundRequest("GET", f"{base}/batch", {}, b""))
    actions = h.api.request_sync(OutboundRequest("GET", f"{base}/actions", {}, b""))
    assert [e["data"] for e in json.loads(batch.body)] == [{"n": 1}]
    assert json.loads(actions.body) == run.steps
    assert h.fetched == ["batch", "actions"]
