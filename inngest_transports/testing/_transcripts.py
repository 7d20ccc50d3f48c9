"""Run transcripts and the determinism check (see ``docs/testing.rst``).

A transcript is every call the executor made for one run.  Replaying it
sends each recorded request again to the current code, with
``disable_immediate_execution`` set and no ``stepId`` target so that no step
handler runs, and compares the steps the code reaches with the recording's.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import anyio
import attrs

import inngest_proto as inngest
from inngest_proto.wire import (
    IncomingRequest,
    OutboundRequest,
    OutboundResponse,
    json_type,
    query_from_url,
)

if TYPE_CHECKING:
    from ._engine import TestEngine
    from ._stubs import Exchange

__all__ = [
    "TRANSCRIPT_VERSION",
    "DeterminismError",
    "Mismatch",
    "RecordedCall",
    "Transcript",
    "TranscriptError",
    "assert_deterministic",
    "check_transcript",
    "diff",
    "record",
]

#: The transcript file format this module writes and reads.
TRANSCRIPT_VERSION = 1

_REPLAY_URL = "http://inngest-transcript.invalid/api/inngest"
_HEADERS = {"content-type": "application/json"}
# Every ``step.run`` flavour is one kind: a replay plans what the recording
# ran, retried or failed.  Other ops are kinds of their own.
_STEP_OPS = frozenset({"StepRun", "StepError", "StepFailed", "StepPlanned", "Step"})

PathLike = str | os.PathLike[str]


class TranscriptError(ValueError):
    """A transcript file is malformed, or of a version this code cannot read."""


class DeterminismError(AssertionError):
    """The current code reaches other steps than a recorded run did."""


@attrs.frozen
class RecordedCall:
    """One call: its time, ``stepId`` target (hashed; ``None``: none), the
    request the SDK got, and the status and parsed body of its answer."""

    now: float
    target: str | None
    request: dict[str, Any]
    status: int
    response: Any


@attrs.frozen
class Transcript:
    """Every call of one run, to save, load and replay.  ``source`` (the file
    it was loaded from) only labels messages: neither saved nor compared."""

    app_id: str
    function_id: str
    run_id: str
    events: tuple[dict[str, Any], ...]
    calls: tuple[RecordedCall, ...]
    version: int = TRANSCRIPT_VERSION
    source: str | None = attrs.field(default=None, eq=False, repr=False)

    @classmethod
    def from_engine(cls, engine: TestEngine, run_id: str) -> Transcript:
        """The transcript of the run ``run_id`` of a :class:`TestEngine`."""
        exchanges = engine.exchanges_of(run_id)
        run = engine.executor.get_run(run_id)
        if not exchanges or run is None:
            msg = f"the engine made no call for a run {run_id!r}: is it a run id?"
            raise ValueError(msg)
        # Through JSON and back: what a file holds, so a loaded copy is equal.
        calls = [call for x in exchanges for call in _unfolded(x)]
        return cls(
            app_id=engine.client.app_id,
            function_id=exchanges[0].function_id,
            run_id=run_id,
            events=tuple(json.loads(json.dumps(list(run.events)))),
            calls=tuple(RecordedCall(*c) for c in json.loads(json.dumps(calls))),
        )

    def to_json(self) -> str:
        """Stable, pretty JSON (sorted keys): equal transcripts, equal text."""
        data = attrs.asdict(self, filter=lambda field, _: field.name != "source")
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def save(self, path: PathLike) -> None:
        """Write :meth:`to_json` to ``path``, in UTF-8, making its directory."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: PathLike) -> Transcript:
        """Read a transcript file; raises :class:`TranscriptError` if bad."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as err:
            msg = f"{path}: cannot read the transcript ({err.strerror})"
            raise TranscriptError(msg) from None
        except ValueError as err:  # UnicodeDecodeError too
            msg = f"{path}: not a JSON transcript ({err})"
            raise TranscriptError(msg) from None
        return _parse(data, str(path))


def _unfolded(x: Exchange) -> list[list[Any]]:
    """A call as the calls it stands for.

    A checkpointing call ran several steps and saved them before answering;
    replayed, the code plans one new step per call.  So it is recorded as
    one call per saved step (each with the steps before it as memos,
    answering that step) and then the real answer, with them all.
    """
    calls: list[list[Any]] = []
    request = x.request
    for op in x.checkpointed:
        calls.append([x.now, x.target, request, 206, [op]])
        steps = {**request.get("steps", {}), op["id"]: {"data": op.get("data")}}
        request = {**request, "steps": steps}
    calls.append([x.now, x.target, request, x.status, x.response])
    return calls


def record(engine: TestEngine, run_id: str) -> Transcript:
    """Shorthand for :meth:`Transcript.from_engine`."""
    return Transcript.from_engine(engine, run_id)


# field -> (accepted types, how to say it); a bool is never a number here.
_TOP = {"app_id": (str, "a string"), "function_id": (str, "a string"),
        "run_id": (str, "a string"), "events": (list, "an array of events"),
        "calls": (list, "an array of calls")}  # fmt: skip
_CALL = {"now": ((int, float), "a number"), "target": ((str, type(None)), "a string"),
         "request": (dict, "a call request object"), "status": (int, "an integer"),
         "response": (object, "JSON")}  # fmt: skip


def _checked(data: Any, fields: dict[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        msg = f"{where} must be a JSON object, got {json_type(data)}"
        raise TranscriptError(msg)
    for key, (types, what) in fields.items():
        if key not in data:
            msg = f"{where}: the field {key!r} is missing"
            raise TranscriptError(msg)
        value = data[key]
        if not isinstance(value, types) or (isinstance(value, bool) and what != "JSON"):
            msg = f"{where}: {key!r} must be {what}, got {json_type(value)}"
            raise TranscriptError(msg)
    return data


def _parse(data: Any, source: str) -> Transcript:
    version = data.get("version", "none") if isinstance(data, dict) else 1
    if version != TRANSCRIPT_VERSION or isinstance(version, bool):
        msg = (
            f'{source}: no "version" field: is this a transcript?'
            if version == "none"
            else f"{source}: transcript version {version!r} is not supported (this "
            f"inngest_transports reads version {TRANSCRIPT_VERSION}); record it again"
        )
        raise TranscriptError(msg)
    top = _checked(data, _TOP, source)
    for i, event in enumerate(top["events"]):
        _checked(event, {}, f"{source}: events[{i}]")
    if not top["calls"]:
        msg = f"{source}: the transcript has no calls"
        raise TranscriptError(msg)
    calls = []
    for i, raw in enumerate(top["calls"]):
        call = _checked(raw, _CALL, f"{source}: calls[{i}]")
        if not isinstance(call["request"].get("ctx"), dict):
            msg = f"{source}: calls[{i}]: 'request' is not a call request (no ctx)"
            raise TranscriptError(msg)
        calls.append(RecordedCall(**{key: call[key] for key in _CALL}))
    ids = top["app_id"], top["function_id"], top["run_id"]
    return Transcript(*ids, tuple(top["events"]), tuple(calls), source=source)


@attrs.frozen
class Mismatch:
    """Call number ``call`` (from 1) differs: ``message`` names the steps."""

    call: int
    message: str

    def __str__(self) -> str:
        return f"call {self.call}: {self.message}"


@attrs.frozen
class _Step:  # a reported op, reduced to what determinism is about
    id: str
    kind: str
    op: str
    label: str


def _steps(response: Any) -> list[_Step]:
    out = []
    for op in response if isinstance(response, list) else []:
        if isinstance(op, dict):
            name = str(op.get("op"))
            user = op["userland"] if isinstance(op.get("userland"), dict) else {}
            label = str(op.get("displayName") or user.get("id") or op.get("id"))
            if user.get("index"):  # the n-th use of an id: as stubs name it
                label = f"{user.get('id', label)}:{user['index']}"
            kind = "step" if name in _STEP_OPS else name
            out.append(_Step(str(op.get("id")), kind, name, label))
    return out


def _listed(steps: Sequence[_Step]) -> str:
    noun = "step" if len(steps) == 1 else "steps"
    return f"{noun} " + ", ".join(f'"{s.label}" ({s.op})' for s in steps)


def _compare(call: RecordedCall, status: int, body: Any, appended_ok: bool) -> str:
    """What differs between a recorded call and its replay ("": nothing)."""
    if call.status not in (200, 206):
        # A recorded failure reported no step: nothing holds the code there
        # (a bug fixed since must pass where the recording failed).
        return ""
    recorded = _steps(call.response) if call.status == 206 else []
    replayed = _steps(body) if status == 206 else []
    what = "returned (200)" if call.status == 200 else f"reached {_listed(recorded)}"
    but = f"the recording {what} but the code now"
    if status == 200:
        # Outputs are not compared: no run in flight depends on one.
        return "" if call.status == 200 else f"{but} returns (200) without it"
    if status != 206:
        error = body if isinstance(body, dict) else {"message": body}
        return f"{but} fails ({status}): {error.get('name')}: {error.get('message')}"
    if call.status == 200:
        return "" if appended_ok else f"{but} reaches {_listed(replayed)}"
    found = {s.id: s for s in replayed}
    if call.target is not None:
        # Replayed untargeted: the target must be among the steps found (a
        # parallel group plans all of its unfinished steps at once).
        wanted = [s for s in recorded if s.id == call.target] or recorded
        same = all(s.id in found for s in wanted)
    else:
        # Several ops come only from a parallel group: compared as a set.
        wanted = recorded
        same = set(found) == {s.id for s in recorded}
    if not same:
        return f"{but} reaches {_listed(replayed)}"
    return "; ".join(
        f'step "{s.label}" changed kind: the recording reached it as {s.op} but '
        f"the code now reaches it as {found[s.id].op}"
        for s in wanted
        if found[s.id].kind != s.kind
    )


class _Sink:
    """The client's transport during a replay: nothing leaves the process."""

    def __init__(self, now: float) -> None:
        self.now_value = now

    def request_sync(self, req: OutboundRequest) -> OutboundResponse:
        if req.method != "POST":  # use_api fetches: refused before the replay
            return OutboundResponse(404, {}, b"{}")
        ids = [f"replay-event-{i}" for i in range(len(json.loads(req.body)))]
        return OutboundResponse(200, {}, json.dumps({"ids": ids}).encode())

    async def request(self, req: OutboundRequest) -> OutboundResponse:
        return self.request_sync(req)

    def now(self) -> float:
        return self.now_value

    def random_bytes(self, n: int) -> bytes:
        return bytes(n)


