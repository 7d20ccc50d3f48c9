"""Cold start of one SDK, in the fresh interpreter that runs this module.

::

    python -m bench._callrequest_cold ours|official handler|fastapi

Prints one JSON object: seconds from just before the SDK's first import to
the first call request answered (and checked), the peak RSS (Linux), and
the top-level modules imported on the way.

* ``handler``: import the SDK, build the client and one function (K=1
  steps), build its call handler and answer one call request in process:
  what a worker pays before its first call when it needs no web framework.
* ``fastapi``: the same through each SDK's FastAPI glue: import it, build a
  ``FastAPI()`` app, ``serve`` it, and answer one request by calling the
  ASGI app directly (no server, no socket).

Only the standard library (``json``, ``hashlib``, ``hmac``, ``time``, ...)
is loaded before the clock starts, the same for both SDKs; modules already
loaded then are not counted as imported.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from bench._callrequest_cases import (
    PATH,
    QUERY,
    Case,
    answer_problem,
    headers_for,
    peak_rss_of,
    request_body,
)

VARIANTS = ("handler", "fastapi")
#: Third-party or heavy modules worth naming in the report when imported.
NOTABLE = (
    "fastapi",
    "starlette",
    "flask",
    "django",
    "tornado",
    "pydantic",
    "pydantic_core",
    "httpx",
    "httpcore",
    "anyio",
    "h11",
    "requests",
    "urllib3",
    "jcs",
    "attrs",
    "cattrs",
    "asyncio",
    "ssl",
    "concurrent",
)


def _answer_asgi(app: Any, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """One POST through an ASGI app, on a fresh asyncio loop (already imported
    by both FastAPI glues)."""
    import asyncio  # noqa: PLC0415 - after the clock: part of what is measured

    query = "&".join(f"{k}={v}" for k, v in QUERY.items())
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [
            (k.encode(), v.encode())
            for k, v in {**headers, "content-length": str(len(body))}.items()
        ]
        + [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    sent: list[dict[str, Any]] = []
    given = False

    async def receive() -> dict[str, Any]:
        nonlocal given
        if given:  # the request is over; a client would now wait
            await asyncio.sleep(3600)
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    out = b"".join(
        m.get("body", b"") for m in sent if m["type"] == "http.response.body"
    )
    return status, out


def first_call(sdk: str, variant: str, case: Case) -> tuple[int, bytes]:
    """Import, build and answer one request; everything here is timed."""
    from bench import _callrequest_cases as cases  # noqa: PLC0415 - preloaded

    body = request_body(case)
    headers = headers_for(case, body)
    if variant == "handler":
        handle = (
            cases.ours_handler(case.mode)
            if sdk == "ours"
            else cases.official_handler(case.mode)
        )
        return handle(body, headers)
    app = cases.build_app(sdk, case.mode)
    return _answer_asgi(app, body, headers)


def probe(sdk: str, variant: str) -> dict[str, Any]:
    """Measure one cold start in this (fresh) process."""
    case = Case(1, "200B", "dev")
    before = set(sys.modules)
    started = time.perf_counter()
    answer = first_call(sdk, variant, case)
    seconds = time.perf_counter() - started
    problem = answer_problem(case, answer)
    if problem is not None:
        msg = f"{sdk} {variant}: first call answered wrong: {problem}"
        raise AssertionError(msg)
    new = {name.split(".")[0] for name in set(sys.modules) - before}
    stdlib = sys.stdlib_module_names
    return {
        "sdk": sdk,
        "variant": variant,
        "seconds": seconds,
        # bench.flow's peak_rss_mib would import anyio, httpx and our SDK
        # first; and ru_maxrss would include the parent's peak before exec.
        "peak_rss_mib": peak_rss_of(os.getpid()),
        "modules_new": len(set(sys.modules) - before),
        "third_party": sorted(n for n in new if n not in stdlib),
        "notable": sorted(n for n in new if n in NOTABLE),
    }


def main() -> int:
    sdk, variant = sys.argv[1], sys.argv[2]
    print(json.dumps(probe(sdk, variant)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
