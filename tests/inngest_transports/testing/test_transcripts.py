"""Run transcripts: record, save, load and replay against changed code."""

from __future__ import annotations

import datetime
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import inngest_proto as inngest
from inngest_transports.testing import (
    DeterminismError,
    Mismatch,
    TestEngine,
    Transcript,
    TranscriptError,
    assert_deterministic,
    check_transcript,
    diff,
    record,
)

HOUR = datetime.timedelta(hours=1)
DAY = datetime.timedelta(days=1)
BACKENDS = ["asyncio", "trio"]


def make_app(variant: str = "same", *, is_async: bool = False) -> Any:
    """A client, the flow function in ``variant`` and its invoked child.

    Every variant keeps the function id: it is "the code after a change".
    ``ran`` counts each step handler's calls.
    """
    client = inngest.Inngest(app_id="tx-app", environ={"INNGEST_DEV": "1"})
    ran: Counter[str] = Counter()

    @client.create_function(fn_id="child", trigger=inngest.TriggerEvent(event="t/c"))
    def child(ctx: inngest.ContextSync) -> int:
        return int(ctx.event.data.get("x", 0)) * 2

    def handler(name: str) -> Any:
        def run() -> str:
            ran[name] += 1
            return name.upper()

        return run

    def plan() -> list[tuple[str, str]]:
        """The flow as (kind, step id) pairs, in order."""
        steps = [
            ("run", "a"),
            ("sleep", "nap"),
            ("wait", "w"),
            ("invoke", "call"),
            ("parallel", "p1,p2"),
            ("run", "charge"),
        ]
        if variant == "rename":
            steps[5] = ("run", "charge-card")
        elif variant == "reorder":
            steps[0], steps[1] = steps[1], steps[0]
        elif variant == "sleep-to-wait":
            steps[1] = ("wait", "nap")
        elif variant == "remove":
            del steps[2]
        elif variant == "append":
            steps.append(("run", "extra"))
        elif variant == "parallel-swapped":
            steps[4] = ("parallel", "p2,p1")
        elif variant == "parallel-renamed":
            steps[4] = ("parallel", "p1,p3")
        return steps

    if is_async:

        @client.create_function(
            fn_id="flow", trigger=inngest.TriggerEvent(event="t/go")
        )
        async def flow(ctx: inngest.Context) -> list[Any]:
            out: list[Any] = []
            for kind, step_id in plan():
                if kind == "run":
                    out.append(await ctx.step.run(step_id, _async(handler(step_id))))
                elif kind == "sleep":
                    await ctx.step.sleep(step_id, HOUR)
                elif kind == "wait":
                    got = await ctx.step.wait_for_event(
                        step_id, event="t/reply", timeout=DAY
                    )
                    out.append(got is None)
                elif kind == "invoke":
                    out.append(
                        await ctx.step.invoke(step_id, function=child, data={"x": 3})
                    )
                else:
                    group = tuple(
                        _bind_async(ctx, s, handler(s)) for s in step_id.split(",")
                    )
                    out.append(list(await ctx.group.parallel(group)))
            return out

    else:

        @client.create_function(
            fn_id="flow", trigger=inngest.TriggerEvent(event="t/go")
        )
        def flow(ctx: inngest.ContextSync) -> list[Any]:
            out: list[Any] = []
            for kind, step_id in plan():
                if kind == "run":
                    out.append(ctx.step.run(step_id, handler(step_id)))
                elif kind == "sleep":
                    ctx.step.sleep(step_id, HOUR)
                elif kind == "wait":
                    got = ctx.step.wait_for_event(step_id, event="t/reply", timeout=DAY)
                    out.append(got is None)
                elif kind == "invoke":
                    out.append(ctx.step.invoke(step_id, function=child, data={"x": 3}))
                else:
                    group = tuple(_bind(ctx, s, handler(s)) for s in step_id.split(","))
                    out.append(list(ctx.group.parallel(group)))
            return out

    return client, [flow, child], ran


def _bind(ctx: inngest.ContextSync, step_id: str, fn: Any) -> Any:
    return lambda: ctx.step.run(step_id, fn)


def _async(fn: Any) -> Any:
    async def run() -> Any:
        return fn()

    return run


def _bind_async(ctx: inngest.Context, step_id: str, fn: Any) -> Any:
    async def call() -> Any:
        return await ctx.step.run(step_id, _async(fn))

    return call


