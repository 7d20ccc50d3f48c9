"""Finalization: lifecycle events, on-failure handlers, cancellation, statuses."""

from __future__ import annotations

from typing import Any

import inngest_proto as inngest
from inngest_proto.executor import RunStatus
from tests.inngest_proto.executor._harness import APP_ID, START, Harness, fake_reply

TRIGGER = inngest.TriggerEvent(event="t/go")


def failing_with_handler(h: Harness, handled: list[Any]) -> inngest.Function[Any]:
    def on_failure(ctx: inngest.ContextSync) -> str:
        handled.append(ctx.event)
        return "handled"

    @h.client.create_function(
        fn_id="main", trigger=TRIGGER, retries=1, on_failure=on_failure
    )
    def main(ctx: inngest.ContextSync) -> None:
        class MyError(Exception):
            pass

        raise MyError("intentional failure")

    return main


def test_a_failed_run_emits_finished_and_failed_and_runs_its_handler() -> None:
    h = Harness()
    handled: list[Any] = []
    h.serve(failing_with_handler(h, handled))
    h.send("t/go", {"k": "v"}, id="evt")
    h.run()
    main = h.only_run("main")
    assert main.status is RunStatus.FAILED
    names = [e["name"] for e in h.emitted]
    assert names == ["inngest/function.finished", "inngest/function.failed"]
    finished, failed = h.emitted
    assert failed["id"] == main.run_id
    assert failed["data"] == finished["data"]
    data = failed["data"]
    assert data["function_id"] == f"{APP_ID}-main"
    assert data["run_id"] == main.run_id
    assert data["event"]["id"] == "evt"
    assert data["events"] == [data["event"]]
    assert data["_inngest"] == {"status": "Failed"}
    assert data["error"] == {
        "error": "invalid status code: 500",
        "name": "MyError",
        "message": "intentional failure",
        "stack": data["result"]["stack"],
    }
    assert data["result"]["code"] == "unknown"  # the raw SDK error body
    assert "correlation_id" not in data
    # The -failure function ran once, on the failed event, and emitted nothing.
    handler = h.only_run("main-failure")
    assert handler.status is RunStatus.COMPLETED
    assert handler.output == "handled"
    assert len(handled) == 1
    assert handled[0].name == "inngest/function.failed"
    assert handled[0].data["error"]["message"] == "intentional failure"


def test_a_completed_run_emits_only_finished_and_no_handler_runs() -> None:
    h = Harness()

    @h.client.create_function(
        fn_id="ok", trigger=TRIGGER, on_failure=lambda ctx: "never"
    )
    def ok(ctx: inngest.ContextSync) -> list[int]:
        return [1]

    h.serve(ok)
    h.send("t/go")
    h.run()
    (finished,) = h.emitted
    assert finished["name"] == "inngest/function.finished"
    assert finished["data"]["result"] == [1]
    assert "error" not in finished["data"]
    assert finished["data"]["_inngest"] == {"status": "Completed"}
    assert finished["ts"] == int(START * 1000)
    assert h.runs("ok-failure") == []


def test_a_failing_failure_handler_emits_no_lifecycle_events() -> None:
    h = Harness()

    def on_failure(ctx: inngest.ContextSync) -> None:
        raise ValueError("handler broke too")

    @h.client.create_function(
        fn_id="main", trigger=TRIGGER, retries=0, on_failure=on_failure
    )
    def main(ctx: inngest.ContextSync) -> None:
        raise ValueError("first")

    h.serve(main)
    h.send("t/go")
    h.run()
    assert h.only_run("main-failure").status is RunStatus.FAILED
    assert len(h.emitted) == 2  # only the main run's


def test_the_failure_trigger_expression_selects_the_function() -> None:
    h = Harness()
    handled: list[Any] = []

    @h.client.create_function(
        fn_id="other",
        trigger=inngest.TriggerEvent(event="t/other"),
        on_failure=lambda ctx: handled.append("other's handler"),
    )
    def other(ctx: inngest.ContextSync) -> None:
        return None

    h.serve(failing_with_handler(h, handled), other)
    h.send("t/go")
    h.run()
    assert h.runs("other-failure") == []
    assert len(h.only_run("main-failure").events) == 1


