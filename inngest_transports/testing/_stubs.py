"""Stubbed steps and invoked functions, and the record of every call.

A stubbed step never runs: its value is put in the call request as a memo
before the SDK sees it, so the function replays it as if Inngest had stored
it (any step kind: ``run``, ``sleep``, ``wait_for_event``, ``invoke``,
``ai.infer``, ``send_event``).  A stubbed invoked function is not called:
the ``step.invoke`` that names it is answered with the stub's value, as the
executor would answer it with the function's output.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

import attrs

import inngest_proto as inngest
from inngest_proto.functions import hash_step_id
from inngest_proto.wire import (
    canonicalize,
    compute_signature,
    is_plain_json_type,
    unstructure,
)

__all__ = ["Exchange", "Stubs", "Timeout"]


class _TimeoutType:
    """A ``wait_for_event`` stub meaning "no event came" (``None`` does too)."""

    _instance: _TimeoutType | None = None

    def __new__(cls) -> _TimeoutType:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "Timeout"


#: The official ``inngest.experimental.mocked.Timeout``'s equivalent.
Timeout = _TimeoutType()


@attrs.frozen
class Exchange:
    """One call the engine made to the SDK: what it sent and what came back.

    ``request`` is the call request as the SDK received it (stubs included);
    ``response`` the parsed JSON answer (or its text when it was not JSON);
    ``checkpointed`` the steps it saved with the checkpoint API, if any.
    Both are parsed from the bodies kept (``request_body``,
    ``response_body``) when first read: most calls are never looked at.
    """

    run_id: str
    function_id: str
    target: str | None
    now: float
    request_body: bytes
    status: int
    response_body: bytes
    #: Steps the call ran and saved through the checkpoint API before it
    #: answered (ops as reported), with ``Inngest(checkpointing=...)``.
    checkpointed: tuple[dict[str, Any], ...] = ()

    @functools.cached_property
    def request(self) -> dict[str, Any]:
        """The call request's JSON body."""
        parsed: dict[str, Any] = json.loads(self.request_body)
        return parsed

    @functools.cached_property
    def response(self) -> Any:
        """The answer's JSON body, or its text when it is not JSON."""
        try:
            return json.loads(self.response_body)
        except ValueError:
            return self.response_body.decode("utf-8", "replace")


class Stubs:
    """Step stubs by step id and invoke stubs by function id."""

    def __init__(
        self,
        client: inngest.Inngest,
        steps: Mapping[str, Any] | None,
        invokes: Mapping[str, Any] | None,
    ) -> None:
        self._client = client
        self.steps: dict[str, Any] = dict(steps or {})
        self.invokes: dict[str, Any] = dict(invokes or {})

    def __bool__(self) -> bool:
        return bool(self.steps or self.invokes)

    # -- steps ------------------------------------------------------------------------

    def memo(self, step_id: str) -> Any:
        """The memo a stub becomes: ``{"data": ...}`` or ``{"error": ...}``."""
        value = self.steps[step_id]
        if value is None or value is Timeout:
            return {"data": None}
        if isinstance(value, BaseException):
            return {"error": {"name": type(value).__name__, "message": str(value)}}
        if isinstance(value, inngest.Event):
            return {"data": unstructure(value)}
        return {"data": self._json(value, f'stub of step "{step_id}"')}

    def inject(
        self, body: bytes, headers: dict[str, str], signing_key: str | None, now: float
    ) -> bytes:
        """``body`` with a memo for every stubbed step it lacks.

        Repeated step ids are hashed with their counter (``"id:1"`` is the
        second ``"id"``), so a stub keyed ``"id:1"`` stubs that one.
        """
        if not self.steps:
            return body
        call = json.loads(body)
        steps = call.setdefault("steps", {})
        for step_id in self.steps:
            steps.setdefault(hash_step_id(step_id), self.memo(step_id))
        raw = canonicalize(call)
        if signing_key:
            t = int(now)
            headers["x-inngest-signature"] = (
                f"t={t}&s={compute_signature(raw, signing_key, t)}"
            )
        return raw

    # -- invoked functions ------------------------------------------------------------

    def answer_invokes(self, status: int, body: bytes) -> bytes:
        """Turn each reported invoke of a stubbed function into its result."""
        if not self.invokes or status != 206:
            return body
        ops = json.loads(body)
        changed = False
        for i, op in enumerate(ops):
            if op.get("op") != inngest.Opcode.INVOKE.value:
                continue
            stub = self._invoke_stub(str((op.get("opts") or {}).get("function_id")))
            if stub is _NONE:
                continue
            payload = (op.get("opts") or {}).get("payload") or {}
            value = stub(payload.get("data")) if callable(stub) else stub
            done = {k: op[k] for k in ("id", "name", "displayName") if k in op}
            done["op"] = inngest.Opcode.STEP_RUN.value
            if isinstance(value, BaseException):
                done["op"] = inngest.Opcode.STEP_FAILED.value
                done["error"] = {"name": type(value).__name__, "message": str(value)}
            else:
                done["data"] = self._json(value, f"stub of {op.get('displayName')}")
            ops[i] = done
            changed = True
        return json.dumps(ops).encode() if changed else body

    def _invoke_stub(self, function_id: str) -> Any:
        if function_id in self.invokes:
            return self.invokes[function_id]
        # A function of this app may be named by its local id.
        local = function_id.removeprefix(f"{self._client.app_id}-")
        return self.invokes.get(local, _NONE)

    def _json(self, value: Any, what: str) -> Any:
        typ = type(value)
        if not is_plain_json_type(typ):
            value = self._client.serializer.serialize(value, typ)
        try:
            json.dumps(value)
        except (TypeError, ValueError) as err:
            msg = f"{what} is not JSON and has no serializable type: {err}"
            raise TypeError(msg) from None
        return value


_NONE: Any = object()
