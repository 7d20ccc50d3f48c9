"""The typed sample app and the deliberate misuses of ``step.run``, checked
by ``mypy --strict`` and pyright (strict) against our SDK and the official one.

``sample_app.py`` must type-check cleanly under both SDKs: it imports the SDK
through the shim module ``_sdk``, and each run puts one of ``sdk/ours`` or
``sdk/official`` on the checker's search path. ``misuses.py`` must be reported
exactly on its ``# expect-error`` lines: if our ``step.run`` stopped checking
its handler's arguments, these tests fail.

The checkers are tools of the ``typing`` tox env (which sets
``INNGEST_TYPING_TESTS_REQUIRED``); elsewhere a missing checker or official
SDK skips these tests.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
REPO = HERE.parent.parent
SAMPLE_APP = HERE / "sample_app.py"
MISUSES = HERE / "misuses.py"
REQUIRED = "INNGEST_TYPING_TESTS_REQUIRED"
SDKS = ("ours", "official")
#: mypy's ``path:line: error: ...`` and pyright's ``  path:line:col - error: ...``.
MYPY_ERROR = re.compile(r"^(?P<path>[^:\s]+\.py):(?P<line>\d+): error: ", re.MULTILINE)
PYRIGHT_ERROR = re.compile(
    r"^\s*(?P<path>\S+\.py):(?P<line>\d+):\d+ - error: ", re.MULTILINE
)


def _require(what: str, present: bool) -> None:
    if present:
        return
    problem = f"{what} is not installed"
    if os.environ.get(REQUIRED):
        pytest.fail(problem, pytrace=False)
    pytest.skip(problem)


def _require_sdk(sdk: str) -> None:
    if sdk == "official":
        _require(
            "the official SDK (inngest)",
            importlib.util.find_spec("inngest") is not None,
        )
    _require("fastapi", importlib.util.find_spec("fastapi") is not None)


def _env(sdk: str) -> dict[str, str]:
    env = dict(os.environ)
    env["MYPYPATH"] = str(HERE / "sdk" / sdk)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    return env


def run_mypy(sdk: str, target: Path, cache_root: Path) -> tuple[str, list[int]]:
    _require("mypy", importlib.util.find_spec("mypy") is not None)
    _require_sdk(sdk)
    command = [sys.executable, "-m", "mypy", "--strict", "--no-error-summary"]
    # One cache per SDK: the two ``_sdk`` shims share a module name.
    command += ["--cache-dir", str(cache_root / f"mypy-{sdk}"), str(target)]
    return _error_lines(command, sdk, target, MYPY_ERROR)


def run_pyright(sdk: str, target: Path, cache_root: Path) -> tuple[str, list[int]]:
    pyright = shutil.which("pyright")
    _require("pyright", pyright is not None)
    assert pyright is not None
    _require_sdk(sdk)
    config = cache_root / f"pyright-{sdk}.json"
    config.write_text(
        json.dumps(
            {
                "typeCheckingMode": "strict",
                "pythonVersion": "3.10",
                "pythonPath": sys.executable,
                "extraPaths": [str(HERE / "sdk" / sdk), str(REPO)],
            }
        )
    )
    return _error_lines(
        [pyright, "--project", str(config), str(target)], sdk, target, PYRIGHT_ERROR
    )


def _error_lines(
    command: list[str], sdk: str, target: Path, error: re.Pattern[str]
) -> tuple[str, list[int]]:
    """The checker's output, and the lines of ``target`` it reports errors on."""
    proc = subprocess.run(
        command, cwd=REPO, env=_env(sdk), capture_output=True, text=True, check=False
    )
    lines = [
        int(m["line"])
        for m in error.finditer(proc.stdout)
        if Path(m["path"]).name == target.name
    ]
    return proc.stdout + proc.stderr, lines


CHECKERS = {"mypy": run_mypy, "pyright": run_pyright}


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared by this module's checks: a warm mypy cache saves most of a run."""
    return tmp_path_factory.mktemp("type-checks")


def expected_error_lines(path: Path) -> list[int]:
    return [
        number
        for number, text in enumerate(path.read_text().splitlines(), start=1)
        if text.rstrip().endswith("# expect-error")
    ]


@pytest.mark.parametrize("sdk", SDKS)
@pytest.mark.parametrize("checker", sorted(CHECKERS))
def test_sample_app_type_checks(checker: str, sdk: str, cache_root: Path) -> None:
    output, errors = CHECKERS[checker](sdk, SAMPLE_APP, cache_root)
    assert errors == [], output
    # A run that crashed or checked nothing reports no errors either.
    if checker == "mypy":
        assert "error" not in output, output
    else:
        assert "0 errors" in output, output


@pytest.mark.parametrize("sdk", SDKS)
@pytest.mark.parametrize("checker", sorted(CHECKERS))
def test_step_run_misuses_are_reported(
    checker: str, sdk: str, cache_root: Path
) -> None:
    expected = expected_error_lines(MISUSES)
    assert len(expected) >= 8
    output, errors = CHECKERS[checker](sdk, MISUSES, cache_root)
    assert sorted(set(errors)) == expected, output


@pytest.mark.parametrize("sdk", SDKS)
def test_sample_app_builds_under_both_sdks(sdk: str) -> None:
    """The sample app is a real app: each SDK validates its options and
    mounts it on FastAPI (in a subprocess: the two shims share a name)."""
    _require_sdk(sdk)
    env = _env(sdk)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE / "sdk" / sdk), env["PYTHONPATH"]])
    script = (
        "import runpy, sys\n"
        f"ns = runpy.run_path({str(SAMPLE_APP)!r})\n"
        "print(sorted(f.id for f in ns['functions']))\n"
        "print(sorted(r.path for r in ns['app'].routes)[0])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    functions, route = proc.stdout.splitlines()[-2:]
    ids = ["batch", "child", "flow-control", "steps", "steps-sync"]
    assert functions == str([f"typed-app-{fn_id}" for fn_id in ids])
    assert route == "/api/inngest"