def test_the_trigger_matcher_is_injected() -> None:
    h = Harness(trigger_matcher=lambda expression, event, now: event["data"]["n"] > 1)

    @h.client.create_function(
        fn_id="big", trigger=inngest.TriggerEvent(event="t/n", expression="whatever")
    )
    def big(ctx: inngest.ContextSync) -> int:
        return int(ctx.event.data["n"])

    h.serve(big)
    for n in (1, 2, 3):
        h.send("t/n", {"n": n})
    h.run()
    assert sorted(r.output for r in h.runs("big")) == [2, 3]


def test_cancel_ends_a_sleeping_run_and_emits_cancelled() -> None:
    h = Harness()
    run = h.sleeping_run()
    assert h.timers  # the sleep
    h.apply(h.executor.cancel(run.run_id, h.now))
    assert h.timers == {}  # the sleep timer was cancelled
    h.run()
    assert run.status is RunStatus.CANCELLED
    assert run.output == {}
    assert [e["name"] for e in h.emitted] == [
        "inngest/function.finished",
        "inngest/function.cancelled",
    ]
    cancelled = h.emitted[1]
    assert cancelled["id"] == run.run_id
    assert cancelled["data"]["_inngest"] == {"status": "Cancelled"}
    assert "result" not in cancelled["data"]
    assert "error" not in cancelled["data"]
    assert h.finished[run.run_id].status is RunStatus.CANCELLED


def test_send_event_from_a_step_triggers_another_function() -> None:
    h = Harness()

    @h.client.create_function(fn_id="sender", trigger=TRIGGER)
    def sender(ctx: inngest.ContextSync) -> list[str]:
        return ctx.step.send_event(
            "send", [inngest.Event(name="t/sent", data={"n": 5})]
        )

    @h.client.create_function(
        fn_id="receiver", trigger=inngest.TriggerEvent(event="t/sent")
    )
    def receiver(ctx: inngest.ContextSync) -> int:
        return int(ctx.event.data["n"]) + 1

    h.serve(sender, receiver)
    h.send("t/go")
    h.run()
    assert h.only_run("sender").output == ["sent-1"]
    assert h.only_run("receiver").output == 6
    assert h.only_run("receiver").event["id"] == "sent-1"


def test_run_statuses_on_every_surface() -> None:
    assert [(s.value, s.graphql, s.number) for s in RunStatus] == [
        ("Queued", "QUEUED", 5),  # the server's Scheduled
        ("Running", "RUNNING", 0),
        ("Completed", "COMPLETED", 1),
        ("Failed", "FAILED", 2),
        ("Cancelled", "CANCELLED", 3),
    ]


def test_run_started_is_reported_at_once() -> None:
    h = Harness()

    @h.client.create_function(fn_id="f", trigger=TRIGGER)
    def fn(ctx: inngest.ContextSync) -> None:
        return None

    h.serve(fn)
    h.send("t/go", id="e1")
    (started,) = h.started
    assert started.function_id == f"{APP_ID}-f"
    assert started.event_ids == ("e1",)
    assert h.executor.get_run(started.run_id) is not None


def test_a_2xx_reply_marked_no_retry_is_a_failed_run() -> None:
    # The server fails a 200 that carries X-Inngest-No-Retry: true (what the
    # gateway makes of a connect reply DONE + no_retry, the JS SDK's answer
    # to a NonRetriableError): not retried, and its on-failure handler runs.
    h = Harness()
    handled: list[Any] = []
    h.serve(failing_with_handler(h, handled))
    body = {"name": "NonRetriableError", "message": "no way"}
    no_retry = fake_reply(200, body, {"x-inngest-no-retry": "true"})
    h.intercept = lambda call: no_retry if len(h.calls) == 1 else None
    h.send("t/go")
    h.run()
    main = h.only_run("main")
    assert main.status is RunStatus.FAILED
    assert main.output == body
    assert main.error == {
        "error": "NonRetriableError",
        "name": "NonRetriableError",
        "message": "no way",
    }
    assert [e["name"] for e in h.emitted] == [
        "inngest/function.finished",
        "inngest/function.failed",
    ]
    assert h.only_run("main-failure").output == "handled"
    assert len(h.bodies(main)) == 1  # not retried
