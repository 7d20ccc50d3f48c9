"""A stub HTTP server on 127.0.0.1 for the transport tests.

A threaded stdlib server answering from a script and recording what it
received, so blocking and async clients (asyncio and trio) can share it.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs


@attrs.frozen
class Reply:
    """A scripted answer; ``hold`` never answers, ``drop`` hangs up at once."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = attrs.field(factory=dict)
    hold: bool = False
    drop: bool = False


@attrs.frozen
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def ids_reply(*ids: str) -> Reply:
    body = json.dumps({"ids": list(ids), "status": 200}).encode()
    return Reply(200, body, {"content-type": "application/json"})


class Stub:
    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.server = _StubServer(self)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}
        )

    def script(self, *replies: Reply) -> None:
        with self.lock:
            self.replies.extend(replies)

    def take(self, received: Received) -> Reply:
        with self.lock:
            self.received.append(received)
            if self.replies:
                return self.replies.popleft()
        return Reply(418, b'{"error":"stub: no reply scripted"}')


class _StubServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, stub: Stub) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.stub = stub


class _Handler(BaseHTTPRequestHandler):
    server: _StubServer

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        stub = self.server.stub
        reply = stub.take(Received(self.command, self.path, headers, body))
        if reply.hold:
            stub.release.wait(5)  # until the client gave up and the test ended
        if reply.hold or reply.drop:
            self.close_connection = True
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass
