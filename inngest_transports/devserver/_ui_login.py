"""The web UI's sign-in, when the server has a signing key.

With a key, the UI (``/``, ``/ui/...``) shows runs, outputs and events and
can send events, cancel and rerun: it needs the key too.  A browser signs in
once, either with the link the server prints at start
(``/ui/login?token=...``) or by entering the signing key in the form at
``/ui/login``; it then holds a session cookie.  Scripts may send
``Authorization: Bearer`` with the key as for the rest of the API.

The token and the cookie are derived from the key (not the key itself), so
they open the UI of this server only, and stay valid across restarts until
the key changes.  The cookie is ``HttpOnly`` and ``SameSite=Strict``, and a
write it authorizes must come from the UI's own page: a page of another
port of ``localhost`` (same site, so it gets the cookie) may not use it.
"""

from __future__ import annotations

import hashlib
import hmac
import urllib.parse
from collections.abc import Mapping

from inngest_proto.executor import ServerAuth
from inngest_proto.wire import Response

from ._guard import SAFE_METHODS, is_same_origin
from ._ui_api import UiRequest
from ._ui_plain import login_page
from ._ui_static import NO_CACHE, html_response, json_body

__all__ = ["UiLogin"]

#: A form longer than this is not a sign-in.
_MAX_FORM_BYTES = 4096


class UiLogin:
    """Who may use the web UI; answers ``/ui/login``."""

    def __init__(self, auth: ServerAuth) -> None:
        self._auth = auth
        self._token = auth.derive_token("web-ui-session")
        # One cookie per key: cookies ignore ports, so two servers on one
        # host (or an app beside it) would otherwise overwrite each other's.
        suffix = hashlib.sha256((self._token or "").encode()).hexdigest()[:12]
        self._cookie = f"inngest_dev_ui_{suffix}"

    @property
    def token(self) -> str | None:
        """The sign-in token for ``/ui/login?token=``; ``None`` without a key."""
        return self._token

    @staticmethod
    def is_login(parts: list[str]) -> bool:
        return parts == ["ui", "login"]

    def allows(self, r: UiRequest) -> bool:
        """Whether the request may use the UI (always, without a key)."""
        if self._token is None or self._auth.bearer_ok(r.headers):
            return True
        if not self._has_session(r.headers):
            return False
        if r.method in SAFE_METHODS:
            return True
        # A write on the strength of the cookie alone: from the UI's page.
        origin = r.headers.get("origin")
        if origin is not None:
            return is_same_origin(origin, r.headers.get("host"))
        site = r.headers.get("sec-fetch-site", "same-origin").strip().lower()
        return site in ("same-origin", "none")

    def refuse(self, r: UiRequest) -> Response:
        """401 for the UI's API; the sign-in page for everything else."""
        if r.parts[:2] == ["ui", "api"]:
            body = {"error": "Sign in first: open /ui/login", "login": "/ui/login"}
            return json_body(401, body)
        return _redirect("/ui/login")

    async def answer(self, r: UiRequest) -> Response:
        """``GET /ui/login[?token=]`` and ``POST /ui/login`` (the form)."""
        if self._token is None:
            return _redirect("/")  # nothing to sign in to
        if r.method == "POST":
            key = _form_field(r.body, "key")
            if key is not None and self._opens(key):
                return self._signed_in()
            return html_response(401, login_page("That is not this server's key."))
        if r.method != "GET":
            return html_response(405, login_page())
        token = r.query.get("token")
        if token is None:
            return html_response(200, login_page())
        if hmac.compare_digest(token.encode(), self._token.encode()):
            return self._signed_in()
        return html_response(401, login_page("That link is not valid (any more)."))

    # -- helpers ----------------------------------------------------------------------

    def _opens(self, key: str) -> bool:
        key = key.strip()
        assert self._token is not None
        return hmac.compare_digest(
            key.encode(), self._token.encode()
        ) or self._auth.bearer_ok({"authorization": f"Bearer {key}"})

    def _has_session(self, headers: Mapping[str, str]) -> bool:
        assert self._token is not None
        for pair in headers.get("cookie", "").split(";"):
            name, _, value = pair.strip().partition("=")
            if name == self._cookie and hmac.compare_digest(
                value.encode(), self._token.encode()
            ):
                return True
        return False

    def _signed_in(self) -> Response:
        response = _redirect("/")
        response.headers["set-cookie"] = (
            f"{self._cookie}={self._token}; Path=/; HttpOnly; SameSite=Strict"
        )
        return response


def _redirect(location: str) -> Response:
    headers = {"location": location, "content-type": "text/plain", **NO_CACHE}
    return Response(303, headers, b"See " + location.encode())


def _form_field(body: bytes, name: str) -> str | None:
    if len(body) > _MAX_FORM_BYTES:
        return None
    fields = urllib.parse.parse_qs(body.decode("utf-8", errors="replace"))
    values = fields.get(name)
    return values[0] if values else None
