"""Google Gemini adapter for ``step.ai.infer``."""

from __future__ import annotations

from typing import ClassVar

from ._adapter import ProviderAdapter

__all__ = ["Adapter"]


class Adapter(ProviderAdapter):
    """Gemini: ``Adapter(auth_key=..., model=..., base_url=None, headers=None)``.

    Gemini names the model and the key in the URL rather than in headers.
    """

    FORMAT: ClassVar[str] = "gemini"
    DEFAULT_BASE_URL: ClassVar[str] = (
        "https://generativelanguage.googleapis.com/v1beta/"
    )
    PATH: ClassVar[str] = ""

    def url_infer(self) -> str:
        return (
            self._url.rstrip("/")
            + f"/models/{self._model}:generateContent?key={self._auth_key}"
        )
