"""The generated call requests of :mod:`bench.callrequest`, and each SDK's handler.

Everything here is deterministic: a fresh process given the same case builds
byte-identical request bodies (checked by the caller through their SHA-256).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import inngest

    import inngest_proto

APP_ID = "bench-callrequest"
FN_ID = "steps"
FN_SLUG = f"{APP_ID}-{FN_ID}"
EVENT = "bench/callrequest"
PATH = "/api/inngest"
QUERY = {"fnId": FN_SLUG, "stepId": "step"}
URL = f"http://127.0.0.1{PATH}?fnId={FN_SLUG}&stepId=step"
#: A signing key of the documented form; both SDKs are given it in cloud mode.
SIGNING_KEY = "signkey-prod-" + "5ec2e7" * 10 + "abcd"
#: The HMAC key of that signing key: its text after ``signkey-<env>-``.
_HMAC_KEY = SIGNING_KEY.split("-", 2)[2].encode()
SIZES = {"200B": 200, "10KB": 10_000}
MODES = ("dev", "cloud")
SDKS = ("ours", "official")

#: What a handler answers, as the bench sees it: status and the body bytes.
Answer = tuple[int, bytes]
Handle = Callable[[bytes, dict[str, str]], Answer]


class Case(NamedTuple):
    """One generated call request: K memoized steps of ``size`` bytes each.

    A NamedTuple rather than an attrs class: the cold-start probe imports this
    module before it starts its clock, and must not preload a library (attrs)
    that one SDK imports and the other does not.
    """

    k: int
    size: str
    mode: str

    @property
    def label(self) -> str:
        return f"K={self.k} {self.size} {self.mode}"


# -- the function both SDKs serve ---------------------------------------------------


def step_value(i: int, size: int) -> dict[str, Any]:
    """Step ``i``'s output: about ``size`` bytes of JSON, different per step."""
    unit = f"{i:08x}"
    pad = (unit * (size // len(unit) + 1))[: max(size - 24, 1)]
    return {"i": i, "pad": pad}


def expected_output(k: int, size: int) -> dict[str, Any]:
    """What the function returns once all ``k`` steps are replayed."""
    return {"steps": k, "bad": 0, "last": step_value(k - 1, size)}


def run_steps(step: Any, data: dict[str, Any]) -> dict[str, Any]:
    """The function body, the same code for both SDKs: K sequential steps.

    Each replayed output is checked against the step's own value, so a memo
    handed to the wrong step shows up in ``bad`` (and fails the check).
    """
    k: int = data["k"]
    size: int = data["size"]
    bad = 0
    out: dict[str, Any] = {}
    for i in range(k):
        out = step.run(f"s{i}", step_value, i, size)
        if out["i"] != i or len(out["pad"]) != max(size - 24, 1):
            bad += 1
    return {"steps": k, "bad": bad, "last": out}


def step_hash(i: int) -> str:
    """The memo key of step ``s<i>``: SHA-1 of its id (unique ids, no suffix)."""
    return hashlib.sha1(f"s{i}".encode(), usedforsecurity=False).hexdigest()


def request_body(case: Case) -> bytes:
    """The call request with all K memos: the function replays them and returns.

    Canonical JSON (sorted keys, no spaces), as the Inngest server sends it
    (it signs and sends the RFC 8785 form; for these ASCII strings and
    integers ``sort_keys`` + compact separators is exactly that).
    """
    size = SIZES[case.size]
    hashes = [step_hash(i) for i in range(case.k)]
    event = {
        "data": {"k": case.k, "size": size},
        "id": "01JBENCH000000000000000000",
        "name": EVENT,
        "ts": 1735689600000,
        "user": {},
    }
    body = {
        "ctx": {
            "attempt": 0,
            "disable_immediate_execution": False,
            "env": "",
            "fn_id": "5f6c7b9e-0000-4000-8000-000000000001",
            "max_attempts": 4,
            "run_id": "01JBENCHRUN0000000000000000",
            "stack": {"current": case.k, "stack": hashes},
            "step_id": "step",
            "use_api": False,
        },
        "event": event,
        "events": [event],
        "steps": {h: {"data": step_value(i, size)} for i, h in enumerate(hashes)},
        "use_api": False,
        "version": 1,
    }
    return json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()


def headers_for(case: Case, body: bytes, now: float | None = None) -> dict[str, str]:
    """Request headers; in cloud mode signed now (or at ``now``) with the key."""
    headers = {"content-type": "application/json", "x-inngest-server-kind": case.mode}
    if case.mode == "cloud":
        ts = str(int(time.time() if now is None else now))
        digest = hmac.new(_HMAC_KEY, body + ts.encode(), hashlib.sha256).hexdigest()
        headers["x-inngest-signature"] = f"t={ts}&s={digest}"
    return headers


def peak_rss_of(pid: int) -> float | None:
    """Peak RSS (``VmHWM``) of a live process in MiB; None off Linux.

    Unlike ``ru_maxrss``, which a child started by fork + exec inherits from
    its parent's peak before the exec, this is the process's own.
    """
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def answer_problem(case: Case, answer: Answer) -> str | None:
    """Why ``answer`` is wrong for ``case``, or None when it is right."""
    status, body = answer
    if status != 200:
        return f"status {status}: {body[:300]!r}"
    try:
        out = json.loads(body)
    except ValueError:
        return f"body is not JSON: {body[:300]!r}"
    if out != expected_output(case.k, SIZES[case.size]):
        return f"wrong output: {body[:300]!r}"
    return None


# -- each SDK's handler, in process ------------------------------------------------


def ours_client(mode: str) -> inngest_proto.Inngest:
    import inngest_proto as inngest  # noqa: PLC0415 - measured in its own process

    if mode == "dev":
        return inngest.Inngest(app_id=APP_ID, environ={"INNGEST_DEV": "1"})
    return inngest.Inngest(
        app_id=APP_ID, is_production=True, signing_key=SIGNING_KEY, environ={}
    )


def ours_function(
    client: inngest_proto.Inngest,
) -> inngest_proto.Function[dict[str, Any]]:
    import inngest_proto as inngest  # noqa: PLC0415

    @client.create_function(fn_id=FN_ID, trigger=inngest.TriggerEvent(event=EVENT))
    def steps(ctx: inngest.ContextSync) -> dict[str, Any]:
        return run_steps(ctx.step, dict(ctx.event.data))

    return steps


def official_client(mode: str) -> inngest.Inngest:
    import inngest  # noqa: PLC0415

    if mode == "dev":
        return inngest.Inngest(app_id=APP_ID, is_production=False)
    return inngest.Inngest(app_id=APP_ID, is_production=True, signing_key=SIGNING_KEY)


def official_function(client: inngest.Inngest) -> inngest.Function[dict[str, Any]]:
    import inngest  # noqa: PLC0415

    @client.create_function(fn_id=FN_ID, trigger=inngest.TriggerEvent(event=EVENT))
    def steps(ctx: inngest.ContextSync) -> dict[str, Any]:
        return run_steps(ctx.step, dict(ctx.event.data))

    return steps


def ours_handler(mode: str) -> Handle:
    """Our sans-IO handler: ``CommHandler.handle_sync``; the body is already bytes."""
    import inngest_proto as inngest  # noqa: PLC0415

    client = ours_client(mode)
    handler = inngest.CommHandler(
        client=client, functions=[ours_function(client)], framework="bench"
    )

    def handle(body: bytes, headers: dict[str, str]) -> Answer:
        request = inngest.IncomingRequest(
            method="POST", url=URL, headers=headers, body=body, query=QUERY
        )
        response = handler.handle_sync(request, now=time.time())
        return response.status, response.body

    return handle


def official_handler(mode: str) -> Handle:
    """The official ``CommHandler.post_sync``, plus the JSON encoding of its
    ``CommResponse.body`` that every framework glue of that SDK does."""
    from inngest._internal import comm_lib, server_lib  # noqa: PLC0415

    client = official_client(mode)
    handler = comm_lib.CommHandler(
        client=client,
        enable_unauthed_sync=None,
        framework=server_lib.Framework.FLASK,
        functions=[official_function(client)],
        streaming=None,
    )

    def handle(body: bytes, headers: dict[str, str]) -> Answer:
        request = comm_lib.CommRequest(
            body=body,
            headers=dict(headers),
            public_path=None,
            query_params=dict(QUERY),
            raw_request=None,
            request_url=URL,
            serve_origin=None,
            serve_path=None,
        )
        response = handler.post_sync(request)
        return response.status_code, json.dumps(response.body).encode()

    return handle


def build_app(server: str, mode: str) -> Any:
    """The ASGI app serving the bench function: ``server`` is ``ours`` or
    ``official`` (each SDK's FastAPI glue) or ``ours-asgi`` (our plain ASGI
    app, no framework)."""
    if server == "ours-asgi":
        from inngest_frameworks import asgi  # noqa: PLC0415

        client = ours_client(mode)
        return asgi.serve(client, [ours_function(client)])
    import fastapi  # noqa: PLC0415

    app = fastapi.FastAPI()
    if server == "ours":
        from inngest_frameworks import fast_api  # noqa: PLC0415

        client = ours_client(mode)
        fast_api.serve(app, client, [ours_function(client)])
    else:
        import inngest.fast_api  # noqa: PLC0415

        theirs = official_client(mode)
        inngest.fast_api.serve(app, theirs, [official_function(theirs)])
    return app


def _body_hmac(body: bytes, headers: dict[str, str]) -> str:
    """The HMAC a signed request costs: the body and its header's timestamp."""
    ts = headers["x-inngest-signature"].split("&")[0][2:].encode()
    return hmac.new(_HMAC_KEY, body + ts, hashlib.sha256).hexdigest()


def floor_handler(case: Case) -> Handle:
    """The unavoidable work: parse the request, hash K step ids, HMAC the body
    (cloud), encode the response."""
    response = expected_output(case.k, SIZES[case.size])
    ids = [f"s{i}".encode() for i in range(case.k)]
    cloud = case.mode == "cloud"

    def handle(body: bytes, headers: dict[str, str]) -> Answer:
        json.loads(body)
        if cloud:
            _body_hmac(body, headers)
        for step_id in ids:
            hashlib.sha1(step_id, usedforsecurity=False).hexdigest()
        return 200, json.dumps(response).encode()

    return handle


class _BareStep:
    """``step.run`` reduced to replay: the repeat counter, SHA-1, lookup."""

    __slots__ = ("_steps", "_uses")

    def __init__(self, steps: dict[str, Any]) -> None:
        self._steps = steps
        self._uses: dict[str, int] = {}

    def run(self, step_id: str, handler: Any, *args: Any) -> Any:
        used = self._uses.get(step_id, 0)
        self._uses[step_id] = used + 1
        key = f"{step_id}:{used}" if used else step_id
        hashed = hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()
        return self._steps[hashed]["data"]


def bare_handler(case: Case) -> Handle:
    """The least an SDK that replays can do, with none of the checks: the
    floor's parse and HMAC, then the function itself, each step a counter,
    a SHA-1 and a lookup, and the answer encoded.  What the floor leaves out
    (the function's own loop and the memo lookups) shows in bare/floor."""
    cloud = case.mode == "cloud"

    def handle(body: bytes, headers: dict[str, str]) -> Answer:
        raw = json.loads(body)
        if cloud:
            _body_hmac(body, headers)
        output = run_steps(_BareStep(raw["steps"]), raw["event"]["data"])
        return 200, json.dumps(output).encode()

    return handle


def make_handler(sdk: str, case: Case) -> Handle:
    if sdk == "ours":
        return ours_handler(case.mode)
    if sdk == "official":
        return official_handler(case.mode)
    if sdk == "bare":
        return bare_handler(case)
    if sdk == "floor":
        return floor_handler(case)
    msg = f"no handler called {sdk!r}"
    raise ValueError(msg)
