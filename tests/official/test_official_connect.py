"""An official-SDK connect worker (``inngest.connect``) runs on our dev server.

Needs ``inngest[connect]`` (the official worker dials with ``websockets``);
skipped without it.  The worker is :mod:`.official_connect_worker` in a
process of its own (see there why); the test drives the dev server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import httpx
import pytest

pytest.importorskip("websockets")

from inngest_proto.connect import connect_pb2 as ours

from ._compat import PYDANTIC_CONFIG, _dev_server

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", PYDANTIC_CONFIG, DeprecationWarning)
    from inngest.connect._internal import connect_pb2 as theirs

APP_ID = "official-connect"
_WORKER = Path(__file__).with_name("official_connect_worker.py")


def test_official_connect_worker_runs_a_function() -> None:
    with _dev_server() as (dev, portal), httpx.Client(base_url=dev.url) as http:
        env = {
            **os.environ,
            "INNGEST_DEV": "1",
            "INNGEST_BASE_URL": dev.url,
            "PYTHONWARNINGS": "ignore",
        }
        for name in ("INNGEST_API_BASE_URL", "INNGEST_EVENT_API_BASE_URL"):
            env.pop(name, None)
        worker = subprocess.Popen([sys.executable, str(_WORKER)], env=env)
        try:
            deadline = time.monotonic() + 20
            while not http.get("/v0/connect/connections").json()["data"]:
                assert worker.poll() is None, "the worker exited"
                assert time.monotonic() < deadline, "the worker never connected"
                time.sleep(0.05)
            (conn,) = http.get("/v0/connect/connections").json()["data"]
            assert (conn["instance_id"], conn["apps"]) == ("official-1", [APP_ID])
            (app,) = http.get("/v1/apps").json()["data"]
            assert (app["name"], app["method"]) == (APP_ID, "connect")
            sent = http.post(
                "/e/key", json={"name": "official/connect", "data": {"n": 7}}
            )
            (event_id,) = sent.json()["ids"]
            (run,) = portal.call(dev.wait_for_runs, event_id, 1, 20)
            assert (run.status.value, run.output) == ("Completed", "done 1 7")
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


def test_our_schema_and_the_official_one_load_in_one_process() -> None:
    # Both define connect.v1's messages; ours is registered under its own
    # package and path, so importing both does not clash, and the bytes agree.
    sent = ours.SDKResponse(request_id="r1", body=b"{}", status=ours.DONE)
    got = theirs.SDKResponse.FromString(sent.SerializeToString())
    assert (got.request_id, got.body, got.status) == ("r1", b"{}", theirs.DONE)
