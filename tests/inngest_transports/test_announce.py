"""The one line a server or worker says when ready: through logging when the
program configured it, on stderr when it did not."""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import inngest_proto as inngest
from inngest_transports._announce import announce
from tests.inngest_transports.connect._on_devserver import (
    active_worker,
    client_for,
    dev_server,
)

_REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def unconfigured() -> logging.Logger:
    """A logger with no handler on it or above it: logging "not configured".

    Made outside the logging tree, where pytest's capturing handlers (on the
    root and on loggers that do not propagate) cannot reach it.
    """
    return logging.Logger("unconfigured")


def test_without_logging_the_line_goes_to_stderr(
    unconfigured: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    announce(unconfigured, "serving at %s", "http://127.0.0.1:1/")
    assert capsys.readouterr().err == "serving at http://127.0.0.1:1/\n"


def test_with_logging_the_line_goes_through_it(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO)
    announce(logging.getLogger("tests.announce"), "serving at %s", "x")
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, "serving at x")
    ]
    assert capsys.readouterr().err == ""


_SERVE = """
import inngest_proto as inngest
from inngest_transports.server import Server

client = inngest.Inngest(app_id="ready", is_production=False)
Server(client, [], host="127.0.0.1", port=0).run()
"""


def test_server_run_says_where_it_serves_without_logging_configured() -> None:
    # A fresh process: nothing (not even pytest) has configured logging.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(_REPO), env.get("PYTHONPATH")) if p
    )
    with subprocess.Popen(
        [sys.executable, "-c", _SERVE],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        assert proc.stderr is not None
        # Without the line this would block: give it 10 s, then fail.
        readable, _, _ = select.select([proc.stderr], [], [], 10)
        if not readable:
            proc.kill()
        line = proc.stderr.readline()
        assert line.startswith("inngest: serving at http://127.0.0.1:")
        assert line.endswith("/api/inngest\n")
        proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        rest = proc.stderr.read()
        assert "SIGINT: finishing requests in flight" in rest
        if proc.poll() is None:
            proc.kill()
        assert proc.wait() == 0


@pytest.mark.anyio
async def test_a_connect_worker_says_which_gateway_it_reached(
    unconfigured: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    async with dev_server() as (dev, url), client_for(url, "ready") as client:
        client.logger = unconfigured

        @client.create_function(fn_id="noop", trigger=inngest.TriggerEvent(event="x/y"))
        async def noop(ctx: inngest.Context) -> None:
            return None

        async with active_worker(client, [noop]) as worker:
            connection = worker.get_connection_id()
            gateway = dev.gateway.url
    err = capsys.readouterr().err
    assert f"inngest connect: connected to {gateway} ({connection})\n" in err
