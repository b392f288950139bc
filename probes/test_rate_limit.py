"""Rate limiting: 429 at the profile's limit, an honest Retry-After, no spoofable budget.

The probe drains the target's bucket on purpose, so it holds the pacer's
exclusive lock: no other probe runs meanwhile, it starts from a full bucket
and it leaves one behind. Both unauthenticated and authenticated clients are
tried, because the limit must come before auth (a brute-forcer is a client).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from probes import checks
from probes.checks import ProbeFailure
from probes.client import ProbeClient
from probes.exchange import Exchange
from probes.plugin import ProbeContext, Run
from probes.profile import Endpoint

# Documentation addresses (RFC 5737): never a real client.
SPOOFED = tuple(f"{net}.{host}" for net in ("192.0.2", "198.51.100") for host in range(10, 20))
RECOVERY_LIMIT_S = 30.0
DRAIN_WORKERS = 8


def _drain_endpoint(run: Run) -> Endpoint:
    for endpoint in run.profile.endpoints:
        if endpoint.auth and endpoint.method == "GET":
            return endpoint
    pytest.skip("the profile lists no protected GET endpoint to drain")


def _recover(client: ProbeClient, endpoint: Endpoint, run: Run) -> None:
    """Wait until the target answers again and its bucket is full, before others resume."""
    deadline = time.monotonic() + RECOVERY_LIMIT_S
    while time.monotonic() < deadline:
        exchange = client.request(endpoint.method, endpoint.path, pace=False)
        if exchange.status not in {429, 503}:
            break
        time.sleep(0.5)
    limit = run.profile.rate_limit
    time.sleep(limit.burst / limit.rate_per_second)


@pytest.mark.parametrize("credentials", ["unauthenticated", "authenticated"])
def test_limit_answers_429(
    st_run: Run, st_client: ProbeClient, credentials: str, probe: ProbeContext
) -> None:
    limit = st_run.profile.rate_limit
    endpoint = _drain_endpoint(st_run)
    probe.about(endpoint.method, endpoint.path)
    anonymous = credentials == "unauthenticated"
    allowed = {401} if credentials == "unauthenticated" else set(range(200, 300))
    max_requests = (
        checks.limit_window(limit.burst, limit.rate_per_second, 0, 1).latest + limit.burst
    )
    what = f"{endpoint.key} drained {credentials}"

    def send(**extra: object) -> Exchange:
        kwargs: dict[str, object] = {"pace": False, **extra}
        if anonymous:
            kwargs["authorization"] = None
        return st_client.request(endpoint.method, endpoint.path, **kwargs)  # type: ignore[arg-type]

    with st_run.pacer.exclusive():
        time.sleep(st_run.pacer.quiet_seconds())
        try:
            drained = _drain(send, allowed, max_requests)
            window = checks.limit_window(
                limit.burst, limit.rate_per_second, drained.elapsed_s, limit.tolerance_ratio
            )
            probe.measured(
                {
                    "admitted": drained.admitted,
                    "sent": drained.sent,
                    "expected_window": [window.earliest, window.latest],
                    "drain_seconds": round(drained.elapsed_s, 3),
                    "burst": limit.burst,
                    "rate_per_second": limit.rate_per_second,
                }
            )
            limited = drained.limited
            if limited is None:
                raise ProbeFailure(
                    f"{what}: no 429 after {drained.sent} requests in {drained.elapsed_s:.2f} s "
                    f"(limit: burst {limit.burst}, {limit.rate_per_second:g}/s)",
                    measured=drained.admitted,
                    limit=window.latest,
                )
            if limited.status == 503:
                raise ProbeFailure(
                    f"{what}: 503 where 429 is due (after {drained.admitted} admitted; "
                    "nginx answers 503 unless limit_req_status 429 is set)",
                    exchange=limited,
                )
            checks.status_is(limited, 429, f"{what}, after {drained.admitted} admitted")
            if not window.earliest <= drained.admitted <= window.latest:
                raise ProbeFailure(
                    f"{what}: {drained.admitted} requests admitted before the limit, expected "
                    f"{window.earliest} to {window.latest} (burst {limit.burst}, "
                    f"{limit.rate_per_second:g}/s, {drained.elapsed_s:.2f} s drain)",
                    exchange=limited,
                    measured=drained.admitted,
                    limit=(window.earliest, window.latest),
                )
            checks.error_body(limited, f"{what}: the 429")
            retry_after = checks.retry_after_seconds(limited, what)
            honest = checks.max_honest_retry_after(limit.burst, limit.rate_per_second)
            if retry_after > honest:
                raise ProbeFailure(
                    f"{what}: Retry-After {retry_after} s overstates the wait "
                    f"(a full refill takes {honest - 1} s)",
                    exchange=limited,
                    measured=retry_after,
                    limit=honest,
                )
            _spoofing_does_not_reset(send, what, limit.rate_per_second, drained.limited_at)
            time.sleep(retry_after + 0.1)
            after = send(expect=allowed)
            if after.status not in allowed:
                raise ProbeFailure(
                    f"{what}: still {after.status} after honouring Retry-After: {retry_after}",
                    exchange=after,
                    measured=after.status,
                )
        finally:
            _recover(st_client, endpoint, st_run)


@dataclass(frozen=True)
class Drain:
    sent: int
    admitted: int  # answered with an allowed status, in total, 429s aside
    limited: Exchange | None  # the first answer that was not allowed
    elapsed_s: float  # until that first answer (or the end)
    limited_at: float  # perf_counter() of that first answer (or the end)


def _drain(send: Callable[..., Exchange], allowed: set[int], max_requests: int) -> Drain:
    """Send concurrently until the first answer outside `allowed`.

    Concurrent, so the drain outpaces the refill even on a slow client
    machine; judged on the total admitted, which does not depend on the
    order in which answers complete.
    """
    lock = threading.Lock()
    stop = threading.Event()
    state: dict[str, object] = {"sent": 0, "admitted": 0, "limited": None, "at": None}
    started = time.perf_counter()

    def worker() -> None:
        while not stop.is_set():
            with lock:
                if state["sent"] >= max_requests:  # type: ignore[operator]
                    return
                state["sent"] += 1  # type: ignore[operator]
            exchange = send(expect=allowed | {429})
            with lock:
                if exchange.status in allowed:
                    state["admitted"] += 1  # type: ignore[operator]
                elif state["limited"] is None:
                    state["limited"] = exchange
                    state["at"] = time.perf_counter() - started
                    stop.set()

    with ThreadPoolExecutor(max_workers=DRAIN_WORKERS) as pool:
        for future in [pool.submit(worker) for _ in range(DRAIN_WORKERS)]:
            future.result()
    elapsed = state["at"] if state["at"] is not None else time.perf_counter() - started
    return Drain(
        limited_at=started + float(elapsed),  # type: ignore[arg-type]
        sent=int(state["sent"]),  # type: ignore[call-overload]
        admitted=int(state["admitted"]),  # type: ignore[call-overload]
        limited=state["limited"],  # type: ignore[arg-type]
        elapsed_s=float(elapsed),  # type: ignore[arg-type]
    )


def _spoofing_does_not_reset(
    send: Callable[..., Exchange], what: str, rate_per_second: float, limited_at: float
) -> None:
    """A fresh X-Forwarded-For per request must not buy a fresh budget.

    Sent concurrently, and what the bucket may have refilled is counted from
    the first 429, not from this batch: on a slow machine the gap between
    the two is where tokens come from.
    """
    with ThreadPoolExecutor(max_workers=DRAIN_WORKERS) as pool:
        results = list(
            pool.map(lambda a: send(headers={"X-Forwarded-For": a}, expect={429}), SPOOFED)
        )
    elapsed = time.perf_counter() - limited_at
    refilled = math.ceil(rate_per_second * elapsed) + 1
    admitted = [r for r in results if r.status is not None and r.status != 429]
    if len(admitted) > refilled:
        raise ProbeFailure(
            f"{what}: X-Forwarded-For reset the budget: {len(admitted)} of {len(SPOOFED)} "
            f"spoofed requests admitted while limited (at most {refilled} refilled)",
            exchange=admitted[0],
            measured=len(admitted),
            limit=refilled,
        )
