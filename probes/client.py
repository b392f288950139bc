"""The timed HTTP client: one sample per request, never an exception for a bad target.

Probes judge `Exchange` objects, a transport-neutral record of what was sent
and what came back, so the checks stay pure. The client never follows
redirects (a token must not travel to another host), caps the body it reads
(a 100 MB answer must not fill memory), paces itself below the target's
limit, and refuses to send mutating requests to a production target unless
the run was allowed to.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable, Collection, Mapping

import allure
import httpx

from probes.exchange import MAX_BODY_BYTES, Exchange
from probes.pacer import Pacer
from probes.profile import MUTATING_METHODS

_DEFAULT = object()


class MutationRefused(RuntimeError):
    """A POST/PUT/... aimed at a production target without --st-allow-mutating."""


SampleSink = Callable[[Exchange, bool | None], None]


def _transport_error(exc: httpx.HTTPError, timeout_s: float) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"timeout after {timeout_s:g} s ({exc.__class__.__name__})"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect: {str(exc) or 'refused'}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"protocol error: {str(exc) or 'connection closed mid-response'}"
    return f"{exc.__class__.__name__}: {exc}"


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
        verify: bool | str = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s
        self.pacer = pacer
        self.sink = sink
        self.allow_mutating = allow_mutating
        self.collateral_429 = 0
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            verify=verify,
            headers={"User-Agent": "spacetime-probes/0.1"},
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
            trust_env=False,
        )

    def close(self) -> None:
        self._http.close()

    def request(
        self,
        method: str,
        endpoint: str,
        *,
        authorization: object = _DEFAULT,
        json_body: object = _DEFAULT,
        headers: Mapping[str, str] | None = None,
        pace: bool = True,
        expect: Collection[int] | None = None,
    ) -> Exchange:
        """Send one request. `authorization`: default `Bearer <token>`, None for no header.

        `expect` is the status set the probe wants; it goes into the sample so
        a provoked 401 or 429 is not mistaken for an outage downstream.
        """
        if method in MUTATING_METHODS and not self.allow_mutating:
            raise MutationRefused(
                f"{method} {endpoint} refused: the target is production "
                "and --st-allow-mutating was not given"
            )
        request_headers: dict[str, str] = {}
        if authorization is _DEFAULT:
            if self.token is not None:
                request_headers["Authorization"] = f"Bearer {self.token}"
        elif authorization is not None:
            request_headers["Authorization"] = str(authorization)
        body: bytes | None = None
        if json_body is not _DEFAULT:
            body = json.dumps(json_body).encode()
            request_headers["Content-Type"] = "application/json"
        request_headers.update(headers or {})
        exchange = self._send(method, endpoint, request_headers, body, pace, expect)
        if pace and exchange.status == 429:
            # Pacing should make this impossible; if another client shares our
            # address, honour Retry-After once rather than fail an unrelated probe.
            self.collateral_429 += 1
            time.sleep(min(_retry_after(exchange) or 1.0, 10.0))
            exchange = self._send(method, endpoint, request_headers, body, pace, expect)
        return exchange

    def _send(
        self,
        method: str,
        endpoint: str,
        headers: dict[str, str],
        body: bytes | None,
        pace: bool,
        expect: Collection[int] | None,
    ) -> Exchange:
        url = self.base_url + endpoint
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
            with allure.step(exchange.brief()):
                pass
        if self.sink is not None:
            self.sink(exchange, None if expect is None else exchange.status in expect)
        return exchange

    def _timed(
        self, method: str, url: str, endpoint: str, headers: dict[str, str], body: bytes | None
    ) -> Exchange:
        request = self._http.build_request(method, url, headers=headers, content=body)
        started = time.perf_counter()
        try:
            response = self._http.send(request, stream=True)
            try:
                chunks: list[bytes] = []
                size = 0
                truncated = False
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > MAX_BODY_BYTES:
                        truncated = True
                        break
                elapsed_ms = (time.perf_counter() - started) * 1000
            finally:
                response.close()
        except httpx.HTTPError as exc:
            return Exchange(
                method,
                url,
                endpoint,
                dict(headers),
                body,
                None,
                error=_transport_error(exc, self.timeout_s),
            )
        raw = b"".join(chunks)
        return Exchange(
            method=method,
            url=url,
            endpoint=endpoint,
            request_headers=dict(headers),
            request_body=body,
            status=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
            body=raw[:MAX_BODY_BYTES],
            truncated=truncated,
            latency_ms=elapsed_ms,
        )


def _retry_after(exchange: Exchange) -> float | None:
    value = exchange.header("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None
