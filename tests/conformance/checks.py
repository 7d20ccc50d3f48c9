"""Checking one of our responses against a golden exchange.

Shared by the in-process conformance suite and the suite that replays the
transcripts through every framework adapter over real HTTP.  Only what is
random or machine-specific is normalised (tracebacks, the SDK's version, the
time a relative sleep ends, response signature timestamps); every deliberate
difference from the official SDK is in ``DIFFERENCES`` with its reason.
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Callable
from typing import Any

from inngest_proto import Response
from inngest_proto._signing import compute_signature
from inngest_proto._version import SDK_IDENTITY
from tests.conformance.golden import (
    SIGNED_AT,
    Replay,
    headers_of,
    ours_for_theirs,
    url_path,
    without_stacks,
)

#: How far the host's clock may be from the test's, when the host reads it.
CLOCK_SLACK_SECONDS = 120

Expect = Callable[[int, Any], tuple[int, Any]]


def _unauthorized_with_reason(status: int, body: Any) -> tuple[int, Any]:
    # We say why the signature was refused and what to check.
    return status, {**body, "code": "<code>", "detail": "<detail>"}


def _legacy_id_served(status: int, body: Any) -> tuple[int, Any]:
    # 0.5.19 means to serve pre-0.3 ids (fnId without the app prefix) but its
    # fallback is broken; ours works, so the function runs.
    return 200, {"hello": "world", "attempt": 0}


def _nested_error_name(status: int, body: Any) -> tuple[int, Any]:
    # The error class is ours: StepNestedError, not the official CodedError.
    body[0]["error"]["name"] = "StepNestedError"
    return status, body


def _unserializable_detail(status: int, body: Any) -> tuple[int, Any]:
    # Our message names the offending type and what to return instead.
    return status, {**body, "message": "<detail>"}


def _fn_id_says_what_to_do(status: int, body: Any) -> tuple[int, Any]:
    # The official message is only "fnId" or "function X not found"; ours
    # starts the same way and adds what to check.
    assert isinstance(body["message"], str)
    return status, {**body, "message": ("<starts with>", body["message"])}


def _failed_sync_is_an_error(status: int, body: Any) -> tuple[int, Any]:
    # A sync the server rejected is a 500, never a 200
    # (docs/protocol/index.rst#where-the-sdks-and-the-server-differ).
    return 500, {
        "message": "registration failed: At least one function is invalid",
        "modified": False,
    }


#: scenario -> exchange index -> how our answer deliberately differs.
DIFFERENCES: dict[str, dict[int, Expect]] = {
    "exec_cloud_unsigned": {0: _unauthorized_with_reason},
    "exec_cloud_probe_trust": {1: _unauthorized_with_reason},
    "introspection_cloud_unsigned": {0: _unauthorized_with_reason},
    "introspection_cloud_bad_signature": {0: _unauthorized_with_reason},
    "sync_cloud_in_band_unsigned": {0: _unauthorized_with_reason},
    "exec_legacy_fn_id": {0: _legacy_id_served},
    "exec_nested_steps": {0: _nested_error_name},
    "exec_unserializable_output": {0: _unserializable_detail},
    "sync_dev_register_rejected": {0: _failed_sync_is_an_error},
    "exec_missing_fn_id": {0: _fn_id_says_what_to_do},
    "exec_unknown_fn_id": {0: _fn_id_says_what_to_do},
}

#: Response headers whose values must equal the recording's when present there.
EXACT_HEADERS = (
    "content-type",
    "x-inngest-req-version",
    "x-inngest-framework",
    "x-inngest-expected-server-kind",
    "x-inngest-no-retry",
    "retry-after",
    "x-inngest-sync-kind",
    "x-inngest-env",
    "x-inngest-sdk-handled",
)


def parse(body: bytes) -> Any:
    return json.loads(body)


def streamed_inner(raw: str) -> Any:
    """The final JSON object of a streamed (201) recording, after keepalives."""
    return json.loads(raw.strip())


def _normalise_ours(body: Any, golden: Any) -> Any:
    """Blank out in our body what the recording could not fix either."""
    if isinstance(golden, dict) and golden.get("code") and "detail" in golden:
        body = {**body, "code": "<code>", "detail": "<detail>"}
    if isinstance(golden, dict) and golden.get("message") == "<detail>":
        body = {**body, "message": "<detail>"}
    expected = golden.get("message") if isinstance(golden, dict) else None
    if isinstance(expected, tuple) and expected[0] == "<starts with>":
        assert body["message"].startswith(expected[1]), body["message"]
        assert len(body["message"]) > len(expected[1])
        body = {**body, "message": expected}
    return body


def _check_relative_sleep(ours: Any, theirs: Any, now: float | None) -> tuple[Any, Any]:
    """A relative sleep ends at request time + duration, on each side's clock."""
    if not (isinstance(ours, list) and isinstance(theirs, list)):
        return ours, theirs
    for mine, recorded in zip(ours, theirs, strict=False):
        if not isinstance(mine, dict):
            continue
        if mine.get("op") == "Sleep" and mine["userland"]["id"] == "nap-1h":
            ends = datetime.datetime.strptime(mine["name"], "%Y-%m-%dT%H:%M:%S.%f%z")
            expected = (SIGNED_AT if now is None else now) + 3600
            slack = CLOCK_SLACK_SECONDS if now is not None else 0
            assert abs(ends.timestamp() - expected) <= slack, mine["name"]
            mine["name"] = recorded["name"] = "<now + 1h>"
    return ours, theirs


