"""The timed HTTP client: one sample per request, never an exception for a bad target.

Probes judge `Exchange` objects, a transport-neutral record of what was sent
and what came back, so the checks stay pure. Against a hostile or broken
target the client still returns an Exchange, with a one-line `error`:

- a total deadline per request: name resolution, connect, TLS handshake,
  headers and body together end within `timeout_s` (httpx's own timeouts are
  per socket operation, so a server trickling one byte a second would hold
  it forever);
- never follows redirects (a token must not travel to another host);
- reads at most `MAX_BODY_BYTES` of body, before and after decompression (a
  100 MB answer or a gzip bomb must not fill memory);
- scrubs the run's secrets from what comes back (a server echoing the token
  would otherwise put it in a failure line);
- paces itself below the target's limit;
- refuses anything but GET, HEAD and OPTIONS to a production target unless
  the run was allowed to mutate.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
import socket
import ssl
import threading
import time
import urllib.parse
import zlib
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import allure
import certifi
import httpcore
import httpx

from probes.breaker import Breaker
from probes.exchange import MAX_BODY_BYTES, POOL_CONNECTIONS, Exchange
from probes.pacer import Pacer
from probes.redact import (
    longest_first,
    redact,
    scrub,
    scrub_bytes,
    sent_credentials,
    token_parts,
)

_DEFAULT = object()

# Methods that cannot change the target's state (RFC 9110 9.2.1, TRACE aside).
# Everything else, including methods we have never heard of, counts as mutating.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# A collateral 429 is honoured once; its Retry-After is believed up to this
# share of the request timeout, so a hostile "Retry-After: 3600" cannot stall a probe.
MAX_COLLATERAL_WAIT_S = 10.0


_Item = TypeVar("_Item")
_Answer = TypeVar("_Answer")
KEPT_ALONE = 8  # answers kept per request for the latency family's warm-up (it takes 5)
FAN_OUT = 8  # requests one probe keeps in flight when their answers do not depend on each other
INVALID_REQUEST = "invalid request: "  # the probe built a request httpx cannot send


class MutationRefused(RuntimeError):
    """A POST/PUT/... aimed at a production target without --st-allow-mutating."""


SampleSink = Callable[[Exchange, bool | None], None]


def one_line(text: str, limit: int = 300) -> str:
    """Whitespace and control characters folded to single spaces, at most `limit` characters."""
    flat = re.sub(r"[\s\x00-\x1f\x7f]+", " ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def ssl_context(ca_file: str | Path | None = None) -> ssl.SSLContext:
    """Verifying client context: the given CA bundle, else certifi's (as httpx does)."""
    try:
        return ssl.create_default_context(cafile=str(ca_file or certifi.where()))
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ValueError(f"cannot load CA file {ca_file}: {one_line(reason)}") from None


# The total deadline -------------------------------------------------------------------------


class _Deadline(threading.local):
    """The running request's deadline (perf_counter seconds), per thread."""

    at: float | None = None
    tripped: bool = False


_DEADLINE = _Deadline()


def _remaining(timeout: float | None) -> float | None:
    """The per-operation timeout, cut to what is left of the request's total deadline."""
    at = _DEADLINE.at
    if at is None:
        return timeout
    left = at - time.perf_counter()
    if left <= 0:
        _DEADLINE.tripped = True
        return 0.0
    return left if timeout is None else min(timeout, left)


