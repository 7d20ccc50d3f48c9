"""Our encryption middleware against the official ``inngest_encryption`` package.

Both ways: values, memos and event data encrypted by ours are read by theirs
and the reverse, with one key and with fallback keys; then an official app
using their middleware, run by our dev server, receives an event our client
encrypted, and stores outputs our :class:`Cipher` decrypts.  Skipped where
the official packages are absent (they live in the ``official`` tox env).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

#: The official SDK's pydantic models use v1-style ``class Config``; pydantic
#: warns at import, and our ``filterwarnings = error`` would make it fatal.
_PYDANTIC_CONFIG = "Support for class-based `config` is deprecated"
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", _PYDANTIC_CONFIG, DeprecationWarning)
    # Skipped, not failed, where the official packages are absent.
    for _name in ("inngest", "inngest_encryption", "nacl", "flask"):
        pytest.importorskip(_name)
    import inngest
    from inngest._internal.middleware_lib import TransformOutputStepInfo
    from inngest._internal.server_lib import Opcode
    from inngest_encryption import EncryptionMiddleware as TheirMiddleware

import inngest_proto  # noqa: E402
from inngest_proto._middleware import TransformOutputResult  # noqa: E402
from inngest_proto.encryption import (  # noqa: E402
    Cipher,
    EncryptionMiddleware,
    derive_key,
    is_encrypted,
)
from inngest_transports.http import HttpTransport  # noqa: E402

from ._compat import Compat, running_compat, serve_flask  # noqa: E402

KEY = "shared-secret"
OLD_KEY = "retired-secret"
VALUES: list[Any] = [
    None,
    True,
    0,
    -(2**70),
    2.5,
    "",
    "é ☃ 😀 \u2028",
    [1, [None, "x"]],
    {},
    {"nested": {"list": [{"a": False}]}, "é": "ü"},
]


def theirs(key: str | bytes = KEY, **options: Any) -> Any:
    client = inngest.Inngest(app_id="theirs", is_production=False)
    return TheirMiddleware.factory(key, **options)(client, None)


def ours(key: str | bytes = KEY, **options: Any) -> EncryptionMiddleware:
    client = inngest_proto.Inngest(app_id="ours", is_production=False, environ={})
    return EncryptionMiddleware.factory(key, **options)(client, None)


# --- values -------------------------------------------------------------------


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_values_cross_both_ways(value: Any) -> None:
    assert theirs()._decrypt(Cipher(KEY).encrypt(value)) == value
    assert Cipher(KEY).decrypt(theirs()._encrypt(value)) == value


def test_their_encrypted_values_have_our_exact_shape() -> None:
    value = theirs()._encrypt({"a": 1})
    assert list(value) == ["__ENCRYPTED__", "__STRATEGY__", "data"]
    assert list(Cipher(KEY).encrypt({"a": 1})) == list(value)
    assert value["__STRATEGY__"] == "inngest/libsodium"
    assert is_encrypted(value)


def test_hex_bytes_keys_mean_the_same_key() -> None:
    hex_key = derive_key(KEY).hex().encode()
    # Their hex bytes key, our string key: the same secretbox key.
    assert Cipher(KEY).decrypt(theirs(hex_key)._encrypt("x")) == "x"
    assert theirs(hex_key)._decrypt(Cipher(hex_key).encrypt("y")) == "y"
    assert theirs()._decrypt(Cipher(derive_key(KEY)).encrypt("z")) == "z"


def test_fallback_keys_cross_both_ways() -> None:
    old_ours = Cipher(OLD_KEY).encrypt({"v": "ours"})
    old_theirs = theirs(OLD_KEY)._encrypt({"v": "theirs"})
    their_rotated = theirs("new", fallback_decryption_keys=["x", OLD_KEY])
    our_rotated = Cipher("new", fallback_decryption_keys=["x", OLD_KEY])
    assert their_rotated._decrypt(old_ours) == {"v": "ours"}
    assert our_rotated.decrypt(old_theirs) == {"v": "theirs"}
    # Both encrypt with the new key only.
    assert Cipher("new").decrypt(their_rotated._encrypt(1)) == 1
    assert theirs("new")._decrypt(our_rotated.encrypt(2)) == 2


def test_a_wrong_key_fails_on_both_sides() -> None:
    with pytest.raises(Exception, match="Failed to decrypt"):
        theirs("other")._decrypt(Cipher(KEY).encrypt(1))
    with pytest.raises(inngest_proto.InngestError, match="could not decrypt"):
        Cipher("other").decrypt(theirs()._encrypt(1))


# --- the middleware hooks ----------------------------------------------------------


def _their_ctx(data: dict[str, Any]) -> Any:
    event = inngest.Event(name="t/e", data=data)
    return SimpleNamespace(event=event, events=[event])


def test_their_transform_input_reads_our_outputs_and_events() -> None:
    mw = ours()
    outputs = []
    for output in ({"step": [1]}, "fn"):
        result = TransformOutputResult(error=None, output=output)
        mw.transform_output(result)
        outputs.append(result.output)
    events = [inngest_proto.Event(name="t/e", data={"encrypted": {"p": 1}, "k": 2})]
    mw.before_send_events(events)
    assert is_encrypted(events[0].data["encrypted"])

    memos = inngest.StepMemos.from_raw({"a": {"data": outputs[0]}})
    ctx = _their_ctx(dict(events[0].data))
    theirs().transform_input(ctx, None, memos)
    assert [memo.data for memo in memos.values()] == [{"step": [1]}]
    assert ctx.event.data == {"encrypted": {"p": 1}, "k": 2}
    assert theirs()._decrypt(outputs[1]) == "fn"


def test_our_transform_input_reads_their_outputs_and_events() -> None:
    mw = theirs()
    result = inngest.TransformOutputResult(error=None, output={"step": 1}, step=None)
    mw.transform_output(result)
    events = [inngest.Event(name="t/e", data={"encrypted": ["s"], "k": 2})]
    mw.before_send_events(events)
    assert is_encrypted(events[0].data["encrypted"])

    memos = inngest_proto.StepMemos.from_raw({"a": {"data": result.output}})
    event = inngest_proto.Event(name="t/e", data=dict(events[0].data))
    ctx = SimpleNamespace(event=event, events=[event])
    ours().transform_input(ctx, None, memos)  # type: ignore[arg-type]
    assert memos["a"] == {"data": {"step": 1}}
    assert ctx.event.data == {"encrypted": ["s"], "k": 2}


def test_invoke_payloads_cross() -> None:
    opts: dict[str, object] = {
        "function_id": "app-child",
        "payload": {"data": {"encrypted": {"n": 1}, "u": "x"}},
    }
    their_result = inngest.TransformOutputResult(
        error=None,
        output=inngest._internal.types.empty_sentinel,
        step=TransformOutputStepInfo(id="i", op=Opcode.INVOKE, opts=opts),
    )
    theirs().transform_output(their_result)
    data = opts["payload"]["data"]  # type: ignore[index]
    assert Cipher(KEY).decrypt_event_data(data) == {"encrypted": {"n": 1}, "u": "x"}

    our_data = ours().cipher.encrypt_event_data({"encrypted": {"n": 2}, "u": "y"})
    assert theirs()._decrypt_event_data(our_data) == {"encrypted": {"n": 2}, "u": "y"}


def test_custom_event_fields_cross() -> None:
    ours_events = [inngest_proto.Event(name="t/e", data={"secret": 1})]
    ours(event_encryption_field="secret").before_send_events(ours_events)
    decrypted = theirs(event_encryption_field="secret")._decrypt_event_data(
        ours_events[0].data
    )
    assert decrypted == {"secret": 1}
    their_events = [inngest.Event(name="t/e", data={"secret": 2})]
    theirs(event_encryption_field="secret").before_send_events(their_events)
    assert Cipher(KEY).decrypt_event_data(their_events[0].data) == {"secret": 2}


# --- an official app with their middleware on our dev server ------------------------


class EncryptedApp:
    def __init__(self, client: inngest.Inngest) -> None:
        client.add_middleware(TheirMiddleware.factory(KEY))
        self.client = client

        @client.create_function(
            fn_id="reader", trigger=inngest.TriggerEvent(event="t/secret")
        )
        def reader(ctx: inngest.ContextSync) -> Any:
            data: Any = ctx.event.data  # JSON-typed in the official SDK
            ssn = data["encrypted"]["ssn"]
            first: Any = ctx.step.run("first", lambda: {"ssn": ssn})
            second = ctx.step.run("second", lambda: first["ssn"] + "!")
            return [first, second, data["plain"]]

        self.functions: list[inngest.Function[Any]] = [reader]


@pytest.fixture(scope="module")
def compat() -> Iterator[Compat[EncryptedApp]]:
    with running_compat("official-encryption", EncryptedApp, serve_flask) as compat:
        yield compat


def test_their_app_runs_an_event_our_client_encrypted(
    compat: Compat[EncryptedApp],
) -> None:
    transport = HttpTransport()
    client = inngest_proto.Inngest(
        app_id="sender",
        environ={"INNGEST_DEV": "1", "INNGEST_BASE_URL": compat.dev.url},
        middleware=[EncryptionMiddleware.factory(KEY)],
        transport=transport,
    )
    try:
        (event_id,) = client.send_sync(
            inngest_proto.Event(
                name="t/secret", data={"encrypted": {"ssn": "123"}, "plain": "p"}
            )
        )
    finally:
        transport.close()
    stored = compat.get(f"/v1/events/{event_id}")["data"]
    assert is_encrypted(stored["data"]["encrypted"])

    run = compat.finished_run(event_id)
    assert run["status"] == "Completed", run
    assert Cipher(KEY).decrypt(run["output"]) == [{"ssn": "123"}, "123!", "p"]
    state = compat.dev.get_run(run["run_id"])
    assert state is not None
    memos = [memo["data"] for memo in state.steps.values()]
    assert all(is_encrypted(memo) for memo in memos)
    assert sorted(map(str, map(Cipher(KEY).decrypt, memos))) == [
        "123!",
        "{'ssn': '123'}",
    ]


def test_their_client_encrypts_events_we_decrypt(compat: Compat[EncryptedApp]) -> None:
    event_id = compat.send("t/secret", {"encrypted": {"ssn": "9"}, "plain": "q"})
    stored = compat.get(f"/v1/events/{event_id}")["data"]
    assert Cipher(KEY).decrypt_event_data(stored["data"]) == {
        "encrypted": {"ssn": "9"},
        "plain": "q",
    }
    run = compat.finished_run(event_id)
    assert Cipher(KEY).decrypt(run["output"]) == [{"ssn": "9"}, "9!", "q"]