def recorded(*, is_async: bool = False, backend: str = "asyncio") -> Transcript:
    client, functions, _ = make_app(is_async=is_async)
    engine = TestEngine(client, functions, backend=backend)
    (event_id,) = engine.send("t/go", data={"order": 7})
    engine.run()
    assert engine.output(event_id) == ["A", True, 6, ["P1", "P2"], "CHARGE"]
    return record(engine, engine.run_of(event_id).run_id)


@pytest.fixture(scope="module")
def transcript() -> Transcript:
    return recorded()


def messages(variant: str, transcript: Transcript, **kw: Any) -> list[str]:
    client, functions, _ = make_app(variant)
    return [str(m) for m in diff(client, functions, transcript, **kw)]


# -- recording and files -------------------------------------------------------------


def test_a_recording_holds_every_call_of_the_run(transcript: Transcript) -> None:
    ops = [
        [op["op"] for op in c.response] if c.status == 206 else c.status
        for c in transcript.calls
    ]
    assert ops == [
        ["StepRun"],
        ["Sleep"],
        ["WaitForEvent"],
        ["InvokeFunction"],
        ["StepPlanned", "StepPlanned"],
        ["StepRun"],
        ["StepRun"],
        ["StepRun"],
        200,
    ]
    assert transcript.function_id == "tx-app-flow"
    assert transcript.app_id == "tx-app"
    assert [e["data"] for e in transcript.events] == [{"order": 7}]
    # The two parallel steps were targeted; the sleep's wake-up is an hour on.
    assert [c.target is not None for c in transcript.calls].count(True) == 2
    assert transcript.calls[2].now - transcript.calls[1].now == 3600


