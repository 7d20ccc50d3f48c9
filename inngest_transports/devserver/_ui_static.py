"""The web UI's static files (``ui/`` next to this module) and its HTML and
JSON answers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from inngest_proto import json_codec
from inngest_proto.wire import Response

from . import _ui_plain

__all__ = ["NO_CACHE", "UI_DIR", "html_response", "json_body", "static_file"]

#: Where the front end's files are (package data).
UI_DIR = Path(__file__).with_name("ui")
#: On every UI answer: the files change with the package, the data always.
NO_CACHE = {"cache-control": "no-cache"}
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
}
# One plain file name: no separators, no dot files, so no way out of UI_DIR.
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def html_response(status: int, page: str) -> Response:
    headers = {"content-type": "text/html; charset=utf-8", **NO_CACHE}
    return Response(status, headers, page.encode())


def json_body(status: int, body: Any) -> Response:
    headers = {"content-type": "application/json", **NO_CACHE}
    return Response(status, headers, json_codec.dumps_compact(body))


def static_file(name: str) -> Response:
    """``ui/<name>`` with its content type, or a 404."""
    path = UI_DIR / name
    content_type = _CONTENT_TYPES.get(path.suffix)
    if not _FILE_NAME.fullmatch(name) or content_type is None or not path.is_file():
        if name == "index.html":
            page = _ui_plain.message_page(
                "Web UI not installed", "The page is missing; see /ui/plain"
            )
            return html_response(404, page)
        return json_body(404, {"error": f"No such file: /ui/{name}"})
    return Response(200, {"content-type": content_type, **NO_CACHE}, path.read_bytes())
