"""An official-SDK connect worker (``inngest.connect``) runs on our dev server.

Needs ``inngest[connect]`` (the official worker dials with ``websockets``);
skipped without it.  The worker is :mod:`.official_connect_worker` in a
process of its own (see there why); the test drives the dev server.
"""

from __future__ import annotations

import os
import select
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
from inngest_transports.devserver import DevServer, GatewayConfig

from ._compat import PYDANTIC_CONFIG, _dev_server

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", PYDANTIC_CONFIG, DeprecationWarning)
    from inngest.connect._internal import connect_pb2 as theirs

APP_ID = "official-connect"
#: A connect worker SIGKILLed mid-step: its run completes on another worker
#: within 40 s, with the gateway's default timings.
FAILOVER_ACCEPTANCE = 40.0
_WORKER = Path(__file__).with_name("official_connect_worker.py")


def _spawn(dev: DevServer, **extra: str) -> subprocess.Popen[bytes]:
    """An official worker process pointed at ``dev`` (``extra``: its env)."""
    env = {
        **os.environ,
        "INNGEST_DEV": "1",
        "INNGEST_BASE_URL": dev.url,
        "PYTHONWARNINGS": "ignore",
        **extra,
    }
    for name in ("INNGEST_API_BASE_URL", "INNGEST_EVENT_API_BASE_URL"):
        env.pop(name, None)
    return subprocess.Popen(
        [sys.executable, str(_WORKER)], env=env, stdout=subprocess.PIPE
    )


def _stop(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(15)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
    if worker.stdout is not None:
        worker.stdout.close()


def _wait_connected(
    http: httpx.Client, workers: dict[str, subprocess.Popen[bytes]]
) -> dict[str, str]:
    """Waits until each of ``workers`` (by instance id) is connected and
    ready; their connection ids, by instance id."""
    deadline = time.monotonic() + 20  # a fresh interpreter imports the SDK
    while True:
        listed = http.get("/v0/connect/connections").json()["data"]
        ready = {c["instance_id"]: c["id"] for c in listed if c["state"] == "ready"}
        if set(workers) <= set(ready):
            return ready
        for instance_id, worker in workers.items():
            assert worker.poll() is None, f"the worker {instance_id} exited"
        assert time.monotonic() < deadline, "a worker never connected"
        time.sleep(0.05)


def test_official_connect_worker_runs_a_function() -> None:
    with _dev_server() as (dev, portal), httpx.Client(base_url=dev.url) as http:
        worker = _spawn(dev)
        try:
            _wait_connected(http, {"official-1": worker})
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
            _stop(worker)


@pytest.mark.parametrize(
    ("event", "error"),
    [("official/broken", "RuntimeError"), ("official/refusing", "NonRetriableError")],
)
def test_official_connect_worker_failures_fail_and_run_on_failure(
    event: str, error: str
) -> None:
    with _dev_server() as (dev, portal), httpx.Client(base_url=dev.url) as http:
        worker = _spawn(dev)
        try:
            _wait_connected(http, {"official-1": worker})
            sent = http.post("/e/key", json={"name": event, "data": {}})
            (event_id,) = sent.json()["ids"]
            (run,) = portal.call(dev.wait_for_runs, event_id, 1, 20)
            assert run.status.value == "Failed"
            assert run.error is not None
            assert run.error["name"] == error
            # The on-failure handler runs on the worker too.
            handler = run.function_id + "-failure"

            def handled() -> bool:
                runs = dev.driver.recent_runs(1000)
                return any(r.function_id == handler and not r.is_running for r in runs)

            portal.call(dev.driver.wait_until, handled, 20)
            (done,) = [
                r for r in dev.driver.recent_runs(1000) if r.function_id == handler
            ]
            assert (done.status.value, done.output) == ("Completed", f"handled {error}")
        finally:
            _stop(worker)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_official_worker_sigkilled_mid_step_its_run_completes_on_another() -> None:
    # A 4 s lease, extended every 1 s (the official worker reads only whole
    # seconds), and 1 s of grace: the call the killed worker held fails at
    # most 5 s after the kill and is retried at once on the other worker.
    # The acceptance (the run completes on another worker within 40 s of the
    # crash, with the default 25 s) is scaled to this lease: 8 s.  The retry
    # scale is the default one, so a retry that waited for the backoff (15 s
    # or more) would miss it.
    config = GatewayConfig(lease_seconds=4, lease_grace=1)
    default = GatewayConfig().lease.worst_case_failover
    assert default == 25
    bound = config.lease.worst_case_failover * FAILOVER_ACCEPTANCE / default
    with (
        _dev_server(connect=config, retry_scale=1.0) as (dev, portal),
        httpx.Client(base_url=dev.url) as http,
    ):
        doomed = _spawn(
            dev, OFFICIAL_WORKER_HANG="1", OFFICIAL_WORKER_INSTANCE="official-doomed"
        )
        survivor: subprocess.Popen[bytes] | None = None
        try:
            conns = _wait_connected(http, {"official-doomed": doomed})
            sent = http.post(
                "/e/key", json={"name": "official/connect", "data": {"n": 7}}
            )
            (event_id,) = sent.json()["ids"]
            assert doomed.stdout is not None
            readable, _, _ = select.select([doomed.stdout], [], [], 20)
            assert readable, "the step never started"
            assert doomed.stdout.readline() == b"started\n"
            # Only now: the call went to the doomed worker, the retry cannot.
            survivor = _spawn(dev, OFFICIAL_WORKER_INSTANCE="official-survivor")
            conns = _wait_connected(
                http, {"official-doomed": doomed, "official-survivor": survivor}
            )
            # Alive, the doomed worker keeps its lease past its length.
            time.sleep(config.lease.duration + 1)
            assert len(dev.gateway.deliveries) == 1
            doomed.kill()
            killed = time.monotonic()
            (run,) = portal.call(dev.wait_for_runs, event_id, 1, 20)
            took = time.monotonic() - killed
            assert doomed.wait(5) == -signal.SIGKILL
        finally:
            _stop(doomed)
            if survivor is not None:
                _stop(survivor)
    assert (run.status.value, run.output) == ("Completed", "done 1 7")
    assert took <= bound, took
    assert [conn for _, conn in dev.gateway.deliveries] == [
        conns["official-doomed"],
        conns["official-survivor"],
        conns["official-survivor"],
    ]


def test_our_schema_and_the_official_one_load_in_one_process() -> None:
    # Both define connect.v1's messages; ours is registered under its own
    # package and path, so importing both does not clash, and the bytes agree.
    sent = ours.SDKResponse(request_id="r1", body=b"{}", status=ours.DONE)
    got = theirs.SDKResponse.FromString(sent.SerializeToString())
    assert (got.request_id, got.body, got.status) == ("r1", b"{}", theirs.DONE)
