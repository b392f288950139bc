"""The probe client against bad targets: total deadline, bounded bodies, no redirects,
no mutation of production, secrets scrubbed from what comes back, one-line errors."""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator

import httpcore
import httpx
import pytest
from support import loopback_http, mint_token

from probes import client as client_module
from probes.client import MutationRefused, ProbeClient, decode_body, one_line, resolve
from probes.exchange import MAX_BODY_BYTES, Exchange

TOKEN = mint_token("unit")


def _client(handler, **kwargs) -> tuple[ProbeClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    options = {"token": TOKEN, "timeout_s": 2.0, "pacer": None}
    options.update(kwargs)
    return ProbeClient("http://target.test", transport=httpx.MockTransport(record), **options), seen


def _ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"ok": True})


# Production safety ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "put", "DELETE", "patch", "PROPFIND", "MKCOL"])
def test_production_client_refuses_anything_mutating(method: str) -> None:
    client, seen = _client(_ok, allow_mutating=False)
    with pytest.raises(MutationRefused, match="production"):
        client.request(method, "/scene", json_body={"scene_path": "res://a.tscn"})
    assert seen == []


@pytest.mark.parametrize("method", ["GET", "head", "OPTIONS"])
def test_production_client_sends_safe_methods(method: str) -> None:
    client, seen = _client(_ok, allow_mutating=False)
    assert client.request(method, "/scenes").status == 200
    assert [r.method for r in seen] == [method.upper()]


def test_allowed_mutation_is_sent() -> None:
    client, seen = _client(_ok, allow_mutating=True)
    assert client.request("post", "/scene", json_body={}).status == 200
    assert seen[0].method == "POST"


# Redirects, bodies, secrets ------------------------------------------------------------------


def test_redirect_is_not_followed() -> None:
    def redirect(request: httpx.Request) -> httpx.Response:
        return httpx.Response(307, headers={"Location": "http://elsewhere.test/steal"})

    client, seen = _client(redirect)
    exchange = client.request("GET", "/scenes")
    assert exchange.status == 307 and len(seen) == 1
    assert "redirect to http://elsewhere.test/steal, not followed" in exchange.brief()


def test_hundred_megabyte_body_is_capped_in_memory() -> None:
    block = b"0" * 65536

    def huge(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=(block for _ in range(1600)))  # 100 MiB, lazily

    client, _ = _client(huge)
    tracemalloc.start()
    try:
        exchange = client.request("GET", "/scenes")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert exchange.truncated and len(exchange.body) == MAX_BODY_BYTES
    assert peak < 8 * MAX_BODY_BYTES, f"peak {peak / 2**20:.1f} MiB"
    with pytest.raises(ValueError, match="larger than"):
        exchange.json()


def test_gzip_bomb_is_decoded_within_the_cap() -> None:
    deflate = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = b"".join(deflate.compress(b"\0" * (1 << 20)) for _ in range(64)) + deflate.flush()
    assert len(bomb) < 128 * 1024
    body, cut = decode_body(bomb, "gzip")
    assert cut and len(body) == MAX_BODY_BYTES
    assert decode_body(zlib.compress(b'{"a": 1}'), "deflate") == (b'{"a": 1}', False)
    assert decode_body(b"not gzip", "gzip") == (b"not gzip", False)
    assert decode_body(b"br bytes", "br") == (b"br bytes", False)


def test_gzip_response_is_decoded() -> None:
    def gzipped(request: httpx.Request) -> httpx.Response:
        deflate = zlib.compressobj(6, zlib.DEFLATED, 31)
        data = deflate.compress(b'{"scenes": []}') + deflate.flush()
        return httpx.Response(200, content=data, headers={"Content-Encoding": "gzip"})

    client, seen = _client(gzipped)
    assert client.request("GET", "/scenes").json() == {"scenes": []}
    assert seen[0].headers["accept-encoding"] == "identity"


