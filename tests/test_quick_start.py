"""README.rst's quick start, followed as written, in separate processes.

The quick start's two Python blocks are saved as the files the README names
(``shop.py``, then ``signup.py``) and its three commands run in order: the
dev server, the app, the script that sends the event.  Then the run must
complete, as the README says, and Ctrl-C must stop both servers cleanly.

Two liberties, so the test can run beside others: every port is a free one
(8000 and 8288 in the README; ``INNGEST_DEV=1`` means the dev server on
8288, so it becomes that server's URL), and ``inngest-dev`` is run as
``python -m inngest_transports.devserver`` with this interpreter, which is
what the console script runs.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.docs_blocks import ROOT, Block, blocks
from tests.inngest_transports.devserver._process import free_port

README = ROOT / "README.rst"
FILES = ("shop.py", "signup.py")


def _quick_start() -> tuple[list[Block], list[Block]]:
    section = [b for b in blocks(README) if b.section == "Quick start"]
    code = [b for b in section if b.language == "python"]
    commands = [b for b in section if b.language == "shell"]
    return code, commands


class QuickStart:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.app_port = free_port()
        self.dev_port = free_port()
        self.gateway_port = free_port()
        self.processes: list[tuple[subprocess.Popen[bytes], Path]] = []

    def localize(self, text: str) -> str:
        """The README's ports made free ones."""
        return text.replace("8000", str(self.app_port)).replace(
            "8288", str(self.dev_port)
        )

    def argv_and_env(self, command: str) -> tuple[list[str], dict[str, str]]:
        words = shlex.split(self.localize(command))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env = {k: v for k, v in env.items() if not k.startswith("INNGEST_")}
        while re.fullmatch(r"[A-Z_]+=.*", words[0]):
            name, value = words.pop(0).split("=", 1)
            if name == "INNGEST_DEV" and value == "1":
                value = f"http://127.0.0.1:{self.dev_port}"
            env[name] = value
        program, *arguments = words
        if program == "inngest-dev":
            argv = [sys.executable, "-m", "inngest_transports.devserver"]
            argv += [*arguments, "-p", str(self.dev_port)]
            argv += ["--connect-gateway-port", str(self.gateway_port)]
            # Only the app the page starts: not others on this machine's ports.
            argv += ["--no-discovery"]
            return argv, env
        assert program == "python", command
        return [sys.executable, *arguments], env

    def start(self, command: str) -> subprocess.Popen[bytes]:
        argv, env = self.argv_and_env(command)
        log = self.directory / f"process-{len(self.processes)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv, cwd=self.directory, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        self.processes.append((process, log))
        return process

    def run(self, command: str) -> str:
        argv, env = self.argv_and_env(command)
        done = subprocess.run(
            argv,
            cwd=self.directory,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def wait_for_log(self, index: int, line: str) -> None:
        process, log = self.processes[index]
        deadline = time.monotonic() + 60
        while line not in log.read_text(errors="replace"):
            assert process.poll() is None, self.logs()
            assert time.monotonic() < deadline, f"no {line!r}\n{self.logs()}"
            time.sleep(0.05)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.args!r}\n{log.read_text(errors='replace')}"
            for p, log in self.processes
        )

    def interrupt_all(self) -> list[int | None]:
        """Ctrl-C each process, as the README says to stop them."""
        codes: list[int | None] = []
        for process, _ in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
            try:
                codes.append(process.wait(timeout=15))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                codes.append(None)
        return codes


def _completed_run(
    dev_port: int, event_id: str, logs: Callable[[], str]
) -> dict[str, object]:
    url = f"http://127.0.0.1:{dev_port}/v1/events/{event_id}/runs"
    deadline = time.monotonic() + 60
    runs: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        runs = httpx.get(url, timeout=5).json()["data"]
        if runs and runs[0]["status"] not in ("Running", "Queued"):
            return runs[0]
        time.sleep(0.1)
    msg = f"no finished run of {event_id} in 60 s: {runs}\n{logs()}"
    raise AssertionError(msg)


def test_the_readme_quick_start_works_as_written(tmp_path: Path) -> None:
    code, commands = _quick_start()
    text = " ".join(README.read_text().split())  # as read, not as wrapped
    assert "Save this as ``shop.py``" in text
    assert "with this ``signup.py``" in text
    assert len(code) == len(FILES)
    quick = QuickStart(tmp_path)
    for name, block in zip(FILES, code, strict=True):
        (tmp_path / name).write_text(quick.localize(block.text))
    dev_server, app, send = (block.text for block in commands)
    assert dev_server.startswith("inngest-dev "), dev_server
    try:
        quick.start(dev_server)
        quick.start(app)
        synced = f"app shop synced from http://127.0.0.1:{quick.app_port}/api/inngest"
        quick.wait_for_log(0, synced)
        assert "Once the dev server logs ``app shop synced from" in text
        printed = quick.run(send)
        match = re.fullmatch(r"sent event (\S+)\n", printed)
        assert match, printed
        run = _completed_run(quick.dev_port, match[1], quick.logs)
        assert run["status"] == "Completed", (run, quick.logs())
        assert run["output"] == {"sent_to": "user42@example.com"}
    finally:
        codes = quick.interrupt_all()
    logs = quick.logs()
    assert codes == [0, 0], logs
    assert "sending a welcome email to user42@example.com" in logs
