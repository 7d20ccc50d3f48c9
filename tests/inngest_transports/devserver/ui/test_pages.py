"""The UI's other pages in headless Chromium: functions, apps, events, and
the JavaScript-free fallback pages.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from ._pages import assert_local_only, open_page, shot, text_json, wait_page
from ._webdriver import Browser, Element
from .conftest import APP_ID, TIMEOUT, Env


def test_functions_page_lists_triggers_and_config(
    browser: Browser, env: Env, shots: Path
) -> None:
    open_page(browser, env, "functions", "functions")
    rows = browser.retrying(
        lambda: {
            str(r.attribute("data-function-id")): r.text
            for r in browser.find_all("tr.function-row")
        }
    )
    assert set(rows) >= {f"{APP_ID}-{n}" for n in ("quick", "flaky", "sleeper")}
    quick = rows[f"{APP_ID}-quick"]
    assert "Quick two steps" in quick
    assert "ui/quick" in quick
    # Flow control in words, not JSON.
    assert "Concurrency\n3 steps at a time" in quick
    assert "ui/flaky" in rows[f"{APP_ID}-flaky"]
    assert "each step is retried up to 1 time" in rows[f"{APP_ID}-flaky"]
    sleeper = rows[f"{APP_ID}-sleeper"]
    assert "ui/sleeper" in sleeper
    # Its cancel configuration.
    assert "cancelled by event ui/wake if event.data.k == async.data.k" in sleeper
    assert_local_only(browser, env)
    shot(browser, shots, "functions")


def test_apps_page_shows_the_synced_app_and_resyncs(
    browser: Browser, env: Env, shots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_page(browser, env, "apps", "apps")
    where = urlsplit(env.app.url).netloc

    def our_row() -> Element:
        (row,) = [
            r
            for r in browser.find_all("tr.app-row")
            if where in str(r.attribute("data-app-url"))
        ]
        assert row.attribute("data-status") == "synced"
        assert APP_ID in row.text
        assert not row.find_all(".app-error")
        return row

    row = browser.retrying(our_row)
    shot(browser, shots, "apps")

    # Count the app's syncs (its POSTs to /fn/register) from here on.
    registered: list[object] = []
    register = env.dev.apps.register

    def counting(sync: Any) -> dict[str, Any]:
        registered.append(sync)
        return register(sync)

    monkeypatch.setattr(env.dev.apps, "register", counting)
    row.find("button.resync").click()

    def resynced() -> bool:
        return bool(registered)

    browser.wait_until(resynced, TIMEOUT, "the app to be synced again")
    wait_page(browser, env, "apps")
    browser.retrying(our_row)


def test_events_page_shows_payload_and_run_link(browser: Browser, env: Env) -> None:
    data = {"n": 3, "nested": {"who": "events page"}, "tag": uuid.uuid4().hex}
    event_id = env.send("ui/quick", data)
    run_id = env.run_id_of(event_id)
    open_page(browser, env, "events", "events")
    css = f'tr.event-row[data-event-id="{event_id}"]'
    browser.wait_for(f'{css} a.run-link[data-run-id="{run_id}"]', TIMEOUT)

    def check() -> Element:
        row = browser.find(css)
        assert "ui/quick" in row.text
        assert text_json(row.find("pre.event-data")) == data
        return row.find(f'a.run-link[data-run-id="{run_id}"]')

    browser.retrying(check).click()
    wait_page(browser, env, "run")
    assert browser.url.endswith(f"#/runs/{run_id}")


def test_plain_pages_without_javascript(
    browser: Browser, env: Env, shots: Path
) -> None:
    run_id = env.run_id_of(env.send("ui/quick", {"n": 4}))
    browser.wait_until(
        lambda: env.api(f"/v1/runs/{run_id}")["data"]["status"] == "Completed",
        TIMEOUT,
        "the run to complete",
    )
    browser.navigate(f"{env.url}/ui/plain")
    assert browser.execute("return document.scripts.length;") == 0
    link = browser.find(f'a[href="/ui/plain/runs/{run_id}"]')
    assert "ui/quick" in browser.page_text()
    shot(browser, shots, "plain")

    link.click()
    browser.wait_until(
        lambda: browser.url.endswith(f"/ui/plain/runs/{run_id}"), TIMEOUT
    )
    page = browser.page_text()
    assert "Completed" in page
    assert "first" in page
    assert "second" in page

    # The form posts, the server answers 303 to /ui/plain.
    tag = uuid.uuid4().hex
    browser.navigate(f"{env.url}/ui/plain")
    form = browser.find('form[method="post"][action="/ui/plain/events"]')
    name = form.find('[name="name"]')
    name.clear()
    name.send_keys("ui/quick")
    payload = form.find('[name="data"]')
    payload.clear()
    payload.send_keys(json.dumps({"tag": tag}))
    form.find('[type="submit"]').click()
    browser.wait_until(
        lambda: (
            browser.url == f"{env.url}/ui/plain"
            and any(
                e["data"] == {"tag": tag}
                for e in env.api("/ui/api/events?limit=50")["data"]
            )
        ),
        TIMEOUT,
        "the plain form's event",
    )
    assert_local_only(browser, env)
