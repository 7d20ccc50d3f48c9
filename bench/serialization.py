"""Benchmark of typed outputs: memory and time of 100,000 pydantic outputs.

::

    python -m bench.serialization [--outputs N] [--sdk ours|official|both]
                                  [--json PATH]

A worker that runs for days serializes the same few output types millions
of times; what it builds per type (converters, pydantic adapters, resolved
annotations) must be built once, or its memory grows until it is killed.
This measures it: one sync function whose step returns a pydantic model
(``Receipt``: nested model, datetime, Decimal, UUID, enum, list) with a
different value every time, served by each SDK's own call-request handler
in process (no HTTP), in a fresh process per SDK.

Requests alternate between the two kinds a run makes: the step runs and
its output is serialized (no memo), and the memo is replayed, rebuilt as
the model, and the function's output serialized.  Each request serializes
one ``Receipt``; ``--outputs`` requests are made in all.  Every response is
checked (status and the serialized output) before it counts.

Reported per SDK: the resident set size after the first tenth of the
requests (warm: imports done, caches filled) and after the last, their
difference, the largest size seen at any of the ten checkpoints, and the
mean time per request.  The official SDK (``inngest==0.5.19``, with its
``PydanticSerializer`` and ``output_type=``) runs the same requests when it
is installed; the ratio is ours over theirs.
"""

from __future__ import annotations

import argparse
import datetime
import decimal
import enum
import hashlib
import importlib.util
import json
import os
import platform
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import pydantic

from bench.flow import in_fresh_process, run_cli

APP_ID = "bench-serialization"
FN_ID = "receipt"
STEP_ID = "make"
#: SHA-1 of the step id: the key of its memo (Inngest's id hash).
STEP_HASH = hashlib.sha1(STEP_ID.encode()).hexdigest()  # noqa: S324
SDKS = ("ours", "official")


class Currency(enum.Enum):
    EUR = "EUR"
    USD = "USD"


class Line(pydantic.BaseModel):
    sku: str
    quantity: int
    price: decimal.Decimal


class Receipt(pydantic.BaseModel):
    id: uuid.UUID
    number: int
    issued: datetime.datetime
    currency: Currency
    lines: list[Line]
    note: str | None = None


def make_receipt(n: int) -> Receipt:
    """A different receipt for every ``n``: nothing can be cached by value."""
    return Receipt(
        id=uuid.UUID(int=n),
        number=n,
        issued=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
        + datetime.timedelta(seconds=n),
        currency=Currency.EUR if n % 2 else Currency.USD,
        lines=[
            Line(
                sku=f"sku-{n % 97}", quantity=n % 5 + 1, price=decimal.Decimal(n) / 100
            )
            for _ in range(3)
        ],
        note=None if n % 3 else f"receipt {n}",
    )


def call_body(n: int, replay: bool) -> bytes:
    """A call request for run ``n``: without the memo, or with it (replay)."""
    event = {"name": "bench/receipt", "data": {"n": n}, "id": f"e{n}", "ts": 1}
    steps = (
        {STEP_HASH: {"data": make_receipt(n).model_dump(mode="json")}} if replay else {}
    )
    return json.dumps(
        {
            "ctx": {
                "attempt": 0,
                "disable_immediate_execution": False,
                "fn_id": f"{APP_ID}-{FN_ID}",
                "run_id": f"run-{n}",
                "stack": {"current": len(steps), "stack": list(steps)},
                "use_api": False,
            },
            "event": event,
            "events": [event],
            "steps": steps,
            "use_api": False,
            "version": 1,
        }
    ).encode()


def answered_right(n: int, replay: bool, status: int, out: Any) -> bool:
    """A replay returns the function's output; a first run reports the step."""
    receipt = make_receipt(n).model_dump(mode="json")
    if replay:
        return status == 200 and out == receipt
    return (
        status == 206
        and len(out) == 1
        and (out[0]["id"], out[0]["op"], out[0]["data"])
        == (STEP_HASH, "StepRun", receipt)
    )