def test_save_and_load_round_trip_byte_for_byte(
    transcript: Transcript, tmp_path: Path
) -> None:
    path = tmp_path / "flow.json"
    transcript.save(path)
    text = path.read_text(encoding="utf-8")
    loaded = Transcript.load(path)
    assert loaded == transcript
    assert loaded.source == str(path)
    loaded.save(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_text(encoding="utf-8") == text
    data = json.loads(text)
    assert data["version"] == 1
    assert list(data) == sorted(data)  # stable: sorted keys
    assert text.endswith("}\n")
    assert '\n  "app_id"' in text  # pretty


def test_save_makes_the_directory(transcript: Transcript, tmp_path: Path) -> None:
    # As testing.rst says: "tests/transcripts/..." in a project without one yet.
    path = tmp_path / "tests" / "transcripts" / "flow.json"
    transcript.save(path)
    assert Transcript.load(path) == transcript


def test_record_needs_a_run_id_the_engine_called() -> None:
    client, functions, _ = make_app()
    engine = TestEngine(client, functions)
    with pytest.raises(ValueError, match="no call for a run 'nope'"):
        record(engine, "nope")


# -- replay: unchanged code ----------------------------------------------------------


def test_the_same_code_replays_without_running_a_step_handler(
    transcript: Transcript, tmp_path: Path
) -> None:
    client, functions, ran = make_app()
    check_transcript(client, functions, transcript)
    transcript.save(tmp_path / "flow.json")
    check_transcript(client, functions, tmp_path / "flow.json")
    assert_deterministic(client, functions, tmp_path)
    assert ran == Counter()  # a replay plans step.run, it never executes it
    assert client._transport is None  # the client is left as it was


@pytest.mark.parametrize("backend", BACKENDS)
def test_async_functions_record_and_replay(backend: str) -> None:
    async_transcript = recorded(is_async=True, backend=backend)
    client, functions, ran = make_app(is_async=True)
    check_transcript(client, functions, async_transcript, backend=backend)
    assert ran == Counter()
    client, functions, _ = make_app("rename", is_async=True)
    with pytest.raises(DeterminismError, match=r'"charge" .* "charge-card"'):
        check_transcript(client, functions, async_transcript, backend=backend)


def test_a_sync_recording_replays_against_the_async_rewrite(
    transcript: Transcript,
) -> None:
    client, functions, _ = make_app(is_async=True)
    check_transcript(client, functions, transcript, backend="trio")


def test_parallel_steps_may_change_order_within_their_group(
    transcript: Transcript,
) -> None:
    # The server keys memos by hashed id and waits for the whole group, so
    # the order of a group's callables is not part of a run's state.
    assert messages("parallel-swapped", transcript) == []


# -- replay: changed code ------------------------------------------------------------


def test_a_renamed_step_is_caught_and_named(transcript: Transcript) -> None:
    """The issue's acceptance test."""
    client, functions, _ = make_app("rename")
    with pytest.raises(DeterminismError) as caught:
        check_transcript(client, functions, transcript)
    text = str(caught.value)
    assert text.splitlines()[1] == (
        '  call 8: the recording reached step "charge" (StepRun) but the code '
        'now reaches step "charge-card" (StepPlanned)'
    )
    # A run that already ran "charge" would run "charge-card" as well.
    assert text.splitlines()[2] == (
        "  call 9: the recording returned (200) but the code now reaches step "
        '"charge-card" (StepPlanned)'
    )
    assert text.splitlines()[0] == (
        f"run {transcript.run_id} of tx-app-flow: the code no longer replays this run"
    )


def test_reordered_steps_are_caught(transcript: Transcript) -> None:
    found = messages("reorder", transcript)
    assert found[0] == (
        'call 1: the recording reached step "a" (StepRun) but the code now '
        'reaches step "nap" (Sleep)'
    )
    # With "a" memoized, call 2 reaches "nap" first, as recorded; from then
    # on both memos are there and the order no longer shows.
    assert len(found) == 1


def test_a_sleep_replaced_by_a_wait_is_caught(transcript: Transcript) -> None:
    assert messages("sleep-to-wait", transcript) == [
        'call 2: step "nap" changed kind: the recording reached it as Sleep but '
        "the code now reaches it as WaitForEvent"
    ]


def test_a_removed_step_is_caught(transcript: Transcript) -> None:
    assert messages("remove", transcript) == [
        'call 3: the recording reached step "w" (WaitForEvent) but the code now '
        'reaches step "call" (InvokeFunction)'
    ]


def test_a_renamed_parallel_step_is_caught(transcript: Transcript) -> None:
    found = messages("parallel-renamed", transcript)
    assert found == [
        'call 5: the recording reached steps "p1" (StepPlanned), "p2" '
        '(StepPlanned) but the code now reaches steps "p1" (StepPlanned), "p3" '
        "(StepPlanned)",
        # The group's steps were called concurrently, with the same memos.
        'call 7: the recording reached step "p2" (StepRun) but the code now '
        'reaches steps "p1" (StepPlanned), "p3" (StepPlanned)',
        'call 8: the recording reached step "charge" (StepRun) but the code now '
        'reaches step "p3" (StepPlanned)',
        'call 9: the recording returned (200) but the code now reaches step "p3" '
        "(StepPlanned)",
    ]


def test_steps_added_after_the_recorded_end_are_new_work(
    transcript: Transcript,
) -> None:
    # Every recorded call still matches, so each run in flight replays all of
    # its memos before it reaches the new step: nothing runs twice.
    assert messages("append", transcript) == []
    assert messages("append", transcript, allow_appended_steps=False) == [
        "call 9: the recording returned (200) but the code now reaches step "
        '"extra" (StepPlanned)'
    ]


def test_diff_returns_mismatches_with_call_numbers(transcript: Transcript) -> None:
    client, functions, _ = make_app("remove")
    assert diff(client, functions, transcript) == [
        Mismatch(
            3,
            'the recording reached step "w" (WaitForEvent) but the code now '
            'reaches step "call" (InvokeFunction)',
        )
    ]


def test_a_failing_replay_and_a_missing_function_are_reported(
    transcript: Transcript,
) -> None:
    client = inngest.Inngest(app_id="tx-app", environ={"INNGEST_DEV": "1"})

    @client.create_function(fn_id="flow", trigger=inngest.TriggerEvent(event="t/go"))
    def flow(ctx: inngest.ContextSync) -> None:
        if ctx.event.data["order"] == 7:
            raise ValueError("order 7 is cursed now")

    found = [str(m) for m in diff(client, [flow], transcript)]
    assert found[0] == (
        'call 1: the recording reached step "a" (StepRun) but the code now '
        "fails (500): ValueError: order 7 is cursed now"
    )
    assert len(found) == 9

    @client.create_function(fn_id="other", trigger=inngest.TriggerEvent(event="t/go"))
    def other(ctx: inngest.ContextSync) -> None:
        pass

    with pytest.raises(DeterminismError, match="'tx-app-flow' is not among the"):
        check_transcript(client, [other], transcript)


def test_assert_deterministic_names_each_failing_file(
    transcript: Transcript, tmp_path: Path
) -> None:
    transcript.save(tmp_path / "a.json")
    (tmp_path / "nested").mkdir()
    transcript.save(tmp_path / "nested" / "b.json")
    client, functions, _ = make_app("sleep-to-wait")
    with pytest.raises(DeterminismError) as caught:
        assert_deterministic(client, functions, tmp_path)
    text = str(caught.value)
    assert f"{tmp_path / 'a.json'}: the code no longer replays this run" in text
    assert f"{tmp_path / 'nested' / 'b.json'}: the code" in text
    assert text.count('step "nap" changed kind') == 2
    (tmp_path / "empty").mkdir()
    with pytest.raises(TranscriptError, match="no transcript"):
        assert_deterministic(client, functions, tmp_path / "empty")


def test_code_outside_steps_cannot_reach_the_network_in_a_replay() -> None:
    client = inngest.Inngest(app_id="tx-app", environ={"INNGEST_DEV": "1"})
    sends: list[Any] = []

    @client.create_function(fn_id="loud", trigger=inngest.TriggerEvent(event="t/go"))
    def loud(ctx: inngest.ContextSync) -> str:
        sends.append(client.send_sync(inngest.Event(name="t/side", data={})))
        return str(ctx.step.run("only", lambda: "x"))

    engine = TestEngine(client, [loud])
    (event_id,) = engine.send("t/go")
    engine.run()
    transcript = record(engine, engine.run_of(event_id).run_id)
    sends.clear()
    check_transcript(client, [loud], transcript)
    assert sends == [["replay-event-0"], ["replay-event-0"]]
    assert client._transport is None


def retrying_app(items: int) -> Any:
    """A step that fails once, a body that fails at each first attempt, and
    a step id used ``items`` times."""
    client = inngest.Inngest(app_id="tx-app", environ={"INNGEST_DEV": "1"})

    @client.create_function(fn_id="retry", trigger=inngest.TriggerEvent(event="t/r"))
    def retry(ctx: inngest.ContextSync) -> int:
        def flaky() -> int:
            if ctx.attempt == 0:
                raise ValueError("first attempt fails")
            return 1

        total = ctx.step.run("flaky", flaky)
        if ctx.attempt == 0:
            raise RuntimeError("the body fails once too")
        for i in range(items):
            total += ctx.step.run("item", lambda n: n, i)
        return total + ctx.step.run("after", lambda: 10)

    return client, retry


def test_retries_and_repeated_step_ids() -> None:
    client, retry = retrying_app(items=2)
    engine = TestEngine(client, [retry])
    (event_id,) = engine.send("t/r")
    engine.run()
    assert engine.output(event_id) == 12
    transcript = record(engine, engine.run_of(event_id).run_id)
    statuses = [c.status for c in transcript.calls]
    assert statuses == [206, 206, 500, 206, 500, 206, 500, 206, 500, 200]
    assert transcript.calls[0].response[0]["op"] == "StepError"
    # A StepError then a StepRun of "flaky": both replay as planned steps,
    # and the recorded 500 holds the code to nothing.
    check_transcript(client, [retry], transcript)
    client, retry = retrying_app(items=1)
    # The second "item" is gone: "after" comes where it was; from then on
    # the recorded memos are replayed in the same order again.
    assert [str(m) for m in diff(client, [retry], transcript)] == [
        'call 6: the recording reached step "item:1" (StepRun) but the code now '
        'reaches step "after" (StepPlanned)',
    ]


# -- malformed files -----------------------------------------------------------------


def _load_text(text: str, tmp_path: Path) -> Transcript:
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    return Transcript.load(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not a JSON transcript"),
        ("[1, 2]", "must be a JSON object, got an array"),
        ('{"calls": []}', 'no "version" field: is this a transcript'),
        ('{"version": 2}', "transcript version 2 is not supported"),
        ('{"version": true}', "transcript version True is not supported"),
    ],
)
def test_malformed_files_raise_clear_errors(
    text: str, message: str, tmp_path: Path
) -> None:
    with pytest.raises(TranscriptError, match=message) as caught:
        _load_text(text, tmp_path)
    assert str(caught.value).startswith(str(tmp_path / "bad.json"))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"calls": []}, "the transcript has no calls"),
        ({"calls": [1]}, r"calls\[0\] must be a JSON object, got the number 1"),
        ({"app_id": None}, "'app_id' must be a string, got null"),
        ({"events": {}}, "'events' must be an array of events, got an object"),
        ({"events": ["x"]}, r"events\[0\] must be a JSON object, got a string"),
    ],
)
def test_invalid_fields_are_named(
    transcript: Transcript, changes: dict[str, Any], message: str, tmp_path: Path
) -> None:
    data = {**json.loads(transcript.to_json()), **changes}
    with pytest.raises(TranscriptError, match=message):
        _load_text(json.dumps(data), tmp_path)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("status", "206", r"calls\[1\]: 'status' must be an integer, got a string"),
        ("now", True, r"calls\[1\]: 'now' must be a number, got a boolean"),
        ("request", {"x": 1}, r"calls\[1\]: 'request' is not a call request"),
        ("target", 5, r"calls\[1\]: 'target' must be a string, got the number 5"),
        ("response", None, r"calls\[1\]: the field 'response' is missing"),
    ],
)
def test_invalid_calls_are_named(
    transcript: Transcript, key: str, value: Any, message: str, tmp_path: Path
) -> None:
    data = json.loads(transcript.to_json())
    if key == "response":
        del data["calls"][1][key]
    else:
        data["calls"][1][key] = value
    with pytest.raises(TranscriptError, match=message):
        _load_text(json.dumps(data), tmp_path)