def _check_headers(
    ours: Response, recorded: dict[str, str], status: int, framework: str | None
) -> None:
    if status == 401:
        assert "x-inngest-sdk" not in ours.headers
        assert ours.headers["x-inngest-sdk-handled"] == "true"
        return
    assert ours.headers["x-inngest-sdk"] == SDK_IDENTITY
    assert ours.headers["user-agent"] == SDK_IDENTITY
    for name in EXACT_HEADERS:
        if name == "content-type" and recorded.get(name, "").startswith("application"):
            assert ours.headers[name].startswith("application/json")
            continue
        if name == "x-inngest-framework" and framework is not None:
            assert ours.headers[name] == framework
            continue
        assert ours.headers.get(name) == recorded.get(name), name


def _check_signature(
    ours: Response,
    recorded: dict[str, str],
    recorded_body: str,
    keys: dict[str, str],
    now: float | None,
) -> None:
    if "x-inngest-signature" not in recorded:
        assert "x-inngest-signature" not in ours.headers
        return
    # Sign with the key that signed the recording (primary or fallback).
    fields = dict(p.split("=", 1) for p in recorded["x-inngest-signature"].split("&"))
    candidates = [keys["signing_key"], keys["signing_key_fallback"]]
    key = next(
        k
        for k in candidates
        if compute_signature(recorded_body.encode(), k, int(fields["t"])) == fields["s"]
    )
    mine = dict(p.split("=", 1) for p in ours.headers["x-inngest-signature"].split("&"))
    if now is None:
        assert int(mine["t"]) == SIGNED_AT
    else:
        assert abs(int(mine["t"]) - now) <= CLOCK_SLACK_SECONDS
    assert mine["s"] == compute_signature(ours.body, key, int(mine["t"]))


def as_framework(value: Any, framework: str | None) -> Any:
    """The recording's framework names (``fast_api``, ``flask``) as ``framework``."""
    if framework is None:
        return value
    if isinstance(value, list):
        return [as_framework(v, framework) for v in value]
    if isinstance(value, dict):
        return {
            k: (framework if k == "framework" else as_framework(v, framework))
            for k, v in value.items()
        }
    return value