def test_echoed_secrets_are_scrubbed_from_the_answer() -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        seen = request.headers.get("authorization", "")
        return httpx.Response(
            401,
            content=f'{{"error": "{seen}", "secret": "hunter2-signing"}}'.encode(),
            headers={"WWW-Authenticate": f'Bearer error="invalid_token", was="{seen}"'},
        )

    client, _ = _client(echo, secrets=("hunter2-signing",))
    exchange = client.request("GET", "/jobs")
    assert TOKEN not in exchange.text and "hunter2-signing" not in exchange.text
    challenge = exchange.header("www-authenticate") or ""
    assert TOKEN not in challenge and challenge.startswith('Bearer error="invalid_token"')
    # A tampered token still carries the real payload: JWT shapes go too.
    tampered = client.request("GET", "/jobs", authorization="Bearer " + TOKEN[:-4] + "AAAA")
    assert TOKEN.split(".")[1] not in tampered.text


def test_collateral_429_wait_is_capped_by_the_timeout() -> None:
    def limited(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "3600"})

    client, seen = _client(limited, timeout_s=0.3)
    started = time.perf_counter()
    exchange = client.request("GET", "/scenes")
    assert exchange.status == 429 and len(seen) == 2
    assert time.perf_counter() - started < 1.0


def test_one_line() -> None:
    assert one_line("a\nb\r\n\tc\x00d") == "a b c d"
    assert len(one_line("x" * 1000, 50)) == 50


def test_invalid_url_is_an_exchange_error() -> None:
    client = ProbeClient("http://[::1", token=None, timeout_s=1, pacer=None)
    exchange = client.request("GET", "/x")
    assert exchange.status is None and exchange.error and "\n" not in exchange.error


# Real sockets: the total deadline ------------------------------------------------------------


@pytest.fixture
def trickle() -> Iterator[tuple[int, threading.Event]]:
    """A server that answers every request one byte per 50 ms, forever."""
    stop = threading.Event()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            payload = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: "
            payload += b"z" * 10_000
            for byte in payload:
                if stop.is_set():
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.05)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1], stop
    stop.set()
    thread.join(2)
    listener.close()


@pytest.mark.integration
def test_slowloris_hits_the_total_deadline(trickle: tuple[int, threading.Event]) -> None:
    port, _ = trickle
    client = ProbeClient(f"http://127.0.0.1:{port}", token=TOKEN, timeout_s=0.6, pacer=None)
    started = time.perf_counter()
    exchange = client.request("GET", "/scenes")
    elapsed = time.perf_counter() - started
    client.close()
    assert exchange.status is None
    assert exchange.error is not None and exchange.error.startswith("timeout")
    assert elapsed < 0.6 + 0.4, f"{elapsed:.2f} s for a 0.6 s timeout"


def test_slow_name_resolution_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    def hang(*args: object, **kwargs: object) -> list:
        time.sleep(3)
        return []

    monkeypatch.setattr(client_module.socket, "getaddrinfo", hang)
    started = time.perf_counter()
    with pytest.raises(httpcore.ConnectTimeout):
        resolve("probe-target.invalid", 443, 0.2)
    assert time.perf_counter() - started < 0.6
    assert resolve("127.0.0.1", 80, 0.1) == "127.0.0.1"


def test_unresolvable_name_is_one_line() -> None:
    client = ProbeClient("http://no-such-host.invalid", token=None, timeout_s=2, pacer=None)
    exchange = client.request("GET", "/status")
    assert exchange.status is None and exchange.error is not None
    assert exchange.error.startswith("cannot connect") and "\n" not in exchange.error


