"""Durable endpoints' routes: ``/v1/checkpoint`` in "sync" mode.

The TypeScript SDK's ``inngest.endpoint()`` runs steps inside an app's own
HTTP handler and reports them here (the logic, pure, is in the executor
core: ``inngest_proto.executor._endpoints`` explains the protocol):

* ``POST /v1/checkpoint``: a new run; answers ``{"data": {"run_id",
  "fn_id", "app_id", "token"?, "realtime_token"}}``.  ``token`` (a run-claim
  JWT, given when steps came along) lets a client read the output;
  ``realtime_token`` subscribes to the run's stream.
* ``POST /v1/checkpoint/{runId}/steps``: more steps; 200, empty body.
* ``GET /v1/checkpoint/{runId}/output?token=``: waits for the run to end
  and answers with the endpoint's response (its status, headers and body).
  A client whose request went async is redirected here, so this route asks
  for the token, not for the signing key.

The same routes exist under ``/v1/http/runs`` (the private beta's prefix,
which SDKs still use for the output redirect).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from inngest_proto.executor import (
    CheckpointRejected,
    api_result,
    endpoint_app_uuid,
    endpoint_function_uuid,
    output_token,
    output_token_run,
    parse_endpoint_run,
    parse_endpoint_steps,
)
from inngest_proto.wire import Response

from ._api_responses import envelope, error, json_response
from ._driver import Driver
from ._gateway import ENVIRONMENT_ID

__all__ = ["OUTPUT_WAIT_SECONDS", "DurableEndpoints"]

#: How long ``/output`` waits for a run to end, as the real server.
OUTPUT_WAIT_SECONDS = 300.0
_STILL_RUNNING = {"status": "running", "message": "run did not end within 5 minutes"}
_FRAMING_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "connection", "content-encoding"}
)
_log = logging.getLogger("inngest.devserver")

#: Mints a realtime subscription JWT for these topics.
MintRealtime = Callable[[list[dict[str, Any]]], str]


class DurableEndpoints:
    """The sync-checkpoint routes."""

    def __init__(
        self,
        driver: Driver,
        *,
        mint_realtime: MintRealtime,
        output_wait: float = OUTPUT_WAIT_SECONDS,
    ) -> None:
        self._driver = driver
        self._mint_realtime = mint_realtime
        #: Seconds ``/output`` waits for the run to end.
        self.output_wait = output_wait

    def new_run(self, body: bytes) -> Response:
        try:
            start = parse_endpoint_run(body)
            self._driver.start_endpoint_run(start)
        except CheckpointRejected as err:
            return error(err.status, str(err))
        data: dict[str, Any] = {
            "fn_id": endpoint_function_uuid(start.event),
            "app_id": endpoint_app_uuid(start.event),
            "run_id": start.run_id,
        }
        if start.ops:
            # Only then can the run go async, and the client need to wait.
            data["token"] = output_token(
                start.run_id, ENVIRONMENT_ID, self._driver.now()
            )
        data["realtime_token"] = self._mint_realtime(
            [{"kind": "run", "channel": start.run_id, "name": "$stream"}]
        )
        return envelope(data)

    def steps(self, run_id: str, body: bytes) -> Response:
        try:
            self._driver.endpoint_steps(parse_endpoint_steps(body, run_id))
        except CheckpointRejected as err:
            _log.warning(
                "dev server: endpoint steps of run %s refused: %s", run_id, err
            )
            return error(err.status, str(err))
        return Response(200, {"content-length": "0"}, b"")

    async def output(self, run_id: str, query: Mapping[str, str]) -> Response:
        granted = output_token_run(query.get("token", ""), self._driver.now())
        if granted is None or granted != run_id.upper():
            return error(401, "Unable to find run with auth token")
        executor = self._driver.executor

        def ended() -> bool:
            run = executor.get_run(granted)
            return run is None or not run.is_running

        try:
            await self._driver.wait_until(ended, self.output_wait)
        except TimeoutError:
            return json_response(200, _STILL_RUNNING)
        # Out of the executor's memory once ended: the store has it.
        run = self._driver.get_run(granted)
        if run is None:
            return error(401, "Unable to find run with auth token")
        result = api_result(run.output)
        if result is None:
            return json_response(200, run.output)
        # The body is re-framed here: its old length and encoding do not apply.
        headers = {
            name: value
            for k, value in result["headers"].items()
            if (name := k.lower()) not in _FRAMING_HEADERS
        }
        return Response(result["status"], headers, result["body"].encode())
