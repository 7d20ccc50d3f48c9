"""The web UI's sign-in (``_ui_login``) on whatever a client sends."""

from __future__ import annotations

from collections.abc import Mapping

import anyio
import attrs
from hypothesis import given
from hypothesis import strategies as st

from inngest_proto.executor import ServerAuth
from inngest_transports.devserver._cli import build_parser
from inngest_transports.devserver._ui_login import UiLogin

KEY = "signkey-test-" + "12" * 32


@attrs.define
class _Request:
    method: str
    parts: list[str]
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes


_text = st.text(max_size=200)


@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    cookie=_text,
    origin=st.none() | _text,
    token=st.none() | _text,
    body=st.binary(max_size=300),
)
def test_anything_is_refused_without_crashing(
    method: str, cookie: str, origin: str | None, token: str | None, body: bytes
) -> None:
    login = UiLogin(ServerAuth(KEY))
    headers = {"cookie": cookie, "host": "127.0.0.1:8288"}
    if origin is not None:
        headers["origin"] = origin
    query = {} if token is None else {"token": token}
    ui = _Request(method, ["ui", "api", "runs"], query, headers, body)
    assert not login.allows(ui)
    assert login.refuse(ui).status == 401
    form = _Request(method, ["ui", "login"], query, headers, body)
    answer = anyio.run(login.answer, form)
    assert answer.status in (200, 401, 405)
    assert "set-cookie" not in answer.headers


def test_the_cli_takes_allowed_hosts() -> None:
    args = build_parser().parse_args(["--allow-host", "inngest", "--allow-host", "h"])
    assert args.allow_host == ["inngest", "h"]
    assert build_parser().parse_args([]).allow_host == []


def _session_cookie(login: UiLogin) -> str:
    """``name=value`` of the cookie signing in with the printed link sets."""
    assert login.token is not None
    signed_in = anyio.run(
        login.answer, _Request("GET", ["ui", "login"], {"token": login.token}, {}, b"")
    )
    return signed_in.headers["set-cookie"].partition(";")[0]


def test_a_cookie_write_without_origin_is_judged_by_sec_fetch_site() -> None:
    login = UiLogin(ServerAuth(KEY))
    cookie = _session_cookie(login)

    def allows(method: str, **headers: str) -> bool:
        request = _Request(
            method, ["ui", "api", "events"], {}, {"cookie": cookie, **headers}, b""
        )
        return login.allows(request)

    assert allows("GET", **{"sec-fetch-site": "cross-site"})  # reads are not writes
    assert allows("POST")  # no browser header: not a page's request
    assert allows("POST", **{"sec-fetch-site": "same-origin"})
    assert allows("POST", **{"sec-fetch-site": "none"})  # typed by the user
    # Another port of localhost is the same site, so it has the cookie.
    assert not allows("POST", **{"sec-fetch-site": "same-site"})
    assert not allows("DELETE", **{"sec-fetch-site": "cross-site"})


def test_a_cookie_write_from_an_opaque_origin_is_refused() -> None:
    # "null" (a sandboxed page, file://) has no host to be ours, even when
    # the request names none either.
    login = UiLogin(ServerAuth(KEY))
    cookie = _session_cookie(login)
    for headers in ({}, {"host": "127.0.0.1:8288"}):
        request = _Request(
            "POST",
            ["ui", "api", "events"],
            {},
            {"cookie": cookie, "origin": "null", **headers},
            b"",
        )
        assert not login.allows(request)
