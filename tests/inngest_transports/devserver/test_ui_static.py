"""Static checks of the dev server's web UI files (no server, no browser).

They pin what the browser tests rely on: the files exist, reference nothing outside
the dev server, load each other by the served paths, carry every DOM hook of the UI
contract and call every API route the pages need. The behaviour itself is covered by
the Chromium tests.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess

import pytest

import inngest_transports.devserver

UI = pathlib.Path(inngest_transports.devserver.__file__).parent / "ui"
FILES = ("index.html", "app.js", "app.css")


def _read(name: str) -> str:
    return (UI / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", FILES)
def test_file_exists_and_is_not_empty(name: str) -> None:
    assert (UI / name).is_file()
    assert _read(name).strip()


# Anything that looks like an absolute or protocol-relative URL: a scheme followed by
# "//", or a "//host" where something is loaded (attribute, url(), fetch/import).
_SCHEME_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_PROTOCOL_RELATIVE = re.compile(
    r"""(?:src|href|action|srcset)\s*=\s*["']?\s*//"""
    r"""|url\(\s*["']?\s*//"""
    r"""|(?:fetch|import|open)\s*\(\s*[`"']\s*//"""
    r"""|@import\s+["']?\s*//""",
    re.IGNORECASE,
)


@pytest.mark.parametrize("name", FILES)
def test_no_external_url(name: str) -> None:
    text = _read(name)
    assert _SCHEME_URL.findall(text) == []
    assert _PROTOCOL_RELATIVE.findall(text) == []


def test_every_loaded_resource_is_a_local_path() -> None:
    html = _read("index.html")
    css = _read("app.css")
    targets = re.findall(r"""(?:src|href|action)\s*=\s*["']([^"']*)["']""", html)
    targets += re.findall(r"""url\(\s*["']?([^"')]*)""", css)
    assert targets, "index.html references nothing?"
    for target in targets:
        # Allowed: served UI paths, in-page fragments (#/runs, #i-run), the empty icon.
        assert target.startswith(("/ui/", "#")) or target == "data:,", target


def test_js_fetches_only_the_ui_api() -> None:
    js = _read("app.js")
    assert re.findall(r"""fetch\(\s*([^,)]*)""", js) == ["API + path"]
    assert 'const API = "/ui/api";' in js


def test_index_loads_the_assets_and_has_a_noscript_fallback() -> None:
    html = _read("index.html")
    assert re.search(r"""<script\b[^>]*\bsrc="/ui/app\.js"[^>]*>\s*</script>""", html)
    stylesheet = r'<link\b[^>]*\brel="stylesheet"[^>]*\bhref="/ui/app\.css"'
    assert re.search(stylesheet, html)
    noscript = re.search(r"<noscript>(.*?)</noscript>", html, re.DOTALL)
    assert noscript is not None
    assert 'href="/ui/plain"' in noscript.group(1)
    assert '<main id="main">' in html


@pytest.mark.parametrize("page", ["runs", "events", "functions", "apps"])
def test_nav_links(page: str) -> None:
    nav = re.search(r"<nav>(.*?)</nav>", _read("index.html"), re.DOTALL)
    assert nav is not None
    assert f'<a href="#/{page}">' in nav.group(1)


# Every hook of the UI contract, as it is spelt in app.js (ids and classes as literals,
# data attributes through `dataset` in camelCase or as "data-..." strings).
HOOKS = [
    # body
    "dataset.page",
    "dataset.version",
    # routes
    '"events", "functions", "apps"',
    '"#/runs/"',
    # events page
    'id: "send-event"',
    'name: "name"',
    'name: "data"',
    'type: "submit"',
    'id: "send-result"',
    '"event-row"',
    "eventId:",
    '"event-data',
    '"run-link"',
    "runId",
    # runs page
    'id: "filter-status"',
    'id: "filter-function"',
    '"run-row"',
    "status: r.status",
    # run page
    'id: "run-status"',
    'id: "run-output"',
    'id: "run-error"',
    '"error-name"',
    '"error-message"',
    '"error-stack"',
    'id: "timeline"',
    '"timeline-item',
    "stepName:",
    "kind,",
    "status: item.status",
    '"step-duration"',
    '"step-deadline"',
    '"attempt"',
    "attempt: a.attempt",
    "status: a.status",
    '"step-error"',
    'id: "cancel-run"',
    'id: "rerun-run"',
    # functions page
    '"function-row"',
    "functionId:",
    # apps page
    '"app-row"',
    "appUrl:",
    "status: a.status",
    '"app-error"',
    'class: "resync"',
]


@pytest.mark.parametrize("hook", HOOKS)
def test_js_provides_contract_hook(hook: str) -> None:
    assert hook in _read("app.js")


def test_status_filter_options() -> None:
    js = _read("app.js")
    statuses = '["Queued", "Running", "Completed", "Failed", "Cancelled"]'
    assert f"const RUN_STATUSES = {statuses};" in js
    assert 'el("option", { value: "", text: "All statuses" })' in js
    assert 'el("option", { value: "", text: "All functions" })' in js


API_PATHS = [
    '"/version"',
    '"/apps"',
    '"/apps/resync"',
    '"/functions"',
    '"/events" + query(',
    '"/events/" + encodeURIComponent(route.eventId)',
    '"/events"',
    '"/runs" + query(',
    '"/runs/" + encodeURIComponent(runId)',
    '"/cancel"',
    '"/rerun"',
]


@pytest.mark.parametrize("path", API_PATHS)
def test_js_calls_api_route(path: str) -> None:
    assert path in _read("app.js")


def test_js_never_parses_data_as_html() -> None:
    js = _read("app.js")
    sinks = ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(")
    for sink in (*sinks, "new Function"):
        assert sink not in js, sink


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_js_syntax() -> None:
    node = shutil.which("node")
    assert node is not None
    done = subprocess.run(
        [node, "--check", str(UI / "app.js")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
