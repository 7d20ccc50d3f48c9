"""The UI's acceptance, in headless Chromium: send an event from the form,
watch the run appear and finish, open its timeline, see a failed step's
error, cancel a sleeping run; filters and rerun besides.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

from ._pages import (
    assert_local_only,
    nav,
    open_page,
    run_row,
    run_status,
    shot,
    text_json,
    timeline,
    wait_page,
)
from ._webdriver import Browser, Element
from .conftest import TIMEOUT, Env, quick_fn_id


def send_from_form(browser: Browser, env: Env, name: str, data: dict[str, Any]) -> str:
    """Send an event with the events page's form; the id ``#send-result`` shows."""
    open_page(browser, env, "events", "events")
    fill_and_submit(browser, name, json.dumps(data))

    def sent_id() -> str | None:
        shown = browser.find("#send-result").text
        if not shown.strip():
            return None
        events = env.api("/ui/api/events?limit=50")["data"]
        ids = [e["id"] for e in events if e["name"] == name and e["id"] in shown]
        assert len(ids) <= 1, (shown, ids)
        return ids[0] if ids else None

    found = browser.wait_until(
        sent_id, TIMEOUT, "#send-result to show the new event's id"
    )
    assert found is not None  # wait_until returns only a truthy value.
    return found


def fill_and_submit(browser: Browser, name: str, data: str) -> None:
    """Type into the events page's form and submit it."""
    form = browser.find("form#send-event")
    field = form.find('input[name="name"]')
    field.clear()
    field.send_keys(name)
    payload = form.find('textarea[name="data"]')
    payload.clear()
    payload.send_keys(data)
    form.find('button[type="submit"]').click()


