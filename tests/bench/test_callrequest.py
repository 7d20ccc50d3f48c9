"""Smoke test of bench.callrequest: right answers from both SDKs, a report.

Fast and in process only: K=1 and 10, a few short runs, no timing asserted.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

#: The official SDK's pydantic models use v1-style ``class Config``; pydantic
#: warns when each of its modules is first imported, which our
#: ``filterwarnings = error`` would make fatal: import them all here, quietly.
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", "Support for class-based `config`", DeprecationWarning
    )
    # The official SDK is what the bench compares to: skip without it.
    pytest.importorskip("inngest")
    import inngest._internal.comm_lib
    import inngest._internal.server_lib  # noqa: F401 - imported for the filter

from bench import _callrequest_cases as cases
from bench import _callrequest_inprocess as inprocess
from bench._callrequest_cases import (
    MODES,
    SIZES,
    Case,
    answer_problem,
    expected_output,
    headers_for,
    make_handler,
    request_body,
    step_hash,
)
from bench._callrequest_report import render


@pytest.fixture(autouse=True)
def _close_official_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every official client the bench builds.

    inngest 0.5.19 has no ``close()``: its keep-alive ``httpx.Client``, left to
    the garbage collector, raises a ResourceWarning (an error here).
    """
    made: list[Any] = []
    build = cases.official_client

    def recording(mode: str) -> Any:
        made.append(build(mode))
        return made[-1]

    monkeypatch.setattr(cases, "official_client", recording)
    yield
    for client in made:
        client._http_client._http_client_sync.close()


CASES = [Case(k, size, mode) for mode in MODES for size in SIZES for k in (1, 10)]


@pytest.mark.parametrize("sdk", ["ours", "official", "bare", "floor"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.label.replace(" ", "-"))
def test_generated_requests_are_answered_right(sdk: str, case: Case) -> None:
    body = request_body(case)
    answer = make_handler(sdk, case)(body, headers_for(case, body))
    assert answer_problem(case, answer) is None
    assert json.loads(answer[1]) == expected_output(case.k, SIZES[case.size])


def test_bodies_are_the_same_bytes_every_time() -> None:
    case = Case(10, "200B", "cloud")
    body = request_body(case)
    assert body == request_body(case)
    memos = json.loads(body)["steps"]
    assert len(memos) == 10
    # Canonical JSON sorts the memo keys; the stack keeps the steps' order.
    stack = json.loads(body)["ctx"]["stack"]["stack"]
    assert stack == [cases.step_hash(i) for i in range(10)]
    assert sorted(stack) == list(memos)


@pytest.mark.parametrize("sdk", ["ours", "official"])
def test_a_wrong_signature_is_refused(sdk: str) -> None:
    # Proves cloud mode really verifies: the bench's signature is what passes.
    case = Case(1, "200B", "cloud")
    body = request_body(case)
    headers = headers_for(case, body)
    headers["x-inngest-signature"] = headers["x-inngest-signature"][:-4] + "0000"
    status, _ = make_handler(sdk, case)(body, headers)
    assert status == 401


def test_wrong_output_is_caught() -> None:
    case = Case(10, "200B", "dev")
    assert answer_problem(case, (206, b"[]")) is not None
    wrong = expected_output(10, SIZES["200B"]) | {"bad": 1}
    assert answer_problem(case, (200, json.dumps(wrong).encode())) is not None


def test_report_renders() -> None:
    cases = [Case(k, "200B", mode) for mode in MODES for k in (1, 10)]
    results = inprocess.run_inprocess(
        ["ours", "official", "bare", "floor"], cases, 0.001, 2, fresh=False
    )
    summary = {
        "machine": {"python": "3", "platform": "test", "cpus": 1},
        "notes": [],
        "inprocess": results,
    }
    text = render(summary)
    assert "ours/floor" in text
    assert "bare/floor" in text
    assert "ours/off" in text
    for mode in MODES:
        assert any(
            line.startswith(f"{mode} ") and " 10 " in line for line in text.splitlines()
        )
    assert "[met ]" in text or "[MISS]" in text
    json.dumps(summary)  # --json can write it


def test_http_part_checks_every_server_and_reports_each() -> None:
    # Three server processes on 127.0.0.1 (the official one needs uvicorn
    # and FastAPI, as in the official env), a few requests each.
    pytest.importorskip("uvicorn")
    from bench._callrequest_http import measure_http, server_stack  # noqa: PLC0415

    servers = ["ours", "ours-asgi", "official"]
    rows = measure_http(servers, Case(1, "200B", "dev"), [1, 2], 5, 1)
    assert [(r["sdk"], r["concurrency"]) for r in rows] == [
        (s, c) for s in servers for c in (1, 2)
    ]
    assert all(len(r["rps"]) == 1 and r["rps"][0] > 0 for r in rows)
    summary = {
        "machine": {"python": "3", "platform": "test", "cpus": 1},
        "notes": [],
        "http": [{**r, "stack": server_stack()} for r in rows],
    }
    text = render(summary)
    for label in ("ours, FastAPI", "ours, plain ASGI", "official, FastAPI"):
        assert label in text
    assert "uvicorn" in text


def test_the_malloc_settings_apply_only_while_measuring(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os  # noqa: PLC0415

    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "7")
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    with inprocess.environment(inprocess.KEEP_FREED_MEMORY):
        assert os.environ["MALLOC_TRIM_THRESHOLD_"] == str(1 << 30)
        assert os.environ["MALLOC_MMAP_THRESHOLD_"] == str(1 << 30)
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "7"
    assert "MALLOC_MMAP_THRESHOLD_" not in os.environ


def test_fresh_processes_take_turns_and_report_each_sdk() -> None:
    results = inprocess.run_inprocess(
        ["ours", "official", "floor"], [Case(1, "200B", "cloud")], 0.001, 2
    )
    assert [r["sdk"] for r in results] == ["ours", "official", "floor"]
    for result in results:
        assert result["calls_per_run"] >= 1
        assert 0 < result["us_per_call"]["min"] <= result["us_per_call"]["max"]
        assert result["peak_rss_mib"] > 0


def test_a_failing_measuring_process_is_reported_with_its_traceback() -> None:
    with pytest.raises(RuntimeError, match=r"(?s)ours measuring process failed.*3MB"):
        inprocess.run_inprocess(["ours"], [Case(1, "3MB", "dev")], 0.001, 1)


def test_the_bare_replay_reads_repeated_ids_and_unknown_names_are_refused() -> None:
    memos = {step_hash(0): {"data": "first"}}
    memos[hashlib.sha1(b"s0:1", usedforsecurity=False).hexdigest()] = {"data": "2nd"}
    bare = cases._BareStep(memos)
    assert [bare.run("s0", None), bare.run("s0", None)] == ["first", "2nd"]
    with pytest.raises(ValueError, match="no handler called 'fastest'"):
        make_handler("fastest", Case(1, "200B", "dev"))


def test_a_measuring_process_that_dies_is_reported() -> None:
    remote = inprocess._Remote("floor", Case(1, "200B", "dev"), 0.001)
    try:
        remote.ask()  # ready
        remote._process.kill()
        remote._process.join()
        with pytest.raises(RuntimeError, match="floor measuring process died"):
            remote.ask("run")
    finally:
        remote.close()
