"""``python -m refserver``: parse options, prepare the secret and token, serve until signalled.

Every start-up problem (bad option or environment value, unknown fault,
unusable secret or token file, port in use) is one line on stderr and exit
status 2, never a traceback: the probes' harness starts this as a subprocess
and shows its stderr to a person.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NoReturn

from refserver.app import create_app, create_manager_app
from refserver.auth import SecretError, load_or_create_secret, write_private
from refserver.config import (
    ConfigError,
    Settings,
    ip_address,
    mode_name,
    non_empty,
    non_negative_float,
    non_negative_int,
    port_number,
    positive_float,
    positive_int,
    ratio,
    settings_from,
)
from refserver.faults import catalogue_lines
from refserver.server import StartupError, bind, serve
from refserver.state import ServerState
from refserver.vtt import create_vtt_app, create_vtt_manager_app

PROG = "refserver"
USAGE_ERROR = 2

logger = logging.getLogger("refserver")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no multi-line usage block)."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{PROG}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """Options default to ``None`` so ``settings_from`` can tell "not given" from a value."""
    p = _Parser(
        prog=PROG,
        description="Reference SpaceTime HttpApiServer with named faults.",
        argument_default=None,
    )
    p.add_argument("--host", type=non_empty, help="bind address for both ports (127.0.0.1)")
    p.add_argument("--port", type=port_number, help="HttpApiServer port, 0 = free port (8080)")
    p.add_argument("--manager-port", type=port_number, help="manager port, 0 = free (8090)")
    p.add_argument("--token-file", type=Path, help="where the token is written (jwt_token.txt)")
    p.add_argument("--secret-file", type=Path, help="HS256 secret, read or created (0600)")
    issuer = p.add_mutually_exclusive_group()
    issuer.add_argument(
        "--issuer", type=non_empty, help="iss claim minted and required (spacetime)"
    )
    issuer.add_argument(
        "--no-issuer",
        action="store_true",
        default=None,
        help="issuer-less: no iss minted, iss never checked",
    )
    p.add_argument("--audience", type=non_empty, help="aud claim minted and required (none)")
    p.add_argument("--token-ttl", type=positive_int, help="seconds until exp (86400)")
    p.add_argument(
        "--max-token-lifetime",
        type=positive_float,
        metavar="SECONDS",
        help="refuse tokens whose exp - iat exceeds this (none)",
    )
    p.add_argument("--rate", type=positive_float, help="bucket refill per second per client (50)")
    p.add_argument("--burst", type=positive_int, help="bucket capacity (50)")
    p.add_argument(
        "--trusted-proxy", type=ip_address, action="append", help="proxy whose XFF is trusted"
    )
    p.add_argument("--scene", type=non_empty, action="append", help="known scene (repeatable)")
    p.add_argument("--latency-ms", type=non_negative_float, help="base added latency (0)")
    p.add_argument(
        "--latency-jitter-ms",
        type=non_negative_float,
        help="each answer's base latency varies by uniform +-J ms, floored at 0 (0)",
    )
    p.add_argument(
        "--latency-tail-ratio",
        type=ratio,
        help="share (0..1) of answers, drawn at random, delayed --latency-tail-ms instead (0)",
    )
    p.add_argument(
        "--latency-tail-ms", type=non_negative_float, help="the slow answers' delay (none)"
    )
    p.add_argument(
        "--latency-seed", type=non_negative_int, help="seed of the latency draws (random)"
    )
    p.add_argument("--fault", action="append", metavar="NAME", help="enable a fault (repeatable)")
    p.add_argument("--request-log", type=Path, help="JSON Lines log of requests")
    p.add_argument("--ready-file", type=Path, help="written with the ports once serving")
    p.add_argument("--mode", type=mode_name, help="contract served: spacetime or vtt (spacetime)")
    p.add_argument(
        "--vtt-failing-check",
        type=non_empty,
        action="append",
        metavar="NAME",
        help="vtt mode: this health check reports fail (database, memory; repeatable)",
    )
    p.add_argument("--list-faults", action="store_true", help="print the fault catalogue and exit")
    return p


def _configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{PROG}: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return USAGE_ERROR


def run(settings: Settings) -> int:
    """Prepare everything that can fail, then serve; returns the exit status."""
    try:
        secret = load_or_create_secret(settings.secret_file)
        api_socket = bind(settings.host, settings.port)
    except (SecretError, StartupError) as exc:
        return _fail(str(exc))
    try:
        manager_socket = bind(settings.host, settings.manager_port)
    except StartupError as exc:
        api_socket.close()
        return _fail(str(exc))
    state: ServerState | None = None
    try:
        state = ServerState.create(settings, secret=secret)
        write_private(settings.token_file, state.token.encode())
    except OSError as exc:
        api_socket.close()
        manager_socket.close()
        if state is not None:
            state.close()
        return _fail(f"cannot write {exc.filename or 'file'}: {exc.strerror or exc}")
    if settings.mode != "spacetime":
        logger.info("mode: %s", settings.mode)
    if settings.faults:
        logger.info("faults: %s", ", ".join(sorted(settings.faults)))
    if settings.mode == "vtt":
        api, manager = create_vtt_app(settings, state), create_vtt_manager_app(settings, state)
    else:
        api, manager = create_app(settings, state), create_manager_app(settings, state)
    try:
        asyncio.run(
            serve(
                api,
                manager,
                api_socket,
                manager_socket,
                settings.ready_file,
            )
        )
    except (OSError, StartupError) as exc:
        return _fail(str(exc))
    finally:
        state.close()
        if settings.ready_file is not None:
            settings.ready_file.unlink(missing_ok=True)
    logger.info("stopped")
    return 0


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list_faults:
        print("\n".join(catalogue_lines()))
        return 0
    try:
        settings = settings_from(vars(args), os.environ if environ is None else environ)
    except ConfigError as exc:
        return _fail(str(exc))
    _configure_logging()
    return run(settings)


if __name__ == "__main__":
    sys.exit(main())