def finished(env: Env, run_id: str) -> dict[str, Any]:
    """The run from the ``/v1`` API, once it is no longer Running."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        run: dict[str, Any] = env.api(f"/v1/runs/{run_id}")["data"]
        if run["status"] != "Running":
            return run
        assert time.monotonic() < deadline, f"run {run_id} still running"
        time.sleep(0.05)


#: A duration as a person reads it: "6.5 ms", "1.2 s", "2m 3s".
DURATION = re.compile(r"\d\s*(µs|us|ms|s|m|h)\b")


def attempts(item: Element) -> list[Element]:
    return item.find_all("li.attempt")


def test_send_event_from_form_run_completes_with_timeline(
    browser: Browser, env: Env, shots: Path
) -> None:
    data = {"n": 7, "tag": uuid.uuid4().hex}
    event_id = send_from_form(browser, env, "ui/quick", data)
    row = browser.wait_for(f'tr.event-row[data-event-id="{event_id}"]', TIMEOUT)
    assert text_json(row.find("pre.event-data")) == data
    shot(browser, shots, "events")
    run_id = env.run_id_of(event_id)

    # The runs list (reached without a reload) shows the run reach Completed.
    nav(browser, env, "runs", "runs")
    row = run_row(browser, run_id, "Completed")
    assert "Quick two steps" in row.text
    assert_local_only(browser, env)

    row.find("a.run-link").click()
    wait_page(browser, env, "run")
    assert browser.url.endswith(f"#/runs/{run_id}")
    run_status(browser, "Completed")

    def check() -> None:
        output = text_json(browser.find("#run-output"))
        assert output == {"a": "A", "b": "AB", "n": 7}
        items = timeline(browser)
        assert list(items) == ["first", "second"]
        for item in items.values():
            assert item.attribute("data-kind") == "run"
            assert item.attribute("data-status") == "completed"
            duration = item.find(".step-duration").text
            assert DURATION.search(duration), duration
            (attempt,) = attempts(item)
            assert attempt.attribute("data-status") == "completed"
        assert not browser.find_all("#run-error")

    browser.retrying(check)
    shot(browser, shots, "run")


def test_send_form_shows_the_apis_error(browser: Browser, env: Env) -> None:
    def newest_event() -> str | None:
        events = env.api("/ui/api/events?limit=1")["data"]
        return str(events[0]["id"]) if events else None

    def result_shows(text: str) -> None:
        browser.wait_until(
            lambda: text in browser.find("#send-result").text,
            TIMEOUT,
            f"#send-result to show {text!r}",
        )

    open_page(browser, env, "events", "events")
    before = newest_event()
    errors = []
    for name, data in (("", {}), ("ui/quick", [1, 2])):
        # The API's own answer to the same body (rejected: nothing is sent).
        answer = env.http.post("/ui/api/events", json={"name": name, "data": data})
        assert answer.status_code == 400, answer.text
        errors.append(answer.json()["error"])
        fill_and_submit(browser, name, json.dumps(data))
        result_shows(errors[-1])
    assert errors[0] != errors[1]  # So the second wait saw a new answer.
    # Not JSON at all: the page says so before asking the API.
    fill_and_submit(browser, "ui/quick", '{"n": ')
    result_shows("JSON")
    assert newest_event() == before


def test_failed_step_shows_its_error_and_stack(
    browser: Browser, env: Env, shots: Path
) -> None:
    run_id = env.run_id_of(env.send("ui/flaky", {"failures": 2}))
    assert finished(env, run_id)["status"] == "Failed"
    open_page(browser, env, f"runs/{run_id}", "run")
    run_status(browser, "Failed")

    def check() -> None:
        error = browser.find("#run-error")
        assert "flaky failure on attempt 1" in error.find(".error-message").text
        assert "ValueError" in error.find(".error-name").text
        assert error.find("pre.error-stack").prop("textContent").strip()

        (item,) = timeline(browser).values()
        assert item.attribute("data-step-name") == "shaky"
        assert item.attribute("data-status") == "failed"
        tries = attempts(item)
        numbers = [a.attribute("data-attempt") for a in tries]
        assert numbers in (["0", "1"], ["1", "2"]), numbers  # 0- or 1-based
        assert tries[-1].attribute("data-status") == "failed"
        for number, attempt in enumerate(tries):
            assert attempt.attribute("data-status") in ("failed", "retrying")
            step_error = attempt.find(".step-error")
            # Both attempts' errors are on screen, not in collapsed sections.
            message = step_error.find(".error-message").text
            assert f"flaky failure on attempt {number}" in message
            assert "ValueError" in step_error.find(".error-name").text
            stack = step_error.find("pre.error-stack").prop("textContent")
            assert "Traceback" in stack, stack
            assert "flaky failure on attempt" in stack, stack

    browser.retrying(check)
    shot(browser, shots, "run-failed")


def test_retried_step_that_recovers(browser: Browser, env: Env) -> None:
    run_id = env.run_id_of(env.send("ui/flaky", {"failures": 1}))
    assert finished(env, run_id)["status"] == "Completed"
    open_page(browser, env, f"runs/{run_id}", "run")
    run_status(browser, "Completed")

    def check() -> None:
        assert text_json(browser.find("#run-output")) == "steady"
        (item,) = timeline(browser).values()
        assert item.attribute("data-status") == "completed"
        first, second = attempts(item)
        assert first.attribute("data-status") in ("failed", "retrying")
        message = first.find(".step-error .error-message").prop("textContent")
        assert "flaky failure on attempt 0" in message
        assert second.attribute("data-status") == "completed"
        assert not second.find_all(".step-error")

    browser.retrying(check)


def test_filter_runs_by_status_and_function(browser: Browser, env: Env) -> None:
    quick = env.run_id_of(env.send("ui/quick", {"n": 1}))
    failed = env.run_id_of(env.send("ui/flaky", {"failures": 2}))
    assert finished(env, quick)["status"] == "Completed"
    assert finished(env, failed)["status"] == "Failed"
    open_page(browser, env, "runs", "runs")
    run_row(browser, quick)
    run_row(browser, failed)

    def shown() -> set[str]:
        return {str(r.attribute("data-run-id")) for r in browser.find_all("tr.run-row")}

    browser.find("select#filter-status").select("Failed")
    browser.wait_until(lambda: failed in shown() and quick not in shown(), TIMEOUT)
    statuses = browser.retrying(
        lambda: {r.attribute("data-status") for r in browser.find_all("tr.run-row")}
    )
    assert statuses == {"Failed"}

    browser.find("select#filter-status").select("")
    browser.find("select#filter-function").select(quick_fn_id())
    browser.wait_until(lambda: quick in shown() and failed not in shown(), TIMEOUT)


def test_cancel_a_sleeping_run(browser: Browser, env: Env, shots: Path) -> None:
    open_page(browser, env, "runs", "runs")
    # Set on this document: if the page reloaded, the mark would be gone.
    browser.execute("window.__noReload = true;")
    run_id = env.run_id_of(env.send("ui/sleeper", {"k": uuid.uuid4().hex}))
    row = run_row(browser, run_id, "Running")
    assert browser.execute("return window.__noReload === true;"), "the page reloaded"
    # After the other tests, the list holds runs of every status.
    shot(browser, shots, "runs")

    row.find("a.run-link").click()
    wait_page(browser, env, "run")
    run_status(browser, "Running")
    browser.wait_until(lambda: "nap" in timeline(browser), TIMEOUT, "the sleep step")

    def check() -> None:
        items = timeline(browser)
        assert items["before"].attribute("data-status") == "completed"
        nap = items["nap"]
        assert nap.attribute("data-kind") == "sleep"
        assert nap.attribute("data-status") == "sleeping"
        deadline = nap.find(".step-deadline").text
        assert any(c.isdigit() for c in deadline), deadline

    browser.retrying(check)
    shot(browser, shots, "run-sleeping")

    cancel = browser.find("button#cancel-run")
    assert cancel.enabled
    cancel.click()
    run_status(browser, "Cancelled")
    assert not browser.find("button#cancel-run").enabled
    assert env.api(f"/v1/runs/{run_id}")["data"]["status"] == "Cancelled"


def test_rerun_starts_a_new_run_of_the_function(browser: Browser, env: Env) -> None:
    run_id = env.run_id_of(env.send("ui/quick", {"n": 5}))
    assert finished(env, run_id)["status"] == "Completed"
    listing = f"/ui/api/runs?function={quick_fn_id()}&limit=100"
    before = {r["run_id"] for r in env.api(listing)["data"]}
    open_page(browser, env, f"runs/{run_id}", "run")
    run_status(browser, "Completed")
    browser.find("button#rerun-run").click()

    def new_runs() -> set[str]:
        return {r["run_id"] for r in env.api(listing)["data"]} - before

    (new,) = browser.wait_until(new_runs, TIMEOUT, "a new run of the function")
    rerun = finished(env, new)
    assert rerun["status"] == "Completed"
    assert rerun["output"] == {"a": "A", "b": "AB", "n": 5}
