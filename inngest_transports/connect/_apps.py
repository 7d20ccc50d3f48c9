"""The apps a worker serves: the ``WORKER_CONNECT`` payload and request routing.

An executor request is run exactly as an HTTP POST to the serve endpoint
(docs/protocol/connect.rst#executor-requests), through each app's
:class:`CommHandler`, made with ``verify_call_signatures=False``: Connect
carries no signatures, the gateway authenticated the worker by the tokens in
``WORKER_CONNECT``.
"""

from __future__ import annotations

import contextlib
import os
import platform
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from inngest_proto import CommHandler, Inngest, json_codec
from inngest_proto.connect import connect_pb2 as pb
from inngest_proto.errors import LocalProtocolError
from inngest_proto.functions import Function
from inngest_proto.settings import Settings
from inngest_proto.wire import (
    SDK_LANGUAGE,
    IncomingRequest,
    Response,
    __version__,
    unstructure,
)

__all__ = ["CAPABILITIES", "Apps", "RunSync"]

#: What this worker speaks, as the official Python SDK says
#: (docs/protocol/connect.rst#handshake).
CAPABILITIES = b'{"connect":"v1","in_band_sync":"v1","trust_probe":"v1"}'
#: The base URL function configs advertise: ``runtime.type`` becomes ``ws``.
CONNECT_URL = "wss://connect"
_MAX_APPS = 100
_INTERNAL_ERROR = b'{"code": "unknown", "message": "internal error"}'

RunSync = Callable[[Callable[[], Any]], Awaitable[Any]]


class Apps:
    """The clients and functions of one worker; validated at construction."""

    def __init__(self, apps: Sequence[tuple[Inngest, Sequence[Function[Any]]]]) -> None:
        if not isinstance(apps, Sequence) or not apps:
            msg = "connect() needs at least one (client, functions) pair"
            raise LocalProtocolError(msg)
        if len(apps) > _MAX_APPS:
            msg = f"connect() takes at most {_MAX_APPS} apps, got {len(apps)}"
            raise LocalProtocolError(msg)
        self._handlers: dict[str, CommHandler] = {}
        self._configs: list[pb.AppConfiguration] = []
        first: Settings | None = None
        for index, pair in enumerate(apps):
            if not (isinstance(pair, tuple) and len(pair) == 2):
                msg = f"apps[{index}] must be a (client, functions) tuple"
                raise LocalProtocolError(msg)
            client, functions = pair
            handler = CommHandler(
                client=client,
                functions=functions,
                framework="connect",
                verify_call_signatures=False,
            )
            settings = client.settings
            if first is None:
                first = settings
            elif _shared(settings) != _shared(first):
                msg = (
                    f"apps[{index}] ({client.app_id}) differs from apps[0] in API "
                    "origin, environment, mode or signing key; one connection "
                    "serves apps of one Inngest environment only"
                )
                raise LocalProtocolError(msg)
            if client.app_id in self._handlers:
                msg = f"the app {client.app_id!r} is listed twice"
                raise LocalProtocolError(msg)
            self._handlers[client.app_id] = handler
            configs = handler.function_configs(CONNECT_URL)
            app = pb.AppConfiguration(
                app_name=client.app_id,
                functions=json_codec.dumps_compact(unstructure(configs)),
            )
            if client.app_version:
                app.app_version = client.app_version
            self._configs.append(app)
        assert first is not None
        self.settings = first
        self.logger = apps[0][0].logger

    def connect_data(
        self, *, instance_id: str, max_worker_concurrency: int | None
    ) -> pb.WorkerConnectRequestData:
        """``WORKER_CONNECT`` without the per-connection id and tokens."""
        data = pb.WorkerConnectRequestData(
            instance_id=instance_id,
            capabilities=CAPABILITIES,
            apps=self._configs,
            worker_manual_readiness_ack=False,
            system_attributes=_system_attributes(),
            framework="connect",
            sdk_version=__version__,
            sdk_language=SDK_LANGUAGE,
        )
        if self.settings.env:
            data.environment = self.settings.env
        if max_worker_concurrency is not None:
            data.max_worker_concurrency = max_worker_concurrency
        return data

    async def run(
        self, request: pb.GatewayExecutorRequestData, run_sync: RunSync
    ) -> Response:
        """Run one executor request as the HTTP POST it stands for."""
        handler = self._handlers.get(request.app_name)
        if handler is None:  # the machine filters these; belt and braces
            return Response(500, {}, _INTERNAL_ERROR)
        query = {"fnId": request.function_slug}
        if request.HasField("step_id"):
            query["stepId"] = request.step_id
        headers = {
            "content-type": "application/json",
            "x-request-id": request.request_id,
        }
        if request.job_id:
            headers["x-inngest-job-id"] = request.job_id
        incoming = IncomingRequest(
            method="POST",
            url=f"{CONNECT_URL}?fnId={request.function_slug}",
            headers=headers,
            body=request.request_payload,
            query=query,
        )
        try:
            # Middleware's raw_request is the executor request, as in the
            # official worker (over HTTP it is the framework's request).
            return await handler.handle(
                incoming,
                now=time.time(),
                raw_request=request,
                timer=None,
                run_sync=run_sync,
            )
        # Not narrower: a request runs user code; one failure must not end
        # the worker's other requests.
        except Exception:
            self.logger.exception(
                "inngest connect: request %s failed", request.request_id
            )
            return Response(500, {}, _INTERNAL_ERROR)


def _shared(settings: Settings) -> tuple[object, ...]:
    return (settings.api_origin, settings.env, settings.mode, settings.signing_key)


def _system_attributes() -> pb.SystemAttributes:
    attributes = pb.SystemAttributes(
        cpu_cores=os.cpu_count() or 1, os=platform.system().lower()
    )
    # Informational: left out where the OS cannot say.
    with contextlib.suppress(AttributeError, ValueError, OSError):
        attributes.mem_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return attributes
