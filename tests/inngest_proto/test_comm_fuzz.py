"""Property: whatever arrives, the comm handler answers a well-formed response.

Arbitrary methods, query strings, headers and bodies (random bytes, random
JSON, and mutations of a valid call request, signed or not) go to a dev-mode
and a cloud-mode app through both drivers.  The answer must be a
:class:`Response` with a known status, a JSON body (object, array or null),
``x-inngest-sdk-handled``, the SDK headers unless it is a 401, and never the
"internal SDK error" that a bug in the handler turns into.
"""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import inngest_proto as inngest
from inngest_proto._step_ids import hash_step_id
from inngest_proto._version import SDK_IDENTITY
from tests.inngest_proto._comm_helpers import (
    APP_ID,
    KEY,
    NOW,
    URL,
    Mode,
    call_body,
    make_client,
    make_functions,
    signature,
)

# A failing example's report imports libcst, whose use of the deprecated
# mypy_extensions.TypedDict would otherwise turn it into an INTERNALERROR.
pytestmark = pytest.mark.filterwarnings(
    "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"
)

KNOWN_STATUSES = frozenset({200, 206, 400, 401, 403, 405, 413, 500})
MAX_BODY = 8192
FUZZ = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class AnyReplyTransport:
    """Answers every outbound request with one drawn reply, or raises."""

    def __init__(self) -> None:
        self.reply: inngest.OutboundResponse | Exception = ConnectionError("down")

    def _answer(self, req: inngest.OutboundRequest) -> inngest.OutboundResponse:
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply

    async def request(self, req: inngest.OutboundRequest) -> inngest.OutboundResponse:
        return self._answer(req)

    def request_sync(self, req: inngest.OutboundRequest) -> inngest.OutboundResponse:
        return self._answer(req)

    def now(self) -> float:
        return NOW

    def random_bytes(self, n: int) -> bytes:
        return bytes(n)


def _app(mode: Mode) -> tuple[inngest.CommHandler, AnyReplyTransport]:
    transport = AnyReplyTransport()
    client = make_client(mode, transport=transport)
    client.logger = logging.getLogger("tests.comm_fuzz")
    client.logger.disabled = True
    handler = inngest.CommHandler(
        client=client,
        functions=make_functions(client),
        framework="test",
        max_body_bytes=MAX_BODY,
    )
    return handler, transport


APPS = {mode: _app(mode) for mode in ("dev", "cloud")}

# --- strategies ---------------------------------------------------------------

FN_IDS = [
    f"{APP_ID}-{name}"
    for name in ("steps-async", "steps-sync", "wait-async", "wait-sync", "fails-sync")
]
HASHES = [hash_step_id(s) for s in ("first", "second", "wait", "other")]

short_text = st.text(max_size=20)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | short_text,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["data", "error", "name"]) | short_text, inner, max_size=4
        )
    ),
    max_leaves=12,
)

methods = st.sampled_from(["GET", "PUT", "POST", "post", "DELETE", "HEAD"]) | short_text

query_values = (
    st.sampled_from([*FN_IDS, "step", "trust", *HASHES, "", "x"]) | short_text
)
queries = st.dictionaries(
    st.sampled_from(["fnId", "stepId", "probe", "deployId"]) | short_text,
    query_values,
    max_size=4,
)

signature_like = st.builds(
    lambda t, s: f"t={t}&s={s}",
    st.sampled_from([str(NOW), str(NOW - 1000), "", "x"]) | short_text,
    st.text(alphabet="0123456789abcdef", min_size=0, max_size=70),
)
header_values = (
    st.sampled_from(["cloud", "dev", "in_band", "out_of_band", "application/json"])
    | signature_like
    | short_text
)
headers = st.dictionaries(
    st.sampled_from(
        [
            "x-inngest-signature",
            "X-Inngest-Server-Kind",
            "x-inngest-sync-kind",
            "content-type",
        ]
    )
    | short_text,
    header_values,
    max_size=4,
)


