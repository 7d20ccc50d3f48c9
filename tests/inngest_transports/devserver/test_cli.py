"""The ``inngest-dev`` command line: the Connect lease flags, start failures."""

from __future__ import annotations

import socket
from typing import Any, ClassVar

import pytest

from inngest_proto.connect import LeaseTimings
from inngest_transports.devserver import DevServer, GatewayConfig, _cli


class _Captured:
    """Stands in for DevServer: keeps its arguments, serves nothing."""

    seen: ClassVar[dict[str, Any]] = {}

    def __init__(self, **kwargs: Any) -> None:
        _Captured.seen = kwargs

    def run(self, backend: str) -> None:
        return


def _connect_config(monkeypatch: pytest.MonkeyPatch, *argv: str) -> GatewayConfig:
    monkeypatch.setattr(_cli, "DevServer", _Captured)
    assert _cli.main(["--db", ":memory:", *argv]) == 0
    config = _Captured.seen["connect"]
    assert isinstance(config, GatewayConfig)
    return config


def test_default_lease_is_the_inngest_gateways(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _connect_config(monkeypatch).lease == LeaseTimings(20, 5, 5)


def test_lease_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    config = _connect_config(
        monkeypatch,
        "--connect-lease",
        "120",
        "--connect-lease-extend-interval",
        "30",
        "--connect-lease-grace",
        "2",
    )
    assert config.lease == LeaseTimings(120, 30, 2)
    assert _connect_config(monkeypatch, "--connect-lease", "8").lease == LeaseTimings(
        8, 2, 5
    )


def test_impossible_lease_is_a_usage_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    code = _cli.main(
        [
            "--db",
            ":memory:",
            "--connect-lease",
            "4",
            "--connect-lease-extend-interval",
            "4",
        ]
    )
    assert code == 2
    assert "must be shorter than the lease" in caplog.text


def test_a_port_in_use_is_reported_not_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The bind fails inside the server's task groups; the command must still
    # see the OSError itself and say which address it could not take.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = _cli.main(
            [
                "--db",
                ":memory:",
                "--no-poll",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ]
        )
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in caplog.text
    assert "Address already in use" in caplog.text


def test_keep_events_reaches_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    _connect_config(monkeypatch, "--keep-events", "7")
    assert _Captured.seen["keep_events"] == 7
    _connect_config(monkeypatch)
    assert _Captured.seen["keep_events"] is None


def test_keep_events_below_one_is_a_usage_error(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Were it accepted, nothing would be served: the test ends either way.
    monkeypatch.setattr(DevServer, "run", lambda self, backend: None)
    assert _cli.main(["--db", ":memory:", "--keep-events", "0"]) == 2
    assert "keep_events must be at least 1, not 0" in caplog.text


def test_a_value_error_while_serving_is_not_a_usage_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Only values the flags give are usage errors (exit 2); a ValueError from
    # inside the running server is a bug, and shows as one.
    class _Failing(_Captured):
        def run(self, backend: str) -> None:
            msg = "a bug while serving"
            raise ValueError(msg)

    monkeypatch.setattr(_cli, "DevServer", _Failing)
    with pytest.raises(ValueError, match="a bug while serving"):
        _cli.main(["--db", ":memory:"])
