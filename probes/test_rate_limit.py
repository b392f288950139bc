"""Rate limiting: 429 at the profile's limit, an honest Retry-After, no budget the client picks.

The probe drains the target's bucket on purpose, so it holds the pacer's
exclusive lock: no other probe runs meanwhile, it starts from a full bucket
and it leaves one behind. Both unauthenticated and authenticated clients are
tried, because the limit must come before auth (a brute-forcer is a client).

How hard it pushes follows the target: a few requests timed first give the
service time, and the drain gets enough connections to offer twice the
refill (probes/drain.py). If the client cannot reach that, a drain without a
429 is inconclusive, with the rate it reached, never a failure. Once
limited, requests that each carry one client-controlled input with a fresh
value (address headers, User-Agent, a bearer string, a query, another
route) must stay limited: the contract keys the bucket on the peer alone.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from probes import checks, drain
from probes.checks import ProbeFailure
from probes.client import ProbeClient
from probes.exchange import Exchange
from probes.outcomes import Inconclusive
from probes.payloads import clients
from probes.plan import Cost
from probes.profile import Endpoint
from probes.run import ProbeContext, Run

RECOVERY_LIMIT_S = 30.0


def _protected_gets(run: Run) -> list[Endpoint]:
    return [e for e in run.profile.endpoints if e.auth and e.method == "GET"]


def _drain_endpoint(run: Run) -> Endpoint:
    for endpoint in _protected_gets(run):
        return endpoint
    pytest.skip("the profile lists no protected GET endpoint to drain")


def _other_route(run: Run, drained: Endpoint) -> str | None:
    """Another protected GET path, for the per-route disguise; None when the profile has none."""
    return next((e.path for e in _protected_gets(run) if e.path != drained.path), None)


def _recover(client: ProbeClient, endpoint: Endpoint, run: Run) -> None:
    """Wait until the target answers again and its bucket is full, before others resume.

    The polls back off (0.5 s, doubling to 8 s): a limiter that extends its
    block on every refused request would keep a steady poller out for good.
    """
    deadline = time.monotonic() + RECOVERY_LIMIT_S
    wait = 0.5
    while time.monotonic() < deadline:
        exchange = client.request(endpoint.method, endpoint.path, pace=False)
        if exchange.status not in {429, 503}:
            break
        time.sleep(min(wait, max(0.0, deadline - time.monotonic())))
        wait = min(2 * wait, 8.0)
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
    budget = drain.drain_budget(limit.burst)
    what = f"{endpoint.key} drained {credentials}"

    def send(path: str = endpoint.path, **extra: object) -> Exchange:
        kwargs: dict[str, object] = {"pace": False, **extra}
        if anonymous:
            kwargs["authorization"] = None
        return st_client.request(endpoint.method, path, **kwargs)  # type: ignore[arg-type]

    with st_run.pacer.exclusive():
        time.sleep(st_run.pacer.quiet_seconds())
        try:
            service_s = _service_time(send, allowed)
            # The timed requests took tokens: wait them back, so the drain starts full.
            time.sleep(drain.SERVICE_SAMPLES / limit.rate_per_second)
            plan = drain.plan_drain(
                limit.rate_per_second,
                limit.burst,
                limit.tolerance_ratio,
                service_s,
                budget=budget,
            )
            drained = _drain(send, allowed, budget, plan.workers)
            window = checks.limit_window(
                limit.burst, limit.rate_per_second, drained.elapsed_s, limit.tolerance_ratio
            )
            measured: dict[str, object] = {
                "admitted": drained.admitted,
                "sent": drained.sent,
                "expected_window": [window.earliest, window.latest],
                "drain_seconds": round(drained.elapsed_s, 3),
                "burst": limit.burst,
                "rate_per_second": limit.rate_per_second,
                "service_ms": None if service_s is None else round(service_s * 1000, 1),
                "drain_workers": plan.workers,
                "needed_workers": plan.needed_workers,
                "required_rate_per_second": round(plan.required_rate_per_second, 1),
                "offered_rate_per_second": round(drained.offered_rate_per_second, 1),
            }
            probe.measured(measured)  # read when the probe ends: later figures join it
            limited = drained.limited
            if limited is None:
                drain.unlimited_drain(
                    what,
                    sent=drained.sent,
                    admitted=drained.admitted,
                    elapsed_s=drained.elapsed_s,
                    rate_per_second=limit.rate_per_second,
                    burst=limit.burst,
                    window_latest=window.latest,
                    plan=plan,
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
            other_route = _other_route(st_run, endpoint)
            inputs = len(clients.client_inputs(other_route=other_route))
            spoof = drain.plan_spoof(limit.rate_per_second, service_s, plan.workers, inputs)
            spoof_undecided = _disguises_do_not_reset(
                send, what, limit.rate_per_second, drained.last_limited_sent, spoof, measured,
                path=endpoint.path, other_route=other_route,
            )  # fmt: skip
            time.sleep(retry_after + 0.1)
            after = send(expect=allowed)
            if after.status not in allowed:
                if after.status == 429:
                    # A lockout past Retry-After: every later probe would meet it, so
                    # the run says so once (the breaker) instead of waiting it out.
                    st_client.breaker.locked_out(
                        f"429 persists after honouring Retry-After {retry_after} s "
                        f"({endpoint.key}, found by the rate-limit probe)"
                    )
                raise ProbeFailure(
                    f"{what}: still {after.status} after honouring Retry-After: {retry_after}",
                    exchange=after,
                    measured=after.status,
                )
            if spoof_undecided is not None:
                # Last: a failure of any other check outranks the probe's own limit.
                raise Inconclusive(spoof_undecided)
        finally:
            if not st_client.breaker.open:
                _recover(st_client, endpoint, st_run)


def _service_time(send: Callable[..., Exchange], allowed: set[int]) -> float | None:
    """The target's service time, from a few requests like the drain's, one at a time.

    Timed before the drain rather than from its first answers: the first
    round is when the bucket empties, so it must already run at full
    strength. Admitted answers count (a 429 may be answered by a front proxy
    faster than the drain's requests are); any answer if none was admitted.
    """
    samples = [send(expect=allowed | {429}) for _ in range(drain.SERVICE_SAMPLES)]
    admitted = drain.service_seconds(e.latency_ms for e in samples if e.status in allowed)
    if admitted is not None:
        return admitted
    return drain.service_seconds(e.latency_ms for e in samples)


@dataclass(frozen=True)
class Drain:
    sent: int
    admitted: int  # answered with an allowed status, in total, 429s aside
    limited: Exchange | None  # the first answer that was not allowed
    elapsed_s: float  # until that first answer (or the end)
    sent_before_limit: int  # requests sent until then
    # perf_counter() at the send of the latest request answered outside `allowed`
    # (the bucket was empty when it was decided, which was after its send); the end if none.
    last_limited_sent: float

    @property
    def offered_rate_per_second(self) -> float:
        """What the drain offered the target until the limit (or the end)."""
        return drain.offered_rate(self.sent_before_limit, self.elapsed_s)


def _drain(
    send: Callable[..., Exchange], allowed: set[int], max_requests: int, workers: int
) -> Drain:
    """Send with `workers` threads until the first answer outside `allowed`.

    Concurrent, so the drain outpaces the refill even against a slow target;
    judged on the total admitted, which does not depend on the order in
    which answers complete. A worker's exception (the target found
    unavailable) stops the others and reaches the caller.
    """
    lock = threading.Lock()
    stop = threading.Event()
    sent = admitted = 0
    limited: Exchange | None = None
    limited_after: float | None = None
    sent_before_limit = 0
    last_limited_sent: float | None = None
    started = time.perf_counter()

    def worker() -> None:
        nonlocal sent, admitted, limited, limited_after, sent_before_limit, last_limited_sent
        try:
            while not stop.is_set():
                with lock:
                    if sent >= max_requests:
                        return
                    sent += 1
                sent_at = time.perf_counter()
                exchange = send(expect=allowed | {429})
                with lock:
                    if exchange.status in allowed:
                        admitted += 1
                        continue
                    last_limited_sent = max(last_limited_sent or sent_at, sent_at)
                    if limited is None:
                        limited = exchange
                        limited_after = time.perf_counter() - started
                        sent_before_limit = sent
                        stop.set()
        except BaseException:
            stop.set()
            raise

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(worker) for _ in range(workers)]:
            future.result()
    ended = time.perf_counter()
    return Drain(
        sent=sent,
        admitted=admitted,
        limited=limited,
        elapsed_s=limited_after if limited_after is not None else ended - started,
        sent_before_limit=sent_before_limit if limited is not None else sent,
        last_limited_sent=last_limited_sent if last_limited_sent is not None else ended,
    )


def _disguises_do_not_reset(
    send: Callable[..., Exchange],
    what: str,
    rate_per_second: float,
    last_limited_sent: float,
    plan: drain.SpoofPlan,
    measured: dict[str, object],
    *,
    path: str,
    other_route: str | None,
) -> str | None:
    """No input the client controls may buy a fresh budget (probes/payloads/clients.py).

    While the bucket is empty, each request carries one client-chosen input
    (an address header, a User-Agent, a bearer string, a query, another
    route) with a value never sent before. Sent concurrently, as many and as
    fast as the service time requires, and what the bucket may have refilled
    is counted from the send of the last refused request, not from this
    batch: the gap between the two is where tokens come from. Returns why the
    batch proves nothing, if it could not have shown a reset (see
    `drain.spoofing_verdict`).
    """
    batch = clients.disguises(plan.per_input, path=path, other_route=other_route)
    started = time.perf_counter()

    last_send = [started]

    def one(disguise: clients.Disguise) -> tuple[str, Exchange]:
        last_send[0] = max(last_send[0], time.perf_counter())  # a float store: atomic
        return disguise.input, send(disguise.path, headers=dict(disguise.headers), expect={429})

    with ThreadPoolExecutor(max_workers=plan.workers) as pool:
        results = list(pool.map(one, batch))
    ended = time.perf_counter()
    elapsed = ended - last_limited_sent
    admitted = [name for name, e in results if e.status is not None and e.status != 429]
    measured.update(
        {
            "spoof_inputs": sorted({d.input for d in batch}),
            "spoofed_sent": len(batch),
            "spoofed_admitted": len(admitted),
            "spoofed_admitted_by_input": dict(Counter(admitted)),
            "spoof_per_input": plan.per_input,
            "spoof_workers": plan.workers,
            "spoof_seconds": round(elapsed, 3),  # from the last refused send
            "spoof_gap_seconds": round(started - last_limited_sent, 3),
            "spoof_allowance": drain.spoof_allowance(rate_per_second, elapsed),
            "spoof_tail_seconds": round(ended - last_send[0], 3),
        }
    )
    return drain.spoofing_verdict(
        what, results, rate_per_second=rate_per_second, elapsed_s=elapsed,
        tail_s=ended - last_send[0],
    )  # fmt: skip


RECOVERY_POLLS = 6  # at most, in RECOVERY_LIMIT_S: 0.5 s doubling to 8 s


def planned_requests(run: Run, tests: list[tuple[str, str]]) -> Cost:
    """Per drain: the timed requests; the drain to its first 429 (a bucket within the
    tolerance, up to the drain's budget); the disguised batch; one after Retry-After; the
    recovery polls. The drain spends the target's budget on purpose, unpaced."""
    limit = run.profile.rate_limit
    endpoint = next(iter(_protected_gets(run)), None)
    if endpoint is None:
        return Cost.exactly(0)  # every drain skips: no protected GET to drain
    inputs = len(clients.client_inputs(other_route=_other_route(run, endpoint)))
    slack = checks.limit_slack(limit.burst, limit.tolerance_ratio)
    low = (
        drain.SERVICE_SAMPLES + max(1, limit.burst - slack) + 1
        + drain.SPOOF_MIN_PER_INPUT * inputs + 1 + 1
    )  # fmt: skip
    high = (
        drain.SERVICE_SAMPLES + drain.drain_budget(limit.burst)
        + drain.SPOOF_MAX_PER_INPUT * inputs + 1 + RECOVERY_POLLS
    )  # fmt: skip
    return Cost(low, high) * len(tests)
