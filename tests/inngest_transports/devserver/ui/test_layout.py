"""Every page at desktop and phone widths, light and dark: nothing overflows
the viewport sideways (wide tables scroll inside their box), the header fits,
the dark theme follows the system, the keyboard reaches every action.
Screenshots of each page at 1280 and 390 px (and dark at 1280) go to the
screenshot folder."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from inngest_transports.connect import WorkerConnection

from ._pages import assert_local_only, open_finished_run, open_page, shot
from ._webdriver import Browser
from .conftest import TIMEOUT, Env

#: Desktop, phone, the narrowest phone we support, and where the header broke.
WIDTHS = (1280, 390, 360, 420)
SHOT_WIDTHS = (1280, 390)
HEIGHT = 900


@pytest.fixture
def sized(browser: Browser) -> Iterator[Browser]:
    """The browser, put back at 1280 x 800 and the system's theme after."""
    try:
        yield browser
    finally:
        browser.color_scheme("")
        browser.set_viewport(1280, 800)


def _overflow(browser: Browser) -> list[str]:
    """What sticks out sideways: the page, and the header's own content."""
    found = browser.execute(
        "const out = [];"
        "const doc = document.documentElement;"
        "if (doc.scrollWidth > window.innerWidth) out.push("
        "  'page ' + doc.scrollWidth + ' > ' + window.innerWidth);"
        "const bar = document.querySelector('.topbar');"
        "if (bar && bar.scrollWidth > bar.clientWidth) out.push("
        "  'header ' + bar.scrollWidth + ' > ' + bar.clientWidth);"
        "return out;"
    )
    return [str(item) for item in found]


def _pages(browser: Browser, env: Env) -> dict[str, tuple[str, str]]:
    """name -> (route, body[data-page]) of every page of the UI, with data."""
    done = env.run_id_of(env.send("ui/quick", {"n": 2, "tag": uuid.uuid4().hex}))
    browser.wait_until(
        lambda: env.api(f"/ui/api/runs/{done}")["data"]["status"] == "Completed",
        TIMEOUT,
        "the run to complete",
    )
    failed = env.run_id_of(env.send("ui/flaky", {"failures": 5}))
    browser.wait_until(
        lambda: env.api(f"/ui/api/runs/{failed}")["data"]["status"] == "Failed",
        TIMEOUT,
        "the run to fail",
    )
    return {
        "runs": ("runs", "runs"),
        "run": (f"runs/{done}", "run"),
        "run-failed": (f"runs/{failed}", "run"),
        "events": ("events", "events"),
        "functions": ("functions", "functions"),
        "apps": ("apps", "apps"),
        "workers": ("workers", "workers"),
        # The JavaScript-free pages: a path, not a route.
        "plain": ("/ui/plain", ""),
        "plain-run": (f"/ui/plain/runs/{done}", ""),
    }


def _open(browser: Browser, env: Env, route: str, page: str) -> None:
    if not page:  # a plain page
        browser.navigate(env.url + route)
        return
    open_page(browser, env, route, page)
    if page == "run":
        browser.wait_for("#timeline", TIMEOUT)


def test_every_page_fits_every_width_with_screenshots(
    sized: Browser, env: Env, shots: Path, connect_worker: WorkerConnection
) -> None:
    browser = sized
    pages = _pages(browser, env)
    problems = []
    for width in WIDTHS:
        browser.set_viewport(width, HEIGHT)
        for name, (route, page) in pages.items():
            _open(browser, env, route, page)
            problems += [f"{name} at {width}px: {p}" for p in _overflow(browser)]
            assert_local_only(browser, env)
            if width in SHOT_WIDTHS:
                shot(browser, shots, f"{name}-{width}")
    assert not problems


def test_dark_theme_follows_the_system(
    sized: Browser, env: Env, shots: Path, connect_worker: WorkerConnection
) -> None:
    browser = sized
    pages = _pages(browser, env)
    background = "return getComputedStyle(document.body).backgroundColor;"
    browser.color_scheme("light")
    open_page(browser, env, "runs", "runs")
    light = browser.execute(background)
    browser.color_scheme("dark")
    open_page(browser, env, "runs", "runs")
    dark = browser.execute(background)
    assert light != dark
    # Dark means dark: the body's background is darker than mid-grey.
    channels = [int(c) for c in str(dark).strip("rgba()").split(",")[:3]]
    assert sum(channels) < 3 * 64, dark
    for name, (route, page) in pages.items():
        _open(browser, env, route, page)
        shot(browser, shots, f"{name}-1280-dark")
    browser.set_viewport(390, HEIGHT)
    open_page(browser, env, pages["run"][0], "run")
    shot(browser, shots, "run-390-dark")


def test_the_keyboard_reaches_the_run_actions(sized: Browser, env: Env) -> None:
    browser = sized
    run_id = open_finished_run(browser, env, "ui/quick", {"n": 8})
    browser.wait_for("button.rerun-from", TIMEOUT)
    # Tab through the page from the top: every action and trace row is a stop.
    reached = browser.execute(
        "const stops = Array.from(document.querySelectorAll("
        "  'a[href], button:not([disabled]), input, select, textarea, [tabindex]'))"
        "  .filter(e => e.tabIndex >= 0 && e.offsetParent !== null);"
        "return stops.map(e => e.id || e.className || e.tagName);"
    )
    names = [str(n) for n in reached]
    assert "rerun-run" in names
    assert any("rerun-from" in n for n in names)
    assert any("trace-row" in n for n in names)
    # Enter on the focused "Rerun from this step" button starts the rerun.
    button = browser.find("button.rerun-from")
    browser.execute(
        "arguments[0].focus();", {"element-6066-11e4-a52e-4f735466cecf": button.id}
    )
    button.send_keys("\ue007")  # Enter
    browser.wait_until(
        lambda: "#/runs/" in browser.url and not browser.url.endswith(run_id),
        TIMEOUT,
        "the rerun's page",
    )
