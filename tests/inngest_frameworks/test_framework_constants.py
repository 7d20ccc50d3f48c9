"""Each framework module's ``FRAMEWORK`` is a :class:`inngest_proto.Framework`
member, as in the official SDK (where it is ``server_lib.Framework.X``)."""

from __future__ import annotations

import importlib

import pytest

import inngest_proto

_MODULES = {
    "asgi": (None, "asgi"),
    "digital_ocean": (None, "digitalocean"),
    "django": ("django", "django"),
    "fast_api": ("fastapi", "fast_api"),
    "flask": ("flask", "flask"),
    "tornado": ("tornado", "tornado"),
    "wsgi": (None, "wsgi"),
}


@pytest.mark.parametrize("module_name", sorted(_MODULES))
def test_framework_constant_is_an_enum_member(module_name: str) -> None:
    needs, value = _MODULES[module_name]
    if needs is not None:
        pytest.importorskip(needs)
    module = importlib.import_module(f"inngest_frameworks.{module_name}")
    framework = module.FRAMEWORK
    assert type(framework) is inngest_proto.Framework
    assert framework.value == value
    assert framework == value
    assert "FRAMEWORK" in module.__all__
