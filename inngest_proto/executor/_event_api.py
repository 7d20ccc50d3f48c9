"""The Inngest APIs a client calls, answered by an executor in the same process.

A client's transport normally reaches the Event API (``client.send``,
``step.send_event``), the REST API (``/v0/runs/{id}/batch|actions``, read by
an SDK told ``use_api``) and the checkpoint API
(``/v1/checkpoint/{id}/async``) over HTTP.  :class:`InProcessAPI` is a
transport that answers them from an :class:`~._executor.Executor` instead,
so whatever drives the executor in process (the ``TestEngine``, the
executor's own tests) shares one implementation of those answers.  Time
comes from ``now``; what to do with sent events and with the actions a
checkpoint produces is the driver's (``accept``, ``apply``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import attrs

from .. import _json
from .._http_values import OutboundRequest, OutboundResponse
from ._actions import Action
from ._checkpoint import Checkpoint, CheckpointRejected, parse_checkpoint
from ._executor import Executor
from ._ingest import InvalidEventBody, normalize_event, read_event_body

__all__ = ["InProcessAPI"]

_JSON = {"content-type": "application/json"}


@attrs.define
class InProcessAPI:
    """A client transport answered by ``executor`` (see the module docstring).

    ``accept`` takes each sent event, checked and filled in as the dev
    server's ``/e`` does (an event sent without an id has none: the driver
    names it), and returns its id (the driver queues it for the executor, as
    the Event API would); ``apply`` performs the actions a checkpoint
    returns; ``random_bytes`` is the client's randomness (deterministic in
    tests).
    """

    _executor: Executor
    _now: Callable[[], float] = attrs.field(kw_only=True, alias="now")
    _accept: Callable[[dict[str, Any]], str] = attrs.field(kw_only=True, alias="accept")
    _apply: Callable[[Sequence[Action]], None] = attrs.field(
        kw_only=True, alias="apply"
    )
    _random_bytes: Callable[[int], bytes] = attrs.field(
        kw_only=True, alias="random_bytes"
    )
    #: What the SDK read from ``/v0/runs/{id}/...``: ``"batch"``/``"actions"``.
    fetched: list[str] = attrs.field(factory=list, init=False)
    #: Checkpoints the functions saved, in order.
    checkpoints: list[Checkpoint] = attrs.field(factory=list, init=False)

    def answer(self, req: OutboundRequest) -> OutboundResponse:
        if req.method == "GET":
            return self._run_data(req)
        path = urlsplit(req.url).path
        if path.startswith("/v1/checkpoint/") and path.endswith("/async"):
            return self._checkpoint(path.split("/")[3], req.body)
        return self._events(req.body)

    def _events(self, body: bytes) -> OutboundResponse:
        """``POST /e``: events read and checked as the dev server's ``/e`` does.

        Events before an invalid one are accepted, and the invalid one's id
        stays empty, as there.
        """
        try:
            raw_events = read_event_body(body)
        except InvalidEventBody as err:
            return _reply(400, {"error": str(err), "status": 400})
        now_ms = int(self._now() * 1000)
        ids: list[str] = []
        for raw in raw_events:
            try:
                event = normalize_event(raw, None, now_ms)
            except ValueError as err:
                return _reply(
                    400, {"ids": [*ids, ""], "status": 400, "error": str(err)}
                )
            ids.append(self._accept(event))
        return _reply(200, {"ids": ids, "status": 200})

    def _checkpoint(self, run_id: str, body: bytes) -> OutboundResponse:
        """``POST /v1/checkpoint/{id}/async``: steps a call ran and goes on from."""
        try:
            checkpoint = parse_checkpoint(body, run_id)
            self._apply(self._executor.checkpoint(checkpoint, self._now()))
        except CheckpointRejected as err:
            return _reply(err.status, {"error": str(err)})
        self.checkpoints.append(checkpoint)
        return OutboundResponse(200, {}, b"")

    def _run_data(self, req: OutboundRequest) -> OutboundResponse:
        """``/v0/runs/{id}/batch|actions``, read by an SDK told ``use_api``."""
        *_, run_id, what = urlsplit(req.url).path.split("/")
        run = self._executor.get_run(run_id)
        if run is None or what not in ("batch", "actions"):
            return OutboundResponse(404, {}, b"{}")
        self.fetched.append(what)
        data = run.events if what == "batch" else run.steps
        return _reply(200, data)

    # -- the transport protocol ----------------------------------------------------

    async def request(self, req: OutboundRequest) -> OutboundResponse:
        return self.answer(req)

    def request_sync(self, req: OutboundRequest) -> OutboundResponse:
        return self.answer(req)

    def now(self) -> float:
        return self._now()

    def random_bytes(self, n: int) -> bytes:
        return self._random_bytes(n)


def _reply(status: int, body: Any) -> OutboundResponse:
    return OutboundResponse(status, dict(_JSON), _json.dumps(body))
