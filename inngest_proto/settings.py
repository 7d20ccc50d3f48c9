"""The client's resolved settings (keys, URLs, mode) and the URL helpers."""

from __future__ import annotations

from ._settings import DEFAULT_SERVE_PATH, Settings, join_api_url

__all__ = ["DEFAULT_SERVE_PATH", "Settings", "join_api_url"]
