"""Rate limiting: 429 at the profile's limit, an honest Retry-After, no spoofable budget.

The probe drains the target's bucket on purpose, so it holds the pacer's
exclusive lock: no other probe runs meanwhile, it starts from a full bucket
and it leaves one behind. Both unauthenticated and authenticated clients are
tried, because the limit must come before auth (a brute-forcer is a client).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import pytest

from probes import checks
from probes.checks import ProbeFailure
from probes.client import ProbeClient
from probes.exchange import Exchange
from probes.plugin import ProbeContext, Run
from probes.profile import Endpoint

SPOOFED = ("203.0.113.7", "198.51.100.23", "192.0.2.99", "203.0.113.200", "198.51.100.1")
RECOVERY_LIMIT_S = 30.0


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
            started = time.perf_counter()
            limited: Exchange | None = None
            index = 0
            while index < max_requests:
                index += 1
                exchange = send(expect=allowed | {429})
                if exchange.status not in allowed:
                    limited = exchange
                    break
            elapsed = time.perf_counter() - started
            window = checks.limit_window(
                limit.burst, limit.rate_per_second, elapsed, limit.tolerance_ratio
            )
            evidence = {
                "first_limited_at": index if limited else None,
                "expected_window": [window.earliest, window.latest],
                "drain_seconds": round(elapsed, 3),
                "burst": limit.burst,
                "rate_per_second": limit.rate_per_second,
            }
            probe.measured(evidence)
            if limited is None:
                raise ProbeFailure(
                    f"{what}: no 429 after {max_requests} requests in {elapsed:.2f} s "
                    f"(limit: burst {limit.burst}, {limit.rate_per_second:g}/s)",
                    measured=max_requests,
                    limit=window.latest,
                )
            if limited.status == 503:
                raise ProbeFailure(
                    f"{what}: 503 where 429 is due (request {index}; "
                    "nginx answers 503 unless limit_req_status 429 is set)",
                    exchange=limited,
                )
            checks.status_is(limited, 429, f"{what}, request {index}")
            if not window.earliest <= index <= window.latest:
                raise ProbeFailure(
                    f"{what}: first 429 at request {index}, expected between {window.earliest} "
                    f"and {window.latest} (burst {limit.burst}, {limit.rate_per_second:g}/s, "
                    f"{elapsed:.2f} s drain)",
                    exchange=limited,
                    measured=index,
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
            _spoofing_does_not_reset(send, what, limit.rate_per_second)
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


def _spoofing_does_not_reset(
    send: Callable[..., Exchange], what: str, rate_per_second: float
) -> None:
    """A fresh X-Forwarded-For per request must not buy a fresh budget."""
    started = time.perf_counter()
    results = [send(headers={"X-Forwarded-For": address}, expect={429}) for address in SPOOFED]
    elapsed = time.perf_counter() - started
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
