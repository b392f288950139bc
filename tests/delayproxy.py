"""A delaying TCP proxy: a realistic network path in front of a loopback server.

The probes must hold against targets that are farther away than loopback:
100 ms round trips with jitter. This kernel has no ``netem``, so the delay is
made in userspace. Each chunk read from one side is released to the other no
earlier than ``arrival + rtt_ms / 2 ± jitter_ms`` (uniform, seeded) and no
earlier than the chunk before it, so bytes are never reordered within a
direction, whatever the jitter. End of stream travels the same way:
a half-close (FIN) is forwarded as a half-close after its own delay, and a
reset as a close. Because the proxy accepts the client's connection at once,
a new connection's first bytes also wait one extra RTT (the handshake a real
path costs), unless ``connect_delay=False``.

The proxy runs its own asyncio loop in a daemon thread and listens on
127.0.0.1::

    with DelayProxy(("127.0.0.1", port), rtt_ms=100, jitter_ms=10, seed=1) as proxy:
        httpx.get(proxy.url("http") + "/status")

or, in front of any server (until SIGTERM/SIGINT)::

    python tests/delayproxy.py --upstream 127.0.0.1:8080 --rtt-ms 100 --jitter-ms 10 \\
        [--seed N] [--listen-port N] [--ready-file F] [--no-connect-delay]

Bad input is one line on stderr and exit status 2. The delay arithmetic
(``PathDelay``, ``release_at``) is pure; only ``DelayProxy`` does I/O.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import NoReturn

CHUNK_BYTES = 64 * 1024
QUEUE_CHUNKS = 64  # per direction: backpressure instead of unbounded buffering
CONNECT_TIMEOUT_S = 10.0
PROG = "delayproxy"
USAGE_ERROR = 2

Item = tuple[float, bytes | None]  # (release time, data); None is end of stream

logger = logging.getLogger(PROG)


# --- pure -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PathDelay:
    """The one-way delay of a path: half the round trip, plus uniform jitter, never negative."""

    rtt_ms: float = 0.0
    jitter_ms: float = 0.0

    def __post_init__(self) -> None:
        for name, value in (("rtt_ms", self.rtt_ms), ("jitter_ms", self.jitter_ms)):
            if not 0 <= value < float("inf"):
                raise ValueError(f"{name} must be a non-negative finite number: {value!r}")

    def one_way_s(self, rng: random.Random) -> float:
        """One chunk's one-way delay in seconds; draws from ``rng`` only when there is jitter."""
        delay_ms = self.rtt_ms / 2
        if self.jitter_ms > 0:
            delay_ms = max(0.0, delay_ms + rng.uniform(-self.jitter_ms, self.jitter_ms))
        return delay_ms / 1000


def release_at(arrived: float, delay_s: float, previous: float) -> float:
    """When a chunk may leave: after its own delay, and never before the one ahead of it.

    Taking the later of the two keeps a direction's bytes in order: a chunk
    that drew less jitter than its predecessor waits for it, as TCP would.
    """
    return max(arrived + delay_s, previous)


