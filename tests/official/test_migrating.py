"""docs/migrating.rst's module table: every official module, where it really is.

The table must list each module the parity suite walks (``official_modules``),
name for each the module the import map of differences.rst gives (the one
the parity suite checks name by name), and that module must import.  A
module with no counterpart must be a gap differences.rst lists.  Skipped
where the official packages are absent (they live in the ``official`` tox
env).
"""

from __future__ import annotations

import importlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.inngest_transports.devserver._process import free_port
from tests.official._dev_server_suite import dev_server_conftest, dev_server_suite
from tests.official.test_parity import (
    counterpart_module,
    documented_gaps,
    official_modules,
)

ROOT = Path(__file__).parents[2]
MIGRATING = ROOT / "docs" / "migrating.rst"
ROW = re.compile(r"^``(?P<official>[\w.]+)``\s+(?:``(?P<ours>[\w.]+)``|none: .+)$")


def module_table() -> dict[str, str | None]:
    text = MIGRATING.read_text()
    start = text.index(".. migrating: modules")
    end = text.index(".. migrating: end")
    table: dict[str, str | None] = {}
    for line in text[start:end].splitlines():
        if line.startswith("``"):
            match = ROW.match(line)
            assert match, f"not a row of the module table: {line!r}"
            assert match["official"] not in table, f"{match['official']} twice"
            table[match["official"]] = match["ours"]
    return table


def test_the_table_lists_every_official_module() -> None:
    assert set(module_table()) == set(official_modules())


def test_each_row_is_the_import_map_and_imports() -> None:
    for official, ours in module_table().items():
        if ours is None:
            assert official in documented_gaps(), official
            continue
        assert ours == counterpart_module(official), official
        importlib.import_module(ours)


# -- the official dev_server helper, unchanged, on our dev server -------------------


def test_the_official_dev_server_helper_unchanged_reaches_ours(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """As migrating.rst says: DEV_SERVER_ENABLED=0, and inngest-dev allowing 0.0.0.0."""
    pytest.importorskip("flask")
    port = free_port()
    log = tmp_path / "dev.log"
    command = [sys.executable, "-m", "inngest_transports.devserver", "-p", str(port)]
    command += ["--allow-host", "0.0.0.0", "--no-poll", "--no-discovery"]
    command += ["--db", ":memory:"]
    command += ["--connect-gateway-port", str(free_port())]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("wb") as out:
        dev = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while "dev server listening" not in log.read_text():
            assert dev.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), *sys.path]))
        monkeypatch.setenv("DEV_SERVER_ENABLED", "0")
        monkeypatch.setenv("DEV_SERVER_PORT", str(port))
        for name in ("INNGEST_DEV", "INNGEST_BASE_URL", "INNGEST_SIGNING_KEY"):
            monkeypatch.delenv(name, raising=False)
        # DEV_SERVER_ENABLED=0: the official helper's start() starts nothing.
        pytester.makeconftest(dev_server_conftest("inngest.experimental"))
        pytester.makepyfile(test_suite=dev_server_suite("inngest.experimental"))
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
        result.assert_outcomes(passed=1)
    finally:
        dev.send_signal(signal.SIGINT)
        assert dev.wait(timeout=15) == 0, log.read_text()
