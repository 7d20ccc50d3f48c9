"""Plain HTTP values crossing the boundary between the core and a transport.

The core never performs I/O.  It *describes* an outbound request with
:class:`OutboundRequest` and reads the transport's :class:`OutboundResponse`;
framework glue turns an incoming request into :class:`IncomingRequest` and
writes out the :class:`Response` the comm handler returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import cast

import attrs

__all__ = [
    "Headers",
    "IncomingRequest",
    "OutboundRequest",
    "OutboundResponse",
    "Response",
    "canonical_header_name",
    "normalize_headers",
]

#: Header names lower-cased; a later duplicate wins, as the official SDK reads them.
Headers = Mapping[str, str]


# RFC 9110 token characters: what a header name may be made of.
_TOKEN_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


def canonical_header_name(name: str) -> str:
    """``name`` as Go's HTTP library writes it: ``x-api-key`` -> ``X-Api-Key``.

    The first letter and each letter after a hyphen upper-cased, the rest
    lower-cased.  A name with a character that is not a token character is
    left as it is, as Go leaves it.  Requests the dev server makes on the
    server's behalf use this form, so they look as the real server's do.
    """
    if not name or not _TOKEN_CHARS.issuperset(name):
        return name
    chars = []
    upper = True
    for char in name:
        chars.append(char.upper() if upper else char.lower())
        upper = char == "-"
    return "".join(chars)


def normalize_headers(
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
) -> dict[str, str]:
    if isinstance(headers, Mapping):
        # A mapping given here maps names to values; only an iterable of
        # pairs is iterated as pairs (a mapping's iteration is its keys).
        items = cast("Mapping[str, str]", headers).items()
        return {name.lower(): value for name, value in items}
    return {name.lower(): value for name, value in headers}


@attrs.frozen
class IncomingRequest:
    """A request to the serve endpoint, as the comm handler sees it.

    ``url`` is the full request URL as the host saw it (scheme, host, path and
    query); it is what an out-of-band sync advertises, unless overridden.
    ``query`` is the parsed query string (last value wins).
    """

    method: str
    url: str
    headers: dict[str, str] = attrs.field(converter=normalize_headers)
    body: bytes = b""
    query: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen
class Response:
    """What the serve endpoint answers: status, ordered headers, body bytes."""

    status: int
    headers: dict[str, str]
    body: bytes


@attrs.frozen
class OutboundRequest:
    """A request the core needs sent to the Inngest API or the Event API.

    ``retry_on_5xx`` marks requests safe to resend (the Event API dedupes them
    with the event-id seed); ``fallback_headers``, when set, are the headers to
    resend with once if the reply is 401 or 403 (the fallback signing key).
    """

    method: str
    url: str
    headers: dict[str, str]
    body: bytes = b""
    retry_on_5xx: bool = False
    fallback_headers: dict[str, str] | None = None


@attrs.frozen
class OutboundResponse:
    status: int
    headers: dict[str, str] = attrs.field(converter=normalize_headers)
    body: bytes = b""