def parse_upstream(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) into a connectable pair."""
    host, sep, port_text = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise argparse.ArgumentTypeError(f"not HOST:PORT: {text!r}")
    return host, int(port_text)


# --- the proxy (I/O) --------------------------------------------------------------------


class DelayProxy:
    """A TCP proxy on 127.0.0.1 that delays each direction; a context manager.

    ``port`` is known once ``start()`` (or ``__enter__``) returns. ``close()``
    stops accepting, closes every connection (both sides) and joins the
    thread, within ``shutdown_s``; it raises if the thread is still alive.
    """

    def __init__(
        self,
        upstream: tuple[str, int],
        rtt_ms: float = 0.0,
        jitter_ms: float = 0.0,
        seed: int | None = None,
        *,
        listen_port: int = 0,
        connect_delay: bool = True,
        shutdown_s: float = 5.0,
    ) -> None:
        self.upstream = upstream
        self.delay = PathDelay(rtt_ms, jitter_ms)
        self.connect_delay = connect_delay
        self.shutdown_s = shutdown_s
        self._listen_port = listen_port
        self._rng = random.Random(seed)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.port = 0
        self.connections_total = 0
        self.upstream_failures = 0

    # lifecycle

    def start(self, timeout_s: float = 10.0) -> DelayProxy:
        """Start the loop thread and wait (bounded) until the port accepts connections."""
        if self._thread is not None:
            raise RuntimeError("DelayProxy already started")
        self._thread = threading.Thread(target=self._run, name=PROG, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise RuntimeError(f"{PROG} did not start within {timeout_s:g} s")
        if self._error is not None:
            self._thread.join(timeout_s)
            raise self._error
        return self

    def close(self) -> None:
        """Stop and join; idempotent. Raises ``RuntimeError`` if the thread outlives the bound."""
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None or not thread.is_alive():
            return
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(stop.set)
        thread.join(self.shutdown_s + 1.0)
        if thread.is_alive():
            raise RuntimeError(f"{PROG} did not stop within {self.shutdown_s:g} s")

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def active_connections(self) -> int:
        return len(self._connections)

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}"

    def __enter__(self) -> DelayProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # the loop thread

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # reported to start(); the thread must not die loudly
            self._error = exc
        finally:
            self._ready.set()
            loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", self._listen_port)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            server.close()
            tasks = list(self._connections)
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=self.shutdown_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), self.shutdown_s)

    async def _handle(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        loop = asyncio.get_running_loop()
        accepted = loop.time()
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        self.connections_total += 1
        upstream: asyncio.StreamWriter | None = None
        pumps: list[asyncio.Task[None]] = []
        shutting_down = False
        try:
            try:
                upstream_reader, upstream_writer = await asyncio.wait_for(
                    asyncio.open_connection(*self.upstream), CONNECT_TIMEOUT_S
                )
            except (TimeoutError, OSError) as exc:
                self.upstream_failures += 1
                host, port = self.upstream
                logger.warning("upstream %s:%s: %s", host, port, getattr(exc, "strerror", exc))
                return  # the client sees its connection closed, as with a refused one
            upstream = upstream_writer
            # The handshake the local accept skipped: the client's bytes start one RTT later.
            handshake_s = self.delay.rtt_ms / 1000 if self.connect_delay else 0.0
            up: asyncio.Queue[Item] = asyncio.Queue(QUEUE_CHUNKS)
            down: asyncio.Queue[Item] = asyncio.Queue(QUEUE_CHUNKS)
            pumps = [
                asyncio.create_task(self._read(client_reader, up, accepted + handshake_s)),
                asyncio.create_task(self._write(upstream_writer, up)),
                asyncio.create_task(self._read(upstream_reader, down, 0.0)),
                asyncio.create_task(self._write(client, down)),
            ]
            # Done when every pump is; a side that failed (peer gone) ends the connection.
            await asyncio.wait(pumps, return_when=asyncio.FIRST_EXCEPTION)
        except asyncio.CancelledError:
            # close() cancels this, the connection's top-level task, which nothing
            # awaits for a result: end quietly (the stream callback would log it).
            shutting_down = True
        finally:
            for pump in pumps:
                pump.cancel()
            if pumps:
                await asyncio.gather(*pumps, return_exceptions=True)
            for writer in (client, upstream):
                if writer is None:
                    continue
                if shutting_down:
                    writer.transport.abort()  # at shutdown: at once, nothing lingers
                else:
                    writer.close()
            self._connections.discard(task)

    async def _read(
        self, reader: asyncio.StreamReader, queue: asyncio.Queue[Item], not_before: float
    ) -> None:
        """Stamp each chunk with its release time; end of stream (or a reset) is the last item.

        A chunk counts as sent no earlier than ``not_before`` (the end of the
        modelled handshake), then travels its one-way delay.
        """
        loop = asyncio.get_running_loop()
        previous = 0.0
        while True:
            try:
                data = await reader.read(CHUNK_BYTES)
            except (ConnectionError, OSError):
                data = b""
            sent = max(loop.time(), not_before)
            previous = release_at(sent, self.delay.one_way_s(self._rng), previous)
            await queue.put((previous, data or None))
            if not data:
                return

    async def _write(self, writer: asyncio.StreamWriter, queue: asyncio.Queue[Item]) -> None:
        """Release chunks in order at their times; forward end of stream as a half-close."""
        loop = asyncio.get_running_loop()
        while True:
            release, data = await queue.get()
            wait = release - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                if writer.can_write_eof():
                    writer.write_eof()
                else:
                    writer.close()
                return
            writer.write(data)
            await writer.drain()


# --- command line -------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """A usage error is one line, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{PROG}: error: {message}\n")


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a non-negative finite number: {text!r}")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"not a port 0-65535: {text!r}")
    return int(text)


def _seed(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"not a non-negative integer: {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Delaying TCP proxy on 127.0.0.1 (round trip + jitter).")
    p.add_argument("--upstream", type=parse_upstream, required=True, help="HOST:PORT to forward to")
    p.add_argument("--rtt-ms", type=_non_negative, default=0.0, help="round-trip delay (0)")
    p.add_argument("--jitter-ms", type=_non_negative, default=0.0, help="± per one-way chunk (0)")
    p.add_argument("--seed", type=_seed, default=None, help="seed of the jitter (random)")
    p.add_argument("--listen-port", type=_port, default=0, help="port on 127.0.0.1 (0: free)")
    p.add_argument(
        "--ready-file", type=Path, help='written with {"port": P, "pid": N} once listening'
    )
    p.add_argument(
        "--no-connect-delay",
        action="store_true",
        help="do not charge a new connection the extra handshake RTT",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(format=f"{PROG}: %(message)s", level=logging.INFO, stream=sys.stderr)
    proxy = DelayProxy(
        args.upstream,
        args.rtt_ms,
        args.jitter_ms,
        args.seed,
        listen_port=args.listen_port,
        connect_delay=not args.no_connect_delay,
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        proxy.start()
    except OSError as exc:
        where = f"127.0.0.1:{args.listen_port}"
        print(f"{PROG}: error: cannot listen on {where}: {exc.strerror or exc}", file=sys.stderr)
        return USAGE_ERROR
    ready: Path | None = args.ready_file
    try:
        if ready is not None:
            tmp = ready.with_name(f".{ready.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"port": proxy.port, "pid": os.getpid()}))
            tmp.replace(ready)
        print(f"{PROG}: 127.0.0.1:{proxy.port} -> {args.upstream[0]}:{args.upstream[1]}, "
              f"rtt {args.rtt_ms:g} ms ± {args.jitter_ms:g} ms", file=sys.stderr)  # fmt: skip
        while not stop.wait(0.5):
            if not proxy.running:
                print(f"{PROG}: error: the proxy stopped unexpectedly", file=sys.stderr)
                return 1
    except OSError as exc:
        print(f"{PROG}: error: cannot write {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return USAGE_ERROR
    finally:
        proxy.close()
        if ready is not None:
            ready.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
