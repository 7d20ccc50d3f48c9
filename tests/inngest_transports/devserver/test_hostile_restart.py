"""The real ``inngest-dev`` CLI fed every hostile input, killed with SIGKILL
with a call in flight, and restarted on the same ``--db``: it starts, and
every run finishes as it should."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from inngest_proto.executor import MAX_DATA_DEPTH

from ._process import DevProcess, free_port, until
from ._raw_app import HOSTILE_OUTPUTS, nested, raw_app

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="relies on SIGKILL and POSIX process handling"
)

_DEADLINE = 15.0
#: A function whose call is still in flight when the server is killed.
_SLOW = "slow"
#: ``/e`` bodies the server must refuse with a 400.
_REFUSED = [
    b'{"name": "t/deep", "data": ' + nested(10_000) + b"}",
    b'{"name": "t/deep", "data": ' + nested(400) + b"}",
    b'{"name": "t/deep", "data": ' + nested(MAX_DATA_DEPTH + 1) + b"}",
    b"[" * 10_000 + b"]" * 10_000,
    json.dumps({"name": "t/\ud800"}).encode(),
    json.dumps({"name": "t/x", "data": {"s": "\udfff"}}).encode(),
]


def _healthy(http: httpx.Client) -> bool:
    try:
        return http.get("/health").status_code == 200
    except httpx.TransportError:
        return False


def _status(http: httpx.Client, event_id: str) -> str | None:
    try:
        runs = http.get(f"/v1/events/{event_id}/runs").json()["data"]
    except httpx.TransportError:
        return None
    return str(runs[0]["status"]) if len(runs) == 1 else None


def _status_is(
    http: httpx.Client, event_id: str, want: str | None
) -> Callable[[], bool]:
    """Whether the event's one run has status ``want`` (any, for ``None``)."""

    def check() -> bool:
        status = _status(http, event_id)
        return status is not None if want is None else status == want

    return check


def _send_everything(http: httpx.Client) -> dict[str, str]:
    """Every hostile input; the event ids of the runs, by function id."""
    for body in _REFUSED:
        resp = http.post("/e/key", content=body)
        assert resp.status_code == 400, (body[:60], resp.text)
    ids = {}
    for fn_id in [*HOSTILE_OUTPUTS, _SLOW]:
        resp = http.post("/e/key", json={"name": f"raw/{fn_id}"})
        assert resp.status_code == 200, resp.text
        ids[fn_id] = resp.json()["ids"][0]
    return ids


def _check_finished(http: httpx.Client, ids: dict[str, str]) -> None:
    expected = {fn: status for fn, (_, status, _) in HOSTILE_OUTPUTS.items()}
    expected[_SLOW] = "Completed"
    for fn_id, event_id in ids.items():
        until(_status_is(http, event_id, expected[fn_id]), fn_id, timeout=_DEADLINE)


def test_a_restart_on_a_database_of_hostile_inputs_finishes_every_run(
    tmp_path: Path,
) -> None:
    replies = {fn: reply for fn, (reply, _, _) in HOSTILE_OUTPUTS.items()}
    replies[_SLOW] = (200, b'"done"')
    port = free_port()
    db = tmp_path / "dev.db"
    with (
        raw_app(replies, delays={_SLOW: 0.5}) as app,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http,
        (tmp_path / "dev.log").open("wb") as log,
    ):
        dev = DevProcess(db, port, log)
        try:
            until(lambda: _healthy(http), "the dev server", timeout=_DEADLINE)
            synced = http.post("/fn/register", json=app.sync_body())
            assert synced.status_code == 200, synced.text
            first = _send_everything(http)
            for fn_id in HOSTILE_OUTPUTS:
                until(_status_is(http, first[fn_id], None), fn_id, timeout=_DEADLINE)
            assert _status(http, first[_SLOW]) == "Running"
            dev.kill()  # the slow call is in flight: its reply is lost

            dev = DevProcess(db, port, log)
            until(lambda: _healthy(http), "the restart", timeout=_DEADLINE)
            _check_finished(http, first)
            # A second round on the restarted server, then a restart after a
            # clean stop: the database with all of it loads too.
            second = _send_everything(http)
            _check_finished(http, second)
            dev.stop()
            dev = DevProcess(db, port, log)
            until(lambda: _healthy(http), "the second restart", timeout=_DEADLINE)
            _check_finished(http, {**first, **second})
        finally:
            dev.stop()
    assert b"Traceback" not in (tmp_path / "dev.log").read_bytes()
