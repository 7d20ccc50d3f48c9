"""The code blocks of README.rst and docs/*.rst, and the runner of their Python.

Every literal block has a language the tests know: ``.. code-block::
LANGUAGE`` names it, and a bare ``::`` block is Python (as in Sphinx), so a
block of any other language that forgets to say so fails as Python instead
of going unchecked:

``python``
    Run, block after block in the order of the page, in one namespace per
    page (a later block uses what an earlier one defined, as a reader reads
    them), in a fresh process per page (``python -m tests.docs_blocks PAGE``)
    whose working directory is a temporary one.  Top-level ``await`` is
    allowed (the block is the body of an async function); ``test_*``
    functions a block defines are called; a name a function body uses must
    exist once the page has run.  The process serves an embedded dev server
    on 127.0.0.1 and sets ``INNGEST_DEV`` to it, and sets the placeholder
    environment in :data:`ENVIRONMENT` that the pages tell the reader to set.
    The page runs as a module, not as ``__main__``: a script's ``if __name__
    == "__main__":`` part (serving until a signal) is left out there, and
    ``tests/test_quick_start.py`` runs the README's for real.
``console`` / ``shell`` / ``bash``
    Commands: each is checked against what it names (a ``pip`` extra exists,
    an ``inngest-dev`` flag is in its ``--help``, a ``tox`` env exists, an
    ``INNGEST_*`` variable is documented...), see ``tests/test_docs.py``.
``json``
    Parsed.
``text``
    Output shown to the reader (a log line, an error message): not code.

A block that cannot run where the tests run is preceded by a comment
``.. docs-test: skip: REASON`` (the reason is required; the test report
lists the block as skipped with it); use it sparingly.
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import symtable
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import docutils.core
import docutils.nodes

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.rst", *sorted((ROOT / "docs").rglob("*.rst"))]
LANGUAGES = {"python", "console", "shell", "bash", "json", "text"}
MARKER = re.compile(r"docs-test:\s*(?P<verb>\S+?):\s*(?P<reason>.*)", re.DOTALL)

#: What the pages tell the reader to set in the environment, as placeholders.
ENVIRONMENT = {
    "APP_ENCRYPTION_KEY": "a placeholder encryption key",
    "APP_ENCRYPTION_KEY_OLD": "the previous placeholder encryption key",
    "OPENAI_API_KEY": "sk-placeholder",
    # A DSN whose host is this machine: nothing is reported in the blocks.
    "SENTRY_DSN": "http://public@127.0.0.1:9/1",
}


@attrs.frozen
class Block:
    page: Path
    line: int  # of the block's first line of code in the page, 1-based
    language: str
    text: str
    skip: str | None  # the reason of a ``docs-test: skip`` marker
    section: str  # the title of the section the block is in


class MarkerError(ValueError):
    """A ``docs-test`` comment that is malformed or marks nothing."""


def blocks(page: Path) -> list[Block]:
    """Every literal block of ``page``, in order."""
    source = page.read_text()
    tree = docutils.core.publish_doctree(
        source,
        source_path=str(page),
        settings_overrides={"report_level": 4, "syntax_highlight": "none"},
    )
    lines = source.splitlines()
    found: list[Block] = []
    searched_to = 0
    for node in tree.findall(_is_literal_or_marker):
        if isinstance(node, docutils.nodes.comment):
            _check_marker_position(page, node)
            continue
        assert isinstance(node, docutils.nodes.literal_block)
        text = node.astext()
        line, searched_to = _locate(lines, text, searched_to, page)
        classes = [c for c in node["classes"] if c != "code"]
        found.append(
            Block(
                page=page,
                line=line,
                language=classes[0] if classes else "python",
                text=text,
                skip=_skip_reason(node),
                section=_section_title(node),
            )
        )
    return found


def _section_title(node: docutils.nodes.Element) -> str:
    parent = node.parent
    while parent is not None and not isinstance(parent, docutils.nodes.section):
        parent = parent.parent
    if parent is None:
        return ""
    title = parent.next_node(docutils.nodes.title)
    return "" if title is None else title.astext()


def _is_literal_or_marker(node: docutils.nodes.Node) -> bool:
    if isinstance(node, docutils.nodes.literal_block):
        return True
    return isinstance(node, docutils.nodes.comment) and node.astext().startswith(
        "docs-test"
    )


def _marker(node: docutils.nodes.Node) -> tuple[str, str]:
    match = MARKER.fullmatch(node.astext().strip())
    if match is None or match["verb"] != "skip" or not match["reason"].strip():
        msg = f"{node.astext()!r}: expected 'docs-test: skip: REASON'"
        raise MarkerError(msg)
    return match["verb"], " ".join(match["reason"].split())


def _check_marker_position(page: Path, node: docutils.nodes.Node) -> None:
    _marker(node)
    following = node.next_node(descend=False, siblings=True)
    if not isinstance(following, docutils.nodes.literal_block):
        msg = f"{page.name}: {node.astext()!r} is not followed by a code block"
        raise MarkerError(msg)


def _skip_reason(node: docutils.nodes.Element) -> str | None:
    parent = node.parent
    if parent is None:
        return None
    index = parent.index(node)
    if index == 0:
        return None
    previous = parent[index - 1]
    if isinstance(previous, docutils.nodes.comment) and previous.astext().startswith(
        "docs-test"
    ):
        return _marker(previous)[1]
    return None


def _locate(lines: list[str], text: str, start: int, page: Path) -> tuple[int, int]:
    """The 1-based line of ``text``'s first line in the page, from ``start``,
    and where the block ends (so the next search starts after it)."""
    first = text.splitlines()[0].strip()
    for index in range(start, len(lines)):
        if lines[index].strip() == first:
            return index + 1, index + len(text.splitlines())
    msg = f"{page.name}: cannot find the code block starting {first!r}"
    raise LookupError(msg)


# -- running a page's Python ---------------------------------------------------


def _engine_factory() -> Callable[..., Any]:
    from inngest_transports.testing import TestEngine  # noqa: PLC0415

    def make(client: Any, functions: Any, **options: Any) -> Any:
        return TestEngine(client, functions, **options)

    return make


def _trigger() -> Callable[..., Any]:
    from inngest_transports.testing import trigger  # noqa: PLC0415

    return trigger


#: The pytest plugin's fixtures, as a ``test_*`` function of a page gets them.
FIXTURES: dict[str, Callable[[], Any]] = {
    "inngest_engine": _engine_factory,
    "inngest_trigger": _trigger,
}


def _compile(block: Block) -> Any:
    tree = ast.parse(block.text, filename=str(block.page))
    ast.increment_lineno(tree, block.line - 1)
    return compile(tree, str(block.page), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


async def _wait(awaitable: Any) -> Any:
    return await awaitable


def _global_names_used_in_functions(block: Block) -> Iterator[str]:
    """Names the block's function and class bodies look up as globals."""
    table = symtable.symtable(block.text, str(block.page), "exec")
    pending = list(table.get_children())
    while pending:
        scope = pending.pop()
        pending.extend(scope.get_children())
        for symbol in scope.get_symbols():
            if symbol.is_referenced() and symbol.is_global():
                yield symbol.get_name()


