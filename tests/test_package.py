"""Package-level guarantees: sans-IO core, the official public names, packaging."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import docutils.core

import inngest_proto

ROOT = Path(__file__).parent.parent
CORE = ROOT / "inngest_proto"

#: Modules that do I/O or pick an event loop; the core must not load them.
#: (``threading`` is absent: the stdlib's ``logging`` imports it.)
IO_MODULES = {
    "anyio",
    "asyncio",
    "django",
    "fastapi",
    "flask",
    "h11",
    "httpx",
    "requests",
    "selectors",
    "socket",
    "sqlite3",
    "ssl",
    "starlette",
    "subprocess",
    "tornado",
    "trio",
    "urllib3",
    "wsproto",
}

#: ``inngest.__all__`` of the official SDK 0.5.19, for environments without it;
#: ``tests/official/test_parity.py`` checks every official name's shape too.
OFFICIAL_NAMES = {
    "Batch",
    "Cancel",
    "Concurrency",
    "Context",
    "ContextSync",
    "Debounce",
    "Event",
    "Function",
    "Inngest",
    "JSON",
    "Middleware",
    "MiddlewareSync",
    "NonRetriableError",
    "ParallelMode",
    "Priority",
    "PydanticSerializer",
    "RateLimit",
    "RetryAfterError",
    "SendEventsResult",
    "Serializer",
    "Singleton",
    "Step",
    "StepError",
    "StepMemos",
    "StepSync",
    "Streaming",
    "Throttle",
    "Timeouts",
    "TransformOutputResult",
    "TriggerCron",
    "TriggerEvent",
}


def _top_level_modules_after(statement: str) -> set[str]:
    listing = "print(' '.join({m.split('.')[0] for m in sys.modules}))"
    code = f"import sys; {statement}; {listing}"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    )
    return set(out.stdout.split())


def test_importing_the_core_loads_no_io_module() -> None:
    # What attrs and cattrs load themselves (attrs imports ``platform``, which
    # imports ``subprocess`` on some Pythons) is theirs, not ours.
    dependencies = _top_level_modules_after("import attrs, cattrs")
    ours = _top_level_modules_after(
        "import attrs, cattrs, inngest_proto, inngest_proto.experimental.ai.openai"
    )
    assert (ours - dependencies) & IO_MODULES == set()


def test_core_source_neither_imports_io_nor_reads_the_clock() -> None:
    banned_import = re.compile(
        r"^\s*(import|from)\s+(" + "|".join(sorted(IO_MODULES | {"threading"})) + r")\b"
    )
    # ``datetime.time()`` is a time of day, not a clock read: hence the lookbehind.
    clock = re.compile(
        r"(?<![\w.])time\.(time|sleep|monotonic)\(|datetime\.(now|utcnow)\("
    )
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in CORE.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if banned_import.search(line) or clock.search(line)
    ]
    assert offenders == []


def test_public_names_match_the_official_sdk() -> None:
    ours = set(inngest_proto.__all__)
    assert OFFICIAL_NAMES - ours == set()
    for name in ours:
        assert hasattr(inngest_proto, name), name


def test_the_package_ships_type_information() -> None:
    for package in ("inngest_proto", "inngest_transports", "inngest_frameworks"):
        assert (ROOT / package / "py.typed").exists()


def test_ci_runs_the_command_the_readme_gives() -> None:
    readme = (ROOT / "README.rst").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "\n    tox\n" in readme
    assert "\ntox\n" in ci


def test_readme_and_docs_render_without_errors() -> None:
    for path in [ROOT / "README.rst", *sorted((ROOT / "docs").glob("*.rst"))]:
        docutils.core.publish_doctree(
            path.read_text(),
            source_path=str(path),
            settings_overrides={"report_level": 2, "halt_level": 2},
        )
