"""inngest_proto.encryption: keys, the wire format, event data, the middleware."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import subprocess
import sys
from typing import Any, cast

import attrs
import nacl.bindings
import pytest
from hypothesis import given
from hypothesis import strategies as st

import inngest_proto as inngest
from inngest_proto._engine import FunctionReturned, StepsReported
from inngest_proto._middleware import (
    MiddlewareManager,
    TransformOutputResult,
    TransformOutputStepInfo,
)
from inngest_proto._step_ids import hash_step_id
from inngest_proto.encryption import (
    ENCRYPTION_MARKER,
    STRATEGY,
    STRATEGY_MARKER,
    Cipher,
    DecryptionError,
    EncryptionMiddleware,
    derive_key,
    is_encrypted,
)
from tests.inngest_proto._calls import call_request, dev_client, run

KEY = "my-secret-key"
#: BLAKE2b-256("my-secret-key"), computed with hashlib, not with our code.
KEY_BYTES = bytes.fromhex(
    "5d106a01136d3c3ce48b8cb3f8ae3b7e695afddef15d2bdd8f553749cb6bc5e4"
)
NONCE = bytes(range(24))
#: ``{"msg": "hello"}`` sealed with KEY and NONCE by libsodium directly.
GOLDEN = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYX+z5yBPlfawf7p2P0GXPQnjSLmPUkzpBtBfbUEuV57CA="

JSON_VALUES = [
    None,
    True,
    False,
    0,
    -7,
    2**63,
    1.5,
    -0.25,
    "",
    "plain",
    "é ☃ \u2028 😀 \x00",
    [],
    [1, "two", None, [3.5]],
    {},
    {"a": {"b": [None, False, {"c": ""}]}, "é": 1},
]


def sealed(value: Any, key: str = KEY) -> dict[str, Any]:
    return Cipher(key).encrypt(value)


# --- keys ---------------------------------------------------------------------


def test_a_string_key_is_hashed_with_blake2b_256() -> None:
    assert derive_key(KEY) == KEY_BYTES
    assert derive_key("é") == hashlib.blake2b("é".encode(), digest_size=32).digest()
    # No trimming: the official Python package hashes the string as given.
    assert derive_key(" k ") != derive_key("k")


def test_bytes_keys_are_hex_or_raw() -> None:
    assert derive_key(KEY_BYTES.hex().encode()) == KEY_BYTES
    assert derive_key(KEY_BYTES) == KEY_BYTES


@pytest.mark.parametrize(
    ("key", "error", "match"),
    [
        ("", ValueError, "empty"),
        ("   ", ValueError, "empty"),
        (b"short", ValueError, "32 raw bytes or 64 hex digits, got 5"),
        (b"z" * 64, ValueError, "64 hex digits"),
        (42, TypeError, "str or bytes, got int"),
    ],
)
def test_bad_keys_are_refused(key: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        derive_key(key)
    with pytest.raises(error, match=match):
        EncryptionMiddleware.factory(key)
    with pytest.raises(error, match=match):
        EncryptionMiddleware.factory(KEY, fallback_decryption_keys=[key])


def test_fallback_keys_must_be_a_list() -> None:
    with pytest.raises(TypeError, match="list of keys, not a single key"):
        Cipher(KEY, fallback_decryption_keys="old")
    with pytest.raises(TypeError, match="list of keys"):
        EncryptionMiddleware.factory(KEY, fallback_decryption_keys="old")  # type: ignore[arg-type]


# --- values -------------------------------------------------------------------


@pytest.mark.parametrize("value", JSON_VALUES, ids=repr)
def test_every_json_type_round_trips(value: Any) -> None:
    encrypted = sealed(value)
    assert is_encrypted(encrypted)
    assert json.loads(json.dumps(encrypted)) == encrypted  # JSON itself
    assert Cipher(KEY).decrypt(encrypted) == value


def test_the_exact_wire_shape() -> None:
    encrypted = Cipher(KEY)._encrypt_with_nonce({"msg": "hello"}, NONCE)
    assert list(encrypted) == [ENCRYPTION_MARKER, STRATEGY_MARKER, "data"]
    assert encrypted == {
        "__ENCRYPTED__": True,
        "__STRATEGY__": "inngest/libsodium",
        "data": GOLDEN,
    }
    # And independently: base64(nonce + crypto_secretbox(json.dumps(v))).
    raw = base64.b64decode(encrypted["data"])
    assert raw[:24] == NONCE
    plain = nacl.bindings.crypto_secretbox_open(raw[24:], NONCE, KEY_BYTES)
    assert plain == b'{"msg": "hello"}'
    assert Cipher(KEY).decrypt({**encrypted}) == {"msg": "hello"}


def test_every_encryption_uses_a_fresh_nonce() -> None:
    first, second = sealed("same"), sealed("same")
    assert first["data"] != second["data"]
    raw = base64.b64decode(first["data"])
    assert len(raw) == 24 + 16 + len(b'"same"')


@pytest.mark.parametrize("value", [{1, 2}, float("nan"), float("inf"), object()])
def test_only_json_values_are_encrypted(value: Any) -> None:
    with pytest.raises(TypeError, match="only JSON values can be encrypted"):
        sealed(value)


def test_key_rotation_with_fallback_keys() -> None:
    old = sealed({"v": 1}, "old-key")
    rotated = Cipher("new-key", fallback_decryption_keys=["older-key", "old-key"])
    assert rotated.decrypt(old) == {"v": 1}
    # The primary key alone cannot read it, and says what to do.
    with pytest.raises(DecryptionError, match="fallback_decryption_keys"):
        Cipher("new-key").decrypt(old)
    # Encryption always uses the primary key, never a fallback.
    new = rotated.encrypt({"v": 2})
    assert Cipher("new-key").decrypt(new) == {"v": 2}
    with pytest.raises(DecryptionError, match="or its 1 fallback key"):
        Cipher("old-key", fallback_decryption_keys=["older-key"]).decrypt(new)


def _flip(token: str, index: int) -> str:
    raw = bytearray(base64.b64decode(token))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("index", [0, 23, 24, 39, 40, -1], ids=lambda i: f"byte{i}")
def test_tampering_is_detected(index: int) -> None:
    # Nonce (0-23), MAC (24-39) and ciphertext (40-) alike.
    encrypted = sealed({"amount": 100})
    tampered = {**encrypted, "data": _flip(encrypted["data"], index)}
    with pytest.raises(DecryptionError, match="or it was altered"):
        Cipher(KEY).decrypt(tampered)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (5, "not a base64 string"),
        (None, "not a base64 string"),
        ("not base64!", "not valid base64"),
        (base64.b64encode(b"x" * 39).decode(), "too short"),
    ],
)
def test_malformed_values_are_refused(data: Any, match: str) -> None:
    value = {ENCRYPTION_MARKER: True, STRATEGY_MARKER: STRATEGY, "data": data}
    with pytest.raises(DecryptionError, match=match):
        Cipher(KEY).decrypt(value)


def test_a_sealed_non_json_plaintext_is_refused() -> None:
    box = nacl.bindings.crypto_secretbox(b"{not json", NONCE, KEY_BYTES)
    value = {
        ENCRYPTION_MARKER: True,
        STRATEGY_MARKER: STRATEGY,
        "data": base64.b64encode(NONCE + box).decode(),
    }
    with pytest.raises(DecryptionError, match="not JSON"):
        Cipher(KEY).decrypt(value)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ({ENCRYPTION_MARKER: True, "data": "U2FsdGVkX1"}, "legacy AES"),
        (
            {ENCRYPTION_MARKER: True, STRATEGY_MARKER: "acme/rot13", "data": "x"},
            "'acme/rot13'",
        ),
    ],
)
def test_other_strategies_are_refused_not_passed_on(value: Any, match: str) -> None:
    assert not is_encrypted(value)
    with pytest.raises(DecryptionError, match=match):
        Cipher(KEY).decrypt(value)


@pytest.mark.parametrize(
    "value",
    [
        *JSON_VALUES,
        {"data": "x"},
        {ENCRYPTION_MARKER: False, "data": "x"},
        {ENCRYPTION_MARKER: "true", STRATEGY_MARKER: STRATEGY, "data": "x"},
    ],
    ids=repr,
)
def test_unencrypted_values_pass_through_untouched(value: Any) -> None:
    assert Cipher(KEY).decrypt(value) is value
    assert Cipher(KEY).decrypt_memo(value) is value


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(value=JSON, key=st.text(min_size=1).filter(str.strip))
def test_any_json_value_round_trips(value: Any, key: str) -> None:
    cipher = Cipher(key)
    assert cipher.decrypt(cipher.encrypt(value)) == value


# --- event data and memos -------------------------------------------------------


def test_only_the_encryption_field_of_event_data_is_encrypted() -> None:
    cipher = Cipher(KEY)
    data = {"encrypted": {"phone": "867-5309"}, "user_id": "abc123"}
    out = cipher.encrypt_event_data(data)
    assert out["user_id"] == "abc123"
    assert is_encrypted(out["encrypted"])
    assert cipher.decrypt(out["encrypted"]) == {"phone": "867-5309"}
    assert data["encrypted"] == {"phone": "867-5309"}  # input left alone
    # Another field name; nothing to encrypt keeps the very same object.
    assert is_encrypted(cipher.encrypt_event_data({"secret": 1}, "secret")["secret"])
    for unchanged in ({}, {"other": 1}, {"encrypted": None}, out):
        assert cipher.encrypt_event_data(unchanged) is unchanged


def test_event_data_decryption_reads_every_encrypted_field() -> None:
    cipher = Cipher(KEY)
    data = {"encrypted": sealed([1]), "also": sealed("two"), "plain": 3}
    assert cipher.decrypt_event_data(data) == {
        "encrypted": [1],
        "also": "two",
        "plain": 3,
    }
    plain = {"encrypted": {"not": "sealed"}}
    assert cipher.decrypt_event_data(plain) is plain


def test_wholly_encrypted_event_data_keeps_its_plain_keys() -> None:
    # What an invoke of another SDK may carry: encrypted data beside _inngest.
    data = {**sealed({"a": 1, "_inngest": "shadowed"}), "_inngest": {"source": "x"}}
    assert Cipher(KEY).decrypt_event_data(data) == {"a": 1, "_inngest": "shadowed"}
    data = {**sealed({"a": 1}), "_inngest": {"source": "x"}}
    assert Cipher(KEY).decrypt_event_data(data) == {"a": 1, "_inngest": {"source": "x"}}
    with pytest.raises(DecryptionError, match="decrypted to an array, not an object"):
        Cipher(KEY).decrypt_event_data(sealed([1]))


def test_a_matched_events_encrypted_field_is_decrypted_in_its_memo() -> None:
    event = {"name": "a/b", "id": "x", "data": {"encrypted": sealed("s"), "k": 1}}
    out = Cipher(KEY).decrypt_memo(event)
    assert out == {"name": "a/b", "id": "x", "data": {"encrypted": "s", "k": 1}}
    assert Cipher(KEY).decrypt_memo(sealed(event)) == event


# --- the middleware on its hooks ---------------------------------------------------


@attrs.define
class FakeCtx:
    event: inngest.Event
    events: list[inngest.Event]


def middleware(**options: Any) -> EncryptionMiddleware:
    client = dev_client()
    factory = EncryptionMiddleware.factory(KEY, **options)
    (item,) = MiddlewareManager.create([factory], client, None)._items
    assert isinstance(item, EncryptionMiddleware)
    return item


def test_the_factory_matches_the_official_signature() -> None:
    mw = middleware(
        decrypt_only=True,
        event_encryption_field="secret",
        fallback_decryption_keys=["old"],
    )
    assert (mw.decrypt_only, mw.event_encryption_field) == (True, "secret")
    assert mw.cipher.decrypt(sealed(1, "old")) == 1
    direct = EncryptionMiddleware(dev_client(), None, KEY)
    assert direct.cipher.decrypt(sealed(2)) == 2
    with pytest.raises(ValueError, match="event_encryption_field"):
        EncryptionMiddleware.factory(KEY, event_encryption_field="")


def test_transform_input_decrypts_memos_and_events() -> None:
    trigger = inngest.Event(name="t/e", data={"encrypted": sealed({"p": 1}), "k": 2})
    other = inngest.Event(name="t/e", data={"encrypted": sealed("x")})
    ctx = FakeCtx(event=trigger, events=[trigger, other])
    waited = {"name": "w", "data": {"encrypted": sealed(3)}}
    steps = inngest.StepMemos.from_raw(
        {
            "run": {"data": sealed({"out": [1]})},
            "failed": {"error": {"name": "E", "message": "m"}},
            "slept": None,
            "waited": waited,
            "legacy": {"data": {"plain": True}},
        }
    )
    middleware().transform_input(cast(Any, ctx), cast(Any, None), steps)
    assert steps["run"] == {"data": {"out": [1]}}
    assert steps["failed"] == {"error": {"name": "E", "message": "m"}}
    assert steps["slept"] == {"data": None}
    assert steps["waited"] == {"data": {"name": "w", "data": {"encrypted": 3}}}
    assert steps["legacy"] == {"data": {"plain": True}}
    assert ctx.event.data == {"encrypted": {"p": 1}, "k": 2}
    assert ctx.events[0] is ctx.event
    assert ctx.events[1].data == {"encrypted": "x"}


def test_transform_input_with_the_wrong_key_names_the_problem() -> None:
    steps = inngest.StepMemos.from_raw({"s": {"data": sealed(1, "other-key")}})
    ctx = FakeCtx(event=inngest.Event(name="e"), events=[])
    with pytest.raises(DecryptionError, match="could not decrypt"):
        middleware().transform_input(cast(Any, ctx), cast(Any, None), steps)


def step_info(op: str, opts: dict[str, Any] | None = None) -> TransformOutputStepInfo:
    return TransformOutputStepInfo(id="s", op=inngest.Opcode(op), opts=opts)


@pytest.mark.parametrize("step", [None, step_info("StepRun"), step_info("Step")])
@pytest.mark.parametrize("output", [{"msg": "hello"}, None])
def test_transform_output_encrypts_outputs(
    step: TransformOutputStepInfo | None, output: Any
) -> None:
    # ``None`` too, as the official package does: ``null`` is data as well.
    result = TransformOutputResult(error=None, output=output, step=step)
    middleware().transform_output(result)
    assert Cipher(KEY).decrypt(result.output) == output
    assert is_encrypted(result.output)


def test_transform_output_leaves_what_is_not_output() -> None:
    mw = middleware()
    err = TransformOutputResult(error=ValueError("x"), output=None)
    mw.transform_output(err)
    assert err.output is None
    sleep = TransformOutputResult(error=None, output=None, step=step_info("Sleep"))
    mw.transform_output(sleep)
    assert sleep.output is None
    quiet = middleware(decrypt_only=True)
    result = TransformOutputResult(error=None, output={"a": 1})
    quiet.transform_output(result)
    assert result.output == {"a": 1}


def test_transform_output_skips_already_encrypted_output(
    caplog: pytest.LogCaptureFixture,
) -> None:
    encrypted = sealed(1)
    result = TransformOutputResult(error=None, output=encrypted)
    with caplog.at_level(logging.WARNING, logger="inngest"):
        middleware().transform_output(result)
    assert result.output is encrypted
    assert "already encrypted" in caplog.text


def test_transform_output_encrypts_the_invoke_payload_field() -> None:
    opts = {
        "function_id": "app-child",
        "payload": {"data": {"encrypted": {"phone": "1"}, "user_id": "u"}, "v": None},
    }
    result = TransformOutputResult(
        error=None, output=None, step=step_info("InvokeFunction", opts)
    )
    middleware().transform_output(result)
    data = opts["payload"]["data"]  # type: ignore[index]
    assert data["user_id"] == "u"
    assert Cipher(KEY).decrypt(data["encrypted"]) == {"phone": "1"}
    assert result.output is None


def test_before_send_events_encrypts_the_field() -> None:
    plain = inngest.Event(name="a", data={"user_id": "u"})
    secret = inngest.Event(name="b", data={"encrypted": {"ssn": "1"}, "k": 1}, id="i")
    events = [plain, secret]
    middleware().before_send_events(events)
    assert events[0] is plain
    assert (events[1].name, events[1].id, events[1].data["k"]) == ("b", "i", 1)
    assert Cipher(KEY).decrypt(events[1].data["encrypted"]) == {"ssn": "1"}
    events = [secret]
    middleware(decrypt_only=True).before_send_events(events)
    assert events == [secret]
    events = [inngest.Event(name="c", data={"secret": 5})]
    middleware(event_encryption_field="secret").before_send_events(events)
    assert is_encrypted(events[0].data["secret"])


# --- through the engine ---------------------------------------------------------


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_a_function_run_over_two_calls(is_async: bool) -> None:
    client = dev_client(middleware=[EncryptionMiddleware.factory(KEY)])
    seen: list[Any] = []

    if is_async:

        @client.create_function(fn_id="f", trigger=inngest.TriggerEvent(event="t/e"))
        async def fn(ctx: inngest.Context) -> Any:
            out = await ctx.step.run("s", lambda: {"n": ctx.event.data["encrypted"]})
            seen.append(out)
            return [out, "done"]

    else:

        @client.create_function(fn_id="f", trigger=inngest.TriggerEvent(event="t/e"))
        def fn(ctx: inngest.ContextSync) -> Any:
            out = ctx.step.run("s", lambda: {"n": ctx.event.data["encrypted"]})
            seen.append(out)
            return [out, "done"]

    event = {"name": "t/e", "data": {"encrypted": sealed(7)}, "id": "e1", "ts": 1}

    def call(steps: dict[str, Any] | None = None) -> Any:
        mw = MiddlewareManager.create(client.middleware, client, None)
        return run(client, fn, call_request(steps, event=event), mw=mw)

    first = call()
    assert isinstance(first, StepsReported)
    (op,) = first.ops
    assert is_encrypted(op.data)
    assert Cipher(KEY).decrypt(op.data) == {"n": 7}

    second = call({hash_step_id("s"): {"data": op.data}})
    assert isinstance(second, FunctionReturned)
    assert seen == [{"n": 7}]
    assert Cipher(KEY).decrypt(second.output) == [{"n": 7}, "done"]


def test_importing_without_pynacl_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['nacl'] = None\n"
        "try:\n    import inngest_proto.encryption\n"
        "except ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    )
    assert "inngest-sansio[encryption]" in out.stdout


@pytest.mark.parametrize("is_async", [True, False])
def test_step_invoke_sends_its_field_encrypted(is_async: bool) -> None:
    client = dev_client()
    data = {"encrypted": {"phone": "555"}, "user_id": "u"}

    if is_async:

        @client.create_function(fn_id="parent", trigger=inngest.TriggerEvent(event="p"))
        async def parent(ctx: inngest.Context) -> Any:
            return await ctx.step.invoke_by_id("call", function_id="child", data=data)

    else:

        @client.create_function(fn_id="parent", trigger=inngest.TriggerEvent(event="p"))
        def parent(ctx: inngest.ContextSync) -> Any:
            return ctx.step.invoke_by_id("call", function_id="child", data=data)

    mw = MiddlewareManager.create([EncryptionMiddleware.factory(KEY)], client, None)
    out = run(client, parent, call_request(), mw=mw)
    assert isinstance(out, StepsReported)
    (op,) = out.ops
    assert op.op is inngest.Opcode.INVOKE
    sent = op.opts["payload"]["data"]  # type: ignore[index]
    assert sent["user_id"] == "u"
    assert Cipher(KEY).decrypt(sent["encrypted"]) == {"phone": "555"}
    assert data == {"encrypted": {"phone": "555"}, "user_id": "u"}  # caller's dict
