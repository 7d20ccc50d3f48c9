"""The import contracts (setup.cfg ``[importlinter]``) hold, and breaking one
fails ``lint-imports``, the command the ``lint`` tox env runs.

Each breaking case copies the three packages' sources to a temporary
directory, adds one forbidden import, and runs ``lint-imports`` there with
the copy first on the path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# import-linter runs on Python 3.11 and newer only (it is not installed on
# 3.10); the lint env checks the contracts there on every run.
pytest.importorskip("importlinter")

ROOT = Path(__file__).parent.parent
PACKAGES = ("inngest_proto", "inngest_transports", "inngest_frameworks")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    # The lint-imports command, run by this interpreter.
    script = (
        "import sys; from importlinter.cli import lint_imports_command; "
        "sys.exit(lint_imports_command())"
    )
    return subprocess.run(
        [sys.executable, "-c", script, "--no-cache", "--config", "setup.cfg"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def copy_sources(destination: Path) -> None:
    shutil.copy(ROOT / "setup.cfg", destination / "setup.cfg")
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package,
            destination / package,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "ui"),
        )


def test_the_contracts_hold(tmp_path: Path) -> None:
    copy_sources(tmp_path)
    result = lint_imports(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        (
            "inngest_proto/_seam_breaker.py",
            "import inngest_transports.http",
            "The core (inngest_proto) imports neither transports nor frameworks",
        ),
        (
            "inngest_proto/_seam_breaker.py",
            "from inngest_frameworks import flask",
            "The core (inngest_proto) imports neither transports nor frameworks",
        ),
        (
            "inngest_transports/_seam_breaker.py",
            "from inngest_frameworks import asgi",
            "Transports (inngest_transports) never import the frameworks",
        ),
        (
            "inngest_frameworks/_seam_breaker.py",
            "from inngest_proto._http_values import Response",
            "A private module (_name) is imported only from inside its parent",
        ),
        (
            "inngest_transports/_seam_breaker.py",
            "from inngest_proto import _json",
            "A private module (_name) is imported only from inside its parent",
        ),
    ],
)
def test_a_broken_contract_fails(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    copy_sources(tmp_path)
    (tmp_path / module).write_text(f"{line}\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout + result.stderr
    assert "1 broken" in result.stdout
