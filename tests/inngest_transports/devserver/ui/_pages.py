"""Steps the browser tests share: open a page of the UI, wait for it, capture it.

They use only the DOM hooks of the UI contract (``body[data-page]``,
``body[data-version]``, the ids and classes it lists).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ._webdriver import Browser, Element
from .conftest import TIMEOUT, Env


def open_page(browser: Browser, env: Env, route: str, page: str) -> None:
    """Load the UI afresh at ``#/route`` and wait until ``page`` has rendered.

    Going through ``about:blank`` makes it a real load, not a hash change
    in whatever state the previous test left the page.
    """
    browser.navigate("about:blank")
    browser.navigate(f"{env.url}/#/{route}")
    wait_page(browser, env, page)


def wait_page(browser: Browser, env: Env, page: str, fresh: bool = True) -> None:
    """Wait until ``body[data-page]`` is ``page``, rendered from current data.

    With ``fresh``, also until ``body[data-version]`` has reached the API's
    version as of now, so what the test sent before is on the page.
    """
    version = int(env.api("/ui/api/version")["version"]) if fresh else 0

    def rendered() -> bool:
        body = browser.find("body")
        shown = body.attribute("data-version")
        return body.attribute("data-page") == page and (
            shown is not None and shown.isdigit() and int(shown) >= version
        )

    browser.wait_until(rendered, TIMEOUT, f"page {page!r} at version >= {version}")


def nav(browser: Browser, env: Env, route: str, page: str) -> None:
    """Follow the nav link to ``#/route`` (no reload) and wait for ``page``."""
    browser.find(f'nav a[href="#/{route}"]').click()
    wait_page(browser, env, page)


def shot(browser: Browser, folder: Path, name: str) -> Path:
    """Save the viewport as ``folder/name.png`` (for the docs)."""
    return browser.screenshot(folder / f"{name}.png")


def text_json(element: Element) -> Any:
    """The JSON an element (a ``pre``) shows."""
    text = element.prop("textContent")
    try:
        return json.loads(str(text))
    except ValueError:
        raise AssertionError(f"{element!r} does not show JSON: {text!r}") from None


def assert_local_only(browser: Browser, env: Env) -> None:
    """Every resource the page loaded came from the dev server (no CDN)."""
    names = browser.execute(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".concat([location.href]);"
    )
    foreign = [n for n in names if not str(n).startswith((env.url + "/", "data:"))]
    assert not foreign, f"requests beyond the dev server: {foreign}"


def run_row(browser: Browser, run_id: str, status: str | None = None) -> Element:
    """The runs list's row of ``run_id`` (with ``status``), once shown."""
    css = f'tr.run-row[data-run-id="{run_id}"]'
    if status is not None:
        css += f'[data-status="{status}"]'
    return browser.wait_for(css, TIMEOUT)


def run_status(browser: Browser, status: str) -> None:
    """Wait until the run page's ``#run-status`` says ``status``."""
    browser.wait_until(
        lambda: browser.find("#run-status").text.strip() == status,
        TIMEOUT,
        f"#run-status {status!r}",
    )


def timeline(browser: Browser) -> dict[str, Element]:
    """The run page's timeline items by step name (the function's own excluded)."""
    items = browser.find_all("ol#timeline li.timeline-item")
    return {
        str(item.attribute("data-step-name")): item
        for item in items
        if item.attribute("data-kind") != "function"
    }


def finished_run(browser: Browser, env: Env, run_id: str) -> dict[str, Any]:
    """The run from the UI API, once it has ended."""

    def done() -> dict[str, Any]:
        run: dict[str, Any] = env.api(f"/ui/api/runs/{run_id}")["data"]
        return run if run["status"] in ("Completed", "Failed", "Cancelled") else {}

    return browser.wait_until(done, TIMEOUT, f"run {run_id} to end")


def open_finished_run(
    browser: Browser, env: Env, event: str, data: dict[str, Any]
) -> str:
    """Send ``event``, wait until its run ended and open its page, Completed."""
    run_id = env.run_id_of(env.send(event, data))
    finished_run(browser, env, run_id)
    open_page(browser, env, f"runs/{run_id}", "run")
    run_status(browser, "Completed")
    return run_id
