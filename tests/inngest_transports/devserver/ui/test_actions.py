"""The UI's actions and views in headless Chromium: invoke, rerun (from a
step), bulk cancel, links between runs, the trace, why a run waited, flow
control in words, cron ticks, removing an app, the Connect workers page and
an honest re-sync of a Connect app."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from inngest_transports.connect import WorkerConnection

from ._pages import (
    finished_run,
    open_finished_run,
    open_page,
    run_status,
    shot,
    text_json,
    timeline,
    wait_page,
)
from ._webdriver import Browser, Element
from .conftest import APP_ID, CONNECT_APP_ID, TIMEOUT, Env


def _on_run_page(browser: Browser, env: Env, other_than: str) -> str:
    """The run id of the run page the browser went to (not ``other_than``)."""

    def moved() -> str:
        url = browser.url
        if "#/runs/" not in url:
            return ""
        run_id = url.rsplit("/", 1)[-1]
        return run_id if run_id != other_than else ""

    run_id = browser.wait_until(moved, TIMEOUT, "a new run's page")
    wait_page(browser, env, "run")
    return run_id


def _accept_confirms(browser: Browser) -> None:
    """Answer the page's ``confirm()`` dialogs with OK (WebDriver cannot
    click a dialog that blocks the script it runs)."""
    browser.execute("window.confirm = () => true;")


def test_invoke_a_function_with_a_payload_from_the_functions_page(
    browser: Browser, env: Env, shots: Path
) -> None:
    open_page(browser, env, "functions", "functions")
    tag = uuid.uuid4().hex
    browser.wait_for(f'button.invoke-fn[data-function-id="{APP_ID}-quick"]').click()
    data = browser.find("#invoke-data")
    # The button put the focus in the payload: keyboard users type at once.
    assert browser.execute("return document.activeElement.id;") == "invoke-data"
    assert browser.find("#invoke-function").prop("value") == f"{APP_ID}-quick"
    data.clear()
    data.send_keys(json.dumps({"n": 42, "tag": tag}))
    shot(browser, shots, "functions-invoke")
    browser.find('#invoke-form [type="submit"]').click()
    run_id = _on_run_page(browser, env, "")
    run_status(browser, "Completed")
    assert text_json(browser.find("#run-output")) == {"a": "A", "b": "AB", "n": 42}
    assert "Invoked from the UI or the API" in browser.find("#run-links").text
    run = env.api(f"/ui/api/runs/{run_id}")["data"]
    assert run["events"][0]["name"] == "inngest/function.invoked"
    assert run["events"][0]["data"]["tag"] == tag


def test_rerun_from_a_step_keeps_the_steps_before_it(
    browser: Browser, env: Env, shots: Path
) -> None:
    first = open_finished_run(browser, env, "ui/quick", {"n": 5})
    second = browser.retrying(lambda: timeline(browser)["second"])
    second_id = second.attribute("data-step-id")
    browser.retrying(
        lambda: timeline(browser)["second"].find("button.rerun-from")
    ).click()
    new_id = _on_run_page(browser, env, first)
    run_status(browser, "Completed")
    new = env.api(f"/ui/api/runs/{new_id}")["data"]
    assert (new["rerun_of"], new["rerun_from_step"]) == (first, second_id)
    assert new["output"] == {"a": "A", "b": "AB", "n": 5}
    # Step "first" was not run again: the new run never called it.
    ran = [i["name"] for i in new["timeline"] if i["kind"] == "run" and i["attempts"]]
    assert ran == ["second"]
    reused = browser.retrying(lambda: timeline(browser)["first"].find(".step-reused"))
    assert "Result reused from run" in reused.text
    link = browser.wait_for(f'#run-links a.rerun-of[data-run-id="{first}"]', TIMEOUT)
    assert "from step second" in browser.find("#run-links").text
    shot(browser, shots, "run-rerun-from-step")
    link.click()
    wait_page(browser, env, "run")
    browser.wait_for(f'#run-links a.rerun[data-run-id="{new_id}"]', TIMEOUT)


def test_bulk_cancel_from_a_filtered_list(
    browser: Browser, env: Env, shots: Path
) -> None:
    _accept_confirms(browser)
    ids = [env.run_id_of(env.send("ui/sleeper", {"k": uuid.uuid4().hex})) for _ in "ab"]
    open_page(browser, env, f"runs?function={APP_ID}-sleeper&status=Running", "runs")
    _accept_confirms(browser)
    for run_id in ids:
        box = browser.wait_for(f'input.select-run[data-run-id="{run_id}"]', TIMEOUT)
        box.click()
    assert browser.find("#bulk-cancel").text == "Cancel 2 selected"
    shot(browser, shots, "runs-bulk")
    browser.find("#bulk-cancel").click()
    browser.wait_until(
        lambda: browser.find("#bulk-result").attribute("data-done") == "2",
        TIMEOUT,
        "two runs cancelled",
    )
    for run_id in ids:
        assert env.api(f"/ui/api/runs/{run_id}")["data"]["status"] == "Cancelled"


def test_bulk_rerun_and_select_all(browser: Browser, env: Env) -> None:
    first = env.run_id_of(env.send("ui/quick", {"n": 9}))
    finished_run(browser, env, first)
    open_page(browser, env, f"runs?function={APP_ID}-quick", "runs")
    browser.wait_for(f'input.select-run[data-run-id="{first}"]', TIMEOUT)
    browser.find("#select-all").click()
    boxes = browser.find_all("input.select-run")
    assert boxes
    assert all(b.prop("checked") for b in boxes)
    browser.find("#select-all").click()  # and none again
    assert not any(b.prop("checked") for b in browser.find_all("input.select-run"))
    browser.find(f'input.select-run[data-run-id="{first}"]').click()
    browser.find("#bulk-rerun").click()
    browser.wait_until(
        lambda: browser.find("#bulk-result").attribute("data-done") == "1",
        TIMEOUT,
        "one run rerun",
    )
    reruns = [r for r in env.api("/ui/api/runs")["data"] if r.get("rerun_of") == first]
    assert len(reruns) == 1


def test_an_invoke_links_to_its_child_run_and_back(
    browser: Browser, env: Env, shots: Path
) -> None:
    parent = open_finished_run(browser, env, "ui/parent", {"n": 3})
    call = browser.retrying(lambda: timeline(browser)["call-quick"])
    # A finished invoke does not "time out" any more, and does not tick.
    assert not call.find_all(".step-deadline")
    assert not call.find_all(".live-time")
    shot(browser, shots, "run-invoke")
    call.find("a.child-run").click()
    wait_page(browser, env, "run")
    run_status(browser, "Completed")
    browser.wait_for(f'#run-links a.invoked-by[data-run-id="{parent}"]', TIMEOUT)


def test_a_cancelled_sleep_stops_ticking(browser: Browser, env: Env) -> None:
    run_id = env.run_id_of(env.send("ui/sleeper", {"k": uuid.uuid4().hex}))
    open_page(browser, env, f"runs/{run_id}", "run")
    browser.wait_until(lambda: "nap" in timeline(browser), TIMEOUT, "the nap")
    env.http.post(f"/ui/api/runs/{run_id}/cancel")
    run_status(browser, "Cancelled")
    nap = browser.retrying(lambda: timeline(browser)["nap"])
    assert nap.attribute("data-status") == "cancelled"
    assert not nap.find_all(".live-time")
    assert not nap.find_all(".step-deadline")
    assert nap.find(".step-duration").text.strip() not in ("", "—")


def test_the_trace_shows_steps_along_the_run(
    browser: Browser, env: Env, shots: Path
) -> None:
    open_finished_run(browser, env, "ui/quick", {"n": 1})

    def rows() -> dict[str, Element]:
        return {
            str(r.attribute("data-step-name")): r
            for r in browser.find_all("#trace .trace-row")
        }

    shown = browser.retrying(rows)
    assert {"first", "second"} <= set(shown)
    # A run that never waited has no delay list, not a stray "null" text.
    stray = browser.execute(
        "return Array.from(document.querySelector('.page-run .region').childNodes)"
        ".filter(n => n.nodeType === Node.TEXT_NODE).map(n => n.textContent);"
    )
    assert stray == []
    bars = browser.execute(
        "return Array.from(document.querySelectorAll('#trace .trace-bar'))"
        ".map(b => [b.closest('.trace-row').dataset.stepName,"
        " parseFloat(b.style.left), parseFloat(b.style.width)]);"
    )
    place = {name: (left, width) for name, left, width in bars}
    for name in ("first", "second"):
        left, width = place[name]
        assert 0 <= left <= 100
        assert 0 <= left + width <= 100.01
    assert place["first"][0] <= place["second"][0]  # in the order they ran
    # Each row is reachable with the keyboard and says what it is.
    first = shown["first"]
    assert first.attribute("tabindex") == "0"
    assert "first" in str(first.attribute("aria-label"))
    shot(browser, shots, "run-trace")


def test_a_throttled_run_says_why_it_waits(
    browser: Browser, env: Env, shots: Path
) -> None:
    key = uuid.uuid4().hex
    env.run_id_of(env.send("ui/throttled", {"k": key}))
    waiting = env.run_id_of(env.send("ui/throttled", {"k": key}))
    open_page(browser, env, f"runs/{waiting}", "run")
    run_status(browser, "Queued")
    delay = browser.wait_for('#run-delays li.delay[data-reason="throttle"]', TIMEOUT)
    assert "Throttled" in delay.text
    # Still ahead: when it may start and how long that is from now.
    assert " until " in delay.text
    assert "(in " in delay.text
    assert "in all" in delay.text
    assert browser.find_all('#trace .trace-row[data-kind="delay"]')
    shot(browser, shots, "run-throttled")


def test_functions_show_next_cron_ticks_and_flow_in_words(
    browser: Browser, env: Env
) -> None:
    open_page(browser, env, "functions", "functions")
    css = f'tr.function-row[data-function-id="{APP_ID}-weekly"]'
    row = browser.wait_for(css, TIMEOUT)
    ticks = browser.retrying(lambda: browser.find_all(f"{css} .ticks li.tick"))
    assert len(ticks) == 3
    assert ticks[0].text.startswith("Next: ")
    throttle = browser.find(f'{css} dd[data-setting="throttle"]').text
    assert throttle.startswith("starts 1 run per 1m, per event.data.k")
    assert "weekly" in row.text


def test_remove_an_unreachable_app(
    browser: Browser, env: Env, shots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(env.dev.apps, "_attempts", 1)
    down = "http://127.0.0.1:9/api/inngest"
    env.portal.call(env.dev.sync_app, down)
    open_page(browser, env, "apps", "apps")
    _accept_confirms(browser)
    row = browser.wait_for(f'tr.app-row[data-app-url="{down}"]', TIMEOUT)
    assert row.attribute("data-status") == "unreachable"
    assert "127.0.0.1:9 (unreachable, never synced)" in row.text
    assert "(unnamed)" not in row.text
    shot(browser, shots, "apps-unreachable")
    row.find("button.remove-app").click()
    browser.wait_until(
        lambda: not browser.find_all(f'tr.app-row[data-app-url="{down}"]'),
        TIMEOUT,
        "the app to go",
    )
    assert down not in {a["url"] for a in env.api("/ui/api/apps")["data"]}


def test_workers_page_and_connect_resync(
    browser: Browser, env: Env, shots: Path, connect_worker: WorkerConnection
) -> None:
    open_page(browser, env, "workers", "workers")
    row = browser.wait_for('tr.worker-row[data-state="ready"]', TIMEOUT)
    text = row.text
    assert "ui-worker" in text
    assert CONNECT_APP_ID in text
    assert "0 / 4" in text  # in flight / capacity
    assert "ago" in text  # the last heartbeat
    shot(browser, shots, "workers")

    # Heartbeats change nothing the version counts: the page reloads anyway.
    def heartbeat() -> str:
        return browser.find("tr.worker-row td:last-child").text

    seen = heartbeat()
    browser.wait_until(lambda: heartbeat() != seen, TIMEOUT, "a fresher heartbeat age")

    open_page(browser, env, "apps", "apps")
    css = 'tr.app-row[data-kind="connect"]'
    app = browser.wait_for(css, TIMEOUT)
    assert "1 worker connected" in app.text
    app.find("button.resync").click()
    browser.wait_until(
        lambda: (
            "sync when a worker connects" in browser.find(f"{css} .resync-result").text
        ),
        TIMEOUT,
        "what a Connect re-sync does",
    )
    assert "Synced." not in browser.find(css).text


def test_the_trace_shows_each_attempt_of_a_retried_step(
    browser: Browser, env: Env, shots: Path
) -> None:
    open_finished_run(browser, env, "ui/flaky", {"failures": 1})
    css = '#trace .trace-row[data-step-name="shaky"] .trace-attempt'
    attempts = browser.retrying(lambda: browser.find_all(css))
    statuses = [a.attribute("data-attempt") for a in attempts]
    assert statuses == ["0", "1"]
    assert "status-failed" in str(attempts[0].attribute("class"))
    assert "status-completed" in str(attempts[1].attribute("class"))
    shot(browser, shots, "run-trace-retried")
