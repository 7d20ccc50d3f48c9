"""Signing keys, request verification and response signing, against golden vectors."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inngest_proto import _signing
from inngest_proto._errors import (
    HeaderMissingError,
    InvalidSigningKeyError,
    SignatureExpiredError,
    SignatureVerificationError,
    SigningKeyMissingError,
)
from inngest_proto._signing import (
    compute_signature,
    hash_event_key,
    hash_signing_key,
    sign_response,
    strip_key_prefix,
    verify_request,
)

GOLDEN = Path(__file__).parent.parent / "fixtures" / "golden"
VECTORS: dict[str, Any] = json.loads((GOLDEN / "auth_vectors.json").read_text("utf-8"))
NOW = 1735689600
assert VECTORS["timestamp_used"] == NOW

K1 = "signkey-test-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
K2 = "signkey-test-fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
# Body B2 of docs/protocol/http.rst#test-vectors: B1's JSON, not canonical.  The
# verification cases use it.
B2 = (
    b'{ "steps": {}, "event": {"name": "golden/x", "data": {}},\n'
    b'  "ctx": {"run_id": "01JGOLDENRUN00000000000001", "attempt": 0} }'
)
B1 = (
    b'{"ctx":{"attempt":0,"run_id":"01JGOLDENRUN00000000000001"},'
    b'"event":{"data":{},"name":"golden/x"},"steps":{}}'
)


def _header_fields(header: str) -> dict[str, str]:
    return dict(field.split("=", 1) for field in header.split("&"))


def _signature_vectors() -> list[dict[str, Any]]:
    return list(VECTORS["signatures"])


def _verification_cases() -> list[dict[str, Any]]:
    (key,) = (k for k in VECTORS if k.startswith("verification_cases"))
    return list(VECTORS[key])


def _request_header(vector: dict[str, Any]) -> str:
    (name,) = (k for k in vector if k.startswith("request_signature_header"))
    return str(vector[name])


def _response_header(vector: dict[str, Any]) -> str:
    (name,) = (k for k in vector if k.startswith("response_signature_header"))
    return str(vector[name])


# --- keys -------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["hashed_signing_keys"])
def test_golden_bearer_hashes(vector: dict[str, str]) -> None:
    assert strip_key_prefix(vector["key"]) == vector["key_without_prefix"]
    assert hash_signing_key(vector["key"]) == vector["python_bearer_token"]
    authorization = f"Bearer {hash_signing_key(vector['key'])}"
    assert authorization == vector["authorization_header_python"]


@pytest.mark.parametrize("vector", VECTORS["hashed_event_keys"])
def test_golden_event_key_hashes(vector: dict[str, str]) -> None:
    assert hash_event_key(vector["event_key"]) == vector["sha256_hex"]


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("signkey-prod-abcd", "abcd"),
        ("signkey-branch-abcd", "abcd"),
        ("signkey-my_env2-abcd", "abcd"),
        ("abcd", "abcd"),
        ("signkey-prod-signkey-test-abcd", "signkey-test-abcd"),  # one prefix only
        ("signkey--abcd", "signkey--abcd"),  # \w+ needs at least one character
        ("xsignkey-prod-abcd", "xsignkey-prod-abcd"),  # anchored at the start
        ("signkey-prod-", ""),
        ("", ""),
    ],
)
def test_strip_key_prefix(key: str, expected: str) -> None:
    assert strip_key_prefix(key) == expected


def test_hash_signing_key_accepts_uppercase_hex() -> None:
    assert hash_signing_key(K1.upper().replace("SIGNKEY-TEST-", "signkey-test-")) == (
        hash_signing_key(K1)
    )


@pytest.mark.parametrize(
    "key",
    [
        "signkey-prod-0123456789abcdefXYZ0123456789abcdef",
        "signkey-prod-abc",  # odd number of digits
        "signkey-prod-",
        "signkey-prod-01 23",  # bytes.fromhex would skip the space
        "not-a-key-at-all-secretvalue",
        "",
    ],
)
def test_hash_signing_key_rejects_non_hex_without_leaking_it(key: str) -> None:
    with pytest.raises(InvalidSigningKeyError) as info:
        hash_signing_key(key)
    message = str(info.value)
    assert "signkey-<env>-<hex>" in message
    assert "Inngest dashboard" in message
    secret = strip_key_prefix(key)
    if len(secret) > 3:
        assert secret not in message
    assert info.value.code == "signing_key_invalid"


# --- signatures -------------------------------------------------------------


@pytest.mark.parametrize("vector", _signature_vectors())
def test_golden_signatures(vector: dict[str, Any]) -> None:
    key = vector["key"]
    timestamp = vector["timestamp"]
    body = vector["body_utf8"].encode("utf-8")
    canonical = vector["jcs_canonical_body_utf8"].encode("utf-8")
    request_header = _request_header(vector)
    response_header = _response_header(vector)

    assert (
        compute_signature(canonical, key, timestamp)
        == (_header_fields(request_header)["s"])
    )
    assert (
        compute_signature(body, key, timestamp) == _header_fields(response_header)["s"]
    )
    assert sign_response(body, key, timestamp) == response_header
    # What the server would send (the canonical bytes) and what a proxy might
    # have turned it into (the raw vector body) both verify.
    assert verify_request(request_header, canonical, key, None, NOW) == key
    assert verify_request(request_header, body, key, None, NOW) == key


@pytest.mark.parametrize("case", _verification_cases(), ids=lambda case: case["case"])
def test_golden_verification_cases(case: dict[str, Any]) -> None:
    header = case["headers"].get("x-inngest-signature")
    result: str = case["result"]

    def verify(window_seconds: float = 300.0) -> str:
        return verify_request(header, B2, K1, K2, NOW, window_seconds)

    if result.startswith("ok, key used = "):
        expected_key = result.removeprefix("ok, key used = ")
        timestamp = int(_header_fields(header)["t"])
        if abs(NOW - timestamp) > 300:
            # Python 0.5.19 has no freshness check; we do.
            with pytest.raises(SignatureExpiredError):
                verify()
            assert verify(math.inf) == expected_key
        else:
            assert verify() == expected_key
    elif result.startswith("rejected: HeaderMissingError"):
        with pytest.raises(HeaderMissingError):
            verify()
    elif result.startswith("rejected: SigVerificationFailedError"):
        with pytest.raises(SignatureVerificationError) as info:
            verify()
        assert type(info.value) is SignatureVerificationError
    else:
        pytest.fail(f"unrecognized golden result {result!r}")


def test_old_timestamp_vector_is_expired_unless_window_disabled() -> None:
    (case,) = (c for c in _verification_cases() if "t=1000000000" in str(c["headers"]))
    header = case["headers"]["x-inngest-signature"]
    with pytest.raises(SignatureExpiredError, match="clock") as info:
        verify_request(header, B2, K1, K2, NOW)
    assert info.value.status == 401
    assert verify_request(header, B2, K1, K2, NOW, math.inf) == K1


def test_auth_md_real_signed_response() -> None:
    header = (
        "t=1795472023"
        "&s=432d46b7983dd8ebc4ab69e843acea968c15313f7aae1d402c7a7241028e569f"
    )
    body = b'{"result": "AB"}'
    assert sign_response(body, K1, 1795472023) == header
    expected = hmac.new(
        K1.removeprefix("signkey-test-").encode(), body + b"1795472023", hashlib.sha256
    ).hexdigest()
    assert _header_fields(header)["s"] == expected
    assert verify_request(header, body, K1, None, NOW, math.inf) == K1


@pytest.mark.parametrize("scenario", ["exec_cloud_signed", "exec_cloud_fallback_key"])
def test_golden_transcripts(scenario: str) -> None:
    transcript = json.loads((GOLDEN / f"{scenario}.json").read_text("utf-8"))
    keys = transcript["keys"]
    for exchange in transcript["exchanges"]:
        request_headers = {k.lower(): v for k, v in exchange["request"]["headers"]}
        response_headers = {k.lower(): v for k, v in exchange["response"]["headers"]}
        request_header = request_headers["x-inngest-signature"]
        request_time = int(_header_fields(request_header)["t"])
        used_key = verify_request(
            request_header,
            exchange["request"]["body_raw"].encode("utf-8"),
            keys["signing_key"],
            keys["signing_key_fallback"],
            request_time,
        )
        response_header = response_headers["x-inngest-signature"]
        response_time = int(_header_fields(response_header)["t"])
        response_body = exchange["response"]["body_raw"].encode("utf-8")
        assert sign_response(response_body, used_key, response_time) == response_header


def test_empty_body_signs_just_the_timestamp() -> None:
    expected = hmac.new(
        K1.removeprefix("signkey-test-").encode(), b"1735689600", hashlib.sha256
    ).hexdigest()
    assert compute_signature(b"", K1, NOW) == expected
    assert verify_request(f"t={NOW}&s={expected}", b"", K1, None, NOW) == K1


# --- verification details ---------------------------------------------------


def _signed(body: bytes, key: str, timestamp: int = NOW) -> str:
    return f"t={timestamp}&s={compute_signature(body, key, timestamp)}"


def test_canonical_body_verifies_without_parsing_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fail(_: bytes) -> bytes | None:
        raise AssertionError("the slow path must not run for canonical bodies")

    monkeypatch.setattr(_signing, "_canonicalize_body", fail)
    assert verify_request(_signed(B1, K1), B1, K1, K2, NOW) == K1
    # The fallback key is also tried on the raw bytes before any parsing.
    assert verify_request(_signed(B1, K2), B1, K1, K2, NOW) == K2


def test_reserialized_body_verifies_through_jcs_with_either_key() -> None:
    assert verify_request(_signed(B1, K1), B2, K1, K2, NOW) == K1
    assert verify_request(_signed(B1, K2), B2, K1, K2, NOW) == K2


def test_returns_the_key_as_configured() -> None:
    bare = strip_key_prefix(K1)
    assert verify_request(_signed(B1, K1), B1, bare, None, NOW) == bare
    assert verify_request(_signed(B1, K2), B1, K1, strip_key_prefix(K2), NOW) == (
        strip_key_prefix(K2)
    )


def test_mismatch_names_what_to_check() -> None:
    header = _signed(B1, K2)
    with pytest.raises(SignatureVerificationError) as info:
        verify_request(header, B1, K1, None, NOW)
    message = str(info.value)
    assert "does not match" in message
    assert "INNGEST_SIGNING_KEY is this environment's signing key" in message
    assert strip_key_prefix(K1) not in message
    with pytest.raises(
        SignatureVerificationError, match="INNGEST_SIGNING_KEY_FALLBACK"
    ):
        verify_request(_signed(B1, "signkey-prod-00"), B1, K1, K2, NOW)


def test_empty_fallback_key_counts_as_none() -> None:
    with pytest.raises(SignatureVerificationError) as info:
        verify_request(_signed(b"", ""), b"", K1, "", NOW)
    assert "FALLBACK" not in str(info.value)


def test_empty_signing_key_is_a_configuration_error() -> None:
    with pytest.raises(SigningKeyMissingError, match="INNGEST_SIGNING_KEY"):
        verify_request(_signed(b"", ""), b"", "", None, NOW)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe\x00",
        b"[" * 100_000,
        b'{"x": NaN}',
        b'{"x": 1e999}',
        b'"\\ud800"',
        b"1" * 5000,
    ],
)
def test_unparseable_or_uncanonicalizable_body_is_a_plain_mismatch(body: bytes) -> None:
    with pytest.raises(SignatureVerificationError, match="does not match") as info:
        verify_request(_signed(b"{}", K1), body, K1, K2, NOW)
    assert type(info.value) is SignatureVerificationError


def test_header_missing() -> None:
    with pytest.raises(HeaderMissingError, match="X-Inngest-Signature") as info:
        verify_request(None, B1, K1, K2, NOW)
    assert info.value.status == 401


GOOD_S = compute_signature(B1, K1, NOW)


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("", "'t' is missing"),
        (f"s={GOOD_S}", "'t' is missing"),
        (f"t={NOW}", "'s' is missing"),
        (f"t={NOW}&s=", "64 hex digits"),
        (f"t={NOW}&s={GOOD_S[:-1]}", "64 hex digits"),
        (f"t={NOW}&s={GOOD_S[:-1]}\u00e9", "64 hex digits"),
        (f"t=&s={GOOD_S}", "Unix time"),
        (f"t=abc&s={GOOD_S}", "Unix time"),
        (f"t=-5&s={GOOD_S}", "Unix time"),
        (f"t=1735689600.5&s={GOOD_S}", "Unix time"),
        (f"t=\u0661\u0667\u0663\u0665&s={GOOD_S}", "Unix time"),
        (f"t={'9' * 40}&s={GOOD_S}", "Unix time"),
        (f"t={NOW}&t={NOW}&s={GOOD_S}", "'t' appears more than once"),
        (f"t={NOW}&s={GOOD_S}&s={GOOD_S}", "'s' appears more than once"),
        (f"t {NOW}; s {GOOD_S}", "'t' is missing"),
    ],
)
def test_malformed_headers(header: str, problem: str) -> None:
    with pytest.raises(SignatureVerificationError, match="malformed") as info:
        verify_request(header, B1, K1, K2, NOW)
    assert problem in str(info.value)
    assert type(info.value) is SignatureVerificationError


def test_header_field_order_whitespace_and_extra_fields() -> None:
    assert verify_request(f"s={GOOD_S}&t={NOW}", B1, K1, None, NOW) == K1
    assert verify_request(f" t={NOW}&s={GOOD_S}\r\n", B1, K1, None, NOW) == K1
    assert verify_request(f"t={NOW}&v=2&s={GOOD_S}", B1, K1, None, NOW) == K1


def test_uppercase_signature_does_not_match() -> None:
    with pytest.raises(SignatureVerificationError, match="does not match"):
        verify_request(f"t={NOW}&s={GOOD_S.upper()}", B1, K1, None, NOW)


@pytest.mark.parametrize(
    ("signed_at", "now", "window", "accepted"),
    [
        (NOW - 300, NOW, 300.0, True),
        (NOW + 300, NOW, 300.0, True),
        (NOW - 301, NOW, 300.0, False),
        (NOW + 301, NOW, 300.0, False),
        (NOW, NOW + 300.5, 300.0, False),
        (NOW, NOW + 299.5, 300.0, True),
        (NOW, NOW, 0.0, True),
        (NOW - 1, NOW, 0.0, False),
        (NOW - 3600, NOW, 3600.0, True),
        (0, NOW, math.inf, True),
    ],
)
def test_timestamp_window(
    signed_at: int, now: float, window: float, accepted: bool
) -> None:
    header = _signed(B1, K1, signed_at)
    if accepted:
        assert verify_request(header, B1, K1, None, now, window) == K1
    else:
        with pytest.raises(SignatureExpiredError):
            verify_request(header, B1, K1, None, now, window)


def test_expiry_message_says_past_or_future() -> None:
    with pytest.raises(SignatureExpiredError, match=r"too old: .* 301 s from now"):
        verify_request(_signed(B1, K1, NOW - 301), B1, K1, None, NOW)
    with pytest.raises(SignatureExpiredError, match="too far in the future"):
        verify_request(_signed(B1, K1, NOW + 301), B1, K1, None, NOW)


@pytest.mark.parametrize("window", [-1.0, math.nan, -math.inf])
def test_invalid_window_is_rejected(window: float) -> None:
    with pytest.raises(ValueError, match="window_seconds"):
        verify_request(_signed(B1, K1), B1, K1, None, NOW, window)


def test_leading_zeros_in_t_sign_the_normalized_number() -> None:
    # Python 0.5.19 parses t as an int and hashes str(int), so do we.
    header = f"t=0{NOW}&s={GOOD_S}"
    assert verify_request(header, B1, K1, None, NOW) == K1


HEX_KEYS = st.builds(
    lambda env, secret: f"signkey-{env}-{secret.hex()}",
    st.sampled_from(["prod", "test", "branch"]),
    st.binary(min_size=1, max_size=48),
)


@given(
    body=st.binary(max_size=512),
    key=HEX_KEYS,
    skew=st.integers(min_value=-300, max_value=300),
)
def test_sign_then_verify_round_trip(body: bytes, key: str, skew: int) -> None:
    header = sign_response(body, key, NOW + skew)
    assert verify_request(header, body, key, None, NOW) == key
    assert verify_request(header, body, K1, key, NOW) == key


@given(
    body=st.binary(min_size=1, max_size=256),
    key=HEX_KEYS,
    position=st.integers(min_value=0),
)
def test_tampered_non_json_body_is_rejected(
    body: bytes, key: str, position: int
) -> None:
    # A leading 0xff byte is never valid UTF-8, so the body cannot be JSON and
    # only the raw-bytes comparison applies.
    body = b"\xff" + body
    header = sign_response(body, key, NOW)
    index = position % len(body)
    tampered = body[:index] + bytes([body[index] ^ 0x01]) + body[index + 1 :]
    with pytest.raises(SignatureVerificationError, match="does not match"):
        verify_request(header, tampered, key, None, NOW)