def _check_outbound(
    replay: Replay,
    exchange: dict[str, Any],
    before: int,
    now: float | None,
    framework: str | None,
) -> None:
    sent = replay.transport.sent[before:]
    recorded = exchange.get("sdk_outbound_requests") or []
    assert len(sent) == len(recorded)
    for ours, theirs in zip(sent, recorded, strict=True):
        request = theirs["request"]
        assert ours.method == request["method"]
        assert url_path(ours.url) == request["path"]
        their_headers = ours_for_theirs(headers_of(request["headers"]))
        if framework is not None and "x-inngest-framework" in their_headers:
            their_headers["x-inngest-framework"] = framework
        for name in ("content-type", "x-inngest-sdk", "user-agent", "authorization"):
            assert ours.headers.get(name) == their_headers.get(name), name
        for name in ("x-inngest-env", "x-inngest-framework"):
            assert ours.headers.get(name) == their_headers.get(name), name
        assert ours.headers.get("x-inngest-expected-server-kind") == their_headers.get(
            "x-inngest-expected-server-kind"
        )
        if request["method"] == "GET":
            continue
        mine = json.loads(ours.body)
        theirs_body = as_framework(ours_for_theirs(request["body"]), framework)
        if "/fn/register" in request["path"]:
            # We send appName/deployType, the server's keys (README decisions).
            theirs_body["appName"] = theirs_body.pop("appname")
            theirs_body["deployType"] = theirs_body.pop("deploy_type")
        if request["path"].startswith("/e/"):
            # Events sent without ts get the sender's clock.
            for event in theirs_body:
                if "ts" in event and event["ts"] != 1700000000000:
                    event["ts"] = replay.transport.now() * 1000
        assert mine == theirs_body


def check_exchange(
    ours: Response,
    *,
    scenario: str,
    index: int,
    exchange: dict[str, Any],
    golden: dict[str, Any],
    replay: Replay,
    outbound_before: int,
    now: float | None = None,
    framework: str | None = None,
    streamed_body: bytes | None = None,
    streams: bool = True,
) -> None:
    """Assert that ``ours`` answers the golden ``exchange`` as the official SDK did.

    ``now`` is ``None`` when the handler ran at the recording's signature time
    (in process); over HTTP the host reads its own clock, given as ``now``.
    ``framework`` is the adapter's ``x-inngest-framework``; ``streamed_body``
    the raw body of a streamed (201) reply, when the host streamed; a host
    that cannot stream (``streams=False``) answers the wrapped response plainly.
    """
    recorded = exchange["response"]
    recorded_headers = headers_of(recorded["headers"])
    status = recorded["status"]
    if status == 201 and not streams:
        theirs = streamed_inner(recorded["body_raw"])
        assert ours.status == theirs["status"], ours.body
        assert json.loads(ours.body) == json.loads(theirs["body"])
        return
    if status == 201:
        # Streaming: the final chunk wraps the response we would have sent.
        theirs = streamed_inner(recorded["body_raw"])
        if streamed_body is not None:
            assert ours.status == 201
            assert streamed_body.startswith(b" ")
            inner = json.loads(streamed_body)
        else:
            inner = json.loads(replay.handler.responses.stream_envelope(ours))
        assert inner["status"] == theirs["status"]
        assert json.loads(inner["body"]) == json.loads(theirs["body"])
        return
    expected_body = as_framework(ours_for_theirs(recorded["body"]), framework)
    differences = DIFFERENCES.get(scenario, {})
    if index in differences:
        status, expected_body = differences[index](status, expected_body)
    assert ours.status == status, ours.body
    our_body = _normalise_ours(parse(ours.body), expected_body)
    our_body, expected_body = _check_relative_sleep(our_body, expected_body, now)
    assert without_stacks(our_body) == without_stacks(expected_body)
    _check_headers(ours, recorded_headers, status, framework)
    if status != 401:
        _check_signature(
            ours, recorded_headers, recorded["body_raw"], golden.get("keys") or {}, now
        )
    _check_outbound(replay, exchange, outbound_before, now, framework)


def host_clock() -> float:
    """The time a host in this process reads (for ``check_exchange(now=...)``)."""
    return time.time()
