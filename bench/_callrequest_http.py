"""Over real HTTP: each SDK's app on uvicorn, and a small load client.

::

    python -m bench._callrequest_http ours|ours-asgi|official dev|cloud PORT

serves one app on ``127.0.0.1:PORT`` (what :func:`served` starts, one
process per server): each SDK's FastAPI glue (``ours``, ``official``), and
ours as a plain ASGI app (``ours-asgi``), which the official SDK does not
offer.  The load client is raw asyncio streams with keep-alive
connections, one per concurrent worker: it sends pre-built request bytes and
reads ``Content-Length`` bodies, so it costs far less per request than the
servers it measures.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bench._callrequest_cases import (
    PATH,
    QUERY,
    Case,
    answer_problem,
    build_app,
    headers_for,
    peak_rss_of,
    request_body,
)

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 30.0


# -- the server process -----------------------------------------------------------


def serve_forever(sdk: str, mode: str, port: int) -> None:
    import uvicorn  # noqa: PLC0415

    uvicorn.run(
        build_app(sdk, mode),
        host=HOST,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def served(sdk: str, mode: str) -> Iterator[tuple[int, int]]:
    """Start ``sdk``'s server in its own process; yield (port, pid)."""
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "bench._callrequest_http", sdk, mode, str(port)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                msg = f"{sdk} server exited with {proc.returncode} before serving"
                raise RuntimeError(msg)
            try:
                socket.create_connection((HOST, port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield port, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- the load client --------------------------------------------------------------


def raw_request(case: Case, port: int) -> bytes:
    """The whole HTTP/1.1 request, signed now in cloud mode."""
    body = request_body(case)
    query = "&".join(f"{k}={v}" for k, v in QUERY.items())
    head = [f"POST {PATH}?{query} HTTP/1.1", f"host: {HOST}:{port}"]
    head += [f"{k}: {v}" for k, v in headers_for(case, body).items()]
    head.append(f"content-length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    if length is None:  # both glues send Content-Length for a call's answer
        msg = f"response without Content-Length: {head!r}"
        raise RuntimeError(msg)
    return status, await reader.readexactly(length)


async def _load(
    port: int, request: bytes, expected: bytes, concurrency: int, total: int
) -> tuple[float, list[float]]:
    """``total`` requests over ``concurrency`` connections; wall s, latencies."""
    connections = [
        await asyncio.open_connection(HOST, port) for _ in range(concurrency)
    ]
    latencies: list[float] = []
    remaining = total

    async def worker(reader: asyncio.StreamReader, writer: Any) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            status, body = await _exchange(reader, writer, request)
            latencies.append(time.perf_counter() - started)
            if status != 200 or body != expected:
                msg = f"wrong answer under load: {status} {body[:200]!r}"
                raise AssertionError(msg)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker(r, w) for r, w in connections))
        wall = time.perf_counter() - started
    finally:
        for _, writer in connections:
            writer.close()
    return wall, latencies


async def _first(port: int, request: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        return await _exchange(reader, writer, request)
    finally:
        writer.close()


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    index = min(
        len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1)
    )
    return sorted_values[index]


def server_stack() -> str:
    """What uvicorn serves with: its ``auto`` choices, as users deploy it
    (``uvicorn[standard]`` brings httptools and uvloop)."""
    import uvicorn  # noqa: PLC0415

    parser = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"uvicorn {uvicorn.__version__} ({parser}, {loop})"


def measure_http(
    servers: Sequence[str],
    case: Case,
    concurrencies: list[int],
    total: int,
    repeats: int,
) -> list[dict[str, Any]]:
    """Throughput and latency of each server for ``case``, per concurrency.

    All servers run at once (idle but for the one under load) and the
    repetitions take turns: each round loads every server once, so a slow
    patch of the machine touches all of them alike.
    """
    with contextlib.ExitStack() as stack:
        ports = {}
        for server in servers:
            port, pid = stack.enter_context(served(server, case.mode))
            ports[server] = (port, pid)
        expected = {}
        for server, (port, _) in ports.items():
            request = raw_request(case, port)
            answer = asyncio.run(_first(port, request))
            problem = answer_problem(case, answer)
            if problem is not None:
                msg = f"{server} over HTTP, {case.label}: {problem}"
                raise AssertionError(msg)
            expected[server] = answer[1]
            # Warm up both paths (thread pool, connection handling) untimed.
            asyncio.run(_load(port, request, answer[1], max(concurrencies), 100))
        samples: dict[tuple[str, int], dict[str, list[float]]] = {
            (server, c): {"rps": [], "p50_ms": [], "p99_ms": []}
            for server in servers
            for c in concurrencies
        }
        for _ in range(repeats):
            for concurrency in concurrencies:
                for server, (port, _) in ports.items():
                    request = raw_request(case, port)  # a fresh signature
                    wall, latencies = asyncio.run(
                        _load(port, request, expected[server], concurrency, total)
                    )
                    latencies.sort()
                    sample = samples[(server, concurrency)]
                    sample["rps"].append(total / wall)
                    sample["p50_ms"].append(percentile(latencies, 0.50) * 1e3)
                    sample["p99_ms"].append(percentile(latencies, 0.99) * 1e3)
        rss = {}
        for server, (_, pid) in ports.items():
            peak = peak_rss_of(pid)
            rss[server] = None if peak is None else round(peak, 1)
    return [
        {
            "sdk": server,
            "k": case.k,
            "size": case.size,
            "mode": case.mode,
            "concurrency": concurrency,
            "requests": total,
            **samples[(server, concurrency)],
            "server_peak_rss_mib": rss[server],
        }
        for server in servers
        for concurrency in concurrencies
    ]


if __name__ == "__main__":
    serve_forever(sys.argv[1], sys.argv[2], int(sys.argv[3]))
