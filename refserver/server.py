"""Running both apps: two uvicorn servers on one asyncio loop, one set of signal handlers.

Sockets are bound here before uvicorn starts, so "port in use" is a clean
start-up error and ``--port 0`` has a known port before anything is served.
uvicorn's own signal capture is switched off: with two servers it would
install handlers twice and re-raise the signal after shutdown; instead one
handler asks both servers to exit, and the process returns 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
from collections.abc import Generator
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

logger = logging.getLogger("refserver")

GRACEFUL_SHUTDOWN_SECONDS = 1
STARTUP_TIMEOUT_SECONDS = 10.0


class StartupError(RuntimeError):
    """The server cannot start (address in use, bad host...); one-line message."""


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to the runner."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: the kernel picks a free one)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupError(f"cannot resolve host {host!r}: {exc.strerror}") from None
    family, socktype, proto, _, address = infos[0]
    sock = socket.socket(family, socktype, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(False)
    return sock


def bound_port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


def write_ready_file(path: Path, port: int, manager_port: int) -> None:
    """Atomically publish the ports (tmp file + rename), so a reader never sees half a file."""
    payload = json.dumps({"port": port, "manager_port": manager_port, "pid": os.getpid()})
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(payload, encoding="utf-8")
    os.replace(tmp, path)


def _config(app: ASGIApp) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,  # one line per request is noise; --request-log is the record
        lifespan="off",
        server_header=False,
        # uvicorn trusts X-Forwarded-For from 127.0.0.1 by default and rewrites
        # the peer address: any local client could then spoof its rate-limit
        # key. The limiter decides whom to trust (--trusted-proxy), not uvicorn.
        proxy_headers=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


async def serve(
    api: ASGIApp,
    manager: ASGIApp,
    api_socket: socket.socket,
    manager_socket: socket.socket,
    ready_file: Path | None,
) -> None:
    """Serve both apps until SIGTERM/SIGINT; write ``ready_file`` once both accept."""
    servers = [_Server(_config(api)), _Server(_config(manager))]
    loop = asyncio.get_running_loop()

    def stop() -> None:
        for server in servers:
            server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    tasks = [
        asyncio.create_task(server.serve(sockets=[sock]))
        for server, sock in zip(servers, (api_socket, manager_socket), strict=True)
    ]
    try:
        deadline = loop.time() + STARTUP_TIMEOUT_SECONDS
        while not all(server.started for server in servers):
            if any(task.done() for task in tasks) or loop.time() > deadline:
                stop()
                break
            await asyncio.sleep(0.01)
        else:
            port, manager_port = bound_port(api_socket), bound_port(manager_socket)
            if ready_file is not None:
                write_ready_file(ready_file, port, manager_port)
            logger.info(
                "serving API on port %d, manager on port %d (pid %d)",
                port,
                manager_port,
                os.getpid(),
            )
        await asyncio.gather(*tasks)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
