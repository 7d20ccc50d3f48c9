"""OpenAI adapter for ``step.ai.infer``."""

from __future__ import annotations

from typing import ClassVar

from ._adapter import ProviderAdapter

__all__ = ["Adapter"]


class Adapter(ProviderAdapter):
    """OpenAI: ``Adapter(auth_key=..., model=..., base_url=None, headers=None)``."""

    FORMAT: ClassVar[str] = "openai-chat"
    DEFAULT_BASE_URL: ClassVar[str] = "https://api.openai.com/v1"
    PATH: ClassVar[str] = "/chat/completions"
