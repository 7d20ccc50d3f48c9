"""Start and stop the embedded dev server around a test suite.

The official SDK's ``inngest.experimental.dev_server.server`` starts the Go
dev server with ``npx inngest-cli dev`` (Node and a download); this starts
ours, so the same suites run with nothing but ``pip``.  It reads the same
environment variables, when it is created:

``DEV_SERVER_PORT``
    The API's port (default 8288); ``0`` picks a free one, which
    :attr:`ManagedDevServer.port` shows once started.
``DEV_SERVER_ENABLED``
    ``0`` makes :meth:`~ManagedDevServer.start` and
    :meth:`~ManagedDevServer.stop` do nothing (a server you run yourself).
``DEV_SERVER_LOGS``
    ``1`` appends the server's output to ``artifacts/dev_server.log``.
``DEV_SERVER_IN_PROCESS`` (ours)
    ``1`` serves from a thread of this process instead of a subprocess:
    quicker to start, and the server's state is in reach of the test.

Like the official helper it passes ``--no-discovery --no-poll``, and keeps
nothing between runs (the database is in memory).  It binds 127.0.0.1 only.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from concurrent.futures import Future
from typing import IO, Any

import anyio.from_thread
import httpx

from ._server import DEFAULT_PORT, DevServer
from ._sqlite_store import MEMORY, SQLiteStore

__all__ = ["ManagedDevServer"]

_HOST = "127.0.0.1"
#: Polling for readiness: often enough to add little to a start.
_POLL_SECONDS = 0.05
#: What a subprocess's failed start shows of its output.
_LOG_TAIL_BYTES = 4000


class ManagedDevServer:
    """One dev server to start and stop: ``start()``, ``stop()``, ``origin``.

    Arguments left out come from the environment variables above.  Also a
    context manager (``with ManagedDevServer(port=0) as server: ...``).
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        enabled: bool | None = None,
        in_process: bool | None = None,
        log_path: str | os.PathLike[str] | None = None,
        startup_timeout: float = 30.0,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        if port is None:
            raw = env.get("DEV_SERVER_PORT") or str(DEFAULT_PORT)
            try:
                port = int(raw)
            except ValueError:
                msg = f"DEV_SERVER_PORT must be a port number, not {raw!r}"
                raise ValueError(msg) from None
        if not 0 <= port <= 65535:
            msg = f"the dev server's port must be in 0..65535, not {port}"
            raise ValueError(msg)
        #: The API's port (the bound one once started, if it was 0).
        self.port = port
        self._requested_port = port
        if enabled is None:
            enabled = env.get("DEV_SERVER_ENABLED") != "0"
        if in_process is None:
            in_process = env.get("DEV_SERVER_IN_PROCESS") == "1"
        self._enabled, self._in_process = enabled, in_process
        if log_path is None and env.get("DEV_SERVER_LOGS") == "1":
            log_path = pathlib.Path("artifacts") / "dev_server.log"
        self._log_path = None if log_path is None else pathlib.Path(log_path)
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._thread: _Threaded | None = None

    @property
    def origin(self) -> str:
        """The API's origin, e.g. for ``INNGEST_BASE_URL``."""
        return f"http://{_HOST}:{self.port}"

    @property
    def enabled(self) -> bool:
        return self._enabled

    @property
    def is_running(self) -> bool:
        return self._process is not None or self._thread is not None

    @property
    def dev_server(self) -> DevServer | None:
        """The server itself while it runs in this process, else ``None``."""
        return None if self._thread is None else self._thread.dev

    # -- start -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the server; returns once it answers.

        Raises ``RuntimeError`` if it is already running, or did not come up
        within ``startup_timeout`` seconds (with what it printed).
        """
        if not self._enabled:
            return
        if self.is_running:
            msg = "Dev Server is already running"
            raise RuntimeError(msg)
        if self._in_process:
            self._thread = _Threaded.start(self._requested_port)
            self.port = self._thread.port
        else:
            self._start_subprocess()
        atexit.register(self._stop_at_exit)

    def _start_subprocess(self) -> None:
        port = self._requested_port or _free_port()
        if self._log_path is not None:
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self._log_path.open("ab")
        else:
            self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        command = [
            sys.executable,
            "-m",
            "inngest_transports.devserver",
            "--host",
            _HOST,
            "--port",
            str(port),
            "--no-discovery",
            "--no-poll",
            "--db",
            MEMORY,
        ]
        # Output goes to a file, never a pipe: an unread pipe fills up and
        # blocks the server.
        self._process = subprocess.Popen(  # noqa: S603 - our own module, no shell
            command,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.port = port
        try:
            self._wait_until_ready(self._process)
        except BaseException:
            self._stop_subprocess()
            raise

    def _wait_until_ready(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + self._startup_timeout
        with httpx.Client(timeout=1.0) as http:
            while True:
                code = process.poll()
                if code is not None:
                    msg = f"the dev server exited with code {code} at start:\n"
                    raise RuntimeError(msg + self._tail())
                try:
                    if http.get(f"{self.origin}/health").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    msg = (
                        f"the dev server did not answer at {self.origin} within "
                        f"{self._startup_timeout:g} s:\n{self._tail()}"
                    )
                    raise RuntimeError(msg)
                time.sleep(_POLL_SECONDS)

    def _tail(self) -> str:
        log = self._log
        if log is None:
            return ""
        log.flush()
        with open(log.fileno(), "rb", closefd=False) as reader:
            reader.seek(0, os.SEEK_END)
            reader.seek(max(0, reader.tell() - _LOG_TAIL_BYTES))
            return reader.read().decode(errors="replace")

    # -- stop --------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the server; raises ``RuntimeError`` if it is not running."""
        if not self._enabled:
            return
        if not self.is_running:
            msg = "Dev Server is not running"
            raise RuntimeError(msg)
        atexit.unregister(self._stop_at_exit)
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.stop()
        else:
            self._stop_subprocess()

    def _stop_subprocess(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            # SIGTERM: the server stops serving and closes its database.
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log, self._log = self._log, None
        if log is not None:
            log.close()

    def _stop_at_exit(self) -> None:
        if self.is_running:
            self.stop()

    def __enter__(self) -> ManagedDevServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.is_running:
            self.stop()


class _Threaded:
    """A :class:`DevServer` serving from a thread of this process."""

    def __init__(
        self,
        dev: DevServer,
        portal_cm: contextlib.AbstractContextManager[anyio.from_thread.BlockingPortal],
        portal: anyio.from_thread.BlockingPortal,
        serving: Future[Any],
        store: SQLiteStore,
    ) -> None:
        self.dev = dev
        self._portal_cm, self._portal, self._serving = portal_cm, portal, serving
        self._store = store

    @classmethod
    def start(cls, port: int) -> _Threaded:
        # The server does not own a store it is given: this one is closed
        # here, when serving ends or cannot start (an unclosed SQLite
        # connection is a ResourceWarning on Python 3.13).
        # Whatever stops the start undoes it: the portal's thread ends and
        # the store closes.
        with contextlib.ExitStack() as undo:
            store = SQLiteStore(MEMORY)
            undo.callback(store.close)
            dev = DevServer(host=_HOST, port=port, poll=False, store=store)
            portal_cm = anyio.from_thread.start_blocking_portal()
            portal = undo.enter_context(portal_cm)
            try:
                serving, _url = portal.start_task(dev.serve)
            except OSError as err:
                msg = f"the dev server cannot listen on {_HOST}:{port}: {err}"
                raise RuntimeError(msg) from err
            undo.pop_all()
        return cls(dev, portal_cm, portal, serving, store)

    @property
    def port(self) -> int:
        return int(self.dev.url.rsplit(":", 1)[1])

    def stop(self) -> None:
        try:
            self._portal.call(self.dev.shutdown)
            self._serving.result(timeout=10)
        finally:
            self._portal_cm.__exit__(None, None, None)
            self._store.close()


def _free_port() -> int:
    """A port free right now (a subprocess cannot tell us the one it got)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port
