"""The ``inngest-dev`` command line, shaped like ``inngest dev``'s flags (§1)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from ._server import DEFAULT_PORT, DevServer

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inngest-dev",
        description="An embedded, in-memory Inngest dev server.",
    )
    parser.add_argument(
        "-u",
        "--sdk-url",
        action="append",
        default=[],
        metavar="URL",
        help="app URL to sync at start (repeatable; http:// is added if missing)",
    )
    parser.add_argument("-p", "--port", type=int, default=DEFAULT_PORT)
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)"
    )
    parser.add_argument(
        "--no-discovery",
        action="store_true",
        help="accepted for compatibility: this server never scans ports",
    )
    parser.add_argument(
        "--no-poll",
        action="store_true",
        help="re-sync only apps not synced yet, not every app",
    )
    parser.add_argument("--poll-interval", type=float, default=5.0, metavar="SECONDS")
    parser.add_argument(
        "--retry-scale",
        type=float,
        default=1.0,
        help="multiply retry backoff (0 retries at once)",
    )
    parser.add_argument(
        "--signing-key",
        default=None,
        help="sign call requests and require a bearer token on API routes",
    )
    parser.add_argument(
        "--db",
        default=None,
        metavar="PATH",
        help="accepted; storage is in memory for now",
    )
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr
    )
    log = logging.getLogger("inngest.devserver")
    if args.db is not None:
        log.warning(
            "--db %s: storage is in memory for now; nothing is persisted", args.db
        )
    try:
        server = DevServer(
            host=args.host,
            port=args.port,
            apps=args.sdk_url,
            retry_scale=args.retry_scale,
            signing_key=args.signing_key,
            poll=not args.no_poll,
            poll_interval=args.poll_interval,
        )
        server.run(backend=args.backend)
    except ValueError as err:
        log.error("inngest-dev: %s", err)
        return 2
    except OSError as err:
        log.error("inngest-dev: cannot listen on %s:%s: %s", args.host, args.port, err)
        return 1
    return 0
