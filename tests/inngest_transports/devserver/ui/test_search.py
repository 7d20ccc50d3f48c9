"""Searching and paging the run and event lists in headless Chromium, and
the event page (payload, the runs it started)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from inngest_proto import Event

from ._pages import open_page, shot, text_json, wait_page
from ._webdriver import Browser
from .conftest import TIMEOUT, Env, quick_fn_id

#: Runs made for the paging test: more than the page of 50 the UI asks for.
RUNS = 56


def _send_tagged(env: Env, tag: str, count: int) -> list[str]:
    """``count`` events that start quick runs tagged ``tag``; their ids."""
    events = [Event(name="ui/quick", data={"tag": tag, "n": n}) for n in range(count)]
    return [str(i) for i in env.client.send_sync(events)]


def _wait_finished(env: Env, tag: str, count: int) -> None:
    query = f'event.data.tag == "{tag}"'
    deadline = time.monotonic() + TIMEOUT * 3
    while True:
        done = env.http.get(
            "/ui/api/runs",
            params={"query": query, "status": "Completed", "limit": "1000"},
        ).json()
        if len(done["data"]) == count:
            return
        assert time.monotonic() < deadline, f"{len(done['data'])} of {count} runs done"
        time.sleep(0.1)


def _shown_runs(browser: Browser) -> list[str]:
    return [str(row.attribute("data-run-id")) for row in browser.find_all("tr.run-row")]


def _pager_at(browser: Browser, page: int) -> None:
    browser.wait_for(f'.pager[data-page="{page}"]', TIMEOUT)


def _search(browser: Browser, query: str) -> None:
    field = browser.find("#filter-query")
    field.clear()
    field.send_keys(query)
    browser.find('#run-search button[type="submit"]').click()


def test_search_runs_by_cel_query_and_page_through_them(
    browser: Browser, env: Env, shots: Path
) -> None:
    tag = uuid.uuid4().hex[:10]
    _send_tagged(env, tag, RUNS)
    _wait_finished(env, tag, RUNS)
    open_page(browser, env, "runs", "runs")
    _search(browser, f'event.data.tag == "{tag}"')
    # The search is in the address, so it can be bookmarked.
    browser.wait_until(lambda: tag in browser.url, TIMEOUT, "the query in the hash")
    browser.wait_until(
        lambda: len(_shown_runs(browser)) == 50, TIMEOUT, "a first page of 50"
    )
    _pager_at(browser, 1)
    first = _shown_runs(browser)
    assert not browser.find(".pager-newer").enabled
    shot(browser, shots, "runs-search")

    browser.find(".pager-older").click()
    _pager_at(browser, 2)
    second = _shown_runs(browser)
    assert len(second) == RUNS - 50
    assert not browser.find(".pager-older").enabled
    # Every run once, newest first across the pages, each one of ours.
    assert len(set(first + second)) == RUNS
    for run_id in second[:3]:
        run = env.api(f"/ui/api/runs/{run_id}")["data"]
        assert run["events"][0]["data"]["tag"] == tag
        assert run["function_id"] == quick_fn_id()

    browser.find(".pager-newer").click()
    _pager_at(browser, 1)
    assert _shown_runs(browser) == first


def test_a_bad_query_says_why_next_to_the_filters(browser: Browser, env: Env) -> None:
    open_page(browser, env, "runs", "runs")
    _search(browser, "event.data.(")
    error = browser.wait_for("#search-error:not([hidden])", TIMEOUT)
    assert "query is not a valid expression" in error.text
    assert not browser.find_all("#load-error")
    _search(browser, "")
    browser.wait_for("#search-error[hidden]", TIMEOUT)


def test_filter_runs_by_event_id(browser: Browser, env: Env) -> None:
    (event_id,) = _send_tagged(env, uuid.uuid4().hex[:10], 1)
    run_id = env.run_id_of(event_id)
    open_page(browser, env, "runs", "runs")
    field = browser.find("#filter-event")
    field.send_keys(event_id)
    browser.find('#run-search button[type="submit"]').click()
    browser.wait_until(
        lambda: _shown_runs(browser) == [run_id], TIMEOUT, "only the event's run"
    )


def test_events_hide_internal_ones_until_asked(browser: Browser, env: Env) -> None:
    event_id = env.send("ui/quick", {"n": 1})
    env.run_id_of(event_id)
    open_page(browser, env, "events", "events")
    browser.wait_for(f'tr.event-row[data-event-id="{event_id}"]', TIMEOUT)
    names = [r.find(".event-name").text for r in browser.find_all("tr.event-row")]
    assert names
    assert not [n for n in names if n.startswith("inngest/")]

    browser.find("#show-internal").click()
    browser.wait_for("tr.event-row.internal", TIMEOUT)
    internal = browser.find("tr.event-row.internal .event-name").text
    assert internal.startswith("inngest/function.")
    # The choice is in the address: a reload keeps it.
    assert "internal=1" in browser.url
    open_page(browser, env, "events?internal=1", "events")
    assert browser.find("#show-internal").prop("checked") is True
    browser.wait_for("tr.event-row.internal", TIMEOUT)


def test_events_search_by_name_and_page(browser: Browser, env: Env) -> None:
    name = f"ui/none-{uuid.uuid4().hex[:8]}"  # no function listens: no runs
    ids = [str(i) for i in env.client.send_sync([Event(name=name)] * 55)]
    open_page(browser, env, "events", "events")
    field = browser.find("#filter-event-name")
    field.send_keys(name)
    browser.find('#event-search button[type="submit"]').click()

    def shown() -> list[str]:
        rows = browser.find_all("tr.event-row")
        return [str(r.attribute("data-event-id")) for r in rows]

    browser.wait_until(lambda: len(shown()) == 50, TIMEOUT, "a first page of 50")
    first = shown()
    browser.find(".pager-older").click()
    _pager_at(browser, 2)
    assert len(set(first + shown())) == 55
    assert set(first + shown()) == set(ids)


def test_event_page_shows_the_payload_and_the_runs_it_started(
    browser: Browser, env: Env, shots: Path
) -> None:
    tag = uuid.uuid4().hex[:10]
    event_id = env.send("ui/quick", {"tag": tag, "n": 7})
    run_id = env.run_id_of(event_id)
    open_page(browser, env, "events", "events")
    row = browser.wait_for(f'tr.event-row[data-event-id="{event_id}"]', TIMEOUT)
    row.find("a.event-name").click()
    wait_page(browser, env, "event")
    assert browser.find("#event-name").text == "ui/quick"
    assert browser.find("#event-id").text == event_id
    payload = text_json(browser.find("#event-payload"))
    assert payload["data"] == {"tag": tag, "n": 7}
    assert payload["id"] == event_id
    link = browser.wait_for(f'#event-runs a[href="#/runs/{run_id}"]', TIMEOUT)
    assert "none" in browser.find("#event-resumed").text
    shot(browser, shots, "event")
    link.click()
    wait_page(browser, env, "run")
