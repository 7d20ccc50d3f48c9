"""The ``inngest-dev`` command line: flags, configuration file, logging, failures."""

from __future__ import annotations

import argparse
import io
import itertools
import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, ClassVar

import pytest

from inngest_proto.connect import LeaseTimings
from inngest_proto.wire import __version__
from inngest_transports.devserver import DevServer, GatewayConfig, _cli
from inngest_transports.devserver._cli_logging import logging_configured

_REPO = Path(__file__).resolve().parents[3]


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


def test_run_retention_flags_reach_the_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    db = str(tmp_path / "dev.db")
    _connect_config(monkeypatch, "--keep-runs", "50", "--keep-runs-for", "7d")
    assert (_Captured.seen["keep_runs"], _Captured.seen["keep_runs_for"]) == (
        50,
        7 * 86400,
    )
    # Without the flags a file keeps every run; SQLite's memory keeps 1,000.
    _connect_config(monkeypatch)
    assert (_Captured.seen["keep_runs"], _Captured.seen["keep_runs_for"]) == (
        1000,
        None,
    )
    monkeypatch.setattr(_cli, "DevServer", _Captured)
    assert _cli.main(["--db", db, "--keep-runs-for", "90m"]) == 0
    assert (_Captured.seen["keep_runs"], _Captured.seen["keep_runs_for"]) == (
        None,
        5400,
    )
    assert _cli.main(["--db", db, "--keep-runs-for", "3600"]) == 0
    assert _Captured.seen["keep_runs_for"] == 3600


@pytest.mark.parametrize("value", ["0", "-1d", "soon", "d", "", "infm", "nan"])
def test_keep_runs_for_takes_a_positive_duration(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        _cli.main(["--db", ":memory:", f"--keep-runs-for={value}"])
    assert exited.value.code == 2
    assert "not a positive duration" in capsys.readouterr().err


def test_keep_runs_below_one_is_a_usage_error(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(DevServer, "run", lambda self, backend: None)
    assert _cli.main(["--db", ":memory:", "--keep-runs", "0"]) == 2
    assert "keep_runs must be at least 1, not 0" in caplog.text


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


# -- failing in one line -------------------------------------------------------------


def _run_cli(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(_REPO), env.get("PYTHONPATH")) if p
    )
    return subprocess.run(
        [sys.executable, "-m", "inngest_transports.devserver", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=cwd or _REPO,
        check=False,
    )


def test_a_busy_port_is_one_line_and_status_1(tmp_path: Path) -> None:
    # The error arrives from inside the server's task groups: it must still
    # come out as one line, not an ExceptionGroup traceback.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _run_cli(
            "--db",
            str(tmp_path / "dev.db"),
            "--no-discovery",
            "--log-level",
            "warning",
            "-p",
            str(port),
        )
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in lines[0]
    assert "Address already in use" in lines[0]


def test_a_bad_flag_is_one_line_and_status_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        _cli.main(["--port", "eighty"])
    assert exited.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "inngest-dev: argument -p/--port: invalid int value: 'eighty'"
        " (see inngest-dev --help)"
    ]


def test_help_lists_every_flag_with_its_default(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        _cli.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    flags = [
        action
        for action in _cli.build_parser()._actions
        if action.default is not argparse.SUPPRESS
    ]
    assert len(flags) >= 20
    # Each flag's entry runs from its name (and argument) to the next flag's.
    options = text.index("options:")
    starts = [text.index(_invocation(action) + " ", options) for action in flags]
    assert starts == sorted(starts)
    for action, start, end in zip(flags, starts, [*starts[1:], len(text)], strict=True):
        entry = text[start:end]
        assert "default" in entry, entry
        if action.default not in (None, [], False):
            assert f"default: {action.default}" in entry, entry


def _invocation(action: argparse.Action) -> str:
    if action.nargs == 0:
        return ", ".join(action.option_strings)
    if action.choices is not None:
        argument = "{" + ",".join(map(str, action.choices)) + "}"
    else:
        argument = str(action.metavar or action.dest.upper())
    if sys.version_info >= (3, 13):
        # Python 3.13's argparse names the argument once: "-u, --sdk-url URL".
        return ", ".join(action.option_strings) + f" {argument}"
    return ", ".join(f"{option} {argument}" for option in action.option_strings)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        _cli.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"inngest-dev {__version__}\n"


# -- flags that reach the server -----------------------------------------------------


def test_discovery_is_on_unless_no_discovery(monkeypatch: pytest.MonkeyPatch) -> None:
    _connect_config(monkeypatch)
    assert _Captured.seen["discovery"] is True
    _connect_config(monkeypatch, "--no-discovery")
    assert _Captured.seen["discovery"] is False


def test_repeatable_flags_reach_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    _connect_config(
        monkeypatch,
        "-u",
        "127.0.0.1:3000/api/inngest",
        "--sdk-url",
        "http://127.0.0.1:3001/api/inngest",
        "--event-key",
        "one",
        "--event-key",
        "two",
        "--no-poll",
    )
    assert _Captured.seen["apps"] == [
        "127.0.0.1:3000/api/inngest",
        "http://127.0.0.1:3001/api/inngest",
    ]
    assert _Captured.seen["event_keys"] == ["one", "two"]
    assert _Captured.seen["poll"] is False


# -- the configuration file ----------------------------------------------------------


def test_config_file_in_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "inngest.json").write_text(
        json.dumps(
            {
                "port": 9999,
                "sdk-url": ["a:1/api/inngest", "b:2/api/inngest"],
                "no_poll": True,
                "event-key": "secret",
                "poll-interval": 2.5,
            }
        )
    )
    args = _cli.parse_args([], cwd=tmp_path)
    assert args.port == 9999
    assert args.sdk_url == ["a:1/api/inngest", "b:2/api/inngest"]
    assert args.no_poll is True
    assert args.event_key == ["secret"]
    assert args.poll_interval == 2.5
    # Flags win, a repeatable one replacing the file's list.
    args = _cli.parse_args(["-p", "7000", "-u", "c:3/api/inngest"], cwd=tmp_path)
    assert (args.port, args.sdk_url) == (7000, ["c:3/api/inngest"])
    assert args.no_poll is True