def resolve(host: str, port: int, timeout: float | None) -> str:
    """The first address of `host`, within `timeout`; getaddrinfo itself has no timeout.

    Runs in a daemon thread, so a resolver that never answers cannot hold
    the probe (or the interpreter's exit) past the deadline.
    """
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    found: list[str] = []
    failed: list[str] = []

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            found.append(str(infos[0][4][0]))
        except Exception as exc:  # a thread must not die with an exception
            failed.append(str(exc) or exc.__class__.__name__)

    thread = threading.Thread(target=lookup, name=f"resolve-{host}", daemon=True)
    thread.start()
    thread.join(timeout)
    if found:
        return found[0]
    if failed:
        raise httpcore.ConnectError(f"cannot resolve {host}: {failed[0]}")
    raise httpcore.ConnectTimeout(f"resolving {host} took longer than {timeout or 0:.3g} s")


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        left = _remaining(timeout)
        if left == 0.0:
            raise httpcore.ReadTimeout("total deadline passed")
        return self._inner.read(max_bytes, left)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        left = _remaining(timeout)
        if left == 0.0:
            raise httpcore.WriteTimeout("total deadline passed")
        self._inner.write(buffer, left)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        left = _remaining(timeout)
        if left == 0.0:
            raise httpcore.ConnectTimeout("total deadline passed")
        # CPython bounds the whole handshake by the socket timeout, not each read.
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, left))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's sync backend with every operation cut to the request's total deadline."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = _remaining(timeout)
        if left == 0.0:
            raise httpcore.ConnectTimeout("total deadline passed")
        address = resolve(host, port, left)
        stream = self._inner.connect_tcp(
            address, port, _remaining(timeout), local_address, socket_options
        )
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _Transport(httpx.HTTPTransport):
    """httpx's transport on the deadline backend.

    httpx does not take a network backend, so the pool it built is replaced
    (`_pool`, stable since httpx 0.18); tests/probes/test_client.py fails if
    that ever stops bounding a slow answer.
    """

    def __init__(self, context: ssl.SSLContext, limits: httpx.Limits) -> None:
        super().__init__(verify=context, limits=limits, trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_DeadlineBackend(),
        )

    def open_connections(self) -> int:
        """httpcore's public view of the pool: a connection the server closed while idle
        reads as expired (its socket is readable), so it is not counted."""
        return sum(1 for c in self._pool.connections if not (c.is_closed() or c.has_expired()))


# Errors and bodies --------------------------------------------------------------------------


def _transport_error(exc: httpx.HTTPError, timeout_s: float, phase: str) -> str:
    detail = one_line(str(exc), 200)
    if isinstance(exc, httpx.TimeoutException):
        return f"timeout: no complete response within {timeout_s:g} s ({phase})"
    if isinstance(exc, httpx.ConnectError):
        if "CERTIFICATE_VERIFY_FAILED" in detail or "certificate verify failed" in detail:
            reason = detail.split("certificate verify failed:", 1)[-1].split("(_ssl", 1)[0]
            return f"TLS certificate rejected: {reason.strip() or detail}"
        if "SSL" in detail or "TLS" in detail:
            return f"TLS handshake failed: {detail}"
        return f"cannot connect: {detail or 'refused'}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"protocol error ({phase}): {detail or 'connection closed mid-response'}"
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return f"connection broken ({phase}): {detail or exc.__class__.__name__}"
    return f"{exc.__class__.__name__} ({phase}): {detail}"


def decode_body(
    raw: bytes, encoding: str | None, limit: int = MAX_BODY_BYTES
) -> tuple[bytes, bool]:
    """The body as the server meant it, at most `limit` bytes; True when cut short.

    We ask for `identity`; a server that compresses anyway gets its gzip or
    deflate undone with a bounded output, so a bomb stays `limit` bytes.
    Unknown codings are left as they came.
    """
    coding = (encoding or "").strip().lower()
    if coding in {"gzip", "x-gzip", "deflate"}:
        wbits = 47 if coding != "deflate" else zlib.MAX_WBITS
        try:
            inflater = zlib.decompressobj(wbits)
            out = inflater.decompress(raw, limit + 1)
        except zlib.error:
            if coding != "deflate":
                return raw[:limit], len(raw) > limit
            try:  # raw deflate without the zlib header, as some servers send it
                inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                out = inflater.decompress(raw, limit + 1)
            except zlib.error:
                return raw[:limit], len(raw) > limit
        return out[:limit], len(out) > limit or bool(inflater.unconsumed_tail)
    return raw[:limit], len(raw) > limit


