"""Test doubles shared by the suites."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from typing import Any

from inngest_proto import OutboundRequest, OutboundResponse


class FakeTransport:
    """Answers outbound requests from a queue and records what was sent.

    Time and randomness are fixed, so requests built with them are
    reproducible.  ``fail_with`` makes every request raise, as a network
    error would.
    """

    def __init__(
        self,
        responses: Iterable[OutboundResponse] = (),
        *,
        now: float = 1735689600.0,
        fail_with: Exception | None = None,
    ) -> None:
        self.responses: deque[OutboundResponse] = deque(responses)
        self.sent: list[OutboundRequest] = []
        self._now = now
        self.fail_with = fail_with

    def queue(self, *responses: OutboundResponse) -> None:
        self.responses.extend(responses)

    def _answer(self, req: OutboundRequest) -> OutboundResponse:
        self.sent.append(req)
        if self.fail_with is not None:
            raise self.fail_with
        if not self.responses:
            msg = f"unexpected request {req.method} {req.url}"
            raise AssertionError(msg)
        return self.responses.popleft()

    async def request(self, req: OutboundRequest) -> OutboundResponse:
        return self._answer(req)

    def request_sync(self, req: OutboundRequest) -> OutboundResponse:
        return self._answer(req)

    def now(self) -> float:
        return self._now

    def random_bytes(self, n: int) -> bytes:
        return bytes(range(n))


class RecordingHandler(logging.Handler):
    """Keeps every log record it is given, at every level."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def synced_function(
    url: str = "http://127.0.0.1:9/api/inngest", **fields: Any
) -> dict[str, Any]:
    """Function ``app-fn`` as a sync sends it: triggered by ``t/x``, its one
    step served at ``url``, with ``fields`` added or replaced."""
    step_url = f"{url}?fnId=app-fn&stepId=step"
    function: dict[str, Any] = {
        "id": "app-fn",
        "name": "fn",
        "triggers": [{"event": "t/x"}],
        "steps": {
            "step": {
                "id": "step",
                "name": "step",
                "runtime": {"type": "http", "url": step_url},
            }
        },
    }
    return {**function, **fields}
