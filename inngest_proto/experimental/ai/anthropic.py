"""Anthropic adapter for ``step.ai.infer``."""

from __future__ import annotations

from typing import ClassVar

from ._adapter import ProviderAdapter

__all__ = ["Adapter"]


class Adapter(ProviderAdapter):
    """Anthropic: ``Adapter(auth_key=..., model=..., base_url=None, headers=None)``."""

    FORMAT: ClassVar[str] = "anthropic"
    DEFAULT_BASE_URL: ClassVar[str] = "https://api.anthropic.com/v1"
    PATH: ClassVar[str] = "/messages"
    DEFAULT_HEADERS: ClassVar[dict[str, str]] = {"anthropic-version": "2023-06-01"}