def test_config_file_named_by_flag_and_yaml(tmp_path: Path) -> None:
    path = tmp_path / "dev.yaml"
    path.write_text("port: 8123\nallow-host: [web, api]\nno-discovery: true\n")
    args = _cli.parse_args(["--config", str(path)], cwd=tmp_path / "elsewhere")
    assert args.port == 8123
    assert args.allow_host == ["web", "api"]
    assert args.no_discovery is True


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("inngest.json", '{"prot": 1}', "inngest.json: unknown key 'prot'"),
        (
            "inngest.json",
            '{"port": "eighty"}',
            "argument -p/--port: invalid int value: 'eighty'",
        ),
        ("inngest.json", '{"no-poll": "yes"}', "no-poll must be true or false"),
        ("inngest.json", "[1]", "must hold an object"),
        ("inngest.json", "{", "is not valid JSON"),
        ("inngest.yaml", "port: [", "is not valid YAML"),
        ("inngest.json", '{"config": "x.json"}', "unknown key 'config'"),
        ("inngest.json", '{"sdk-url": [{"u": 1}]}', "sdk-url must be strings"),
    ],
)
def test_a_bad_config_file_is_one_line_and_status_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: str,
    message: str,
) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(SystemExit) as exited:
        _cli.parse_args([], cwd=tmp_path)
    assert exited.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert message in line
    assert name in line


def test_two_config_files_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "inngest.json").write_text("{}")
    (tmp_path / "inngest.yaml").write_text("")
    with pytest.raises(SystemExit):
        _cli.parse_args([], cwd=tmp_path)
    assert "both inngest.json and inngest.yaml" in capsys.readouterr().err


def test_yaml_without_pyyaml_says_so(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml now fails
    (tmp_path / "inngest.yaml").write_text("port: 1\n")
    with pytest.raises(SystemExit) as exited:
        _cli.parse_args([], cwd=tmp_path)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "needs PyYAML, which is not installed: pip install pyyaml" in err


# -- logging -------------------------------------------------------------------------


def _logged(level: str, *, json_lines: bool) -> str:
    stream = io.StringIO()
    with logging_configured(level, json_lines=json_lines, stream=stream):
        logging.getLogger("httpx").info("HTTP Request: PUT http://app")
        logging.getLogger("httpx").warning("a library's warning")
        logging.getLogger("inngest.devserver").info("run 01 started")
        logging.getLogger("inngest.devserver").debug("a detail")
    return stream.getvalue()


def test_libraries_log_only_warnings_by_default() -> None:
    lines = _logged("info", json_lines=False).splitlines()
    assert [line.split(" ", 2)[2] for line in lines] == [
        "a library's warning",
        "run 01 started",
    ]


def test_log_level() -> None:
    assert "a detail" in _logged("debug", json_lines=False)
    assert "HTTP Request" not in _logged("debug", json_lines=False)
    text = _logged("error", json_lines=False)
    assert text == ""


def test_json_lines() -> None:
    records = [
        json.loads(line) for line in _logged("info", json_lines=True).splitlines()
    ]
    assert [(r["level"], r["logger"], r["message"]) for r in records] == [
        ("warning", "httpx", "a library's warning"),
        ("info", "inngest.devserver", "run 01 started"),
    ]
    assert records[0]["time"].endswith("Z")


def test_logging_is_put_back() -> None:
    before = logging.getLogger("inngest").level, logging.getLogger().handlers[:]
    _logged("debug", json_lines=True)
    after = logging.getLogger("inngest").level, logging.getLogger().handlers[:]
    assert after == before


def test_the_documented_example_file_is_accepted(tmp_path: Path) -> None:
    page = (_REPO / "docs" / "devserver.rst").read_text()
    section = page.split("Configuration file\n~~~~")[1]
    lines = section.split(".. code-block:: json\n")[1].splitlines()[1:]
    block = itertools.takewhile(lambda line: not line or line.startswith(" "), lines)
    (tmp_path / "inngest.json").write_text(textwrap.dedent("\n".join(block)))
    args = _cli.parse_args([], cwd=tmp_path)
    assert args.sdk_url == ["http://127.0.0.1:8000/api/inngest"]
    assert (args.no_discovery, args.event_key, args.log_level) == (
        True,
        ["local-key"],
        "warning",
    )


def test_ctrl_c_before_serving_is_a_quiet_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    class _Interrupted(_Captured):
        def run(self, backend: str) -> None:
            raise KeyboardInterrupt

    monkeypatch.setattr(_cli, "DevServer", _Interrupted)
    assert _cli.main(["--db", ":memory:"]) == 130


def test_trio_backend_without_trio_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "trio", None)  # find_spec now fails
    monkeypatch.setattr(_cli, "DevServer", _Captured)
    code = _cli.main(["--db", ":memory:", "--backend", "trio"])
    assert code == 2
    assert "--backend trio needs the trio package" in caplog.text
