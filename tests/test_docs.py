"""Every code block of README.rst and docs/*.rst runs, or is checked, in CI.

The conventions (languages, the ``docs-test: skip: REASON`` marker) are in
``tests/docs_blocks.py``, which also runs a page's Python in a fresh process.
"""

from __future__ import annotations

import configparser
import functools
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs_blocks import LANGUAGES, PAGES, ROOT, Block, blocks

ALL_BLOCKS = [block for page in PAGES for block in blocks(page)]


def _id(block: Block) -> str:
    return f"{block.page.relative_to(ROOT)}:{block.line}"


def _of(*languages: str) -> list[Block]:
    return [b for b in ALL_BLOCKS if b.language in languages]


def test_every_block_has_a_language_the_tests_know() -> None:
    unnamed = [
        f"{_id(b)} ({b.language})" for b in ALL_BLOCKS if b.language not in LANGUAGES
    ]
    assert unnamed == [], (
        "name the language (.. code-block:: LANGUAGE): one of "
        + ", ".join(sorted(LANGUAGES))
    )


def test_skipped_blocks_are_few() -> None:
    skipped = [_id(b) for b in ALL_BLOCKS if b.skip is not None]
    assert len(skipped) <= 5, skipped


@pytest.mark.parametrize("block", [b for b in ALL_BLOCKS if b.skip], ids=_id)
def test_skipped_block(block: Block) -> None:
    """Reported as skipped, with the reason its marker gives: never silent."""
    assert block.skip
    pytest.skip(f"{_id(block)}: {block.skip}")


@pytest.mark.parametrize(
    "page",
    sorted({b.page for b in _of("python")}),
    ids=lambda page: str(page.relative_to(ROOT)),
)
def test_python_blocks_run(page: Path, tmp_path: Path) -> None:
    """The page's Python blocks run in order, in a fresh process (see docs_blocks)."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.docs_blocks", str(page)],
        cwd=tmp_path,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-6000:]


def _environment() -> dict[str, str]:
    import os  # noqa: PLC0415

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("INNGEST_", "SENTRY_", "OPENAI_"))
    }
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.mark.parametrize("block", _of("json"), ids=_id)
def test_json_blocks_parse(block: Block) -> None:
    json.loads(block.text)


# -- shell commands ---------------------------------------------------------------


@pytest.mark.parametrize("block", _of("console", "shell", "bash"), ids=_id)
def test_shell_commands_name_what_exists(block: Block) -> None:
    for command in _commands(block.text):
        _check_command(command)


def _commands(text: str) -> list[list[str]]:
    joined = re.sub(r"\\\n", " ", text)
    commands = []
    for raw in joined.splitlines():
        line = raw.strip().removeprefix("$ ")
        if not line or line.startswith("#"):
            continue
        for part in re.split(r"\s*&&\s*", line):
            commands.append(shlex.split(part, comments=True))
    return commands


def _check_command(words: list[str]) -> None:
    while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
        name = words.pop(0).split("=", 1)[0]
        assert name in _documented_variables(), f"{name} is documented nowhere"
    program, *arguments = words
    checks = {
        "pip": _check_pip,
        "inngest-dev": _check_inngest_dev,
        "tox": _check_tox,
        "python": _check_python,
        "cd": _check_nothing,
        "pytest": _check_nothing,
        "git": _check_git,
    }
    assert program in checks, f"no check for {program!r}: add one to test_docs.py"
    checks[program](arguments)


def _check_nothing(arguments: list[str]) -> None:
    del arguments


def _check_git(arguments: list[str]) -> None:
    assert arguments[0] == "clone", arguments


def _check_pip(arguments: list[str]) -> None:
    assert arguments[0] == "install", arguments
    for argument in arguments[1:]:
        match = re.fullmatch(r"(inngest-sansio|\.)\[(?P<extras>[^]]+)\]", argument)
        if match:
            for extra in match["extras"].split(","):
                assert extra in _extras(), f"pip extra {extra!r} is not in setup.cfg"


def _check_inngest_dev(arguments: list[str]) -> None:
    for argument in arguments:
        if argument.startswith("-"):
            flag = argument.split("=", 1)[0]
            assert re.search(rf"(^|[\s,\[]){re.escape(flag)}\b", _dev_help()), flag


def _check_tox(arguments: list[str]) -> None:
    if "-e" in arguments:
        env = arguments[arguments.index("-e") + 1]
        assert env in _tox_envs(), f"tox env {env!r} is not in tox.ini"


def _check_python(arguments: list[str]) -> None:
    if arguments[0] == "-m":
        module = arguments[1]
        import importlib.util  # noqa: PLC0415

        assert importlib.util.find_spec(module) is not None, module
        for flag in (a.split("=", 1)[0] for a in arguments[2:] if a.startswith("-")):
            assert re.search(rf"(^|[\s,\[]){re.escape(flag)}\b", _help(module)), flag
    else:
        # A script the page wrote out earlier (app.py, main.py, ...).
        assert arguments[0].endswith(".py"), arguments


def _dev_help() -> str:
    return _help("inngest_transports.devserver")


@functools.cache
def _help(module: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", module, "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(ROOT), "COLUMNS": "200"},
    ).stdout


@functools.cache
def _setup_cfg() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config


def _extras() -> set[str]:
    return set(_setup_cfg()["options.extras_require"])


@functools.cache
def _tox_envs() -> set[str]:
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "tox.ini")
    names = set()
    for item in re.split(r"[\s,]+(?![^{]*})", config["tox"]["envlist"]):
        names |= _expand(item.strip())
    names |= {s.removeprefix("testenv:") for s in config.sections()}
    return {n for n in names if n and "{" not in n}


def _expand(pattern: str) -> set[str]:
    match = re.search(r"{([^}]*)}", pattern)
    if match is None:
        return {pattern}
    return {
        name
        for choice in match[1].split(",")
        for name in _expand(pattern[: match.start()] + choice + pattern[match.end() :])
    }


@functools.cache
def _documented_variables() -> set[str]:
    """The SDK's (configuration.rst) and the dev server helper's (devserver.rst)."""
    text = "".join(
        (ROOT / "docs" / name).read_text()
        for name in ("configuration.rst", "devserver.rst")
    )
    return set(re.findall(r"``([A-Z][A-Z_]+)``", text)) | {"PYTHONPATH"}


def test_the_command_checks_catch_what_does_not_exist() -> None:
    for words in (
        ["pip", "install", "inngest-sansio[nope]"],
        ["inngest-dev", "--no-such-flag"],
        ["tox", "-e", "nope"],
        ["python", "-m", "no_such_module_here"],
        ["python", "-m", "bench.flow", "--no-such-flag"],
        ["INNGEST_NOPE=1", "python", "app.py"],
        ["rm", "-rf", "/"],
    ):
        with pytest.raises(AssertionError):
            _check_command(words)
    for words in (
        ["pip", "install", "inngest-sansio[dev,fastapi]"],
        ["inngest-dev", "-u", "http://127.0.0.1:8000/api/inngest", "--db", "x"],
        ["tox", "-e", "fw-django-min"],
        ["python", "-m", "bench.flow", "--quick", "--db=file"],
        ["INNGEST_DEV=1", "python", "-m", "inngest_transports.devserver"],
    ):
        _check_command(words)