def run_page(page: Path) -> None:
    """Run the page's Python blocks in order; raises what a block raises."""
    import builtins  # noqa: PLC0415

    import anyio  # noqa: PLC0415
    import anyio.from_thread  # noqa: PLC0415

    from inngest_transports.devserver import DevServer  # noqa: PLC0415

    python = [b for b in blocks(page) if b.language == "python" and b.skip is None]
    # Not "__main__": a script's ``if __name__ == "__main__":`` part, which
    # serves until a signal, is left out (the quick start test runs one).
    # A module in sys.modules, as the reader's own would be: annotations are
    # resolved through the module of their class.
    module = types.ModuleType("docs_page")
    sys.modules[module.__name__] = module
    namespace: dict[str, Any] = module.__dict__
    with anyio.from_thread.start_blocking_portal() as portal:
        dev = DevServer(port=0, retry_scale=0, poll=False)
        _, url = portal.start_task(dev.serve)
        os.environ.update(ENVIRONMENT, INNGEST_DEV=url)
        try:
            for block in python:
                before = dict(namespace)
                code = _compile(block)
                result = eval(code, namespace)  # the docs' own code
                if code.co_flags & inspect.CO_COROUTINE:
                    anyio.run(_wait, result)
                for name, value in list(namespace.items()):
                    if (
                        name.startswith("test_")
                        and callable(value)
                        and before.get(name) is not value
                    ):
                        _call_test(value)
            for block in python:
                for name in _global_names_used_in_functions(block):
                    if name not in namespace and not hasattr(builtins, name):
                        msg = (
                            f"{page.name}, block at line {block.line}: "
                            f"{name!r} is used but never defined on the page"
                        )
                        raise NameError(msg)
        finally:
            portal.call(dev.shutdown)


def _call_test(function: Callable[..., Any]) -> None:
    wanted = list(inspect.signature(function).parameters)
    missing = [name for name in wanted if name not in FIXTURES]
    if missing:
        msg = f"{function.__name__} asks for fixtures the docs test lacks: {missing}"
        raise LookupError(msg)
    arguments = {name: FIXTURES[name]() for name in wanted}
    result = function(**arguments)
    if inspect.iscoroutine(result):
        import anyio  # noqa: PLC0415

        anyio.run(_wait, result)


if __name__ == "__main__":
    run_page(Path(sys.argv[1]))