@st.composite
def mutated_call_requests(draw: st.DrawFn) -> Any:
    """A valid call request with a few parts deleted, replaced or added."""
    steps = draw(
        st.dictionaries(st.sampled_from(HASHES) | short_text, json_values, max_size=3)
    )
    body: Any = call_body(steps=steps)
    for _ in range(draw(st.integers(0, 3))):
        # Walk down to a random container and change one of its entries.
        node = body
        while True:
            if isinstance(node, dict) and node:
                key = draw(st.sampled_from(sorted(node)))
            elif isinstance(node, list) and node:
                key = draw(st.integers(0, len(node) - 1))
            else:
                break
            child = node[key]
            if isinstance(child, dict | list) and child and draw(st.booleans()):
                node = child
                continue
            action = draw(st.sampled_from(["delete", "replace", "add"]))
            if action == "delete":
                del node[key]
            elif action == "replace":
                node[key] = draw(json_values)
            elif isinstance(node, dict):
                node[draw(short_text)] = draw(json_values)
            else:
                node.append(draw(json_values))
            break
    return copy.deepcopy(body)


def _encode(value: Any) -> bytes:
    return json.dumps(value).encode()


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _nested_in_event(depth: int) -> bytes:
    body = call_body(event={"name": "t/steps", "data": {"deep": None}})
    return _encode(body).replace(b"null", _nested(depth), 1)


bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(_encode),
    mutated_call_requests().map(_encode),
    st.just(b"x" * (MAX_BODY + 1)),
    # Around the interpreter's recursion limit: parsing, canonicalizing (to
    # check a signature) or encoding the output may be the step that fails.
    st.integers(500, 1900).map(_nested),
    st.integers(500, 1900).map(_nested_in_event),
)

outbound_replies = st.one_of(
    st.builds(
        lambda status, body: inngest.OutboundResponse(status, {}, body),
        st.sampled_from([200, 201, 400, 401, 403, 404, 500, 502]),
        st.binary(max_size=40) | json_values.map(_encode),
    ),
    st.sampled_from([ConnectionError("down"), TimeoutError("slow")]),
)


@st.composite
def requests(draw: st.DrawFn) -> tuple[Mode, inngest.IncomingRequest, Any]:
    mode: Mode = draw(st.sampled_from(["dev", "cloud"]))
    body = draw(bodies)
    all_headers = draw(headers)
    if mode == "cloud" and draw(st.booleans()):
        # Often signed correctly, so the checks behind the signature run too.
        all_headers["x-inngest-signature"] = signature(body, KEY, NOW)
    request = inngest.IncomingRequest(
        method=draw(methods),
        url=draw(st.sampled_from([URL, "http://[::1/api", "", "/api/inngest"])),
        headers=all_headers,
        body=body,
        query=draw(queries),
    )
    return mode, request, draw(outbound_replies)


# --- the property -------------------------------------------------------------


def _check(resp: object) -> None:
    assert isinstance(resp, inngest.Response)
    assert resp.status in KNOWN_STATUSES, resp
    assert isinstance(resp.body, bytes)
    body = json.loads(resp.body)
    assert body is None or isinstance(body, dict | list), body
    assert resp.headers["x-inngest-sdk-handled"] == "true"
    assert resp.headers["content-type"] == "application/json"
    if resp.status == 401:
        assert "x-inngest-sdk" not in resp.headers
        assert isinstance(body, dict)
        assert {"message", "code", "detail"} <= set(body)
    else:
        assert resp.headers["x-inngest-sdk"] == SDK_IDENTITY
    if resp.status >= 400 and resp.status != 403:
        assert isinstance(body, dict)
        assert isinstance(body.get("message"), str)
        # A replayed step error keeps its original (possibly empty) message;
        # every refusal of the SDK's own says something.
        if body.get("code") != "step_errored":
            assert body["message"]
    if isinstance(body, dict):
        message = body.get("message")
        assert not (
            isinstance(message, str) and message.startswith("internal SDK error")
        ), body


