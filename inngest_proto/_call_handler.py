"""Call requests (POST): run one function and answer with its outcome.

:class:`CallHandler` is the part of :class:`~._comm.CommHandler` that answers
POST; :class:`~._sync.SyncHandler` is the part that answers GET and PUT, and
``_comm`` keeps the drivers and the dispatch.  A call is verified and its
``fnId`` found.  Then its body is parsed (and, for ``use_api``, its state
fetched), the handler is run, and the outcome becomes the 200, 206 or 500 the
executor reads.  The signature check lives here because calls own it; the
comm handler lends :meth:`CallHandler.verify` to sync and introspection.
"""

from __future__ import annotations

import datetime
from collections.abc import Generator, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs

from . import _json, _outbound
from ._call_request import CallRequest, parse_call_request
from ._client import Inngest
from ._converter import unstructure
from ._effects import Effect, Fetch, RunHandler
from ._engine import FunctionFailed, FunctionReturned, Outcome, failure_outcome
from ._errors import (
    BodyInvalidError,
    FunctionNotFoundError,
    InngestError,
    OutputUnserializableError,
    QueryParamMissingError,
    RemoteProtocolError,
    SignatureVerificationError,
    UnsupportedProbeError,
)
from ._function import Function
from ._http_values import IncomingRequest, Response
from ._middleware import MiddlewareManager
from ._opcodes import Opcode
from ._responses import ResponseBuilder
from ._settings import Settings
from ._signing import verify_request

__all__ = ["CallHandler", "query_from_url"]

_NO_TARGET = "step"

#: A protocol flow: yields effects, receives their results, returns the response.
Flow = Generator[Effect, Any, Response]