def test_missing_files_bad_backends_and_use_api_are_clear(
    transcript: Transcript, tmp_path: Path
) -> None:
    with pytest.raises(TranscriptError, match="cannot read the transcript"):
        Transcript.load(tmp_path / "absent.json")
    client, functions, _ = make_app()
    with pytest.raises(ValueError, match="backend must be 'asyncio' or 'trio'"):
        diff(client, functions, transcript, backend="curio")
    data = json.loads(transcript.to_json())
    data["calls"][3]["request"]["ctx"]["use_api"] = True
    with pytest.raises(TranscriptError, match="call 4 used use_api"):
        diff(client, functions, _load_text(json.dumps(data), tmp_path))


def test_a_cloud_client_replays_unsigned_calls() -> None:
    # The engine signs its calls with the client's key; a replay's calls are
    # built here, so the handler is told not to check them.
    key = "signkey-test-" + "0123456789abcdef" * 4
    client = inngest.Inngest(
        app_id="tx-app", signing_key=key, is_production=True, environ={}
    )

    @client.create_function(fn_id="cloud", trigger=inngest.TriggerEvent(event="t/c"))
    def cloud(ctx: inngest.ContextSync) -> str:
        return str(ctx.step.run("one", lambda: "x"))

    engine = TestEngine(client, [cloud])
    (event_id,) = engine.send("t/c")
    assert engine.output(event_id) == "x"
    check_transcript(client, [cloud], record(engine, engine.run_of(event_id).run_id))


def test_a_checkpointing_run_is_recorded_one_step_per_call() -> None:
    client = inngest.Inngest(
        app_id="ckpt-transcript", environ={"INNGEST_DEV": "1"}, checkpointing=True
    )

    def build(second: str) -> inngest.Function[Any]:
        @client.create_function(fn_id="f", trigger=inngest.TriggerEvent(event="t/c"))
        def f(ctx: inngest.ContextSync) -> str:
            a = ctx.step.run("a", lambda: "A")
            b = ctx.step.run(second, lambda: "B")
            ctx.step.sleep("nap", 1000)
            return a + b

        return f

    engine = TestEngine(client, [build("b")])
    (event_id,) = engine.send("t/c")
    engine.run()
    run_id = engine.run_of(event_id).run_id
    assert len(engine.exchanges_of(run_id)) == 2  # two calls, two steps saved
    transcript = Transcript.from_engine(engine, run_id)
    statuses = [call.status for call in transcript.calls]
    assert statuses == [206, 206, 206, 200]  # a, b, the sleep, the return
    assert diff(client, [build("b")], transcript) == []
    (problem, *_) = diff(client, [build("b2")], transcript)
    assert 'the recording reached step "b"' in str(problem)
    assert '"b2"' in str(problem)
