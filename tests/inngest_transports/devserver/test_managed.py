"""``ManagedDevServer`` and ``inngest_proto.experimental.dev_server.server``.

Starting a subprocess costs a couple of seconds of real time, so the
subprocess cases share one start where they can; the in-process ones are
quick.  Every server binds 127.0.0.1 on a free port and is stopped.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from inngest_proto import LocalProtocolError
from inngest_transports.devserver import managed
from inngest_transports.devserver._sqlite_store import SQLiteStore
from inngest_transports.devserver.managed import ManagedDevServer

ROOT = Path(__file__).parents[3]


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


# --- configuration ----------------------------------------------------------------


def test_the_environment_sets_port_and_switches() -> None:
    server = ManagedDevServer(environ={"DEV_SERVER_PORT": "9123"})
    assert (server.port, server.origin) == (9123, "http://127.0.0.1:9123")
    assert server.enabled
    assert ManagedDevServer(environ={}).port == 8288
    assert not ManagedDevServer(environ={"DEV_SERVER_ENABLED": "0"}).enabled
    # Arguments win over the environment.
    assert ManagedDevServer(port=7, environ={"DEV_SERVER_PORT": "9123"}).port == 7


@pytest.mark.parametrize("raw", ["http", "-1", "70000"])
def test_a_bad_port_is_refused_with_a_clear_error(raw: str) -> None:
    with pytest.raises(ValueError, match="port"):
        ManagedDevServer(environ={"DEV_SERVER_PORT": raw})


def test_disabled_start_and_stop_do_nothing() -> None:
    server = ManagedDevServer(port=0, environ={"DEV_SERVER_ENABLED": "0"})
    server.start()
    assert not server.is_running
    server.stop()  # no "not running" error either, as the official helper


# --- in process ----------------------------------------------------------------------


def test_in_process_it_serves_the_api_until_stopped() -> None:
    server = ManagedDevServer(port=0, in_process=True, environ={})
    server.start()
    try:
        assert server.port != 0
        assert server.dev_server is not None
        resp = httpx.post(f"{server.origin}/e/key", json={"name": "t/ping"})
        assert resp.status_code == 200
        events = httpx.get(f"{server.origin}/v1/events").json()["data"]
        assert [e["name"] for e in events] == ["t/ping"]
        with pytest.raises(RuntimeError, match="already running"):
            server.start()
    finally:
        server.stop()
    assert not server.is_running
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.origin}/health")
    with pytest.raises(RuntimeError, match="not running"):
        server.stop()


def test_in_process_state_starts_empty_each_time() -> None:
    with ManagedDevServer(port=0, in_process=True, environ={}) as server:
        httpx.post(f"{server.origin}/e/key", json={"name": "t/one"})
    with ManagedDevServer(port=0, in_process=True, environ={}) as server:
        assert httpx.get(f"{server.origin}/v1/events").json()["data"] == []


def test_in_process_a_busy_port_is_a_clear_error(busy_port: int) -> None:
    server = ManagedDevServer(port=busy_port, in_process=True, environ={})
    with pytest.raises(RuntimeError, match=f"cannot listen on 127.0.0.1:{busy_port}"):
        server.start()
    assert not server.is_running


class _CountingStore(SQLiteStore):
    """A store that counts the stores still open."""

    open_now = 0

    def __init__(self, path: str) -> None:
        super().__init__(path)
        _CountingStore.open_now += 1

    def close(self) -> None:
        super().close()
        _CountingStore.open_now -= 1


@pytest.mark.parametrize("busy", [False, True], ids=["stopped", "failed-start"])
def test_in_process_the_store_is_closed_when_serving_ends(
    monkeypatch: pytest.MonkeyPatch, busy: bool, busy_port: int
) -> None:
    # An unclosed SQLite connection is a ResourceWarning (Python 3.13), raised
    # in whatever test happens to collect it.
    monkeypatch.setattr(managed, "SQLiteStore", _CountingStore)
    _CountingStore.open_now = 0
    server = ManagedDevServer(
        port=busy_port if busy else 0, in_process=True, environ={}
    )
    if busy:
        with pytest.raises(RuntimeError, match="cannot listen"):
            server.start()
    else:
        server.start()
        assert _CountingStore.open_now == 1
        server.stop()
    assert _CountingStore.open_now == 0


# --- subprocess ---------------------------------------------------------------


def test_as_a_subprocess_it_serves_logs_and_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    server = ManagedDevServer(environ={"DEV_SERVER_PORT": "0", "DEV_SERVER_LOGS": "1"})
    server.start()
    try:
        assert server.port != 0
        assert server.dev_server is None
        assert httpx.get(f"{server.origin}/health").status_code == 200
        with pytest.raises(RuntimeError, match="already running"):
            server.start()
    finally:
        server.stop()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.origin}/health")
    log = (tmp_path / "artifacts" / "dev_server.log").read_text()
    assert f"listening at {server.origin}" in log


def test_as_a_subprocess_a_failed_start_shows_its_output(busy_port: int) -> None:
    server = ManagedDevServer(port=busy_port, environ={})
    with pytest.raises(RuntimeError, match="exited with code") as caught:
        server.start()
    assert "Address already in use" in str(caught.value)
    assert not server.is_running


# --- the official import path --------------------------------------------------


def test_the_experimental_module_builds_the_server_on_first_use() -> None:
    # A fresh interpreter: the module's server is one per process.
    code = (
        "import sys, os\n"
        "import inngest_proto.experimental.dev_server as dev_server\n"
        "assert 'inngest_transports' not in sys.modules\n"
        "os.environ['DEV_SERVER_PORT'] = '9321'\n"
        "server = dev_server.server\n"
        "assert server is dev_server.server\n"
        "print(type(server).__name__, server.origin)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.stdout.split() == ["ManagedDevServer", "http://127.0.0.1:9321"]


def test_other_names_of_the_experimental_module_are_attribute_errors() -> None:
    import inngest_proto.experimental.dev_server as dev_server  # noqa: PLC0415

    with pytest.raises(AttributeError, match="no attribute 'serve'"):
        _ = dev_server.serve


def test_the_experimental_module_finds_the_server_by_entry_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The core never imports inngest_transports by name: with nothing
    # registered in the entry point group, it says what to install.
    import importlib.metadata  # noqa: PLC0415

    import inngest_proto.experimental.dev_server as dev_server  # noqa: PLC0415

    def no_entry_points(**selection: str) -> importlib.metadata.EntryPoints:
        assert selection == {
            "group": dev_server.DEV_SERVER_ENTRY_POINTS,
            "name": "default",
        }
        return importlib.metadata.EntryPoints(())

    monkeypatch.setattr(importlib.metadata, "entry_points", no_entry_points)
    monkeypatch.setattr(dev_server, "_server", None)
    with pytest.raises(LocalProtocolError, match=r"inngest-sansio\[dev\]"):
        _ = dev_server.server


def test_the_distribution_registers_the_managed_dev_server() -> None:
    import importlib.metadata  # noqa: PLC0415

    (entry_point,) = importlib.metadata.entry_points(
        group="inngest_sansio.dev_servers", name="default"
    )
    assert entry_point.load() is ManagedDevServer