class CallHandler:
    """Verifies and answers the call requests of one served app.

    ``handlers`` maps each served ``fnId`` to its function and handler;
    ``verify_calls`` (cloud mode only) checks call signatures; ``window`` is
    how old, in seconds, a signature may be (``math.inf``: any age).
    """

    def __init__(
        self,
        *,
        client: Inngest,
        responses: ResponseBuilder,
        handlers: Mapping[str, tuple[Function[Any], Any]],
        verify_calls: bool,
        window: float,
    ) -> None:
        self._client = client
        self._settings: Settings = client.settings
        self._responses = responses
        self._handlers = handlers
        self._verify_calls = verify_calls
        self._window = window

    def verify(self, request: IncomingRequest, now: float) -> str:
        """The key that verified the request; raises SignatureVerificationError.

        Here because calls need it; introspection and sync use it too.
        """
        assert self._settings.signing_key is not None
        return verify_request(
            request.headers.get("x-inngest-signature"),
            request.body,
            self._settings.signing_key,
            self._settings.signing_key_fallback,
            now,
            self._window,
        )

    def call(self, request: IncomingRequest, now: float, raw_request: object) -> Flow:
        """Answer one call request, yielding the work it cannot do itself."""
        signing_key: str | None = None
        if self._settings.is_cloud and self._verify_calls:
            try:
                signing_key = self.verify(request, now)
            except SignatureVerificationError as err:
                self._client.logger.warning("inngest: rejected a call: %s", err.message)
                return self._responses.unauthorized(err)
        try:
            return (
                yield from self._call_verified(request, now, raw_request, signing_key)
            )
        except RemoteProtocolError as err:
            return self._responses.error(err, signing_key=signing_key, now=now)

    def _call_verified(
        self,
        request: IncomingRequest,
        now: float,
        raw_request: object,
        signing_key: str | None,
    ) -> Flow:
        query = request.query
        probe = query.get("probe")
        if probe is not None:
            if probe == "trust":
                return self._responses.json(200, None, signing_key=signing_key, now=now)
            msg = f"unsupported probe {probe!r}; the only probe is 'trust'"
            raise UnsupportedProbeError(msg)
        fn_id = query.get("fnId")
        if not fn_id:
            msg = (
                "fnId: the request has no fnId query parameter; Inngest calls "
                "<serve URL>?fnId=<app id>-<function id>&stepId=step"
            )
            raise QueryParamMissingError(msg)
        function, handler = self._find(fn_id)
        call = _parse_call(request.body)
        if call.needs_api_fetch:
            call = yield from self._fetch_run_state(call)
        step_id = query.get("stepId")
        target = None if not step_id or step_id == _NO_TARGET else step_id
        try:
            mw = MiddlewareManager.create(
                [*self._client.middleware, *function.middleware],
                self._client,
                raw_request,
                request_headers=request.headers,
            )
            outcome = yield RunHandler(
                function,
                handler,
                call,
                target,
                datetime.datetime.fromtimestamp(now, datetime.timezone.utc),
                mw,
            )
        # Not narrower: user code and middleware (or the pluggable transport)
        # may raise anything; each becomes a failure reply, not a traceback.
        except Exception as err:
            outcome = failure_outcome(err, now=None)
        return self._outcome_response(outcome, signing_key, now)

    def _find(self, fn_id: str) -> tuple[Function[Any], Any]:
        found = self._handlers.get(fn_id)
        if found is None:
            # Functions synced by SDKs before 0.3 were called by their local id.
            found = self._handlers.get(f"{self._client.app_id}-{fn_id}")
        if found is None:
            msg = (
                f"function {fn_id} not found: this app does not serve it; check "
                "the functions passed to serve() and sync the app again"
            )
            raise FunctionNotFoundError(msg)
        return found

    def _fetch_run_state(
        self, call: CallRequest
    ) -> Generator[Effect, Any, CallRequest]:
        """``use_api``: the state was too big to send; fetch events and memos."""
        settings = self._settings
        requests = (
            _outbound.build_fetch_batch_request(call.ctx.run_id, settings),
            _outbound.build_fetch_actions_request(call.ctx.run_id, settings),
        )
        try:
            batch_resp, actions_resp = yield Fetch(requests, label="use_api")
        except InngestError:
            raise
        # Not narrower: the transport is pluggable, so whatever it raises
        # means the state could not be fetched, which the reply says.
        except Exception as err:
            msg = (
                f"could not fetch the run's state from {settings.api_origin} "
                f"({type(err).__name__}: {err}); check INNGEST_API_BASE_URL"
            )
            raise _outbound.RunDataFetchError(msg) from None
        events = _outbound.parse_fetch_batch_response(batch_resp)
        memos = _outbound.parse_fetch_actions_response(actions_resp)
        return attrs.evolve(call, events=tuple(events) or call.events, steps=memos)

    def _outcome_response(
        self, outcome: Outcome, signing_key: str | None, now: float
    ) -> Response:
        extra: dict[str, str] = {}
        if isinstance(outcome, FunctionReturned):
            status = 200
            try:
                body = _json.dumps(outcome.output)
            except (TypeError, ValueError, RecursionError) as err:
                return self._unserializable("the function", err, signing_key, now)
        elif isinstance(outcome, FunctionFailed):
            status = 500
            if outcome.no_retry:
                extra["x-inngest-no-retry"] = "true"
            if outcome.retry_after is not None:
                extra["retry-after"] = outcome.retry_after
            body = _json.dumps(outcome.body)
        else:
            status = 206
            if outcome.no_retry:
                extra["x-inngest-no-retry"] = "true"
            try:
                body = _json.dumps([unstructure(op) for op in outcome.ops])
            except (TypeError, ValueError, RecursionError) as err:
                ran = [op.name for op in outcome.ops if op.op is Opcode.STEP_RUN]
                what = f'step "{ran[0]}"' if ran else "a step"
                return self._unserializable(what, err, signing_key, now)
        return self._responses.build(
            status, body, signing_key=signing_key, now=now, extra=extra
        )

    def _unserializable(
        self, what: str, err: Exception, signing_key: str | None, now: float
    ) -> Response:
        problem = OutputUnserializableError(
            f"{what} returned unserializable data: {err}; return JSON values "
            "(dict, list, str, int, float, bool, None), or declare the type "
            "(a return annotation or output_type=) to have it serialized"
        )
        return self._responses.error(problem, signing_key=signing_key, now=now)


_CALL_REQUEST_HINT = (
    "only Inngest (Cloud or the Dev Server) sends call requests here; check "
    "that the request comes from it unchanged, as application/json"
)


def _parse_call(body: bytes) -> CallRequest:
    """The call request in ``body``; raises :class:`BodyInvalidError` saying why."""
    if not body:
        msg = f"the call request has no body; {_CALL_REQUEST_HINT}"
        raise BodyInvalidError(msg)
    try:
        raw = _json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        msg = f"the call request body is not valid JSON ({err}); {_CALL_REQUEST_HINT}"
        raise BodyInvalidError(msg) from None
    except RecursionError:
        msg = f"the call request body is nested too deeply; {_CALL_REQUEST_HINT}"
        raise BodyInvalidError(msg) from None
    try:
        return parse_call_request(raw)
    except BodyInvalidError as err:
        msg = f"invalid call request: {err.message}; {_CALL_REQUEST_HINT}"
        raise BodyInvalidError(msg) from None


def query_from_url(url: str) -> Mapping[str, str]:
    """Parse a URL's query string the way the comm handler expects (last wins)."""
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
