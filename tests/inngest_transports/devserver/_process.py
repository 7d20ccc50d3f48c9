"""The dev server in a process of its own (``python -m inngest_transports.devserver``),
for the tests that kill it and start it again on the same database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

_REPO = Path(__file__).resolve().parents[3]


def free_port() -> int:
    """A port free on 127.0.0.1 now: a restarted server must keep its port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def until(check: Callable[[], bool], what: str, *, timeout: float) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class DevProcess:
    """``inngest-dev --db DB -p PORT --no-poll ARGS...``, its output in ``log``."""

    def __init__(self, db: Path, port: int, log: IO[bytes], *args: str) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(_REPO), env.get("PYTHONPATH")) if p
        )
        command = [
            "--db",
            str(db),
            "-p",
            str(port),
            "--no-poll",
            "--no-discovery",
            *args,
        ]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "inngest_transports.devserver", *command],
            cwd=db.parent,
            env=env,
            stdout=log,
            stderr=log,
        )

    def kill(self) -> None:
        self.proc.kill()  # SIGKILL: no shutdown code runs
        self.proc.wait(timeout=5)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()
