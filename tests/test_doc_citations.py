"""Comments and docs cite only documents that are in the repository.

What the code relies on about the protocol is written in ``docs/protocol/``;
a comment cites a page and, when it points at a section, the section's anchor:
``docs/protocol/executor.rst#retries``.  The anchor is the id docutils gives
the section title (lower case, every run of other characters one ``-``).  This
module fails when a citation names a page that does not exist, an anchor the
page does not have, a Markdown note, or a numbered section (``§``) of a
document the repository does not hold.  Standards are cited by number and
section (``RFC 9112 §6.1``) and are allowed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path

import docutils.core
import docutils.nodes
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCANNED = [
    "inngest_proto",
    "inngest_transports",
    "inngest_frameworks",
    "tests",
    "bench",
    "examples",
    "docs",
    "README.rst",
]
SUFFIXES = {
    ".py",
    ".pyi",
    ".proto",
    ".rst",
    ".json",
    ".js",
    ".mjs",
    ".ts",
    ".html",
    ".css",
    ".toml",
    ".cfg",
    ".ini",
    ".txt",
}
SKIPPED_DIRS = {"__pycache__", "node_modules", ".mypy_cache", ".pytest_cache"}

#: A page of ours: ``docs/...rst``, optionally with ``#anchor``.
_DOCS_CITATION = re.compile(r"(?<![\w/.-])(docs/[\w/.-]*?\.rst)(?:#([\w-]+))?")
#: A page cited without its ``docs/`` path (only docs/protocol pages may).
_BARE_CITATION = re.compile(r"(?<![\w/.-])([\w-]+\.rst)#([\w-]+)")
#: A Markdown document: the notes these citations used to point at.
_MARKDOWN = re.compile(r"(?<![\w/.-])[\w./-]*\w\.md\b")
#: Where a section sign is fine: a standard, ``RFC 9112 §6.1``.
_STANDARD_SECTION = re.compile(r"\bRFC \d+ §")
_FORBIDDEN_WORDS = ("shared/protocol", "SDK_SPEC", "ui_contract")


def _scanned_files() -> Iterator[Path]:
    for name in SCANNED:
        path = ROOT / name
        if path.is_file():
            yield path
            continue
        for file in sorted(path.rglob("*")):
            if SKIPPED_DIRS.intersection(file.relative_to(ROOT).parts):
                continue
            if file.is_file() and file.suffix in SUFFIXES:
                yield file


@functools.cache
def section_anchors(page: Path) -> frozenset[str]:
    """The ids of ``page``'s sections, as docutils makes them."""
    tree = docutils.core.publish_doctree(
        page.read_text(encoding="utf-8"),
        source_path=str(page),
        settings_overrides={"report_level": 5, "halt_level": 5},
    )
    anchors: set[str] = set()
    for section in tree.findall(docutils.nodes.section):
        anchors.update(section["ids"])
        anchors.update(docutils.nodes.make_id(name) for name in section["names"])
    return frozenset(anchors)


def _check_page(page: Path, anchor: str | None, cited: str) -> str | None:
    if not page.is_file():
        return f"cites {cited}, which is not in the repository"
    if anchor is not None and anchor not in section_anchors(page):
        known = ", ".join(sorted(section_anchors(page)))
        return f"cites {cited}, but {page.name} has no section #{anchor} ({known})"
    return None


def citation_problems(text: str, where: Path) -> list[str]:
    """What is wrong with the citations in ``text``, read from file ``where``."""
    problems: list[str] = []
    in_protocol_docs = where.parent == ROOT / "docs" / "protocol"
    for number, line in enumerate(text.splitlines(), start=1):
        at = f"{where.relative_to(ROOT)}:{number}"
        for match in _DOCS_CITATION.finditer(line):
            problem = _check_page(ROOT / match[1], match[2], match[0])
            if problem:
                problems.append(f"{at}: {problem}")
        for match in _BARE_CITATION.finditer(line):
            if not in_protocol_docs:
                problems.append(
                    f"{at}: cites {match[0]}: name the page by its path "
                    f"(docs/protocol/{match[0]})"
                )
                continue
            problem = _check_page(where.parent / match[1], match[2], match[0])
            if problem:
                problems.append(f"{at}: {problem}")
        for match in _MARKDOWN.finditer(line):
            problems.append(
                f"{at}: cites {match[0]}; what the code relies on belongs in "
                "docs/ (reStructuredText), cited as docs/PAGE.rst#section"
            )
        if "§" in _STANDARD_SECTION.sub("", line):
            problems.append(
                f"{at}: a numbered section (§) of a document that is not in the "
                "repository; cite docs/PAGE.rst#section instead"
            )
        problems.extend(
            f"{at}: mentions {word}, which is not in the repository"
            for word in _FORBIDDEN_WORDS
            if word in line
        )
    return problems


def test_every_citation_names_a_page_and_section_we_have() -> None:
    problems: list[str] = []
    for file in _scanned_files():
        if file == Path(__file__).resolve():
            continue  # it spells out the forms it forbids
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        problems.extend(citation_problems(text, file))
    assert not problems, "\n".join(problems)


def test_the_protocol_pages_exist_and_render_without_warnings() -> None:
    pages = sorted((ROOT / "docs" / "protocol").glob("*.rst"))
    assert {"index.rst", "http.rst", "steps.rst", "executor.rst"} <= {
        p.name for p in pages
    }
    assert "retries" in section_anchors(ROOT / "docs" / "protocol" / "executor.rst")
    for page in pages:
        docutils.core.publish_doctree(
            page.read_text(encoding="utf-8"),
            source_path=str(page),
            settings_overrides={"report_level": 2, "halt_level": 2},
        )


_HERE = ROOT / "inngest_proto" / "example.py"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("# see docs/protocol/executor.rst#retries", None),
        ("# see docs/protocol/executor.rst", None),
        ("# RFC 9112 §6.1 forbids it", None),
        ("# see docs/protocol/executor.rst#no-such-section", "no section"),
        ("# see docs/protocol/nowhere.rst#retries", "not in the repository"),
        ("# see docs/nowhere.rst", "not in the repository"),
        ("# see executor.rst#retries", "name the page by its path"),
        ("# (executor" + ".md §5.2)", "cites executor.md"),
        ("# (§5.2)", "numbered section"),
        ("# the protocol's auth" + ".md says", "cites auth.md"),
        ("# shared/" + "protocol/README", "mentions shared/protocol"),
    ],
)
def test_the_checker_tells_a_good_citation_from_a_bad_one(
    line: str, expected: str | None
) -> None:
    problems = citation_problems(line, _HERE)
    if expected is None:
        assert problems == []
    else:
        assert problems, line
        assert expected in problems[0]


def test_protocol_pages_may_cite_each_other_by_name() -> None:
    page = ROOT / "docs" / "protocol" / "steps.rst"
    assert citation_problems("``executor.rst#parallel-steps``", page) == []
    bad = citation_problems("``executor.rst#parallel-step``", page)
    assert bad
    assert "no section #parallel-step" in bad[0]
