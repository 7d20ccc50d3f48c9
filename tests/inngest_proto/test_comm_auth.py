"""The comm handler's signatures (cloud mode) and signing keys.

A request without a valid, fresh signature by the signing key or its fallback
is a 401 with bare headers and a reason; a signed request's answer is signed
with the key that verified it; dev mode ignores signatures.  Bad or missing
keys fail when the handler is built.  Each async test runs the request
through both drivers (``handle`` and ``handle_sync``) on asyncio and trio.
"""

from __future__ import annotations

from typing import Any

import pytest

import inngest_proto as inngest
from inngest_proto._errors import (
    InvalidSigningKeyError,
    LocalProtocolError,
    SigningKeyMissingError,
)
from tests.fakes import FakeTransport
from tests.inngest_proto._comm_helpers import (
    DRIVERS,
    FALLBACK,
    KEY,
    MODES,
    NOW,
    OTHER_KEY,
    URL,
    Driver,
    Mode,
    assert_signed,
    assert_unauthorized,
    call,
    call_body,
    encode,
    environ,
    make_client,
    make_handler,
    request,
    serve,
    signature,
)

# --- signatures (cloud mode) --------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize(
    ("headers", "code", "words"),
    [
        ({}, "header_missing", ("X-Inngest-Signature", "INNGEST_DEV")),
        (
            {"x-inngest-signature": "garbage"},
            "sig_verification_failed",
            ("malformed", "t=<unix seconds>"),
        ),
        (
            {"x-inngest-signature": f"t={NOW}"},
            "sig_verification_failed",
            ("'s' is missing",),
        ),
        (
            {"x-inngest-signature": f"t=soon&s={'0' * 64}"},
            "sig_verification_failed",
            ("Unix time",),
        ),
        (
            {"x-inngest-signature": f"t={NOW}&s={'0' * 64}"},
            "sig_verification_failed",
            ("does not match", "INNGEST_SIGNING_KEY"),
        ),
    ],
)
async def test_missing_or_invalid_signature_is_401(
    headers: dict[str, str], code: str, words: tuple[str, ...], driver: Driver
) -> None:
    transport = FakeTransport(now=NOW)
    handler = make_handler("cloud", transport=transport)
    for req in (
        call(mode="cloud", sign=None, headers=headers),
        request(query={"probe": "trust"}, headers=headers),
        request("GET", headers=headers),
        request(
            "PUT",
            body={"url": URL},
            headers={**headers, "x-inngest-sync-kind": "in_band"},
        ),
    ):
        resp = await serve(handler, req, driver)
        assert_unauthorized(resp, code, *words)
    assert transport.sent == []


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_signature_of_another_key_is_401(driver: Driver) -> None:
    resp = await serve(
        make_handler("cloud"), call(mode="cloud", sign=OTHER_KEY), driver
    )
    assert_unauthorized(resp, "sig_verification_failed", "INNGEST_SIGNING_KEY")


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_signature_over_another_body_is_401(driver: Driver) -> None:
    req = call(mode="cloud", sign=None)
    other = signature(encode(call_body(version=1)))
    req = inngest.IncomingRequest(
        method="POST",
        url=req.url,
        headers={**req.headers, "x-inngest-signature": other},
        body=req.body,
        query=req.query,
    )
    resp = await serve(make_handler("cloud"), req, driver)
    assert_unauthorized(resp, "sig_verification_failed", "does not match")


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize(
    ("skew", "words"), [(301, ("too old", "clock")), (-301, ("future", "clock"))]
)
async def test_expired_signature_is_401(
    skew: int, words: tuple[str, ...], driver: Driver
) -> None:
    req = call(mode="cloud", signed_at=NOW - skew)
    resp = await serve(make_handler("cloud"), req, driver)
    assert_unauthorized(resp, "sig_verification_failed", *words)


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("skew", [300, -300, 0])
async def test_signature_within_the_window_is_accepted(
    skew: int, driver: Driver
) -> None:
    resp = await serve(
        make_handler("cloud"), call(mode="cloud", signed_at=NOW - skew), driver
    )
    assert resp.status == 206
    assert_signed(resp)


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_window_zero_disables_the_age_check(driver: Driver) -> None:
    handler = make_handler("cloud", signature_window_seconds=0)
    resp = await serve(handler, call(mode="cloud", signed_at=1_000_000_000), driver)
    assert resp.status == 206


