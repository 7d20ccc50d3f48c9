"""Our user-facing errors against the official SDK's (``inngest==0.5.19``):
the same ``code`` values, ``name``, ``is_retriable``, ``include_stack`` and
``stack``.  Skipped where the official SDK is absent (``official`` tox env)."""

from __future__ import annotations

import datetime
import warnings

import pytest

import inngest_proto

#: The official SDK's pydantic models use v1-style ``class Config``; pydantic
#: warns at import, and our ``filterwarnings = error`` would make it fatal.
_PYDANTIC_CONFIG = "Support for class-based `config` is deprecated"
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", _PYDANTIC_CONFIG, DeprecationWarning)
    pytest.importorskip("inngest")
    import inngest
    from inngest._internal import server_lib


def _raised(err: Exception) -> Exception:
    try:
        raise err
    except Exception as caught:  # whatever was raised, to inspect
        return caught


def _pairs() -> list[tuple[Exception, Exception]]:
    when = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
    return [
        (inngest.NonRetriableError("no"), inngest_proto.NonRetriableError("no")),
        (
            inngest.NonRetriableError("quiet", quiet=True),
            inngest_proto.NonRetriableError("quiet", quiet=True),
        ),
        (
            inngest.RetryAfterError("later", when),
            inngest_proto.RetryAfterError("later", when),
        ),
        (
            inngest.StepError("boom", "ValueError", "Traceback\n"),
            inngest_proto.StepError("boom", "ValueError", "Traceback\n"),
        ),
        (
            inngest.StepError("boom", "KeyError", None),
            inngest_proto.StepError("boom", "KeyError", None),
        ),
    ]


@pytest.mark.parametrize(("theirs", "ours"), _pairs())
def test_same_attributes(
    theirs: inngest.StepError, ours: inngest_proto.StepError
) -> None:
    # Typed loosely: the three classes share these attributes in both SDKs.
    assert ours.code.value == theirs.code.value
    assert ours.code == theirs.code.value
    assert ours.name == theirs.name
    assert ours.is_retriable is theirs.is_retriable
    assert ours.include_stack is theirs.include_stack
    assert ours.message == theirs.message
    assert getattr(ours, "quiet", None) == getattr(theirs, "quiet", None)


@pytest.mark.parametrize(("theirs", "ours"), _pairs())
def test_same_stack_once_raised(
    theirs: inngest.StepError, ours: inngest_proto.StepError
) -> None:
    theirs = _raised(theirs)  # type: ignore[assignment]
    ours = _raised(ours)  # type: ignore[assignment]
    if isinstance(ours, inngest_proto.StepError):
        assert ours.stack == theirs.stack
        return
    # The same traceback text; only the module of the class differs.
    assert theirs.stack is not None
    assert ours.stack is not None
    ours_lines = ours.stack.splitlines()
    theirs_lines = theirs.stack.splitlines()
    assert len(ours_lines) == len(theirs_lines)
    assert ours_lines[0] == theirs_lines[0] == "Traceback (most recent call last):"
    assert ours_lines[-1].rsplit(".", 1)[-1] == theirs_lines[-1].rsplit(".", 1)[-1]


def test_error_code_has_every_official_member() -> None:
    for member in server_lib.ErrorCode:
        assert inngest_proto.ErrorCode[member.name].value == member.value
