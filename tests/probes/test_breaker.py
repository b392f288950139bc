"""The circuit breaker: an outage or a lockout decides once, then every probe fails fast."""

from __future__ import annotations

import httpx
import pytest

from probes.breaker import TRIP_AFTER, Breaker
from probes.client import ProbeClient
from probes.outcomes import LOCKED_OUT, UNREACHABLE, TargetUnavailable


def test_trips_after_consecutive_unanswered_requests_only() -> None:
    breaker = Breaker()
    for _ in range(TRIP_AFTER - 1):
        breaker.unanswered("cannot connect: refused")
    breaker.answered()  # an answer in between: noise, not an outage
    for _ in range(TRIP_AFTER - 1):
        breaker.unanswered("cannot connect: refused")
    breaker.check()
    breaker.unanswered("cannot connect: refused")
    with pytest.raises(TargetUnavailable, match=f"^{UNREACHABLE}cannot connect: refused$"):
        breaker.check()


def test_the_first_reason_stands() -> None:
    breaker = Breaker()
    breaker.locked_out("429 persists")
    breaker.trip("target unreachable: later")
    assert breaker.reason == f"{LOCKED_OUT}429 persists"


def _client(handler: httpx.MockTransport) -> ProbeClient:
    return ProbeClient("http://target.test", token=None, timeout_s=0.05, pacer=None,
                       transport=handler)  # fmt: skip


def test_a_429_that_persists_past_retry_after_locks_the_client_out() -> None:
    sent: list[str] = []

    def limited(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(429, headers={"Retry-After": "3600"}, json={"error": "x"})

    client = _client(httpx.MockTransport(limited))
    assert client.request("GET", "/jobs").status == 429
    assert sent == ["/jobs", "/jobs"]  # honoured once, then believed
    with pytest.raises(TargetUnavailable, match=r"^locked out: 429 persists .*Retry-After 3600"):
        client.request("GET", "/scenes")
    assert sent == ["/jobs", "/jobs"]  # nothing more was sent


def test_an_honest_retry_after_keeps_the_breaker_closed() -> None:
    answers = iter([429, 200, 200])

    def once(request: httpx.Request) -> httpx.Response:
        return httpx.Response(next(answers), headers={"Retry-After": "0"}, json={})

    client = _client(httpx.MockTransport(once))
    assert client.request("GET", "/jobs").status == 200
    assert client.request("GET", "/jobs").status == 200
    assert not client.breaker.open


def test_the_probe_s_own_bad_request_is_not_an_outage() -> None:
    client = _client(httpx.MockTransport(lambda r: httpx.Response(200)))
    for _ in range(TRIP_AFTER + 1):
        exchange = client.request("GET", "/jobs", headers={"X-Bad": "\u2603"})
        assert exchange.error is not None and exchange.error.startswith("invalid request")
    assert not client.breaker.open
