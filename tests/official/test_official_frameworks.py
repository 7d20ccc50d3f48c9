"""``FRAMEWORK`` of each framework module against the official SDK's
(``inngest==0.5.19``): the same enum member names and values.  Skipped where
the official SDK is absent (``official`` tox env)."""

from __future__ import annotations

import importlib
import warnings

import pytest

import inngest_proto

#: The official SDK's pydantic models use v1-style ``class Config``; pydantic
#: warns at import, and our ``filterwarnings = error`` would make it fatal.
_PYDANTIC_CONFIG = "Support for class-based `config` is deprecated"
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", _PYDANTIC_CONFIG, DeprecationWarning)
    pytest.importorskip("inngest")
    from inngest._internal import server_lib

#: Module name -> the package it serves (skipped when that is not installed).
_MODULES = {
    "digital_ocean": None,
    "django": "django",
    "fast_api": "fastapi",
    "flask": "flask",
    "tornado": "tornado",
}


@pytest.mark.parametrize("module_name", sorted(_MODULES))
def test_same_framework_member(module_name: str) -> None:
    needs = _MODULES[module_name]
    if needs is not None:
        pytest.importorskip(needs)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", _PYDANTIC_CONFIG, DeprecationWarning)
        theirs = importlib.import_module(f"inngest.{module_name}").FRAMEWORK
    ours = importlib.import_module(f"inngest_frameworks.{module_name}").FRAMEWORK
    assert type(theirs) is server_lib.Framework
    assert type(ours) is inngest_proto.Framework
    assert ours.name == theirs.name
    assert ours.value == theirs.value


def test_framework_has_every_official_member() -> None:
    for member in server_lib.Framework:
        assert inngest_proto.Framework[member.name].value == member.value
