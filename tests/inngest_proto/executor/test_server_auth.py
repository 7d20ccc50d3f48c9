"""The server's side of the signing key: kind, signatures, bearers, secrets."""

from __future__ import annotations

import math

import pytest

from inngest_proto._signing import hash_signing_key, verify_request
from inngest_proto.executor import ServerAuth

HEX = "0123456789abcdef" * 4
KEY = f"signkey-test-{HEX}"


def test_without_a_key_it_is_a_dev_server_that_asks_nothing() -> None:
    auth = ServerAuth(None)
    assert (auth.enabled, auth.server_kind) == (False, "dev")
    assert auth.sign(b"{}", 1.0) is None
    assert auth.bearer_ok({})
    assert auth.derive_secret("realtime") is None
    assert auth.derive_token("ui") is None


def test_with_a_key_it_signs_what_an_sdk_verifies() -> None:
    auth = ServerAuth(KEY)
    assert (auth.enabled, auth.server_kind) == (True, "cloud")
    body = b'{"url":"http://127.0.0.1:1/api/inngest"}'
    header = auth.sign(body, 1_700_000_000.9)
    assert header is not None
    assert header.startswith("t=1700000000&s=")
    assert verify_request(header, body, KEY, None, 1_700_000_000, math.inf) == KEY


@pytest.mark.parametrize(
    "token",
    [hash_signing_key(KEY), f"signkey-test-{hash_signing_key(KEY)}", HEX, KEY],
)
def test_bearer_accepts_the_key_or_its_hash(token: str) -> None:
    assert ServerAuth(KEY).bearer_ok({"authorization": f"Bearer {token}"})


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Bearer ",
        f"Basic {HEX}",
        "Bearer " + hash_signing_key("ab" * 32),
        HEX,
        # Not ASCII (a header read as Latin-1, a key typed in the UI's form).
        f"Bearer {HEX[:-1]}\u00e9",
        "Bearer \u00e9",
    ],
)
def test_bearer_refuses_anything_else(header: str) -> None:
    assert not ServerAuth(KEY).bearer_ok({"authorization": header})


def test_derived_secrets_depend_on_the_key_and_the_purpose() -> None:
    auth = ServerAuth(KEY)
    realtime = auth.derive_secret("realtime")
    assert realtime is not None
    assert len(realtime) == 32
    assert realtime == ServerAuth(KEY).derive_secret("realtime")
    assert realtime != auth.derive_secret("ui")
    assert realtime != ServerAuth("signkey-test-" + "ab" * 32).derive_secret("realtime")
    # The key's prefix names the environment, not the secret.
    assert realtime == ServerAuth(HEX).derive_secret("realtime")
    assert HEX not in (auth.derive_token("ui") or HEX)
