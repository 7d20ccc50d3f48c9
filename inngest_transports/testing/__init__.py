"""Test Inngest functions in process, on a virtual clock.

:class:`TestEngine` runs a client's functions with the executor core of the
embedded dev server, without HTTP and without waiting: every call the
executor makes is answered by a real :class:`inngest_proto.CommHandler` in
the same thread, and time moves only when the test moves it, so a function
that sleeps for a week finishes in milliseconds::

    engine = TestEngine(client, [my_function])
    (event_id,) = engine.send("shop/order.placed", data={"id": 1})
    engine.run()  # jump from timer to timer until nothing is left
    assert engine.output(event_id) == {"ok": True}

See ``docs/testing.rst`` for stubs, transcripts and the pytest plugin.
"""

from __future__ import annotations

from ._engine import DEFAULT_START, TestEngine, TestEngineError
from ._stubs import Exchange, Timeout
from ._transcripts import (
    TRANSCRIPT_VERSION,
    DeterminismError,
    Mismatch,
    RecordedCall,
    Transcript,
    TranscriptError,
    assert_deterministic,
    check_transcript,
    diff,
    record,
)
from ._trigger import Result, Status, trigger

__all__ = [
    "DEFAULT_START",
    "TRANSCRIPT_VERSION",
    "DeterminismError",
    "Exchange",
    "Mismatch",
    "RecordedCall",
    "Result",
    "Status",
    "TestEngine",
    "TestEngineError",
    "Timeout",
    "Transcript",
    "TranscriptError",
    "assert_deterministic",
    "check_transcript",
    "diff",
    "record",
    "trigger",
]