@pytest.mark.parametrize("bad", [-1, float("nan"), "300", True])
def test_window_must_be_a_non_negative_number(bad: Any) -> None:
    with pytest.raises(LocalProtocolError, match="signature_window_seconds"):
        make_handler("cloud", signature_window_seconds=bad)


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_fallback_key_verifies_and_signs(driver: Driver) -> None:
    env = environ("cloud", INNGEST_SIGNING_KEY_FALLBACK=FALLBACK)
    handler = make_handler("cloud", env=env)
    resp = await serve(handler, call(mode="cloud", sign=FALLBACK), driver)
    assert resp.status == 206
    assert_signed(resp, FALLBACK)
    resp = await serve(handler, call(mode="cloud", sign=KEY), driver)
    assert_signed(resp, KEY)


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_dev_mode_ignores_signatures(driver: Driver) -> None:
    for headers in ({}, {"x-inngest-signature": "garbage"}):
        resp = await serve(make_handler(), call(headers=headers), driver)
        assert resp.status == 206
        assert "x-inngest-signature" not in resp.headers


@pytest.mark.anyio
@pytest.mark.parametrize("driver", DRIVERS)
async def test_verify_call_signatures_false_skips_the_check_for_calls_only(
    driver: Driver,
) -> None:
    # The Connect worker's handlers: calls carry no signature there.
    handler = make_handler("cloud", verify_call_signatures=False)
    resp = await serve(handler, call(mode="cloud", sign=None), driver)
    assert resp.status == 206
    assert "x-inngest-signature" not in resp.headers
    # The default still refuses the same request.
    resp = await serve(make_handler("cloud"), call(mode="cloud", sign=None), driver)
    assert resp.status == 401


# --- keys checked at construction ---------------------------------------------

SECRET = "not-HEX-secret-VALUE"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("env", "source"),
    [
        ({"INNGEST_SIGNING_KEY": f"signkey-prod-{SECRET}"}, "INNGEST_SIGNING_KEY "),
        ({"INNGEST_SIGNING_KEY": SECRET}, "INNGEST_SIGNING_KEY "),
        ({"INNGEST_SIGNING_KEY": "signkey-prod-abc"}, "INNGEST_SIGNING_KEY "),
        (
            {"INNGEST_SIGNING_KEY": KEY, "INNGEST_SIGNING_KEY_FALLBACK": SECRET},
            "INNGEST_SIGNING_KEY_FALLBACK",
        ),
    ],
)
def test_non_hex_signing_key_fails_at_construction(
    env: dict[str, str], source: str, mode: Mode
) -> None:
    if mode == "dev":
        env = {**env, "INNGEST_DEV": "1"}
    client = make_client(mode, env=env)
    with pytest.raises(InvalidSigningKeyError) as caught:
        inngest.CommHandler(client=client, functions=[], framework="test")
    message = caught.value.message
    assert message.startswith(source)
    assert "hexadecimal" in message
    assert "dashboard" in message
    assert SECRET not in message
    assert SECRET not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_key_passed_as_argument_is_checked_too() -> None:
    client = make_client("cloud", env={}, signing_key="signkey-prod-zz")
    with pytest.raises(InvalidSigningKeyError, match="signing_key="):
        inngest.CommHandler(client=client, functions=[], framework="test")


def test_cloud_mode_without_signing_key() -> None:
    client = make_client("cloud", env={})
    with pytest.raises(SigningKeyMissingError, match="INNGEST_SIGNING_KEY") as caught:
        inngest.CommHandler(client=client, functions=[], framework="test")
    assert "INNGEST_DEV=1" in caught.value.message


def test_bare_hex_key_is_accepted() -> None:
    client = make_client("cloud", env={"INNGEST_SIGNING_KEY": "ab" * 32})
    inngest.CommHandler(client=client, functions=[], framework="test")
