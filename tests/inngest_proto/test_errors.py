"""The official SDK's error attributes: ``code`` (an ``ErrorCode``), ``name``,
``stack``, ``is_retriable`` and ``include_stack``."""

from __future__ import annotations

import datetime
import json

import pytest

import inngest_proto as inngest
from inngest_proto._errors import InngestError, StepUnexpectedError


def _raised(err: Exception) -> Exception:
    try:
        raise err
    except Exception as caught:  # whatever was raised, to inspect
        return caught


@pytest.mark.parametrize(
    ("err", "code", "retriable"),
    [
        (inngest.NonRetriableError("no"), "non_retriable_error", False),
        (inngest.RetryAfterError("later", 1000), "retry_after_error", True),
        (inngest.StepError("boom", "ValueError", "trace"), "step_errored", False),
    ],
)
def test_user_errors_carry_the_official_attributes(
    err: InngestError, code: str, retriable: bool
) -> None:
    assert type(err.code) is inngest.ErrorCode
    assert err.code is inngest.ErrorCode(code)
    # A str enum: comparisons with the wire string keep working.
    assert err.code == code
    assert str(err.code) == code
    assert f"{err.code}" == code
    assert json.dumps({"code": err.code}) == json.dumps({"code": code})
    assert err.is_retriable is retriable
    assert err.include_stack is True


def test_name_and_stack_of_a_raised_error() -> None:
    err = _raised(inngest.NonRetriableError("gave up"))
    assert isinstance(err, inngest.NonRetriableError)
    assert err.name == "NonRetriableError"
    stack = err.stack
    assert stack is not None
    assert stack.startswith("Traceback (most recent call last):\n")
    assert stack.endswith("NonRetriableError: gave up\n")
    assert "_raised" in stack


def test_stack_of_an_error_never_raised_is_its_last_line() -> None:
    err = inngest.RetryAfterError("soon", datetime.timedelta(seconds=5))
    assert err.name == "RetryAfterError"
    # The qualified class name, as traceback.format_exception writes it.
    assert err.stack == "inngest_proto._errors.RetryAfterError: soon\n"


def test_step_error_reports_the_original_error() -> None:
    err = _raised(inngest.StepError("bad input", "ValueError", "Traceback ...\n"))
    assert isinstance(err, inngest.StepError)
    assert err.name == "ValueError"
    assert err.stack == "Traceback ...\n"
    assert err.message == "bad input"
    assert inngest.StepError("m", "KeyError", None).stack is None


def test_include_stack_false_means_no_stack() -> None:
    err = _raised(StepUnexpectedError("x"))
    assert isinstance(err, StepUnexpectedError)
    assert err.include_stack is False
    assert err.stack is None


def test_every_error_code_is_a_member() -> None:
    # Each error class of the core names its code by a member, never a bare str.
    pending: list[type[InngestError]] = [InngestError]
    seen = 0
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        assert type(cls.code) is inngest.ErrorCode, cls
        seen += 1
    assert seen > 20
