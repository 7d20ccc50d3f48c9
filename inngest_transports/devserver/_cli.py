"""The ``inngest-dev`` command line, shaped like ``inngest dev``'s flags.

See docs/protocol/devserver-api.rst#command-line.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from ._gateway import DEFAULT_GATEWAY_PORT, GatewayConfig
from ._server import DEFAULT_PORT, DevServer
from ._sqlite_store import DEFAULT_DB_PATH, MEMORY, SQLiteStore, StoreError

__all__ = ["build_parser", "main"]

_DEFAULTS = GatewayConfig()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inngest-dev",
        description="An embedded Inngest dev server, durable in one SQLite file.",
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
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help=(
            "another name this server answers to (repeatable); requests for "
            "names other than localhost, loopback addresses and --host are "
            "refused (DNS rebinding)"
        ),
    )
    parser.add_argument(
        "--connect-gateway-port",
        type=int,
        default=DEFAULT_GATEWAY_PORT,
        metavar="PORT",
        help=f"port of the Connect gateway (WebSocket; default {DEFAULT_GATEWAY_PORT})",
    )
    parser.add_argument(
        "--connect-lease",
        type=float,
        default=_DEFAULTS.lease_seconds,
        metavar="SECONDS",
        help=(
            "how long a Connect worker holds a call without extending it"
            f" (default {_DEFAULTS.lease_seconds:g}; 120 as inngest dev since 2026)"
        ),
    )
    parser.add_argument(
        "--connect-lease-extend-interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how often Connect workers extend their leases (default: a quarter of"
        " the lease)",
    )
    parser.add_argument(
        "--connect-lease-grace",
        type=float,
        default=_DEFAULTS.lease_grace,
        metavar="SECONDS",
        help=(
            "how long a call waits for a late reply once its lease expired"
            f" (default {_DEFAULTS.lease_grace:g})"
        ),
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
        help=(
            "act as Inngest Cloud: apps run in production mode with this key, "
            "which the API and the web UI require (the UI's sign-in link is "
            "logged at start)"
        ),
    )
    parser.add_argument(
        "--db",
        default=DEFAULT_DB_PATH,
        metavar="PATH",
        help=(
            "SQLite file keeping events, runs and apps across restarts "
            f"(default {DEFAULT_DB_PATH}; {MEMORY} keeps nothing)"
        ),
    )
    parser.add_argument(
        "--keep-events",
        type=int,
        default=None,
        metavar="N",
        help=(
            "keep only the newest N events in the database, deleting older ones"
            " (default: keep every event)"
        ),
    )
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr
    )
    log = logging.getLogger("inngest.devserver")
    try:
        store = SQLiteStore(args.db)
    except StoreError as err:
        log.error("inngest-dev: %s", err)
        return 2
    if store.path == MEMORY:
        log.warning("--db %s: nothing is persisted", MEMORY)
    else:
        log.info("state is kept in %s", store.path)
    try:
        try:
            server = _server(args, store)
        except ValueError as err:
            # A flag value the server refuses: a usage error, as argparse's.
            log.error("inngest-dev: %s", err)
            return 2
        server.run(backend=args.backend)
    except StoreError as err:
        log.error("inngest-dev: %s", err)
        return 1
    except OSError as err:
        log.error("inngest-dev: cannot listen on %s:%s: %s", args.host, args.port, err)
        return 1
    finally:
        store.close()
    return 0


def _server(args: argparse.Namespace, store: SQLiteStore) -> DevServer:
    """The server the flags describe; ``ValueError`` for a value it refuses."""
    connect = GatewayConfig(
        lease_seconds=args.connect_lease,
        lease_extend_interval=args.connect_lease_extend_interval,
        lease_grace=args.connect_lease_grace,
    )
    return DevServer(
        host=args.host,
        port=args.port,
        apps=args.sdk_url,
        retry_scale=args.retry_scale,
        signing_key=args.signing_key,
        poll=not args.no_poll,
        poll_interval=args.poll_interval,
        store=store,
        connect_gateway_port=args.connect_gateway_port,
        allowed_hosts=args.allow_host,
        connect=connect,
        keep_events=args.keep_events,
    )
