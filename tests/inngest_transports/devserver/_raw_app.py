"""An "app" on 127.0.0.1 that answers every call of a function with a fixed
reply, whatever it holds: for hostile SDK replies no real SDK would send.

A threaded stdlib server, so both in-process dev servers (on asyncio or trio)
and dev server subprocesses can call it.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from inngest_proto.executor import MAX_DATA_DEPTH

APP_NAME = "raw-app"
#: The headers of a reply from an SDK.
SDK_HEADERS = {"content-type": "application/json", "x-inngest-sdk": "raw:v0"}


def nested(depth: int, leaf: Any = 1) -> bytes:
    """JSON text of ``depth`` nested objects around ``leaf``, built as text
    (encoding it from a Python value would recurse as deep)."""
    return b'{"a":' * depth + json.dumps(leaf).encode() + b"}" * depth


def step_run_reply(data: bytes) -> tuple[int, bytes]:
    """A 206 reply: one ``StepRun`` whose output is the JSON text ``data``."""
    op = b'[{"id":"s1","op":"StepRun","name":"s","displayName":"s","data":'
    return 206, op + data + b"}]"


#: Function id -> (the reply its calls get, the run's status, a text in the
#: run's error): replies nested too deep and just deep enough.
HOSTILE_OUTPUTS: dict[str, tuple[tuple[int, bytes], str, str]] = {
    "out-at-limit": ((200, nested(MAX_DATA_DEPTH)), "Completed", ""),
    "out-101": ((200, nested(MAX_DATA_DEPTH + 1)), "Failed", "output_too_deep"),
    "out-400": ((200, nested(400)), "Failed", "output_too_deep"),
    "out-10000": ((200, nested(10_000)), "Failed", "output_too_deep"),
    "step-400": (step_run_reply(nested(400)), "Failed", "invalid opcodes"),
    "step-10000": (step_run_reply(nested(10_000)), "Failed", "invalid opcodes"),
    "error-10000": ((500, nested(10_000)), "Failed", "invalid status code: 500"),
}


Reply = tuple[int, bytes]


class RawApp:
    """``replies``: function id -> (status, body) it always answers, or a
    list of them answered in turn (the last one from then on), after
    ``delays[function id]`` seconds if given."""

    def __init__(
        self,
        replies: Mapping[str, Reply | list[Reply]],
        delays: Mapping[str, float] | None = None,
    ) -> None:
        self.replies = {
            fn: list(reply) if isinstance(reply, list) else [reply]
            for fn, reply in replies.items()
        }
        self.delays = dict(delays or {})
        self._lock = threading.Lock()
        self.server = _Server(self)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/inngest"

    def next_reply(self, fn_id: str) -> Reply:
        with self._lock:
            queue = self.replies.get(fn_id, [(404, b"{}")])
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def sync_body(self) -> dict[str, Any]:
        """A ``POST /fn/register`` body with one function per reply, each
        triggered by the event named ``raw/<function id>``, without retries."""
        return {
            "appName": APP_NAME,
            "url": self.url,
            "functions": [
                {
                    "id": fn_id,
                    "name": fn_id,
                    "triggers": [{"event": f"raw/{fn_id}"}],
                    "steps": {
                        "step": {
                            "id": "step",
                            "name": "step",
                            "runtime": {
                                "type": "http",
                                "url": f"{self.url}?fnId={fn_id}&stepId=step",
                            },
                            "retries": {"attempts": 0},
                        }
                    },
                }
                for fn_id in self.replies
            ],
        }


@contextmanager
def raw_app(
    replies: Mapping[str, Reply | list[Reply]],
    delays: Mapping[str, float] | None = None,
) -> Iterator[RawApp]:
    app = RawApp(replies, delays)
    thread = threading.Thread(
        target=app.server.serve_forever, kwargs={"poll_interval": 0.01}
    )
    thread.start()
    try:
        yield app
    finally:
        app.server.shutdown()
        app.server.server_close()
        thread.join()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, app: RawApp) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.app = app


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        fn_id = query.get("fnId", [""])[0]
        app = self.server.app
        time.sleep(app.delays.get(fn_id, 0.0))
        status, body = app.next_reply(fn_id)
        self.send_response(status)
        for name, value in SDK_HEADERS.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass
