"""Every golden transcript through every adapter, over real HTTP on 127.0.0.1.

Each recorded request is sent, headers (``Host`` included, so synced URLs
match the recording) and body as recorded, to our app behind one framework
module and server; the answer must be what the core gives in process
(``tests/conformance/checks.py``), allowing only for the host's own clock,
its ``x-inngest-framework`` and, on hosts that cannot stream, a plain reply
instead of a streamed one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from inngest_proto import Response
from tests.adapters.hosts import HOSTS, Host
from tests.conformance.checks import check_exchange
from tests.conformance.golden import Replay, headers_of, http_scenarios, load

#: Headers the HTTP client sets itself for the request it actually sends.
_CLIENT_HEADERS = {
    "content-length",
    "connection",
    "accept-encoding",
    "transfer-encoding",
}

#: The host reads the real clock; recordings were signed in 2025.
_NO_SIGNATURE_WINDOW = {"INNGEST_SIGNATURE_WINDOW_SECONDS": "0"}

Served = Callable[[Host, dict[str, Any]], tuple[Replay, str]]


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """One running server per (host, app configuration), for the whole module."""
    running: dict[tuple[str, tuple[object, ...]], tuple[Replay, str]] = {}
    with ExitStack() as stack:

        def serve(host: Host, golden: dict[str, Any]) -> tuple[Replay, str]:
            key = (host.name, Replay.config_key(golden))
            if key not in running:
                replay = Replay.for_scenario(golden, extra_env=_NO_SIGNATURE_WINDOW)
                running[key] = (replay, stack.enter_context(host.start(replay)))
            return running[key]

        yield serve


@pytest.mark.parametrize("scenario", http_scenarios())
@pytest.mark.parametrize("host", HOSTS, ids=[h.name for h in HOSTS])
def test_transcript_over_http(host: Host, scenario: str, served: Served) -> None:
    golden = load(scenario)
    replay, base_url = served(host, golden)
    with httpx.Client(base_url=base_url, timeout=10) as http:
        for index, exchange in enumerate(golden["exchanges"]):
            replay.prime(exchange)
            before = len(replay.transport.sent)
            recorded = exchange["request"]
            headers = {
                name: value
                for name, value in headers_of(recorded["headers"]).items()
                if name not in _CLIENT_HEADERS
            }
            reply = http.request(
                recorded["method"],
                recorded["path"],
                headers=headers,
                content=(recorded["body_raw"] or "").encode(),
            )
            ours = Response(
                reply.status_code,
                {name.lower(): value for name, value in reply.headers.items()},
                reply.content,
            )
            check_exchange(
                ours,
                scenario=scenario,
                index=index,
                exchange=exchange,
                golden=golden,
                replay=replay,
                outbound_before=before,
                now=time.time(),
                framework=host.framework,
                streamed_body=reply.content if reply.status_code == 201 else None,
                streams=host.streams,
            )
