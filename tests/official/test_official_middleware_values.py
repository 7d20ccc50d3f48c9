"""What middleware receives, against the official SDK's (``inngest==0.5.19``):
the same dataclass fields, open to ``vars()`` and ``dataclasses`` on both.
Skipped where the official SDK is absent (``official`` tox env)."""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

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
    from inngest._internal.middleware_lib.middleware import (
        TransformOutputStepInfo as TheirStepInfo,
    )


def _names(cls: Any) -> list[str]:
    return [field.name for field in dataclasses.fields(cls)]


@pytest.mark.parametrize(
    ("theirs", "ours"),
    [
        (inngest.TransformOutputResult, inngest_proto.TransformOutputResult),
        (TheirStepInfo, inngest_proto.TransformOutputStepInfo),
        (inngest.Context, inngest_proto.Context),
        (inngest.ContextSync, inngest_proto.ContextSync),
    ],
)
def test_same_dataclass_fields(theirs: Any, ours: Any) -> None:
    assert dataclasses.is_dataclass(theirs)
    assert dataclasses.is_dataclass(ours)
    # Ours may add a field at the end (the context's max_attempts), never drop one.
    assert _names(ours)[: len(_names(theirs))] == _names(theirs)


def test_a_step_result_inspects_the_same() -> None:
    theirs = inngest.TransformOutputResult(
        error=None,
        output={"n": 1},
        step=TheirStepInfo(id="a", op=server_lib.Opcode.STEP_RUN, opts=None),
    )
    ours = inngest_proto.TransformOutputResult(
        error=None,
        output={"n": 1},
        step=inngest_proto.TransformOutputStepInfo(
            id="a", op=inngest_proto.Opcode.STEP_RUN, opts=None
        ),
    )
    assert vars(ours).keys() == vars(theirs).keys()
    theirs_dict = dataclasses.asdict(theirs)
    ours_dict = dataclasses.asdict(ours)
    assert theirs_dict["step"]["op"].value == ours_dict["step"]["op"].value
    theirs_dict["step"].pop("op")
    ours_dict["step"].pop("op")
    assert ours_dict == theirs_dict
    assert ours.has_output() == theirs.has_output()