def _label(transcript: Transcript) -> str:
    return transcript.source or f"run {transcript.run_id} of {transcript.function_id}"


def diff(
    client: inngest.Inngest,
    functions: Sequence[inngest.Function[Any]],
    transcript: Transcript | PathLike,
    *,
    backend: str = "asyncio",
    allow_appended_steps: bool = True,
) -> list[Mismatch]:
    """Replay ``transcript`` against ``functions``: every call that differs.

    ``backend`` runs async functions (``"asyncio"`` or ``"trio"``).  With
    ``allow_appended_steps``, steps reached after the recorded run returned
    are new work, not a mismatch, if every earlier call matched."""
    if not isinstance(transcript, Transcript):
        transcript = Transcript.load(transcript)
    if backend not in ("asyncio", "trio"):
        msg = f"backend must be 'asyncio' or 'trio', got {backend!r}"
        raise ValueError(msg)
    served = {fn_id for fn in functions for fn_id in fn.handlers()}
    fn_id = transcript.function_id
    if fn_id not in served and f"{client.app_id}-{fn_id}" not in served:
        msg = f"{_label(transcript)}: {fn_id!r} is not among the functions given"
        raise DeterminismError(f"{msg}: {sorted(served)}")
    handler = inngest.CommHandler(  # the calls are ours: no signature to check
        client=client,
        functions=functions,
        framework="testing",
        verify_call_signatures=False,
    )
    url = f"{_REPLAY_URL}?{urlencode({'fnId': fn_id, 'stepId': 'step'})}"
    run_async = partial(anyio.run, backend=backend)
    mismatches: list[Mismatch] = []
    for number, call in enumerate(transcript.calls, start=1):
        ctx = call.request["ctx"]
        if ctx.get("use_api") or call.request.get("use_api"):
            msg = f"{_label(transcript)}: call {number} used use_api: no state kept"
            raise TranscriptError(msg)
        body = {**call.request, "ctx": {**ctx, "disable_immediate_execution": True}}
        raw = json.dumps(body).encode()
        incoming = IncomingRequest("POST", url, _HEADERS, raw, query_from_url(url))
        with client.using_transport(_Sink(call.now)):
            resp = handler.handle_sync(incoming, now=call.now, run_async=run_async)
        try:
            answer = json.loads(resp.body)
        except ValueError:
            answer = resp.body.decode("utf-8", "replace")
        # New steps after the recorded end are safe only when every earlier
        # call matched: then the final call replays every recorded memo
        # before reaching them, and no recorded step can run twice.
        appended_ok = allow_appended_steps and not mismatches
        problem = _compare(call, resp.status, answer, appended_ok)
        if problem:
            mismatches.append(Mismatch(number, problem))
    return mismatches


