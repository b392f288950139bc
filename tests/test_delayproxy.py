"""The delaying TCP proxy: pure delay arithmetic, then real loopback sockets through it.

Timing is checked only as lower bounds (a request through a 100 ms path took
at least 100 ms); everything else is about bytes and closes, with every
socket operation under a timeout so a broken proxy fails instead of hanging.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from delayproxy import DelayProxy, PathDelay, parse_upstream, release_at
from support import ROOT, refserver

IO_TIMEOUT_S = 10.0
Handler = Callable[[socket.socket], None]


# --- pure ---------------------------------------------------------------------------------


def test_one_way_delay_is_half_the_rtt_plus_bounded_seeded_jitter() -> None:
    assert PathDelay(100).one_way_s(random.Random(1)) == 0.05
    path = PathDelay(rtt_ms=100, jitter_ms=10)
    rng = random.Random(3)
    draws = [path.one_way_s(rng) for _ in range(2000)]
    assert min(draws) >= 0.04 and max(draws) <= 0.06
    assert max(draws) - min(draws) > 0.015  # the jitter is really applied
    again = random.Random(3)
    assert [path.one_way_s(again) for _ in range(2000)] == draws
    wide = PathDelay(rtt_ms=10, jitter_ms=50)
    assert all(wide.one_way_s(rng) >= 0 for _ in range(2000))


@pytest.mark.parametrize("bad", [{"rtt_ms": -1}, {"jitter_ms": float("inf")}])
def test_path_delay_refuses_bad_values(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        PathDelay(**bad)


def test_release_never_precedes_its_delay_or_the_chunk_before() -> None:
    path, rng = PathDelay(rtt_ms=20, jitter_ms=10), random.Random(5)
    previous, arrived, overtaken = 0.0, 0.0, 0
    for _ in range(5000):
        arrived += rng.uniform(0, 0.004)
        delay = path.one_way_s(rng)
        released = release_at(arrived, delay, previous)
        assert released >= arrived + delay and released >= previous
        overtaken += released > arrived + delay  # held back behind a slower chunk
        previous = released
    assert overtaken > 0  # the jitter would have reordered these without the rule


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("127.0.0.1:8080", ("127.0.0.1", 8080)), ("[::1]:9", ("::1", 9))],
)
def test_parse_upstream(text: str, parsed: tuple[str, int]) -> None:
    assert parse_upstream(text) == parsed


# --- real sockets --------------------------------------------------------------------------


@pytest.fixture
def upstream() -> Iterator[Callable[[Handler], int]]:
    """``upstream(handler)``: a threaded TCP server on 127.0.0.1; returns its port."""
    servers: list[socketserver.ThreadingTCPServer] = []

    def start(handler: Handler) -> int:
        class Handle(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.settimeout(IO_TIMEOUT_S)
                handler(self.request)

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handle)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return int(server.server_address[1])

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def echo(sock: socket.socket) -> None:
    """Echo until the peer half-closes, then half-close back."""
    while data := sock.recv(65536):
        sock.sendall(data)
    sock.shutdown(socket.SHUT_WR)


def _connect(proxy: DelayProxy) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=IO_TIMEOUT_S)
    sock.settimeout(IO_TIMEOUT_S)
    return sock


def _read_to_eof(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_large_body_arrives_intact_and_in_order(upstream: Callable[[Handler], int]) -> None:
    """2 MiB both ways under jitter as large as the delay: any reordering would show."""
    body = random.Random(11).randbytes(2 * 1024 * 1024)
    with DelayProxy(("127.0.0.1", upstream(echo)), rtt_ms=10, jitter_ms=5, seed=1) as proxy:
        sock = _connect(proxy)
        with sock:

            def send() -> None:
                sock.sendall(body)
                sock.shutdown(socket.SHUT_WR)  # the half-close must reach the echo server

            sender = threading.Thread(target=send, daemon=True)
            sender.start()
            received = _read_to_eof(sock)  # the echo server's half-close must come back
            sender.join(IO_TIMEOUT_S)
    assert len(received) == len(body)
    assert received == body


def test_a_request_takes_at_least_the_rtt(tmp_path: Path) -> None:
    """Through a real refserver: a warm request costs one RTT, a new connection one more."""
    with refserver(tmp_path) as server:
        port = int(server.base_url.rsplit(":", 1)[1])
        with DelayProxy(("127.0.0.1", port), rtt_ms=100, seed=1) as proxy:
            with httpx.Client(base_url=proxy.url("http"), timeout=IO_TIMEOUT_S) as client:
                started = time.perf_counter()
                assert client.get("/status").status_code == 200
                cold = time.perf_counter() - started
                started = time.perf_counter()
                response = client.get("/status")
                warm = time.perf_counter() - started
            assert response.json()["overall_ready"] in (True, False)
            assert proxy.connections_total == 1  # the second request reused the connection
    assert warm >= 0.1
    assert cold >= 0.2  # handshake + request


def test_without_connect_delay_a_new_connection_costs_one_rtt(
    upstream: Callable[[Handler], int],
) -> None:
    port = upstream(echo)
    with DelayProxy(("127.0.0.1", port), rtt_ms=80, connect_delay=False) as proxy:
        sock = _connect(proxy)
        with sock:
            started = time.perf_counter()
            sock.sendall(b"ping")
            assert sock.recv(16) == b"ping"
            assert time.perf_counter() - started >= 0.08


def test_upstream_close_reaches_the_client(upstream: Callable[[Handler], int]) -> None:
    def greet_and_close(sock: socket.socket) -> None:
        sock.sendall(b"bye")

    with (
        DelayProxy(("127.0.0.1", upstream(greet_and_close)), rtt_ms=20) as proxy,
        _connect(proxy) as sock,
    ):
        assert _read_to_eof(sock) == b"bye"  # recv() returning b"" is the close


def test_client_close_reaches_upstream_and_ends_the_connection(
    upstream: Callable[[Handler], int],
) -> None:
    saw_eof = threading.Event()

    def wait_for_eof(sock: socket.socket) -> None:
        if sock.recv(16) == b"":
            saw_eof.set()

    with DelayProxy(("127.0.0.1", upstream(wait_for_eof)), rtt_ms=20) as proxy:
        _connect(proxy).close()
        assert saw_eof.wait(IO_TIMEOUT_S)
        deadline = time.monotonic() + IO_TIMEOUT_S
        while proxy.active_connections and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proxy.active_connections == 0


def test_refused_upstream_closes_the_client(upstream: Callable[[Handler], int]) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        port = holder.getsockname()[1]
        with DelayProxy(("127.0.0.1", port)) as proxy:
            with _connect(proxy) as sock:
                assert _read_to_eof(sock) == b""
            assert proxy.upstream_failures == 1


def test_shutdown_closes_every_connection_and_joins(
    upstream: Callable[[Handler], int], caplog: pytest.LogCaptureFixture
) -> None:
    upstream_closed = threading.Semaphore(0)

    def hold_open(sock: socket.socket) -> None:
        sock.sendall(b"hi")
        with contextlib.suppress(OSError):
            sock.recv(16)  # blocks until the proxy closes its side
        upstream_closed.release()

    proxy = DelayProxy(("127.0.0.1", upstream(hold_open)), rtt_ms=20, shutdown_s=2.0).start()
    clients = [_connect(proxy) for _ in range(3)]
    try:
        for sock in clients:
            assert sock.recv(2) == b"hi"  # every connection is established end to end
        assert proxy.active_connections == 3
        proxy.close()  # raises if the thread outlives its bound
        assert not proxy.running
        for sock in clients:
            with contextlib.suppress(ConnectionResetError):  # aborted: also closed
                assert sock.recv(16) == b""
        for _ in clients:
            assert upstream_closed.acquire(timeout=IO_TIMEOUT_S)
        proxy.close()  # idempotent
        assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    finally:
        for sock in clients:
            sock.close()


# --- command line ---------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "tests" / "delayproxy.py"), *args],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--upstream", "nope"], "not HOST:PORT"),
        (["--upstream", "127.0.0.1:0"], "not HOST:PORT"),
        (["--upstream", "127.0.0.1:80", "--rtt-ms", "-1"], "--rtt-ms"),
        (["--upstream", "127.0.0.1:80", "--jitter-ms", "x"], "--jitter-ms"),
        (["--upstream", "127.0.0.1:80", "--listen-port", "70000"], "--listen-port"),
        ([], "--upstream"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(args: list[str], fragment: str) -> None:
    result = _cli(*args)
    assert result.returncode == 2
    assert result.stderr.startswith("delayproxy: error: ") and result.stderr.count("\n") == 1
    assert fragment in result.stderr and "Traceback" not in result.stderr


def test_cli_listen_port_in_use_is_one_line_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _cli("--upstream", "127.0.0.1:80", "--listen-port", str(port))
    assert result.returncode == 2
    assert result.stderr.startswith("delayproxy: error: cannot listen")
    assert result.stderr.count("\n") == 1


def test_cli_serves_until_sigterm(upstream: Callable[[Handler], int], tmp_path: Path) -> None:
    ready = tmp_path / "proxy.json"
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "delayproxy.py"),
         "--upstream", f"127.0.0.1:{upstream(echo)}", "--rtt-ms", "40", "--jitter-ms", "5",
         "--seed", "2", "--ready-file", str(ready)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + IO_TIMEOUT_S
        while not ready.exists():
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "no ready file"
            time.sleep(0.02)
        info = json.loads(ready.read_text())
        assert info["pid"] == process.pid
        with socket.create_connection(("127.0.0.1", info["port"]), timeout=IO_TIMEOUT_S) as sock:
            sock.settimeout(IO_TIMEOUT_S)
            started = time.perf_counter()
            sock.sendall(b"ping")
            sock.shutdown(socket.SHUT_WR)
            assert _read_to_eof(sock) == b"ping"
            assert time.perf_counter() - started >= 0.03  # 40 ms - 2 x 5 ms jitter
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(timeout=IO_TIMEOUT_S) == 0
        assert not ready.exists()
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
