"""The ``inngest-dev`` command line, shaped like ``inngest dev``'s flags.

See docs/devserver.rst (Flags, Logging, Configuration file).  It fails in
one line, never a traceback: a flag (or configuration file) value it
refuses exits with status 2, a server that cannot start (its port is
taken) with 1.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from inngest_proto.wire import __version__

from ._cli_config import ConfigError, Repeated, config_tokens, find_config, read_config
from ._cli_logging import LEVELS, logging_configured
from ._driver import DEFAULT_MEMORY_RUNS
from ._gateway import DEFAULT_GATEWAY_PORT, GatewayConfig
from ._server import DEFAULT_POLL_INTERVAL, DEFAULT_PORT, DevServer
from ._sqlite_store import DEFAULT_DB_PATH, MEMORY, SQLiteStore, StoreError

__all__ = ["build_parser", "main", "parse_args"]

_DEFAULTS = GatewayConfig()
_log = logging.getLogger("inngest.devserver")


class _HelpFormatter(argparse.HelpFormatter):
    """Every flag's help says its default: ``(default: X)`` is added unless
    the help already says what happens without the flag."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default is argparse.SUPPRESS or "default" in text:
            return text  # --help and --version; or the help says it already
        if action.nargs == 0:
            return f"{text} (default: off)"
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """Says what is wrong in one line, without the long usage text."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


class _Refused(Exception):
    """argparse refused a value read from the configuration file."""


class _FileParser(argparse.ArgumentParser):
    """Parses a configuration file's flags: refusals raise, not exit.

    A sibling of :class:`_Parser`, not its subclass: only ``error`` differs,
    and each class inherits argparse's code directly.
    """

    def error(self, message: str) -> NoReturn:
        raise _Refused(message)


def build_parser(
    parser_class: type[argparse.ArgumentParser] = _Parser,
) -> argparse.ArgumentParser:
    parser = parser_class(
        prog="inngest-dev",
        description=(
            "An embedded Inngest dev server, durable in one SQLite file. Flags may"
            " also be set in inngest.json or inngest.yaml in the working directory"
            " (or --config FILE), with the long flag names as keys; flags given"
            " here win over the file."
        ),
        formatter_class=_HelpFormatter,
    )
    add = parser.add_argument
    add("--version", action="version", version=f"%(prog)s {__version__}")
    add(
        "--config",
        metavar="FILE",
        help="a JSON or YAML file of flag values (default: inngest.json,"
        " inngest.yaml or inngest.yml in the working directory, if there is one)",
    )
    add(
        "-u",
        "--sdk-url",
        action=Repeated,
        metavar="URL",
        help="app URL to sync at start (repeatable; http:// is added if missing;"
        " default: none)",
    )
    add(
        "-p",
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="port of the HTTP API and UI",
    )
    add("--host", default="127.0.0.1", help="address to bind")
    add(
        "--allow-host",
        action=Repeated,
        metavar="NAME",
        help=(
            "another name this server answers to (repeatable; default: none);"
            " requests for names other than localhost, loopback addresses and"
            " --host are refused (DNS rebinding)"
        ),
    )
    add(
        "--connect-gateway-port",
        type=int,
        default=DEFAULT_GATEWAY_PORT,
        metavar="PORT",
        help="port of the Connect gateway (WebSocket; the next free one if busy)",
    )
    add(
        "--connect-lease",
        type=float,
        default=_DEFAULTS.lease_seconds,
        metavar="SECONDS",
        help="how long a Connect worker holds a call without extending it"
        " (120 as inngest dev since 2026)",
    )
    add(
        "--connect-lease-extend-interval",
        type=float,
        metavar="SECONDS",
        help="how often Connect workers extend their leases (default: a quarter"
        " of the lease)",
    )
    add(
        "--connect-lease-grace",
        type=float,
        default=_DEFAULTS.lease_grace,
        metavar="SECONDS",
        help="how long a call waits for a late reply once its lease expired",
    )
    add(
        "--no-discovery",
        action="store_true",
        help="do not look for apps on this machine's usual ports (3000, 8000, ...)",
    )
    add(
        "--no-poll",
        action="store_true",
        help="do not re-sync synced apps every --poll-interval (apps not synced"
        " yet are still retried)",
    )
    add(
        "--poll-interval",
        type=float,
        default=DEFAULT_POLL_INTERVAL,
        metavar="SECONDS",
        help="how often apps are re-synced (an unreachable one less often, up to"
        " a minute apart)",
    )
    add(
        "--retry-scale",
        type=float,
        default=1.0,
        metavar="FACTOR",
        help="multiply retry backoff (0 retries at once)",
    )
    add(
        "--signing-key",
        metavar="KEY",
        help=(
            "act as Inngest Cloud: apps run in production mode with this key, "
            "which the API and the web UI require (the UI's sign-in link is "
            "logged at start; default: none, the dev server's rules)"
        ),
    )
    add(
        "--event-key",
        action=Repeated,
        metavar="KEY",
        help="accept events only with this key in POST /e/{key} (repeatable;"
        " default: none, any key is accepted)",
    )
    add(
        "--db",
        default=DEFAULT_DB_PATH,
        metavar="PATH",
        help=f"SQLite file keeping events, runs and apps across restarts ({MEMORY}"
        " keeps nothing)",
    )
    add(
        "--keep-events",
        type=int,
        metavar="N",
        help="keep only the newest N events in the database, deleting older ones"
        " (default: keep every event)",
    )
    add(
        "--log-level",
        choices=LEVELS,
        default="info",
        type=str.lower,
        help="the server's log level; other libraries log only warnings and worse",
    )
    add("--json", action="store_true", help="log JSON lines instead of text")
    add(
        "--backend",
        choices=("asyncio", "trio"),
        default="asyncio",
        help="the event loop (trio needs the trio package)",
    )
    add(
        "--keep-runs",
        type=int,
        metavar="N",
        help="keep only the N runs that ended last, deleting older ones"
        " (default: keep every run; 1000 with --db :memory:)",
    )
    add(
        "--keep-runs-for",
        type=_duration,
        metavar="DURATION",
        help="delete runs that ended longer ago than this: seconds, or a number"
        " with s, m, h or d, e.g. 7d (default: keep them whatever their age)",
    )
    return parser


def parse_args(
    argv: Sequence[str] | None = None, cwd: Path | None = None
) -> argparse.Namespace:
    """The flags, over the configuration file's values; exits 2 on a bad one
    (argparse's usage line and one line saying why)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        path = find_config(args.config, cwd or Path.cwd())
        if path is None:
            return args
        tokens = config_tokens(parser, read_config(path), path)
        try:
            from_file = build_parser(_FileParser).parse_args(tokens)
        except _Refused as err:
            raise ConfigError(f"{path}: {err}") from None
    except ConfigError as err:
        parser.error(str(err))
    named = {
        action.dest
        for action in parser._actions  # argparse has no public list
        if set(action.option_strings) & set(tokens)
    }
    parser.set_defaults(**{dest: getattr(from_file, dest) for dest in named})
    return parser.parse_args(argv)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(text: str) -> float:
    """``--keep-runs-for``: seconds, or a number with a unit (``90m``, ``7d``)."""
    number, unit = (text[:-1], text[-1]) if text[-1:] in _UNITS else (text, "s")
    try:
        seconds = float(number) * _UNITS[unit]
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        msg = f"not a positive duration: {text!r} (e.g. 3600, 90m, 24h, 7d)"
        raise argparse.ArgumentTypeError(msg)
    return seconds


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with logging_configured(args.log_level, json_lines=args.json, stream=sys.stderr):
        try:
            return _serve(args)
        except KeyboardInterrupt:
            # Ctrl-C before the server took over the signal (while the
            # database opens, say): a stop, not a crash.
            return 130


def _serve(args: argparse.Namespace) -> int:
    if args.backend == "trio" and importlib.util.find_spec("trio") is None:
        _log.error(
            "inngest-dev: --backend trio needs the trio package:"
            " pip install 'inngest-sansio[trio]'"
        )
        return 2
    try:
        store = SQLiteStore(args.db)
    except StoreError as err:
        _log.error("inngest-dev: %s", err)
        return 2
    if store.path == MEMORY:
        _log.warning("--db %s: nothing is persisted", MEMORY)
    else:
        _log.info("state is kept in %s", store.path)
    try:
        try:
            server = _server(args, store)
        except ValueError as err:
            # A flag value the server refuses: a usage error, as argparse's.
            _log.error("inngest-dev: %s", err)
            return 2
        server.run(backend=args.backend)
    except StoreError as err:
        _log.error("inngest-dev: %s", err)
        return 1
    except OSError as err:
        _log.error("inngest-dev: cannot listen on %s:%s: %s", args.host, args.port, err)
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
        event_keys=args.event_key,
        poll=not args.no_poll,
        poll_interval=args.poll_interval,
        discovery=not args.no_discovery,
        store=store,
        connect_gateway_port=args.connect_gateway_port,
        allowed_hosts=args.allow_host,
        connect=connect,
        keep_events=args.keep_events,
        # Without a file the runs are kept in SQLite's memory: bounded too.
        keep_runs=(
            DEFAULT_MEMORY_RUNS
            if args.keep_runs is None and store.path == MEMORY
            else args.keep_runs
        ),
        keep_runs_for=args.keep_runs_for,
    )