def current_rss_mib() -> float:
    """Resident set size now (not the peak), in MiB."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)
    except OSError:  # not Linux: fall back to the peak
        from bench.flow import peak_rss_mib  # noqa: PLC0415

        return peak_rss_mib()


# -- each SDK's handler -------------------------------------------------------------

Handle = Callable[[bytes], tuple[int, Any]]


def ours() -> Handle:
    import inngest_proto as inngest  # noqa: PLC0415 - measured in its own process

    client = inngest.Inngest(app_id=APP_ID, environ={"INNGEST_DEV": "1"})

    @client.create_function(
        fn_id=FN_ID, trigger=inngest.TriggerEvent(event="bench/receipt")
    )
    def receipt(ctx: inngest.ContextSync) -> Receipt:
        n = cast(int, ctx.event.data["n"])

        def make() -> Receipt:
            return make_receipt(n)

        return ctx.step.run(STEP_ID, make)

    handler = inngest.CommHandler(client=client, functions=[receipt], framework="bench")
    url = f"http://127.0.0.1/api/inngest?fnId={APP_ID}-{FN_ID}&stepId=step"
    query = {"fnId": f"{APP_ID}-{FN_ID}", "stepId": "step"}

    def handle(body: bytes) -> tuple[int, Any]:
        request = inngest.IncomingRequest(
            method="POST",
            url=url,
            headers={"content-type": "application/json"},
            body=body,
            query=query,
        )
        response = handler.handle_sync(request, now=time.time())
        return response.status, json.loads(response.body)

    return handle


def official() -> Handle:
    import inngest  # noqa: PLC0415
    from inngest._internal import comm_lib, server_lib  # noqa: PLC0415

    client = inngest.Inngest(
        app_id=APP_ID, is_production=False, serializer=inngest.PydanticSerializer()
    )

    @client.create_function(
        fn_id=FN_ID,
        trigger=inngest.TriggerEvent(event="bench/receipt"),
        output_type=Receipt,
    )
    def receipt(ctx: inngest.ContextSync) -> Receipt:
        n = cast(int, ctx.event.data["n"])
        return ctx.step.run(STEP_ID, lambda: make_receipt(n), output_type=Receipt)

    handler = comm_lib.CommHandler(
        client=client,
        enable_unauthed_sync=None,
        framework=server_lib.Framework.FLASK,
        functions=[receipt],
        streaming=None,
    )
    query = {"fnId": f"{APP_ID}-{FN_ID}", "stepId": "step"}

    def handle(body: bytes) -> tuple[int, Any]:
        request = comm_lib.CommRequest(
            body=body,
            headers={
                "content-type": "application/json",
                "x-inngest-server-kind": "dev",
            },
            public_path=None,
            query_params=query,
            raw_request=None,
            request_url="http://127.0.0.1/api/inngest",
            serve_origin=None,
            serve_path=None,
        )
        response = handler.post_sync(request)
        # A framework writes the body as JSON: part of the work.
        return response.status_code, json.loads(json.dumps(response.body))

    return handle


def measure(sdk: str, outputs: int) -> dict[str, Any]:
    """Serve ``outputs`` requests through ``sdk``'s handler (own process)."""
    handle = ours() if sdk == "ours" else official()
    checkpoints = [outputs * i // 10 for i in range(1, 11)]
    for n in range(2):  # the answers are right before anything is timed
        status, out = handle(call_body(n, n % 2 == 1))
        if not answered_right(n, n % 2 == 1, status, out):
            msg = f"{sdk}: request {n} answered {status} {out!r}"
            raise AssertionError(msg)
    rss: list[float] = []
    spent = 0.0
    for n in range(outputs):
        replay = n % 2 == 1
        body = call_body(n, replay)
        started = time.perf_counter()
        status, out = handle(body)
        spent += time.perf_counter() - started
        # Every answer's status, and one in a hundred in full.
        if status != (200 if replay else 206) or (
            n % 100 < 2 and not answered_right(n, replay, status, out)
        ):
            msg = f"{sdk}: request {n} answered {status} {out!r}"
            raise AssertionError(msg)
        if n + 1 in checkpoints:
            rss.append(current_rss_mib())
    return {
        "sdk": sdk,
        "outputs": outputs,
        "rss_mib": [round(x, 1) for x in rss],
        "warm_mib": round(rss[0], 1),
        "final_mib": round(rss[-1], 1),
        "growth_mib": round(rss[-1] - rss[0], 1),
        "most_mib": round(max(rss), 1),
        "us_per_request": round(spent / outputs * 1e6, 1),
    }


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    sdks = list(SDKS) if args.sdk == "both" else [args.sdk]
    if "official" in sdks and importlib.util.find_spec("inngest") is None:
        print("official SDK not installed (pip install inngest==0.5.19): skipped")
        sdks.remove("official")
    results = [in_fresh_process(measure, sdk, args.outputs) for sdk in sdks]
    summary: dict[str, Any] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "results": results,
    }
    by_sdk = {r["sdk"]: r for r in results}
    if len(by_sdk) == 2:
        summary["time_ratio"] = round(
            by_sdk["ours"]["us_per_request"] / by_sdk["official"]["us_per_request"], 3
        )
    return summary


def render(summary: dict[str, Any]) -> str:
    lines = [
        f"Python {summary['python']}, {summary['cpus']} CPUs",
        f"{'sdk':<10}{'outputs':>9}{'warm MiB':>10}{'final MiB':>11}"
        f"{'growth':>8}{'most':>7}{'us/request':>12}",
    ]
    for r in summary["results"]:
        lines.append(
            f"{r['sdk']:<10}{r['outputs']:>9,}{r['warm_mib']:>10}{r['final_mib']:>11}"
            f"{r['growth_mib']:>8}{r['most_mib']:>7}{r['us_per_request']:>12}"
        )
        lines.append(f"  RSS at each tenth: {r['rss_mib']}")
    if "time_ratio" in summary:
        lines.append(f"time per request, ours / official: {summary['time_ratio']}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--outputs", type=int, default=100_000)
    parser.add_argument("--sdk", choices=[*SDKS, "both"], default="both")
    parser.add_argument("--json", type=Path, default=None)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(argv, parse_args, run_all, render)


if __name__ == "__main__":
    sys.exit(main())
