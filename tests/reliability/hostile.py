"""A hostile target: raw asyncio sockets misbehaving one named way, for the target-fault matrix.

`HostileServer(mode)` listens on a free loopback port in a background
thread (optionally behind TLS) and records every request head it receives,
so a second instance can prove what a redirect would have carried to it.
Large bodies are generated as they are sent: the server never holds them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import ssl
import struct
import threading
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

HUGE_BYTES = 100 * 1024 * 1024  # 100 MB bodies
TRICKLE_S = 0.1  # one byte per this many seconds, for the slowloris modes
CHUNK = b"[" + b"0," * 32767 + b"0]"  # 64 KiB of valid-looking JSON, repeated


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class _Request:
    method: str
    path: str
    headers: dict[str, str]


Handler = Callable[["HostileServer", _Request, asyncio.StreamReader, asyncio.StreamWriter],
                   Awaitable[bool]]  # fmt: skip


def _head(status: str, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    return "\r\n".join(lines).encode("latin-1")


async def _respond(
    writer: asyncio.StreamWriter, status: str, body: bytes, content_type: str, **extra: str
) -> bool:
    headers = {"Content-Type": content_type, "Content-Length": str(len(body)), **extra}
    writer.write(_head(status, headers) + body)
    await writer.drain()
    return True  # keep the connection


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST instead of FIN (SO_LINGER 0)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _forever() -> bool:
    await asyncio.Event().wait()
    return False


@cache
def _gzip_bomb() -> bytes:
    """100 MB of JSON-ish zeros, gzipped to about 100 KB (made once, in memory briefly)."""
    out = bytearray()
    deflate = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: the gzip container
    block = b"0" * (1 << 20)
    out += deflate.compress(b"[")
    for _ in range(HUGE_BYTES // len(block)):
        out += deflate.compress(block)
    out += deflate.compress(b"]")
    out += deflate.flush()
    return bytes(out)


# Modes: each returns True to keep the connection for the next request --------------------


async def ok(server: HostileServer, request: _Request, reader: Any, writer: Any) -> bool:
    return await _respond(writer, "200 OK", b'{"ok": true}', "application/json")


async def refuse(server: HostileServer, request: _Request, reader: Any, writer: Any) -> bool:
    writer.close()
    return False


async def reset(server: HostileServer, request: _Request, reader: Any, writer: Any) -> bool:
    _reset(writer)
    return False


async def reset_mid_body(
    server: HostileServer, request: _Request, reader: Any, writer: Any
) -> bool:
    writer.write(_head("200 OK", {"Content-Type": "application/json", "Content-Length": "100000"}))
    writer.write(b'{"scenes": ["res://' + b"a" * 1000)
    await writer.drain()
    await asyncio.sleep(0.05)
    _reset(writer)
    return False


async def stall(server: HostileServer, request: _Request, reader: Any, writer: Any) -> bool:
    return await _forever()


async def slow_headers(server: HostileServer, request: _Request, reader: Any, writer: Any) -> bool:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: "
    for byte in head:
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(TRICKLE_S)
    while True:  # a header that never ends
        writer.write(b"z")
        await writer.drain()
        await asyncio.sleep(TRICKLE_S)


async def slow_body(server: HostileServer, request: _Request, reader: Any, writer: Any) -> bool:
    writer.write(_head("200 OK", {"Content-Type": "application/json",
                                  "Content-Length": str(10 * 1024 * 1024)}))  # fmt: skip
    writer.write(b"[")
    while True:
        await writer.drain()
        await asyncio.sleep(TRICKLE_S)
        writer.write(b"0")


async def garbage(server: HostileServer, request: _Request, reader: Any, writer: Any) -> bool:
    writer.write(b"\x16\x03\x01 SSH-2.0-OpenSSH_9.2\r\n\x00\xff\xfe garbage \x1b[31m\r\n\r\n")
    writer.write(os.urandom(512))
    await writer.drain()
    writer.close()
    return False


async def not_json(server: HostileServer, request: _Request, reader: Any, writer: Any) -> bool:
    body = b"<html><body><h1>502 Bad Gateway</h1>\n<hr>nginx</body></html>\n"
    return await _respond(writer, "200 OK", body, "application/json")


async def wrong_content_type(
    server: HostileServer, request: _Request, reader: Any, writer: Any
) -> bool:
    body = json.dumps({"scenes": ["res://vr_main.tscn"], "error": "x", "message": "y"}).encode()
    return await _respond(writer, "200 OK", body, "text/plain; charset=utf-8")


async def huge_body(server: HostileServer, request: _Request, reader: Any, writer: Any) -> bool:
    writer.write(_head("200 OK", {"Content-Type": "application/json",
                                  "Content-Length": str(HUGE_BYTES)}))  # fmt: skip
    sent = 0
    while sent < HUGE_BYTES:
        piece = CHUNK[: HUGE_BYTES - sent]
        writer.write(piece)
        sent += len(piece)
        await writer.drain()
    return True


async def huge_chunked(server: HostileServer, request: _Request, reader: Any, writer: Any) -> bool:
    writer.write(_head("200 OK", {"Content-Type": "application/json",
                                  "Transfer-Encoding": "chunked"}))  # fmt: skip
    for _ in range(HUGE_BYTES // len(CHUNK)):
        writer.write(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
        await writer.drain()
    writer.write(b"0\r\n\r\n")
    await writer.drain()
    return True


async def gzip_bomb(server: HostileServer, request: _Request, reader: Any, writer: Any) -> bool:
    body = _gzip_bomb()
    return await _respond(
        writer, "200 OK", body, "application/json", **{"Content-Encoding": "gzip"}
    )


async def huge_headers(server: HostileServer, request: _Request, reader: Any, writer: Any) -> bool:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Huge: ")
    for _ in range(16):
        writer.write(b"h" * 65536)
        await writer.drain()
    writer.write(b"\r\nContent-Length: 2\r\n\r\n{}")
    await writer.drain()
    return False


async def redirect_loop(server: HostileServer, request: _Request, reader: Any, writer: Any) -> bool:
    return await _respond(writer, "302 Found", b"", "text/plain", Location=request.path)


async def redirect_away(server: HostileServer, request: _Request, reader: Any, writer: Any) -> bool:
    location = f"{server.redirect_to}{request.path}"
    return await _respond(writer, "307 Temporary Redirect", b"", "text/plain", Location=location)


async def rate_limited(server: HostileServer, request: _Request, reader: Any, writer: Any) -> bool:
    body = b'{"error": "rate_limited", "message": "come back in an hour"}'
    return await _respond(writer, "429 Too Many Requests", body, "application/json",
                          **{"Retry-After": "3600"})  # fmt: skip


async def echo(server: HostileServer, request: _Request, reader: Any, writer: Any) -> bool:
    """Reflects the Authorization header everywhere a probe might quote from."""
    seen = request.headers.get("authorization", "none")
    body = json.dumps({"error": seen, "message": f"you sent {seen}"}).encode()
    return await _respond(
        writer, "401 Unauthorized", body, f"text/{seen[:200]}",
        **{"WWW-Authenticate": f"Basic {seen[:200]}", "X-Echo": seen[:200]},
    )  # fmt: skip


MODES: dict[str, Handler] = {
    name.replace("_", "-"): handler
    for name, handler in {
        "ok": ok, "refuse": refuse, "reset": reset, "reset_mid_body": reset_mid_body,
        "stall": stall, "slow_headers": slow_headers, "slow_body": slow_body,
        "garbage": garbage, "not_json": not_json, "wrong_content_type": wrong_content_type,
        "huge_body": huge_body, "huge_chunked": huge_chunked, "gzip_bomb": gzip_bomb,
        "huge_headers": huge_headers, "redirect_loop": redirect_loop,
        "redirect_away": redirect_away, "rate_limited": rate_limited, "echo": echo,
    }.items()
}  # fmt: skip
EARLY = {"refuse", "reset"}  # act on accept, before reading the request


@dataclass
class HostileServer:
    mode: str
    ssl_context: ssl.SSLContext | None = None
    redirect_to: str = ""
    port: int = 0
    received: list[Received] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _server: asyncio.base_events.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def __enter__(self) -> HostileServer:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode}")
        if self.mode == "gzip-bomb":
            _gzip_bomb()
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._connection, "127.0.0.1", self.port,
                                     ssl=self.ssl_context, limit=1 << 16)
            )  # fmt: skip
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name=f"hostile-{self.mode}", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("hostile server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        loop = self._loop
        if loop is None or self._thread is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for writer in list(self._writers):
                writer.transport.abort()
            await asyncio.sleep(0.05)  # let the transports' connection_lost callbacks run

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(10)
        loop.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = MODES[self.mode]
        self._writers.add(writer)
        try:
            if self.mode in EARLY:
                await handler(self, _Request("", "", {}), reader, writer)
                return
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                self.received.append(Received(request.method, request.path, request.headers))
                if not await handler(self, request, reader, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ssl.SSLError, OSError):  # fmt: skip
            pass
        except asyncio.CancelledError:  # shutdown: end quietly (streams logs a cancelled task)
            pass
        finally:
            self._writers.discard(writer)
            if not writer.is_closing():  # the handlers close on purpose; the rest is dropped
                writer.transport.abort()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(writer.wait_closed(), 1)


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = [*lines[0].split(" ", 2), "", ""][:3]
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    if length:
        await reader.readexactly(min(length, 1 << 20))
    return _Request(method, path, headers)


class Blackhole:
    """A port whose accept queue is full: connects hang until the client gives up."""

    def __enter__(self) -> Blackhole:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(0)
        self.port = self._listener.getsockname()[1]
        self._fillers = []
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", self.port))
            self._fillers.append(filler)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        for filler in self._fillers:
            filler.close()
        self._listener.close()