def test_the_pool_counts_the_connections_it_holds_open() -> None:
    """Against a real loopback server: requests at once open as many connections; when the
    server closes them while idle, the pool reads them as gone (and the next one opens)."""
    release = threading.Barrier(3, timeout=10)

    class KeepAlive(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            if self.path == "/together":
                release.wait()
            close = self.path == "/close"
            self.send_response(200)
            self.send_header("Content-Length", "2")
            if close:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    with contextlib.ExitStack() as stack:
        base = stack.enter_context(loopback_http(KeepAlive))
        client = ProbeClient(base, token=None, timeout_s=5, pacer=None)
        stack.callback(client.close)
        assert client.open_connections() == 0
        first = client.request("GET", "/")
        assert first.opened and client.open_connections() == 1
        assert not client.request("GET", "/").opened  # kept alive
        threads = [threading.Thread(target=client.request, args=("GET", "/together"))
                   for _ in range(3)]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        assert client.open_connections() == 3
        client.request("GET", "/close")  # the server closes this one after answering
        assert client.open_connections() == 2
        assert ProbeClient(base, token=None, timeout_s=5, pacer=None,
                           transport=httpx.MockTransport(lambda r: httpx.Response(200))
                           ).open_connections() is None  # fmt: skip


def test_fan_out_keeps_several_in_flight_and_the_answers_in_order() -> None:
    """Independent requests go out together (seen by a real server), answers in item order."""
    lock = threading.Lock()
    in_flight = [0, 0]  # now, most at once
    both_arrived = threading.Barrier(2, timeout=10)

    class Counting(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            with lock:
                in_flight[0] += 1
                in_flight[1] = max(in_flight)
            if self.path in {"/0", "/1"}:
                both_arrived.wait()  # only returns when two requests are in flight at once
            body = self.path.encode()
            with lock:
                in_flight[0] -= 1
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with loopback_http(Counting) as base:
        client = ProbeClient(base, token=None, timeout_s=15, pacer=None)
        try:
            items = list(range(12))
            answers = client.fan_out(lambda i: client.request("GET", f"/{i}"), items, width=4)
            assert [a.body.decode() for a in answers] == [f"/{i}" for i in items]
            assert 2 <= in_flight[1] <= 4

            def send(i: int) -> Exchange:
                if i == 3:
                    raise RuntimeError("breaker open")
                return client.request("GET", f"/x{i}")

            with pytest.raises(RuntimeError, match="breaker open"):
                client.fan_out(send, items, width=4)
        finally:
            client.close()


def test_fan_out_of_one_item_makes_no_step_when_the_caller_makes_them() -> None:
    """One item or many, the request is sent from a worker thread: no step of its own."""
    steps: list[str] = []
    client = ProbeClient("http://t.invalid", token=None, timeout_s=5, pacer=None,
                         transport=httpx.MockTransport(lambda r: httpx.Response(401)))  # fmt: skip
    client.step = lambda exchange: steps.append(exchange.endpoint)  # type: ignore[method-assign]
    try:
        (only,) = client.fan_out(lambda path: client.request("GET", path), ["/jobs"], steps=False)
        assert only.status == 401 and steps == []
        client.fan_out(lambda path: client.request("GET", path), ["/a", "/b"])
        assert steps == ["/a", "/b"]
        assert client.fan_out(lambda path: client.request("GET", path), []) == []
    finally:
        client.close()


def test_plain_requests_sent_alone_are_kept_as_the_latency_familys_warm_up() -> None:
    """Only what the latency family would send itself, one at a time: the run's token, the
    same body, nothing added, paced, from the test's own thread, and answered."""
    client, _ = _client(_ok)
    body = {"scene_path": "res://a.tscn"}
    client.request("GET", "/scenes")
    client.request("POST", "/scene", json_body=body)
    client.request("GET", "/scenes", authorization=None)  # not the run's token
    client.request("GET", "/scenes", headers={"X-Extra": "1"})
    client.request("GET", "/scenes", params={"q": "1"})
    client.request("GET", "/scenes", content=b"{}")
    client.request("GET", "/scenes", pace=False)  # the rate-limit drain's: unpaced
    client.fan_out(lambda _: client.request("GET", "/scenes"), [1, 2])  # several at once
    answers = client.answered_alone("GET", "/scenes")
    assert [exchange.status for _, exchange in answers] == [200]
    (_, kept), *_ = answers  # its timing only: a run keeps these, so no bodies, no token
    assert kept.body == b"" and kept.request_headers == {} and kept.latency_ms is not None
    for _ in range(2 * client_module.KEPT_ALONE):
        client.request("GET", "/scenes")
    assert len(client.answered_alone("GET", "/scenes")) == client_module.KEPT_ALONE
    assert len(client.answered_alone("post", "/scene", body)) == 1
    assert client.answered_alone("POST", "/scene", {"scene_path": "res://b.tscn"}) == []
    assert client.answered_alone("POST", "/scene") == []

    def unanswered(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    down, _ = _client(unanswered)
    down.request("GET", "/scenes")
    assert down.answered_alone("GET", "/scenes") == []