def _serve_sync(
    draw: tuple[Mode, inngest.IncomingRequest, Any],
) -> inngest.Response:
    mode, request, reply = draw
    handler, transport = APPS[mode]
    transport.reply = reply
    return handler.handle_sync(request, now=NOW)


@FUZZ
@given(requests())
def test_handle_sync_always_answers(drawn: tuple[Mode, Any, Any]) -> None:
    _check(_serve_sync(drawn))


@pytest.mark.anyio
@FUZZ
@given(requests())
async def test_handle_always_answers(drawn: tuple[Mode, Any, Any]) -> None:
    mode, request, reply = drawn
    handler, transport = APPS[mode]
    transport.reply = reply
    _check(await handler.handle(request, now=NOW))


def _sign_if(mode: Mode, body: bytes) -> dict[str, str]:
    return {"x-inngest-signature": signature(body, KEY, NOW)} if mode == "cloud" else {}


def _call(mode: Mode, fn_id: str, step_id: str, body: Any) -> inngest.IncomingRequest:
    """A call request of ``body`` (as JSON), signed in cloud mode."""
    raw = _encode(body)
    return inngest.IncomingRequest(
        method="POST",
        url=URL,
        headers=_sign_if(mode, raw),
        body=raw,
        query={"fnId": fn_id, "stepId": step_id},
    )


@FUZZ
@given(
    st.sampled_from(["dev", "cloud"]),
    st.sampled_from(FN_IDS),
    st.sampled_from(["step", *HASHES]),
    mutated_call_requests(),
)
def test_mutated_call_requests_always_answer(
    mode: Mode, fn_id: str, step_id: str, body: Any
) -> None:
    """Every call request reaches the parser (signed, known function)."""
    request = _call(mode, fn_id, step_id, body)
    handler, _ = APPS[mode]
    resp = handler.handle_sync(request, now=NOW)
    _check(resp)
    assert resp.status != 401


@pytest.mark.anyio
@FUZZ
@given(
    st.sampled_from(["dev", "cloud"]),
    st.sampled_from(FN_IDS),
    mutated_call_requests(),
)
async def test_mutated_call_requests_always_answer_async(
    mode: Mode, fn_id: str, body: Any
) -> None:
    request = _call(mode, fn_id, "step", body)
    handler, _ = APPS[mode]
    resp = await handler.handle(request, now=NOW)
    _check(resp)
    assert resp.status != 401


def _serve_put(mode: Mode, body: bytes, in_band: bool, reply: Any) -> inngest.Response:
    handler, transport = APPS[mode]
    transport.reply = reply
    request_headers = _sign_if(mode, body)
    if in_band:
        request_headers["x-inngest-sync-kind"] = "in_band"
    request = inngest.IncomingRequest(
        method="PUT", url=URL, headers=request_headers, body=body
    )
    return handler.handle_sync(request, now=NOW)


@FUZZ
@given(
    st.sampled_from(["dev", "cloud"]),
    st.one_of(
        json_values.map(_encode),
        st.builds(lambda url: _encode({"url": url}), short_text),
        st.binary(max_size=50),
    ),
    st.booleans(),
    outbound_replies,
)
def test_syncs_always_answer(
    mode: Mode, body: bytes, in_band: bool, reply: Any
) -> None:
    resp = _serve_put(mode, body, in_band, reply)
    _check(resp)
    assert resp.status in {200, 400, 500}


def test_property_helpers_catch_an_internal_error() -> None:
    bad = inngest.Response(
        500,
        {
            "content-type": "application/json",
            "x-inngest-sdk": SDK_IDENTITY,
            "x-inngest-sdk-handled": "true",
        },
        b'{"code": "unknown", "message": "internal SDK error: boom"}',
    )
    with pytest.raises(AssertionError):
        _check(bad)
