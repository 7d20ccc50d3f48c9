"""Requests whose framing a server must refuse, for our two h11 servers.

Each request is followed on the same connection by a second, innocent one:
a server that misreads where the first ends answers that "smuggled" request
too.  The right answer is one error response, then the connection closed.
"""

from __future__ import annotations

import anyio
import anyio.abc
import attrs

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n"


@attrs.frozen
class Abuse:
    name: str
    data: bytes
    status: int = 400


def abuses(target: str) -> list[Abuse]:
    """Framing abuses of a POST to ``target``."""
    post = f"POST {target} HTTP/1.1\r\nHost: localhost\r\n".encode()
    chunked = b"Transfer-Encoding: chunked\r\n"
    return [
        Abuse(
            "content-length and transfer-encoding",
            post + b"Content-Length: 5\r\n" + chunked + b"\r\n0\r\n\r\n" + SMUGGLED,
        ),
        Abuse(
            "transfer-encoding and content-length",
            post + chunked + b"Content-Length: 40\r\n\r\n0\r\n\r\n" + SMUGGLED,
        ),
        Abuse(
            "transfer-encoding on http/1.0",
            f"POST {target} HTTP/1.0\r\n".encode() + chunked + b"\r\n0\r\n\r\n",
        ),
        Abuse(
            "conflicting content-lengths",
            post + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}" + SMUGGLED,
        ),
        Abuse(
            "a content-length list that disagrees",
            post + b"Content-Length: 2, 3\r\n\r\n{}" + SMUGGLED,
        ),
        Abuse("a signed content-length", post + b"Content-Length: +2\r\n\r\n{}"),
        Abuse(
            "obs-fold",
            post + b"X-Long: a\r\n b\r\nContent-Length: 2\r\n\r\n{}" + SMUGGLED,
        ),
        Abuse(
            "obs-fold with a tab and bare line feeds",
            post.replace(b"\r\n", b"\n")
            + b"X-Long: a\n\tb\nContent-Length: 2\n\n{}"
            + SMUGGLED,
        ),
        Abuse("a chunk size that is not hex", post + chunked + b"\r\nzz\r\n{}\r\n"),
        Abuse("a negative chunk size", post + chunked + b"\r\n-2\r\n{}\r\n0\r\n\r\n"),
        Abuse(
            "a chunk size too long to be real",
            post + chunked + b"\r\n" + b"f" * 40 + b"\r\n{}\r\n",
        ),
        Abuse(
            "a transfer coding other than chunked",
            post + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" + SMUGGLED,
            status=501,
        ),
        Abuse(
            "oversize headers",
            post + b"X-Big: " + b"a" * 100_000 + b"\r\n\r\n" + SMUGGLED,
            status=431,
        ),
    ]


async def exchange(port: int, data: bytes) -> bytes:
    """Send ``data`` on a new connection; all the server sends until it
    closes (it must close: the test fails after a second otherwise)."""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(data)
        reply = b""
        with anyio.fail_after(1):
            while True:
                try:
                    reply += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return reply


def assert_refused(reply: bytes, status: int) -> None:
    """One response, ``status``, saying it closes: nothing was smuggled."""
    assert reply.startswith(f"HTTP/1.1 {status} ".encode()), reply[:200]
    assert reply.count(b"HTTP/1.1 ") == 1, reply
    head = reply.partition(b"\r\n\r\n")[0].lower()
    assert b"\r\nconnection: close" in head, head