class _Repeated(dict[str, str]):
    """Request headers with one name sent several times; as a mapping, the values joined.

    The joined form (RFC 9110 5.3) is what the exchange records and redacts;
    ``wire()`` is what goes out: one header line per value, in order.
    """

    def __init__(self, headers: Mapping[str, str], name: str, values: tuple[str, ...]) -> None:
        super().__init__(headers)
        self[name] = ", ".join(values)
        self._name, self._values = name, values

    def wire(self) -> list[tuple[str, str]]:
        others = [(k, v) for k, v in self.items() if k.lower() != self._name.lower()]
        return [*((self._name, value) for value in self._values), *others]


class ProbeClient:
    """A keep-alive client for one base URL; every request becomes an Exchange and a sample."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None,
        timeout_s: float,
        pacer: Pacer | None,
        sink: SampleSink | None = None,
        allow_mutating: bool = True,
        ca_file: str | Path | None = None,
        secrets: Collection[str] = (),
        transport: httpx.BaseTransport | None = None,
        breaker: Breaker | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.breaker = breaker if breaker is not None else Breaker()
        self.token = token
        self.timeout_s = timeout_s
        self.pacer = pacer
        self.sink = sink
        self.allow_mutating = allow_mutating
        self.secrets = longest_first((*token_parts(token), *secrets))
        self.collateral_429 = 0
        # Answers to requests sent alone, as the latency family sends them, by request:
        # (method, endpoint, body) -> the latest (perf_counter() at the answer, exchange
        # without its headers and bodies: only its timing is read, and a run keeps them).
        self._alone: dict[tuple[str, str, bytes | None], deque[tuple[float, Exchange]]] = {}
        # (connections the latency family's last warming asked for, connections open
        # right after it): probes.schedule.needs_warming reads it.
        self.warmed: tuple[int, int] | None = None
        # Only as many are opened as are used at once.
        limits = httpx.Limits(
            max_connections=POOL_CONNECTIONS, max_keepalive_connections=POOL_CONNECTIONS
        )
        self._pool = None if transport is not None else _Transport(ssl_context(ca_file), limits)
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            transport=transport or self._pool,
            headers={"User-Agent": "spacetime-probes/0.1", "Accept-Encoding": "identity"},
            trust_env=False,
        )

    def close(self) -> None:
        self._http.close()

    def open_connections(self) -> int | None:
        """Connections the pool holds open (busy or idle and still alive); None when the
        transport is injected and cannot tell."""
        return None if self._pool is None else self._pool.open_connections()

    def request(
        self,
        method: str,
        endpoint: str,
        *,
        authorization: object = _DEFAULT,
        json_body: object = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        pace: bool = True,
        expect: Collection[int] | None = None,
    ) -> Exchange:
        """Send one request. `authorization`: default `Bearer <token>`, None for no header.

        A tuple of strings for `authorization` sends one `Authorization` header
        per value (duplicate headers, in that order). `params` go into the
        URL's query string, never into `endpoint` (what samples record): a
        credential there is redacted wherever the URL is shown.

        `json_body` None sends no body at all: a JSON `null` on a GET is a
        request no real client makes, and some servers answer it with 400.
        `content` sends raw bytes instead (malformed or non-JSON bodies).

        `expect` is the status set the probe wants; it goes into the sample so
        a provoked 401 or 429 is not mistaken for an outage downstream.
        """
        method = method.upper()
        if method not in SAFE_METHODS and not self.allow_mutating:
            raise MutationRefused(
                f"{method} {endpoint} refused: the target is production "
                "and --st-allow-mutating was not given"
            )
        request_headers: dict[str, str] = {}
        repeated: tuple[str, ...] = ()
        if authorization is _DEFAULT:
            if self.token is not None:
                request_headers["Authorization"] = f"Bearer {self.token}"
        elif isinstance(authorization, tuple):
            repeated = tuple(str(value) for value in authorization)
        elif authorization is not None:
            request_headers["Authorization"] = str(authorization)
        body: bytes | None = None
        if json_body is not None:
            body = _json_bytes(json_body)
            request_headers["Content-Type"] = "application/json"
        elif content is not None:
            body = content  # sent as is; any Content-Type comes from `headers`
        request_headers.update(headers or {})
        if repeated:
            request_headers = _Repeated(request_headers, "Authorization", repeated)
        endpoint_url = endpoint + (f"?{urllib.parse.urlencode(dict(params))}" if params else "")
        exchange = self._send(method, endpoint, request_headers, body, pace, expect, endpoint_url)
        if pace and exchange.status == 429:
            # Pacing should make this impossible; if another client shares our
            # address, honour Retry-After once rather than fail an unrelated probe.
            self.collateral_429 += 1
            stated = _retry_after(exchange)
            wait = max(0.0, min(stated or 1.0, MAX_COLLATERAL_WAIT_S, self.timeout_s))
            time.sleep(wait)
            exchange = self._send(
                method, endpoint, request_headers, body, pace, expect, endpoint_url
            )
            if exchange.status == 429:
                # Still limited after honouring Retry-After: every later probe would
                # wait out 429s one by one. The run says so once and stops asking.
                said = f"Retry-After {stated:g} s" if stated is not None else "no Retry-After"
                self.breaker.locked_out(
                    f"429 persists after waiting {wait:.3g} s ({said}) on {method} {endpoint}"
                )
        alone = threading.current_thread() is threading.main_thread()
        plain = authorization is _DEFAULT and content is None and not headers and not params
        if pace and alone and plain and exchange.status is not None:
            timing = dataclasses.replace(
                exchange, request_headers={}, request_body=None, headers={}, body=b""
            )
            kept = self._alone.setdefault((method, endpoint, body), deque(maxlen=KEPT_ALONE))
            kept.append((time.perf_counter(), timing))
        return exchange

    def answered_alone(
        self, method: str, endpoint: str, json_body: object = None
    ) -> list[tuple[float, Exchange]]:
        """The latest answers to exactly this request (the run's token, this body, nothing
        else), each sent alone and paced: (perf_counter() at the answer, the exchange's
        timing: status, latency, queueing, whether it opened its connection; no headers
        or bodies).

        They were measured as the latency family measures, so it takes them as its
        first samples instead of sending the same requests again.
        """
        body = None if json_body is None else _json_bytes(json_body)
        return list(self._alone.get((method.upper(), endpoint, body), ()))

    def _send(
        self,
        method: str,
        endpoint: str,
        headers: dict[str, str],
        body: bytes | None,
        pace: bool,
        expect: Collection[int] | None,
        endpoint_url: str | None = None,
    ) -> Exchange:
        url = self.base_url + (endpoint_url or endpoint)
        self.breaker.check()
        if pace and self.pacer is not None:
            waiting = time.perf_counter()
            with self.pacer.slot():
                queued_ms = (time.perf_counter() - waiting) * 1000
                exchange = self._timed(method, url, endpoint, headers, body)
            exchange = dataclasses.replace(exchange, queued_ms=queued_ms)
        else:
            exchange = self._timed(method, url, endpoint, headers, body)
        if threading.current_thread() is threading.main_thread():
            # Allure's step stack is per test thread; the concurrent drain's
            # worker threads have none, and their samples are in the results.
            self.step(exchange)
        if self.sink is not None:
            self.sink(exchange, None if expect is None else exchange.status in expect)
        if exchange.status is not None:
            self.breaker.answered()
        elif not (exchange.error or "").startswith(INVALID_REQUEST):  # our request, not them
            self.breaker.unanswered(exchange.error or "no answer")
        return exchange

    def step(self, exchange: Exchange) -> None:
        """The exchange as an Allure step of the running test (redacted)."""
        with allure.step(redact(exchange.brief(), self.secrets)):
            pass

    def fan_out(
        self,
        send: Callable[[_Item], _Answer],
        items: Sequence[_Item],
        width: int = FAN_OUT,
        *,
        steps: bool = True,
    ) -> list[_Answer]:
        """`send(item)` for every item, up to `width` at once; the answers in the items' order.

        For a probe's independent requests (the traversal examples): sent one after
        another, a target 90 ms away holds them to 11 a second whatever its limit;
        several in flight leave the rate to the pacer, which every request still
        passes (so the stated limit is kept, and the breaker still stops them all).
        The first exception is raised, in order, once the rest have ended. Each
        answer becomes an Allure step of the test, as a request sent from its own
        thread does (`steps=False`: the caller makes them, in the tests they belong to).
        """
        if not items:
            return []
        # Always from worker threads, even for one item: the steps are made here alone, so a
        # caller that makes them itself (steps=False) never gets a request's step twice.
        workers = max(1, min(width, len(items)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fan-out") as pool:
            answers = list(pool.map(send, items))
        if steps and threading.current_thread() is threading.main_thread():
            for answer in answers:
                if isinstance(answer, Exchange):
                    self.step(answer)
        return answers

    def _timed(
        self, method: str, url: str, endpoint: str, headers: dict[str, str], body: bytes | None
    ) -> Exchange:
        def failed(error: str) -> Exchange:
            return Exchange(
                method, url, endpoint, dict(headers), body, None,
                error=redact(error, self.secrets),
            )  # fmt: skip

        try:
            wire = headers.wire() if isinstance(headers, _Repeated) else headers
            opened: list[bool] = []  # httpcore's trace: this request connected

            def trace(event: str, info: object) -> None:
                if event == "connection.connect_tcp.started":
                    opened.append(True)

            request = self._http.build_request(
                method, url, headers=wire, content=body, extensions={"trace": trace}
            )
        except Exception as exc:  # an unusable URL or header is this request's failure
            return failed(f"{INVALID_REQUEST}{exc.__class__.__name__}: {one_line(str(exc), 200)}")
        started = time.perf_counter()
        _DEADLINE.at, _DEADLINE.tripped = started + self.timeout_s, False
        phase = "waiting for the response headers"
        try:
            response = self._http.send(request, stream=True)
            phase = f"reading the body after status {response.status_code}"
            try:
                chunks: list[bytes] = []
                size = 0
                truncated = False
                for chunk in _raw_chunks(response):
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > MAX_BODY_BYTES:
                        truncated = True
                        break
                elapsed_ms = (time.perf_counter() - started) * 1000
            finally:
                response.close()
        except httpx.HTTPError as exc:
            return failed(_transport_error(exc, self.timeout_s, phase))
        except Exception as exc:  # whatever a hostile peer provokes is its failure, not ours
            return failed(f"{exc.__class__.__name__} ({phase}): {one_line(str(exc), 200)}")
        finally:
            _DEADLINE.at = None
        raw, cut = decode_body(b"".join(chunks), response.headers.get("content-encoding"))
        # A server may echo what we sent; a mangled token is neither exact nor JWT-shaped.
        sent = headers.get("Authorization", "")
        echoes = longest_first((*self.secrets, *sent_credentials(sent)))
        return Exchange(
            method=method,
            url=url,
            endpoint=endpoint,
            request_headers=dict(headers),
            request_body=body,
            status=response.status_code,
            headers={k.lower(): scrub(v, echoes) for k, v in response.headers.items()},
            body=scrub_bytes(raw, echoes),
            truncated=truncated or cut,
            latency_ms=elapsed_ms,
            opened=bool(opened),  # an injected transport (no httpcore) traces nothing
        )


def _json_bytes(value: object) -> bytes:
    """A JSON body as sent, and as `answered_alone` keys it: one serialisation for both."""
    return json.dumps(value).encode()


def _raw_chunks(response: httpx.Response) -> Iterator[bytes]:
    """The body as it came off the wire; a transport that read it already gives it whole."""
    try:
        yield from response.iter_raw()
    except httpx.StreamConsumed:  # an injected transport with an in-memory body
        yield response.content


def _retry_after(exchange: Exchange) -> float | None:
    value = exchange.header("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds == seconds else None  # NaN