Transcripts = Transcript | PathLike | Iterable[Transcript | PathLike]


def _each(where: Transcripts) -> Iterator[Transcript]:
    items = [where] if isinstance(where, Transcript | str | os.PathLike) else where
    for item in items:
        if isinstance(item, Transcript):
            yield item
        elif Path(item).is_dir():
            found = sorted(Path(item).rglob("*.json"))
            if not found:
                msg = f"{item}: no transcript (*.json) in this directory"
                raise TranscriptError(msg)
            yield from (Transcript.load(path) for path in found)
        else:
            yield Transcript.load(item)


def assert_deterministic(
    client: inngest.Inngest,
    functions: Sequence[inngest.Function[Any]],
    transcripts: Transcripts,
    *,
    backend: str = "asyncio",
    allow_appended_steps: bool = True,
) -> None:
    """Raise :class:`DeterminismError` if the code no longer replays a run.

    ``transcripts`` is a :class:`Transcript`, a file, a directory (every
    ``*.json`` in it, recursively) or a list of those.  The message names
    each transcript and call that differs and the steps on both sides, e.g.
    ``call 3: the recording reached step "charge" (StepRun) but the code now
    reaches step "charge-card" (StepPlanned)``.  Options as for :func:`diff`."""
    failures = []
    for transcript in _each(transcripts):
        found = diff(
            client,
            functions,
            transcript,
            backend=backend,
            allow_appended_steps=allow_appended_steps,
        )
        if found:
            lines = [f"{_label(transcript)}: the code no longer replays this run"]
            lines += [f"  {m}" for m in found[:5]]
            if len(found) > 5:
                lines.append(f"  ... and {len(found) - 5} more calls differ")
            failures.append("\n".join(lines))
    if failures:
        raise DeterminismError("\n".join(failures))


check_transcript = assert_deterministic  # the name that reads best for one
