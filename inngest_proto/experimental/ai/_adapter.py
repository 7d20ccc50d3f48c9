"""The shared shape of the provider adapters: a URL, a format, a default model."""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["ProviderAdapter"]


class ProviderAdapter:
    """An adapter for one provider; subclasses set the class constants."""

    FORMAT: ClassVar[str]
    DEFAULT_BASE_URL: ClassVar[str]
    PATH: ClassVar[str]
    DEFAULT_HEADERS: ClassVar[dict[str, str]] = {}

    def __init__(
        self,
        *,
        auth_key: str,
        model: str,
        base_url: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if not isinstance(auth_key, str) or not auth_key:
            msg = f"{type(self).__module__}.Adapter needs an auth_key"
            raise ValueError(msg)
        if not isinstance(model, str) or not model:
            msg = f"{type(self).__module__}.Adapter needs a model name"
            raise ValueError(msg)
        self._auth_key = auth_key
        self._model = model
        self._url = base_url or self.DEFAULT_BASE_URL
        self._headers = dict(self.DEFAULT_HEADERS) if headers is None else dict(headers)

    def auth_key(self) -> str:
        return self._auth_key

    def format(self) -> str:
        return self.FORMAT

    def headers(self) -> dict[str, str]:
        return self._headers

    def on_call(self, body: dict[str, Any]) -> None:
        """Fill in the model unless the body names one."""
        if not body.get("model"):
            body["model"] = self._model

    def url_infer(self) -> str:
        return self._url.rstrip("/") + self.PATH
