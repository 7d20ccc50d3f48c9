"""The official ``inngest.experimental.mocked``, renamed: tests move over by import.

``from inngest.experimental import mocked`` becomes
``from inngest_transports.testing import mocked``; ``mocked.Inngest``,
``mocked.trigger``, ``mocked.Status`` and ``mocked.Timeout`` are here::

    client = mocked.Inngest(app_id="test")
    result = mocked.trigger(fn, inngest.Event(name="test"), client)
    assert result.status is mocked.Status.COMPLETED

``trigger`` runs the function on :class:`~inngest_transports.testing.TestEngine`
(the dev server's executor on a virtual clock) rather than the official
replay loop; ``docs/testing.rst`` lists what that changes.
"""

from __future__ import annotations

import json
import os
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

import inngest_proto as inngest
from inngest_proto import OutboundRequest, OutboundResponse, Transport
from inngest_proto.executor import Run

from ._engine import TestEngine
from ._stubs import Timeout
from ._trigger import Status
from ._trigger import trigger as _trigger

__all__ = [
    "MOCKED_EVENT_ID",
    "Inngest",
    "NoNetworkTransport",
    "Result",
    "RunError",
    "Status",
    "Timeout",
    "trigger",
]

#: The id every mocked send answers with, per event (the official value).
MOCKED_EVENT_ID = "00000000000000000000000000"


class NoNetworkTransport:
    """Answers event sends with :data:`MOCKED_EVENT_ID`s; refuses the rest.

    Nothing leaves the process: a test cannot reach a real Inngest by mistake.
    """

    async def request(self, req: OutboundRequest) -> OutboundResponse:
        return self.request_sync(req)

    def request_sync(self, req: OutboundRequest) -> OutboundResponse:
        path = urllib.parse.urlsplit(req.url).path
        if req.method == "POST" and path.startswith("/e/"):
            try:
                events = json.loads(req.body)
            except ValueError:
                events = []
            count = len(events) if isinstance(events, list) else 1
            body = {"ids": [MOCKED_EVENT_ID] * count, "status": 200}
            return OutboundResponse(
                200, {"content-type": "application/json"}, json.dumps(body).encode()
            )
        msg = (
            f"mocked.Inngest makes no network calls, not {req.method} {req.url}; "
            "use your own client with inngest_transports.testing.TestEngine "
            "to run functions that need Inngest's API"
        )
        raise inngest.LocalProtocolError(msg)

    def now(self) -> float:
        return time.time()

    def random_bytes(self, n: int) -> bytes:
        return os.urandom(n)


class Inngest(inngest.Inngest):
    """A client whose ``send`` and ``send_sync`` reach nothing.

    Each sent event gets the id ``"00000000000000000000000000"`` (middleware
    still runs); any other call to Inngest raises.  Inside :func:`trigger`
    the test engine routes what it sends, as for any client.  Pass
    ``transport=`` to send elsewhere after all.
    """

    def create_default_transport(self) -> Transport:
        return NoNetworkTransport()


class RunError(Exception):
    """The error a triggered run failed with, as Inngest stored it.

    The official ``mocked.trigger`` hands back the exception object itself;
    a run on the executor keeps only its ``name``, message and ``stack``, so
    this carries those: ``str(error)`` is the message, as it was.
    """

    def __init__(self, message: str, name: str, stack: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.name = name
        self.stack = stack


@attrs.frozen
class Result:
    """The end of a triggered run, shaped as the official ``mocked`` result.

    ``error`` is a :class:`RunError` when it failed; ``output`` the output
    as Inngest stores it (JSON: a tuple comes back a list).  ``run`` and
    ``engine`` are there to look further.
    """

    status: Status
    output: Any
    error: Exception | None
    run: Run
    engine: TestEngine


def trigger(
    fn: inngest.Function[Any],
    event: inngest.Event | Sequence[inngest.Event],
    client: inngest.Inngest,
    *,
    step_stubs: Mapping[str, Any] | None = None,
    invoke_stubs: Mapping[str, Any] | None = None,
    functions: Sequence[inngest.Function[Any]] = (),
    backend: str = "asyncio",
) -> Result:
    """Send ``event`` to ``fn`` and run it to its end on a virtual clock.

    The arguments are those of :func:`inngest_transports.testing.trigger`;
    the official ones (``fn``, ``event``, ``client``, ``step_stubs``) mean
    the same.
    """
    result = _trigger(
        fn,
        event,
        client,
        step_stubs=step_stubs,
        invoke_stubs=invoke_stubs,
        functions=functions,
        backend=backend,
    )
    return Result(
        status=result.status,
        output=result.output,
        error=None if result.error is None else _as_exception(result.error),
        run=result.run,
        engine=result.engine,
    )


def _as_exception(error: Mapping[str, Any]) -> RunError:
    stack = error.get("stack")
    return RunError(
        str(error.get("message", "")),
        str(error.get("name", "Error")),
        stack if isinstance(stack, str) else None,
    )
